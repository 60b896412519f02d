"""The registry of corpora known by name, and of the checks their results can get.

>>> from doclrp.corpus.registry import SOURCES, open_source, target_check
>>> list(SOURCES)
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

This module is the registry only: both are :class:`~doclrp.registry.Registry` objects whose
entries are the package's entry points (``doclrp.corpus_sources``, ``doclrp.target_checks``),
imported on first use, so that the generic readers can consult it without importing any
source (the sources import the readers).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from doclrp.registry import Group, Registry

__all__ = ["SOURCES", "TARGET_CHECKS", "TargetCheck", "open_source", "target_check"]

#: Source name → its reader, called as ``reader(name, **options)``; every reader takes
#: ``on_error`` (what a malformed line does, where the source has lines).
SOURCES: Registry[Callable[..., Iterator[Any]]] = Registry("corpus source", Group.CORPUS_SOURCES)


@dataclass(frozen=True)
class TargetCheck:
    """A check for results of a ``task`` explaining the output ``target``: ``function``
    takes word → mean relevance per occurrence and returns what the summary shows (e.g.
    ``(r, words)``).

    >>> import math
    >>> TargetCheck("demo", "regression", "score", math.fsum).function([0.5, 0.25])
    0.75
    """

    title: str
    task: str
    target: str
    function: Callable[..., Any]

    def applies_to(self, task: str | None, output: str | None) -> bool:
        """True for results of this task explaining the one output ``output`` (alone, or its
        deviation from a reference: the reference moves the offset, not the words' relevance)."""
        return task == self.task and output == self.target


#: The target checks that summaries run, first match wins: the entry points
#: ``doclrp.target_checks`` (the VADER lexicon correlation of :mod:`doclrp.corpus.sources.lexicon`).
TARGET_CHECKS: Registry[TargetCheck] = Registry("target check", Group.TARGET_CHECKS)


def open_source(name: str, **options: Any) -> Iterator[Any]:
    """Records of the source ``name`` (a key of ``SOURCES``); ``options`` go to its reader."""
    return SOURCES[name](name, **options)


def target_check(task: str | None, output: str | None) -> TargetCheck | None:
    """The check for results of ``task`` explaining the single output named ``output``, or None.

    >>> target_check("regression", "compound").target, target_check("classification", "compound")
    ('compound', None)
    """
    return next((check for check in TARGET_CHECKS.values() if check.applies_to(task, output)), None)
