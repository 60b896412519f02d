"""Keras layers, given as their JSON config and weight arrays, turned into plain torch modules.

>>> import numpy as np
>>> builder = LayerBuilder((2,))
>>> config = {"name": "dense", "units": 1, "activation": "relu", "use_bias": True}
>>> builder.add("Dense", config, [np.array([[1.0], [-1.0]]), np.array([0.5])], next_kinds=[])
>>> builder.finish()
Sequential(
  (0): Linear(in_features=2, out_features=1, bias=True)
  (1): ReLU()
)

:class:`LayerBuilder` walks a chain of Keras layers and keeps track of two things: the Keras
shape of what flows (without the batch axis, channels last, as Keras lays it out) and whether
the torch tensor has its channels moved to axis 1 (torch's convolutions and pools want
``(batch, channels, ...)``). A :class:`~doclrp.models.keras_modules.Permute` goes in only where a layer needs the other
layout, and one more at the end, so that the model takes and returns Keras's layouts. A
``Flatten`` of a channels-first image followed by a ``Dense`` keeps torch's order and the
Dense layer's rows are reordered to it instead (Keras flattens height, width, channels).

Recurrent layers become ``nn.LSTM`` / ``nn.GRU`` (``batch_first``) inside a
:class:`~doclrp.models.keras_modules.KerasRecurrent` that picks what Keras returns (the last
step, or every step); the few modules torch lacks are :mod:`doclrp.models.keras_modules`. Every
module is a plain torch module (or a subclass of one the LRP engine knows), so doclrp's
composites explain the result as they explain a native model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from doclrp.core.recurrent import ResetBeforeGRU
from doclrp.errors import DoclrpError
from doclrp.models.keras_modules import KerasRecurrent, Permute

__all__ = ["LayerBuilder", "LAYER_KINDS", "ACTIVATIONS"]

Shape = tuple  # the Keras shape without the batch axis; None for a length unknown until run time

ACTIVATIONS = ("relu", "tanh", "sigmoid", "softmax", "gelu", "linear")
# Layers that act on every value alone: a Flatten before them keeps its order until the next Dense.
_ELEMENTWISE_KINDS = ("Dropout", "Activation", "ReLU")
_POOL_KINDS = ("MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D")
_GLOBAL_KINDS = ("GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D")
LAYER_KINDS = ("InputLayer", "Dense", "Conv1D", "Conv2D", *_POOL_KINDS, *_GLOBAL_KINDS, "Flatten", "Embedding",
               "Dropout", "Activation", "ReLU", "Softmax", "BatchNormalization", "LayerNormalization", "LSTM", "GRU",
               "Bidirectional")


def _pair(value: Any, rank: int) -> Any:
    """``rank`` whole numbers (a tuple of the length torch's layer of that rank takes)."""
    values = tuple(value) if isinstance(value, (list, tuple)) else (value,) * rank
    return tuple(int(v) for v in values)


def _same_padding(size: int | None, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's ``padding="same"``: output ``ceil(size / stride)``, the odd pixel on the right."""
    if size is None:
        if stride != 1:
            raise ValueError("stride")
        total = dilation * (kernel - 1)
    else:
        out = math.ceil(size / stride)
        total = max((out - 1) * stride + dilation * (kernel - 1) + 1 - size, 0)
    return total // 2, total - total // 2


def _window_out(size: int | None, kernel: int, stride: int, dilation: int, pad: int) -> int | None:
    if size is None:
        return None
    return (size + pad - dilation * (kernel - 1) - 1) // stride + 1


class LayerBuilder:
    """Turns a chain of Keras layers into an ``nn.Sequential``; see the module docstring.

    ``input_shape``: the Keras input shape without the batch axis. ``dtype``: of the parameters.
    """

    def __init__(self, input_shape: Sequence[int | None], dtype: torch.dtype = torch.float32) -> None:
        self.shape: Shape = tuple(input_shape)
        self.dtype = dtype
        self.channels_first = False  # whether the torch tensor has its channels at axis 1
        self.flattened: Shape | None = None  # the channels-last shape a Flatten left in torch's order
        self.modules: list[nn.Module] = []
        self.name = ""
        # whether the caller wires Embedding(mask_zero=True)'s mask to the layers that read it (graphs)
        self.reads_masks = False

    # -- helpers --------------------------------------------------------------------------
    def fail(self, message: str) -> DoclrpError:
        return DoclrpError(f"layer '{self.name}': {message}")

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.dtype)

    def _weights(self, arrays: list[np.ndarray], shapes: Sequence[tuple[str, tuple[int | None, ...]]]) -> list[np.ndarray]:
        """``arrays`` checked against ``[(name, shape)]``; None in a shape matches any size."""
        if len(arrays) != len(shapes):
            missing = [name for name, _ in shapes[len(arrays):]]
            raise self.fail(f"missing weight {', '.join(missing)}" if missing else
                            f"{len(arrays)} weight arrays where {len(shapes)} were expected")
        for array, (name, shape) in zip(arrays, shapes):
            if array.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, array.shape)):
                expected = ", ".join("?" if s is None else str(s) for s in shape) + ("," if len(shape) == 1 else "")
                raise self.fail(f"weight '{name}' has shape {tuple(array.shape)}, expected ({expected})")
            if not np.issubdtype(array.dtype, np.floating):
                raise self.fail(f"weight '{name}' holds {array.dtype}, not floating-point numbers")
            if not np.isfinite(array).all():
                raise self.fail(f"weight '{name}' holds NaN or infinite values")
        return arrays

    def _layout(self, channels_first: bool) -> None:
        """Moves the channels to axis 1 or back to the last axis, if the rank has channels."""
        rank = len(self.shape) + 1
        if self.channels_first == channels_first or rank <= 2:
            self.channels_first = channels_first
            return
        last = rank - 1
        dims = (last, *range(1, last)) if channels_first else (*range(2, rank), 1)
        self.modules.append(Permute(dims))
        self.channels_first = channels_first

    def _activation(self, config: dict[str, Any]) -> None:
        activation = config.get("activation", "linear")
        if isinstance(activation, dict):  # a serialized function object
            name = activation.get("config") if activation.get("class_name") == "function" else None
            if not isinstance(name, str) or activation.get("registered_name") not in (None, "function"):
                label = activation.get("registered_name") or activation.get("class_name")
                raise self.fail(f"custom activation {label!r} is not read (no code from the file runs); "
                                f"doclrp reads {', '.join(ACTIVATIONS)}")
            activation = name
        if activation in (None, "linear"):
            return
        if activation == "relu":
            self.modules.append(nn.ReLU())
        elif activation == "tanh":
            self.modules.append(nn.Tanh())
        elif activation == "sigmoid":
            self.modules.append(nn.Sigmoid())
        elif activation == "gelu":
            self.modules.append(nn.GELU())  # Keras's "gelu": the exact form (approximate=False)
        elif activation == "softmax":
            self._layout(False)  # Keras normalizes the last axis
            self.modules.append(nn.Softmax(dim=-1))
        else:
            raise self.fail(f"unknown activation {activation!r}; doclrp reads {', '.join(ACTIVATIONS)}")

    def _channels_last_only(self, config: dict[str, Any]) -> None:
        if config.get("data_format", "channels_last") not in (None, "channels_last"):
            raise self.fail(f"data_format {config.get('data_format')!r} is not read; "
                            "doclrp reads channels_last layers (Keras's default)")

    def _spatial(self, kind: str, rank: int) -> Shape:
        """The input's ``(*spatial, channels)``, checked to be of ``rank`` spatial axes."""
        if len(self.shape) != rank + 1:
            raise self.fail(f"{kind} needs a {rank + 2}-D input (batch, {'length' if rank == 1 else 'height, width'}, "
                            f"channels), got {len(self.shape) + 1}-D")
        return self.shape

    # -- layers ---------------------------------------------------------------------------
    def add(self, kind: str, config: dict[str, Any], weights: list[np.ndarray], next_kinds: Sequence[str]) -> None:
        """Appends the torch modules of one Keras layer. ``next_kinds``: the kinds of the layers
        after it (a Flatten looks ahead to its Dense)."""
        self.name = str(config.get("name", kind))
        if kind in ("Dense", "Conv1D", "Conv2D", "Embedding", "BatchNormalization", "LayerNormalization", "LSTM", "GRU",
                    "Bidirectional"):
            if config.get("lora_rank"):
                raise self.fail("LoRA-adapted weights (lora_rank) are not read; merge them into the kernel first")
            if config.get("quantization_config"):
                raise self.fail("quantized weights are not read")
        elif weights:
            raise self.fail(f"{kind} has no weights, found {len(weights)}")
        if kind == "Activation":
            self._activation(config)
            return
        if kind in ("ReLU", "Softmax"):
            self._activation_layer(kind, config)
            return
        method = getattr(self, "_" + kind.lower())
        if kind == "Flatten":
            method(config, next_kinds)
        elif kind in _POOL_KINDS or kind in _GLOBAL_KINDS:
            method(kind, config)
        else:
            method(config, weights)

    def _inputlayer(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        pass

    def _dropout(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        pass  # identity at inference: nothing to add

    def _activation_layer(self, kind: str, config: dict[str, Any]) -> None:
        """The ``ReLU`` and ``Softmax`` layers, in their plain forms."""
        if kind == "ReLU":
            plain = {"max_value": None, "negative_slope": 0, "threshold": 0}
            changed = [key for key, value in plain.items() if config.get(key, value) != value]
            if changed:
                raise self.fail(f"ReLU with {changed[0]}={config[changed[0]]!r} is not read; doclrp reads the plain ReLU")
        elif config.get("axis", -1) not in (-1, len(self.shape)):
            raise self.fail(f"Softmax over axis {config.get('axis')!r} is not read; doclrp reads the last axis")
        self._activation({"activation": kind.lower()})

    def _dense(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        units, use_bias = int(config["units"]), bool(config.get("use_bias", True))
        if self.flattened is None:
            self._layout(False)  # Dense acts on the last axis, Keras's channels
        features = self.shape[-1] if self.shape else None
        spec = [("kernel", (features, units))] + ([("bias", (units,))] if use_bias else [])
        kernel, *bias = self._weights(weights, spec)
        if self.flattened is not None:
            # rows in Keras's (…, channels) order → torch's flattened (channels, …) order
            *spatial, channels = self.flattened
            kernel = kernel.reshape(*spatial, channels, units)
            kernel = kernel.transpose(len(spatial), *range(len(spatial)), len(spatial) + 1).reshape(-1, units)
            self.flattened = None
        layer = nn.Linear(kernel.shape[0], units, bias=use_bias, dtype=self.dtype)
        with torch.no_grad():
            layer.weight.copy_(self._tensor(kernel.T))
            if layer.bias is not None:
                layer.bias.copy_(self._tensor(bias[0]))
        self.modules.append(layer)
        self.shape = (*self.shape[:-1], units)
        self._activation(config)

    def _conv(self, config: dict[str, Any], weights: list[np.ndarray], rank: int) -> None:
        self._channels_last_only(config)
        *spatial, channels = self._spatial(f"Conv{rank}D", rank)
        filters, use_bias = int(config["filters"]), bool(config.get("use_bias", True))
        kernel_size = _pair(config["kernel_size"], rank)
        strides, dilation = _pair(config.get("strides", 1), rank), _pair(config.get("dilation_rate", 1), rank)
        groups = int(config.get("groups", 1) or 1)
        padding = config.get("padding", "valid")
        if padding not in ("valid", "same", "causal") or (padding == "causal" and rank != 1):
            raise self.fail(f"padding {padding!r} is not read; doclrp reads 'valid', 'same' (and 'causal' in Conv1D)")
        if channels is not None and channels % groups:
            raise self.fail(f"{channels} input channels do not split into {groups} groups")
        in_per_group = None if channels is None else channels // groups
        spec = [("kernel", (*kernel_size, in_per_group, filters))] + ([("bias", (filters,))] if use_bias else [])
        kernel, *bias = self._weights(weights, spec)
        pads: list[tuple[int, int]] = []
        for size, k, s, d in zip(spatial, kernel_size, strides, dilation):
            if padding == "valid":
                pads.append((0, 0))
            elif padding == "causal":
                pads.append((d * (k - 1), 0))
            else:
                try:
                    pads.append(_same_padding(size, k, s, d))
                except ValueError:
                    raise self.fail("padding='same' with strides on an input of unknown length is not read") from None
        self._layout(True)
        symmetric = all(left == right for left, right in pads)
        if not symmetric:
            # torch pads both sides alike; TensorFlow's odd pixel goes right (causal: all left)
            flat = [p for left_right in reversed(pads) for p in left_right]
            widths: Any = tuple(flat)
            self.modules.append(nn.ZeroPad1d(widths) if rank == 1 else nn.ZeroPad2d(widths))
        conv_type = nn.Conv1d if rank == 1 else nn.Conv2d
        layer = conv_type(kernel.shape[-2] * groups, filters, kernel_size, stride=strides, dilation=dilation,
                          groups=groups, bias=use_bias, padding=_pair([left for left, _ in pads], rank) if symmetric else 0,
                          dtype=self.dtype)
        with torch.no_grad():
            # Keras (*kernel, in, out) → torch (out, in, *kernel)
            layer.weight.copy_(self._tensor(kernel.transpose(rank + 1, rank, *range(rank))))
            if layer.bias is not None:
                layer.bias.copy_(self._tensor(bias[0]))
        self.modules.append(layer)
        out = [_window_out(size, k, s, d, left + right)
               for size, k, s, d, (left, right) in zip(spatial, kernel_size, strides, dilation, pads)]
        self.shape = (*out, filters)
        self._activation(config)

    def _conv1d(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        self._conv(config, weights, 1)

    def _conv2d(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        self._conv(config, weights, 2)

    def _pool(self, kind: str, config: dict[str, Any]) -> None:
        self._channels_last_only(config)
        rank = int(kind[-2])
        *spatial, channels = self._spatial(kind, rank)
        size = _pair(config.get("pool_size", 2), rank)
        strides = _pair(config.get("strides") or size, rank)
        padding = config.get("padding", "valid")
        if padding not in ("valid", "same"):
            raise self.fail(f"padding {padding!r} is not read; doclrp reads 'valid' and 'same'")
        pads = [(0, 0)] * rank
        if padding == "same":
            try:
                pads = [_same_padding(n, k, s) for n, k, s in zip(spatial, size, strides)]
            except ValueError:
                raise self.fail("padding='same' with strides on an input of unknown length is not read") from None
            if any(left != right or 2 * left > k for (left, right), k in zip(pads, size)):
                raise self.fail(f"padding='same' here pads unevenly {pads}, which torch's pools cannot; "
                                "use padding='valid' or sizes that pad evenly")
        self._layout(True)
        padding_arg = _pair([left for left, _ in pads], rank)
        if kind.startswith("Max"):
            pool: nn.Module = (nn.MaxPool1d if rank == 1 else nn.MaxPool2d)(size, strides, padding=padding_arg)
        else:
            # Keras averages over the values inside the input only
            pool = (nn.AvgPool1d if rank == 1 else nn.AvgPool2d)(size, strides, padding=padding_arg,
                                                                  count_include_pad=False)
        self.modules.append(pool)
        out = [_window_out(n, k, s, 1, left + right) for n, k, s, (left, right) in zip(spatial, size, strides, pads)]
        self.shape = (*out, channels)

    _maxpooling1d = _maxpooling2d = _averagepooling1d = _averagepooling2d = _pool

    def _global_pool(self, kind: str, config: dict[str, Any]) -> None:
        self._channels_last_only(config)
        rank = int(kind[-2])
        *_, channels = self._spatial(kind, rank)
        self._layout(True)
        if kind.startswith("GlobalMax"):
            self.modules.append(nn.AdaptiveMaxPool1d(1) if rank == 1 else nn.AdaptiveMaxPool2d(1))
        else:
            self.modules.append(nn.AdaptiveAvgPool1d(1) if rank == 1 else nn.AdaptiveAvgPool2d(1))
        if config.get("keepdims", False):
            self.shape = (*(1,) * rank, channels)
        else:
            self.modules.append(nn.Flatten())
            self.shape, self.channels_first = (channels,), False

    _globalmaxpooling1d = _globalmaxpooling2d = _globalaveragepooling1d = _globalaveragepooling2d = _global_pool

    def _flatten(self, config: dict[str, Any], next_kinds: Sequence[str]) -> None:
        self._channels_last_only(config)
        if any(size is None for size in self.shape):
            raise self.fail(f"Flatten of an input of unknown size {self.shape}; give the model a fixed input shape")
        following = next((kind for kind in next_kinds if kind not in _ELEMENTWISE_KINDS), None)
        if self.channels_first and len(self.shape) > 1 and following == "Dense":
            self.flattened = self.shape  # the Dense takes its rows in torch's order
        else:
            self._layout(False)
        self.modules.append(nn.Flatten())
        self.shape, self.channels_first = (math.prod(self.shape),), False

    def _embedding(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        if config.get("mask_zero") and not self.reads_masks:
            raise self.fail("mask_zero=True is not read: the layers after it would skip masked steps, "
                            "which the torch modules do not")
        if len(self.shape) != 1:
            raise self.fail(f"Embedding needs (batch, seq) token ids, got a {len(self.shape) + 1}-D input")
        rows, dim = int(config["input_dim"]), int(config["output_dim"])
        (table,) = self._weights(weights, [("embeddings", (rows, dim))])
        layer = nn.Embedding(rows, dim, dtype=self.dtype)
        with torch.no_grad():
            layer.weight.copy_(self._tensor(table))
        self.modules.append(layer)
        self.shape, self.channels_first = (*self.shape, dim), False

    def _batchnormalization(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        rank = len(self.shape) + 1
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if axis not in (-1, rank - 1) or rank > 4:
            raise self.fail(f"axis {config.get('axis')!r} is not read; doclrp reads BatchNormalization over the "
                            "last (channels) axis of 2-D to 4-D inputs")
        if config.get("renorm") or config.get("synchronized"):
            raise self.fail("renorm and synchronized batch normalization are not read")
        channels = self.shape[-1]
        scale, center = bool(config.get("scale", True)), bool(config.get("center", True))
        spec = ([("gamma", (channels,))] if scale else []) + ([("beta", (channels,))] if center else []) \
            + [("moving_mean", (channels,)), ("moving_variance", (channels,))]
        arrays = self._weights(weights, spec)
        gamma = arrays.pop(0) if scale else np.ones(channels)
        beta = arrays.pop(0) if center else np.zeros(channels)
        mean, variance = arrays
        if rank > 2:
            self._layout(True)
        norm = (nn.BatchNorm2d if rank == 4 else nn.BatchNorm1d)(channels, eps=float(config.get("epsilon", 1e-3)),
                                                                 dtype=self.dtype)
        with torch.no_grad():
            for buffer, value in ((norm.weight, gamma), (norm.bias, beta), (norm.running_mean, mean),
                                  (norm.running_var, variance)):
                cast(torch.Tensor, buffer).copy_(self._tensor(value))  # all exist: affine, tracking statistics
        self.modules.append(norm.eval())

    def _layernormalization(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        axis = config.get("axis", -1)
        axis = axis[0] if isinstance(axis, list) and len(axis) == 1 else axis
        if axis not in (-1, len(self.shape)):
            raise self.fail(f"axis {config.get('axis')!r} is not read; doclrp reads LayerNormalization over the "
                            "last axis")
        if config.get("rms_scaling"):
            raise self.fail("rms_scaling=True is not read")
        features = self.shape[-1] if self.shape else None
        if features is None:
            raise self.fail("LayerNormalization needs a known number of features")
        scale, center = bool(config.get("scale", True)), bool(config.get("center", True))
        spec = ([("gamma", (features,))] if scale else []) + ([("beta", (features,))] if center else [])
        arrays = self._weights(weights, spec)
        gamma = arrays.pop(0) if scale else np.ones(features)
        beta = arrays.pop(0) if center else np.zeros(features)
        self._layout(False)
        norm = nn.LayerNorm(features, eps=float(config.get("epsilon", 1e-3)), dtype=self.dtype)
        with torch.no_grad():
            norm.weight.copy_(self._tensor(gamma))
            norm.bias.copy_(self._tensor(beta))
        self.modules.append(norm)

    def _recurrent_cell(self, kind: str, config: dict[str, Any], input_size: int | None) -> tuple[int, bool]:
        """Checks one LSTM/GRU config; returns ``(units, use_bias)``."""
        if config.get("activation", "tanh") != "tanh" or config.get("recurrent_activation", "sigmoid") != "sigmoid":
            raise self.fail(f"{kind} with activation {config.get('activation')!r} and recurrent_activation "
                            f"{config.get('recurrent_activation')!r} is not read; torch's {kind} uses tanh and sigmoid")
        for flag in ("stateful", "return_state"):
            if config.get(flag):
                raise self.fail(f"{kind} with {flag}=True is not read")
        if input_size is None:
            raise self.fail(f"{kind} needs a known number of features per step")
        return int(config["units"]), bool(config.get("use_bias", True))

    def _rnn_weights(self, kind: str, weights: list[np.ndarray], input_size: int, units: int, use_bias: bool,
                     prefix: str = "", reset_after: bool = True) -> list[torch.Tensor]:
        """Keras's kernel, recurrent kernel and bias as torch's ``weight_ih, weight_hh[, bias_ih, bias_hh]``."""
        gates = 4 if kind == "LSTM" else 3
        one_bias = kind == "LSTM" or not reset_after  # a GRU with reset_after keeps input and recurrent biases
        bias_shape: tuple[int, ...] = (gates * units,) if one_bias else (2, gates * units)
        spec: list[tuple[str, tuple[int, ...]]] = [(prefix + "kernel", (input_size, gates * units)),
                                                   (prefix + "recurrent_kernel", (units, gates * units))]
        spec += [(prefix + "bias", bias_shape)] if use_bias else []
        kernel, recurrent, *bias = self._weights(weights, spec)
        if kind == "LSTM":
            # Keras's gates i, f, c, o are torch's i, f, g, o: the same order
            order = list(range(4 * units))
            biases = [bias[0], np.zeros_like(bias[0])] if use_bias else []
        else:
            # Keras's z, r, h → torch's r, z, n
            order = [*range(units, 2 * units), *range(units), *range(2 * units, 3 * units)]
            biases = ([bias[0], np.zeros_like(bias[0])] if one_bias else [bias[0][0], bias[0][1]]) if use_bias else []
        arrays = [kernel.T[order], recurrent.T[order], *(b[order] for b in biases)]
        return [self._tensor(array) for array in arrays]

    def _rnn(self, kind: str, config: dict[str, Any], weights: list[np.ndarray],
             backward: dict[str, Any] | None = None, merge: str = "concat") -> None:
        if len(self.shape) != 2:
            raise self.fail(f"{kind} needs a 3-D input (batch, seq, features), got {len(self.shape) + 1}-D")
        self._layout(False)
        input_size = self.shape[-1]
        units, use_bias = self._recurrent_cell(kind, config, input_size)
        assert input_size is not None  # checked in _recurrent_cell
        if config.get("go_backwards"):
            raise self.fail(f"{kind} with go_backwards=True is not read (outside a Bidirectional wrapper)")
        per_direction = 3 if use_bias else 2
        reset_after = kind != "GRU" or bool(config.get("reset_after", True))
        tensors = self._rnn_weights(kind, weights[:per_direction], input_size, units, use_bias,
                                    reset_after=reset_after)
        if backward is not None:
            if self._recurrent_cell(kind, backward, input_size) != (units, use_bias) \
                    or bool(backward.get("return_sequences")) != bool(config.get("return_sequences")) \
                    or (kind == "GRU" and bool(backward.get("reset_after", True)) != reset_after):
                raise self.fail("the backward layer of a Bidirectional differs from its forward layer in units, "
                                "bias or return_sequences; doclrp reads mirrored pairs")
            tensors += self._rnn_weights(kind, weights[per_direction:], input_size, units, use_bias, "backward ",
                                         reset_after)
        elif len(weights) > per_direction:
            raise self.fail(f"{len(weights)} weight arrays where {per_direction} were expected")
        # Keras's reset_after=False: the reset gate before the recurrent product, which nn.GRU cannot
        rnn_type = nn.LSTM if kind == "LSTM" else nn.GRU if reset_after else ResetBeforeGRU
        rnn = rnn_type(input_size, units, batch_first=True, bias=use_bias, bidirectional=backward is not None,
                       dtype=self.dtype)
        with torch.no_grad():
            for parameter, value in zip(rnn.parameters(), tensors):  # weight_ih, weight_hh, bias_ih, bias_hh, reverse
                parameter.copy_(value)
        return_sequences = bool(config.get("return_sequences", False))
        # Bidirectional forces its layers' zero_output_for_mask to return_sequences (Keras)
        zero_output = backward is not None or bool(config.get("zero_output_for_mask", False))
        self.modules.append(KerasRecurrent(rnn, return_sequences, merge, zero_output))
        width = units * (2 if backward is not None and merge == "concat" else 1)
        self.shape = (self.shape[0], width) if return_sequences else (width,)

    def _lstm(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        self._rnn("LSTM", config, weights)

    def _gru(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        self._rnn("GRU", config, weights)

    def _bidirectional(self, config: dict[str, Any], weights: list[np.ndarray]) -> None:
        inner = config.get("layer") or {}
        kind = inner.get("class_name")
        if kind not in ("LSTM", "GRU"):
            raise self.fail(f"Bidirectional wraps {kind!r}; doclrp reads Bidirectional LSTM and GRU")
        merge = config.get("merge_mode", "concat")
        if merge not in ("concat", "sum", "ave"):
            raise self.fail(f"merge_mode {merge!r} is not read; doclrp reads 'concat', 'sum' and 'ave'")
        backward = config.get("backward_layer") or {"class_name": kind, "config": {**inner.get("config", {})}}
        if backward.get("class_name") != kind:
            raise self.fail(f"a Bidirectional with a {backward.get('class_name')!r} backward layer is not read")
        forward_config = inner.get("config") or {}
        backward_config = {**(backward.get("config") or {}), "go_backwards": False}
        self._rnn(kind, forward_config, weights, backward=backward_config, merge=merge)

    def finish(self) -> nn.Sequential:
        """The model: takes and returns Keras's layouts; a softmax, if any, is its last module."""
        self._layout(False)
        if self.flattened is not None:  # not reached: a Flatten keeps torch's order only before a Dense
            raise DoclrpError("internal: a flattened image lost its order")
        return nn.Sequential(*self.modules).eval()

