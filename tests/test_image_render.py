"""Pictures of relevance: colormap invariants, normalization, overlays, grids, PNG files."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from doclrp.errors import DoclrpError
from doclrp.render import image as render
from doclrp.render.image import (
    CMAPS,
    colorize,
    heatmap_grid,
    normalize,
    overlay,
    png_bytes,
    relevance_to_rgb,
    save_png,
)

MIRRORED = ["bwr", "seismic", "coldnhot"]  # negative = positive with red and blue swapped
NEUTRAL = {
    "bwr": (255, 255, 255),
    "seismic": (255, 255, 255),
    "coldnhot": (0, 0, 0),
    "rdbu": (255, 255, 255),
    "gray": (128, 128, 128),
}
VALUES = np.linspace(0.0, 1.0, 201)


def test_known_maps():
    assert set(CMAPS) == set(NEUTRAL)


@pytest.mark.parametrize("cmap", CMAPS)
def test_zero_is_neutral(cmap):
    assert tuple(colorize(np.array(0.0), cmap)) == NEUTRAL[cmap]
    assert tuple(colorize(np.array([-0.0]), cmap)[0]) == NEUTRAL[cmap]


@pytest.mark.parametrize("cmap", MIRRORED)
def test_opposite_values_get_mirrored_hues(cmap):
    positive, negative = colorize(VALUES, cmap), colorize(-VALUES, cmap)
    # red and blue trade places, green stays
    assert np.array_equal(negative, positive[:, ::-1])


@pytest.mark.parametrize("cmap", [*MIRRORED, "rdbu"])
def test_positive_is_warm_negative_cold(cmap):
    for sign in (1, -1):
        colours = colorize(sign * VALUES[1:], cmap).astype(int)
        assert (sign * (colours[:, 0] - colours[:, 2]) > 0).all()


def test_rdbu_is_the_html_scale():
    from doclrp.render.colors import diverging_rgb

    values = np.linspace(-1, 1, 41)
    assert np.array_equal(colorize(values, "rdbu"), diverging_rgb(values, vmax=1.0))


@pytest.mark.parametrize("cmap", CMAPS)
def test_distance_from_neutral_grows_with_magnitude(cmap):
    for sign in (1.0, -1.0):
        colours = colorize(sign * VALUES, cmap).astype(float)
        distance = np.linalg.norm(colours - np.array(NEUTRAL[cmap]), axis=1)
        assert (np.diff(distance) >= 0).all() and distance[-1] > distance[0]


def test_gray_is_monotone_in_value():
    levels = colorize(np.linspace(-1, 1, 101), "gray")[:, 0].astype(int)
    assert (np.diff(levels) >= 0).all() and (levels[0], levels[-1]) == (0, 255)


def test_colorize_clips_and_rejects_unknown_maps():
    assert np.array_equal(colorize(np.array([5.0, -5.0])), colorize(np.array([1.0, -1.0])))
    with pytest.raises(DoclrpError, match="unknown cmap"):
        colorize(np.zeros(2), "viridis")


def test_normalize_symmetric_scaling_and_zero_input():
    values = normalize(np.array([[-1.0, 0.5], [2.0, 0.0]]))
    assert values.tolist() == [[-0.5, 0.25], [1.0, 0.0]]
    assert normalize(np.array([[-1.0, 4.0]]), vmax=2.0).tolist() == [[-0.5, 1.0]]
    assert not normalize(np.zeros((3, 3))).any()
    assert not normalize(np.ones((3, 3)), symmetric=False).any()
    with pytest.raises(DoclrpError, match="NaN"):
        normalize(np.array([[np.nan]]))


def test_channels_are_summed_and_tensors_accepted():
    relevance = torch.tensor([[[1.0, -1.0]], [[1.0, 1.0]]], requires_grad=True)  # (2, 1, 2)
    picture = relevance_to_rgb(relevance)
    assert picture.size == (2, 1) and picture.mode == "RGB"
    assert picture.getpixel((0, 0)) == (255, 0, 0)  # 1 + 1 = 2, the largest magnitude
    assert picture.getpixel((1, 0)) == (255, 255, 255)  # -1 + 1 = 0, neutral
    with pytest.raises(DoclrpError, match="one image"):
        relevance_to_rgb(np.zeros((2, 1, 3, 3)))


def test_overlay_keeps_image_where_relevance_is_zero():
    image = np.full((1, 4, 4), 0.5)
    relevance = np.zeros((4, 4))
    relevance[0, 0], relevance[3, 3] = 1.0, -1.0
    out = np.asarray(overlay(image, relevance, alpha=0.5))
    assert out.shape == (4, 4, 3)
    assert tuple(out[1, 1]) == (128, 128, 128)
    assert out[0, 0, 0] > out[0, 0, 2] and out[3, 3, 2] > out[3, 3, 0]
    with pytest.raises(DoclrpError, match="pixels"):
        overlay(np.zeros((1, 3, 3)), relevance)


@pytest.mark.parametrize("with_images", [False, True])
@pytest.mark.parametrize("n, ncols", [(1, 8), (5, 2), (8, 4)])
def test_grid_size(n, ncols, with_images):
    scale, padding, h, w = 3, 2, 8, 6
    relevance = np.random.default_rng(0).normal(size=(n, 1, h, w))
    images = np.random.default_rng(1).random((n, 1, h, w)) if with_images else None
    grid = heatmap_grid(relevance, images=images, ncols=ncols, scale=scale, padding=padding)
    cols, panels = min(n, ncols), 2 if with_images else 1
    rows = -(-n // cols)
    cell_w = panels * w * scale + (panels - 1) * padding
    assert grid.size == (cols * cell_w + (cols + 1) * padding, rows * h * scale + (rows + 1) * padding)


def test_grid_upscales_by_nearest_neighbour():
    relevance = np.array([[[1.0, -1.0]]])
    grid = np.asarray(heatmap_grid(relevance, scale=5, padding=0))
    assert grid.shape == (5, 10, 3)
    assert (grid[:, :5] == (255, 0, 0)).all() and (grid[:, 5:] == (0, 0, 255)).all()


def test_grid_labels_add_a_strip_and_ink():
    relevance = np.zeros((2, 8, 8))
    plain = heatmap_grid(relevance, scale=4)
    labelled = heatmap_grid(relevance, scale=4, labels=["7", "1"])
    assert labelled.size[0] == plain.size[0] and labelled.size[1] > plain.size[1]
    strip = np.asarray(labelled)[plain.size[1] - 2 :]
    assert (strip < 128).any()  # some dark text pixels were drawn


def test_long_labels_are_cut_to_the_cell():
    relevance = np.zeros((2, 8, 8))
    short = np.asarray(heatmap_grid(relevance, ncols=2, scale=2, padding=4, labels=["1", "2"]))
    long = np.asarray(heatmap_grid(relevance, ncols=2, scale=2, padding=4, labels=["1" * 50, "2"]))
    gap = slice(4 + 16, 4 + 16 + 4)  # the padding column between the two cells stays blank
    assert (short[:, gap] == 255).all() and (long[:, gap] == 255).all()


def test_grid_shared_scale():
    relevance = np.stack([np.full((2, 2), 1.0), np.full((2, 2), 4.0)])
    own = np.asarray(heatmap_grid(relevance, ncols=2, scale=1, padding=0))
    shared = np.asarray(heatmap_grid(relevance, ncols=2, scale=1, padding=0, shared_scale=True))
    assert (own[:, 0] == own[:, 3]).all()
    assert shared[0, 0, 1] > shared[0, 3, 1]  # the smaller map is paler on a common scale


def test_grid_rejects_mismatches():
    with pytest.raises(DoclrpError, match="labels"):
        heatmap_grid(np.zeros((2, 4, 4)), labels=["a"])
    with pytest.raises(DoclrpError, match="images"):
        heatmap_grid(np.zeros((2, 4, 4)), images=np.zeros((3, 1, 4, 4)))
    with pytest.raises(DoclrpError, match="at least one"):
        heatmap_grid(np.zeros((0, 4, 4)))


def test_png_written_is_a_valid_image(tmp_path):
    grid = heatmap_grid(np.random.default_rng(0).normal(size=(3, 1, 8, 8)), ncols=3, scale=2)
    path = save_png(grid, tmp_path / "grid.png")
    with Image.open(path) as reopened:
        reopened.load()
        assert reopened.format == "PNG" and reopened.size == grid.size and reopened.mode == "RGB"
        assert np.array_equal(np.asarray(reopened), np.asarray(grid))
    assert path.read_bytes() == png_bytes(grid)
    assert os.listdir(tmp_path) == ["grid.png"]


def test_failed_write_leaves_no_partial_file(tmp_path, monkeypatch):
    target = tmp_path / "out.png"
    target.write_bytes(b"previous")

    def save_half_then_fail(self, stream, format=None, **kwargs):
        stream.write(b"\x89PNG half a file")
        raise OSError("disk full")

    monkeypatch.setattr(render.Image.Image, "save", save_half_then_fail)
    with pytest.raises(OSError, match="disk full"):
        save_png(Image.new("RGB", (4, 4)), target)
    assert target.read_bytes() == b"previous"
    assert os.listdir(tmp_path) == ["out.png"]


def test_failed_first_write_creates_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(render.Image.Image, "save", lambda *a, **k: (_ for _ in ()).throw(OSError("boom")))
    with pytest.raises(OSError):
        save_png(Image.new("RGB", (4, 4)), tmp_path / "new.png")
    assert os.listdir(tmp_path) == []


def test_save_png_wants_an_image(tmp_path):
    with pytest.raises(DoclrpError, match="PIL image"):
        save_png(np.zeros((2, 2, 3)), tmp_path / "x.png")
