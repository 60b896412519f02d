"""One batch of corpus records explained: a result record per document, used by both engines.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> from doclrp.corpus.readers import Record
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> [r["skipped"] for r in explain_records(pipe, [Record("a", "good fun"), Record("b", "  ")])]
[None, 'empty document']
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from doclrp._explain import UnexplainableDocument, explain
from doclrp.corpus.output import explanation_record, skipped_record
from doclrp.corpus.readers import Record
from doclrp.errors import DoclrpError

__all__ = ["explain_records", "EMPTY"]

#: The reason recorded for a document without text.
EMPTY = "empty document"


def _reason(error: DoclrpError) -> str:
    # explain() names the document ("document <id> has ..."): the record carries the id already
    if isinstance(error, UnexplainableDocument):  # an id may hold spaces: cut it off by name
        return str(error).removeprefix(f"document {error.document} ")
    return re.sub(r"^document \S+ ", "", str(error))


def explain_records(pipeline, records: Sequence[Record], *, target="predicted", method=None,
                    batch_size: int = 32) -> list[dict[str, Any]]:
    """One result record per document of ``records``, in their order (used by both engines).

    ``target`` and ``method``: as :func:`doclrp.explain` takes them; a corpus run passes
    the ``Target`` and attributor it resolved once.

    A document that cannot be explained (empty, no word the model knows) gets a
    ``skipped`` record; other errors propagate.
    """
    results: dict[str, dict[str, Any]] = {}
    todo = []
    for record in records:
        if record.text.strip():
            todo.append(record)
        else:
            results[record.id] = skipped_record(record.id, record.label, EMPTY, record.text, record.targets)
    options = dict(target=target, method=method, batch_size=batch_size)
    try:
        explanations = explain(pipeline, [r.text for r in todo], ids=[r.id for r in todo], **options) if todo else []
        pairs = list(zip(todo, explanations))
    except DoclrpError:
        # Some document of the batch is unreadable: find it, explain the others one by one.
        pairs = []
        for record in todo:
            try:
                pairs.append((record, explain(pipeline, record.text, ids=[record.id], **options)))
            except DoclrpError as error:
                results[record.id] = skipped_record(record.id, record.label, _reason(error), record.text,
                                                    record.targets)
    for record, explanation in pairs:
        results[record.id] = explanation_record(explanation, record.label, record.targets)
    return [results[r.id] for r in records]
