"""Sphinx configuration of doclrp's site: `make docs` builds it into site/ (strict: a warning fails).

Sphinx with MyST (Markdown pages) and the Furo theme; why, in docs/architecture.md ("The site").
Nothing is loaded from the network: Furo uses the system's fonts, search is Sphinx's own index,
math is MathML written at build time (docs/_ext/doclrp_site/mathml.py), not MathJax.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent))  # the checkout's doclrp, whichever one is installed
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import doclrp  # noqa: E402

project = "doclrp"
author = "doclrp developers"
copyright = "doclrp developers, Apache License 2.0"
release = version = doclrp.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "doclrp_site"]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_ext", "_build", "README.md", "**/.ipynb_checkpoints"]

myst_enable_extensions = ["dollarmath", "amsmath", "colon_fence", "deflist", "attrs_inline"]
myst_heading_anchors = 3
myst_dmath_double_inline = True

autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_default_options = {"undoc-members": False}
# Names whose annotation points at an import made under TYPE_CHECKING stay as written.
autodoc_type_aliases: dict[str, str] = {}
suppress_warnings = ["myst.header"]

html_theme = "furo"
html_title = f"doclrp {release}"
html_math_renderer = "mathml"
html_static_path = ["_static"]
html_css_files = ["doclrp.css"]
html_show_sourcelink = False
html_copy_source = False
html_theme_options = {
    "navigation_with_keys": True,
    "sidebar_hide_name": False,
}
pygments_style = "friendly"
pygments_dark_style = "monokai"
