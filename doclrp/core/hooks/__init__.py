"""The forward hooks of an attachment, chosen per module by its kind and the rule the composite
gives it (:func:`hook_for`); one module per kind of rule:

- :mod:`.affine`: Linear/Conv layers (and dense adapters) under an ``AffineRule`` or ``InputRule``,
  and a BatchNorm folded into the affine layer before it;
- :mod:`.shares`: ``Flat``/``WSquare`` on hidden layers and poolings, whose relevance reaches
  inputs at 0 (handed past ReLUs), and the pooling rules (``Winners``);
- :mod:`.inputs`: embeddings, where relevance is taken for token ids;
- :mod:`.layers`: element-wise modules (``Pass``), a final Softmax (skipped), and the refusal of
  an unknown layer.

A rule that brings its own hook is a :class:`~doclrp.core.rules.ModuleRule` (``plan`` and
``forward_hook``), in its own module: a new kind of rule (the recurrent layers of
:mod:`doclrp.core.recurrent`, the attention rules) is that one module, and this dispatch
needs no entry for it.

>>> from torch import nn
>>> from doclrp.core.composites import get_composite
>>> make_hook, with_kwargs = hook_for("0", nn.Linear(2, 2), get_composite("epsilon-plus"))
>>> make_hook is not None, with_kwargs
(True, False)
>>> hook_for("1", nn.ReLU(), get_composite("epsilon"))
(None, False)
"""

from __future__ import annotations

from torch import nn

from ...errors import DoclrpError
from ..composites import Composite
from ..linear import is_affine_layer
from ..rules import POOLS, Flat, Gradient, ModuleRule, Pass, Rule, Winners, WSquare
from ..session import HookMaker, module_path
from .affine import affine_hook, batchnorm_hook, keeps_own_gradient
from .inputs import embedding_bag_hook, embedding_hook
from .layers import OUTPUT_NORMALIZERS, PASSIVE_MODULES, elementwise_hook, refuse_hook, softmax_hook
from .shares import pool_hook, rectifier_hook, uses_shares

__all__ = ["hook_for", "PASSIVE_MODULES"]

def hook_for(name: str, module: nn.Module, composite: Composite) -> tuple[HookMaker | None, bool]:
    """``(make_hook(session) -> forward hook, wants kwargs)`` for ``module``, or ``(None, False)``."""
    if is_affine_layer(module):
        if composite.first is None and keeps_own_gradient(module, composite.rule_for(name, module)):
            return None, False  # no hook at all: nothing to do at run time
        rules: dict[bool, Rule | None] = {}
        return (lambda session: affine_hook(session, name, rules)), False
    if isinstance(module, (nn.Embedding, nn.EmbeddingBag)) and composite.singles_out(name, module) \
            and isinstance(composite.rule_for(name, module), Gradient):
        # named Gradient(): a table of constants (a relative position bias), not an input
        return None, False
    if isinstance(module, nn.EmbeddingBag):
        return (lambda session: embedding_bag_hook(session, name)), True
    if isinstance(module, nn.Embedding):
        return (lambda session: embedding_hook(session, name)), False
    if isinstance(module, nn.modules.batchnorm._BatchNorm):
        return (lambda session: batchnorm_hook(session, name)), False
    if isinstance(module, OUTPUT_NORMALIZERS) and not composite.mentions(name, module):
        return (lambda session: softmax_hook(session, name)), False
    rule = composite.rule_for(name, module)
    if isinstance(rule, ModuleRule):
        if not rule.plan(name, module):
            return None, False
        return (lambda session: rule.forward_hook(session, name)), True
    if isinstance(rule, Pass):
        hook = elementwise_hook(rule, name)
        return (lambda session: hook), True
    if isinstance(rule, Gradient):
        return None, False
    if rule is None and isinstance(module, nn.ReLU) and uses_shares(composite):
        return rectifier_hook, False
    if isinstance(module, POOLS) and isinstance(rule, (Flat, WSquare, Winners)):
        if isinstance(rule, Winners) and not isinstance(module, (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d)):
            raise DoclrpError(f"{rule!r} on '{module_path(name)}' ({type(module).__name__}): needs a max pooling layer")
        pool_rule = rule
        return (lambda session: pool_hook(session, name, pool_rule)), False
    if rule is not None:
        raise DoclrpError(f"rule {rule!r} given for '{module_path(name)}' needs a Linear/Conv layer")
    if isinstance(module, PASSIVE_MODULES):
        return None, False
    has_params = any(True for _ in module.parameters(recurse=False))
    is_leaf = next(module.children(), None) is None
    if has_params or is_leaf:
        hook = refuse_hook(name, composite)
        return (lambda session: hook), False
    return None, False
