"""The diverging colour scale of doclrp, shared by HTML and image rendering.

>>> from doclrp.render.colors import diverging_color
>>> diverging_color(1.0, vmax=2.0), diverging_color(0.0, 2.0), diverging_color(-5.0, 2.0)
('#d88c95', '#ffffff', '#2166ac')

Red is relevance toward the explained target (or raising a regression
output), blue against it, white zero. The scale is symmetric around zero,
so equal |relevance| means equal strength on both sides, and linear, so the
shade does not overstate small values.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "NEGATIVE_RGB",
    "POSITIVE_RGB",
    "ZERO_RGB",
    "css_gradient",
    "diverging_color",
    "diverging_rgb",
    "hex_color",
    "symmetric_vmax",
    "text_color",
]

# The ends of ColorBrewer's RdBu: a red and a blue that colour-blind readers
# still tell apart.
POSITIVE_RGB = (178, 24, 43)
NEGATIVE_RGB = (33, 102, 172)
ZERO_RGB = (255, 255, 255)


def symmetric_vmax(values: Any) -> float:
    """The largest finite |value|, the end of the symmetric scale (0.0 when there is none).

    >>> symmetric_vmax([0.5, -2.0, float("nan")])
    2.0
    """
    array = np.abs(np.asarray(values, dtype=np.float64))
    finite = array[np.isfinite(array)]
    return float(finite.max()) if finite.size else 0.0


def diverging_rgb(values: Any, vmax: float) -> np.ndarray:
    """RGB (..., 3) uint8 for ``values`` on the scale from -vmax (blue) to +vmax (red).

    Values beyond ±vmax saturate; NaN and ``vmax <= 0`` give white.

    >>> diverging_rgb([[-1.0, 1.0]], 1.0).tolist()
    [[[33, 102, 172], [178, 24, 43]]]
    """
    values = np.asarray(values, dtype=np.float64)
    if not vmax > 0 or not np.isfinite(vmax):
        return np.broadcast_to(np.array(ZERO_RGB, dtype=np.uint8), values.shape + (3,)).copy()
    t = np.nan_to_num(np.clip(values / vmax, -1.0, 1.0), nan=0.0)[..., None]
    zero = np.array(ZERO_RGB, dtype=np.float64)
    end = np.where(t >= 0, np.array(POSITIVE_RGB, dtype=np.float64), np.array(NEGATIVE_RGB, dtype=np.float64))
    return np.rint(zero + np.abs(t) * (end - zero)).astype(np.uint8)


def diverging_color(value: float, vmax: float) -> str:
    """``"#rrggbb"`` of one value on the scale (see `diverging_rgb`)."""
    return hex_color(diverging_rgb(value, vmax))


def text_color(background: str) -> str:
    """Black or white, whichever contrasts more with ``background`` (``"#rrggbb"``).

    >>> text_color("#ffffff"), text_color("#b2182b")
    ('#000000', '#ffffff')
    """
    channels = [int(background[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    # WCAG relative luminance: linearize sRGB, then weight by eye sensitivity.
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    luminance = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    # Contrast with black (L+0.05)/0.05 beats contrast with white 1.05/(L+0.05) above L≈0.179.
    return "#000000" if luminance > 0.179 else "#ffffff"


def css_gradient(direction: str = "to right") -> str:
    """CSS ``linear-gradient`` of the scale from -vmax to +vmax.

    CSS interpolates linearly in sRGB, as `diverging_rgb` does, so three stops
    reproduce the scale exactly.
    """
    stops = ", ".join(hex_color(c) for c in (NEGATIVE_RGB, ZERO_RGB, POSITIVE_RGB))
    return f"linear-gradient({direction}, {stops})"


def hex_color(rgb: Any) -> str:
    """``"#rrggbb"`` of three 0–255 channels.

    >>> hex_color(POSITIVE_RGB)
    '#b2182b'
    """
    r, g, b = (int(c) for c in rgb)
    return f"#{r:02x}{g:02x}{b:02x}"
