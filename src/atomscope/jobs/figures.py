"""A job's figure drawn in a second process while the job computes.

Importing matplotlib and rendering a large figure take about as long as a quick analysis
itself (`atomscope strain` on 512²: 0.3–0.45 s of matplotlib import and 0.5–0.7 s of drawing
next to ~1.3 s of everything else). When the thread policy gives this process more than one
core (`atomscope.core.threads`), a forked helper imports matplotlib at once and later draws
the figure it is sent while the job writes its other outputs; with one core the figure is
drawn in this process, as before.
"""

from __future__ import annotations

import importlib
import multiprocessing
import signal

_STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}
# A SIGTERM handled by Python right after the fork (a job failing on bad input terminates its
# helper within a millisecond) raised KeyboardInterrupt inside the interpreter's after-fork
# hooks: threading's state in the child was left half rebuilt and the child hung on exit, or ran
# on as a copy of the job. The signals are blocked across the fork and unblocked by `_serve`.

STOP_TIMEOUT = 5.0
"""Seconds [s] `FigureProcess.close` waits for a terminated helper before killing it."""


def _function(name: str):
    """The function ``"module.function"`` names (so the job itself never imports matplotlib)."""
    module, _, function = name.rpartition(".")
    return getattr(importlib.import_module(module), function)


def _serve(connection, job_end) -> None:
    """The helper: import the plotting stack, then run the one drawing it is sent."""
    # the fork has the job's handlers (the CLI turns SIGTERM into KeyboardInterrupt) with
    # SIGTERM and SIGINT blocked since the fork (`_STOP_SIGNALS`): a SIGTERM from `close` kills
    # it by the default action from here on, and one already sent is delivered on unblocking
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the job's to handle; it stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOP_SIGNALS)
    job_end.close()  # the fork's copy of the job's end: else closing it there never ends recv
    import atomscope.plot  # noqa: F401 - matplotlib loads while the parent computes

    try:
        name, args, kwargs = connection.recv()
    except EOFError:  # the job ended without a figure
        return
    try:
        _function(name)(*args, **kwargs)
    except BaseException as error:  # reported to the parent, which raises it
        connection.send(("error", error))
    else:
        connection.send(("ok", None))


class FigureProcess:
    """Use as a context manager around a job: `draw` sends the drawing to the helper (or draws
    here with one core), `wait` returns when the file is written and raises what it raised.

    Examples
    --------
    >>> import tempfile, pathlib, numpy as np
    >>> from atomscope.images import Images
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "noise.png"
    >>> image = Images(np.random.default_rng(0).random((16, 16)), 0.1)
    >>> with FigureProcess() as figures:
    ...     figures.draw("atomscope.plot.image_png", path, image)
    ...     figures.wait()
    >>> path.stat().st_size > 0
    True
    """

    def __init__(self):
        from atomscope.core.threads import threads

        self._process = None
        self._sent = False
        if threads() > 1 and "fork" in multiprocessing.get_all_start_methods():
            context = multiprocessing.get_context("fork")
            self._connection, child = context.Pipe()
            self._process = context.Process(
                target=_serve, args=(child, self._connection), daemon=True
            )
            blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
            try:
                self._process.start()
            finally:
                signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            child.close()

    def draw(self, function: str, *args, **kwargs) -> None:
        """Draw ``function(*args, **kwargs)``, a function of `atomscope.plot` named
        ``"atomscope.plot.NAME"`` that writes its own file, in the helper or here."""
        if self._process is None:
            _function(function)(*args, **kwargs)
            return
        self._connection.send((function, args, kwargs))
        self._sent = True

    def wait(self) -> None:
        """Block until the drawing is written; raise the helper's exception if it failed."""
        if self._process is None or not self._sent:
            return
        try:
            status, error = self._connection.recv()
        except EOFError:
            raise RuntimeError("the figure process ended without drawing the figure") from None
        self._sent = False
        if status == "error":
            raise error

    def close(self) -> None:
        """Stop the helper: after `wait` it has nothing left to do, and after an error or an
        interrupt (also mid-drawing) nothing it does is kept. A helper that outlives
        `STOP_TIMEOUT` after SIGTERM is killed: a job never waits for its figure's process."""
        if self._process is None:
            return
        self._connection.close()
        if self._process.is_alive():
            self._process.terminate()
        self._process.join(STOP_TIMEOUT)
        if self._process.is_alive():
            self._process.kill()
            self._process.join()
        self._process = None

    def __enter__(self) -> FigureProcess:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
