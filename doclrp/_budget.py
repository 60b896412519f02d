"""A document's time budget, checked between the stages of its work, and the time each stage took.

>>> budget = Budget(None)
>>> with budget.stage("splitting words"):
...     budget.check("while splitting words")
>>> list(budget.seconds)
['splitting words']
>>> Budget(1e-9, clock=iter([0.0, 5.0]).__next__).check("after reading")
Traceback (most recent call last):
doclrp._budget.DocumentTimeout: took longer than doc_timeout=1e-09 s (stopped after reading)

One budget travels with one document's work: reading the file, splitting its words (checked
between the blocks spaCy gets), encoding (between chunks of words), the passes over its
windows, building the explanation and rendering its page. A stage that is running is never
interrupted; it is stopped at its next check, and checks come at least every block of text
(:data:`doclrp.text.words.BLOCK_CHARS`) or batch of windows, so a budget holds to within one
block's or one batch's time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from doclrp.errors import DoclrpError

__all__ = ["Budget", "DocumentTimeout", "check_seconds", "checked"]

# monotonic: a clock set back or forward mid-run moves no deadline (tests replace it)
_clock: Callable[[], float] = time.monotonic


class DocumentTimeout(DoclrpError):
    """A document's work ran past its time budget; ``stage`` says where it was stopped."""

    def __init__(self, seconds: float, stage: str) -> None:
        super().__init__(f"took longer than doc_timeout={seconds:g} s (stopped {stage})")
        self.seconds, self.stage = seconds, stage


def check_seconds(seconds: float | None, name: str = "doc_timeout") -> float | None:
    """``seconds`` as a time budget: a positive, finite number of seconds, or None (no budget).

    >>> check_seconds(2), check_seconds(None)
    (2.0, None)
    """
    if seconds is None:
        return None
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not (math.isfinite(seconds)
                                                                                  and seconds > 0):
        raise DoclrpError(f"{name} must be a positive number of seconds (or None: no limit), got {seconds!r}")
    return float(seconds)


class Budget:
    """``seconds`` of work from now (None: no limit) on a monotonic ``clock``; :meth:`check` raises
    :class:`DocumentTimeout` once they have passed. :meth:`stage` also adds up the time of each
    named stage in :attr:`seconds` (what ``--timings`` prints and the benchmarks read)."""

    def __init__(self, seconds: float | None = None, clock: Callable[[], float] | None = None) -> None:
        self.limit = check_seconds(seconds)
        self._clock = clock
        self.started = self.now()
        self.at = math.inf if self.limit is None else self.started + self.limit
        #: Seconds spent in each stage so far, by name, in the order the stages first ran.
        self.seconds: dict[str, float] = {}

    def now(self) -> float:
        # the module's clock read at each call, so that tests replacing it reach budgets made before
        return (self._clock or _clock)()

    def check(self, stage: str) -> None:
        """Raise :class:`DocumentTimeout` (``stage`` says where) if the budget is spent."""
        if self.limit is not None and self.now() > self.at:
            raise DocumentTimeout(self.limit, stage)

    def charge(self, name: str, seconds: float) -> None:
        """Count ``seconds`` of work done before this budget began (stage ``name``) against it.

        >>> budget = Budget(10, clock=lambda: 0.0)
        >>> budget.charge("reading", 4.0)
        >>> budget.at, budget.seconds
        (6.0, {'reading': 4.0})
        """
        self.at -= seconds
        self.seconds[name] = self.seconds.get(name, 0.0) + seconds

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        """Time the block as stage ``name`` (added to :attr:`seconds`); checked as it begins."""
        self.check(f"before {name}")
        begun = self.now()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + self.now() - begun


def checked(budget: Budget | None, stage: str) -> None:
    """``budget.check(stage)`` where there is a budget.

    >>> checked(None, "anywhere")
    """
    if budget is not None:
        budget.check(stage)
