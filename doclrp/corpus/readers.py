"""Reading corpora as streams of :class:`Record` (id, text, label, targets).

>>> from doclrp.corpus.readers import open_corpus
>>> first = next(iter(open_corpus("bbc")))
>>> first.id, first.label
('business/001', 'business')

Sources: a folder of ``<class>/*.txt`` files (or PDF, Word, HTML and e-mail files, mixed), a
JSONL file, a CSV file (rows with the text, or a ``path`` to a document file), or a corpus
known by name (the BBC News articles, the VADER corpora), which the
registry of :mod:`doclrp.corpus.registry` resolves. Every reader checks
its path when called (so a wrong path fails at once, not at the first
``next``) and then yields records lazily. Problems name the file, and the line
where there is one; ``on_error="skip"`` skips bad lines with a warning, never
silently.
"""

from __future__ import annotations

import csv
import json
import math
import os
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doclrp._explain import invalid_character
from doclrp.corpus.registry import SOURCES, open_source
from doclrp.errors import DoclrpError

__all__ = [
    "Record",
    "CorpusWarning",
    "read_folder",
    "read_jsonl",
    "read_csv",
    "open_corpus",
    "DOCUMENT_SUFFIXES",
]

#: Names of the files a corpus folder's documents may have besides ``.txt``: read by
#: :mod:`doclrp.documents` (the kind from the content) when their batch is explained.
DOCUMENT_SUFFIXES = (".pdf", ".docx", ".docm", ".html", ".htm", ".xhtml", ".eml")


@dataclass(frozen=True)
class Record:
    """One document: a unique ``id``, its ``text``, an optional class ``label``
    and optional regression ``targets`` (floats, in the order of the target
    columns that were asked for); ``source``: the file the document is read from (a PDF, Word,
    HTML or e-mail file: its text is read when its batch is explained, and is empty until then).

    >>> Record("a", "Good film.", targets=(4.5,)).targets
    (4.5,)
    """

    id: str
    text: str
    label: str | None = None
    targets: tuple[float, ...] | None = None
    source: str | None = field(default=None, repr=False)  # shown only where set: records of text read as before


class CorpusWarning(UserWarning):
    """A record was skipped because it was malformed (``on_error="skip"``)."""


def _check_on_error(on_error: str) -> None:
    if on_error not in ("raise", "skip"):
        raise DoclrpError(f"on_error must be 'raise' or 'skip', got {on_error!r}")


def _check_file(path: str | Path, kind: str) -> Path:
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"no {kind} file at {path}: check the path")
    return path


class _Problems:
    """Raises or warns about one malformed line, as ``on_error`` says."""

    def __init__(self, path: Path, on_error: str) -> None:
        _check_on_error(on_error)
        self.path, self.on_error = path, on_error

    def __call__(self, line: int, problem: str) -> None:
        where = f"{self.path} line {line}: {problem}"
        if self.on_error == "raise":
            raise DoclrpError(f"{where}; fix the line or pass on_error='skip' to skip such lines")
        warnings.warn(f"skipped {where}", CorpusWarning, stacklevel=3)


def _decode(data: bytes, path: Path, fallback: str | None) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        if fallback is not None:
            return data.decode(fallback)
        raise DoclrpError(
            f"{path} is not valid UTF-8 (byte {error.start}): re-save it as UTF-8 (from Python, "
            "doclrp.corpus.read_folder(folder, fallback_encoding='latin-1') reads such files)"
        ) from None


def read_folder(path: str | Path, *, fallback_encoding: str | None = None) -> Iterator[Record]:
    """Records from ``<path>/<class>/*.txt`` (label = folder name, id =
    ``"<class>/<file stem>"``); ``*.txt`` directly in ``path`` give unlabeled
    records with id = file stem. Classes and files come in sorted order. PDF, Word, HTML and
    e-mail files (`DOCUMENT_SUFFIXES`) may stand beside them: their records have the file's
    whole name as id (``"<class>/<name>.pdf"``) and its path as ``source``, to be read when
    explained.

    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp()); (root / "pos").mkdir()
    >>> _ = (root / "pos" / "1.txt").write_text("Great.")
    >>> list(read_folder(root))
    [Record(id='pos/1', text='Great.', label='pos', targets=None)]

    Files must be UTF-8; with ``fallback_encoding`` a file that is not is
    decoded with that encoding instead of failing.
    """
    root = Path(path)
    if not root.is_dir():
        raise DoclrpError(f"no corpus folder at {root}: check the path")
    files: list[tuple[str | None, Path]] = [(None, f) for f in _documents_in(root)]
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files += [(folder.name, f) for f in _documents_in(folder)]
    if not files:
        raise DoclrpError(f"no .txt files in {root} or its class folders: expected <class>/<name>.txt "
                          f"(or {', '.join(DOCUMENT_SUFFIXES)})")

    def records() -> Iterator[Record]:
        for label, file in files:
            if file.suffix.lower() != ".txt":
                yield Record(file.name if label is None else f"{label}/{file.name}", "", label,
                             source=os.path.abspath(file))  # absolute: a report finds the file again
                continue
            text = _decode(file.read_bytes(), file, fallback_encoding)
            yield Record(file.stem if label is None else f"{label}/{file.stem}", text, label)

    return records()


