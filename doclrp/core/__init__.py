"""The model-agnostic LRP engine: rules, composites, attachment, targets, methods, ``attribute``.

>>> from doclrp.core import attribute, resolve_method, Target, Composite, Epsilon
"""

from .session import Session, output_tensor
from .attachment import attach
from .hooks import PASSIVE_MODULES
from .attribution import Attribution, lrp_attribute
from .composites import COMPOSITES, Composite, get_composite, register_composite
from .recurrent import RECURRENT_LAYERS, Recurrent
from .rules import (AffineRule, AlphaBeta, Epsilon, Flat, Gamma, Gradient, InputRule, Pass, Rule, Winners,
                    WSquare, ZBox, Zero, ZPlus)
from .targets import Target, contrast_weights, target_weights
from .baselines import BASELINES, GradientXInput, IntegratedGradients, Occlusion, RandomRelevance, Saliency
from .methods import LRP, Attributor, attribute, describe, method_names, resolve_method

__all__ = [
    "attribute", "lrp_attribute", "Attribution", "attach", "Session", "PASSIVE_MODULES", "output_tensor",
    "Composite", "get_composite", "register_composite", "COMPOSITES",
    "Rule", "AffineRule", "InputRule", "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta",
    "Flat", "WSquare", "ZBox", "Pass", "Gradient", "Winners", "Recurrent", "RECURRENT_LAYERS",
    "Target", "target_weights", "contrast_weights",
    "Attributor", "LRP", "resolve_method", "describe", "method_names",
    "BASELINES", "GradientXInput", "Saliency", "IntegratedGradients", "Occlusion", "RandomRelevance",
]
