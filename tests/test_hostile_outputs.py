"""Outputs under attack (issue 17, and the lock of issue 15): two runs on one results file, results
holding an id twice, outputs that cannot be written. One line and exit 2 each.

Unwritable outputs: the tests run as root, where a read-only mode (chmod) does not stop writes,
so each command is tried twice: with ``--out`` under a regular file (a real OS error,
ENOTDIR), and with the write itself made to fail with EROFS, as on a read-only mount
(monkeypatched at the function that writes)."""

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doclrp.corpus import Record, explain_corpus, read_results
from doclrp.corpus.output import open_results_writer, partial_path, run_header, skipped_record
from doclrp.errors import DoclrpError
from references import run_cli

ROOT = Path(__file__).resolve().parent.parent
HEADER = dict(model_sha256="ab", method={"name": "epsilon", "params": {}}, target={"name": None, "weights": None},
              input="x")


# -- one run at a time -----------------------------------------------------------------------------
def hold_lock(out: Path, ready: Path) -> subprocess.Popen:
    """Another process that holds the lock of ``out`` (as a running ``doclrp corpus`` does) until killed."""
    code = ("import sys, time, pathlib; from doclrp.corpus.output import results_lock\n"
            "with results_lock(sys.argv[1]):\n"
            "    pathlib.Path(sys.argv[2]).write_text('ready'); time.sleep(600)\n")
    child = subprocess.Popen([sys.executable, "-c", code, str(out), str(ready)],
                             env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 120
    while not ready.exists():
        assert child.poll() is None and time.monotonic() < deadline, "the lock holder did not start"
        time.sleep(0.05)
    return child


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_a_second_run_on_the_same_out_is_refused_at_once(suffix, topic_model_dir, topic_corpus_dir, tmp_path,
                                                          capsys):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"results{suffix}"
    holder = hold_lock(out, tmp_path / "ready")
    try:
        started = time.perf_counter()
        code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                               "--out", str(out), "--quiet")
        assert code == 2 and err.count("\n") == 1
        assert f"another run is writing {out}; wait or choose another --out" in err
        assert time.perf_counter() - started < 5  # before reading the corpus or loading the model
        assert not out.exists() and not partial_path(out).exists()
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # The killed holder left no lock behind: the run goes through now.
    code, out_text, _ = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                                "--out", str(out), "--quiet")
    assert code == 0 and len(list(read_results(out))) == 24
    assert not Path(str(out) + ".lock").exists()


