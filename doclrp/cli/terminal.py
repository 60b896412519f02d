r"""Text from documents and model folders made safe to print on a terminal.

>>> print(printable("red \x1b[31mALERT\x1b[0m"))
red \x1b[31mALERT\x1b[0m

A document is data, not terminal commands: its control characters (escape sequences
that move the cursor, retitle the window or rewrite what was printed) and the bidi
overrides that reorder a line are shown escaped, as Python writes them.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``str(text)`` with control characters and bidi overrides escaped (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), str(text))
