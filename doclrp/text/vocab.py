"""Word ↔ id tables for models that take token ids.

>>> from doclrp.text import Vocabulary
>>> vocab = Vocabulary(min_freq=2).build([["The", "cat"], ["the", "dog"]])
>>> vocab.encode(["the", "cat", "THE"])
[2, 1, 2]
>>> vocab.decode([0, 1, 2])
['<pad>', '<unk>', 'the']

Id 0 is padding and id 1 the out-of-vocabulary token, always, so models can
set ``padding_idx=0`` without asking the vocabulary.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from doclrp.errors import DoclrpError

__all__ = ["Vocabulary"]

PAD_ID = 0
OOV_ID = 1


class Vocabulary:
    """Ids for the most frequent tokens of a corpus.

    ``min_freq``: tokens seen fewer times map to ``oov``. ``max_size``: most
    entries in total, the two special ones included (it is the embedding's
    row count). ``lower``: lower-case tokens when building and encoding.
    Ties in frequency are broken alphabetically, so the same corpus always
    gives the same ids.

    >>> v = Vocabulary(max_size=3).build([["b", "a", "c", "a"]])
    >>> v.tokens
    ['<pad>', '<unk>', 'a']
    """

    pad_id = PAD_ID
    oov_id = OOV_ID

    def __init__(
        self,
        min_freq: int = 1,
        max_size: int | None = None,
        lower: bool = True,
        oov: str = "<unk>",
        pad: str = "<pad>",
    ) -> None:
        if min_freq < 1:
            raise DoclrpError(f"min_freq must be >= 1, got {min_freq}")
        if max_size is not None and max_size < 2:
            raise DoclrpError(f"max_size counts the pad and oov entries, so it must be >= 2, got {max_size}")
        if oov == pad:
            raise DoclrpError(f"oov and pad must differ, both are {oov!r}")
        self.min_freq = min_freq
        self.max_size = max_size
        self.lower = lower
        self.oov = oov
        self.pad = pad
        self._set_tokens([pad, oov])

    def _set_tokens(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self._ids = {t: i for i, t in enumerate(tokens)}

    def _norm(self, token: str) -> str:
        return token.lower() if self.lower else token

    def build(self, documents: Iterable[Sequence[str]]) -> Vocabulary:
        """Count tokens over ``documents`` (lists of token strings); returns self.

        Building again replaces the previous table.
        """
        if isinstance(documents, str):
            raise DoclrpError("build expects an iterable of token lists, got one str; wrap it: [tokens]")
        counts: Counter[str] = Counter()
        for tokens in documents:
            if isinstance(tokens, str):
                raise DoclrpError("build expects token lists, got a str; split documents into tokens first")
            counts.update(map(self._norm, tokens))
        # A literal "<unk>" in the text must not become a second entry.
        counts.pop(self.pad, None)
        counts.pop(self.oov, None)
        kept = sorted((t for t, n in counts.items() if n >= self.min_freq), key=lambda t: (-counts[t], t))
        if self.max_size is not None:
            kept = kept[: self.max_size - 2]
        self._set_tokens([self.pad, self.oov, *kept])
        return self

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; unknown ones get `oov_id`."""
        if isinstance(tokens, str):
            raise DoclrpError("encode expects a list of tokens, got one str; pass [token] or tokenize first")
        get = self._ids.get
        return [get(self._norm(t), OOV_ID) for t in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` (as stored: lower-cased if ``lower``)."""
        n = len(self.tokens)
        out = []
        for i in ids:
            if not 0 <= int(i) < n:
                raise DoclrpError(f"id {int(i)} out of range for a vocabulary of {n} entries")
            out.append(self.tokens[int(i)])
        return out

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._norm(token) in self._ids

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocabulary) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Vocabulary(size={len(self)}, min_freq={self.min_freq}, max_size={self.max_size}, lower={self.lower})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe settings and table, for `from_dict` (e.g. a model's vocab.json)."""
        return {
            "min_freq": self.min_freq,
            "max_size": self.max_size,
            "lower": self.lower,
            "oov": self.oov,
            "pad": self.pad,
            "tokens": list(self.tokens),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Vocabulary:
        """The vocabulary that `to_dict` described."""
        try:
            vocab = cls(data["min_freq"], data["max_size"], data["lower"], data["oov"], data["pad"])
            tokens = list(data["tokens"])
        except KeyError as err:
            raise DoclrpError(f"vocabulary dict lacks {err}; it must come from Vocabulary.to_dict()") from err
        if tokens[:2] != [vocab.pad, vocab.oov] or len(set(tokens)) != len(tokens):
            raise DoclrpError("vocabulary tokens must start with pad, oov and hold no duplicates")
        vocab._set_tokens(tokens)
        return vocab
