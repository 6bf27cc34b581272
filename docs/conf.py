"""Sphinx configuration of the skgate documentation.

Build: ``pip install -e . -r docs/requirements.txt``, then
``sphinx-build -b html docs docs/_build/html``.
"""

import skgate

project = "skgate"
author = "the skgate developers"
copyright = "the skgate developers"
release = skgate.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "numpydoc",
    "myst_parser",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build"]

# API pages: one generated page per public object (docs/generated/, not tracked)
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False

# Markdown pages: {class}`...` roles, anchors for "#section" links
myst_heading_anchors = 3

intersphinx_mapping = {
    "python": ("https://docs.python.org/3", None),
    "numpy": ("https://numpy.org/doc/stable", None),
    "sklearn": ("https://scikit-learn.org/stable", None),
    "torch": ("https://docs.pytorch.org/docs/stable", None),
    "skorch": ("https://skorch.readthedocs.io/en/stable", None),
}

html_theme = "alabaster"
html_title = f"skgate {release}"
