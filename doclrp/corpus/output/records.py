"""Corpus results, the format: one record per document, the run header, and their encoding in
JSONL lines and Parquet rows (see :mod:`doclrp.corpus.output` for the files).

>>> skipped_record("7", "pos", "empty document")["skipped"]
'empty document'
>>> run_header(model_sha256="ab12", method={"name": "zero", "params": {}}, target={"name": None, "weights": None},
...            input="bbc")["format_version"] == FORMAT_VERSION
True
"""

from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any, overload

import orjson

from doclrp.core.targets import Target
from doclrp.errors import DoclrpError
from doclrp.text.columns import WordColumns
from doclrp.text.explanation import Explanation, Prediction, SentenceRelevance
from doclrp.text.layout import WordLayout

__all__ = ["FORMAT_VERSION", "HEADER_TAG", "HEADER_KEYS", "RECORD_KEYS", "explanation_record", "skipped_record",
           "record_to_explanation", "run_header", "run_fingerprint", "model_fingerprint", "PROMPT_KEY", "header_differences", "results_format",
           "dumps", "dumps_bytes", "parquet_modules", "parquet_schema", "to_parquet_row", "record_from_parquet_row",
           "read_header", "WordRows", "ROW_COLUMNS_WORDS"]

FORMAT_VERSION = 2
HEADER_TAG = "corpus-results"
#: Header entries that must match for a restart to continue an output.
HEADER_KEYS = ("format_version", "model_sha256", "method", "target", "input", "shard")
RECORD_KEYS = ("id", "label", "skipped", "task", "labels", "target", "target_weights", "target_value", "delta", "prediction",
               "special", "targets", "text", "sentences", "words", "source", "layout")
#: The ``special`` entry of a record that holds the relevance of a language model's prompt template.
PROMPT_KEY = "[prompt]"


# -- records --------------------------------------------------------------------------------------
def explanation_record(explanation: Explanation, label: str | None = None,
                       targets: Sequence[float] | None = None, source: str | None = None) -> dict[str, Any]:
    """The compact record of one explained document (see :mod:`doclrp.corpus.output`).

    >>> from doclrp.text import Prediction, build_explanation, tokenize
    >>> doc = tokenize("Good. Bad.", pipeline="blank")
    >>> exp = build_explanation(doc, [(0, 4), (6, 9)], [1.0, -0.5], labels=["neg", "pos"],
    ...     task="classification", prediction=Prediction.from_logits([0.0, 1.0], ["neg", "pos"]),
    ...     target="pos", target_value=1.0, delta=0.5, id="d1")
    >>> record = explanation_record(exp, label="pos")
    >>> record["words"], record["sentences"]
    ([['Good', 0, 4, 1.0], ['.', 4, 5, 0.0], ['Bad', 6, 9, -0.5], ['.', 9, 10, 0.0]], [[0, 5, 1.0], [6, 10, -0.5]])
    >>> record_to_explanation(record) == exp
    True
    """
    p = explanation.prediction
    return {
        "id": explanation.id,
        "label": label,
        "skipped": None,
        "task": explanation.task,
        "labels": list(explanation.labels),
        "target": str(explanation.target),
        "target_weights": None if explanation.target.weights is None else list(explanation.target.weights),
        "target_value": explanation.target_value,
        "delta": explanation.delta,
        "prediction": {"label": p.label, "index": p.index, "probabilities": p.probabilities, "values": p.values},
        # a language model's prompt template: its words' relevance in one sum, so the record still adds up
        "special": {**explanation.special, **({PROMPT_KEY: math.fsum(word.relevance for word in explanation.prompt)}
                                              if explanation.prompt else {})},
        "targets": None if targets is None else [float(t) for t in targets],
        "text": explanation.text,
        "sentences": [[s.start, s.end, s.relevance] for s in explanation.sentences],
        "words": _word_rows(explanation.word_columns),
        "source": source,
        "layout": None if explanation.layout is None else explanation.layout.to_columns(),
    }


