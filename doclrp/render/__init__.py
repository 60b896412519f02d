"""Pure rendering of explanations and corpus reports: escaped HTML strings and the shared colour scale.

>>> from doclrp.render import diverging_color
>>> diverging_color(0.0, vmax=1.0)
'#ffffff'

Nothing here prints or needs a notebook; callers write the strings where they like.
"""

from doclrp.render.colors import css_gradient, diverging_color, diverging_rgb, symmetric_vmax, text_color
from doclrp.render.html import to_html, render_index
from doclrp.render.report import CorpusReportData, render_report

__all__ = [
    "CorpusReportData",
    "css_gradient",
    "diverging_color",
    "diverging_rgb",
    "to_html",
    "render_index",
    "render_report",
    "symmetric_vmax",
    "text_color",
]
