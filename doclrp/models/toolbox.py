"""Models of the LRP Toolbox (Lapuschkin et al., JMLR 2016) in its plain-text format, read into
an equivalent ``torch.nn.Sequential`` that every doclrp composite explains.

>>> import pathlib, tempfile, torch
>>> path = pathlib.Path(tempfile.mkdtemp()) / "mlp.txt"
>>> _ = path.write_text("Linear 2 3\\n1 0 -1 0 1 2\\n0 0 0.5\\nRect\\nLinear 3 1\\n1 1 1\\n0\\nSoftMax\\n")
>>> model = read_toolbox_model(path)
>>> model
Sequential(
  (0): Linear(in_features=2, out_features=3, bias=True)
  (1): ReLU()
  (2): Linear(in_features=3, out_features=1, bias=True)
  (3): Softmax(dim=1)
)
>>> model[:3](torch.tensor([[1.0, 2.0]], dtype=torch.float64)).item()  # relu([1, 2, 3.5]) summed
6.5

The format, shared by the toolbox's Python and Matlab implementations, lists the layers in
order, one header line each::

    Linear m n                 + a line of m·n weights (W is m × n, y = x W + b) + a line of n biases
    Convolution h w d n s0 s1  + a line of h·w·d·n weights W[h, w, d, n] + a line of n biases
    SumPool h w s0 s1          window sums scaled by 1/sqrt(h·w)
    MaxPool h w s0 s1
    Flatten | Rect | Tanh | SoftMax

(an older variant writes a Linear layer's weights as m lines of n values: read too). Windows
have no padding. Only numbers are read: nothing is unpickled (the toolbox's pickled models
are refused for that reason).

The toolbox lays images out ``(batch, height, width, depth)``; the torch model takes
``(batch, depth, height, width)`` like every torch layer: feed it ``x.permute(0, 3, 1, 2)``.
A model with convolutions, pooling or a Flatten needs ``input_shape=(height, width, depth)``
(``(1, n, 1)`` for flat inputs of n values) to size its layers and to reorder the rows of
the Linear layer after a Flatten (the toolbox flattens
height, width, depth; torch depth, height, width), so that outputs match the toolbox's.
SumPool becomes a :class:`SumPool2d`: the window sums, computed by a :class:`WindowSum` (a
depthwise ``Conv2d`` whose weights are 1, no bias), times the constant ``1/sqrt(h·w)``. The
rules see the ``WindowSum`` as a convolution of the composite (the constant factor passes
relevance unchanged), so ε lands on the *unscaled* window sum, in the toolbox's units, in
every composite; a composite can name ``WindowSum`` to give sum pools a rule of their own.

Every doclrp composite explains these models with doclrp's own conventions. To reproduce the
toolbox's ``net.lrp(R, method, param)`` exactly, use :func:`toolbox_composite`: it differs
from doclrp's defaults in α-β (``0/0 = 0``: an output without negative, or positive,
contributions passes ``α R`` or ``−β R``; doclrp's ``AlphaBeta`` hands all of ``R`` to the part
that exists and conserves), in max pooling (ties split evenly among the maxima; doclrp's
default gives a window to one of them) and in the weak stabilizers of ``simple`` (1e-16 on
Linear/Convolution, 1e-12 on the sum of a SumPool window).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NoReturn, cast
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from doclrp.core.composites import Composite
from doclrp.core.rules import AlphaBeta, Epsilon, Flat, Rule, Winners, WSquare
from doclrp.errors import DoclrpError
from doclrp.models.toolbox_io import mat_model_lines

__all__ = ["read_toolbox_model", "toolbox_composite", "SumPool2d", "WindowSum", "TOOLBOX_METHODS"]

_PARAMETERLESS: dict[str, Callable[[], nn.Module]] = {"Flatten": nn.Flatten, "Rect": nn.ReLU, "Tanh": nn.Tanh, "SoftMax": lambda: nn.Softmax(dim=1)}
_HEADER_SIZES = {"Linear": 2, "Convolution": 6, "SumPool": 4, "MaxPool": 4, **{name: 0 for name in _PARAMETERLESS}}


class WindowSum(nn.Conv2d):
    """The sums over each channel's windows: a depthwise ``Conv2d`` with weights 1 and no bias
    (constants: they do not train).

    >>> WindowSum(1, (2, 2), (2, 2))(torch.ones(1, 1, 4, 4, dtype=torch.float64)).flatten().tolist()
    [4.0, 4.0, 4.0, 4.0]
    """

    def __init__(self, depth: int, size: tuple[int, int], stride: tuple[int, int],
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__(depth, depth, size, stride=stride, groups=depth, bias=False, dtype=dtype)
        with torch.no_grad():
            self.weight.fill_(1.0)
        self.weight.requires_grad_(False)


class SumPool2d(nn.Module):
    """The LRP Toolbox's SumPool: window sums times ``1/sqrt(h·w)``, on ``(batch, depth, height, width)``.

    >>> pool = SumPool2d(1, (2, 2), (2, 2))
    >>> pool(torch.ones(1, 1, 2, 2, dtype=torch.float64)).item()
    2.0
    """

    def __init__(self, depth: int, size: tuple[int, int], stride: tuple[int, int],
                 dtype: torch.dtype = torch.float64) -> None:
        super().__init__()
        self.window = WindowSum(depth, size, stride, dtype)
        self.scale = 1 / math.sqrt(size[0] * size[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a constant factor after the sum: its plain gradient passes relevance unchanged
        return self.window(x) * self.scale


class _Reader:
    """Walks the file's lines, keeping track of the shape of what flows between layers."""

    def __init__(self, path: Path, lines: list[str], input_shape, dtype: torch.dtype):
        self.path, self.lines, self.dtype = path, lines, dtype
        self.index = 0
        # (depth, height, width) of an image, an int for a flat vector, None when unknown
        self.shape: tuple[int, int, int] | int | None = None
        if input_shape is not None:
            height, width, depth = _positive(input_shape, 3, "input_shape (height, width, depth)")
            self.shape = (depth, height, width)
        self.flattened: tuple[int, int, int] | None = None  # the image a Flatten just flattened
        self.header = 0  # line number of the layer being read

    def fail(self, message: str, line: int | None = None) -> NoReturn:
        """Stop with ``message`` at ``line`` (default: the line of numbers being read)."""
        raise DoclrpError(f"{self.path}, line {self.index + 1 if line is None else line}: {message}")

    def numbers(self, count: int, what: str) -> np.ndarray:
        """The next line as exactly ``count`` numbers."""
        if self.index >= len(self.lines):
            self.fail(f"the file ends where {count} {what} should follow")
        try:
            values = np.array(self.lines[self.index].split(), dtype=np.float64)
        except ValueError:
            self.fail(f"{what}: expected numbers")
        if values.size != count:
            self.fail(f"{what}: expected {count} values, found {values.size}")
        if not np.isfinite(values).all():
            self.fail(f"{what}: NaN or infinite values")
        self.index += 1
        return values

    def windows(self, layer: str, size: tuple[int, int], stride: tuple[int, int]) -> tuple[int, int, int]:
        """``(depth, height, width)`` of the image ``layer`` slides its windows over, and the
        ``(height, width)`` of its output."""
        if not isinstance(self.shape, tuple):
            self.fail(f"{layer} works on images: read the model with input_shape=(height, width, depth)"
                      if self.shape is None else f"{layer} after a flat layer: the toolbox applies it to images",
                      self.header)
        depth, height, width = self.shape
        if size[0] > height or size[1] > width:
            self.fail(f"{layer} window {size} is larger than its input {height} x {width}", self.header)
        return depth, (height - size[0]) // stride[0] + 1, (width - size[1]) // stride[1] + 1

    # -- layers -------------------------------------------------------------------------------
    def linear(self, m: int, n: int) -> nn.Linear:
        if self.index < len(self.lines) and len(self.lines[self.index].split()) == n and m > 1:
            weight = np.stack([self.numbers(n, f"row {row + 1} of the weights") for row in range(m)])  # legacy
        else:
            weight = self.numbers(m * n, "weights").reshape(m, n)
        bias = self.numbers(n, "biases")
        if isinstance(self.shape, tuple):
            self.fail("Linear after an image layer: the toolbox needs a Flatten between them", self.header)
        if self.shape is not None and self.shape != m:
            self.fail(f"Linear takes {m} inputs but receives {self.shape}", self.header)
        if self.flattened is not None:
            depth, height, width = self.flattened
            # rows in the toolbox's (height, width, depth) order → torch's (depth, height, width)
            weight = weight.reshape(height, width, depth, n).transpose(2, 0, 1, 3).reshape(m, n)
        layer = nn.Linear(m, n, dtype=self.dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight.T.copy()))
            cast(Tensor, layer.bias).copy_(torch.from_numpy(bias))  # made with a bias
        self.shape, self.flattened = n, None
        return layer

    def convolution(self, h: int, w: int, d: int, n: int, s0: int, s1: int) -> nn.Conv2d:
        weight = self.numbers(h * w * d * n, "filter weights").reshape(h, w, d, n)
        bias = self.numbers(n, "biases")
        depth, out_height, out_width = self.windows("Convolution", (h, w), (s0, s1))
        if depth != d:
            self.fail(f"Convolution filters have depth {d} but the input has depth {depth}", self.header)
        layer = nn.Conv2d(d, n, (h, w), stride=(s0, s1), dtype=self.dtype)
        with torch.no_grad():
            layer.weight.copy_(torch.from_numpy(weight.transpose(3, 2, 0, 1).copy()))
            cast(Tensor, layer.bias).copy_(torch.from_numpy(bias))  # made with a bias
        self.shape = (n, out_height, out_width)
        return layer

    def pool(self, kind: str, h: int, w: int, s0: int, s1: int) -> nn.Module:
        depth, out_height, out_width = self.windows(kind, (h, w), (s0, s1))
        self.shape = (depth, out_height, out_width)
        if kind == "MaxPool":
            return nn.MaxPool2d((h, w), stride=(s0, s1))
        return SumPool2d(depth, (h, w), (s0, s1), self.dtype)

    def flatten(self) -> nn.Module:
        if self.shape is None:
            # the toolbox flattens (height, width, depth), torch (depth, height, width): without
            # the image's shape the Linear layer after it cannot be put in torch's order
            self.fail("Flatten on an input of unknown shape: read the model with input_shape=(height, width, "
                      "depth), or (1, n, 1) for flat inputs of n values", self.header)
        if isinstance(self.shape, tuple):
            self.flattened = self.shape
            self.shape = math.prod(self.shape)
        return nn.Flatten()

    def read(self) -> nn.Sequential:
        layers: list[nn.Module] = []
        while self.index < len(self.lines):
            words = self.lines[self.index].split()
            self.index += 1
            self.header = self.index
            if not words:
                continue
            name, arguments = words[0], words[1:]
            if name not in _HEADER_SIZES:
                self.fail(f"unknown layer {name!r}; the toolbox format has {', '.join(_HEADER_SIZES)}", self.header)
            if len(arguments) != _HEADER_SIZES[name]:
                self.fail(f"{name} takes {_HEADER_SIZES[name]} sizes on its line, found {len(arguments)}", self.header)
            try:
                sizes = _positive(arguments, len(arguments), f"{name} sizes")
            except DoclrpError as error:
                self.fail(str(error), self.header)
            if name == "Linear":
                layers.append(self.linear(*sizes))
            elif name == "Convolution":
                layers.append(self.convolution(*sizes))
            elif name in ("SumPool", "MaxPool"):
                layers.append(self.pool(name, *sizes))
            elif name == "Flatten":
                layers.append(self.flatten())
            else:
                layers.append(_PARAMETERLESS[name]())
        if not layers:
            raise DoclrpError(f"{self.path} describes no layers")
        return nn.Sequential(*layers).eval()