def test_two_corpus_commands_at_once_write_each_document_once(topic_model_dir, topic_corpus_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    command = "import sys; from doclrp.cli import main; sys.exit(main(sys.argv[1:]))"
    argv = [sys.executable, "-c", command, "corpus", "--model", str(topic_model_dir), "--input",
            str(topic_corpus_dir), "--out", str(out), "--quiet", "--batch-size", "1"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    runs = [subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    results = [(run.wait(timeout=300), run.stderr.read()) for run in runs]
    for run in runs:
        run.stderr.close()
    ids = [r["id"] for r in read_results(out)]
    assert len(ids) == len(set(ids)) == 24
    # Either one refused the other, or they ran one after the other (the second found the work done).
    refused = [err for code, err in results if code == 2]
    assert all("another run is writing" in err and err.count("\n") == 1 for err in refused)
    assert all(code in (0, 2) for code, _ in results)


def test_the_lock_is_reentrant_in_one_process_and_gone_afterwards(tmp_path):
    out = tmp_path / "r.jsonl"
    with open_results_writer(out, run_header(**HEADER)) as writer:
        writer.write_batch([skipped_record("a", None, "empty document")])
        writer.finish()
    assert not Path(str(out) + ".lock").exists()
    with open_results_writer(out, run_header(**HEADER)):
        with pytest.raises(DoclrpError, match="another run is writing"):
            # Another open of the same output, as a second thread or library call would make.
            from doclrp.corpus.output.journal import _acquire

            _acquire(Path(str(out) + ".lock"), out)


# -- results that hold an id twice -----------------------------------------------------------------
def duplicated_jsonl(tmp_path, finished=True):
    out = tmp_path / "r.jsonl"
    with open_results_writer(out, run_header(**HEADER)) as writer:
        writer.write_batch([skipped_record("a", None, "empty document"), skipped_record("b", None, "empty document")])
        if finished:
            writer.finish()
    path = out if finished else partial_path(out)
    with path.open("a") as handle:  # as two runs without a lock wrote them
        handle.write(json.dumps(skipped_record("b", None, "empty document")) + "\n")
    return out


def test_summarize_refuses_results_with_an_id_twice(tmp_path, capsys):
    out = duplicated_jsonl(tmp_path)
    code, _, err = run_cli(capsys, "corpus", "summarize", str(out), "--out", str(tmp_path / "report"))
    assert code == 2 and err.count("\n") == 1 and "holds document 'b' twice" in err
    assert not (tmp_path / "report").exists()


@pytest.mark.parametrize("finished", [True, False])
def test_resuming_refuses_results_with_an_id_twice(finished, tmp_path):
    out = duplicated_jsonl(tmp_path, finished)
    with pytest.raises(DoclrpError, match="holds document 'b' twice"):
        open_results_writer(out, run_header(**HEADER))


def test_parquet_results_with_an_id_twice_are_refused(tmp_path):
    pytest.importorskip("pyarrow")
    out = tmp_path / "r.parquet"
    with open_results_writer(out, run_header(**HEADER)) as writer:
        writer.write_batch([skipped_record("a", None, "empty document")])
        writer._write([skipped_record("a", None, "empty document")])  # past the writer's own check
    with pytest.raises(DoclrpError, match="holds document 'a' twice"):
        open_results_writer(out, run_header(**HEADER))


# -- outputs that cannot be written ----------------------------------------------------------------
@pytest.fixture
def a_file(tmp_path):
    path = tmp_path / "a-file"
    path.write_text("not a folder")
    return path


def erofs(*args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS))


def assert_one_line(code, err, path):
    assert code == 2 and err.count("\n") == 1 and f"cannot write {path}" in err and "Traceback" not in err


@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_explain_out_unwritable(how, topic_model_dir, a_file, tmp_path, capsys, monkeypatch):
    out = a_file / "page.html" if how == "under-a-file" else tmp_path / "page.html"
    if how == "read-only":
        monkeypatch.setattr("doclrp.cli.explain.write_text", erofs)
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "the team won",
                           "--out", str(out))
    if how == "under-a-file":  # the folder check sees a file where the folder should be
        assert code == 2 and err.count("\n") == 1
    else:
        assert_one_line(code, err, out)
        assert "Read-only file system" in err


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_corpus_out_unwritable(how, suffix, topic_model_dir, topic_corpus_dir, a_file, tmp_path, capsys,
                               monkeypatch):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = (a_file if how == "under-a-file" else tmp_path) / f"r{suffix}"
    if how == "read-only":
        # The lock file is made first; then the partial results: each on a read-only mount fails.
        monkeypatch.setattr("doclrp.corpus.output.journal._acquire", erofs)
    code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                           "--out", str(out), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_corpus_writes_that_fail_midway_are_one_line(suffix, topic_model_dir, topic_corpus_dir, tmp_path, capsys,
                                                     monkeypatch):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"r{suffix}"
    writer = "_JsonlWriter" if suffix == ".jsonl" else "_ParquetWriter"
    monkeypatch.setattr(f"doclrp.corpus.output.journal.{writer}._write", erofs)
    code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                           "--out", str(out), "--quiet")
    assert_one_line(code, err, out)
    assert not Path(str(out) + ".lock").exists()


@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_summarize_out_unwritable(how, topic_model_dir, a_file, tmp_path, capsys, monkeypatch):
    results = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won", "sport")], results, progress=False)
    out = a_file / "report" if how == "under-a-file" else tmp_path / "report"
    if how == "read-only":
        monkeypatch.setattr("doclrp.corpus.reporting.staged_folder", erofs)
    code, _, err = run_cli(capsys, "corpus", "summarize", str(results), "--out", str(out))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("how", ["under-a-file", "read-only"])
