"""Explanations as pandas DataFrames: one row per word. pandas is optional (``pip install
'doclrp[frames]'``); without it these functions say so in one line.

>>> from doclrp.text import tokenize, build_explanation, Prediction
>>> doc = tokenize("Great match.\\n\\nPoor ref.", pipeline="blank")
>>> exp = build_explanation(
...     doc, [(w.start, w.end) for w in doc.words], [2.0, 0.5, 0.0, -1.0, 0.25, 0.0],
...     labels=["business", "sport"], task="classification",
...     prediction=Prediction.from_logits([0.0, 2.0], ["business", "sport"]),
...     target="sport", target_value=2.0, delta=0.25)
>>> words_frame([exp]).iloc[3].to_dict()
{'word': 'Poor', 'start': 14, 'end': 18, 'sentence': 1, 'relevance': -1.0}
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from doclrp.errors import DoclrpError

__all__ = ["WORD_COLUMNS", "require_pandas", "words_frame"]

#: Columns of a word frame, after any per-document columns.
WORD_COLUMNS = ("word", "start", "end", "sentence", "relevance")


def require_pandas() -> Any:
    """The pandas module, or a one-line `DoclrpError` saying how to install it."""
    try:
        import pandas  # lazily: an optional dependency, and a second to import
    except ImportError:
        raise DoclrpError("DataFrames need pandas: pip install pandas (or pip install 'doclrp[frames]')") from None
    return pandas


def words_frame(explanations: Iterable[Any], documents: Sequence[str | int] | None = None) -> Any:
    """One row per word of ``explanations`` (each an `Explanation`): ``WORD_COLUMNS``, after a
    ``document`` column (from ``documents``, one name per explanation) when given."""
    pd = require_pandas()
    rows: list[tuple] = []
    names: list[Any] = []
    for n, explanation in enumerate(explanations):
        rows.extend(explanation.words)
        if documents is not None:
            names.extend([documents[n]] * len(explanation.words))
    frame = pd.DataFrame.from_records(rows, columns=list(WORD_COLUMNS))
    frame = frame.astype({"start": "int64", "end": "int64", "sentence": "int64", "relevance": "float64"})
    if documents is not None:
        frame.insert(0, "document", names)
    return frame
