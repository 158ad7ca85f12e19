"""A job's figure drawn in a helper process (two cores) or in the job (one core)."""

import signal

import numpy as np
import pytest

from atomscope.core.threads import available_cores, using
from atomscope.images import Images
from atomscope.jobs.figures import FigureProcess

IMAGE = Images(np.random.default_rng(0).random((32, 32)), 0.1)


@pytest.mark.parametrize("cores", [1, 2])
def test_the_figure_is_written_with_one_or_two_cores(tmp_path, cores):
    if cores > available_cores():
        pytest.skip("needs two cores")  # the CI machine has two
    with using(cores), FigureProcess() as figures:
        assert (figures._process is not None) == (cores > 1)
        figures.draw("atomscope.plot.image_png", tmp_path / "image.png", IMAGE, "noise")
        figures.wait()
        assert (tmp_path / "image.png").stat().st_size > 1000
    assert figures._process is None  # the helper is gone


@pytest.mark.parametrize("cores", [1, 2])
def test_a_failing_drawing_raises_in_the_job(tmp_path, cores):
    if cores > available_cores():
        pytest.skip("needs two cores")
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    with using(cores), FigureProcess() as figures:
        with pytest.raises(OSError):
            figures.draw("atomscope.plot.image_png", blocked / "image.png", IMAGE)
            figures.wait()
    assert blocked.read_text() == "not a directory"


def test_a_job_that_fails_before_drawing_stops_its_helper_at_once(tmp_path):
    if available_cores() < 2:
        pytest.skip("needs two cores")
    with pytest.raises(ValueError, match="the job failed"), using(2):
        with FigureProcess() as figures:
            helper = figures._process
            raise ValueError("the job failed")
    # ended on its own (end of file on its pipe) or terminated: not killed after a timeout (the
    # helper kept the job's end of the pipe open, so bad input waited 5 s, then SIGKILL)
    assert helper.exitcode in (0, -signal.SIGTERM)
