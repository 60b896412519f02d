"""Relevance of pixels as pictures: colormaps, overlays, grids, PNG files.

>>> import numpy as np
>>> from doclrp.render.image import heatmap_grid, relevance_to_rgb
>>> relevance = np.random.default_rng(0).normal(size=(4, 1, 8, 8))
>>> relevance_to_rgb(relevance[0]).size
(8, 8)
>>> heatmap_grid(relevance, ncols=2, scale=4, padding=2).size
(70, 70)

Pure functions: they take relevance as numpy arrays or torch tensors, shape
(height, width) or (channels, height, width) -- channels are summed, because
relevance is additive -- and return ``PIL.Image`` objects or PNG bytes; only
``save_png`` touches the file system. The colormaps are computed here, in numpy,
so rendering needs no matplotlib. Relevance is scaled to [-1, 1] by its largest
magnitude, so zero relevance always gets the map's neutral colour and equal
magnitudes of opposite sign get opposite colours (red for, blue against).

Besides doclrp's own maps (``CMAPS``), ``cmap`` takes the LRP Toolbox's maps by their names
(``TOOLBOX_CMAPS``: gray-red, gray-red2, black-green, black-firered, blue-black-yellow, from the
equations of its ``render.py``) and any matplotlib colour map by name, if matplotlib is
installed (``pip install matplotlib``), applied to ``(value + 1) / 2`` as the toolbox's
``hm_to_rgb`` does.
"""

from __future__ import annotations

import io
import math
import os
import importlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import ArrayLike
from PIL import Image, ImageDraw, ImageFont

from doclrp._atomic import staged_file
from doclrp.errors import DoclrpError
from doclrp.render.colors import diverging_rgb

if TYPE_CHECKING:  # tensors are read duck-typed (detach, cpu): rendering needs no torch at run time
    from torch import Tensor

__all__ = [
    "CMAPS",
    "TOOLBOX_CMAPS",
    "colorize",
    "normalize",
    "relevance_to_rgb",
    "overlay",
    "heatmap_grid",
    "png_bytes",
    "save_png",
]

# Diverging maps are given for values in [0, 1] as (position, RGB) anchors; a
# negative value gets the colour of its magnitude with red and blue swapped.
# Building the negative half by mirroring makes the symmetry exact, not merely
# up to interpolation round-off.
_DIVERGING = {
    # white -> red; mirrored: white -> blue
    "bwr": [(0.0, (1.0, 1.0, 1.0)), (1.0, (1.0, 0.0, 0.0))],
    # white -> red -> dark red, as matplotlib's "seismic"
    "seismic": [(0.0, (1.0, 1.0, 1.0)), (0.5, (1.0, 0.0, 0.0)), (1.0, (0.5, 0.0, 0.0))],
    # black -> red -> yellow; mirrored: black -> blue -> cyan (a "hot"/"cold" pair, after
    # matplotlib's "hot"; the LRP Toolbox has no map of this name: its own are TOOLBOX_CMAPS)
    "coldnhot": [(0.0, (0.0, 0.0, 0.0)), (0.5, (1.0, 0.0, 0.0)), (1.0, (1.0, 1.0, 0.0))],
}
# "rdbu" is the red-white-blue scale of the HTML pages (doclrp.render.colors), for
# pictures that sit next to them; "gray" runs black (most negative) -> mid grey
# (zero) -> white (most positive).
CMAPS = (*_DIVERGING, "rdbu", "gray")


# The LRP Toolbox's maps (python/render.py), as functions of the relevance x scaled to [-1, 1].
# The toolbox scales gray-red, black-green and blue-black-yellow by the largest *positive* value
# and first zeroes outliers and negative values for gray-red2; here every map receives doclrp's
# symmetric scaling, so zero keeps its colour and the sign its meaning.
def _gray_red(x: np.ndarray) -> np.ndarray:
    base = 0.8
    negative = x < 0
    red = np.where(negative, base + x * base, base + x * (1 - base))
    green = np.where(negative, base + x * base, base - x * base)
    blue = np.where(negative, base - x * (1 - base), base - x * base)
    return np.stack([red, green, blue], axis=-1)


