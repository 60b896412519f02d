"""Text models built only from modules the LRP engine attaches rules to.

>>> import torch
>>> from doclrp.models.text import TextCNN
>>> model = TextCNN(vocab_size=50, embed_dim=8, channels=4, n_outputs=3)
>>> model(torch.randint(1, 50, (2, 7))).shape
torch.Size([2, 3])

Every activation, pooling and dropout is its own module (never ``F.relu`` in
``forward``) so the engine can find it by ``isinstance`` and attach a rule;
the only functional operations left are reshapes, zero padding, ``cat`` and
the TextCNN's 0/1 padding mask, which pass gradient (and so relevance) through
unchanged. Each model ends in a Linear layer named ``head``: training folds the
scale of regression targets into it. Each declares ``zero_is_absent``: an input of 0 (a
tf-idf feature of a word the document lacks, a padded position) is no part of the document,
so the engine's rules give it no relevance (see :mod:`doclrp.core.session`). ``BowMLP`` declares
``input_bounds = (0, 1)`` (its tf-idf rows have unit L2 norm), the box of z^B; the models over word ids
need none (z^B's box is the range of their embedding matrix). ``config`` holds the constructor keyword
arguments as JSON-safe values, so ``type(model)(**model.config)`` rebuilds the
architecture.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from doclrp.errors import DoclrpError
from doclrp.models.registry import ModelKind

__all__ = ["TextCNN", "TextLSTM", "BowMLP", "EmbeddingBagModel", "CNN", "LSTM", "BOW", "BAG"]


def _positive(value: int, name: str) -> int:
    if int(value) != value or value < 1:
        raise DoclrpError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def _positives(values: Sequence[int], name: str) -> list[int]:
    if isinstance(values, int):
        values = (values,)
    return [_positive(v, name) for v in values]


def _probability(value: float, name: str) -> float:
    if not 0.0 <= value < 1.0:
        raise DoclrpError(f"{name} must be in [0, 1), got {value!r}")
    return float(value)


def _word_model_sizes(vocab_size: int, embed_dim: int, n_outputs: int, padding_idx: int) -> dict:
    """The checked sizes every model over word ids has, as its config entries."""
    vocab_size = _positive(vocab_size, "vocab_size")
    if not 0 <= padding_idx < vocab_size:
        raise DoclrpError(f"padding_idx must be in [0, {vocab_size}), got {padding_idx}")
    return {"vocab_size": vocab_size, "embed_dim": _positive(embed_dim, "embed_dim"),
            "n_outputs": _positive(n_outputs, "n_outputs"), "padding_idx": padding_idx}


class TextCNN(nn.Module):
    """Kim (2014) convolutional classifier/regressor over word ids.

    Embedding → Dropout(embed_dropout) → per width: Conv1d → ReLU → max over
    time → concat → Dropout(dropout) → Linear. Input ``(batch, seq)`` long ids, padding id 0; output
    ``(batch, n_outputs)``.

    >>> import torch
    >>> model = TextCNN(vocab_size=20, embed_dim=4, widths=(2, 5), channels=3, n_outputs=1)
    >>> model(torch.tensor([[3, 4]])).shape  # shorter than the widest filter
    torch.Size([1, 1])
    """

    model_type = "text-cnn"
    default_composite = "epsilon"
    zero_is_absent = True

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 100,
        widths: Sequence[int] = (3, 4, 5),
        channels: int = 100,
        n_outputs: int = 2,
        dropout: float = 0.5,
        padding_idx: int = 0,
        embed_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        sizes = _word_model_sizes(vocab_size, embed_dim, n_outputs, padding_idx)
        vocab_size, embed_dim, n_outputs = sizes["vocab_size"], sizes["embed_dim"], sizes["n_outputs"]
        widths = _positives(widths, "widths")
        channels = _positive(channels, "channels")
        dropout = _probability(dropout, "dropout")
        embed_dropout = _probability(embed_dropout, "embed_dropout")
        self.config = {**sizes, "widths": widths, "channels": channels, "dropout": dropout,
                       "embed_dropout": embed_dropout}
        self.min_len = max(widths)
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=padding_idx)
        # Lighter than the head's dropout: dropping half of every word vector
        # slowed learning on BBC News (95.5% after 31 epochs at 0.5).
        self.embedding_dropout = nn.Dropout(embed_dropout)
        # One pooling module per branch: a module shared by branches would
        # receive several hook calls per forward, which rule bookkeeping
        # must not have to disentangle.
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv1d(embed_dim, channels, w), nn.ReLU(), nn.AdaptiveMaxPool1d(1))
            for w in widths
        )
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels * len(widths), n_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding_dropout(self.embedding(ids)).transpose(1, 2)  # (batch, dim, seq)
        if x.shape[-1] < self.min_len:
            # Pad the embedded sequence, not the ids: the engine reports one
            # relevance per input id, so the embedding output must keep the
            # input's length. Zeros equal the (zero, frozen) padding row.
            x = F.pad(x, (0, self.min_len - x.shape[-1]))
        valid_until = self._lengths(ids).clamp(min=self.min_len)
        pooled = []
        for branch in self.branches:
            layers = cast(nn.Sequential, branch)  # (Conv1d, ReLU, AdaptiveMaxPool1d), built so in __init__
            conv, relu, pool = cast(nn.Conv1d, layers[0]), layers[1], layers[2]
            activations = relu(conv(x))
            # Zero the positions whose window reaches into the batch's padding (after
            # ReLU every kept value is >= 0, so zeros never win the max over a real one):
            # a document's output must not depend on how long its batch neighbours are.
            width = conv.kernel_size[0]
            positions = torch.arange(activations.shape[-1], device=ids.device)
            keep = positions < (valid_until - width + 1).unsqueeze(1)
            pooled.append(pool(activations * keep.unsqueeze(1).to(activations.dtype)).flatten(1))
        return self.head(self.dropout(torch.cat(pooled, dim=1)))

    def _lengths(self, ids: torch.Tensor) -> torch.Tensor:
        """(batch,) tokens up to and including the last non-padding id (padding trails)."""
        return _lengths(ids, self.config["padding_idx"])


#: ``doclrp train --model cnn``.
CNN = ModelKind("cnn", TextCNN, "ids", {"embed_dim": 100, "channels": 100, "dropout": 0.5, "embed_dropout": 0.2},
                epochs=40, lr=2e-3)


def _lengths(ids: torch.Tensor, padding_idx: int) -> torch.Tensor:
    """(batch,) tokens up to and including the last non-padding id (padding trails)."""
    real = ids != padding_idx
    positions = torch.arange(1, ids.shape[1] + 1, device=ids.device)
    return (real * positions).amax(1)


class TextLSTM(nn.Module):
    """Bidirectional LSTM classifier/regressor over word ids, explained with Arras et al.'s (2017)
    recurrent rules (:mod:`doclrp.core.recurrent`).

    Embedding → Dropout(embed_dropout) → bidirectional LSTM (``layers`` deep, ``hidden`` per
    direction) over the packed batch → max over time of the valid positions → Dropout(dropout) →
    Linear. Input ``(batch, seq)`` long ids, padding id 0 trailing; output ``(batch, n_outputs)``.

    Why max over time rather than the last states of both directions (Arras et al.'s sentence
    classifier): news articles run to hundreds of words, and a last state must carry the whole
    article through every step, which trains slowly and forgets the start; max over time lets any
    position speak, as in the text CNN, so the two models differ only in what reads the words and
    their accuracy and deletion curves compare like for like. Packing makes a document's output,
    and its relevance, independent of how long its batch neighbours are.

    >>> import torch
    >>> model = TextLSTM(vocab_size=20, embed_dim=4, hidden=3, n_outputs=2)
    >>> model(torch.tensor([[3, 4, 5], [6, 0, 0]])).shape
    torch.Size([2, 2])
    """

    model_type = "text-lstm"
    default_composite = "epsilon"
    zero_is_absent = True

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 100,
        hidden: int = 128,
        layers: int = 1,
        n_outputs: int = 2,
        dropout: float = 0.5,
        padding_idx: int = 0,
        embed_dropout: float = 0.2,
    ) -> None:
        super().__init__()
        sizes = _word_model_sizes(vocab_size, embed_dim, n_outputs, padding_idx)
        hidden, layers = _positive(hidden, "hidden"), _positive(layers, "layers")
        dropout, embed_dropout = _probability(dropout, "dropout"), _probability(embed_dropout, "embed_dropout")
        self.config = {**sizes, "hidden": hidden, "layers": layers, "dropout": dropout,
                       "embed_dropout": embed_dropout}
        self.embedding = nn.Embedding(sizes["vocab_size"], sizes["embed_dim"], padding_idx=padding_idx)
        self.embedding_dropout = nn.Dropout(embed_dropout)
        # no dropout between layers: the module's own would be random inside the recurrence,
        # which the LRP rules refuse in training mode
        self.lstm = nn.LSTM(sizes["embed_dim"], hidden, num_layers=layers, batch_first=True, bidirectional=True)
        self.pool = nn.AdaptiveMaxPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden, sizes["n_outputs"])

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.embedding_dropout(self.embedding(ids))
        lengths = _lengths(ids, self.config["padding_idx"]).clamp(min=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        # -inf after each document's end: the max over time never picks a padded position
        states, _ = pad_packed_sequence(self.lstm(packed)[0], batch_first=True, padding_value=float("-inf"),
                                        total_length=ids.shape[1])
        return self.head(self.dropout(self.pool(states.transpose(1, 2)).flatten(1)))


#: ``doclrp train --model lstm``: fewer epochs than the CNN, one costs several times as much on
#: a CPU (a step per word).
LSTM = ModelKind("lstm", TextLSTM, "ids",
                 {"embed_dim": 100, "hidden": 128, "layers": 1, "dropout": 0.5, "embed_dropout": 0.2},
                 epochs=15, lr=2e-3)


class BowMLP(nn.Module):
    """Multi-layer perceptron over a bag-of-words (tf-idf) vector.

    Input ``(batch, n_features)`` float; output ``(batch, n_outputs)``.

    >>> import torch
    >>> BowMLP(n_features=30, hidden=(8, 4), n_outputs=2)(torch.rand(5, 30)).shape
    torch.Size([5, 2])
    """

    model_type = "bow-mlp"
    default_composite = "epsilon"
    zero_is_absent = True
    # z^B's box (doclrp.core.session): its input is a tf-idf row, non-negative with unit L2 norm
    input_bounds = (0.0, 1.0)

    def __init__(
        self,
        n_features: int,
        hidden: Sequence[int] = (500,),
        n_outputs: int = 2,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        n_features = _positive(n_features, "n_features")
        hidden = _positives(hidden, "hidden") if hidden else []
        n_outputs = _positive(n_outputs, "n_outputs")
        dropout = _probability(dropout, "dropout")
        self.config = {
            "n_features": n_features,
            "hidden": hidden,
            "n_outputs": n_outputs,
            "dropout": dropout,
        }
        layers: list[nn.Module] = []
        width = n_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(width, n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


#: ``doclrp train --model bow``: tf-idf features.
BOW = ModelKind("bow", BowMLP, "tfidf", {"hidden": [256], "dropout": 0.5}, epochs=10, lr=1e-3)


class EmbeddingBagModel(nn.Module):
    """Mean of word embeddings followed by a Linear layer (fastText-style).

    Input ``(batch, seq)`` long ids; padding id 0 is left out of the mean.

    >>> import torch
    >>> EmbeddingBagModel(vocab_size=20, embed_dim=4, n_outputs=3)(torch.tensor([[5, 6, 0]])).shape
    torch.Size([1, 3])
    """

    model_type = "embedding-bag"
    default_composite = "epsilon"
    zero_is_absent = True

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        n_outputs: int = 2,
        padding_idx: int = 0,
    ) -> None:
        super().__init__()
        self.config = _word_model_sizes(vocab_size, embed_dim, n_outputs, padding_idx)
        vocab_size, embed_dim, n_outputs = (self.config[k] for k in ("vocab_size", "embed_dim", "n_outputs"))
        self.embedding = nn.EmbeddingBag(vocab_size, embed_dim, mode="mean", padding_idx=padding_idx)
        self.head = nn.Linear(embed_dim, n_outputs)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.head(self.embedding(ids))


#: ``doclrp train --model bag``.
BAG = ModelKind("bag", EmbeddingBagModel, "ids", {"embed_dim": 64}, epochs=40, lr=5e-3)
