"""Small Markdown helpers shared by the page generators: escaping text that came from code."""

from __future__ import annotations

import re

__all__ = ["escape", "cell", "code", "code_cell", "first_sentence", "prose_cell", "rst_roles_to_markdown"]

# CommonMark lets a backslash escape any ASCII punctuation; these are the ones that start markup.
_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#|!~$])")
_ROLE = re.compile(r":(?:py:)?(?:func|meth|class|data|attr|mod|obj|exc|const):`~?([^`]+)`")


def escape(text: str) -> str:
    """``text`` shown literally in Markdown (help strings, descriptions written for terminals).

    >>> escape("a|b *c* <d>")
    'a\\\\|b \\\\*c\\\\* \\\\<d\\\\>'
    """
    return _SPECIAL.sub(r"\\\1", text)


def cell(text: str) -> str:
    """``text`` escaped for one table cell: one line, pipes escaped."""
    return escape(" ".join(text.split()))


_CODE_SPAN = re.compile(r"(``.+?``|`[^`]+`)")
_PROSE_SPECIAL = re.compile(r"([\\*_<>|\[\]])")


def prose_cell(text: str) -> str:
    """Docstring prose for one table cell: code spans (````x```` and ```x```) kept, Markdown reads
    both as code, everything else shown literally, on one line.

    >>> print(prose_cell("Explain ``a|b`` for |x| and *args"))
    Explain ``a\\|b`` for \\|x\\| and \\*args
    """
    parts = _CODE_SPAN.split(" ".join(text.split()))
    for i, part in enumerate(parts):
        # inside code only the pipe is escaped: a table cell ends at a bare one even there
        parts[i] = part.replace("|", "\\|") if i % 2 else _PROSE_SPECIAL.sub(r"\\\1", part)
    return "".join(parts)


def code(text: str) -> str:
    """``text`` as inline code, with a fence longer than any run of backticks inside it.

    >>> code("a`b")
    '``a`b``'
    """
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def rst_roles_to_markdown(text: str) -> str:
    """Docstring markup read as Markdown: ``:func:`x``` becomes ```x``` (double backticks are code either way).

    >>> rst_roles_to_markdown("see :func:`explain` and :class:`~doclrp.Target`")
    'see `explain` and `Target`'
    """
    return _ROLE.sub(_role_as_code, text)


def _role_as_code(match: re.Match[str]) -> str:
    name = match.group(1)
    # a leading ~ shows the last part of a dotted name only, as Sphinx does
    return f"`{name.rsplit('.', 1)[-1] if '~' in match.group(0) else name}`"


def first_sentence(docstring: str | None) -> str:
    """The opening prose of a docstring (its runnable example skipped), one line, for summary tables.

    >>> first_sentence('>>> 1 + 1\\n2\\n\\nAdds. More here.')
    'Adds.'
    >>> first_sentence("Saliency (Simonyan et al. 2014). More.")
    'Saliency (Simonyan et al. 2014).'
    """
    for paragraph in (docstring or "").strip().split("\n\n"):
        paragraph = " ".join(line.strip() for line in paragraph.splitlines() if line.strip())
        if not paragraph or paragraph.startswith(">>>"):
            continue
        return rst_roles_to_markdown(_first_sentence(paragraph))
    return ""


def _first_sentence(paragraph: str) -> str:
    depth = 0  # a full stop inside parentheses ("et al.", "eq.") ends no sentence
    for i, char in enumerate(paragraph):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char in ".!?" and depth <= 0 and (i + 1 == len(paragraph) or paragraph[i + 1].isspace()):
            return paragraph[:i + 1]
    return paragraph


def code_cell(text: str) -> str:
    """``text`` as inline code inside a table cell (a bare pipe would end the cell, even in code).

    >>> print(code_cell("a|b"))
    `a\\|b`
    """
    return code(text).replace("|", "\\|")