def test_train_out_unwritable_is_refused_before_training(how, topic_corpus_dir, a_file, tmp_path, capsys,
                                                         monkeypatch):
    out = a_file / "model" if how == "under-a-file" else tmp_path / "model"
    if how == "read-only":
        monkeypatch.setattr("doclrp.cli.train.tempfile.NamedTemporaryFile", erofs)
    monkeypatch.setattr("doclrp.cli.train._train", lambda *a: pytest.fail("trained before checking --out"))
    code, _, err = run_cli(capsys, "train", "--model", "bag", "--corpus", str(topic_corpus_dir), "--out", str(out),
                           "--quiet")
    assert_one_line(code, err, out)


def test_train_save_that_fails_is_one_line(topic_corpus_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("doclrp.models.io.save_file", erofs)
    out = tmp_path / "model"
    code, _, err = run_cli(capsys, "train", "--model", "bag", "--corpus", str(topic_corpus_dir), "--out", str(out),
                           "--quiet", "--epochs", "1")
    assert_one_line(code, err, out)


# -- special files, folders that are files, symbolic links (issue 22 §2) ------------------------------
@pytest.fixture
def specials(tmp_path):
    """An existing FIFO, a socket and a device node (a copy of /dev/null's, made as root) by kind."""
    import socket
    import stat

    made = {}
    os.mkfifo(tmp_path / "fifo")
    made["FIFO"] = tmp_path / "fifo"
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(tmp_path / "sock"))
    made["socket"] = tmp_path / "sock"
    try:
        os.mknod(tmp_path / "dev", 0o666 | stat.S_IFCHR, os.stat("/dev/null").st_rdev)
        made["character device"] = tmp_path / "dev"
    except PermissionError:  # not root: the system's own /dev/null, which is then safe from replacement
        made["character device"] = Path("/dev/null")
    yield made
    server.close()


def _unchanged(path: Path, kind: str) -> bool:
    import stat

    mode = os.lstat(path).st_mode
    return {"FIFO": stat.S_ISFIFO, "socket": stat.S_ISSOCK, "character device": stat.S_ISCHR}[kind](mode)