def _documents_in(folder: Path) -> list[Path]:
    """A folder's document files, sorted: ``*.txt`` and `DOCUMENT_SUFFIXES` (hidden files left out)."""
    return sorted(f for f in folder.iterdir() if not f.name.startswith(".") and f.is_file()
                  and f.suffix.lower() in (".txt", *DOCUMENT_SUFFIXES))


def _label(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, int):
        # JSON class ids such as 0/1 become names: labels are always strings.
        return str(int(value))
    raise TypeError(f"label must be a string or an integer, got {type(value).__name__}")


def _targets(row: dict[str, Any], columns: Sequence[str]) -> tuple[float, ...]:
    values = []
    for column in columns:
        if column not in row or row[column] in (None, ""):
            raise TypeError(f"target {column!r} is missing")
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            raise TypeError(f"target {column!r} is not a number: {row[column]!r}") from None
        if not math.isfinite(value):
            raise TypeError(f"target {column!r} is not finite: {row[column]!r}")
        values.append(value)
    return tuple(values)


def _record(
    row: dict[str, Any],
    line: int,
    text_field: str,
    label_field: str | None,
    id_field: str | None,
    target_columns: Sequence[str] | None,
    base: Path | None = None,
) -> Record:
    """One record from a parsed JSON object or CSV row; TypeError says what is wrong.
    Without a text, a ``path`` (relative to ``base``, the corpus file's folder) names the
    document file to read."""
    text = row.get(text_field)
    source = None
    if text in (None, "") and isinstance(row.get(PATH_FIELD), str) and row[PATH_FIELD].strip():
        source = os.path.abspath((base or Path(".")) / row[PATH_FIELD])
        text = ""
    elif not isinstance(text, str):
        raise TypeError(f"field {text_field!r} is missing or not a string (or give {PATH_FIELD!r}: a document file)")
    raw_id = row.get(id_field) if id_field else None
    record_id = str(line) if raw_id in (None, "") else str(raw_id)
    label = _label(row.get(label_field)) if label_field else None
    targets = _targets(row, target_columns) if target_columns else None
    # A lone surrogate ("\ud800" in JSON) cannot be tokenized or written back as UTF-8: a bad line.
    for name, value in ((text_field, text), (id_field, record_id), (label_field, label)):
        problem = None if value is None else invalid_character(value)
        if problem:
            raise TypeError(f"field {name!r} {problem}")
    return Record(record_id, text, label, targets, source=source)


#: The field of a JSONL or CSV row that names a document file (PDF, Word, HTML, e-mail, text)
#: to read instead of a text, relative to the corpus file's folder.
PATH_FIELD = "path"


def _unique(records: Iterator[tuple[int, Record]], problems: _Problems) -> Iterator[Record]:
    # Ids key splits, results and resumption: a repeated id would silently
    # overwrite or drop a document downstream.
    seen: set[str] = set()
    for line, record in records:
        if record.id in seen:
            problems(line, f"duplicate id {record.id!r}")
            continue
        seen.add(record.id)
        yield record


