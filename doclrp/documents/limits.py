"""The bounds every document reader keeps: bytes, pages, unzipped size, nesting, time.

>>> limits = Limits(max_pages=2)
>>> limits.check_pages(3, "report.pdf")
Traceback (most recent call last):
doclrp.errors.DoclrpError: report.pdf has 3 pages, more than --max-pages 2: split it or raise the limit
>>> Limits(timeout=None).deadline().check("reading")  # no limit: never raises

The messages name the command-line option that raises each bound, as the other one-line
errors of doclrp do.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from doclrp.errors import DoclrpError

__all__ = ["Limits", "Deadline", "MAX_BYTES", "MAX_PAGES", "MAX_UNZIPPED", "MAX_RATIO", "MAX_NESTING"]

#: Largest file read (``--max-bytes``): a 500-page report with images is rarely over 50 MB.
MAX_BYTES = 64 * 1024 * 1024
#: Most PDF pages read (``--max-pages``).
MAX_PAGES = 500
#: Most bytes a Word file's parts may unzip to, all together, and the largest ratio of one
#: part's unzipped to zipped size: a zip bomb is refused by its directory, before any part is read.
MAX_UNZIPPED = 256 * 1024 * 1024
MAX_RATIO = 200
#: Deepest element nesting read from HTML or a Word part (browsers stop nesting near 512).
MAX_NESTING = 512

# monotonic: a clock set back or forward mid-read moves no deadline (tests replace it)
_clock = time.monotonic


@dataclass(frozen=True)
class Limits:
    """Bounds of one read: ``max_bytes`` of the file, ``max_pages`` of a PDF, ``max_unzipped``
    bytes and ``max_ratio`` of a Word file's parts, ``max_nesting`` of HTML and XML elements,
    ``timeout`` seconds for reading and rendering (None: no limit)."""

    max_bytes: int = MAX_BYTES
    max_pages: int = MAX_PAGES
    max_unzipped: int = MAX_UNZIPPED
    max_ratio: float = MAX_RATIO
    max_nesting: int = MAX_NESTING
    timeout: float | None = None

    def __post_init__(self) -> None:
        for name in ("max_bytes", "max_pages", "max_unzipped", "max_ratio", "max_nesting"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                raise DoclrpError(f"{name} must be a positive number, got {value!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise DoclrpError(f"timeout must be a positive number of seconds (or None: no limit), got {self.timeout!r}")

    def check_bytes(self, size: int, name: str) -> None:
        if size > self.max_bytes:
            raise DoclrpError(f"{name} has {size:,} bytes, more than --max-bytes {self.max_bytes:,}: "
                              "raise the limit to read it")

    def check_pages(self, pages: int, name: str) -> None:
        if pages > self.max_pages:
            raise DoclrpError(f"{name} has {pages:,} pages, more than --max-pages {self.max_pages:,}: "
                              "split it or raise the limit")

    def deadline(self) -> Deadline:
        """The deadline of one read, starting now."""
        return Deadline(self.timeout)


class Deadline:
    """``seconds`` from its making on the monotonic clock (None: never); `check` raises once passed."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else _clock() + seconds

    def check(self, stage: str) -> None:
        if self.at is not None and _clock() > self.at:
            raise DoclrpError(f"{stage} took longer than --doc-timeout {self.seconds:g} s: raise the limit "
                              "or split the document")
