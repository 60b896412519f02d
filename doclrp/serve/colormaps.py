"""The colour maps the page offers, as data: each map sampled at evenly spaced points of
[-1, 1] by :func:`doclrp.render.image.colorize`, so the page colours words and pixels with
the same maps as doclrp's PNG heatmaps (the LRP Toolbox's among them) without a copy in
JavaScript.

>>> table = colormap_table("rdbu", samples=3)
>>> table["stops"]
['#2166ac', '#ffffff', '#b2182b']
>>> "black-firered" in COLORMAPS and "gray-red" in COLORMAPS and "blue-black-yellow" in COLORMAPS
True
"""

from __future__ import annotations

from typing import Any

import numpy as np

from doclrp.render.colors import hex_color
from doclrp.render.image import CMAPS, TOOLBOX_CMAPS, colorize

__all__ = ["COLORMAPS", "DEFAULT_COLORMAP", "SAMPLES", "colormap_table", "colormap_tables"]

#: The HTML pages' red-white-blue first, then doclrp's image maps, then the LRP Toolbox's.
COLORMAPS = tuple(dict.fromkeys(("rdbu", *CMAPS, *TOOLBOX_CMAPS)))
DEFAULT_COLORMAP = "rdbu"
#: Points per map: odd, so that 0 is a sample; the page interpolates linearly between them.
SAMPLES = 65


def colormap_table(name: str, samples: int = SAMPLES) -> dict[str, Any]:
    """``{"name", "stops"}``: ``samples`` colours ``"#rrggbb"`` from -1 to +1."""
    rgb = colorize(np.linspace(-1.0, 1.0, samples), name)
    return {"name": name, "stops": [hex_color(c) for c in rgb]}


def colormap_tables() -> list[dict[str, Any]]:
    """Every map of :data:`COLORMAPS`, the default first."""
    return [colormap_table(name) for name in COLORMAPS]