#: Words from which a record holds its words as :class:`WordRows` (columns, lists made as they
#: are read) instead of a list of lists: plain JSON data for ordinary documents, bounded memory
#: for books and logs (doclrp's writers stream either; ``list(record["words"])`` gives the lists).
ROW_COLUMNS_WORDS = 50_000


def _word_rows(columns: WordColumns) -> Sequence[list[Any]]:
    rows = WordRows(columns)
    return rows if len(rows) >= ROW_COLUMNS_WORDS else list(rows)


class WordRows(Sequence[list[Any]]):
    """A record's ``words``, ``[text, start, end, relevance]`` per word, read from the explanation's
    columns as they are iterated (a million words as lists cost 200 MB; as columns 30): the JSONL
    writer streams them out in blocks, and they compare equal to the lists read back.

    >>> from doclrp.text import Explanation
    >>> from doclrp.text.explanation import _EXAMPLE
    >>> rows = WordRows(Explanation.from_dict(_EXAMPLE).word_columns)
    >>> rows, rows == [["Up", 0, 2, 1.5], ["down", 3, 7, -0.5]]
    ([['Up', 0, 2, 1.5], ['down', 3, 7, -0.5]], True)
    """

    def __init__(self, columns: WordColumns) -> None:
        self.columns = columns

    def __len__(self) -> int:
        return len(self.columns)

    @overload
    def __getitem__(self, index: int) -> list[Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[list[Any]]: ...

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            part = self.columns[index]
            return [list(row) for row in zip(part.texts(), part.start.tolist(), part.end.tolist(),
                                             part.relevance.tolist())]
        text, start, end, _, relevance = self.columns[index]
        return [text, start, end, relevance]

    def __iter__(self) -> Iterator[list[Any]]:
        for block in self.blocks():
            yield from block

    def blocks(self, size: int = 65_536) -> Iterator[list[list[Any]]]:
        """The rows in lists of at most ``size``."""
        for begin in range(0, len(self), size):
            yield self[begin : begin + size]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, WordRows):
            return self.columns == other.columns
        if isinstance(other, (list, tuple)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return repr(list(self))


def skipped_record(id: str, label: str | None, reason: str, text: str | None = None,
                   targets: Sequence[float] | None = None, source: str | None = None) -> dict[str, Any]:
    """The record of a document that was not explained, and why.

    >>> skipped_record("7", "pos", "empty document")["skipped"]
    'empty document'
    """
    record = dict.fromkeys(RECORD_KEYS)
    record.update(id=id, label=label, skipped=reason, text=text, source=source,
                  targets=None if targets is None else [float(t) for t in targets])
    return record


def record_to_explanation(record: Mapping[str, Any], method: Mapping[str, Any] | None = None) -> Explanation:
    """The :class:`Explanation` a record was made from (words keep their sentence);
    ``method``: the run's method, as its header records it (``header["method"]``)."""
    if record.get("skipped"):
        raise DoclrpError(f"document {record.get('id')!r} was skipped ({record['skipped']}): it has no explanation")
    try:
        text = record["text"]
        starts = [s[0] for s in record["sentences"]]
        rows = record["words"]
        if isinstance(rows, WordRows):
            words: Any = rows.columns
        else:
            words = [(w[0], w[1], w[2], max(0, bisect.bisect_right(starts, w[1]) - 1), w[3]) for w in rows]
        sentences = [SentenceRelevance(s, e, text[s:e], r) for s, e, r in record["sentences"]]
        return Explanation(text=text, words=words, sentences=sentences, labels=list(record["labels"]),
                           task=record["task"], prediction=Prediction(**record["prediction"]),
                           target=_record_target(record), target_value=record["target_value"], delta=record["delta"],
                           special=dict(record["special"] or {}), id=record["id"], method=dict(method or {}),
                           layout=WordLayout.from_columns(record["layout"]) if record.get("layout") else None)
    except (KeyError, TypeError, ValueError, IndexError) as error:
        raise DoclrpError(f"record {record.get('id')!r} is not a doclrp corpus record ({error!r})") from None


def _record_target(record: Mapping[str, Any]) -> Target:
    """The explained target of a record: its name and, where recorded, its output weights."""
    weights = record.get("target_weights")
    return Target(None if weights is None else tuple(float(w) for w in weights), record["target"])


# -- header ---------------------------------------------------------------------------------------
def _version() -> str:
    try:
        return metadata.version("doclrp")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_header(*, model_sha256: str, method: Mapping[str, Any], target: Mapping[str, Any], input: str,
               shard: tuple[int, int] | None = None, **extra: Any) -> dict[str, Any]:
    """What a run explained, stored with its results; :data:`HEADER_KEYS` must match to resume.

    ``extra`` (e.g. the model's path, task and labels) is stored for readers, not compared.
    """
    header = {"doclrp": HEADER_TAG, "format_version": FORMAT_VERSION, "doclrp_version": _version(),
              "model_sha256": model_sha256, "method": dict(method), "target": dict(target), "input": input,
              "shard": None if shard is None else list(shard)}
    header.update(extra)
    # Round-trip once so the header compares equal to the one read back (tuples → lists).
    return json.loads(json.dumps(header, ensure_ascii=False))


def run_fingerprint(model: Any, model_options: Mapping[str, Any] | None = None) -> str:
    """What a run's header records as ``model_sha256``: :func:`model_fingerprint` of the model, and
    with ``load_model`` options (a language model's prompt and labels), of both: the same folder
    read with another prompt is another model.

    >>> run_fingerprint("no/such/folder") == model_fingerprint("no/such/folder")
    True
    """
    fingerprint = model_fingerprint(model)
    if not model_options:
        return fingerprint
    return hashlib.sha256(json.dumps([fingerprint, dict(model_options)], sort_keys=True).encode()).hexdigest()


def model_fingerprint(model: Any) -> str:
    """sha256 of a model folder (every file's name and bytes) or of an in-memory pipeline
    (weights, output names, task, model and encoder settings).

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> import torch; _ = torch.manual_seed(0)
    >>> enc = IdEncoder.fit(["a b"])
    >>> len(model_fingerprint(TextPipeline(EmbeddingBagModel(len(enc.vocabulary), 2, 2), enc, ["x", "y"])))
    64
    """
    digest = hashlib.sha256()
    if isinstance(model, (str, os.PathLike)):
        folder = Path(model)
        # a model file (a scikit-learn .skops file) is hashed as a folder holding just that file
        files = [folder] if folder.is_file() else sorted(
            p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))
        for path in files:
            digest.update((path.name if path == folder else path.relative_to(folder).as_posix()).encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()
    describe = {"labels": list(getattr(model, "labels", [])), "task": getattr(model, "task", None),
                "model": getattr(getattr(model, "model", None), "config", None)}
    encoder = getattr(model, "encoder", None)
    if encoder is not None and hasattr(encoder, "state"):
        describe["encoder"] = [encoder.config, encoder.state()]
    digest.update(json.dumps(describe, sort_keys=True, default=str).encode())
    import torch  # here: reading results (summaries) should not need torch

    for name, tensor in sorted(model.model.state_dict().items()):
        tensor = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def header_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The entries of :data:`HEADER_KEYS` in which two run headers differ, as ``key old → new``."""
    return [f"{key} {old.get(key)!r} → {new.get(key)!r}" for key in HEADER_KEYS if old.get(key) != new.get(key)]


# -- formats --------------------------------------------------------------------------------------
def results_format(path: str | Path) -> str:
    """``"parquet"`` for a path ending in .parquet, else ``"jsonl"``.

    >>> results_format("out/run.parquet"), results_format("out/run.jsonl")
    ('parquet', 'jsonl')
    """
    return "parquet" if str(path).lower().endswith(".parquet") else "jsonl"


def dumps(record: Mapping[str, Any]) -> str:
    return dumps_bytes(record).decode("utf-8")


def dumps_bytes(record: Mapping[str, Any]) -> bytes:
    # orjson: compact UTF-8 JSON ten times faster than json.dumps, a tenth of a corpus
    # run's time on BBC; the lines read back with any JSON reader. numpy scalars are
    # floats to json.dumps (np.float64 subclasses float): to orjson only with the option.
    words = record.get("words")
    if not isinstance(words, WordRows):
        return orjson.dumps(record, option=orjson.OPT_SERIALIZE_NUMPY)
    # The words dumped in blocks and joined between the keys before and after them: the bytes of
    # one dumps call on the whole record (compact, in key order), without a list of a million lists.
    keys = list(record)
    at = keys.index("words")
    before = orjson.dumps({key: record[key] for key in keys[:at]}, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    after = orjson.dumps({key: record[key] for key in keys[at + 1:]}, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
    parts = [orjson.dumps(block)[1:-1] for block in words.blocks()]
    return b"".join([b"{", before, b"," if before else b"", b'"words":[', b",".join(parts), b"]",
                     b"," if after else b"", after, b"}"])


def parquet_modules():
    try:
        import pyarrow  # type: ignore[import-untyped]  # optional: the parquet extra
        import pyarrow.parquet  # type: ignore[import-untyped]
    except ImportError:
        raise DoclrpError("Parquet results need pyarrow: pip install 'doclrp[parquet]', or write .jsonl") from None
    return pyarrow, pyarrow.parquet


def parquet_schema(pa):
    doubles = pa.list_(pa.float64())
    return pa.schema([
        ("id", pa.string()), ("label", pa.string()), ("skipped", pa.string()), ("task", pa.string()),
        ("labels", pa.list_(pa.string())), ("target", pa.string()), ("target_weights", doubles),
        ("target_value", pa.float64()),
        ("delta", pa.float64()),
        ("prediction", pa.struct([("label", pa.string()), ("index", pa.int64()),
                                  ("probabilities", doubles), ("values", doubles)])),
        ("special", pa.map_(pa.string(), pa.float64())), ("targets", doubles), ("text", pa.string()),
        ("sentences", pa.list_(pa.struct([("start", pa.int64()), ("end", pa.int64()), ("relevance", pa.float64())]))),
        ("words", pa.list_(pa.struct([("text", pa.string()), ("start", pa.int64()), ("end", pa.int64()),
                                      ("relevance", pa.float64())]))),
        ("source", pa.string()),
        ("layout", pa.struct([("page_sizes", pa.list_(doubles)), ("source", pa.string()), ("page", pa.list_(pa.int32())),
                              ("box", pa.list_(doubles)), ("parts", pa.list_(doubles))])),
    ])


def to_parquet_row(record: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(record)
    if row["sentences"] is not None:
        row["sentences"] = [{"start": s, "end": e, "relevance": r} for s, e, r in row["sentences"]]
    if row["words"] is not None:
        row["words"] = [{"text": t, "start": s, "end": e, "relevance": r} for t, s, e, r in row["words"]]
    if row["special"] is not None:
        row["special"] = list(row["special"].items())
    row.setdefault("source", None)
    row.setdefault("layout", None)
    return row


def record_from_parquet_row(row: dict[str, Any]) -> dict[str, Any]:
    """A Parquet row as the record :func:`read_results` gives (also for the web app, which reads one row)."""
    if row["sentences"] is not None:
        row["sentences"] = [[s["start"], s["end"], s["relevance"]] for s in row["sentences"]]
    if row["words"] is not None:
        row["words"] = [[w["text"], w["start"], w["end"], w["relevance"]] for w in row["words"]]
    if row["special"] is not None:
        row["special"] = dict(row["special"])
    row.setdefault("source", None)
    row.setdefault("layout", None)
    return row


def read_header(path: Path, fmt: str) -> dict[str, Any] | None:
    """The header of finished results at ``path``; None when it holds none (not doclrp's)."""
    try:
        if fmt == "jsonl":
            with path.open("rb") as handle:
                header = json.loads(handle.readline().decode("utf-8"))
        else:
            _, pq = parquet_modules()
            header = json.loads((pq.read_schema(path).metadata or {}).get(b"doclrp", b"null"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    except Exception:  # pyarrow raises its own errors for files that are not Parquet
        return None
    return header if isinstance(header, dict) and header.get("doclrp") == HEADER_TAG else None