def _positive(values: Sequence, count: int, what: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(v) for v in values)
    except (TypeError, ValueError):
        raise DoclrpError(f"{what} must be whole numbers, got {list(values)}") from None
    if len(sizes) != count or min(sizes, default=1) < 1:
        raise DoclrpError(f"{what} must be {count} positive whole numbers, got {list(values)}")
    return sizes


def read_toolbox_model(path: str | Path, input_shape: Sequence[int] | None = None,
                       dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """The LRP Toolbox model in ``path`` (plain text, or a ``.mat`` read as data: see
    :mod:`doclrp.models.toolbox_io`) as a ``torch.nn.Sequential``.

    ``input_shape``: ``(height, width, depth)`` of the input images, needed when the model
    convolves, pools or flattens (``(1, n, 1)`` for flat inputs of n values). ``dtype``: of the parameters; float64 by default, as the toolbox
    computes (``.float()`` the model for speed).
    """
    path = Path(path)
    if path.suffix.lower() in (".pickle", ".pickled", ".nn", ""):
        raise DoclrpError(f"{path}: pickled toolbox models are not read (unpickling runs code); "
                          "save the model as plain text with the toolbox's model_io.write(model, 'model.txt')")
    if not path.is_file():
        raise DoclrpError(f"no toolbox model file at {path}")
    if path.suffix.lower() == ".mat":
        return _Reader(path, mat_model_lines(path), input_shape, dtype).read()
    try:
        lines = path.read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError:
        raise DoclrpError(f"{path} is not a plain-text toolbox model (non-ASCII bytes)") from None
    return _Reader(path, lines, input_shape, dtype).read()


#: The methods of the toolbox's ``net.lrp(R, method, param)`` that :func:`toolbox_composite` reproduces.
TOOLBOX_METHODS = ("simple", "epsilon", "alphabeta", "flat", "ww")
_ALIASES = {"none": "simple", "alpha": "alphabeta", "w^2": "ww"}


def toolbox_composite(method: str, param: float | None = None, first: str | None = None) -> Composite:
    """A composite that gives, on a model from :func:`read_toolbox_model`, the relevance of the
    LRP Toolbox's ``net.lrp(R, method, param)`` (seeded as its demos: the predicted class's
    score, softmax removed, which is what ``doclrp.attribute`` explains).

    ``method``: ``simple``, ``epsilon`` (``param`` = ε), ``alphabeta`` (``param`` = α, β = α − 1),
    ``flat`` or ``ww``; ``first``: ``"flat"`` or ``"ww"`` for the layer that reads the input, as
    the toolbox's demos set with ``nn.modules[0].set_lrp_parameters``.

    Per layer, as the toolbox computes: Linear/Convolution take the method; a SumPool takes it on
    its unscaled window sum (``ww`` is ``flat`` there); a MaxPool splits each window among its
    tied maxima (``flat``/``ww``: evenly over the window); Rect, Tanh and Flatten pass relevance
    on. ``alphabeta`` uses the toolbox's ``0/0 = 0`` (``AlphaBeta(missing="drop")``).

    With ``flat`` or ``ww`` on hidden layers, the share the toolbox gives to units whose activation
    is exactly zero (dead ReLUs, max/sum-pooled windows of them) is carried on as its Rect does
    (see :mod:`doclrp.core.rules`): the two agree there too, and both conserve.

    >>> toolbox_composite("epsilon", 1.0, first="flat").name
    'toolbox-epsilon'
    """
    name = _ALIASES.get(method.lower(), method.lower())
    if name not in TOOLBOX_METHODS:
        raise DoclrpError(f"unknown toolbox method {method!r}; choose one of {', '.join(TOOLBOX_METHODS)}")
    if name in ("epsilon", "alphabeta") and param is None:
        raise DoclrpError(f"toolbox method {name!r} needs its param ({'ε' if name == 'epsilon' else 'α'}), "
                          "as net.lrp(R, method, param) does")
    layer: Rule
    pool: Rule
    winners: Rule
    if name == "simple":
        layer, pool, winners = Epsilon(1e-16), Epsilon(1e-12), Winners("split")
    elif name == "epsilon":
        layer = pool = Epsilon(float(param))  # type: ignore[arg-type]  # checked above
        winners = Winners("split")
    elif name == "alphabeta":
        alpha = float(param)  # type: ignore[arg-type]  # checked above
        layer = pool = AlphaBeta(alpha, alpha - 1, missing="drop")
        winners = Winners("split")
    else:
        layer, pool, winners = (Flat() if name == "flat" else WSquare()), Flat(), Flat()
    firsts: dict[str | None, Rule | None] = {None: None, "flat": Flat(), "ww": WSquare(), "w^2": WSquare()}
    if first not in firsts:
        raise DoclrpError(f"toolbox first-layer rule {first!r}: choose 'flat' or 'ww'")
    return Composite({nn.Linear: layer, nn.Conv2d: layer, WindowSum: pool, nn.MaxPool2d: winners},
                     first=firsts[first], name=f"toolbox-{name}")
