"""How far to trust a recognition: do the atoms stay put when the image is mirrored?

A network that recognises the atoms of an image finds the same atoms in its mirror images (the
atoms are where they are; the convolutions are only approximately mirror-symmetric, so a
recognised image agrees to a few percent). On an image outside what it learned — a lens or dose
it was not trained on — it reacts to the noise and to the lens's fringes, and those detections
move when the image is mirrored. `mirror_agreement` is the mean F1 score (Eq 6.17's precision
and recall, matched within 0.5 Å) between the detections in the image and those in its three
mirror images (along x, along y, along both) mapped back, away from the edges.

Measured on the shipped graphene model (80 kV, 1e4 e⁻/Å², 3 held-out sheets through the
evaluation microscope and 3 random Table 6.1 lenses each): 0.93–0.96 on the 4 images it
recognises (precision ≥ 0.97, recall ≥ 0.92), 0.36–0.89 on the 8 it does not (recall ≤ 0.69);
the model's peak probabilities do not separate the two groups (0.52–0.53 in both). Below
`CONFIDENCE_WARNING` `Recognizer.predict(..., confidence=True)` warns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from atomscope.learning.metrics import precision_recall, within

__all__ = ["CONFIDENCE_WARNING", "MIRRORS", "mirror_agreement", "mirrored_positions"]

#: Below this agreement `Recognizer.predict` warns (between the two groups measured above).
CONFIDENCE_WARNING = 0.9
#: The mirror images compared: flipped along x, along y, along both (array axes).
MIRRORS = ((0,), (1,), (0, 1))


def mirrored_positions(
    positions: np.ndarray, shape: Sequence[int], sampling: float, axes: Sequence[int]
) -> np.ndarray:
    """Positions found in an image flipped along ``axes``, in the frame of the unflipped image.

    Pixel i of an axis of n pixels is pixel n − 1 − i of the flipped axis, so x [Å] maps to
    (n − 1)·sampling − x.

    Parameters
    ----------
    positions
        (n, 2) positions [Å] in the flipped image (pixel (i, j) at (i, j)·sampling).
    shape
        (nx, ny) pixels of the image.
    sampling
        Pixel size [Å].
    axes
        The flipped axes (0: x, 1: y).

    Examples
    --------
    >>> mirrored_positions(np.array([[0.5, 1.0]]), (11, 21), 0.1, (0,)).tolist()
    [[0.5, 1.0]]
    >>> mirrored_positions(np.array([[0.2, 1.0]]), (11, 21), 0.1, (0, 1)).round(6).tolist()
    [[0.8, 1.0]]
    """
    out = np.array(positions, dtype=float, copy=True).reshape(-1, 2)
    for axis in axes:
        out[:, axis] = (shape[axis] - 1) * sampling - out[:, axis]
    return out


def mirror_agreement(
    find: Callable[[np.ndarray], np.ndarray],
    image: np.ndarray,
    positions: np.ndarray,
    sampling: float,
    radius: float = 0.5,
    margin: float = 2.0,
) -> float:
    """Mean F1 between ``positions`` and the atoms ``find`` gives in each mirror of ``image``.

    Parameters
    ----------
    find
        ``find(stack) -> (n, 2) positions [Å]`` for an image stack [channels, x, y] at
        ``sampling`` (the recognizer's pipeline after normalisation).
    image
        The stack [channels, x, y] ``positions`` were found in.
    positions
        (n, 2) atoms found in ``image`` [Å].
    sampling
        Pixel size [Å].
    radius
        Matching radius [Å].
    margin
        Atoms closer than this to the edge are left out [Å] (tiles end differently there).

    Returns
    -------
    float
        In [0, 1]; 1 when no atom is found anywhere (nothing to disagree on).

    Examples
    --------
    >>> def brightest(stack):  # a "recognizer" that finds the brightest pixel
    ...     i, j = np.unravel_index(np.argmax(stack[0]), stack.shape[1:])
    ...     return np.array([[i, j]]) * 0.1
    >>> image = np.zeros((1, 64, 64)); image[0, 30, 33] = 1
    >>> mirror_agreement(brightest, image, brightest(image), 0.1)
    1.0
    """
    shape = image.shape[1:]
    extent = np.array(shape) * sampling
    reference = positions[within(positions, extent, margin)]
    scores = []
    for axes in MIRRORS:
        found = find(np.ascontiguousarray(np.flip(image, axis=[a + 1 for a in axes])))
        back = mirrored_positions(found, shape, sampling, axes)
        back = back[within(back, extent, margin)]
        if not len(back) and not len(reference):
            scores.append(1.0)
            continue
        match = precision_recall(back, reference, radius)
        total = match.precision + match.recall
        scores.append(0.0 if total == 0 else 2 * match.precision * match.recall / total)
    return float(np.mean(scores))
