"""Methods: the one place where a name or an object becomes an ``Attributor``; and ``attribute()``.

An attributor turns a model, a batch of inputs and a target into an ``Attribution``.
``LRP(composite)`` is one kind; the baselines of :mod:`doclrp.core.baselines`
(gradient×input, saliency, integrated gradients, occlusion, random) are the others.
Every level above the core (``explain``, corpus runs, evaluation, the command line)
calls :func:`resolve_method` once and passes the attributor on.

>>> import torch
>>> method = resolve_method("epsilon", eps=0.01)
>>> method.name, method.params
('epsilon', {'eps': 0.01, 'recurrent': None, 'bias_factor': 0.0})
>>> describe(resolve_method("integrated-gradients", steps=8))
{'name': 'integrated-gradients', 'params': {'steps': 8}}
>>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
>>> method.attribute(net, torch.ones(1, 3), 0).relevance.shape
torch.Size([1, 3])
>>> attribute(net, torch.ones(1, 3), 0, method="saliency").method
'saliency'
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast, runtime_checkable

from torch import Tensor, nn

from ..errors import DoclrpError
from ..registry import unknown_name
from .attribution import Attribution, lrp_attribute
from .baselines import BASELINES
from .composites import Composite, composite_factory, composite_names, get_composite
from .recurrent import RECURRENT_MODES
from .targets import TargetSpec

__all__ = ["attribute", "Attributor", "LRP", "resolve_method", "describe", "method_names", "method_parameters",
           "parameter_choices", "MethodSpec", "PARAMETER_BOUNDS", "PARAMETER_CHOICES"]

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
        return lrp_attribute(model, inputs, target, self.composite, forward_kwargs=forward_kwargs,
                             reference=reference)


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
    ({'eps': 1e-06, 'recurrent': None, 'bias_factor': 0.0}, {'steps': 32})
    >>> method_parameters("zero")
    {}
    """
    factory = BASELINES.get(name) or composite_factory(name)
    if factory is None:
        raise _unknown_method(name)
    return _defaults(factory)


#: The values a parameter that takes text may take (the others take numbers): the web app offers
#: them as a list; :func:`resolve_method` hands them to the factory, which checks them.
PARAMETER_CHOICES: dict[str, tuple[str, ...]] = {"recurrent": RECURRENT_MODES}


def parameter_choices(name: str) -> dict[str, tuple[str, ...]]:
    """The parameters of the method ``name`` that take text, with the values they may take.

    >>> parameter_choices("epsilon"), parameter_choices("integrated-gradients")
    ({'recurrent': ('doclrp', 'arras')}, {})
    """
    return {key: PARAMETER_CHOICES[key] for key in method_parameters(name) if key in PARAMETER_CHOICES}


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


def attribute(model: nn.Module, inputs: Tensor | Sequence[Tensor], target: TargetSpec = None,
              method: MethodSpec = None, *,
              composite: MethodSpec = None, forward_kwargs: dict[str, Any] | None = None,
              reference: Tensor | Sequence[float] | None = None, input_scale: float = 1.0,
              **params: Any) -> Attribution:
    """Explain ``target`` of ``model(inputs)`` with ``method``: whatever :func:`resolve_method`
    takes (an LRP composite's or a baseline's name, with its ``params``; a ``Composite``; a
    mapping of rules; an attributor), as ``explain(method=...)`` does; ``"epsilon"`` when not
    given. ``composite=`` is the older name of ``method=``.

    ``inputs``: one tensor, or a tuple of several for a model of several inputs (called as
    ``model(*inputs)``: token ids and numeric features, say); under LRP each gets its relevance
    (``Attribution.input_relevance``), token ids at the output of every embedding that reads them.

    ``target``: a :class:`~doclrp.core.targets.Target` (its reference, if any, is subtracted as
    ``reference=`` would be), None (the largest output, or the only one), an output index, one
    index per sample, a weight tensor ``(n,)`` or ``(batch, n)`` for any linear combination of
    outputs (contrasts, several regression outputs), or a callable on the logits returning one
    of these. ``forward_kwargs`` go to ``model`` unchanged (an attention mask, say). The model is
    not modified; its mode (train/eval) is used as is.

    ``reference``: output values ``(n,)`` (e.g. the mean prediction over a corpus) to explain
    ``f(x) − reference`` instead of ``f(x)``: the output layer then treats its bias as
    ``b − reference``, so a constant offset is not handed to the words (rules that distribute
    the bias, such as αβ and z⁺, share out only the deviation; under ε the words' relevance is
    unchanged and the offset shows in delta).

    ``input_scale`` (LRP only): run the model on ``input_scale · x`` (the input, or the output of
    the first embedding for token ids), for path methods such as integrated gradients; relevance
    is ``x ⊙`` the gradient w.r.t. ``x`` of that run.

    >>> import torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 2))
    >>> attribute(net, torch.ones(1, 3), 0, method="epsilon", eps=0.5).method
    'epsilon'
    >>> attribute(net, torch.ones(1, 3), 0, composite="zero").method
    'zero'
    """
    if method is not None and composite is not None:
        raise DoclrpError("give the method once: method= (composite= is its older name)")
    spec = method if method is not None else composite if composite is not None else "epsilon"
    attributor = resolve_method(spec, **params)
    if isinstance(attributor, LRP):
        return lrp_attribute(model, inputs, target, attributor.composite, forward_kwargs=forward_kwargs,
                             reference=reference, input_scale=input_scale)
    if input_scale != 1.0:
        raise DoclrpError(f"input_scale goes with an LRP composite, not with {attributor.name!r}")
    # a baseline takes one tensor and refuses several inputs itself, in one line
    return attributor.attribute(model, cast(Tensor, inputs), target, forward_kwargs=forward_kwargs,
                                reference=reference)


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
    return DoclrpError(unknown_name("method", name, method_names()))


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
        if isinstance(value, str) and not _takes_text(factory, key):
            raise DoclrpError(f"parameter {key} of {name!r} takes a number, got {value!r}")
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


def _takes_text(factory: Callable[..., Any], key: str) -> bool:
    """Whether the parameter ``key`` of ``factory`` is declared to take a ``str`` (``recurrent``)."""
    if dataclasses.is_dataclass(factory):
        annotation: Any = next((f.type for f in dataclasses.fields(factory) if f.name == key), None)
    else:
        annotation = inspect.signature(factory).parameters[key].annotation
    return "str" in str(annotation)


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