def read_jsonl(
    path: str | Path,
    *,
    on_error: str = "raise",
    text_field: str = "text",
    label_field: str | None = "label",
    id_field: str | None = "id",
    target_columns: Sequence[str] | None = None,
) -> Iterator[Record]:
    """Records from a JSON-lines file of objects ``{"id", "text", "label"}``.

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.jsonl"
    >>> _ = path.write_text('{"id": "a", "text": "Fine.", "label": "pos", "stars": 4}\\n')
    >>> list(read_jsonl(path, target_columns=["stars"]))
    [Record(id='a', text='Fine.', label='pos', targets=(4.0,))]

    A row without a text may name a document file instead: ``{"id": "b", "path": "b.pdf"}``
    (relative to the JSONL file's folder; read when explained, as `read_folder`'s documents).

    A missing id becomes the line number; a missing label becomes None; blank
    lines are ignored. A malformed line (bad JSON, no text, non-numeric target,
    repeated id, invalid UTF-8) raises a DoclrpError naming its line number, or
    with ``on_error="skip"`` is skipped with a :class:`CorpusWarning`.
    """
    path = _check_file(path, "JSONL")
    problems = _Problems(path, on_error)

    def numbered() -> Iterator[tuple[int, Record]]:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                try:
                    row = json.loads(raw.decode("utf-8"))
                except UnicodeDecodeError:
                    problems(number, "not valid UTF-8")
                    continue
                except json.JSONDecodeError as error:
                    # Some messages end in "at" ("Unterminated string starting at"): one "at", not two.
                    problems(number, f"invalid JSON ({error.msg.removesuffix(' at')} at column {error.colno})")
                    continue
                if not isinstance(row, dict):
                    problems(number, f"expected a JSON object, got {type(row).__name__}")
                    continue
                try:
                    yield number, _record(row, number, text_field, label_field, id_field, target_columns,
                                          path.parent)
                except TypeError as error:
                    problems(number, str(error))

    return _unique(numbered(), problems)


def read_csv(
    path: str | Path,
    *,
    text_column: str = "text",
    label_column: str | None = "label",
    id_column: str | None = "id",
    target_columns: Sequence[str] | None = None,
    on_error: str = "raise",
    delimiter: str = ",",
) -> Iterator[Record]:
    """Records from a CSV file with a header row (UTF-8, a BOM is allowed).

    >>> import pathlib, tempfile
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "c.csv"
    >>> _ = path.write_text('id,text,label\\n7,"Dull, long.",neg\\n')
    >>> list(read_csv(path))
    [Record(id='7', text='Dull, long.', label='neg', targets=None)]

    The text column and the target columns must be in the header. Without an
    id column the id is the line number; without the label column labels are
    None. Line numbers in messages count the header as line 1.
    """
    path = _check_file(path, "CSV")
    problems = _Problems(path, on_error)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            header = next(csv.reader(handle, delimiter=delimiter), None)
    except UnicodeDecodeError:
        raise DoclrpError(f"{path} is not valid UTF-8: re-save it as UTF-8") from None
    if not header:
        raise DoclrpError(f"{path} is empty: expected a header row with a {text_column!r} column")
    needed = [text_column] if PATH_FIELD not in header else []  # a path column stands in for the text
    missing = [c for c in [*needed, *(target_columns or [])] if c not in header]
    if missing:
        raise DoclrpError(f"{path} has no column(s) {missing}; its columns are {header}")
    label_column = label_column if label_column in header else None
    id_column = id_column if id_column in header else None

    def numbered() -> Iterator[tuple[int, Record]]:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle, delimiter=delimiter)
            try:
                for row in reader:
                    # line_num is where the row ends, which a quoted newline moves.
                    number = reader.line_num
                    if None in row:
                        problems(number, f"{len(header) + len(row[None])} fields, header has {len(header)}")
                        continue
                    try:
                        yield number, _record(row, number, text_column, label_column, id_column, target_columns,
                                              path.parent)
                    except TypeError as error:
                        problems(number, str(error))
            except UnicodeDecodeError:
                raise DoclrpError(
                    f"{path} is not valid UTF-8 (after line {reader.line_num}): re-save it as UTF-8"
                ) from None
            except csv.Error as error:
                raise DoclrpError(f"{path} line {reader.line_num}: {error}; fix the CSV quoting") from None

    return _unique(numbered(), problems)


def open_corpus(spec: str | Path, **options: Any) -> Iterator[Record]:
    """Records from a named source (``"bbc"``, ``"vader"``, ...: see
    :mod:`doclrp.corpus.registry`), a folder, a ``.jsonl`` or a ``.csv`` file;
    ``options`` go to the matching reader.

    >>> next(iter(open_corpus("bbc"))).id
    'business/001'
    """
    if isinstance(spec, str) and spec.lower() in SOURCES:
        return open_source(spec.lower(), **options)
    path = Path(spec)
    if path.is_dir():
        return read_folder(path, **options)
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson"):
        return read_jsonl(path, **options)
    if suffix in (".csv", ".tsv"):
        if suffix == ".tsv":
            options.setdefault("delimiter", "\t")
        return read_csv(path, **options)
    named = " or ".join(repr(name) for name in SOURCES)
    if not path.exists():
        raise DoclrpError(f"no corpus at {path}: give {named}, a folder of <class>/*.txt, a .jsonl or a .csv file")
    raise DoclrpError(f"cannot read {path}: a corpus is {named}, a folder of <class>/*.txt, a .jsonl or a .csv file")