def _gray_red2(x: np.ndarray) -> np.ndarray:
    p, n = np.clip(x, 0, 1), np.clip(-x, 0, 1)
    low_p, high_p = np.clip(p, 0, 0.3) / 0.3, np.clip(p - 0.3, 0, 0.7) / 0.7
    low_n, high_n = np.clip(n, 0, 0.3) / 0.3, np.clip(n - 0.3, 0, 0.7) / 0.7
    positive = x >= 0
    red = np.where(positive, 0.9 - high_p * 0.5, 0.9 - low_n * 0.5 - high_n * 0.4)
    green = np.where(positive, 0.9 - low_p * 0.5 - high_p * 0.4, 0.9 - low_n * 0.5 - high_n * 0.4)
    blue = np.where(positive, 0.9 - low_p * 0.5 - high_p * 0.4, 0.9 - high_n * 0.5)
    return np.stack([red, green, blue], axis=-1)


def _black_green(x: np.ndarray) -> np.ndarray:
    zero = np.zeros_like(x)
    return np.stack([zero, np.clip(x, 0, 1), np.clip(-x, 0, 1)], axis=-1)


def _black_firered(x: np.ndarray) -> np.ndarray:
    red = np.clip(x, 0, 0.25) / 0.25 + np.clip(-x - 0.5, 0, 0.5) / 0.5
    green = np.clip(x - 0.25, 0, 0.25) / 0.25 + np.clip(-x - 0.25, 0, 0.25) / 0.25
    blue = np.clip(x - 0.5, 0, 0.5) / 0.5 + np.clip(-x, 0, 0.25) / 0.25
    return np.stack([red, green, blue], axis=-1)


def _blue_black_yellow(x: np.ndarray) -> np.ndarray:
    positive = np.clip(x, 0, 1)
    return np.stack([positive, positive, np.clip(-x, 0, 1)], axis=-1)


_TOOLBOX: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "gray-red": _gray_red, "gray-red2": _gray_red2, "black-green": _black_green,
    "black-firered": _black_firered, "blue-black-yellow": _blue_black_yellow,
}
#: The LRP Toolbox's own colour maps, by the names its render.py gives them.
TOOLBOX_CMAPS = tuple(_TOOLBOX)


def _matplotlib_rgb(x: np.ndarray, cmap: str) -> np.ndarray:
    """RGB in [0, 1] of matplotlib's map ``cmap`` at ``(x + 1) / 2``."""
    try:
        # imported on demand: matplotlib is optional and heavy, and only its maps need it
        matplotlib: Any = importlib.import_module("matplotlib")
    except ImportError:
        raise DoclrpError(f"unknown cmap {cmap!r}; choose one of {', '.join(CMAPS + TOOLBOX_CMAPS)}, "
                          "or install matplotlib (pip install matplotlib) for its colour maps") from None
    try:
        colormap = matplotlib.colormaps[cmap]
    except KeyError:
        raise DoclrpError(f"unknown cmap {cmap!r}; choose one of {', '.join(CMAPS + TOOLBOX_CMAPS)} "
                          "or a matplotlib colour map") from None
    return np.asarray(colormap((x + 1.0) / 2.0), dtype=np.float64)[..., :3]


def _to_numpy(array: ArrayLike) -> np.ndarray:
    if hasattr(array, "detach"):  # a torch tensor, on any device, maybe requiring grad
        array = array.detach().cpu().numpy()
    return np.asarray(array, dtype=np.float64)


def _as_2d(relevance: ArrayLike) -> np.ndarray:
    values = _to_numpy(relevance)
    if values.ndim == 3:
        values = values.sum(axis=0)
    if values.ndim != 2:
        raise DoclrpError(
            f"relevance of one image must be (height, width) or (channels, height, width), "
            f"got shape {values.shape}; index a batch one image at a time"
        )
    return values


def normalize(relevance: ArrayLike, symmetric: bool = True, vmax: float | None = None) -> np.ndarray:
    """Relevance (H, W) or (C, H, W) as values in [-1, 1], shape (H, W).

    symmetric: divide by ``vmax`` (default: the largest magnitude), so zero stays
    zero. Otherwise stretch [min, max] onto [-1, 1], which shows contrast when all
    relevance has one sign but gives up the meaning of zero.

    >>> normalize(np.array([[-1.0, 0.0, 2.0]])).tolist()
    [[-0.5, 0.0, 1.0]]
    >>> normalize(np.array([[1.0, 2.0, 3.0]]), symmetric=False).tolist()
    [[-1.0, 0.0, 1.0]]
    """
    values = _as_2d(relevance)
    if not np.all(np.isfinite(values)):
        raise DoclrpError("relevance contains NaN or infinite values; check the attribution's delta")
    if symmetric:
        scale = float(np.abs(values).max()) if vmax is None else float(vmax)
        # All-zero relevance renders as all-neutral instead of dividing by zero.
        return np.clip(values / scale, -1.0, 1.0) if scale > 0 else np.zeros_like(values)
    low, high = float(values.min()), float(values.max())
    if high == low:
        return np.zeros_like(values)
    return (values - low) / (high - low) * 2.0 - 1.0


