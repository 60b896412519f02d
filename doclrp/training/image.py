"""Training the image models (:mod:`doclrp.models.image`): a small, seeded Adam loop.

>>> import torch
>>> from doclrp.models.image import ImageMLP
>>> from doclrp.training import train_image_model
>>> x, y = torch.rand(8, 1, 8, 8), torch.arange(8) % 2
>>> train_image_model(ImageMLP(), x, y, epochs=1).training
False

The image data sets themselves are read by :mod:`doclrp.datasets`; the test
accuracy is :func:`doclrp.training.metrics.accuracy`.
"""

from __future__ import annotations

import torch
from torch import nn

from doclrp.errors import DoclrpError
from doclrp.training.defaults import IMAGE_DEFAULTS

__all__ = ["train_image_model"]


def train_image_model(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    epochs: int = IMAGE_DEFAULTS["epochs"],
    lr: float = IMAGE_DEFAULTS["lr"],
    seed: int = 0,
    batch_size: int = IMAGE_DEFAULTS["batch_size"],
    weight_decay: float = IMAGE_DEFAULTS["weight_decay"],
) -> nn.Module:
    """Train ``model`` in place with Adam and cross-entropy; return it in eval mode.

    ``seed`` fixes the batch order. Weights start where the constructor put
    them, so seed torch before building the model for a reproducible result.

    >>> import torch
    >>> from doclrp.datasets import load_digits_images
    >>> from doclrp.models.image import ImageMLP
    >>> from doclrp.training.metrics import accuracy
    >>> _ = torch.manual_seed(0)
    >>> data = load_digits_images()
    >>> model = train_image_model(ImageMLP(), data.x_train, data.y_train, epochs=10)
    >>> accuracy(model, data.x_test, data.y_test) > 0.9
    True
    """
    if len(x) != len(y) or len(x) == 0:
        raise DoclrpError(f"need as many labels as images (> 0), got {len(x)} images and {len(y)} labels")
    low, high = getattr(model, "input_bounds", (None, None))
    if (low is not None and float(x.min()) < low) or (high is not None and float(x.max()) > high):
        # z^B explains with the declared box: pixels outside it would be explained wrongly
        raise DoclrpError(f"images range over [{float(x.min()):g}, {float(x.max()):g}] but "
                          f"{type(model).__name__} takes pixels in [{low}, {high}]: scale them to that range")
    # A private generator: training must not depend on, or disturb, the global RNG state.
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), batch_size):
            batch = order[start : start + batch_size]
            optimizer.zero_grad()
            loss_fn(model(x[batch]), y[batch]).backward()
            optimizer.step()
    return model.eval()
