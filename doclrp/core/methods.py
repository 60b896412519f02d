"""Methods: the one place where a name or an object becomes an ``Attributor``.

An attributor turns a model, a batch of inputs and a target into an ``Attribution``.
``LRP(composite)`` is one kind; the baselines of :mod:`doclrp.core.baselines`
(gradient×input, saliency, integrated gradients, occlusion, random) are the others.
Every level above the core (``explain``, corpus runs, evaluation, the command line)
calls :func:`resolve_method` once and passes the attributor on.

>>> import torch
>>> method = resolve_method("epsilon", eps=0.01)
>>> method.name, method.params
('epsilon', {'eps': 0.01})
>>> describe(resolve_method("integrated-gradients", steps=8))
{'name': 'integrated-gradients', 'params': {'steps': 8}}
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> method.attribute(net, torch.ones(1, 3), 0).relevance.shape
torch.Size([1, 3])
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import Tensor, nn

from ..errors import DoclrpError
from .attribution import Attribution, attribute
from .baselines import BASELINES
from .composites import Composite, composite_factory, composite_names, get_composite
from .targets import TargetSpec

__all__ = ["Attributor", "LRP", "resolve_method", "describe", "method_names", "method_parameters", "MethodSpec",
           "PARAMETER_BOUNDS"]

#: The range each method parameter may take (inclusive; None: no bound on that side), checked by
#: :func:`resolve_method` wherever a parameter comes from (``--param``, the web app, Python). The
#: maxima bound the work one request can ask for: ``steps`` (integrated gradients: one forward
#: and backward pass each; 32 by default, papers use 20 to 300), occlusion's ``batch_size``
#: (variants in one forward pass: its memory, and the size of one operation, which is what a stop
#: through :mod:`doclrp.core.cancel` waits for), ``seed`` (what torch's generator takes).
PARAMETER_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    "steps": (1, 1024),
    "batch_size": (1, 256),
    "seed": (0, 2**63 - 1),
}


@runtime_checkable
class Attributor(Protocol):
    """What every method offers: a ``name`` and ``attribute(model, inputs, target, *, forward_kwargs)``."""

    @property
    def name(self) -> str:
        ...

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        ...


@dataclass(frozen=True)
class LRP:
    """Layer-wise Relevance Propagation with the rules of ``composite``.

    ``params``: the keyword arguments the composite was built with, its factory's
    defaults included (``{}`` for a hand-made ``Composite``).

    >>> LRP(get_composite("zero")).name
    'zero'
    """

    composite: Composite
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.composite.name

    def __repr__(self) -> str:
        params = "".join(f", {key}={value!r}" for key, value in self.params.items())
        return f"LRP({self.name!r}{params})"

    def attribute(self, model: nn.Module, inputs: Tensor, target: TargetSpec = None, *,
                  forward_kwargs: dict[str, Any] | None = None,
                  reference: Tensor | Sequence[float] | None = None) -> Attribution:
        return attribute(model, inputs, target, self.composite, forward_kwargs=forward_kwargs, reference=reference)


#: What :func:`resolve_method` accepts.
MethodSpec = Any


def method_names() -> list[str]:
    """Every method known by name: the LRP composites, then the baselines.

    >>> "epsilon" in method_names() and "occlusion" in method_names()
    True
    """
    return [*composite_names(), *BASELINES]


def method_parameters(name: str) -> dict[str, Any]:
    """The parameters the method ``name`` takes, with their defaults (what :func:`resolve_method`
    accepts as keyword arguments), without building it.

    >>> method_parameters("epsilon"), method_parameters("integrated-gradients")
    ({'eps': 1e-06}, {'steps': 32})
    >>> method_parameters("zero")
    {}
    """
    factory = BASELINES.get(name) or composite_factory(name)
    if factory is None:
        raise _unknown_method(name)
    return _defaults(factory)


def resolve_method(spec: MethodSpec, **params: Any) -> Attributor:
    """The attributor for ``spec``: a method name (an LRP composite or a baseline; ``params``
    go to its factory, e.g. ``eps``, ``gamma``, ``steps``), a ``Composite`` or a mapping of
    rules (LRP with those rules), or an object with ``attribute`` (returned as it is).

    >>> resolve_method("epsilon-gamma-box").params["gamma"]
    0.25
    >>> resolve_method("epsilno")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: unknown method 'epsilno' (did you mean 'epsilon'?); choose one of: ...
    """
    if isinstance(spec, Composite) or isinstance(spec, Mapping):
        _no_params(spec, params)
        return LRP(get_composite(spec))
    if isinstance(spec, str):
        if spec in BASELINES:
            return _build(BASELINES[spec], spec, _checked(BASELINES[spec], spec, params))
        factory = composite_factory(spec)
        if factory is None:
            raise _unknown_method(spec)
        params = _checked(factory, spec, params)
        return LRP(_build(factory, spec, params), {**_defaults(factory), **params})
    if callable(getattr(spec, "attribute", None)) and isinstance(getattr(spec, "name", None), str):
        _no_params(spec, params)
        return spec
    raise DoclrpError(f"a method is a name ({', '.join(method_names())}), a doclrp.Composite or an object "
                      f"with .name and .attribute(); got {type(spec).__name__}")


def describe(method: Attributor) -> dict[str, Any]:
    """``{"name": …, "params": {…}}``, JSON-safe: what results record of the method that made them
    (an LRP composite's factory arguments, a baseline's dataclass fields).

    >>> describe(resolve_method("occlusion"))
    {'name': 'occlusion', 'params': {'batch_size': 64}}
    """
    if isinstance(method, LRP):
        return {"name": method.name, "params": dict(method.params)}
    params: dict[str, Any] = dataclasses.asdict(method) if dataclasses.is_dataclass(method) else {}
    return {"name": method.name, "params": params}


def _unknown_method(name: str) -> DoclrpError:
    names = method_names()
    close = difflib.get_close_matches(name, names, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return DoclrpError(f"unknown method {name!r}{hint}; choose one of: {', '.join(names)}")


def _checked(factory: Callable[..., Any], name: str, params: dict[str, Any]) -> dict[str, Any]:
    """``params`` as ``factory`` takes them: unknown names refused, numbers finite, a whole
    number where the default is an integer (``steps=8.0`` becomes 8; a float ``steps`` would
    fail only deep inside the method), and within :data:`PARAMETER_BOUNDS`.

    >>> _checked(BASELINES["integrated-gradients"], "integrated-gradients", {"steps": 8.0})
    {'steps': 8}
    >>> _checked(BASELINES["integrated-gradients"], "integrated-gradients", {"steps": 10**9})
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: parameter steps of 'integrated-gradients' takes 1 to 1024, got 1000000000
    """
    accepted = _defaults(factory)
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        allowed = ", ".join(accepted) or "none"
        raise DoclrpError(f"method {name!r} takes no parameter {', '.join(unknown)}; its parameters: {allowed}")
    checked: dict[str, Any] = {}
    for key, value in params.items():
        default = accepted[key]
        if isinstance(value, float) and not math.isfinite(value):
            raise DoclrpError(f"parameter {key} of {name!r} must be a finite number")
        if isinstance(default, int) and not isinstance(default, bool) and isinstance(value, float):
            if not value.is_integer():
                raise DoclrpError(f"parameter {key} of {name!r} takes a whole number, got {value}")
            value = int(value)
        low, high = PARAMETER_BOUNDS.get(key, (None, None))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and (
                (low is not None and value < low) or (high is not None and value > high)):
            span = f"{low} to {high}" if low is not None and high is not None else (
                f"at least {low}" if low is not None else f"at most {high}")
            raise DoclrpError(f"parameter {key} of {name!r} takes {span}, got {value}")
        checked[key] = value
    return checked


def _build(factory: Callable[..., Any], name: str, params: dict[str, Any]) -> Any:
    """``factory(**params)``: a composite, or a baseline attributor (``params`` from :func:`_checked`)."""
    try:
        return factory(**params)
    except (TypeError, ValueError) as error:
        raise DoclrpError(f"method {name!r}: {error}") from None


def _defaults(factory: Callable[..., Any]) -> dict[str, Any]:
    """The keyword parameters of a composite factory or baseline class, with their defaults."""
    if dataclasses.is_dataclass(factory):
        return {f.name: f.default for f in dataclasses.fields(factory) if f.init}
    return {name: p.default for name, p in inspect.signature(factory).parameters.items()
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}


def _no_params(spec: Any, params: dict[str, Any]) -> None:
    if params:
        raise DoclrpError(f"parameters {', '.join(sorted(params))} go with a method name, not with {spec!r}")
