"""From images back to atoms and strain: peaks, filters, structural templates, strain, GPA.

Positions are pixel coordinates ``[x, y]`` (array axis 0 is x); strain is dimensionless and
rotations are in radians, counter-clockwise from x towards y.
"""

from atomscope.analysis.filters import estimate_noise_variance, wiener_filter
from atomscope.analysis.gpa import GPAResult, bragg_peaks, gpa_strain
from atomscope.analysis.peaks import find_peaks, refine_peaks
from atomscope.analysis.strain import Strain, strain_from_match
from atomscope.analysis.synthetic import (
    StrainField,
    add_gaussian_noise,
    eq315_field,
    lattice_image,
    square_lattice,
)
from atomscope.analysis.templates import Template, TemplateMatch, match_templates

__all__ = [
    "GPAResult",
    "Strain",
    "StrainField",
    "Template",
    "TemplateMatch",
    "add_gaussian_noise",
    "bragg_peaks",
    "eq315_field",
    "estimate_noise_variance",
    "find_peaks",
    "gpa_strain",
    "lattice_image",
    "match_templates",
    "refine_peaks",
    "square_lattice",
    "strain_from_match",
    "wiener_filter",
]
