"""The LRP Toolbox's colour maps by name, each against its equation as the toolbox's render.py
writes it, and matplotlib's maps by name (matplotlib optional: a clear error without it)."""

import importlib
import types

import numpy as np
import pytest

from doclrp.errors import DoclrpError
from doclrp.render import image
from doclrp.render.image import TOOLBOX_CMAPS, colorize, normalize


def toolbox_map(name, R):
    """The toolbox's map on raw relevance R (its own scaling), RGB in [0, 1]."""
    if name == "gray-red":
        rgb = np.ones(R.shape + (3,)) * 0.8
        t = np.clip(R / R.max(), -1, 1)
        neg, pos = R < 0, R >= 0
        rgb[neg, 0] += t[neg] * 0.8
        rgb[neg, 1] += t[neg] * 0.8
        rgb[neg, 2] += -t[neg] * 0.2
        rgb[pos, 0] += t[pos] * 0.2
        rgb[pos, 1] += -t[pos] * 0.8
        rgb[pos, 2] += -t[pos] * 0.8
        return rgb
    if name in ("black-green", "blue-black-yellow"):
        rgb = np.zeros(R.shape + (3,))
        neg, pos = R < 0, R >= 0
        rgb[neg, 2] = -R[neg] / R.max()
        rgb[pos, 1] = R[pos] / R.max()
        if name == "blue-black-yellow":
            rgb[pos, 0] = R[pos] / R.max()
        return rgb
    x = R / np.abs(R).max()
    if name == "black-firered":
        r = np.clip(x, 0, 0.25) / 0.25 + np.clip(-x - 0.5, 0, 0.5) / 0.5
        g = np.clip(x - 0.25, 0, 0.25) / 0.25 + np.clip(-x - 0.25, 0, 0.25) / 0.25
        b = np.clip(x - 0.5, 0, 0.5) / 0.5 + np.clip(-x, 0, 0.25) / 0.25
        return np.stack([r, g, b], -1)
    # gray-red2, on relevance it leaves as it is (no outliers, no negative values)
    hrp = 0.9 - np.clip(x - 0.3, 0, 0.7) / 0.7 * 0.5
    hgp = 0.9 - np.clip(x, 0, 0.3) / 0.3 * 0.5 - np.clip(x - 0.3, 0, 0.7) / 0.7 * 0.4
    return np.stack([hrp, hgp, hgp], -1)


@pytest.mark.parametrize("name", TOOLBOX_CMAPS)
def test_toolbox_maps_follow_their_equations(name):
    rng = np.random.default_rng(0)
    R = rng.normal(size=(6, 7))
    R[0, 0] = 2 * np.abs(R).max()          # the largest magnitude is positive: both scalings agree
    if name == "gray-red2":
        R = np.abs(R)                       # its preprocessing drops negative values
        R[0, 0] = 0.0
    expected = np.rint(np.clip(toolbox_map(name, R), 0, 1) * 255).astype(np.uint8)
    np.testing.assert_array_equal(colorize(normalize(R), name), expected)


def test_matplotlib_maps_by_name(monkeypatch):
    seen = {}

    def viridis(values):
        seen["values"] = values
        return np.stack([values, 1 - values, values * 0, np.ones_like(values)], -1)

    fake = types.SimpleNamespace(colormaps={"viridis": viridis})
    real = importlib.import_module
    monkeypatch.setattr(image.importlib, "import_module",
                        lambda name: fake if name == "matplotlib" else real(name))
    rgb = colorize(np.array([-1.0, 0.0, 1.0]), "viridis")
    np.testing.assert_array_equal(seen["values"], [0.0, 0.5, 1.0])
    assert rgb.tolist() == [[0, 255, 0], [128, 128, 0], [255, 0, 0]]
    with pytest.raises(DoclrpError, match="unknown cmap 'nope'.*matplotlib colour map"):
        colorize(np.zeros(2), "nope")


def test_a_matplotlib_map_without_matplotlib_says_what_to_install(monkeypatch):
    def missing(name):
        raise ImportError(name)

    monkeypatch.setattr(image.importlib, "import_module", missing)
    with pytest.raises(DoclrpError, match="pip install matplotlib"):
        colorize(np.zeros(2), "viridis")
