"""Corpus results, the journal: writers that write each document exactly once, under SIGKILL,
recover an interrupted run, and hold the lock that keeps a second run off the same results
(see :mod:`doclrp.corpus.output` for the guarantees).

>>> import tempfile, pathlib
>>> from doclrp.corpus.output.records import run_header, skipped_record
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> header = run_header(model_sha256="ab12", method={"name": "zero", "params": {}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(out, header) as writer:
...     writer.write_batch([skipped_record("a", None, "empty document")])
...     partial_path(out).exists(), writer.finish() == out, partial_path(out).exists()
(True, True, False)
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: no flock; runs on one output are then the user's to keep apart
    fcntl = None  # type: ignore[assignment]

from doclrp._atomic import fsync_folder, output_path, staged_file, write_bytes, write_text
from doclrp.corpus.output.records import (dumps, dumps_bytes, header_differences, parquet_modules, parquet_schema,
                                          read_header, results_format, to_parquet_row)
from doclrp.errors import DoclrpError

__all__ = ["PARTIAL_SUFFIX", "LOCK_SUFFIX", "ROW_GROUP_RECORDS", "partial_path", "results_lock", "writing",
           "ResultsWriter", "open_results_writer"]

PARTIAL_SUFFIX = ".partial"
LOCK_SUFFIX = ".lock"
#: Records per Parquet row group of finished results (memory holds one while merging).
ROW_GROUP_RECORDS = 2048


def partial_path(path: str | Path) -> Path:
    """Where an unfinished run keeps its work: ``RESULTS.partial`` (a file, or a folder for Parquet)."""
    path = Path(path)
    return path.with_name(path.name + PARTIAL_SUFFIX)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


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
            write_bytes(self.partial, dumps_bytes(self.header) + b"\n")
        self._fd = os.open(self.partial, os.O_WRONLY | os.O_APPEND)

    def _write(self, records):
        # One write of whole lines, then fsync: a kill leaves at worst a cut last line.
        data = b"".join(dumps_bytes(r) + b"\n" for r in records)
        assert self._fd is not None, "the partial file is open while the writer writes"
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
        self.pa, self.pq = parquet_modules()
        self.schema = parquet_schema(self.pa)
        if not complete:
            self._open_partial()

    def _open_partial(self):
        if not (self.partial / "header.json").is_file():
            self.partial.mkdir(exist_ok=True)
            write_text(self.partial / "header.json", dumps(self.header))

    def _parts(self) -> list[Path]:
        return sorted(self.partial.glob("part-*.parquet"))

    def _write(self, records):
        parts = self._parts()
        number = int(parts[-1].stem.split("-")[1]) + 1 if parts else 0
        final = self.partial / f"part-{number:08d}.parquet"
        table = self.pa.Table.from_pylist([to_parquet_row(r) for r in records], schema=self.schema)
        with staged_file(final) as temporary:
            self.pq.write_table(table, temporary)

    def _publish(self):
        schema = self.schema.with_metadata({"doclrp": dumps(self.header)})
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
    _, pq = parquet_modules()
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
        parquet_modules()
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
        existing = read_header(path, fmt)
        problem = (f"{path} exists and was not written by doclrp corpus" if existing is None else
                   f"{path} holds results of other settings ({'; '.join(header_differences(existing, header))})"
                   if header_differences(existing, header) else None)
        if problem and not overwrite:
            raise DoclrpError(f"{problem}: pass --overwrite to replace it, or choose another --out")
        if problem:
            existing = None

    writer_class = _JsonlWriter if fmt == "jsonl" else _ParquetWriter
    if partial.exists():
        if fmt == "jsonl":
            old, done = _recover_jsonl(partial)
        else:
            old, done = _recover_parquet(partial, parquet_modules()[1])
        if old is not None and not header_differences(old, header):
            if existing is not None and path.exists():
                # Killed between publishing and cleaning up: the finished file is the truth.
                _remove(partial)
                return writer_class(path, existing, _ids_of(path, fmt), complete=True)
            return writer_class(path, old, done, complete=False)
        if not overwrite:
            what = "an unreadable header" if old is None else "; ".join(header_differences(old, header))
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
