"""Sphinx configuration of the skgate documentation.

Build (from the repository root)::

    pip install ".[docs]"
    python -m sphinx -W --keep-going -b html docs docs/_build/html

The build runs the scripts of ``examples/`` (sphinx-gallery) and reads the API from the
numpydoc docstrings. Links to the documentation of Python, NumPy, scikit-learn, torch and
skorch (intersphinx) need the internet: set ``SKGATE_DOCS_INTERSPHINX=1`` to add them.
"""

import os
import re
import sys

import skgate

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # _gallery_order

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
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
templates_path = ["_templates"]
exclude_patterns = ["_build", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.codeobj.json"]

# API pages: one generated page per public object (docs/generated/, not tracked)
autosummary_generate = True
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
# Every documented function, class and method has its Parameters (PR01: a parameter of the
# signature left undocumented) and its Returns (RT01: a value returned with no Returns
# section); with -W a missing one fails the build.
numpydoc_validation_checks = {"PR01", "RT01"}

# Markdown pages: {class}`...` roles, anchors for "#section" links
myst_heading_anchors = 3

# Every reference into skgate must resolve (a renamed or removed name fails the build).
# References to other projects resolve only with intersphinx, which needs the internet: they
# are not checked offline.
nitpicky = True
_EXTERNAL = ("numpy", "np", "sklearn", "torch", "torchvision", "skorch", "matplotlib", "scipy",
             "dask", "dask_ml", "distributed", "joblib", "pickle", "json", "pathlib",
             "collections", "typing", "os")
nitpick_ignore_regex = [
    (r"py:.*", r"(%s)(\..*)?" % "|".join(_EXTERNAL)),
]
if os.environ.get("SKGATE_DOCS_INTERSPHINX") == "1":
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "torch": ("https://docs.pytorch.org/docs/stable", None),
        "skorch": ("https://skorch.readthedocs.io/en/stable", None),
        "matplotlib": ("https://matplotlib.org/stable", None),
        "joblib": ("https://joblib.readthedocs.io/en/stable", None),
        "dask": ("https://docs.dask.org/en/stable", None),
        "dask_ml": ("https://ml.dask.org", None),
    }
else:
    intersphinx_mapping = {}
    # offline, Python's own names cannot resolve either
    nitpick_ignore_regex.append((r"py:.*", r"[a-z_]+"))

# The gallery: every script of examples/ runs during the build and its figures are kept.
sphinx_gallery_conf = {
    "examples_dirs": "../examples",
    "gallery_dirs": "auto_examples",
    "filename_pattern": re.escape(os.sep),  # run every example, not only plot_*.py
    # from the simplest example to the most advanced (docs/_gallery_order.py)
    "within_subsection_order": "_gallery_order.ExampleOrder",
    "abort_on_example_error": True,
    "remove_config_comments": True,
    "download_all_examples": False,
    "show_signature": False,
}



def _skip_member(app, what, name, obj, skip, options):
    # scikit-learn's generated metadata-routing setters (set_fit_request, ...)
    if re.fullmatch(r"set_\w+_request", name):
        return True
    # forward of a torch module without a docstring would get torch's (nn.Module.forward)
    if name == "forward" and what == "class" and getattr(obj, "__doc__", None) is None:
        return True
    return None


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)


html_theme = "pydata_sphinx_theme"
html_title = f"skgate {release}"
html_static_path = ["_static"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
}
