"""doclrp: Layer-wise Relevance Propagation for PyTorch text and image models.

>>> import torch, doclrp
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 3))
>>> doclrp.attribute(net, torch.rand(2, 4), target=0, method="epsilon").relevance.shape
torch.Size([2, 4])

The common journeys need only these names: ``doclrp.load_model`` (any model folder),
``doclrp.explain`` (text → words with relevance), ``doclrp.explain_generation`` (what a
language model writes after a document, token by token), ``doclrp.attribute`` (tensors),
``doclrp.resolve_method`` and ``doclrp.Target`` (what to explain, and how),
``doclrp.explain_corpus`` / ``doclrp.summarize`` (whole corpora),
``doclrp.read_toolbox_model`` (LRP Toolbox files), ``doclrp.read_keras_model`` and
``doclrp.read_onnx_model`` (Keras and ONNX files) and ``doclrp.render.to_html`` (pages).
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

# The public names, each written once: here, as static tools (mypy, editors) see them. At run
# time they are imported on first use (__getattr__ below reads its table from these lines):
# `import doclrp.cli` runs this file first, and `doclrp --help` must answer before torch
# (seconds) is imported.
if TYPE_CHECKING:
    from .core import (LRP, AlphaBeta, Attribution, Attributor, Composite, Epsilon, Flat, Gamma, Gradient, Pass,
                       Target, Winners, WSquare, ZBox, Zero, ZPlus, attach, attribute, get_composite, method_names,
                       register_composite, resolve_method)
    from .errors import DoclrpError
    from ._explain import explain
    from ._generate import explain_generation
    from .text import Explanation
    from .models.loading import load_model, pretrained_path
    from .models.toolbox import read_toolbox_model, toolbox_composite
    from .models.sklearn import from_sklearn
    from .models.keras import read_keras_model
    from .models.onnx_files import read_onnx_model
    from .corpus import explain_corpus, read_results, summarize
    from . import render

__version__ = "0.1.0"


def _public_names() -> dict[str, tuple[str, str | None]]:
    """Public name → (module, attribute; None for a subpackage), read from the TYPE_CHECKING
    imports of this file (its source ships with the package)."""
    tree = ast.parse(Path(__file__).read_text(encoding="utf-8"))
    block = next(node for node in tree.body if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING")
    names: dict[str, tuple[str, str | None]] = {}
    for statement in block.body:
        assert isinstance(statement, ast.ImportFrom) and statement.level == 1, "only `from .x import y` here"
        for alias in statement.names:
            if statement.module is None:  # `from . import render`: the subpackage itself
                names[alias.name] = (f"{__name__}.{alias.name}", None)
            else:
                names[alias.name] = (f"{__name__}.{statement.module}", alias.name)
    return names


_PUBLIC = _public_names()

__all__ = [*_PUBLIC, "__version__"]


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'doclrp' has no attribute {name!r}")
    module, attribute = _PUBLIC[name]
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
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
