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

What may be replaced (:func:`output_path`, used by every function here): only a regular
file by a file, and only a folder by a folder. A device, a FIFO or a socket is never
replaced (``--out /dev/null`` as root would replace the system's /dev/null), nor a
folder by a file or a file by a folder: :class:`OutputRefused`, an ``OSError`` that the
commands report as one line. A symbolic link is followed: its target is written (made if
missing) and the link stays a link, pointing at the new content; so ``link.jsonl`` and the
file it points at are one output (one results lock, one file).
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["write_bytes", "write_text", "staged_file", "staged_folder", "fsync_folder", "output_path",
           "OutputRefused"]

# mkstemp and mkdtemp make private entries (0600, 0700); what they become is an
# ordinary file or folder, so it gets the usual rw-r--r-- / rwxr-xr-x.
FILE_MODE = 0o644
FOLDER_MODE = 0o755


class OutputRefused(OSError):
    """An output path that doclrp does not replace (see the module's page); ``strerror`` says why."""


def output_path(path: str | os.PathLike, folder: bool = False) -> Path:
    """The path a writer of ``path`` writes: symbolic links followed; an existing target that
    is not a regular file (``folder``: not a folder) refused with :class:`OutputRefused`.

    >>> output_path("/dev/null")
    Traceback (most recent call last):
    doclrp._atomic.OutputRefused: [Errno 17] it is a character device, not a regular file: doclrp never replaces one: '/dev/null'
    >>> import pathlib, tempfile
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> (root / "link.txt").symlink_to(root / "real.txt")
    >>> output_path(root / "link.txt") == root.resolve() / "real.txt"
    True
    >>> output_path(root, folder=False)
    Traceback (most recent call last):
    doclrp._atomic.OutputRefused: [Errno 21] it is a folder, not a file: ...
    """
    target = Path(os.path.realpath(path))
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        return target
    except NotADirectoryError:
        return target  # "under a file": the write itself fails with the OS's own reason
    if folder and not stat.S_ISDIR(mode):
        what = "a file" if stat.S_ISREG(mode) else _special(mode)
        raise OutputRefused(errno.ENOTDIR, f"it is {what}, not a folder: doclrp replaces only a folder here",
                            str(path))
    if not folder and stat.S_ISDIR(mode):
        raise OutputRefused(errno.EISDIR, "it is a folder, not a file: give a file name", str(path))
    if not folder and not stat.S_ISREG(mode):
        raise OutputRefused(errno.EEXIST, f"it is {_special(mode)}, not a regular file: doclrp never replaces one",
                            str(path))
    return target


def _special(mode: int) -> str:
    for test, name in ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


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
    the temporary file is removed and ``path`` keeps what it had. ``path`` is checked and
    resolved by :func:`output_path` first.
    """
    target = output_path(path)
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
    exist; ``out`` is checked and resolved by :func:`output_path` (a file or a
    special file there is refused); callers check which folder may be replaced
    (it is replaced whole).
    """
    out = output_path(out, folder=True)
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
    if out.exists():
        old = out.with_name(f".{out.name}.{os.getpid()}-{secrets.token_hex(4)}.old")
        os.replace(out, old)
        try:
            os.replace(staging, out)
        except BaseException:
            os.replace(old, out)
            raise
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staging, out)
    fsync_folder(out.parent)
