"""Corpus results to browse: files written by ``doclrp corpus``, indexed once at start-up
and paged from disk.

The index keeps, per document, what the table shows and filters by (id, label,
prediction, confidence, delta, the start of its text) and where the record lies (a byte
offset in JSONL, a row of a row group in Parquet); a page of the table reads nothing
from disk, and opening a document reads its one record. Clients name results by the ids
the server lists, never by path. Per-class top words are summed on first request
(:func:`doclrp.corpus.summary.summarize_results`) and kept.

>>> import tempfile, pathlib
>>> from doclrp.corpus.output import open_results_writer, run_header, skipped_record
>>> out = pathlib.Path(tempfile.mkdtemp()) / "run.jsonl"
>>> header = run_header(model_sha256="ab", method={"name": "epsilon", "params": {}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(out, header) as writer:
...     writer.write_batch([skipped_record("a", "pos", "empty document")])
...     _ = writer.finish()
>>> results = ResultsFile("run", out)
>>> results.query(Query()).total, results.record(0)["skipped"]
(1, 'empty document')
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from doclrp.corpus.output import record_from_parquet_row, read_results
from doclrp.corpus.summary import summarize_results
from doclrp.errors import DoclrpError
from doclrp.serve.models import model_id

__all__ = ["ResultsFile", "Query", "SORT_KEYS", "SNIPPET_CHARS", "MAX_PAGE", "results_ids"]

#: Characters of each document kept in memory for the table and its search.
SNIPPET_CHARS = 200
#: The most rows one page of the table holds.
MAX_PAGE = 200
SORT_KEYS = ("order", "id", "label", "predicted", "confidence", "delta")


@dataclass(frozen=True)
class Query:
    """One page of the table: a search in ids and the start of texts, filters, a sort."""

    search: str = ""
    label: str | None = None
    predicted: str | None = None
    correct: bool | None = None
    min_confidence: float | None = None
    max_confidence: float | None = None
    min_abs_delta: float | None = None
    sort: Literal["order", "id", "label", "predicted", "confidence", "delta"] = "order"
    descending: bool = False
    offset: int = 0
    limit: int = 50


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[dict[str, Any]]


class ResultsFile:
    """One results file, indexed; documents by their position in the file (0, 1, …)."""

    def __init__(self, id: str, path: str | Path) -> None:
        self.id, self.path = id, Path(path)
        results = read_results(self.path)
        self.header, self.format = results.header, results.format
        self.ids: list[str] = []
        self.labels: list[str | None] = []
        self.predicted: list[str | None] = []
        self.skipped: list[str | None] = []
        self.confidence: list[float] = []
        self.delta: list[float] = []
        self.snippets: list[str] = []
        self._where: list[Any] = []  # JSONL: byte offset; Parquet: (row group, row)
        if self.format == "jsonl":
            self._index_jsonl()
        else:
            self._index_parquet()
        seen: set[str] = set()
        for doc_id in self.ids:
            if doc_id in seen:
                raise DoclrpError(f"{self.path} holds document {doc_id!r} twice: run the corpus again into a new file")
            seen.add(doc_id)
        self._search = [f"{i}\n{s}".lower() for i, s in zip(self.ids, self.snippets)]
        self._summary: Any = None
        self._summary_lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.ids)

    def _add(self, record: dict[str, Any], where: Any) -> None:
        prediction = record.get("prediction") or {}
        probabilities = prediction.get("probabilities")
        self.ids.append(str(record["id"]))
        self.labels.append(record.get("label"))
        self.predicted.append(prediction.get("label"))
        self.skipped.append(record.get("skipped"))
        self.confidence.append(max(probabilities) if probabilities else math.nan)
        delta = record.get("delta")
        self.delta.append(float(delta) if delta is not None else math.nan)
        self.snippets.append((record.get("text") or "")[:SNIPPET_CHARS])
        self._where.append(where)

    def _index_jsonl(self) -> None:
        with self.path.open("rb") as handle:
            offset = len(handle.readline())
            for number, line in enumerate(handle, start=2):
                if line.strip():
                    try:
                        self._add(orjson.loads(line), offset)
                    except orjson.JSONDecodeError:
                        raise DoclrpError(f"{self.path} line {number} is not JSON: the file is damaged") from None
                offset += len(line)

    def _index_parquet(self) -> None:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # optional: the parquet extra, checked by read_results

        parquet = pq.ParquetFile(self.path)
        columns = ["id", "label", "skipped", "prediction", "delta", "text"]
        for group in range(parquet.num_row_groups):
            for row, record in enumerate(parquet.read_row_group(group, columns=columns).to_pylist()):
                self._add(record, (group, row))

    def record(self, index: int) -> dict[str, Any]:
        """The whole record of document ``index``, read from disk."""
        if not 0 <= index < len(self.ids):
            raise DoclrpError(f"no document {index} in results {self.id!r} ({len(self.ids)} documents)")
        where = self._where[index]
        if self.format == "jsonl":
            with self.path.open("rb") as handle:
                handle.seek(where)
                return orjson.loads(handle.readline())
        import pyarrow.parquet as pq  # optional, as above

        group, row = where
        table = pq.ParquetFile(self.path).read_row_group(group).slice(row, 1)
        return record_from_parquet_row(table.to_pylist()[0])

    def info(self) -> dict[str, Any]:
        """What ``GET /api/results`` says of this file."""
        method = self.header.get("method") or {}
        return {"id": self.id, "name": self.path.name, "documents": len(self.ids),
                "labels": sorted({x for x in (*self.labels, *self.predicted) if x is not None}),
                "method": {"name": str(method.get("name", "")), "params": method.get("params") or {}},
                "target": (self.header.get("target") or {}).get("name"), "task": self.header.get("task")}

    def query(self, query: Query) -> Page:
        """The rows of one page, filtered and sorted (see :class:`Query`)."""
        if not 1 <= query.limit <= MAX_PAGE or query.offset < 0:
            raise DoclrpError(f"a page holds 1 to {MAX_PAGE} rows from an offset of 0 or more")
        needle = query.search.strip().lower()
        keep = []
        for i in range(len(self.ids)):
            if needle and needle not in self._search[i]:
                continue
            if query.label is not None and self.labels[i] != query.label:
                continue
            if query.predicted is not None and self.predicted[i] != query.predicted:
                continue
            if query.correct is not None and (self.labels[i] is None or self.skipped[i]
                                              or (self.labels[i] == self.predicted[i]) != query.correct):
                continue
            confidence = self.confidence[i]
            if query.min_confidence is not None and not confidence >= query.min_confidence:
                continue
            if query.max_confidence is not None and not confidence <= query.max_confidence:
                continue
            if query.min_abs_delta is not None and not abs(self.delta[i]) >= query.min_abs_delta:
                continue
            keep.append(i)
        if query.sort != "order":
            columns: dict[str, list[Any]] = {"id": self.ids, "label": self.labels, "predicted": self.predicted,
                                             "confidence": self.confidence, "delta": self.delta}
            column = columns[query.sort]
            # Missing values (skipped documents, no label) sort last either way.
            present = [i for i in keep if not _missing(column[i])]
            absent = [i for i in keep if _missing(column[i])]
            present.sort(key=lambda i: column[i], reverse=query.descending)
            keep = present + absent
        elif query.descending:
            keep.reverse()
        rows = [self.row(i) for i in keep[query.offset: query.offset + query.limit]]
        return Page(len(keep), rows)

    def row(self, i: int) -> dict[str, Any]:
        label, predicted = self.labels[i], self.predicted[i]
        return {"index": i, "id": self.ids[i], "label": label, "predicted": predicted,
                "correct": None if label is None or self.skipped[i] else label == predicted,
                "confidence": None if math.isnan(self.confidence[i]) else self.confidence[i],
                "delta": None if math.isnan(self.delta[i]) else self.delta[i],
                "skipped": self.skipped[i], "snippet": self.snippets[i]}

    def top_words(self, k: int = 10, min_df: int = 2) -> dict[str, Any]:
        """Per class (its true label, else its prediction): the words with the largest summed
        relevance for and against what each document explained. Summed once, then kept."""
        with self._summary_lock:
            if self._summary is None:
                self._summary = summarize_results(read_results(self.path), pages=0)
        summary = self._summary
        return {"group_by": "label, else prediction", "groups": [
            {"group": group, "documents": summary.group_documents[group],
             "for": [{"word": w, "sum": s.sum, "documents": s.df} for w, s in summary.top_words(group, k, +1, min_df)],
             "against": [{"word": w, "sum": s.sum, "documents": s.df}
                         for w, s in summary.top_words(group, k, -1, min_df)]}
            for group in sorted(summary.groups)]}


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def results_ids(paths: Sequence[str | Path]) -> dict[str, Path]:
    """Ids for results files from their names (unique: ``-2``, ``-3`` … on repeats)."""
    ids: dict[str, Path] = {}
    for path in paths:
        base = model_id(Path(path).stem) if Path(path).stem else "results"
        id, n = base, 2
        while id in ids:
            id, n = f"{base}-{n}", n + 1
        ids[id] = Path(path)
    return ids
