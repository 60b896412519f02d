"""Composites: which rule goes to which layer.

A ``Composite`` maps module *names* (exact dotted paths), *predicates*
``(name, module) -> bool`` and module *types* (matched with ``isinstance``, most
specific class first) to rules, plus an optional ``first`` rule for every affine
layer that reads the model input directly (found at run time, in execution order,
so every parallel branch of a text CNN counts). Look-up order: name, predicate,
first, type (a layer declared dense by a :class:`~doclrp.core.linear.DenseAdapter` takes
the ``nn.Linear`` rule), then the built-in defaults (``Pass`` for element-wise activations).

Composites are named in :data:`COMPOSITES`, a :class:`~doclrp.registry.Registry` whose built-in
entries are the package's entry points: those defined outside the core (``cp-lrp`` and
``attnlrp``, in :mod:`doclrp.models.hf.composites`) are imported on first use, so that no import
registers anything.

>>> from torch import nn
>>> from doclrp.core.rules import Epsilon, ZBox
>>> c = Composite({nn.Linear: Epsilon(1e-6), "features.0": ZBox(-1, 1)})
>>> c.rule_for("classifier", nn.Linear(2, 2))
Epsilon(eps=1e-06)
>>> get_composite("epsilon-plus").name
'epsilon-plus'
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

from torch import Tensor, nn

from ..errors import DoclrpError
from ..registry import Group, Registry
from .attention_rules import LayerNormCP
from .linear import is_dense
from .merge import MERGE_LAYERS, merge_rule
from .recurrent import LINEAR_VIEW, RECURRENT_LAYERS, RECURRENT_MODES, ArrasEpsilon, Recurrent
from .rules import AffineRule, AlphaBeta, Epsilon, Gamma, InputRule, Pass, Rule, ZBox, Zero, ZPlus

__all__ = ["Composite", "get_composite", "register_composite", "composite_factory", "composite_names", "COMPOSITES",
           "ELEMENTWISE"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)

# Element-wise nonlinearities whose relevance passes unchanged (R_in = R_out).
# ReLU, LeakyReLU and friends need no entry: their gradient already is y/x.
ELEMENTWISE = (
    nn.Tanh, nn.Sigmoid, nn.ELU, nn.SELU, nn.CELU, nn.GELU, nn.SiLU, nn.Mish,
    nn.Softplus, nn.Softsign, nn.Tanhshrink, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.LogSigmoid,
)

Key = type | str | Callable[[str, nn.Module], bool]


class Composite:
    """Rules by module name, predicate or type, and a rule for the input layers."""

    def __init__(self, rules: Mapping[Key, Rule] | None = None, *, first: Rule | None = None,
                 name: str = "custom"):
        self.rules = dict(rules or {})
        self.first = first
        self.name = name
        for key, rule in self.rules.items():
            if not isinstance(rule, Rule):
                raise DoclrpError(f"composite entry {key!r}: {rule!r} is not a doclrp rule")
            if not isinstance(key, (str, type)) and not callable(key):
                raise DoclrpError(f"composite key {key!r}: use a module name, a type or a predicate")

    def __repr__(self) -> str:
        return f"Composite(name={self.name!r}, rules={self.rules!r}, first={self.first!r})"

    def rule_for(self, name: str, module: nn.Module, first: bool = False) -> Rule | None:
        """The rule for ``module`` at path ``name``; ``first`` when it reads the model input.

        An ``nn.LSTM``/``nn.GRU`` gets :class:`~doclrp.core.recurrent.Recurrent` with the rule
        mapped to it, else with the rule an ``nn.Linear`` would get at its path (its linear maps);
        a merge layer (:mod:`doclrp.core.merge`) its rule likewise.
        """
        rule = self._lookup(name, module, first)
        if isinstance(module, RECURRENT_LAYERS) and (rule is None or isinstance(rule, (AffineRule, InputRule))):
            return Recurrent(rule if rule is not None else self._lookup(name, LINEAR_VIEW, False))
        if isinstance(module, MERGE_LAYERS):
            return merge_rule(module, rule, self._lookup(name, LINEAR_VIEW, False))
        return rule

    def _lookup(self, name: str, module: nn.Module, first: bool) -> Rule | None:
        if name in self.rules:
            return self.rules[name]
        for key, rule in self.rules.items():
            if not isinstance(key, (str, type)) and key(name, module):
                return rule
        if first and self.first is not None:
            return self.first
        for cls in type(module).__mro__:
            if cls in self.rules:
                return self.rules[cls]
        if nn.Linear in self.rules and is_dense(module):  # a layer declared dense by an adapter
            return self.rules[nn.Linear]
        if isinstance(module, ELEMENTWISE):
            return Pass()
        if isinstance(module, nn.LayerNorm):
            return LayerNormCP()  # its normalizer a constant (CP-LRP, AttnLRP): a linear map
        return None

    def mentions(self, name: str, module: nn.Module) -> bool:
        """Whether the user's map itself (not the defaults) names this module."""
        return self.singles_out(name, module) or any(cls in self.rules for cls in type(module).__mro__)

    def singles_out(self, name: str, module: nn.Module) -> bool:
        """Whether the map names this very module, by its path or a predicate (not by type)."""
        return name in self.rules or any(not isinstance(k, (str, type)) and k(name, module) for k in self.rules)


