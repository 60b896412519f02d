"""Attaching rules to an unmodified model: ``attach(model, composite)`` registers, for the
duration of a block, the forward hooks that :mod:`doclrp.core.hooks` chooses for each module,
and removes every one on exit: the model is as it was.

Inside ``attach`` every affine layer's output is passed through an autograd function whose
forward returns the very values the layer computed and whose backward applies the layer's
rule. Element-wise layers get the ``Pass`` rule, a BatchNorm right after an affine layer is
folded into it (virtually: no parameter is touched), a final Softmax is skipped so that logits
are explained. Which hook each module gets is worked out once per model and composite (the
hook plan) and cached.

>>> import torch
>>> from torch import nn
>>> from doclrp.core.composites import get_composite
>>> net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
>>> with attach(net, get_composite("epsilon")) as session:
...     y = net(session.float_input(torch.randn(5, 3)))
>>> len(net[0]._forward_hooks)
0
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from torch import nn

from .composites import Composite
from .hooks import hook_for
from .session import HookPlan, Session

__all__ = ["attach"]


# model -> {composite's rules: (its submodules by name, plan)}: which hook every module gets
# depends only on those two, and working it out costs more than a small model's forward pass.
# Several composites per model (evaluations alternate them), the oldest dropped past a few.
# Weak keys: a cached plan never keeps a model alive (the submodule list leaves out the root).
_PLANS: weakref.WeakKeyDictionary[nn.Module, dict[Any, tuple[Any, HookPlan]]] = weakref.WeakKeyDictionary()
_PLANS_PER_MODEL = 8


def hook_plan(model: nn.Module, composite: Composite) -> HookPlan:
    """``[(module, make_hook, wants kwargs)]`` for ``model`` under ``composite``, cached while
    the composite maps the same rules and no submodule is added, removed or replaced."""
    named = list(model.named_modules())
    layout = tuple(named[1:])
    rules: tuple[Any, ...] | None = (composite.name, composite.first, tuple(composite.rules.items()))
    plans = _PLANS.get(model, {})
    try:
        cached = plans.get(rules)
    except TypeError:  # a rule that cannot be hashed: planned every time
        cached, rules = None, None
    if cached is not None and cached[0] == layout:
        return cached[1]
    plan: HookPlan = []
    for name, module in named:
        make_hook, with_kwargs = hook_for(name, module, composite)
        if make_hook is not None:
            plan.append((module, make_hook, with_kwargs))
    if rules is not None:
        plans.pop(rules, None)
        plans[rules] = (layout, plan)
        if len(plans) > _PLANS_PER_MODEL:
            del plans[next(iter(plans))]
        try:
            _PLANS[model] = plans
        except TypeError:  # a model that cannot be weakly referenced is planned every time
            pass
    return plan


@contextmanager
def attach(model: nn.Module, composite: Composite) -> Iterator[Session]:
    """Attach ``composite`` to ``model`` for the duration of the block; yields the ``Session``."""
    session = Session(composite, zero_is_absent=bool(getattr(model, "zero_is_absent", False)),
                      input_bounds=getattr(model, "input_bounds", None))
    handles = []
    try:
        for module, make_hook, with_kwargs in hook_plan(model, composite):
            handles.append(module.register_forward_hook(make_hook(session), with_kwargs=with_kwargs))
        yield session
    finally:
        for handle in handles:
            handle.remove()
        session.close()
