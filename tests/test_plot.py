"""Figures: the strain figure is rendered once and its colour ranges follow the interior."""

import dataclasses

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from atomscope.analysis import gpa_strain, strain_from_match
from atomscope.analysis.synthetic import lattice_image, square_lattice
from atomscope.analysis.templates import Template, match_templates
from atomscope.images import Images
from atomscope.plot import strain_png

SHAPE = (96, 96)


def _strained_square():
    points = square_lattice(SHAPE, spacing=8.0, margin=4.0)
    array = lattice_image(points, SHAPE, width=1.2)
    match = match_templates(points, [Template.square()])
    return Images(array, sampling=0.1), strain_from_match(match), match


def test_strain_figure_is_rendered_once(tmp_path, monkeypatch):
    image, strain, match = _strained_square()
    gpa = gpa_strain(image.array)
    draws = []
    original = Figure.draw

    def counting_draw(self, renderer):
        draws.append(self)
        return original(self, renderer)

    monkeypatch.setattr(Figure, "draw", counting_draw)
    strain_png(tmp_path / "strain.png", image, strain, rmsd=match.rmsd, gpa=gpa)
    assert len(draws) == 1  # a tight bounding box would draw it twice
    with Image.open(tmp_path / "strain.png") as png:
        width, height = png.size
    assert width > 1.5 * height  # two rows of five panels


def test_edge_points_do_not_set_the_colour_range(tmp_path, monkeypatch):
    image, strain, match = _strained_square()
    strain = dataclasses.replace(strain, exx=strain.exx.copy())
    interior = np.all((strain.points > 16) & (strain.points < np.array(SHAPE) - 16), axis=1)
    strain.exx[~interior] = 0.5  # force-matched edge points with wild values
    limits = []
    original = Figure.colorbar

    def recording_colorbar(self, mappable, **kwargs):
        limits.append(mappable.get_clim())
        return original(self, mappable, **kwargs)

    monkeypatch.setattr(Figure, "colorbar", recording_colorbar)
    strain_png(tmp_path / "strain.png", image, strain, rmsd=match.rmsd, focus=interior)
    assert max(abs(c) for c in limits[0]) < 0.05


def test_images_are_drawn_with_pixel_centres_at_their_positions():
    from matplotlib.figure import Figure

    from atomscope.plot import show_image

    fig = Figure()
    ax = fig.add_subplot()
    array = np.zeros((8, 6))
    image = show_image(ax, array, (0.5, 0.25))
    left, right, bottom, top = image.get_extent()
    # pixel (3, 5) spans [left + 3 Δx, left + 4 Δx]: its centre is at 3 × 0.5 Å, 5 × 0.25 Å
    assert left + 3.5 * (right - left) / 8 == 1.5
    assert bottom + 5.5 * (top - bottom) / 6 == 1.25
