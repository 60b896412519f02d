"""A task whose right answer is known: one planted trigger word decides the label.

>>> task = planted_documents(4, seed=0)
>>> len(task.texts), task.labels, sorted(set(task.triggers)) == sorted(TRIGGERS)
(4, ['neg', 'pos'], True)
>>> all(text.split().count(trigger) == 1 for text, trigger in zip(task.texts, task.triggers))
True

Each document is ``length`` filler words drawn at random, with one trigger word put at a
random place: ``TRIGGERS[0]`` makes it class ``neg``, ``TRIGGERS[1]`` class ``pos``; no
filler word says anything about the class. A tiny text CNN is trained on such documents
in the run (:func:`train_planted_model`, plain torch: a few seconds on a CPU), so the word
it must rely on is known, and :func:`trigger_recovery` asks of each explanation whether
that word is the most relevant one (top-1) or among the ``k`` most relevant (top-k).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from doclrp.errors import DoclrpError
from doclrp.models import IdEncoder, TextCNN, TextPipeline
from doclrp.text import Explanation

__all__ = ["TRIGGERS", "FILLERS", "PlantedTask", "planted_documents", "train_planted_model", "trigger_recovery"]

TRIGGERS = ("zorbel", "quintar")
FILLERS = tuple(
    "the a report market city team new year said people time first last week government company game film "
    "music court plan rise fall north south river road house school price data phone light water green paper "
    "story table window letter morning evening".split()
)


@dataclass(frozen=True)
class PlantedTask:
    """Documents, their class names and the trigger word each one holds."""

    texts: list[str]
    classes: list[str]
    triggers: list[str]
    labels: list[str]


def planted_documents(n: int, *, seed: int = 0, length: int = 12) -> PlantedTask:
    """``n`` documents of ``length`` filler words and one trigger each (see the module)."""
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise DoclrpError(f"the planted task needs at least 1 document, got {n!r}")
    rng = np.random.default_rng(seed)
    texts, classes, triggers = [], [], []
    labels = ["neg", "pos"]
    for _ in range(int(n)):
        words = [FILLERS[i] for i in rng.integers(0, len(FILLERS), length)]
        label = int(rng.integers(0, 2))
        words.insert(int(rng.integers(0, length + 1)), TRIGGERS[label])
        texts.append(" ".join(words))
        classes.append(labels[label])
        triggers.append(TRIGGERS[label])
    return PlantedTask(texts, classes, triggers, labels)


def train_planted_model(task: PlantedTask, *, seed: int = 0, epochs: int = 30) -> TextPipeline:
    """A tiny text CNN (embeddings of 8, filters of width 1 and 2) trained on ``task`` with Adam,
    full batch, from ``seed``; it reaches 100 % training accuracy within the default epochs."""
    torch.manual_seed(seed)
    encoder = IdEncoder.fit(task.texts + list(TRIGGERS), max_len=64)
    model = TextCNN(len(encoder.vocabulary), embed_dim=8, widths=(1, 2), channels=8, n_outputs=2,
                    dropout=0.0, embed_dropout=0.0)
    inputs = encoder.inputs(task.texts)
    targets = torch.tensor([task.labels.index(c) for c in task.classes])
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    # A model this small is slower on several threads (they wait on each other, more so on a
    # shared machine): one thread while training, the caller's setting restored after.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for _ in range(epochs):
            optimizer.zero_grad()
            loss_fn(model(inputs), targets).backward()
            optimizer.step()
    finally:
        torch.set_num_threads(threads)
    model.eval()
    return TextPipeline(model, encoder, list(task.labels))


def trigger_recovery(explanations: Sequence[Explanation], triggers: Sequence[str], k: int = 3
                     ) -> dict[str, np.ndarray]:
    """``{"top1": hit, "topk": hit}`` per document (1.0 or 0.0): is the trigger word the most
    relevant word, and is it among the ``k`` most relevant (ties broken by position)?"""
    if len(explanations) != len(triggers):
        raise DoclrpError(f"{len(explanations)} explanations for {len(triggers)} triggers")
    top1, topk = [], []
    for explanation, trigger in zip(explanations, triggers):
        words = explanation.words
        ranked = sorted(range(len(words)), key=lambda i: (-words[i].relevance, i))
        places = [i for i, w in enumerate(words) if w.text.lower() == trigger]
        if not places:
            raise DoclrpError(f"document {explanation.id!r} does not hold its trigger {trigger!r}")
        rank = min(ranked.index(i) for i in places)
        top1.append(float(rank == 0))
        topk.append(float(rank < k))
    return {"top1": np.array(top1), "topk": np.array(topk)}
