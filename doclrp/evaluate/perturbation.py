"""MoRF and LeRF curves on the model's inputs: a word's token ids deleted, or replaced.

>>> from doclrp import explain
>>> from doclrp.models import IdEncoder, TextCNN, TextPipeline
>>> encoder = IdEncoder.fit(["good fun film", "bad dull film"])
>>> pipe = TextPipeline(TextCNN(len(encoder.vocabulary), 4, (1,), 2, 2), encoder, ["neg", "pos"])
>>> e = explain(pipe, "a good, fun film")
>>> perturbation_curves(pipe, [e], direction="morf", mode="deletion").shape  # shares 0, 0.1 … 1
(1, 11)
>>> removal_order(e, "lerf") == removal_order(e, "morf")[::-1]
True

A document is encoded once, as ``explain`` encodes it (its model tokens and their
character spans); each token belongs to the word whose characters it starts in. Removing
a set of words then acts on those token ids, never on re-tokenized text:

- ``deletion``: the words' tokens leave the sequence (it gets shorter);
- ``replacement``: each of their tokens becomes one stand-in id (the length stays): the
  tokenizer's mask token for a Hugging Face model (else its unknown, else its padding
  token), the vocabulary's unknown id (``<unk>``) for a model over word ids.

Curves are the explained value (``Explanation.target``'s weights over the outputs, so a
weighted target or one output of a regressor is measured as it was explained) after
removing the first ``round(share · n_words)`` words of the order, for each share of
``shares`` (0 first: the document as written). ``morf``: most relevant first (ties by
position); ``lerf``: the exact reverse; ``random``: a seeded permutation per document.
Long documents are cut into the windows ``explain`` uses and their outputs averaged.
A bag-of-features model has no token ids: its words are cut from the text and the text
encoded again (an unknown word has no feature, so ``replacement`` equals ``deletion``).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence

import numpy as np
import torch

from doclrp._explain import sequence_protocol, window_output_sums, document_outputs, window_starts
from doclrp.errors import DoclrpError
from doclrp.evaluate.deletion import explained_weights, text_without
from doclrp.text import Explanation

__all__ = ["SHARES", "DIRECTIONS", "MODES", "perturbation_curves", "removal_order", "removed_count",
           "replacement_id", "token_owners"]

#: Shares of a document's words removed: 0 (as written), 10 % … 100 % (ERASER's and ferret's grid).
SHARES = tuple(step / 10 for step in range(11))
DIRECTIONS = ("morf", "lerf", "random")
MODES = ("deletion", "replacement")


def removed_count(share: float, n_words: int) -> int:
    """Words removed at ``share``: ``share · n_words`` rounded half up.

    >>> [removed_count(s, 5) for s in (0, 0.1, 0.5, 1)]
    [0, 1, 3, 5]
    """
    return min(n_words, math.floor(share * n_words + 0.5 + 1e-9))


def removal_order(explanation: Explanation, direction: str, seed: int = 0) -> list[int]:
    """Word indices of ``explanation`` in the order they are removed (see the module)."""
    if direction not in DIRECTIONS:
        raise DoclrpError(f"direction must be one of {', '.join(DIRECTIONS)}, got {direction!r}")
    n = len(explanation.words)
    if direction == "random":
        return np.random.default_rng(seed).permutation(n).tolist()
    morf = sorted(range(n), key=lambda i: (-explanation.words[i].relevance, i))
    return morf if direction == "morf" else morf[::-1]


def replacement_id(pipeline) -> int:
    """The id that stands in for a replaced token (see the module)."""
    tokenizer = getattr(pipeline, "tokenizer", None)
    if tokenizer is not None:
        for name in ("mask_token_id", "unk_token_id", "pad_token_id"):
            value = getattr(tokenizer, name, None)
            if isinstance(value, int):
                return value
        raise DoclrpError("the tokenizer has no mask, unknown or padding token to replace words with")
    vocabulary = getattr(getattr(pipeline, "encoder", None), "vocabulary", None)
    if vocabulary is None:
        raise DoclrpError("replacement needs a model over token ids; this model reads a bag of features")
    return int(vocabulary.oov_id)


def token_owners(explanation: Explanation, spans: Sequence[tuple[int, int]]) -> list[int]:
    """Per token span, the index of the word whose characters it starts in (−1: none).

    >>> from types import SimpleNamespace as W
    >>> e = W(words=[W(start=0, end=3), W(start=4, end=9)])
    >>> token_owners(e, [(0, 2), (2, 3), (3, 4), (4, 9)])
    [0, 0, -1, 1]
    """
    starts = [w.start for w in explanation.words]
    owners = []
    for begin, _ in spans:
        index = bisect.bisect_right(starts, begin) - 1
        owners.append(index if index >= 0 and begin < explanation.words[index].end else -1)
    return owners


def perturbation_curves(pipeline, explanations: Sequence[Explanation], *, direction: str = "morf",
                        mode: str = "deletion", shares: Sequence[float] = SHARES, seed: int = 0,
                        batch_size: int = 16) -> np.ndarray:
    """``(n_explanations, len(shares))``: the explained value of each document with the first
    ``round(share · n_words)`` words of ``direction``'s order deleted or replaced (``mode``).

    ``seed`` draws the random order (document ``i`` uses ``seed + i``).
    """
    if mode not in MODES:
        raise DoclrpError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    shares = [float(s) for s in shares]
    if not shares or shares[0] != 0 or any(b <= a for a, b in zip(shares, shares[1:])) or shares[-1] > 1:
        raise DoclrpError(f"shares must rise from 0 to at most 1, got {shares}")
    if not explanations:
        return np.zeros((0, len(shares)))
    weights = torch.stack([explained_weights(e, pipeline) for e in explanations])
    orders = [removal_order(e, direction, seed + i) for i, e in enumerate(explanations)]
    removals = [[set(order[: removed_count(s, len(order))]) for s in shares] for order in orders]
    sequence = sequence_protocol(pipeline)
    if sequence is None:
        outputs = _bag_outputs(pipeline, explanations, removals, batch_size)
    else:
        outputs = _sequence_outputs(pipeline, sequence, explanations, removals, mode, batch_size)
    outputs = outputs.reshape(len(explanations), len(shares), -1)
    return (outputs * weights.unsqueeze(1)).sum(-1).numpy()


def _sequence_outputs(pipeline, sequence, explanations, removals, mode: str, batch_size: int) -> torch.Tensor:
    stand_in = replacement_id(pipeline) if mode == "replacement" else None
    windows = []
    encoded = sequence.tokens(explanations)  # an Explanation has the .text and .words a Document has
    row = 0
    for (ids, spans), explanation, sets in zip(encoded, explanations, removals):
        owners = token_owners(explanation, spans)
        for removed in sets:
            if stand_in is None:
                kept = [t for t, owner in zip(ids, owners) if owner not in removed]
            else:
                kept = [stand_in if owner in removed else t for t, owner in zip(ids, owners)]
            for start in window_starts(len(kept), sequence.max_tokens, sequence.max_tokens // 4):
                windows.append((row, start, kept[start : start + sequence.max_tokens]))
            row += 1
    was_training = pipeline.model.training
    pipeline.model.eval()
    try:
        sums, counts = window_output_sums(pipeline, sequence, windows, row, batch_size)
    finally:
        pipeline.model.train(was_training)
    return sums / counts


def _bag_outputs(pipeline, explanations, removals, batch_size: int) -> torch.Tensor:
    texts = [text_without(e, removed) for e, sets in zip(explanations, removals) for removed in sets]
    return document_outputs(pipeline, texts, batch_size=batch_size)
