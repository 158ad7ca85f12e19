"""Sphinx configuration of the atomscope documentation site (`make docs`).

The API pages are written here at build time from each package's ``__all__``, so the reference
always lists exactly the public names (the same lists `tests/test_docs.py` checks in api.md).
The gallery (`gallery/plot_*.py`) is executed by sphinx-gallery on every build.
"""

import importlib
import importlib.util
import os
import re
from pathlib import Path

import atomscope

os.environ.setdefault("MPLBACKEND", "agg")

HERE = Path(__file__).resolve().parent

project = "atomscope"
author = "the atomscope developers"
copyright = "the atomscope developers"
release = version = atomscope.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "numpydoc",
    "myst_parser",
    "sphinxarg.ext",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
# the timing tables stay as .rst files (they load their table script from a CDN)
exclude_patterns = [
    "_build",
    "gallery/README.txt",
    "sg_execution_times.rst",
    "**/sg_execution_times.rst",
]
templates_path = ["_templates"]

html_theme = "furo"
html_title = f"atomscope {release}"
html_static_path = ["_static"]
html_favicon = "_static/favicon.svg"

# Docstrings write `Name` for code; as py:obj it becomes a link where the name is documented.
default_role = "py:obj"
nitpicky = False
# "more than one target found" for short names such as `save` that several classes define
suppress_warnings = ["ref.python"]

# numpydoc renders Parameters/Returns/Attributes; members are listed by the class template.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks = set()
autosummary_generate = True
autodoc_default_options = {"member-order": "bysource"}
autodoc_typehints = "none"  # signatures keep their defaults; types live in the docstrings

myst_heading_anchors = 3
myst_enable_extensions = ["deflist"]

# -- the gallery ---------------------------------------------------------------------------
sphinx_gallery_conf = {
    "examples_dirs": "gallery",
    "gallery_dirs": "auto_examples",
    "filename_pattern": r"/plot_",  # every example is executed
    "within_subsection_order": "FileNameSortKey",
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "min_reported_time": 0,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_memory": False,
}

# -- the API reference, one page per public package ----------------------------------------
PACKAGES = [
    "atomscope.potentials",
    "atomscope.waves",
    "atomscope.optics",
    "atomscope.detection",
    "atomscope.structures",
    "atomscope.thermal",
    "atomscope.analysis",
    "atomscope.learning",
    "atomscope.reconstruction",
]
# the scriptable jobs behind the command line (added with the cli/ package refactor)
if importlib.util.find_spec("atomscope.jobs") is not None:
    PACKAGES.append("atomscope.jobs")


def _summary(package: str, names: list[str], toctree: bool) -> str:
    lines = [f".. currentmodule:: {package}", "", ".. autosummary::"]
    if toctree:
        lines.append("   :toctree: generated")
    lines.append("")
    lines += [f"   {name}" for name in names]
    return "\n".join(lines) + "\n"


def _top_level_page() -> str:
    """atomscope's own names: re-exports link to their package page, the rest are documented."""
    owners = {}
    for package in PACKAGES:
        module = importlib.import_module(package)
        for name in module.__all__:
            owners.setdefault(id(getattr(module, name)), f"{package}.{name}")
    reexported, own = [], []
    for name in sorted(atomscope.__all__, key=str.lower):
        owner = owners.get(id(getattr(atomscope, name)))
        (reexported if owner else own).append(owner or name)
    title = "``atomscope``"
    return "\n".join(
        [
            title,
            "=" * len(title),
            "",
            ".. automodule:: atomscope",
            "   :no-members:",
            "",
            "Names defined outside the stage packages:",
            "",
            _summary("atomscope", own, toctree=True),
            "Re-exported from the stage packages below (``atomscope.Potential`` is",
            ":class:`atomscope.potentials.Potential`, and so on):",
            "",
            ".. autosummary::",
            "",
            *[f"   {name.removeprefix('atomscope.')}" for name in reexported],
            "",
        ]
    )


def _package_page(package: str) -> str:
    module = importlib.import_module(package)
    title = f"``{package}``"
    return "\n".join(
        [
            title,
            "=" * len(title),
            "",
            f".. automodule:: {package}",
            "   :no-members:",
            "",
            _summary(package, sorted(module.__all__, key=str.lower), toctree=True),
        ]
    )


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def write_api_pages(app=None) -> None:
    """Write docs/reference/*.rst from the packages' ``__all__`` (before Sphinx reads sources)."""
    folder = HERE / "reference"
    folder.mkdir(exist_ok=True)
    _write_if_changed(folder / "atomscope.rst", _top_level_page())
    for package in PACKAGES:
        _write_if_changed(folder / f"{package}.rst", _package_page(package))
    pages = ["atomscope", *PACKAGES]
    index = [
        "API reference",
        "=============",
        "",
        "Every public name (each package's ``__all__``) with its numpydoc docstring. Units",
        "follow :doc:`../conventions`; the one-page summary is :doc:`../api`.",
        "",
        ".. toctree::",
        "   :maxdepth: 1",
        "",
        *[f"   {page}" for page in pages],
        "",
    ]
    _write_if_changed(folder / "index.rst", "\n".join(index))


write_api_pages()

# -- docstrings written as plain text ---------------------------------------------------------
# The docstrings use |ψ|² for magnitudes and [*shape, x, y] for unpacked shapes; in
# reStructuredText those would start substitutions and emphasis. Escape them, except inside
# inline literals, interpreted text and doctest lines, so they render as written.
_LITERALS = re.compile(r"(``.+?``|`[^`]+`)")
_UNPACKING = re.compile(r"(?:(?<=[\[(])|(?<=, ))\*(?=[A-Za-z_])(?![A-Za-z_0-9]*\*)")


def _escape_plain_text(line: str) -> str:
    if line.lstrip().startswith((">>>", "... ")):
        return line
    parts = _LITERALS.split(line)
    for index in range(0, len(parts), 2):  # even parts lie outside literals
        parts[index] = _UNPACKING.sub(r"\\*", parts[index].replace("|", r"\|"))
    return "".join(parts)


def escape_docstring(app, what, name, obj, options, lines) -> None:
    lines[:] = [_escape_plain_text(line) for line in lines]


def setup(app):
    app.connect("autodoc-process-docstring", escape_docstring, priority=100)  # before numpydoc