def colorize(values: ArrayLike, cmap: str = "bwr") -> np.ndarray:
    """Colours (..., 3) uint8 for values in [-1, 1] (clipped).

    >>> colorize(np.array([-1.0, 0.0, 1.0]), "bwr").tolist()
    [[0, 0, 255], [255, 255, 255], [255, 0, 0]]
    """
    x = np.clip(_to_numpy(values), -1.0, 1.0)
    if cmap == "gray":
        rgb = np.repeat(((x + 1.0) / 2.0)[..., None], 3, axis=-1)
    elif cmap == "rdbu":
        return diverging_rgb(x, vmax=1.0)
    elif cmap in _DIVERGING:
        positions, colours = zip(*_DIVERGING[cmap])
        magnitude = np.abs(x)
        rgb = np.stack([np.interp(magnitude, positions, channel) for channel in zip(*colours)], axis=-1)
        negative = x < 0
        rgb[negative] = rgb[negative][:, ::-1]  # RGB -> BGR: red becomes blue
    elif cmap in _TOOLBOX:
        rgb = np.clip(_TOOLBOX[cmap](x), 0.0, 1.0)
    else:
        rgb = _matplotlib_rgb(x, cmap)
    return np.rint(rgb * 255.0).astype(np.uint8)


def relevance_to_rgb(relevance: ArrayLike, cmap: str = "bwr", symmetric: bool = True,
                     vmax: float | None = None) -> Image.Image:
    """RGB image of one relevance map (H, W) or (C, H, W), one pixel per value.

    Pass the same ``vmax`` to several calls to compare images on one scale.

    >>> relevance_to_rgb(np.array([[-2.0, 0.0, 2.0]])).getpixel((1, 0))
    (255, 255, 255)
    """
    return Image.fromarray(colorize(normalize(relevance, symmetric, vmax), cmap))


def _image_to_rgb(image: Image.Image | ArrayLike) -> np.ndarray:
    """Float RGB (H, W, 3) in [0, 1] from a PIL image or an array (H, W), (1|3, H, W) in [0, 1]."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    pixels = _to_numpy(image)
    if pixels.ndim == 3 and pixels.shape[0] in (1, 3):
        pixels = np.moveaxis(pixels, 0, -1)
    elif pixels.ndim == 2:
        pixels = pixels[..., None]
    else:
        raise DoclrpError(f"image must be (H, W), (1, H, W) or (3, H, W) with values in [0, 1], got shape {pixels.shape}")
    return np.broadcast_to(np.clip(pixels, 0.0, 1.0), pixels.shape[:2] + (3,))


def overlay(
    image: Image.Image | ArrayLike, relevance: ArrayLike, alpha: float = 0.7, cmap: str = "bwr",
    vmax: float | None = None,
) -> Image.Image:
    """The input image with relevance colours laid over it, same size as the image.

    Each pixel's opacity is ``alpha`` times its normalized relevance magnitude, so
    pixels without relevance show the input unchanged instead of being washed out
    by the neutral colour.

    >>> image, relevance = np.zeros((1, 2, 2)), np.array([[0.0, 1.0], [0.0, 0.0]])
    >>> out = overlay(image, relevance, alpha=1.0)
    >>> out.getpixel((0, 0)), out.getpixel((1, 0))
    ((0, 0, 0), (255, 0, 0))
    """
    if not 0.0 <= alpha <= 1.0:
        raise DoclrpError(f"alpha must lie in [0, 1], got {alpha}")
    base = _image_to_rgb(image)
    values = normalize(relevance, symmetric=True, vmax=vmax)
    if values.shape != base.shape[:2]:
        raise DoclrpError(f"image is {base.shape[:2]} pixels but relevance is {values.shape}")
    colours = colorize(values, cmap) / 255.0
    opacity = alpha * np.abs(values)[..., None]
    blended = (1.0 - opacity) * base + opacity * colours
    return Image.fromarray(np.rint(blended * 255.0).astype(np.uint8))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()


def _fit(text: str, font: ImageFont.ImageFont | ImageFont.FreeTypeFont, width: int) -> str:
    """``text``, cut short with an ellipsis where it would run into the next cell."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "…") > width:
        text = text[:-1]
    return text + "…"


