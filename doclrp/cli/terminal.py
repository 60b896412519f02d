r"""Text from documents and model folders made safe to print on a terminal.

>>> print(printable("red \x1b[31mALERT\x1b[0m"))
red \x1b[31mALERT\x1b[0m

A document is data, not terminal commands: its control characters (escape sequences
that move the cursor, retitle the window or rewrite what was printed) and the bidi
overrides that reorder a line are shown escaped, as Python writes them.
"""

from __future__ import annotations

import re
import sys
import warnings
from contextlib import contextmanager

from doclrp.errors import DoclrpError

__all__ = ["printable", "warnings_as_lines", "top_words_text", "command_line_terms", "in_command_line_terms",
           "FLAG_NAMES"]

_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def printable(text: object) -> str:
    """``str(text)`` with control characters and bidi overrides escaped (``\\x1b``, ``\\u202e``)."""
    return _UNPRINTABLE.sub(lambda match: match.group().encode("unicode_escape").decode("ascii"), str(text))


@contextmanager
def warnings_as_lines(stream=None):
    """doclrp's own warnings as one ``doclrp: warning: ...`` line each on stderr (each line once: a
    command that explains twice, for its page's target switch, says it once); others as Python
    shows them.

    >>> import io
    >>> from doclrp._explain import UnplacedRelevanceWarning
    >>> err = io.StringIO()
    >>> with warnings_as_lines(err):
    ...     warnings.warn("half of it lies on no word", UnplacedRelevanceWarning)
    >>> err.getvalue()
    'doclrp: warning: half of it lies on no word\\n'
    """
    with warnings.catch_warnings():
        original = warnings.showwarning
        shown: set[str] = set()

        def show(message, category, filename, lineno, file=None, line=None):
            if category.__module__.split(".")[0] == "doclrp":
                text = printable(f"doclrp: warning: {message}")
                if text not in shown:
                    shown.add(text)
                    print(text, file=stream or sys.stderr)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


def top_words_text(explanation, top: int, leave_out) -> str:
    """The top words for and against an explanation's target in one line: repeated words
    grouped (``×count``, relevance summed), ``leave_out`` left out (see :mod:`doclrp.text.terms`).

    >>> from doclrp.text.explanation import Explanation, _EXAMPLE
    >>> top_words_text(Explanation.from_dict(_EXAMPLE), 3, ("punct",))
    'Up +1.500; against: down -0.500'
    """
    def shown(sign: int) -> str:
        terms = explanation.top_terms(top, sign, leave_out)
        return ", ".join(f"{t.text}{f' ×{t.count}' if t.count > 1 else ''} {t.relevance:+.3f}" for t in terms) or "-"

    return f"{shown(+1)}; against: {shown(-1)}"


#: How the library's messages name its Python arguments, and what a command-line user types
#: instead. The library stays in Python terms (it is called from Python too); the commands
#: translate the messages they pass on.
FLAG_NAMES = (
    (re.compile(r"pass on_error='skip'"), "pass --on-error skip"),
    (re.compile(r"on_error='skip'"), "--on-error skip"),
    (re.compile(r"pass target_columns naming"), "give --target-column NAME (once per output) naming"),
    (re.compile(r"\btarget_(?:columns|names)\b"), "--target-column options"),
    (re.compile(r"glove=True"), "--glove"),
    (re.compile(r"\bmodel='([\w-]+)'"), r"--model \1"),
    (re.compile(r"\bbatch_size >= 1"), "--batch-size >= 1"),
    (re.compile(r"\bmax_len >= 8"), "--max-len >= 8"),
    (re.compile(r"\bneed epochs >= 1"), "need --epochs >= 1"),
    (re.compile(r"save (?:the pipeline again|one) with save_pipeline"), "train it again with doclrp train"),
    (re.compile(r"pass reference as one number per output"), "give --reference as one number per output"),
    (re.compile(r"retrain, or pass numbers"), "retrain, or give --reference numbers"),
    (re.compile(r"use device='cpu'"), "use --device cpu"),
)


def command_line_terms(message: str) -> str:
    """``message`` with the Python arguments it names written as the command line's flags.

    >>> command_line_terms("line 3 of c.jsonl is not JSON; fix the line or pass on_error='skip' to skip such lines")
    'line 3 of c.jsonl is not JSON; fix the line or pass --on-error skip to skip such lines'
    """
    for pattern, flag in FLAG_NAMES:
        message = pattern.sub(flag, message)
    return message


@contextmanager
def in_command_line_terms():
    """Errors raised inside the block come out with :func:`command_line_terms` applied.

    >>> with in_command_line_terms():
    ...     raise DoclrpError("glove=True needs a word-embedding model: use model='bag' or model='cnn'")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: --glove needs a word-embedding model: use --model bag or --model cnn
    """
    try:
        yield
    except DoclrpError as error:
        translated = command_line_terms(str(error))
        if translated == str(error):
            raise
        raise DoclrpError(translated) from None
