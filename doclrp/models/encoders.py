"""Encoders: texts → model inputs, and model-input relevance → words.

>>> from doclrp.models.encoders import TfidfEncoder
>>> encoder = TfidfEncoder.fit(["Stocks fell.", "Stocks rose, stocks!"], min_df=1)
>>> encoder.terms
['fell', 'rose', 'stocks']
>>> encoder.encode(["Stocks fell"]).shape
torch.Size([1, 3])

An encoder owns the tokenization a model was trained with. It always uses
spaCy's rule tokenizer (``pipeline="blank"``), whatever spaCy models are
installed, so a saved model sees the same tokens on every machine. Both
encoders offer the rest of doclrp the same interface:

- ``inputs(texts)``: the model input batch;
- ``token_relevance(text, relevance)``: one sample's input relevance spread
  over the character spans of the model tokens in ``text`` (a
  :class:`TokenRelevance`), ready for ``doclrp.text.build_explanation``;
  ``sum(relevance) + unassigned`` equals the sum of the input relevance;
- ``input_size``: distinct inputs, the model's ``vocab_size`` / ``n_features``;
- ``config`` (small, JSON-safe, kept in config.json), ``state()`` (large,
  JSON-safe, kept in the file named ``state_file``) and
  ``from_parts(config, state)`` to rebuild.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

import numpy as np
import torch

from doclrp.errors import DoclrpError
from doclrp.text import Token, Vocabulary, tokenize_many

__all__ = ["Encoded", "TokenRelevance", "TextEncoder", "IdEncoder", "TfidfEncoder", "ENCODER_TYPES", "word_tokens"]


class Encoded(NamedTuple):
    """Model inputs and, per sample, the ``(start, end)`` characters of each model token."""

    inputs: torch.Tensor
    spans: list[list[tuple[int, int]]]


class TokenRelevance(NamedTuple):
    """Relevance of one sample's model tokens, by character span.

    ``unassigned``: relevance the input carried on nothing in the text
    (padding positions, tf-idf features absent from the document); reported,
    not dropped, so sums are conserved.
    """

    spans: list[tuple[int, int]]
    relevance: list[float]
    unassigned: float


def word_tokens(texts: Sequence[str]) -> list[Sequence[Token]]:
    """The words of each text by spaCy's rule tokenizer (the encoders' tokenization).

    >>> [w.text for w in word_tokens(["Don't panic."])[0]]
    ['Do', "n't", 'panic', '.']
    """
    if isinstance(texts, str):
        raise DoclrpError("expected a list of texts, got one str: wrap it in a list")
    return [doc.words for doc in tokenize_many(list(texts), pipeline="blank")]


def _row(relevance: Any) -> np.ndarray:
    if isinstance(relevance, torch.Tensor):
        relevance = relevance.detach().double().cpu().numpy()
    row = np.asarray(relevance, dtype=np.float64)
    if row.ndim != 1:
        raise DoclrpError(f"token_relevance takes one sample's relevance (1-d), got shape {row.shape}")
    return row


class TextEncoder(Protocol):
    """What a :class:`~doclrp.models.TextPipeline` reads of its encoder: texts → model inputs,
    one sample's input relevance → relevance per token span (:class:`IdEncoder`,
    :class:`TfidfEncoder`, a converted scikit-learn vectorizer)."""

    @property
    def input_size(self) -> int: ...

    def inputs(self, texts: Sequence[str]) -> torch.Tensor: ...

    def token_relevance(self, text: str, relevance: Any) -> TokenRelevance: ...


class IdEncoder:
    """Word ids for TextCNN / EmbeddingBagModel: lower-cased words, truncated to
    ``max_len``, padded with 0 to the longest text of the batch.

    >>> encoder = IdEncoder.fit(["a b c", "b c"], max_len=2)
    >>> ids, spans = encoder.encode(["b c a", "c"])
    >>> ids.shape, spans
    (torch.Size([2, 2]), [[(0, 1), (2, 3)], [(0, 1)]])
    """

    encoder_type = "ids"
    state_file = "vocab.json"

    def __init__(self, vocabulary: Vocabulary, max_len: int = 400) -> None:
        if int(max_len) != max_len or max_len < 1:
            raise DoclrpError(f"max_len must be a positive integer, got {max_len!r}")
        if vocabulary.pad_id != 0:
            raise DoclrpError(f"the models pad with id 0, but this vocabulary pads with {vocabulary.pad_id}")
        self.vocabulary = vocabulary
        self.max_len = int(max_len)

    @classmethod
    def fit(
        cls, texts: Sequence[str], max_len: int = 400, min_freq: int = 1, max_size: int | None = None
    ) -> IdEncoder:
        """A vocabulary of the words of ``texts`` (seen ``min_freq`` times, ``max_size`` at most)."""
        vocabulary = Vocabulary(min_freq=min_freq, max_size=max_size, lower=True)
        # Only the first max_len words are ever encoded: counting the rest
        # would spend vocabulary slots on words the model never sees.
        vocabulary.build([w.text for w in words[:max_len]] for words in word_tokens(texts))
        return cls(vocabulary, max_len)

    @property
    def input_size(self) -> int:
        return len(self.vocabulary)

    @property
    def config(self) -> dict[str, Any]:
        return {"max_len": self.max_len}

    def state(self) -> dict[str, Any]:
        return self.vocabulary.to_dict()

    @classmethod
    def from_parts(cls, config: dict[str, Any], state: dict[str, Any]) -> IdEncoder:
        return cls(Vocabulary.from_dict(state), **config)

    def encode(self, texts: Sequence[str]) -> Encoded:
        """``(ids (batch, seq) long, spans)``; ``seq`` ≥ 1 even for empty texts."""
        rows, spans = [], []
        for words in word_tokens(texts):
            words = words[: self.max_len]
            rows.append(self.vocabulary.encode([w.text for w in words]))
            spans.append([(w.start, w.end) for w in words])
        ids = torch.zeros(len(rows), max([1, *map(len, rows)]), dtype=torch.long)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = torch.tensor(row, dtype=torch.long)
        return Encoded(ids, spans)

    def inputs(self, texts: Sequence[str]) -> torch.Tensor:
        return self.encode(texts).inputs

    def token_relevance(self, text: str, relevance: Any) -> TokenRelevance:
        """Relevance ``(seq,)`` of one sample's ids → per-word spans; padding → unassigned.

        >>> encoder = IdEncoder.fit(["a b"])
        >>> encoder.token_relevance("a b", [0.5, 0.25, 0.125])
        TokenRelevance(spans=[(0, 1), (2, 3)], relevance=[0.5, 0.25], unassigned=0.125)
        """
        row = _row(relevance)
        spans = self.encode([text]).spans[0]
        if len(row) < len(spans):
            raise DoclrpError(f"relevance has {len(row)} positions but the text encodes to {len(spans)} tokens")
        return TokenRelevance(spans, row[: len(spans)].tolist(), float(row[len(spans) :].sum()))


class TfidfEncoder:
    """tf-idf vectors for BowMLP, fitted with scikit-learn's TfidfVectorizer on
    lower-cased words; stored as plain JSON (terms and idf), never pickled.
    Tokens without a letter or digit (punctuation) are not features, as in
    scikit-learn's default token pattern.

    >>> encoder = TfidfEncoder.fit(["red red blue", "blue"], min_df=1)
    >>> encoder.terms
    ['blue', 'red']
    >>> [(start, end, encoder.terms[f]) for start, end, f in encoder.feature_spans("Red, blue")]
    [(0, 3, 'red'), (5, 9, 'blue')]
    """

    encoder_type = "tfidf"
    state_file = "tfidf.json"

    def __init__(self, terms: Sequence[str], idf: Sequence[float], sublinear_tf: bool = True) -> None:
        if len(terms) != len(idf) or not terms:
            raise DoclrpError(f"tf-idf needs one idf per term and at least one term, got {len(terms)} and {len(idf)}")
        from sklearn.feature_extraction.text import TfidfVectorizer  # lazily: half a second to import

        self.terms = list(terms)
        self.index = {term: i for i, term in enumerate(self.terms)}
        self.sublinear_tf = bool(sublinear_tf)
        # The analyzer is the identity: texts are tokenized in batches by
        # word_tokens before they reach scikit-learn.
        self._vectorizer = TfidfVectorizer(analyzer=_identity, vocabulary=self.index, sublinear_tf=self.sublinear_tf)
        self._vectorizer.idf_ = np.asarray(idf, dtype=np.float64)

    @classmethod
    def fit(
        cls, texts: Sequence[str], min_df: int = 2, max_features: int | None = 20000, sublinear_tf: bool = True
    ) -> TfidfEncoder:
        """Terms and idf from ``texts``: words in ``min_df`` texts or more, the
        ``max_features`` most frequent."""
        from sklearn.feature_extraction.text import TfidfVectorizer  # lazily: half a second to import

        vectorizer = TfidfVectorizer(
            analyzer=_identity, min_df=min_df, max_features=max_features, sublinear_tf=sublinear_tf
        )
        try:
            vectorizer.fit(_lowered(texts))
        except ValueError as error:  # scikit-learn: "empty vocabulary", "max_df < min_df" ...
            raise DoclrpError(f"cannot fit tf-idf on these texts: {error}") from None
        return cls(vectorizer.get_feature_names_out().tolist(), vectorizer.idf_.tolist(), sublinear_tf)

    @property
    def n_features(self) -> int:
        return len(self.terms)

    input_size = n_features

    @property
    def config(self) -> dict[str, Any]:
        return {"sublinear_tf": self.sublinear_tf}

    def state(self) -> dict[str, Any]:
        return {"terms": self.terms, "idf": self._vectorizer.idf_.tolist()}

    @classmethod
    def from_parts(cls, config: dict[str, Any], state: dict[str, Any]) -> TfidfEncoder:
        return cls(state["terms"], state["idf"], **config)

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        """Dense float32 ``(batch, n_features)``, each row of unit L2 norm (or zero)."""
        matrix = self._vectorizer.transform(_lowered(texts))
        return torch.from_numpy(matrix.toarray().astype(np.float32))

    inputs = encode

    def feature_spans(self, text: str) -> list[tuple[int, int, int]]:
        """``(start, end, feature index)`` of every word occurrence in ``text``
        that is a feature; words that are not features are left out."""
        return [
            (w.start, w.end, self.index[w.text.lower()])
            for w in word_tokens([text])[0]
            if w.text.lower() in self.index
        ]

    def token_relevance(self, text: str, relevance: Any) -> TokenRelevance:
        """Feature relevance ``(n_features,)`` → relevance per word occurrence.

        A feature's relevance is shared equally by its occurrences in ``text``
        (the tf-idf value does not say which occurrence mattered); relevance on
        features absent from ``text`` is ``unassigned``. The sum is conserved.

        >>> encoder = TfidfEncoder.fit(["a b", "b"], min_df=1)
        >>> encoder.token_relevance("b a b", [0.5, 1.0])
        TokenRelevance(spans=[(0, 1), (2, 3), (4, 5)], relevance=[0.5, 0.5, 0.5], unassigned=0.0)
        """
        row = _row(relevance)
        if len(row) != self.n_features:
            raise DoclrpError(f"relevance has {len(row)} features, the encoder has {self.n_features}")
        occurrences = self.feature_spans(text)
        counts = Counter(f for _, _, f in occurrences)
        present = np.zeros(self.n_features, dtype=bool)
        present[list(counts)] = True
        return TokenRelevance(
            [(start, end) for start, end, _ in occurrences],
            [float(row[f] / counts[f]) for _, _, f in occurrences],
            float(row[~present].sum()),
        )


def _identity(tokens: list[str]) -> list[str]:
    return tokens


def _lowered(texts: Sequence[str]) -> list[list[str]]:
    """Per text, its lower-cased words that hold a letter or digit: the tf-idf terms."""
    return [[w.text.lower() for w in words if any(c.isalnum() for c in w.text)] for words in word_tokens(texts)]


ENCODER_TYPES = {cls.encoder_type: cls for cls in (IdEncoder, TfidfEncoder)}