@pytest.mark.parametrize("kind", ["FIFO", "socket", "character device"])
def test_every_writer_refuses_a_special_file(kind, specials, topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    from doclrp._atomic import OutputRefused, staged_file, staged_folder, write_text

    target = specials[kind]
    with pytest.raises(OutputRefused, match=f"it is a {kind}"):
        write_text(target, "page")
    with pytest.raises(OutputRefused, match=f"it is a {kind}"):
        with staged_file(target):
            pytest.fail("the block ran")
    with pytest.raises(OutputRefused, match="not a folder"):
        with staged_folder(target):
            pytest.fail("the block ran")
    results = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won", "sport")], results, progress=False)
    commands = [
        ("explain", "--model", str(topic_model_dir), "--text", "the team won", "--out", str(target)),
        ("corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir), "--out", str(target),
         "--quiet", "--overwrite"),
        ("corpus", "summarize", str(results), "--out", str(target)),
        ("evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir), "--report", str(target)),
        ("train", "--model", "bag", "--corpus", str(topic_corpus_dir), "--out", str(target), "--quiet"),
        ("demo", "--out", str(target)),
    ]
    for argv in commands:
        code, out, err = run_cli(capsys, *argv)
        assert_one_line(code, err, target)
        assert "not a regular file" in err or "not a folder" in err, err
        assert _unchanged(target, kind), argv
    # The library's own writers, past the command line's early check
    with pytest.raises(DoclrpError, match="not a regular file: doclrp never replaces one"):
        open_results_writer(target, run_header(**HEADER), overwrite=True)
    assert _unchanged(target, kind)


def test_a_file_where_a_folder_goes_is_refused_by_every_folder_writer(a_file, topic_model_dir, topic_corpus_dir,
                                                                      tmp_path, capsys):
    from doclrp._atomic import OutputRefused, staged_folder
    from doclrp.models.io import save_pipeline
    from doclrp.models.loading import load_model

    with pytest.raises(OutputRefused, match="it is a file, not a folder"):
        with staged_folder(a_file):
            pytest.fail("the block ran")
    with pytest.raises(DoclrpError, match="exists and is not a saved doclrp pipeline"):
        save_pipeline(load_model(topic_model_dir), a_file)
    results = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won", "sport")], results, progress=False)
    for argv in [("corpus", "summarize", str(results), "--out", str(a_file)), ("demo", "--out", str(a_file)),
                 ("evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir), "--report",
                  str(a_file))]:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and "Traceback" not in err, argv
    assert a_file.read_text() == "not a folder"


def test_a_symbolic_link_is_followed_by_every_writer(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    """The documented way: the link's target is written (made if missing), the link stays a link."""
    page, link = tmp_path / "page.html", tmp_path / "link.html"
    link.symlink_to(page)  # dangling until the first write
    code, _, _ = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "the team won",
                         "--out", str(link))
    assert code == 0 and link.is_symlink() and page.is_file() and "<!DOCTYPE html>" in page.read_text()
    report, report_link = tmp_path / "report", tmp_path / "report-link"
    report.mkdir()
    report_link.symlink_to(report, target_is_directory=True)
    results = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won", "sport")], results, progress=False)
    code, _, err = run_cli(capsys, "corpus", "summarize", str(results), "--out", str(report_link))
    assert code == 0, err
    assert report_link.is_symlink() and (report / "index.html").is_file()
    # results: the link and its file are one output, with one lock
    real, results_link = tmp_path / "s.jsonl", tmp_path / "link.jsonl"
    results_link.symlink_to(real)
    code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                           "--out", str(results_link), "--quiet")
    assert code == 0, err
    assert results_link.is_symlink() and len(list(read_results(real))) == 24


def test_the_results_lock_is_keyed_by_the_resolved_path(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    real, link = tmp_path / "s.jsonl", tmp_path / "link.jsonl"
    link.symlink_to(real)
    holder = hold_lock(real, tmp_path / "ready")
    try:
        code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                               "--out", str(link), "--quiet")
        assert code == 2 and "another run is writing" in err
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    assert not real.exists() and not Path(str(link) + ".lock").exists()


@pytest.mark.parametrize("how", ["under-a-file", "read-only", "proc"])
def test_demo_and_evaluate_report_unwritable_are_one_line(how, topic_model_dir, topic_corpus_dir, a_file,
                                                          tmp_path, capsys, monkeypatch):
    where = {"under-a-file": a_file, "read-only": tmp_path, "proc": Path("/proc")}[how]
    if how == "read-only":
        monkeypatch.setattr("doclrp._atomic.tempfile.mkdtemp", erofs)
        monkeypatch.setattr("doclrp.cli.evaluate.tempfile.TemporaryDirectory", erofs)
    monkeypatch.setattr("doclrp.cli.demo.explain_targets", lambda *a, **k: pytest.fail("explained before writing"))
    code, _, err = run_cli(capsys, "demo", "--out", str(where / "demo"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "choose another --out" in err
    monkeypatch.setattr("doclrp.cli.evaluate.evaluate_methods", lambda *a, **k: pytest.fail("evaluated first"))
    code, _, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                           "--report", str(where / "report"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err and "--report" in err


def test_every_writer_under_a_file_says_so(a_file, topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    """An output below a file: each command names the file in the way (not "File exists" or "folder
    does not exist", the OS's or a later check's words for other cases)."""
    results = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won", "sport")], results, progress=False)
    model, corpus = str(topic_model_dir), str(topic_corpus_dir)
    commands = {"--out": [["explain", "--model", model, "--text", "the team won", "--out"],
                          ["corpus", "--model", model, "--input", corpus, "--quiet", "--out"],
                          ["corpus", "summarize", str(results), "--out"], ["demo", "--out"],
                          ["train", "--model", "bag", "--corpus", corpus, "--quiet", "--out"]],
                "--report": [["evaluate", "--model", model, "--corpus", corpus, "--report"]]}
    for flag, argvs in commands.items():
        for argv in argvs:
            out = a_file / "below" / "out.x"
            code, _, err = run_cli(capsys, *argv, str(out))
            assert code == 2 and err.count("\n") == 1, (argv, err)
            assert err.strip() == f"doclrp: error: cannot write {out}: {a_file} is not a folder; " \
                                  f"choose another {flag}", argv
