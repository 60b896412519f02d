"""The one atomic-write helper: files replaced whole, folders swapped whole, nothing left behind."""

import os

import pytest

from doclrp._atomic import staged_file, staged_folder, write_bytes, write_text


def test_file_is_replaced_and_no_temporary_is_left(tmp_path):
    target = tmp_path / "a.txt"
    target.write_text("old")
    assert write_text(target, "new\n") == target
    assert target.read_bytes() == b"new\n"
    assert os.listdir(tmp_path) == ["a.txt"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_failed_file_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.bin"
    write_bytes(target, b"old")
    with pytest.raises(OSError, match="disk full"):
        with staged_file(target) as temporary:
            temporary.write_bytes(b"half")
            raise OSError("disk full")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["a.bin"]


def test_folder_swap_replaces_the_old_folder_whole(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    with staged_folder(out) as staging:
        assert staging.parent == tmp_path and staging.name.startswith(".report.")
        (staging / "index.html").write_text("new")
    assert sorted(p.name for p in out.iterdir()) == ["index.html"]
    assert os.listdir(tmp_path) == ["report"]


def test_failed_folder_build_keeps_the_old_folder(tmp_path):
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("old")
    with pytest.raises(RuntimeError, match="render failed"):
        with staged_folder(out) as staging:
            (staging / "index.html").write_text("new")
            raise RuntimeError("render failed")
    assert (out / "index.html").read_text() == "old"
    assert os.listdir(tmp_path) == ["report"]
    with pytest.raises(RuntimeError):
        with staged_folder(tmp_path / "new"):
            raise RuntimeError("render failed")
    assert os.listdir(tmp_path) == ["report"]


def test_failed_swap_puts_the_old_folder_back(tmp_path, failing_folder_swap):
    out = tmp_path / "report"
    out.mkdir()
    (out / "index.html").write_text("old")
    with pytest.raises(OSError, match="rename failed"):
        with staged_folder(out) as staging:
            (staging / "index.html").write_text("new")
    assert (out / "index.html").read_text() == "old"
    assert os.listdir(tmp_path) == ["report"]
