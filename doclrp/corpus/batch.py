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
from dataclasses import replace
from pathlib import Path
from typing import Any

from doclrp._budget import DocumentTimeout, check_seconds
from doclrp._explain import UnexplainableDocument, explain, invalid_character
from doclrp.corpus.output import explanation_record, skipped_record
from doclrp.corpus.readers import Record
from doclrp.documents import Limits, SourceText, read_source
from doclrp.errors import DoclrpError

__all__ = ["explain_records", "read_sources", "EMPTY", "DOC_TIMEOUT", "DocumentTimeout", "check_doc_timeout"]

#: The reason recorded for a document without text.
EMPTY = "empty document"

#: Seconds of work one document may take in a corpus run (``doc_timeout``). Not 60: the longest
#: document ``max_chars`` admits (a million characters: spaCy alone takes tens of seconds, a
#: transformer hundreds of windows) can take minutes on a CPU and is no attack; 5 minutes still
#: stops what once held a run for 44 minutes.
DOC_TIMEOUT = 300.0

def check_doc_timeout(seconds: float | None) -> float | None:
    """``seconds`` as a time budget: a positive, finite number of seconds, or None (no budget).

    >>> check_doc_timeout(2), check_doc_timeout(None)
    (2.0, None)
    """
    return check_seconds(seconds, "doc_timeout")


def _reason(error: DoclrpError) -> str:
    # explain() names the document ("document <id> has ..."): the record carries the id already
    if isinstance(error, UnexplainableDocument):  # an id may hold spaces: cut it off by name
        return str(error).removeprefix(f"document {error.document} ")
    return re.sub(r"^document \S+ ", "", str(error))


def _unusable(record: Record, max_chars: int | None) -> str | None:
    """Why ``record``'s text is not explained, before any work is done on it; None if it is fine."""
    for name, value in (("id", record.id), ("label", record.label)):
        problem = None if value is None else invalid_character(value)
        if problem:  # the id keys the results: without a valid one there is no record to write
            raise DoclrpError(f"a document's {name} {problem}")
    if not record.text.strip():
        return EMPTY
    if max_chars is not None and len(record.text) > max_chars:
        return f"document of {len(record.text):,} characters exceeds max_chars={max_chars:,}"
    problem = invalid_character(record.text)
    return None if problem is None else f"text {problem}"


def read_sources(records: Sequence[Record], limits: Limits | None = None,
                 doc_timeout: float | None = None) -> tuple[list[Record], dict[str, SourceText], dict[str, str]]:
    """The records with the text of their ``source`` files read (PDF, Word, HTML, e-mail, text),
    the files read (by record id; their bytes dropped) and why the others could not be read.

    ``limits``: the bounds of reading (``--max-bytes``, ``--max-pages``); ``doc_timeout`` bounds
    the reading of each file.
    """
    limits = replace(limits or Limits(), timeout=doc_timeout)
    out: list[Record] = []
    read: dict[str, SourceText] = {}
    unreadable: dict[str, str] = {}
    for record in records:
        if record.source is None or record.text:
            out.append(record)
            continue
        try:
            source = read_source(record.source, name=Path(record.source).name, limits=limits)
        except DoclrpError as error:
            unreadable[record.id] = str(error)
        else:
            read[record.id] = replace(source, data=None)  # a batch keeps no PDF's bytes, only its boxes
            record = replace(record, text=source.text)
        out.append(record)
    return out, read, unreadable


def explain_records(pipeline, records: Sequence[Record], *, target="predicted", method=None,
                    batch_size: int = 32, max_chars: int | None = None, doc_timeout: float | None = None,
                    on_error: str = "raise", limits: Limits | None = None) -> list[dict[str, Any]]:
    """One result record per document of ``records``, in their order (used by both engines).

    ``target`` and ``method``: as :func:`doclrp.explain` takes them; a corpus run passes
    the ``Target`` and attributor it resolved once.

    A document that cannot be explained (empty, longer than ``max_chars`` characters, an
    invalid character, no word the model knows, outputs that are not finite) gets a
    ``skipped`` record; other errors propagate. The record of a document that is too long
    or not valid text keeps no text (it could not be written, or would bloat the results).

    ``doc_timeout``: seconds of work per document (None: no limit), checked on a monotonic
    clock between the stages of the work and inside the long ones (between the blocks of text
    spaCy splits, the chunks of words encoded, before each forward pass over a batch of
    windows, after the last one, between the documents built; see :mod:`doclrp._budget`). The
    batch runs together within one document's budget; if it is stopped, its documents run
    one by one, each with its own budget (so a slow document holds the run for at most about
    twice the budget). A document over its budget gets a ``skipped`` record under
    ``on_error="skip"``; under ``"raise"`` it ends the call with a one-line ``DoclrpError``.

    Records with a ``source`` file are read first (`read_sources`, within ``limits`` and
    ``doc_timeout``); a file that cannot be read (encrypted, scanned, too large, malformed) gets
    a ``skipped`` record with the reason. Their records keep ``source``, and a PDF's words
    their pages and boxes (``layout``).

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> explain_records(pipe, [Record("a", "good fun")], doc_timeout=60)[0]["skipped"] is None
    True
    """
    doc_timeout = check_doc_timeout(doc_timeout)
    if on_error not in ("raise", "skip"):
        raise DoclrpError(f"on_error must be 'raise' or 'skip', got {on_error!r}")
    results: dict[str, dict[str, Any]] = {}
    todo = []
    records, sources, unreadable = read_sources(records, limits, doc_timeout)
    for record in records:
        reason = unreadable.get(record.id) or _unusable(record, max_chars)
        if reason is None:
            todo.append(record)
        else:
            text = record.text if reason == EMPTY else None
            results[record.id] = skipped_record(record.id, record.label, reason, text, record.targets, record.source)
    options = dict(target=target, method=method, batch_size=batch_size)
    try:
        if len(todo) == 1 and doc_timeout is not None:
            raise DocumentTimeout(doc_timeout, "")  # alone it has its own budget below: not run twice
        explanations = explain(pipeline, [r.text for r in todo], ids=[r.id for r in todo], budget=doc_timeout,
                               **options) if todo else []
        pairs = list(zip(todo, explanations))
    except DoclrpError:
        # Some document of the batch is unreadable (or slow): find it, explain the others one by one.
        pairs = []
        for record in todo:
            try:
                explanation = explain(pipeline, record.text, ids=[record.id], budget=doc_timeout, **options)
                pairs.append((record, explanation))
            except DocumentTimeout as error:
                if on_error == "raise":
                    raise DoclrpError(f"document {record.id} {error}; rerun with a larger --doc-timeout, or "
                                      "--on-error skip to record it as skipped (the run continues where it "
                                      "stopped)") from None
                results[record.id] = skipped_record(record.id, record.label, str(error), None, record.targets,
                                                    record.source)
            except DoclrpError as error:
                results[record.id] = skipped_record(record.id, record.label, _reason(error), record.text,
                                                    record.targets, record.source)
    for record, explanation in pairs:
        if record.id in sources:
            explanation = sources[record.id].attach(explanation)
        results[record.id] = explanation_record(explanation, record.label, record.targets, record.source)
    return [results[r.id] for r in records]
