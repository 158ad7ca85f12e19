"""An auxiliary training target: what the lens of a training image did to its contrast.

A network that must work on any lens of the seed's Table 6.1 has to decide, from the whole
image, which sign of phase contrast each band of spatial frequencies got. The segmentation loss
says so only indirectly. `LensHead` reads the image-level vector of the network's
`model.GlobalContext` branch (the mean over the crop of ReLU(W₁·x)) and predicts the lens's
`transfer_profile`, which the simulator knows for every training image; its squared error is
added to the training loss with ``TrainConfig.lens_weight``. The head is used in training only:
a `Recognizer` file holds the network without it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from atomscope.core.validate import check_finite_array, check_positive_int

__all__ = ["LENS_FREQUENCIES", "LensHead", "transfer_profile"]

#: Spatial frequencies [1/Å] of the profile: from below graphene's and gold's first lattice
#: frequencies (1/2.13, 1/2.35 Å⁻¹) to beyond graphene's third (1/1.065 Å⁻¹).
LENS_FREQUENCIES = (0.3, 0.45, 0.6, 0.75, 0.9)
#: Directions averaged at each frequency (C12 makes the transfer depend on the direction).
PROFILE_DIRECTIONS = 16


def transfer_profile(
    microscope, frequencies=LENS_FREQUENCIES, directions: int = PROFILE_DIRECTIONS
) -> np.ndarray:
    """The weak-phase transfer sin χ(k) · Et(k) of ``microscope``'s lens, averaged over
    directions, at each of ``frequencies`` [1/Å].

    The linear image term of a weak phase object is 2 sin χ times the envelopes (Kirkland,
    Advanced Computing in Electron Microscopy, 2nd ed., Eq 6.22); the temporal envelope Et
    (seed Eq 2.18) is kept because it decides whether a band carries contrast at all. The
    deflection envelope and the camera MTF, positive factors, are left out.

    Parameters
    ----------
    microscope
        A drawn `randomize.Microscope`.
    frequencies
        Spatial frequencies [1/Å].
    directions
        Directions in [0, π) averaged at each frequency (χ of even aberrations repeats after π).

    Returns
    -------
    numpy.ndarray
        (len(frequencies),) float32 in [−1, 1].

    Examples
    --------
    >>> from atomscope.learning.randomize import draw
    >>> profile = transfer_profile(draw(rng=0))
    >>> profile.shape, bool(np.all(np.abs(profile) <= 1))
    ((5,), True)
    """
    from atomscope.learning.randomize import Microscope
    from atomscope.optics.envelopes import temporal_envelope

    if not isinstance(microscope, Microscope):
        raise TypeError(f"microscope must be a Microscope, got {type(microscope).__name__}")
    k = check_finite_array("frequencies", frequencies, ndim=1)
    if not len(k) or np.any(k <= 0):
        raise ValueError(f"frequencies must be positive [1/Å], got {k.tolist()}")
    k = k[:, None]
    directions = check_positive_int("directions", directions)
    angle = np.arange(directions) * np.pi / directions
    ctf = microscope.ctf
    chi = ctf.aberrations.chi(k * np.cos(angle), k * np.sin(angle), ctf.wavelength)
    envelope = temporal_envelope(k**2, ctf.wavelength, ctf.focal_spread)
    return (np.sin(chi) * envelope).mean(axis=1).astype(np.float32)


class LensHead(nn.Module):
    """tanh(W · mean_xy ReLU(W₁·x)): the `transfer_profile` predicted from the global-context
    vector of a `FusionNet` (``global_context=True``), read by a forward hook on its W₁.

    Examples
    --------
    >>> from atomscope.learning.model import FusionNet
    >>> net = FusionNet(width=2, global_context=True)
    >>> head = LensHead(net)
    >>> _ = net(torch.zeros(3, 1, 16, 16))
    >>> tuple(head.take().shape)
    (3, 5)
    """

    def __init__(self, model: nn.Module, outputs: int = len(LENS_FREQUENCIES)):
        super().__init__()
        if not getattr(model, "global_context", False):
            raise ValueError("a lens head reads the global-context branch: the model has none")
        channels = model.context.features.out_channels
        self.linear = nn.Linear(channels, check_positive_int("outputs", outputs))
        self._pooled: list[torch.Tensor] = []
        model.context.features.register_forward_hook(self._keep)

    def _keep(self, _module, _inputs, output: torch.Tensor) -> None:
        self._pooled.append(torch.relu(output).mean(dim=(2, 3)))

    def clear(self) -> None:
        """Forget the forward passes so far (e.g. a validation's)."""
        self._pooled = []

    def take(self) -> torch.Tensor:
        """The predictions [batch, outputs] for the network's forward passes since the last
        call, in order."""
        if not self._pooled:
            raise RuntimeError("no forward pass of the network since the last take or clear")
        pooled = torch.cat(self._pooled)
        self._pooled = []
        return torch.tanh(self.linear(pooled))
