"""Corpus results: the record format, the run header, and writers that resume.

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> header = run_header(model_sha256="ab12", method={"name": "epsilon", "params": {"eps": 1e-6}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(out, header) as writer:
...     writer.write_batch([skipped_record("a", None, "empty document")])
...     path = writer.finish()
>>> results = read_results(out)
>>> results.header["method"]["name"], [r["id"] for r in results]
('epsilon', ['a'])

**Records.** One per document, the same keys in JSONL and Parquet::

    id, label, skipped, task, labels, target, target_weights, target_value, delta,
    prediction {label, index, probabilities, values}, special {name: relevance},
    targets, text, sentences [[start, end, relevance]...], words [[text, start, end, relevance]...],
    source, layout

``source`` is the document's file (PDF, Word, HTML, e-mail) when it was read from one, and
``layout`` a PDF's word places as columns (``WordLayout.to_columns``: ``page`` and ``box`` per
word, ``parts`` of words broken over lines, ``page_sizes``); both None otherwise.

``skipped`` is None for an explained document and the reason otherwise (then
everything after ``skipped`` but ``targets`` and ``text`` is None). Offsets are
characters of ``text``; ``targets`` are the corpus's regression targets, if read;
``target`` is the explained target's name and ``target_weights`` its weight per output
(the run header holds the method, with its parameters, and the target as given).
:func:`record_to_explanation` gives back the full :class:`~doclrp.text.Explanation`
(for HTML pages).

**Files.** JSONL: the first line is the run header (``{"doclrp": "corpus-results", ...}``),
then one record per line. Parquet: the header is the file's ``doclrp`` metadata entry.
Records come in the run's plan order (corpus order, sorted by length within buffers).

**Exactly once, under SIGKILL.** A run writes to ``RESULTS.partial`` and renames it
to ``RESULTS`` when the corpus is done, so ``RESULTS`` only ever exists complete.
JSONL: every batch is appended with one ``write`` and ``fsync``ed before the next
batch starts; a kill can only cut the last line short, and a restart drops that
partial line and reads the ids that are complete. Parquet (no appends): every
batch is a part file in the ``RESULTS.partial/`` folder, written to a temporary
name and renamed; the end merges the parts into ``RESULTS``.
A restart whose header differs from the one on disk (another model, composite,
target, reference, input or shard) is refused unless ``overwrite``.

**One run at a time.** A run holds an OS lock (``flock``) on ``RESULTS.lock`` while it
works (:func:`results_lock`); a second run on the same ``RESULTS`` is refused at once.
The OS releases the lock when its process ends, killed or not, so none is left behind.
Readers refuse results that hold an id twice (the mark of two runs that wrote at once
before this lock existed). A file system that refuses writes (read-only, full) ends the
run with a one-line error naming the path.
"""

from __future__ import annotations

import bisect
import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any, overload

import orjson

try:
    import fcntl
except ImportError:  # Windows: no flock; runs on one output are then the user's to keep apart
    fcntl = None  # type: ignore[assignment]

from doclrp._atomic import fsync_folder, output_path, staged_file, write_bytes, write_text
from doclrp.core.targets import Target
from doclrp.errors import DoclrpError
from doclrp.text.columns import WordColumns
from doclrp.text.explanation import Explanation, Prediction, SentenceRelevance
from doclrp.text.frames import WORD_COLUMNS, require_pandas
from doclrp.text.layout import WordLayout

__all__ = [
    "FORMAT_VERSION",
    "HEADER_KEYS",
    "WordRows",
    "Results",
    "ResultsWriter",
    "record_from_parquet_row",
    "explanation_record",
    "model_fingerprint",
    "open_results_writer",
    "partial_path",
    "read_results",
    "record_to_explanation",
    "results_lock",
    "results_format",
    "run_header",
    "skipped_record",
]

FORMAT_VERSION = 2
HEADER_TAG = "corpus-results"
#: Header entries that must match for a restart to continue an output.
HEADER_KEYS = ("format_version", "model_sha256", "method", "target", "input", "shard")
RECORD_KEYS = ("id", "label", "skipped", "task", "labels", "target", "target_weights", "target_value", "delta", "prediction",
               "special", "targets", "text", "sentences", "words", "source", "layout")
PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
#: Records per Parquet row group of finished results (memory holds one while merging).
ROW_GROUP_RECORDS = 2048


# -- records --------------------------------------------------------------------------------------
def explanation_record(explanation: Explanation, label: str | None = None,
                       targets: Sequence[float] | None = None, source: str | None = None) -> dict[str, Any]:
    """The compact record of one explained document (see the module docstring).

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
        "special": dict(explanation.special),
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


def _differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    return [f"{key} {old.get(key)!r} → {new.get(key)!r}" for key in HEADER_KEYS if old.get(key) != new.get(key)]


# -- formats --------------------------------------------------------------------------------------
def results_format(path: str | Path) -> str:
    """``"parquet"`` for a path ending in .parquet, else ``"jsonl"``.

    >>> results_format("out/run.parquet"), results_format("out/run.jsonl")
    ('parquet', 'jsonl')
    """
    return "parquet" if str(path).lower().endswith(".parquet") else "jsonl"


def partial_path(path: str | Path) -> Path:
    """Where an unfinished run keeps its work: ``RESULTS.partial`` (a file, or a folder for Parquet)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _dumps(record: Mapping[str, Any]) -> str:
    return _dumps_bytes(record).decode("utf-8")


def _dumps_bytes(record: Mapping[str, Any]) -> bytes:
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


def _parquet():
    try:
        import pyarrow  # optional: the parquet extra
        import pyarrow.parquet
    except ImportError:
        raise DoclrpError("Parquet results need pyarrow: pip install 'doclrp[parquet]', or write .jsonl") from None
    return pyarrow, pyarrow.parquet


def _parquet_schema(pa):
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


def _to_parquet_row(record: Mapping[str, Any]) -> dict[str, Any]:
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


# -- one writer at a time --------------------------------------------------------------------------
# Locks this process holds: path → [descriptor, depth]. Re-entrant, because explain_corpus
# locks before it loads the model (a second run must not wait for that) and the writer again.
_HELD: dict[Path, list[int]] = {}


@contextmanager
def results_lock(path: str | Path) -> Iterator[None]:
    """Hold the lock of the results at ``path`` (``RESULTS.lock``); refuse when another run holds it.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> with results_lock(out):
    ...     (out.parent / "r.jsonl.lock").exists()
    True
    >>> (out.parent / "r.jsonl.lock").exists()
    False
    """
    path = Path(os.path.realpath(path))  # one lock per file, whatever link names it
    held = _HELD.get(path)
    if held is not None or fcntl is None:
        if held is not None:
            held[1] += 1
        try:
            yield
        finally:
            if held is not None:
                held[1] -= 1
        return
    if not path.parent.is_dir():
        raise DoclrpError(f"folder {path.parent} does not exist: create it or choose another --out")
    lock = path.with_name(path.name + LOCK_SUFFIX)
    with writing(path):
        fd = _acquire(lock, path)
    _HELD[path] = [fd, 1]
    try:
        yield
    finally:
        del _HELD[path]
        try:
            lock.unlink()  # while still holding it: a later run makes and locks a fresh file
        except OSError:
            pass
        os.close(fd)


def _acquire(lock: Path, path: Path) -> int:
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DoclrpError(f"another run is writing {path}; wait or choose another --out") from None
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            return fd
        os.close(fd)  # locked a file that its finished owner had just removed: lock the new one


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """OS errors of writing the results at ``path`` (read-only file system, disk full, a
    folder that is a file) as one-line errors.

    >>> with writing("/proc/none.jsonl"):
    ...     raise PermissionError(13, "Permission denied")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: cannot write /proc/none.jsonl: Permission denied; choose another --out
    """
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise DoclrpError(f"cannot write {path}: {reason}; choose another --out") from None


def _check_unique(ids: Iterable[str], path: Path) -> set[str]:
    """``ids`` as a set; an id seen twice is refused, named."""
    seen: set[str] = set()
    for id in ids:
        if id in seen:
            raise DoclrpError(f"{path} holds document {id!r} twice (two runs wrote it at once?): "
                              "remove the file and run again")
        seen.add(id)
    return seen