def heatmap_grid(
    relevances: Iterable[ArrayLike],
    images: Sequence[ArrayLike] | np.ndarray | Tensor | None = None,
    ncols: int = 8,
    scale: int = 4,
    labels: Sequence[str] | None = None,
    cmap: str = "bwr",
    padding: int = 2,
    shared_scale: bool = False,
) -> Image.Image:
    """One picture of many samples: a row-major grid of heatmaps, upscaled ``scale`` times.

    relevances: (batch, H, W) or (batch, C, H, W). With ``images`` (batch, H, W),
    (batch, 1|3, H, W) in [0, 1], each cell shows the input left of its heatmap.
    ``labels`` (one string per sample) are written under the cells. Each heatmap
    is scaled by its own largest magnitude unless ``shared_scale``.
    Upscaling is nearest-neighbour so every input pixel stays a sharp square.

    Size: ncols' = min(ncols, batch), rows = ceil(batch / ncols'),
    cell = (W * scale * k + padding * (k - 1), H * scale + label height) with
    k = 2 with images else 1; grid = cells plus ``padding`` around and between.

    >>> relevance = np.ones((3, 8, 8))
    >>> heatmap_grid(relevance, images=np.zeros((3, 1, 8, 8)), ncols=2, scale=2).size
    (74, 38)
    """
    batch = [_as_2d(r) for r in relevances]
    if not batch:
        raise DoclrpError("heatmap_grid needs at least one relevance map")
    if ncols < 1 or scale < 1 or padding < 0:
        raise DoclrpError(f"need ncols >= 1, scale >= 1, padding >= 0; got {ncols}, {scale}, {padding}")
    height, width = batch[0].shape
    if any(r.shape != (height, width) for r in batch):
        raise DoclrpError("all relevance maps in a grid must have the same height and width")
    if images is not None and len(images) != len(batch):
        raise DoclrpError(f"got {len(images)} images for {len(batch)} relevance maps")
    if labels is not None and len(labels) != len(batch):
        raise DoclrpError(f"got {len(labels)} labels for {len(batch)} relevance maps")

    vmax = max(float(np.abs(r).max()) for r in batch) if shared_scale else None
    tile_w, tile_h = width * scale, height * scale
    panels = 2 if images is not None else 1
    font = _font(size=max(10, min(16, tile_h // 3))) if labels is not None else None
    label_h = font.getbbox("Ag")[3] + 2 if font is not None else 0
    cell_w = panels * tile_w + (panels - 1) * padding
    cell_h = tile_h + label_h
    cols = min(ncols, len(batch))
    rows = math.ceil(len(batch) / cols)
    grid = Image.new("RGB", (cols * cell_w + (cols + 1) * padding, rows * cell_h + (rows + 1) * padding), "white")
    draw = ImageDraw.Draw(grid)

    for i, relevance in enumerate(batch):
        left = padding + (i % cols) * (cell_w + padding)
        top = padding + (i // cols) * (cell_h + padding)
        tiles = [relevance_to_rgb(relevance, cmap, symmetric=True, vmax=vmax)]
        if images is not None:
            rgb = np.rint(_image_to_rgb(images[i]) * 255.0).astype(np.uint8)
            if rgb.shape[:2] != (height, width):
                raise DoclrpError(f"image {i} is {rgb.shape[:2]} pixels but relevance is {(height, width)}")
            tiles.insert(0, Image.fromarray(rgb))
        for k, tile in enumerate(tiles):
            grid.paste(tile.resize((tile_w, tile_h), Image.Resampling.NEAREST), (left + k * (tile_w + padding), top))
        if labels is not None and font is not None:  # a font is made whenever there are labels
            draw.text((left, top + tile_h + 1), _fit(str(labels[i]), font, cell_w), fill="black", font=font)
    return grid


def png_bytes(image: Image.Image) -> bytes:
    """The image encoded as PNG, e.g. for a data: URI in an HTML page.

    >>> png_bytes(Image.new("RGB", (2, 2)))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def save_png(image: Image.Image, path: str | os.PathLike) -> Path:
    """Write ``image`` as a PNG file at ``path`` atomically; return the path.

    The PNG goes to a temporary file in the same folder which then replaces
    ``path`` in one step: readers never see half a file, and when encoding or
    writing fails, any earlier file at ``path`` is left as it was.

    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     save_png(Image.new("RGB", (3, 2)), pathlib.Path(folder) / "x.png").stat().st_size > 0
    True
    """
    if not isinstance(image, Image.Image):
        raise DoclrpError(f"save_png needs a PIL image, got {type(image).__name__}; see relevance_to_rgb")
    target = Path(path)
    with staged_file(target) as temporary, temporary.open("wb") as stream:
        image.save(stream, format="PNG")
    return target
