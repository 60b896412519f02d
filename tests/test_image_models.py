"""Image models: architecture contract, seeded training accuracy, and real LRP heatmaps."""

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import doclrp
from doclrp.datasets import load_digits_images
from doclrp.training import accuracy, train_image_model
from doclrp.errors import DoclrpError
from doclrp.models.image import ImageCNN, ImageMLP
from doclrp.render.image import heatmap_grid, save_png

MIN_TEST_ACCURACY = 0.95  # both models reach 0.96-0.99 on this split over seeds 0-4
DELTA_TOLERANCE = 1e-4  # float32 sums of 64 pixels


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


def _trained(cls, digits, epochs):
    torch.manual_seed(0)
    return train_image_model(cls(), digits.x_train, digits.y_train, epochs=epochs, seed=0)


@pytest.fixture(scope="module")
def cnn(digits):
    return _trained(ImageCNN, digits, epochs=15)  # about 1 s on 2 cores


@pytest.fixture(scope="module")
def composite():
    # Pixels lie in [0, 1]; without bounds z^B would take the batch's min and max.
    return doclrp.get_composite("epsilon-gamma-box", low=0.0, high=1.0)


@pytest.mark.parametrize("cls", [ImageMLP, ImageCNN])
@pytest.mark.parametrize("in_shape", [(1, 8, 8), (1, 28, 28), (3, 12, 10)])
def test_output_shape_and_config_roundtrip(cls, in_shape):
    model = cls(in_shape=in_shape, n_outputs=4)
    assert model(torch.rand(3, *in_shape)).shape == (3, 4)
    rebuilt = cls(**json.loads(json.dumps(model.config)))
    assert rebuilt.config == model.config
    assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {k: v.shape for k, v in model.state_dict().items()}


@pytest.mark.parametrize("cls, name", [(ImageMLP, "image-mlp"), (ImageCNN, "image-cnn")])
def test_declares_type_and_composite(cls, name):
    assert cls.model_type == name
    assert cls.default_composite == "epsilon-gamma-box"


@pytest.mark.parametrize("cls", [ImageMLP, ImageCNN])
def test_only_layers_the_engine_knows(cls):
    known = (nn.Sequential, nn.Flatten, nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.ReLU, nn.MaxPool2d)
    model = cls()
    assert all(isinstance(m, known) for m in model.modules() if m is not model)
    layers = [m for m in model.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert sum(isinstance(m, nn.ReLU) for m in model.modules()) == len(layers) - 1
    # BatchNorm directly after a convolution, so the engine can fold it
    if cls is ImageCNN:
        blocks = list(model.features)
        assert all(isinstance(blocks[i + 1], nn.BatchNorm2d) for i, m in enumerate(blocks) if isinstance(m, nn.Conv2d))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"in_shape": (8, 8)}, "in_shape"),
        ({"in_shape": (1, 2, 2), "channels": (4, 4)}, "pooling"),
        ({"channels": (0,)}, "channels"),
        ({"n_outputs": 0}, "n_outputs"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(DoclrpError, match=match):
        ImageCNN(**kwargs)


@pytest.mark.slow  # needs the module's trained CNN: 2-22 s on 2 cores, paid by the first of these
def test_cnn_accuracy(cnn, digits):
    assert accuracy(cnn, digits.x_test, digits.y_test) >= MIN_TEST_ACCURACY


def test_mlp_accuracy(digits):
    mlp = _trained(ImageMLP, digits, epochs=30)  # under 1 s
    assert accuracy(mlp, digits.x_test, digits.y_test) >= MIN_TEST_ACCURACY


def test_training_is_deterministic(digits):
    weights = []
    for _ in range(2):
        torch.manual_seed(1)
        model = train_image_model(ImageMLP(hidden=(16,)), digits.x_train, digits.y_train, epochs=2, seed=5)
        weights.append(model.layers[1].weight)
    assert torch.equal(*weights)
    assert not model.training


def test_training_rejects_mismatched_labels(digits):
    with pytest.raises(DoclrpError, match="labels"):
        train_image_model(ImageMLP(), digits.x_train[:10], digits.y_train[:9])


@pytest.mark.slow  # needs the module's trained CNN: 2-22 s on 2 cores, paid by the first of these
def test_attribution_of_trained_cnn(cnn, digits, composite):
    x = digits.x_test[:16]
    predicted = cnn(x).argmax(dim=1)
    attribution = doclrp.attribute(cnn, x, target=predicted, composite=composite)
    relevance = attribution.relevance
    assert relevance.shape == x.shape and torch.isfinite(relevance).all()
    assert torch.allclose(attribution.output, cnn(x))
    torch.testing.assert_close(
        attribution.delta, attribution.target_output - relevance.sum(dim=(1, 2, 3)), atol=DELTA_TOLERANCE, rtol=0
    )
    # Evidence for the predicted digit: mostly positive relevance, of the size of the logit
    totals = relevance.sum(dim=(1, 2, 3))
    assert (totals > 0).all()
    assert (totals / attribution.target_output).median() > 0.5


@pytest.mark.slow  # needs the module's trained CNN: 2-22 s on 2 cores, paid by the first of these
def test_default_composite_by_name_runs(cnn, digits):
    x = digits.x_test[:4]
    attribution = doclrp.attribute(cnn, x, composite=cnn.default_composite)
    assert attribution.relevance.shape == x.shape


@pytest.mark.slow  # needs the module's trained CNN: 2-22 s on 2 cores, paid by the first of these
def test_heatmap_png_from_real_attribution(cnn, digits, composite, tmp_path):
    x = digits.x_test[:10]
    predicted = cnn(x).argmax(dim=1)
    relevance = doclrp.attribute(cnn, x, target=predicted, composite=composite).relevance
    grid = heatmap_grid(relevance, images=x, ncols=5, scale=4, labels=[str(int(p)) for p in predicted])
    path = save_png(grid, tmp_path / "digits.png")
    with Image.open(path) as reopened:
        assert reopened.format == "PNG" and reopened.size == grid.size and reopened.mode == "RGB"
        pixels = np.asarray(reopened).astype(int)
    assert ((pixels[..., 0] - pixels[..., 2]) > 50).any()  # red: positive relevance is drawn
