"""Atomic writes of files and whole folders: a reader sees the old content or the new, never half.

>>> import pathlib, tempfile
>>> from doclrp._atomic import staged_folder, write_text
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> write_text(root / "a.txt", "one").read_text()
'one'
>>> with staged_folder(root / "report") as staging:
...     _ = write_text(staging / "index.html", "<p>new</p>")
>>> sorted(p.name for p in root.iterdir())
['a.txt', 'report']

Every writer of doclrp goes through here. A file is written to a temporary
file in the same folder (same file system, so the rename is atomic), flushed
to disk and renamed over the target. A folder is built aside and swapped in:
the old folder is renamed away, the new one renamed in, the old one removed;
if anything fails before the swap, the staging folder is removed and the old
folder stays. On failure nothing is left behind but what was there before.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["write_bytes", "write_text", "staged_file", "staged_folder", "fsync_folder"]

# mkstemp and mkdtemp make private entries (0600, 0700); what they become is an
# ordinary file or folder, so it gets the usual rw-r--r-- / rwxr-xr-x.
FILE_MODE = 0o644
FOLDER_MODE = 0o755


def fsync_folder(folder: str | os.PathLike) -> None:
    """Flush ``folder``'s entries to disk (best effort): a rename is durable only once they are.

    >>> fsync_folder(".")
    """
    # A rename is durable only once the folder's entry is on disk.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems (and Windows) cannot fsync a folder
    finally:
        os.close(fd)


@contextmanager
def staged_file(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; once the block ends without error,
    the file written there is flushed and renamed over ``path``.

    >>> import pathlib, tempfile
    >>> target = pathlib.Path(tempfile.mkdtemp()) / "table.bin"
    >>> with staged_file(target) as temporary:
    ...     _ = temporary.write_bytes(b"rows")
    >>> target.read_bytes(), sorted(p.name for p in target.parent.iterdir())
    (b'rows', ['table.bin'])

    For writers that take a path (Parquet, safetensors). If the block fails,
    the temporary file is removed and ``path`` keeps what it had.
    """
    target = Path(path)
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(handle)
    temporary = Path(name)
    try:
        yield temporary
        with temporary.open("rb") as written:
            os.fsync(written.fileno())
        os.chmod(temporary, FILE_MODE)
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(target.parent)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically; return the path.

    >>> import pathlib, tempfile
    >>> write_bytes(pathlib.Path(tempfile.mkdtemp()) / "x.bin", b"\\x00\\x01").read_bytes()
    b'\\x00\\x01'
    """
    target = Path(path)
    with staged_file(target) as temporary, temporary.open("wb") as stream:
        stream.write(data)
    return target


def write_text(path: str | os.PathLike, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically (line ends as given, never translated); return the path.

    >>> import pathlib, tempfile
    >>> write_text(pathlib.Path(tempfile.mkdtemp()) / "x.txt", "a\\nb\\n").read_bytes()
    b'a\\nb\\n'
    """
    return write_bytes(path, text.encode(encoding))


@contextmanager
def staged_folder(out: str | os.PathLike) -> Iterator[Path]:
    """Yield an empty staging folder next to ``out``; once the block ends without
    error, it replaces ``out`` (which may exist) in one rename.

    >>> import pathlib, tempfile
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "site"
    >>> out.mkdir(); _ = (out / "stale.html").write_text("old")
    >>> with staged_folder(out) as staging:
    ...     _ = (staging / "index.html").write_text("new")
    >>> sorted(p.name for p in out.iterdir()), sorted(p.name for p in out.parent.iterdir())
    (['index.html'], ['site'])

    A folder cannot be renamed over a non-empty one, so an existing ``out`` is
    first renamed aside, then the new one renamed in (if that fails, the old one
    is put back), then the old one removed. If the block fails, the staging
    folder is removed and ``out`` is left as it was. The parent of ``out`` must
    exist; callers check what ``out`` may be replaced (it is replaced whole).
    """
    out = Path(out)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".partial", dir=out.parent))
    try:
        os.chmod(staging, FOLDER_MODE)
        yield staging
        _fsync_tree(staging)
        _swap_in(staging, out)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def _fsync_tree(root: Path) -> None:
    # The files inside were written plainly; flush them before the rename makes
    # them visible, or a crash could show a whole folder of empty files.
    for folder, _, files in os.walk(root):
        for name in files:
            with open(os.path.join(folder, name), "rb") as written:
                os.fsync(written.fileno())
        fsync_folder(folder)


def _swap_in(staging: Path, out: Path) -> None:
    if out.exists() or out.is_symlink():
        old = out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.old")
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old, out)
            raise
        if old.is_dir() and not old.is_symlink():
            shutil.rmtree(old, ignore_errors=True)
        else:
            old.unlink(missing_ok=True)
    else:
        os.replace(staging, out)
    fsync_folder(out.parent)
