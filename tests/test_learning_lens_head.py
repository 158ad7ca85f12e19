"""The auxiliary lens target of training (issue #21): the transfer profile and its head."""

import numpy as np
import pytest
import torch

from atomscope.core.energy import energy2wavelength
from atomscope.detection.camera import Camera
from atomscope.learning.data import generate
from atomscope.learning.lens_head import LENS_FREQUENCIES, LensHead, transfer_profile
from atomscope.learning.model import FusionNet
from atomscope.learning.randomize import Microscope
from atomscope.learning.train import TrainConfig, train
from atomscope.optics.ctf import CTF

pytestmark = pytest.mark.usefixtures("one_torch_thread")

TINY = dict(batch_size=2, crops_per_image=2, crop=48, width=2, checkpoint_every=2)


def lens(**settings) -> Microscope:
    return Microscope(CTF(energy=80e3, **settings), Camera(sampling=0.12, dose=1e4))


def test_the_profile_is_the_weak_phase_transfer_of_the_lens():
    wavelength = energy2wavelength(80e3)
    k = LENS_FREQUENCIES[1]
    # defocus alone: χ = π λ C10 k² (seed Eq 2.10), so C10 = 1/(2 λ k²) puts k at χ = π/2
    C10 = 1 / (2 * wavelength * k**2)
    assert transfer_profile(lens(C10=C10))[1] == pytest.approx(1.0, abs=1e-6)
    assert transfer_profile(lens(C10=-C10))[1] == pytest.approx(-1.0, abs=1e-6)
    # the temporal envelope exp(−(½ π λ Δ k²)²) (seed Eq 2.18) scales it
    spread = 30.0
    envelope = np.exp(-((0.5 * np.pi * wavelength * spread * k**2) ** 2))
    assert transfer_profile(lens(C10=C10, focal_spread=spread))[1] == pytest.approx(
        envelope, rel=1e-5
    )
    # two-fold astigmatism alone: sin(π λ C12 k² cos 2θ) averages to zero over the directions
    np.testing.assert_allclose(transfer_profile(lens(C12=80.0, phi12=0.3)), 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="directions"):
        transfer_profile(lens(C10=C10), directions=0)
    for bad in ([0.3, np.nan], [0.3, -0.1], []):
        with pytest.raises(ValueError, match="frequencies"):
            transfer_profile(lens(C10=C10), bad)
    with pytest.raises(TypeError, match="microscope"):
        transfer_profile(lens(C10=C10).ctf)


def test_the_head_reads_the_global_context_of_each_forward_pass():
    net = FusionNet(width=2, global_context=True).eval()  # the same maps in any batch
    head = LensHead(net)
    x = torch.randn(4, 1, 16, 16)
    net(x[:2])
    net(x[2:])
    both = head.take()
    net(x)
    torch.testing.assert_close(head.take(), both)
    net(x)
    head.clear()
    with pytest.raises(RuntimeError, match="no forward pass"):
        head.take()  # nothing since the clear
    with pytest.raises(ValueError, match="global-context"):
        LensHead(FusionNet(width=2))


def test_a_run_with_the_lens_loss_trains_the_head_and_resumes(tmp_path):
    waves = generate("graphene", 2, rng=0, extent=20.0)
    with pytest.raises(ValueError, match="lens_weight"):
        TrainConfig(iterations=2, **TINY, lens_weight=1.0)  # needs the global-context branch
    with pytest.raises(ValueError, match="lens_weight"):
        TrainConfig(iterations=2, **TINY, global_context=True, lens_weight=-1.0)
    config = TrainConfig(iterations=2, **TINY, global_context=True, lens_weight=1.0)
    train(config, tmp_path / "run", waves, progress=False)
    state = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    assert len(state["lens_losses"]) == 2 and np.all(np.isfinite(state["lens_losses"]))
    first = {k: v.clone() for k, v in state["lens_head"].items()}
    assert set(first) == set(LensHead(FusionNet(width=2, global_context=True)).state_dict())
    # resumed to 4 steps: the same as a run of 4 steps in one go
    longer = TrainConfig(iterations=4, **TINY, global_context=True, lens_weight=1.0)
    train(longer, tmp_path / "run", waves, progress=False)
    train(longer, tmp_path / "once", waves, progress=False)
    resumed = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)
    once = torch.load(tmp_path / "once" / "checkpoint.pt", weights_only=True)
    np.testing.assert_allclose(resumed["lens_losses"], once["lens_losses"], rtol=1e-5)
    for key, value in once["lens_head"].items():
        torch.testing.assert_close(resumed["lens_head"][key], value)
    assert not torch.equal(resumed["lens_head"]["linear.weight"], first["linear.weight"])
