"""doclrp: Layer-wise Relevance Propagation for PyTorch text and image models.

>>> import torch, doclrp
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> doclrp.attribute(net, torch.rand(2, 4), target=0).relevance.shape
torch.Size([2, 4])
"""

from .core import (AlphaBeta, Attribution, Composite, Epsilon, Flat, Gamma, Gradient, Pass, WSquare, ZBox,
                   Zero, ZPlus, attach, attribute, get_composite)
from .errors import DoclrpError
# The function shadows its module's name on purpose: doclrp.explain(...) is the API.
from .explain import Explanation, explain  # noqa: E402  (spaCy itself loads on first use)

__version__ = "0.1.0"

__all__ = [
    "attribute", "Attribution", "attach", "Composite", "get_composite",
    "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "Flat", "WSquare", "ZBox", "Pass", "Gradient",
    "DoclrpError", "explain", "Explanation", "__version__",
]

