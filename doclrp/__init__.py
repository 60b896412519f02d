"""doclrp: Layer-wise Relevance Propagation for PyTorch text and image models.

>>> import torch, doclrp
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> doclrp.attribute(net, torch.rand(2, 4), target=0).relevance.shape
torch.Size([2, 4])
"""

from .core import (AlphaBeta, Attribution, Composite, Epsilon, Flat, Gamma, Gradient, Pass, WSquare, ZBox,
                   Zero, ZPlus, attach, attribute, get_composite)
from .errors import DoclrpError

__version__ = "0.1.0"

__all__ = [
    "attribute", "Attribution", "attach", "Composite", "get_composite",
    "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "Flat", "WSquare", "ZBox", "Pass", "Gradient",
    "DoclrpError", "__version__",
]


def __getattr__(name):
    # The text layer pulls in spaCy; import it only when asked for.
    if name in ("explain", "Explanation"):
        from . import explain as _explain

        return getattr(_explain, name)
    raise AttributeError(f"module 'doclrp' has no attribute {name!r}")