def _affine(rule_linear: Rule, rule_conv: Rule) -> dict[Key, Rule]:
    return {nn.Linear: rule_linear, **{c: rule_conv for c in _CONV}}


def zero() -> Composite:
    """LRP-0 everywhere (equals gradient × input on ReLU nets)."""
    return Composite(_affine(Zero(), Zero()), name="zero")


def epsilon(eps: float = 1e-6, recurrent: str | None = None, bias_factor: float = 0.0) -> Composite:
    """LRP-ε on every Linear and Conv layer (and in the linear maps of recurrent layers).

    ``recurrent="arras"``: LSTM/GRU layers as Arras et al.'s code (ArrasL/LRP_for_LSTM) has them,
    ε in the cell's sums too, and their ``bias_factor`` on Linear and recurrent layers (see
    :mod:`doclrp.core.recurrent`; their ε is 0.001). Default: doclrp's, plain sums.

    >>> epsilon(0.001, recurrent="arras").rules[nn.LSTM]
    Recurrent(rule=Epsilon(eps=0.001), mode='arras')
    """
    mode = "doclrp" if recurrent is None else recurrent
    if mode not in RECURRENT_MODES:
        raise DoclrpError(f"recurrent={recurrent!r}: choose one of {', '.join(RECURRENT_MODES)}")
    rules = _affine(Epsilon(eps), Epsilon(eps))
    if mode == "arras" or bias_factor:
        cell = Recurrent(Epsilon(eps), mode=mode, bias_factor=bias_factor)  # refuses bias_factor without arras
        rules.update({nn.Linear: ArrasEpsilon(eps, bias_factor) if bias_factor else Epsilon(eps),
                      nn.LSTM: cell, nn.GRU: cell})
    return Composite(rules, name="epsilon")


def epsilon_plus(eps: float = 1e-6) -> Composite:
    """LRP-ε on dense layers, z⁺ on convolutions."""
    return Composite(_affine(Epsilon(eps), ZPlus()), name="epsilon-plus")


def epsilon_gamma_box(low: float | Tensor | None = None, high: float | Tensor | None = None, gamma: float = 0.25,
                      eps: float = 1e-6) -> Composite:
    """z^B on the layers reading the input, γ on convolutions, ε on dense layers."""
    return Composite(_affine(Epsilon(eps), Gamma(gamma)), first=ZBox(low, high), name="epsilon-gamma-box")


def alpha2_beta1() -> Composite:
    """LRP-α2β1 on every Linear and Conv layer."""
    return Composite(_affine(AlphaBeta(2.0, 1.0), AlphaBeta(2.0, 1.0)), name="alpha2-beta1")


#: Name → composite factory: the entry points ``doclrp.composites`` (the core's own above, and
#: ``cp-lrp``/``attnlrp`` of :mod:`doclrp.models.hf.composites`, imported on first use), then
#: those registered with :func:`register_composite`.
COMPOSITES: Registry[Callable[..., Composite]] = Registry("composite", Group.COMPOSITES)


def register_composite(name: str, factory: Callable[..., Composite]) -> None:
    """Make ``factory`` available by ``name`` (for composites of your own).

    >>> register_composite("epsilon-big", lambda: epsilon(eps=0.25))
    >>> get_composite("epsilon-big").rules[nn.Linear]
    Epsilon(eps=0.25)
    >>> del COMPOSITES["epsilon-big"]
    """
    COMPOSITES[name] = factory


def composite_factory(name: str) -> Callable[..., Composite] | None:
    """The factory registered under ``name``, or None."""
    return COMPOSITES.get(name)


def composite_names() -> list[str]:
    """The names of all registered composites, in registration order."""
    return list(COMPOSITES)


def get_composite(composite: str | Composite | Mapping[Key, Rule], **kwargs: Any) -> Composite:
    """A composite from its name (keyword arguments go to its factory) or as given."""
    if isinstance(composite, Composite):
        return composite
    if isinstance(composite, Mapping):
        return Composite(composite)
    if not isinstance(composite, str):
        raise DoclrpError(f"a composite is a name ({', '.join(COMPOSITES)}), a doclrp.Composite or a mapping of "
                          f"rules; got {type(composite).__name__}")
    return COMPOSITES[composite](**kwargs)
