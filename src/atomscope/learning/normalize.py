"""Normalisation of the network input: local contrast normalisation (seed §6.3.3, Eqs 6.10–6.11)
or, for comparison, per-image standardisation (`normalize_input`)."""

from __future__ import annotations

import numpy as np
from scipy.fft import dctn, idctn

from atomscope.core.validate import check_finite_array, check_positive


def check_image_stack(name: str, images) -> np.ndarray:
    """Float64 array [channels, x, y] from a 2D image or a 3D stack; refuses NaN/inf and constants.

    Examples
    --------
    >>> check_image_stack("image", np.arange(6.0).reshape(2, 3)).shape
    (1, 2, 3)
    """
    if isinstance(images, (list, tuple)):
        shapes = [np.shape(frame) for frame in images]
        if len(set(shapes)) > 1:
            raise ValueError(f"{name} must be frames of one shape, got shapes {shapes}")
    array = check_finite_array(name, images)
    if array.ndim == 2:
        array = array[None]
    if array.ndim != 3 or min(array.shape[-2:]) < 2:
        raise ValueError(
            f"{name} must be a 2D image [x, y] or a stack [channels, x, y] of at least 2×2 "
            f"pixels, got shape {np.shape(images)}"
        )
    flat = array.reshape(len(array), -1)
    if np.any(flat.max(axis=1) == flat.min(axis=1)):
        raise ValueError(
            f"{name} has a constant channel (value {float(flat[0, 0])!r}); there is nothing to "
            "recognise in a featureless image"
        )
    return array


def gaussian_reflect(array: np.ndarray, width: float) -> np.ndarray:
    """Gaussian blur of the last two axes, σ = ``width`` [px], mirror-symmetric boundaries.

    Computed in the DCT-II domain: the half-sample symmetric extension that the DCT implies is
    scipy.ndimage's ``mode="reflect"``, and the Gaussian's transfer function is
    exp(−2π²σ²f²) with f = m / (2n) cycles per pixel for DCT index m (equal to the sampled
    kernel to < 1e-5 for σ ≥ 1.5 px). Cost O(n² log n) however wide the window.

    Examples
    --------
    >>> from scipy.ndimage import gaussian_filter
    >>> image = np.random.default_rng(0).normal(size=(40, 30))
    >>> bool(np.allclose(gaussian_reflect(image, 2.0), gaussian_filter(image, 2.0), atol=1e-3))
    True
    """
    spectrum = dctn(array, type=2, axes=(-2, -1), norm="ortho")
    for axis in (-2, -1):
        n = array.shape[axis]
        frequency = np.arange(n) / (2 * n)
        shape = [1] * array.ndim
        shape[axis] = n
        spectrum *= np.exp(-2 * np.pi**2 * width**2 * frequency**2).reshape(shape)
    return idctn(spectrum, type=2, axes=(-2, -1), norm="ortho")


def local_contrast_normalization(images, sigma: float, sampling: float = 1.0) -> np.ndarray:
    """Subtractive then divisive local normalisation over a Gaussian window (Eqs 6.10–6.11).

    The local mean and the local variance are Gaussian-weighted averages over space and the
    mean over the channel axis, so the relative intensities of a focal series are kept.

    Parameters
    ----------
    images
        Image [x, y] or stack [channels, x, y].
    sigma
        Standard deviation σ_N of the Gaussian window [Å]; much wider than an atom.
    sampling
        Pixel size [Å].

    Returns
    -------
    numpy.ndarray
        Float32 array [channels, x, y]: locally zero mean and unit variance.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> image = 5 + 3 * rng.normal(size=(64, 64))
    >>> out = local_contrast_normalization(image, sigma=2.0, sampling=0.2)
    >>> out.shape, round(float(out.mean()), 1), round(float(out.std()), 1)
    ((1, 64, 64), 0.0, 1.0)
    """
    array = check_image_stack("images", images)
    sigma = check_positive("sigma", sigma)
    sampling = check_positive("sampling", sampling)
    width = sigma / sampling
    # Eq 6.10: subtract the Gaussian-weighted local mean, averaged over the channels
    centred = array - gaussian_reflect(array, width).mean(axis=0)
    # Eq 6.11: divide by the weighted local standard deviation, averaged over the channels
    variance = gaussian_reflect(centred**2, width).mean(axis=0)
    floor = 1e-12 * max(float(variance.max()), 1e-300)
    return (centred / np.sqrt(np.maximum(variance, floor))).astype(np.float32)


#: input normalisations: the seed's local contrast normalisation, or one mean and standard
#: deviation per image stack (atomscope's ablation)
NORMALIZATIONS = ("lcn", "standard")

#: statistics of the network's batch norms at inference: the running averages of training, or
#: each image's own feature maps (`atomscope.learning.model.per_image_statistics`)
BATCH_STATISTICS = ("running", "image")


def normalize_input(images, method: str, sigma: float, sampling: float) -> np.ndarray:
    """The network input of ``images``: ``"lcn"`` (Eqs 6.10–6.11 with window σ [Å]) or
    ``"standard"`` ((I − mean)/std over the whole stack; σ unused).

    Examples
    --------
    >>> image = 5 + 3 * np.random.default_rng(0).normal(size=(32, 32))
    >>> out = normalize_input(image, "standard", 10.0, 0.1)
    >>> out.shape, round(float(out.mean()), 6), round(float(out.std()), 6)
    ((1, 32, 32), 0.0, 1.0)
    """
    if method == "lcn":
        return local_contrast_normalization(images, sigma, sampling)
    if method != "standard":
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
    array = check_image_stack("images", images)
    centred = array - array.mean()
    return (centred / max(float(centred.std()), 1e-300)).astype(np.float32)
