"""CSV text that is safe to open in a spreadsheet: every CSV doclrp writes goes through here.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return is a formula
to Excel, LibreOffice and Google Sheets: a word or an id such as ``=HYPERLINK("http://…")``
would run when the file is opened. Such text cells get a leading ``'`` (OWASP's rule for
CSV injection), which spreadsheets show as text; numbers are given as numbers and stay
numbers (``-0.25`` is written as it is).

>>> print(csv_text([["word", "relevance"], ["=HYPERLINK(1)", -0.25], ["-", 1], ["@me", 0.5]]), end="")
word,relevance
'=HYPERLINK(1),-0.25
'-,1
'@me,0.5
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

__all__ = ["csv_text", "spreadsheet_safe", "FORMULA_STARTS"]

#: What a spreadsheet reads as the start of a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value: Any) -> Any:
    """A text cell that would start a formula, with ``'`` before it; anything else as it is.

    >>> spreadsheet_safe("+1 555"), spreadsheet_safe("fine"), spreadsheet_safe(-2.5)
    ("'+1 555", 'fine', -2.5)
    """
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_text(rows: Iterable[Sequence[Any]], lineterminator: str = "\n") -> str:
    """``rows`` as CSV: text cells made :func:`spreadsheet_safe`, floats written exactly
    (``repr``: they read back to the same number), None as an empty cell."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=lineterminator)
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)
    return spreadsheet_safe(value)
