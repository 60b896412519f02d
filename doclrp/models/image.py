"""Small image classifiers built only from layers the LRP engine has rules for.

>>> import torch
>>> from doclrp.models.image import ImageCNN, ImageMLP
>>> cnn = ImageCNN(in_shape=(1, 8, 8), channels=(8, 16), n_outputs=10)
>>> cnn(torch.rand(2, 1, 8, 8)).shape
torch.Size([2, 10])
>>> ImageMLP(**ImageMLP().config).config == ImageMLP().config
True

Inputs are float pixels in [0, 1], shape (batch, channels, height, width); the
default composite "epsilon-gamma-box" relies on those bounds for its first layer: both
models declare them (``input_bounds``), and :func:`doclrp.training.train_image_model` refuses
images outside them.
Every activation is its own ``nn.ReLU`` module (never ``F.relu`` inside
``forward``) so the engine can find it and attach a rule; BatchNorm follows a
convolution directly so the engine can merge the two while it explains.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from doclrp.errors import DoclrpError

__all__ = ["ImageMLP", "ImageCNN"]


def _shape(in_shape: Sequence[int]) -> tuple[int, int, int]:
    shape = tuple(int(s) for s in in_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise DoclrpError(
            f"in_shape must be (channels, height, width) with positive sizes, got {tuple(in_shape)}"
        )
    return shape


def _sizes(values: Sequence[int], name: str) -> tuple[int, ...]:
    sizes = tuple(int(v) for v in values)
    if any(v < 1 for v in sizes):
        raise DoclrpError(f"{name} must be positive layer sizes, got {tuple(values)}")
    return sizes


class ImageMLP(nn.Module):
    """Fully connected classifier: Flatten, (Linear, ReLU) per hidden size, Linear.

    >>> import torch
    >>> ImageMLP(in_shape=(1, 8, 8), hidden=(32,), n_outputs=3)(torch.rand(4, 1, 8, 8)).shape
    torch.Size([4, 3])
    """

    model_type = "image-mlp"
    default_composite = "epsilon-gamma-box"
    input_bounds = (0.0, 1.0)  # pixels: z^B's box (doclrp.core.session)

    def __init__(
        self,
        in_shape: Sequence[int] = (1, 8, 8),
        hidden: Sequence[int] = (256, 128),
        n_outputs: int = 10,
    ) -> None:
        super().__init__()
        shape = _shape(in_shape)
        hidden = _sizes(hidden, "hidden")
        n_outputs = _sizes([n_outputs], "n_outputs")[0]
        # Lists, not tuples: the registry writes config to JSON and rebuilds with cls(**config).
        self.config = {"in_shape": list(shape), "hidden": list(hidden), "n_outputs": n_outputs}

        layers: list[nn.Module] = [nn.Flatten()]
        width = shape[0] * shape[1] * shape[2]
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            width = size
        layers.append(nn.Linear(width, n_outputs))
        self.layers = nn.Sequential(*layers)

    def forward(self, x):
        return self.layers(x)


class ImageCNN(nn.Module):
    """Convolutional classifier: per entry of ``channels`` a block
    Conv2d(3x3, same padding), BatchNorm2d, ReLU, MaxPool2d(2); then Flatten,
    Linear(hidden), ReLU, Linear(n_outputs).

    >>> import torch
    >>> ImageCNN(in_shape=(1, 28, 28), channels=(4,), hidden=16)(torch.rand(2, 1, 28, 28)).shape
    torch.Size([2, 10])
    """

    model_type = "image-cnn"
    default_composite = "epsilon-gamma-box"
    input_bounds = (0.0, 1.0)  # pixels: z^B's box (doclrp.core.session)

    def __init__(
        self,
        in_shape: Sequence[int] = (1, 8, 8),
        channels: Sequence[int] = (32, 64),
        n_outputs: int = 10,
        hidden: int = 128,
    ) -> None:
        super().__init__()
        shape = _shape(in_shape)
        channels = _sizes(channels, "channels")
        n_outputs, hidden = _sizes([n_outputs, hidden], "n_outputs and hidden")
        height, width = shape[1] >> len(channels), shape[2] >> len(channels)
        if height < 1 or width < 1:
            raise DoclrpError(
                f"{len(channels)} pooling blocks halve {shape[1]}x{shape[2]} pixels to nothing; "
                "pass fewer channels or a larger in_shape"
            )
        self.config = {
            "in_shape": list(shape),
            "channels": list(channels),
            "n_outputs": n_outputs,
            "hidden": hidden,
        }

        blocks: list[nn.Module] = []
        previous = shape[0]
        for out in channels:
            # The conv keeps its bias although BatchNorm follows: merging BN into the conv
            # then only rewrites existing parameters instead of adding one.
            blocks += [
                nn.Conv2d(previous, out, kernel_size=3, padding=1),
                nn.BatchNorm2d(out),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            previous = out
        self.features = nn.Sequential(*blocks)
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(previous * height * width, hidden),
            nn.ReLU(),
            nn.Linear(hidden, n_outputs),
        )

    def forward(self, x):
        return self.classifier(self.features(x))
