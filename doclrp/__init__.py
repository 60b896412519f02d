"""doclrp: Layer-wise Relevance Propagation for PyTorch text and image models.

>>> import torch, doclrp
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> doclrp.attribute(net, torch.rand(2, 4), target=0).relevance.shape
torch.Size([2, 4])

The common journeys need only these names: ``doclrp.load_model`` (any model folder),
``doclrp.explain`` (text → words with relevance), ``doclrp.attribute`` (tensors),
``doclrp.resolve_method`` and ``doclrp.Target`` (what to explain, and how),
``doclrp.explain_corpus`` / ``doclrp.summarize`` (whole corpora),
``doclrp.read_toolbox_model`` (LRP Toolbox files) and ``doclrp.render.to_html`` (pages).
"""

from .core import (LRP, AlphaBeta, Attribution, Attributor, Composite, Epsilon, Flat, Gamma, Gradient, Pass, Target,
                   Winners, WSquare, ZBox, Zero, ZPlus, attach, attribute, get_composite, method_names, resolve_method)
from .errors import DoclrpError
from ._explain import explain
from .text import Explanation
from .models.loading import load_model, pretrained_path
from .models.toolbox import read_toolbox_model, toolbox_composite
from .corpus import explain_corpus, read_results, summarize
from . import render

__version__ = "0.1.0"

__all__ = [
    "attribute", "Attribution", "attach", "Composite", "get_composite",
    "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "Flat", "WSquare", "ZBox", "Pass", "Gradient", "Winners",
    "Target", "Attributor", "LRP", "resolve_method", "method_names",
    "DoclrpError", "explain", "Explanation", "load_model", "pretrained_path", "read_toolbox_model", "toolbox_composite",
    "explain_corpus", "read_results", "summarize", "render", "__version__",
]