# -- writers --------------------------------------------------------------------------------------
class ResultsWriter:
    """Appends batches of records to an unfinished run; ``finish()`` publishes the results.

    Made by :func:`open_results_writer`. ``done_ids``: ids already written (by this or an
    earlier, interrupted run); ``header``: the run header on disk.
    """

    def __init__(self, path: Path, header: dict[str, Any], done_ids: set[str], complete: bool) -> None:
        self.path, self.header, self.done_ids = path, header, done_ids
        self._lock: Any = None  # the results_lock open_results_writer took, released on exit
        self.partial = partial_path(path)
        #: True when ``path`` already held the finished results and nothing was added yet.
        self.complete = complete

    def write_batch(self, records: Sequence[Mapping[str, Any]]) -> None:
        """Write ``records`` so that after a crash either all of them are on disk or none."""
        records = [r for r in records if r["id"] not in self.done_ids]
        if not records:
            return
        with writing(self.path):
            if self.complete:
                self._reopen()
            self._write(records)
        self.done_ids.update(r["id"] for r in records)

    def finish(self) -> Path:
        """Make ``path`` the complete results (atomic rename) and return it."""
        if not self.complete:
            with writing(self.path):
                self._publish()
            self.complete = True
        return self.path

    def close(self) -> None:
        """Release files; unfinished work stays in ``RESULTS.partial`` for a restart."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.close()
        finally:
            self._unlock()

    def _unlock(self) -> None:
        lock, self._lock = getattr(self, "_lock", None), None
        if lock is not None:
            lock.__exit__(None, None, None)

    # Format-specific parts.
    def _write(self, records):
        raise NotImplementedError

    def _publish(self):
        raise NotImplementedError

    def _reopen(self):
        """Turn a finished results file back into an unfinished run that new documents extend."""
        raise NotImplementedError


class _JsonlWriter(ResultsWriter):
    def __init__(self, path, header, done_ids, complete):
        super().__init__(path, header, done_ids, complete)
        self._fd: int | None = None
        if not complete:
            self._open_partial()

    def _open_partial(self):
        if not self.partial.exists():
            write_bytes(self.partial, _dumps_bytes(self.header) + b"\n")
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_APPEND)

    def _write(self, records):
        # One write of whole lines, then fsync: a kill leaves at worst a cut last line.
        data = b"".join(_dumps_bytes(r) + b"\n" for r in records)
        _write_all(self._fd, data)
        os.fsync(self._fd)

    def _publish(self):
        self.close()
        os.replace(self.partial, self.path)
        fsync_folder(self.path.parent)

    def _reopen(self):
        os.replace(self.path, self.partial)
        self.complete = False
        self._open_partial()

    def close(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class _ParquetWriter(ResultsWriter):
    def __init__(self, path, header, done_ids, complete):
        super().__init__(path, header, done_ids, complete)
        self.pa, self.pq = _parquet()
        self.schema = _parquet_schema(self.pa)
        if not complete:
            self._open_partial()

    def _open_partial(self):
        if not (self.partial / "header.json").is_file():
            self.partial.mkdir(exist_ok=True)
            write_text(self.partial / "header.json", _dumps(self.header))

    def _parts(self) -> list[Path]:
        return sorted(self.partial.glob("part-*.parquet"))

    def _write(self, records):
        parts = self._parts()
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        final = self.partial / f"part-{number:08d}.parquet"
        table = self.pa.Table.from_pylist([_to_parquet_row(r) for r in records], schema=self.schema)
        with staged_file(final) as temporary:
            self.pq.write_table(table, temporary)

    def _publish(self):
        schema = self.schema.with_metadata({"doclrp": _dumps(self.header)})
        with staged_file(self.path) as temporary, self.pq.ParquetWriter(temporary, schema) as out:
            pending, rows = [], 0
            for part in self._parts():
                table = self.pq.read_table(part, schema=self.schema)
                pending.append(table)
                rows += table.num_rows
                if rows >= ROW_GROUP_RECORDS:  # few large row groups, not one per batch
                    out.write_table(self.pa.concat_tables(pending).replace_schema_metadata(schema.metadata))
                    pending, rows = [], 0
            if pending:
                out.write_table(self.pa.concat_tables(pending).replace_schema_metadata(schema.metadata))
        shutil.rmtree(self.partial, ignore_errors=True)

    def _reopen(self):
        self._open_partial()  # the header first: a part in a folder without one would not be resumable
        os.replace(self.path, self.partial / "part-00000000.parquet")
        fsync_folder(self.partial)
        self.complete = False


def _read_header(path: Path, fmt: str) -> dict[str, Any] | None:
    """The header of finished results at ``path``; None when it holds none (not doclrp's)."""
    try:
        if fmt == "jsonl":
            with path.open("rb") as handle:
                header = json.loads(handle.readline().decode("utf-8"))
        else:
            _, pq = _parquet()
            header = json.loads((pq.read_schema(path).metadata or {}).get(b"doclrp", b"null"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    except Exception:  # pyarrow raises its own errors for files that are not Parquet
        return None
    return header if isinstance(header, dict) and header.get("doclrp") == HEADER_TAG else None


_ID_PREFIX = b'{"id":'
_DECODER = json.JSONDecoder()


def _record_id(line: bytes) -> str:
    """The id of a record line; records start with it, so the rest need not be parsed."""
    if line.startswith(_ID_PREFIX):
        try:
            return _DECODER.raw_decode(line[len(_ID_PREFIX) : len(_ID_PREFIX) + 4096].decode("utf-8", "replace"))[0]
        except ValueError:  # an id longer than the slice: parse the line
            pass
    return json.loads(line)["id"]


def _complete_length(handle) -> int:
    """Bytes up to and including the last newline (a kill can only have cut what follows)."""
    end = handle.seek(0, os.SEEK_END)
    while end > 0:
        start = max(0, end - (1 << 16))
        handle.seek(start)
        newline = handle.read(end - start).rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


def _recover_jsonl(partial: Path) -> tuple[dict[str, Any] | None, set[str]]:
    """Header and complete ids of an unfinished JSONL run; a cut last line is removed."""
    with partial.open("r+b") as handle:
        end = _complete_length(handle)
        if end < handle.seek(0, os.SEEK_END):
            handle.truncate(end)
            handle.flush()
            os.fsync(handle.fileno())
        handle.seek(0)
        try:
            header = json.loads(handle.readline())
        except ValueError:
            return None, set()
        return header, _check_unique((_record_id(line) for line in handle if line.strip()), partial)


def _recover_parquet(partial: Path, pq) -> tuple[dict[str, Any] | None, set[str]]:
    try:
        header = json.loads((partial / "header.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None, set()
    for leftover in partial.glob("*.tmp"):  # a part whose rename never happened: never counted
        leftover.unlink()
    ids: list[str] = []
    for part in sorted(partial.glob("part-*.parquet")):
        ids.extend(pq.read_table(part, columns=["id"]).column("id").to_pylist())
    return header, _check_unique(ids, partial)


def _ids_of(path: Path, fmt: str) -> set[str]:
    if fmt == "jsonl":
        with path.open("rb") as handle:
            handle.readline()
            return _check_unique((_record_id(line) for line in handle if line.strip()), path)
    _, pq = _parquet()
    return _check_unique(pq.read_table(path, columns=["id"]).column("id").to_pylist(), path)


def open_results_writer(path: str | Path, header: Mapping[str, Any], overwrite: bool = False) -> ResultsWriter:
    """A writer for ``path`` that continues an earlier run with the same header.

    Finished results with the same header: their ids count as done (new documents
    extend them). A different header, or a file doclrp did not write: refused
    unless ``overwrite``; then the old results stay readable until the new run
    finishes and replaces them.
    """
    path = Path(path)
    header = dict(header)
    fmt = results_format(path)
    if fmt == "parquet":
        _parquet()
    if not path.parent.is_dir():
        raise DoclrpError(f"folder {path.parent} does not exist: create it or choose another --out")
    if path.is_dir():
        raise DoclrpError(f"{path} is a folder; give a file name for the results (.jsonl or .parquet)")
    with writing(path):
        path = output_path(path)  # a link's target is the output; a device, FIFO or socket is refused
    # Held from here to the writer's exit: recovering a partial file another run appends to would cut its lines.
    lock = results_lock(path)
    lock.__enter__()
    try:
        with writing(path):
            writer = _open_writer(path, header, fmt, overwrite)
    except BaseException:
        lock.__exit__(None, None, None)
        raise
    writer._lock = lock
    return writer


def _open_writer(path: Path, header: dict[str, Any], fmt: str, overwrite: bool) -> ResultsWriter:
    partial = partial_path(path)
    if partial.exists() and (partial.is_dir() != (fmt == "parquet")):
        raise DoclrpError(f"{partial} is not an unfinished {fmt} run; remove it or choose another --out")

    existing = None
    if path.exists():
        existing = _read_header(path, fmt)
        problem = (f"{path} exists and was not written by doclrp corpus" if existing is None else
                   f"{path} holds results of other settings ({'; '.join(_differences(existing, header))})"
                   if _differences(existing, header) else None)
        if problem and not overwrite:
            raise DoclrpError(f"{problem}: pass --overwrite to replace it, or choose another --out")
        if problem:
            existing = None

    writer_class = _JsonlWriter if fmt == "jsonl" else _ParquetWriter
    if partial.exists():
        if fmt == "jsonl":
            old, done = _recover_jsonl(partial)
        else:
            old, done = _recover_parquet(partial, _parquet()[1])
        if old is not None and not _differences(old, header):
            if existing is not None and path.exists():
                # Killed between publishing and cleaning up: the finished file is the truth.
                _remove(partial)
                return writer_class(path, existing, _ids_of(path, fmt), complete=True)
            return writer_class(path, old, done, complete=False)
        if not overwrite:
            what = "an unreadable header" if old is None else "; ".join(_differences(old, header))
            raise DoclrpError(f"{partial} is an unfinished run of other settings ({what}): "
                              "pass --overwrite to start again, or choose another --out")
        _remove(partial)
    if existing is not None:
        return writer_class(path, existing, _ids_of(path, fmt), complete=True)
    header["started"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return writer_class(path, header, set(), complete=False)


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink(missing_ok=True)


# -- reading --------------------------------------------------------------------------------------
class Results:
    """Finished results: ``header`` and an iterable of records (streamed from disk);
    ``to_frame()`` and ``words_frame()`` for pandas.

    >>> import tempfile, pathlib
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
    >>> header = run_header(model_sha256="ab12", method={"name": "epsilon", "params": {}},
    ...                     target={"name": None, "weights": None}, input="bbc")
    >>> with open_results_writer(out, header) as writer:
    ...     writer.write_batch([skipped_record("a", "pos", "empty document")])
    ...     _ = writer.finish()
    >>> read_results(out).to_frame()[["id", "label", "skipped", "words"]].values.tolist()
    [['a', 'pos', 'empty document', 0]]
    """

    def __init__(self, path: Path, header: dict[str, Any], fmt: str) -> None:
        self.path, self.header, self.format = path, header, fmt

    def __iter__(self) -> Iterator[dict[str, Any]]:
        seen: set[str] = set()
        for record in self._records():
            if record.get("id") in seen:
                raise DoclrpError(f"{self.path} holds document {record['id']!r} twice (two runs wrote it at "
                                  "once?): run the corpus again into a new file")
            seen.add(record.get("id"))
            yield record

    def __len__(self) -> int:
        """The number of records (documents explained or skipped), counted without parsing them.

        >>> import tempfile, pathlib
        >>> out = pathlib.Path(tempfile.mkdtemp()) / "r.jsonl"
        >>> header = run_header(model_sha256="ab", method={"name": "epsilon", "params": {}},
        ...                     target={"name": None, "weights": None}, input="bbc")
        >>> with open_results_writer(out, header) as writer:
        ...     writer.write_batch([skipped_record("a", None, "empty document"), skipped_record("b", None, "empty document")])
        ...     _ = writer.finish()
        >>> len(read_results(out))
        2
        """
        if self.format == "jsonl":
            with self.path.open("rb") as handle:
                handle.readline()  # the header
                return sum(1 for line in handle if line.strip())
        _, pq = _parquet()
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
            _, pq = _parquet()
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
        rows = []
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
    header = _read_header(path, fmt)
    if header is None:
        raise DoclrpError(f"{path} is not doclrp corpus results: write it with doclrp corpus")
    if header.get("format_version") != FORMAT_VERSION:
        raise DoclrpError(f"{path} has results format {header.get('format_version')!r}; this doclrp reads "
                          f"{FORMAT_VERSION}: use doclrp {header.get('doclrp_version')}")
    return Results(path, header, fmt)
