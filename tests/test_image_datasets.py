"""Image loaders: shapes, pixel range, and a split that is fixed, disjoint and stratified."""

import numpy as np
import pytest
import torch

from doclrp.datasets import load_digits_images, load_mnist_5k, stratified_split
from doclrp.errors import DoclrpError


@pytest.fixture(scope="module")
def digits():
    return load_digits_images()


@pytest.mark.parametrize(
    "load, shape, n_train, n_test",
    [(load_digits_images, (1, 8, 8), 1347, 450), (load_mnist_5k, (1, 28, 28), 3750, 1250)],
)
def test_shapes_dtypes_and_range(load, shape, n_train, n_test):
    data = load()
    assert data.x_train.shape == (n_train, *shape) and data.x_test.shape == (n_test, *shape)
    assert data.x_train.dtype == torch.float32 and data.y_train.dtype == torch.int64
    pixels = torch.cat([data.x_train, data.x_test])
    assert float(pixels.min()) == 0.0 and float(pixels.max()) == 1.0
    assert data.class_names == [str(c) for c in range(10)]
    assert set(data.y_test.tolist()) == set(range(10))


def test_split_is_fixed(digits):
    again = load_digits_images()
    assert torch.equal(digits.x_test, again.x_test) and torch.equal(digits.y_train, again.y_train)


def test_split_is_stratified_and_a_partition():
    labels = np.repeat(np.arange(3), [8, 12, 20])
    train, test = stratified_split(labels, test_fraction=0.25, seed=3)
    assert np.intersect1d(train, test).size == 0
    assert np.array_equal(np.sort(np.concatenate([train, test])), np.arange(len(labels)))
    assert np.bincount(labels[test]).tolist() == [2, 3, 5]


def test_mnist_classes_balanced():
    data = load_mnist_5k()
    assert torch.bincount(data.y_test).tolist() == [125] * 10


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.5])
def test_bad_fraction(fraction):
    with pytest.raises(DoclrpError, match="test_fraction"):
        stratified_split(np.zeros(4), fraction)
