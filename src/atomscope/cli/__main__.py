from atomscope.cli import run

run()
