"""doclrp: Layer-wise Relevance Propagation for PyTorch text and image models.

>>> import torch, doclrp
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> doclrp.attribute(net, torch.rand(2, 4), target=0).relevance.shape
torch.Size([2, 4])

The common journeys need only these names: ``doclrp.load_model`` (any model folder),
``doclrp.explain`` (text → words with relevance), ``doclrp.attribute`` (tensors),
``doclrp.resolve_method`` and ``doclrp.Target`` (what to explain, and how),
``doclrp.explain_corpus`` / ``doclrp.summarize`` (whole corpora),
``doclrp.read_toolbox_model`` (LRP Toolbox files), ``doclrp.read_keras_model`` and
``doclrp.read_onnx_model`` (Keras and ONNX files) and ``doclrp.render.to_html`` (pages).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names as static tools see them; at run time they come from __getattr__ below
    from .core import (LRP, AlphaBeta, Attribution, Attributor, Composite, Epsilon, Flat, Gamma, Gradient, Pass,
                       Target, Winners, WSquare, ZBox, Zero, ZPlus, attach, attribute, get_composite, method_names,
                       resolve_method)
    from .errors import DoclrpError
    from ._explain import explain
    from .text import Explanation
    from .models.loading import load_model, pretrained_path
    from .models.toolbox import read_toolbox_model, toolbox_composite
    from .models.sklearn import from_sklearn
    from .models.keras import read_keras_model
    from .models.onnx_files import read_onnx_model
    from .corpus import explain_corpus, read_results, summarize
    from . import render

__version__ = "0.1.0"

__all__ = [
    "attribute", "Attribution", "attach", "Composite", "get_composite",
    "Zero", "Epsilon", "Gamma", "ZPlus", "AlphaBeta", "Flat", "WSquare", "ZBox", "Pass", "Gradient", "Winners",
    "Target", "Attributor", "LRP", "resolve_method", "method_names",
    "DoclrpError", "explain", "Explanation", "load_model", "pretrained_path", "read_toolbox_model", "toolbox_composite",
    "from_sklearn", "read_keras_model", "read_onnx_model", "explain_corpus", "read_results", "summarize", "render", "__version__",
]

# Imported on first use, not with the package: `import doclrp.cli` runs this file first, and
# `doclrp --help` must answer before torch (seconds) is imported.
_HOMES = {
    **dict.fromkeys(["LRP", "AlphaBeta", "Attribution", "Attributor", "Composite", "Epsilon", "Flat", "Gamma",
                     "Gradient", "Pass", "Target", "Winners", "WSquare", "ZBox", "Zero", "ZPlus", "attach", "attribute",
                     "get_composite", "method_names", "resolve_method"], "doclrp.core"),
    "DoclrpError": "doclrp.errors",
    "explain": "doclrp._explain",
    "Explanation": "doclrp.text",
    "load_model": "doclrp.models.loading",
    "pretrained_path": "doclrp.models.loading",
    "read_toolbox_model": "doclrp.models.toolbox",
    "toolbox_composite": "doclrp.models.toolbox",
    "from_sklearn": "doclrp.models.sklearn",
    "read_keras_model": "doclrp.models.keras",
    "read_onnx_model": "doclrp.models.onnx_files",
    **dict.fromkeys(["explain_corpus", "read_results", "summarize"], "doclrp.corpus"),
}


def __getattr__(name: str) -> Any:
    if name == "render":
        return importlib.import_module("doclrp.render")
    if name not in _HOMES:
        raise AttributeError(f"module 'doclrp' has no attribute {name!r}")
    value = getattr(importlib.import_module(_HOMES[name]), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    """The public names, dunders and the subpackages imported so far; not this file's helpers
    (``importlib``, ``Any``, ``TYPE_CHECKING``, ``annotations``, ``_HOMES``).

    >>> import doclrp
    >>> {"explain", "load_model", "__version__"} <= set(dir(doclrp)), {"importlib", "Any", "annotations"} & set(dir(doclrp))
    (True, set())
    """
    helpers = {"importlib", "Any", "TYPE_CHECKING", "annotations"}
    return sorted({*__all__, *(name for name in globals()
                              if name not in helpers and (name.startswith("__") or not name.startswith("_")))})
