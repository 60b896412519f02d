"""The model-agnostic LRP engine: rules, composites, attachment, targets, ``attribute``.

>>> from doclrp.core import attribute, Composite, Epsilon
"""

from .attach import PASSIVE_MODULES, Session, attach, output_tensor
from .attribute import Attribution, attribute
from .composites import COMPOSITES, Composite, get_composite, register_composite
from .rules import (AffineRule, AlphaBeta, Epsilon, Flat, Gamma, Gradient, InputRule, Pass, Rule,
                    WSquare, ZBox, Zero, ZPlus)
from .targets import contrast_weights, target_weights

__all__ = [
    "attribute", "Attribution", "attach", "Session", "PASSIVE_MODULES", "output_tensor",
    "Composite", "get_composite", "register_composite", "COMPOSITES",
    "Rule", "AffineRule", "InputRule", "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta",
    "Flat", "WSquare", "ZBox", "Pass", "Gradient",
    "target_weights", "contrast_weights",
]
