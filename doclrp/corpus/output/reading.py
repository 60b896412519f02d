"""Corpus results, reading: the header and records of finished results, streamed from disk,
and pandas frames of them.

>>> import tempfile, pathlib
>>> from doclrp.corpus.output.journal import open_results_writer
>>> from doclrp.corpus.output.records import run_header, skipped_record
>>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
>>> header = run_header(model_sha256="ab12", method={"name": "epsilon", "params": {}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(out, header) as writer:
...     writer.write_batch([skipped_record("a", "pos", "empty document")])
...     _ = writer.finish()
>>> [record["skipped"] for record in read_results(out)], len(read_results(out))
(['empty document'], 1)
>>> read_results(out).to_frame()[["id", "label", "skipped", "words"]].values.tolist()
[['a', 'pos', 'empty document', 0]]
"""

from __future__ import annotations

import bisect
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from doclrp.corpus.output.journal import partial_path
from doclrp.corpus.output.records import FORMAT_VERSION, parquet_modules, read_header, record_from_parquet_row, results_format
from doclrp.errors import DoclrpError
from doclrp.text.frames import WORD_COLUMNS, require_pandas

__all__ = ["Results", "DOCUMENT_COLUMNS", "read_results"]


class Results:
    """Finished results: ``header`` and an iterable of records (streamed from disk);
    ``to_frame()`` and ``words_frame()`` for pandas (the module's example shows both).
    """

    def __init__(self, path: Path, header: dict[str, Any], fmt: str) -> None:
        self.path, self.header, self.format = path, header, fmt

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen: set[object] = set()
        for record in self._records():
            if record.get("id") in seen:
                raise DoclrpError(f"{self.path} holds document {record['id']!r} twice (two runs wrote it at "
                                  "once?): run the corpus again into a new file")
            seen.add(record.get("id"))
            yield record

    def __len__(self) -> int:
        """The number of records (documents explained or skipped), counted without parsing them
        (the module's example counts one)."""
        if self.format == "jsonl":
            with self.path.open("rb") as handle:
                handle.readline()  # the header
                return sum(1 for line in handle if line.strip())
        _, pq = parquet_modules()
        return int(pq.ParquetFile(self.path).metadata.num_rows)

    def _records(self) -> Iterator[dict[str, Any]]:
        if self.format == "jsonl":
            with self.path.open("rb") as handle:
                handle.readline()
                for number, line in enumerate(handle, start=2):
                    if not line.strip():
                        continue
                    try:
                        yield json.loads(line)
                    except ValueError:
                        raise DoclrpError(f"{self.path} line {number} is not JSON: the file is damaged") from None
        else:
            _, pq = parquet_modules()
            parquet = pq.ParquetFile(self.path)
            for group in range(parquet.num_row_groups):
                for row in parquet.read_row_group(group).to_pylist():
                    yield record_from_parquet_row(row)


    def to_frame(self) -> Any:
        """One row per document (pandas): ``DOCUMENT_COLUMNS``; ``words`` is the number of words.
        Skipped documents have a ``skipped`` reason and no values."""
        pd = require_pandas()
        rows = [(r["id"], r["label"], r["skipped"], (r["prediction"] or {}).get("label"), r["target"],
                 r["target_value"], r["delta"], len(r["words"] or ())) for r in self]
        return pd.DataFrame.from_records(rows, columns=list(DOCUMENT_COLUMNS))

    def words_frame(self) -> Any:
        """One row per word of every explained document (pandas): ``id``, ``label``, ``predicted``,
        ``target``, then the columns of :meth:`doclrp.text.Explanation.to_frame`."""
        pd = require_pandas()
        rows: list[tuple[Any, ...]] = []
        for r in self:
            if r["skipped"]:
                continue
            starts = [s[0] for s in r["sentences"]]
            head = (r["id"], r["label"], (r["prediction"] or {}).get("label"), r["target"])
            rows.extend((*head, text, start, end, max(0, bisect.bisect_right(starts, start) - 1), relevance)
                        for text, start, end, relevance in r["words"])
        columns = ["id", "label", "predicted", "target", *WORD_COLUMNS]
        return pd.DataFrame.from_records(rows, columns=columns)


#: Columns of :meth:`Results.to_frame`.
DOCUMENT_COLUMNS = ("id", "label", "skipped", "predicted", "target", "target_value", "delta", "words")


def read_results(path: str | Path) -> Results:
    """The header and records of finished ``doclrp corpus`` results (.jsonl or .parquet)."""
    path = Path(path)
    fmt = results_format(path)
    if not path.is_file():
        hint = " (the run is unfinished: restart it to complete)" if partial_path(path).exists() else ""
        raise DoclrpError(f"no results file at {path}{hint}")
    header = read_header(path, fmt)
    if header is None:
        raise DoclrpError(f"{path} is not doclrp corpus results: write it with doclrp corpus")
    if header.get("format_version") != FORMAT_VERSION:
        raise DoclrpError(f"{path} has results format {header.get('format_version')!r}; this doclrp reads "
                          f"{FORMAT_VERSION}: use doclrp {header.get('doclrp_version')}")
    return Results(path, header, fmt)
