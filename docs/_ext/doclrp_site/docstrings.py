"""doclrp's docstrings as reStructuredText: they are written to read well in ``help()`` and are
almost reST already; this hook (``autodoc-process-docstring``) fixes the three habits that are
not, on the site only: ``name: text`` field paragraphs, ``|x|`` for absolute values and glob
stars (``docs/*.html``).

>>> fix_lines(["relevance: the relevance", "    per token.", "delta: what leaked."])
[':relevance: the relevance', '    per token.', ':delta: what leaked.']
>>> fix_lines(["The largest |value| of ``a|b``, in docs/*.html."])
['The largest \\\\|value\\\\| of ``a|b``, in docs/\\\\*.html.']
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["fix_lines", "process_docstring"]

_FIELD = re.compile(r"^([a-z_][a-z0-9_]*): \S")
_CODE = re.compile(r"(``.+?``)")
_GLOB_STAR = re.compile(r"(?<=[/\w])\*(?=[.\w/])")


def _paragraphs(lines: list[str]) -> list[tuple[int, int]]:
    spans, start = [], None
    for i, line in enumerate([*lines, ""]):
        if line.strip() and start is None:
            start = i
        elif not line.strip() and start is not None:
            spans.append((start, i))
            start = None
    return spans


def _outside_code(line: str) -> str:
    if line.lstrip().startswith(">>>") or line.lstrip().startswith("..."):
        return line
    parts = _CODE.split(line)
    for i in range(0, len(parts), 2):  # even parts lie outside ``code``
        parts[i] = _GLOB_STAR.sub(r"\\*", parts[i].replace("|", "\\|"))
    return "".join(parts)


def fix_lines(lines: list[str]) -> list[str]:
    """The docstring's lines with field paragraphs made field lists and markup characters escaped."""
    lines = list(lines)
    for start, end in _paragraphs(lines):
        flush = [line for line in lines[start:end] if not line.startswith(" ")]
        if len(flush) > 1 and all(_FIELD.match(line) for line in flush):
            for i in range(start, end):
                if not lines[i].startswith(" "):
                    name, rest = lines[i].split(": ", 1)
                    lines[i] = f":{name}: {rest}"
    literal = False
    for i, line in enumerate(lines):
        if line.rstrip().endswith("::"):
            literal = True  # a literal block follows: left as it is
        elif literal and line.strip() and not line.startswith(" "):
            literal = False
        if not literal:
            lines[i] = _outside_code(line)
    return lines


def process_docstring(app: Any, what: str, name: str, obj: Any, options: Any, lines: list[str]) -> None:
    lines[:] = fix_lines(lines)
