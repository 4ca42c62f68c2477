"""Sphinx configuration of the sbp_bayes documentation (PyMC / ArviZ conventions:
pydata-sphinx-theme, MyST Markdown, myst-nb for the notebooks, numpydoc docstrings).

Build:  python -m sphinx -W --keep-going -b html docs docs/_build/html
The test suite builds it the same way (tests/test_docs.py), warnings as errors.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # document the source tree this file belongs to

import sbp_bayes  # noqa: E402

project = "sbp_bayes"
author = "sbp_bayes developers"
copyright = "sbp_bayes developers"
release = sbp_bayes.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
    "myst_nb",
]

# -- sources ------------------------------------------------------------------------------
source_suffix = {".rst": "restructuredtext", ".md": "myst-nb", ".ipynb": "myst-nb"}
root_doc = "index"
# notebooks/ is a link to the repository's notebooks folder; its README is the GitHub
# view of the same list that gallery.md shows here.
exclude_patterns = ["_build", "notebooks/README.md", "notebooks/.ipynb_checkpoints"]

# -- notebooks: committed executed at full size, shown as they are --------------------------
nb_execution_mode = "off"
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence"]
myst_heading_anchors = 3
# The notebooks' own links to each other and to repository files are GitHub links: keep them
# as plain links rather than asking Sphinx to resolve them.
myst_url_schemes = ["http", "https", "mailto"]
suppress_warnings = ["myst.xref_missing", "mystnb.unknown_mime_type"]

# -- API pages from the numpydoc docstrings --------------------------------------------------
autosummary_generate = False  # the API pages list their members by hand: nothing is written
autodoc_default_options = {"members": True, "member-order": "bysource"}
autodoc_typehints = "none"  # numpydoc's Parameters sections say the types
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

# -- HTML -----------------------------------------------------------------------------------
html_theme = "pydata_sphinx_theme"
html_title = "sbp_bayes"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
html_static_path: list[str] = []
