"""The registry of corpora known by name, and of the checks their results can get.

>>> from doclrp.corpus.registry import SOURCES, open_source, target_check
>>> sorted(SOURCES)
['bbc', 'vader', 'vader-rt']
>>> next(iter(open_source("bbc"))).id
'business/001'
>>> target_check("regression", "compound").title
'VADER lexicon correlation'

A source is a corpus known by name (``open_corpus("bbc")``) rather than by a
path: the BBC News articles and the VADER regression corpora of
:mod:`doclrp.corpus.sources`. A *target check* is a sanity check that a source brings
for results explaining one of its outputs: the VADER lexicon correlation for
regressors of ``compound``, which ``summarize`` runs.

This module is the registry only: names map to ``"module:function"`` and are
imported on first use, so that the generic readers can consult it without
importing any source (the sources import the readers).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from doclrp.errors import DoclrpError

__all__ = ["SOURCES", "TARGET_CHECKS", "TargetCheck", "open_source", "target_check"]

#: Source name → ``"module:function"``, called as ``function(name, **options)``.
SOURCES: dict[str, str] = {
    "bbc": "doclrp.corpus.sources.bbc:open_bbc",
    "vader": "doclrp.corpus.sources.vader:read_vader_corpus",
    "vader-rt": "doclrp.corpus.sources.vader:read_vader_corpus",
}


@dataclass(frozen=True)
class TargetCheck:
    """A check for results of a ``task`` explaining the output ``target``: ``location``
    (``"module:function"``) takes word → mean relevance per occurrence and returns
    what the summary shows (e.g. ``(r, words)``).

    >>> TargetCheck("demo", "regression", "score", "math:fsum").load()([0.5, 0.25])
    0.75
    """

    title: str
    task: str
    target: str
    location: str

    def applies_to(self, task: str | None, output: str | None) -> bool:
        """True for results of this task explaining the one output ``output`` (alone, or its
        deviation from a reference: the reference moves the offset, not the words' relevance)."""
        return task == self.task and output == self.target

    def load(self) -> Callable[..., Any]:
        """The check's function, imported now (ImportError when its module cannot be)."""
        return _load(self.location)


#: The target checks that summaries run, first match wins.
TARGET_CHECKS: tuple[TargetCheck, ...] = (
    TargetCheck("VADER lexicon correlation", "regression", "compound",
                "doclrp.corpus.sources.lexicon:vader_correlation"),
)


def _load(location: str) -> Callable[..., Any]:
    module, _, attribute = location.partition(":")
    return getattr(importlib.import_module(module), attribute)


def open_source(name: str, **options: Any) -> Iterator[Any]:
    """Records of the source ``name`` (a key of ``SOURCES``); ``options`` go to its reader."""
    if name not in SOURCES:
        raise DoclrpError(f"unknown corpus source {name!r}; choose one of: {', '.join(SOURCES)}")
    return _load(SOURCES[name])(name, **options)


def target_check(task: str | None, output: str | None) -> TargetCheck | None:
    """The check for results of ``task`` explaining the single output named ``output``, or None.

    >>> target_check("regression", "compound").target, target_check("classification", "compound")
    ('compound', None)
    """
    return next((check for check in TARGET_CHECKS if check.applies_to(task, output)), None)
