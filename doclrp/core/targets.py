"""Target selection: which combination of outputs an attribution explains.

``Target`` is the one value for "what is explained": resolved once from whatever the
user gave (the predicted output, an output by name or index, ``NAME-vs-rest``, weights,
and optionally a reference to subtract) and carried intact into every result. Every
target becomes a weight tensor ``(batch, n_outputs)``; the explained value is
``Σ_k weight_k · (logit_k − reference_k)``. One output is a one-hot row, a contrast is
``+1`` for a class and ``−1/(n−1)`` for the others, a regressor's several outputs any weights.

>>> import torch
>>> logits = torch.tensor([[1.0, 3.0, 2.0], [0.0, -1.0, 5.0]])
>>> target_weights(None, logits).argmax(1).tolist()
[1, 2]
>>> target_weights([0, 1], logits).tolist()
[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
>>> t = Target.resolve("b-vs-rest", ["a", "b", "c"])
>>> t.name, t.weights
('b-vs-rest', (-0.5, 1.0, -0.5))
>>> Target.resolve({"a": 1, "c": -1}, ["a", "b", "c"]).name
'+1·a -1·c'
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import torch
from torch import Tensor

from ..errors import DoclrpError

__all__ = ["TASKS", "Target", "TargetSpec", "split_reference", "target_weights", "contrast_weights", "CONTRAST_SUFFIX", "PREDICTED"]

#: What a model does: pick a class, or predict numbers (its predicted "target" is then its only output).
TASKS = ("classification", "regression")
#: Suffix of a contrast target: ``"sport-vs-rest"`` is sport against the mean of the others.
CONTRAST_SUFFIX = "-vs-rest"
#: The name users give for "the output the model predicts".
PREDICTED = "predicted"


@dataclass(frozen=True)
class Target:
    """What an attribution explains: ``Σ_k weights_k · (output_k − reference_k)``.

    weights: one weight per output; ``None`` means the predicted output (the argmax,
        per sample, or per group of samples when ``groups`` is set).
    name: the target's name (``"sport"``, ``"sport-vs-rest"``, ``"+1·pos -1·neg"``); ``None``
        until the predicted output is known. ``str(target)`` shows it, with ``" − mean"``
        when a reference is subtracted.
    reference: one value per output subtracted before explaining (``None``: nothing).
    reference_name: how the reference is shown (``"mean"``, ``"reference"``).
    groups: for one batch only, which samples are windows of one input: the predicted
        output of a group is the argmax of its summed outputs (see :meth:`grouped`).

    >>> t = Target.resolve("predicted", ["neg", "pos"])
    >>> t.is_predicted, t.for_output(1, ["neg", "pos"]).name
    (True, 'pos')
    >>> str(Target.resolve(1, ["neg", "pos"]).with_reference([0.5, 0.5], "mean"))
    'pos − mean'
    """

    weights: tuple[float, ...] | None = None
    name: str | None = None
    reference: tuple[float, ...] | None = None
    reference_name: str = ""
    groups: tuple[int, ...] | None = None

    # -- building ---------------------------------------------------------------------------
    @classmethod
    def resolve(cls, spec: Any, labels: Sequence[str], task: str = "classification") -> Target:
        """The target for ``spec`` on outputs named ``labels``.

        ``spec``: a ``Target`` (returned as is), ``None`` or ``"predicted"``, a label, an
        output index, ``"LABEL-vs-rest"``, or a mapping ``{label or index: weight}``.
        ``task="regression"``: the predicted output of a one-output regressor is that output;
        a regressor with several outputs needs a target.
        """
        if isinstance(spec, Target):
            return spec
        labels = [str(label) for label in labels]
        n = len(labels)
        if spec is None or spec == PREDICTED:
            if task == "regression":
                if n > 1:
                    raise DoclrpError(f"a regressor with {n} outputs needs a target: one of {', '.join(labels)}")
                return cls((1.0,), labels[0])
            return cls()
        if isinstance(spec, Mapping):
            weights = [0.0] * n
            for key, weight in spec.items():
                weights[_index_of(key, labels)] = _finite(weight, f"weight of {key!r}")
            return cls(tuple(weights), " ".join(f"{float(w):+g}·{k}" for k, w in spec.items()))
        if isinstance(spec, str) and spec.endswith(CONTRAST_SUFFIX) and spec not in labels:
            index = _index_of(spec[: -len(CONTRAST_SUFFIX)], labels)
            return cls(tuple(contrast_weights(index, n).tolist()), f"{labels[index]}{CONTRAST_SUFFIX}")
        return cls.output(_index_of(spec, labels), labels)

    @classmethod
    def output(cls, index: int, labels: Sequence[str]) -> Target:
        """One output alone, by index."""
        weights = [0.0] * len(labels)
        weights[index] = 1.0
        return cls(tuple(weights), str(labels[index]))

    def with_reference(self, values: Sequence[float] | Tensor | None, name: str = "reference") -> Target:
        """The same target explaining the deviation from ``values`` (one per output)."""
        if values is None:
            return replace(self, reference=None, reference_name="")
        values = tuple(float(v) for v in torch.as_tensor(values, dtype=torch.float64).reshape(-1).tolist())
        if self.weights is not None and len(values) != len(self.weights):
            raise DoclrpError(f"reference has {len(values)} values for {len(self.weights)} outputs")
        if not all(v == v and abs(v) != float("inf") for v in values):
            raise DoclrpError(f"reference values must be finite numbers, got {list(values)}")
        return replace(self, reference=values, reference_name=name or "reference")

    def for_output(self, index: int, labels: Sequence[str]) -> Target:
        """A predicted target made concrete once the predicted output ``index`` is known."""
        if not self.is_predicted:
            return self
        concrete = Target.output(index, labels)
        return concrete.with_reference(self.reference, self.reference_name) if self.reference else concrete

    def for_weights(self, weights: Sequence[float], labels: Sequence[str]) -> Target:
        """A predicted target made concrete from the one-hot weights an attribution used."""
        if not self.is_predicted:
            return self
        return self.for_output(max(range(len(weights)), key=lambda k: float(weights[k])), labels)

    def grouped(self, groups: Sequence[int] | None) -> Target:
        """This target for one batch whose samples are windows of inputs ``groups``
        (consecutive equal numbers: windows of one document)."""
        return replace(self, groups=None if groups is None else tuple(int(g) for g in groups))

    # -- reading ----------------------------------------------------------------------------
    @property
    def is_predicted(self) -> bool:
        """Whether the explained output is the predicted one (not yet known)."""
        return self.weights is None

    def __str__(self) -> str:
        name = self.name if self.name is not None else PREDICTED
        return name if self.reference is None else f"{name} − {self.reference_name}"

    def weights_for(self, logits: Tensor) -> Tensor:
        """``(batch, n)`` weights on ``logits`` ``(batch, n)``: the predicted output of each
        sample (or group of samples), or this target's own weights."""
        flat = _flat(logits)
        if self.weights is None:
            if self.groups is None:
                return target_weights(None, flat)
            if len(self.groups) != flat.shape[0]:
                raise DoclrpError(f"{len(self.groups)} groups for a batch of {flat.shape[0]}")
            _, group = torch.tensor(self.groups).unique_consecutive(return_inverse=True)
            group = group.to(flat.device)
            summed = flat.detach().new_zeros(int(group.max()) + 1, flat.shape[1]).index_add_(0, group, flat.detach())
            return _one_hot(summed.argmax(1)[group], flat)
        weights = torch.tensor(self.weights, dtype=flat.dtype, device=flat.device)
        if weights.shape[0] != flat.shape[1]:
            raise DoclrpError(f"target {self} has {weights.shape[0]} weights for {flat.shape[1]} outputs")
        return weights.expand_as(flat).clone()

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data; ``Target.from_dict`` gives back an equal target (groups aside)."""
        return {"name": self.name, "weights": None if self.weights is None else list(self.weights),
                "reference": None if self.reference is None else list(self.reference),
                "reference_name": self.reference_name}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Target:
        """The target that :meth:`to_dict` described."""
        weights, reference = data.get("weights"), data.get("reference")
        return cls(None if weights is None else tuple(float(w) for w in weights), data.get("name"),
                   None if reference is None else tuple(float(r) for r in reference),
                   data.get("reference_name") or "")


TargetSpec = Union[None, int, Sequence[int], Tensor, Target, Callable[[Tensor], Any]]


def split_reference(target: TargetSpec, reference: Any) -> tuple[TargetSpec, Any]:
    """``(target without its reference, the reference)``: a ``Target`` carries its reference,
    which methods take apart (LRP shifts the output layer's bias by it, baselines subtract
    it from the explained value); a reference given twice is refused.

    >>> t = Target.resolve("pos", ["neg", "pos"]).with_reference([0.5, 0.5], "mean")
    >>> split_reference(t, None)
    (Target(weights=(0.0, 1.0), name='pos', reference=None, reference_name='', groups=None), (0.5, 0.5))
    """
    if isinstance(target, Target) and target.reference is not None:
        if reference is not None:
            raise DoclrpError("give the reference once: in the Target or as reference=, not both")
        return target.with_reference(None), target.reference
    return target, reference


def contrast_weights(index: int, n_outputs: int) -> Tensor:
    """Weights of "output ``index`` against the mean of the others".

    >>> contrast_weights(0, 3).tolist()
    [1.0, -0.5, -0.5]
    """
    if n_outputs < 2:
        raise DoclrpError("a contrast needs at least two outputs")
    weights = torch.full((n_outputs,), -1.0 / (n_outputs - 1))
    weights[index] = 1.0
    return weights


def target_weights(target: TargetSpec, logits: Tensor) -> Tensor:
    """``(batch, n)`` weights for ``target`` on ``logits`` of shape ``(batch, n)`` or ``(batch,)``.

    ``target``: a :class:`Target`, None (the largest output, or the only one), an output
    index, one index per sample, a weight tensor ``(n,)`` or ``(batch, n)``, or a callable
    on the logits returning one of these.
    """
    flat = _flat(logits)
    batch, n = flat.shape
    if isinstance(target, Target):
        return target.weights_for(flat)
    if callable(target) and not isinstance(target, Tensor):
        target = target(logits.detach())
    if target is None:
        if n == 1:
            return torch.ones_like(flat)
        return _one_hot(flat.argmax(1), flat)
    if isinstance(target, int) and not isinstance(target, bool):
        return _one_hot(torch.full((batch,), _check_index(target, n), device=flat.device), flat)
    tensor = torch.as_tensor(target, device=flat.device)
    if tensor.is_floating_point():
        if tensor.shape == (n,):
            tensor = tensor.expand(batch, n)
        if tensor.shape != (batch, n):
            raise DoclrpError(
                f"target weights of shape {tuple(tensor.shape)} do not fit outputs of shape {(batch, n)}; "
                f"give ({n},) or ({batch}, {n})"
            )
        return tensor.to(flat.dtype)
    if tensor.dim() == 0:
        return target_weights(int(tensor), logits)
    if tensor.shape != (batch,):
        raise DoclrpError(f"{tensor.numel()} target indices for a batch of {batch}; give one per sample")
    for index in tensor.tolist():
        _check_index(index, n)
    return _one_hot(tensor.long(), flat)


def _flat(logits: Tensor) -> Tensor:
    return logits.reshape(logits.shape[0], -1) if logits.dim() > 1 else logits.reshape(-1, 1)


def _index_of(key: Any, labels: list[str]) -> int:
    if isinstance(key, str) and key in labels:
        return labels.index(key)
    try:
        index = int(key)
    except (TypeError, ValueError):
        close = difflib.get_close_matches(str(key), [*labels, PREDICTED], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise DoclrpError(f"unknown target {key!r}{hint}; choose one of: {', '.join(labels)}, "
                          f"an index, '{PREDICTED}' or 'LABEL{CONTRAST_SUFFIX}'") from None
    if not 0 <= index < len(labels):
        raise DoclrpError(f"target index {index} is out of range for {len(labels)} outputs")
    return index


def _finite(value: Any, what: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise DoclrpError(f"{what} must be a number, got {value!r}") from None
    if number != number or abs(number) == float("inf"):
        raise DoclrpError(f"{what} must be a finite number, got {value!r}")
    return number


def _check_index(index: int, n: int) -> int:
    if not -n <= index < n:
        raise DoclrpError(f"target index {index} is out of range for {n} outputs")
    return index % n


def _one_hot(index: Tensor, like: Tensor) -> Tensor:
    weights = torch.zeros_like(like)
    weights.scatter_(1, index.view(-1, 1), 1.0)
    return weights
