"""`doclrp corpus`: records, formats, exactly-once resume under SIGKILL, shards, and every bad input."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import warnings

import pytest
import torch

from doclrp.cli import main
from doclrp.corpus import CorpusSettings, CorpusWarning, Record, explain_corpus, read_results, record_to_explanation
from doclrp.corpus.batch import explain_records
from doclrp.corpus.output import open_results_writer, partial_path, run_header
from doclrp.corpus.run import in_shard, parse_shard, plan_batches
from doclrp.errors import DoclrpError
from doclrp import explain
from doclrp.models import EmbeddingBagModel, IdEncoder, TextCNN, TextPipeline, load_pipeline, save_pipeline

WORDS = "goal match team cup chip phone laptop vote party minister win code".split()
LABELS = ["sport", "tech", "politics"]
UNKNOWN = "has only words the model does not know: nothing to explain"
#: Relevance computed with other thread counts or batch layouts may differ in the last bits.
RTOL = 1e-5


def corpus_rows(n=40):
    rows = []
    for i in range(n):
        length = 3 + (i * 7) % 29  # 3..31 words: several windows of 12 tokens for the long ones
        text = " ".join(WORDS[(i + 3 * k) % len(WORDS)] for k in range(length)) + "."
        rows.append({"id": f"d{i:02d}", "text": text, "label": LABELS[i % 3]})
    rows.insert(5, {"id": "empty", "text": "  \n ", "label": "tech"})
    rows.insert(17, {"id": "unknown", "text": "zzzz qqqq", "label": "sport"})
    return rows


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_model(folder, kind="bag", seed=0):
    """A saved pipeline: "bag" ignores padding, so a document's record does not depend on
    its batch; "cnn" does not (zero padding reaches its max-pool), which only a fixed plan survives."""
    torch.manual_seed(seed)
    encoder = IdEncoder.fit([" ".join(WORDS) + " ."], max_len=12)
    if kind == "bag":
        model = EmbeddingBagModel(len(encoder.vocabulary), embed_dim=8, n_outputs=3)
    else:
        model = TextCNN(len(encoder.vocabulary), embed_dim=8, widths=(2, 3), channels=4, n_outputs=3)
    return save_pipeline(TextPipeline(model.eval(), encoder, LABELS), folder)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "bag")


@pytest.fixture(scope="module")
def other_model_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "bag2", seed=1)


@pytest.fixture(scope="module")
def cnn_dir(tmp_path_factory):
    return tiny_model(tmp_path_factory.mktemp("model") / "cnn", kind="cnn")


@pytest.fixture
def corpus(tmp_path):
    return write_jsonl(tmp_path / "corpus.jsonl", corpus_rows())


def records_of(path):
    return list(read_results(path))


def run(*argv):
    return main(["corpus", *map(str, argv)])


def test_records_match_explain_and_skips_are_recorded(model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--batch-size", 4, "--quiet") == 0
    printed = capsys.readouterr().out
    assert "42 records" in printed and "empty document" in printed
    records = records_of(out)
    assert sorted(r["id"] for r in records) == sorted(r["id"] for r in corpus_rows())
    by_id = {r["id"]: r for r in records}
    assert by_id["empty"]["skipped"] == "empty document" and by_id["empty"]["words"] is None
    assert by_id["unknown"]["skipped"] == UNKNOWN
    pipeline = load_pipeline(model_dir)
    for row in corpus_rows()[:12]:
        if row["id"] in ("empty", "unknown"):
            continue
        record = by_id[row["id"]]
        assert record["label"] == row["label"]
        expected = explain(pipeline, row["text"], ids=[row["id"]])
        got = record_to_explanation(record)
        assert [(w.text, w.start, w.end, w.sentence) for w in got.words] == \
               [(w.text, w.start, w.end, w.sentence) for w in expected.words]
        assert got.relevance == pytest.approx(expected.relevance, rel=RTOL, abs=1e-6)
        assert got.target == expected.target and got.prediction.label == expected.prediction.label
        # Conservation is carried: target value = word relevance + special + delta.
        assert got.total + got.delta == pytest.approx(got.target_value, abs=1e-5)


def test_parquet_holds_the_same_records(model_dir, corpus, tmp_path):
    pytest.importorskip("pyarrow")
    jsonl, parquet = tmp_path / "r.jsonl", tmp_path / "r.parquet"
    explain_corpus(model_dir, corpus, jsonl, batch_size=4, progress=False)
    explain_corpus(model_dir, corpus, parquet, batch_size=4, progress=False)
    assert records_of(parquet) == records_of(jsonl)
    assert read_results(parquet).header["model_sha256"] == read_results(jsonl).header["model_sha256"]
    assert not partial_path(parquet).exists()


def test_settings_object_and_keywords_make_the_same_run(model_dir, corpus, tmp_path):
    by_keywords, by_settings = tmp_path / "k.jsonl", tmp_path / "s.jsonl"
    explain_corpus(model_dir, corpus, by_keywords, batch_size=4, composite="zero", progress=False)
    settings = CorpusSettings(batch_size=4, method="zero", progress=False)
    explain_corpus(model_dir, corpus, by_settings, settings)
    assert records_of(by_settings) == records_of(by_keywords)
    assert read_results(by_settings).header["method"] == read_results(by_keywords).header["method"]
    with pytest.raises(TypeError):
        explain_corpus(model_dir, corpus, tmp_path / "x.jsonl", settings, no_such_setting=1)


def test_plan_is_deterministic_and_batches_by_length():
    records = [Record(str(i), "x" * ((i * 37) % 50)) for i in range(20)]
    batches = list(plan_batches(records, batch_size=3, buffer_size=8))
    assert [len(b) for b in batches] == [3, 3, 2, 3, 3, 2, 3, 1]
    for start in range(0, 20, 8):  # inside each buffer, batches go from short to long
        lengths = [len(r.text) for b in batches for r in b if int(r.id) in range(start, start + 8)]
        assert lengths == sorted(lengths)
    assert batches == list(plan_batches(records, batch_size=3, buffer_size=8))


def test_shards_partition_the_corpus(model_dir, corpus, tmp_path):
    full = tmp_path / "full.jsonl"
    explain_corpus(model_dir, corpus, full, batch_size=4, progress=False)
    shards = []
    for i in range(3):
        out = tmp_path / f"shard{i}.jsonl"
        explain_corpus(model_dir, corpus, out, batch_size=4, shard=f"{i}/3", progress=False)
        shards.append(records_of(out))
        assert all(in_shard(r["id"], (i, 3)) for r in shards[-1])
    union = [r for shard in shards for r in shard]
    assert len(union) == len({r["id"] for r in union})
    expected = {r["id"]: r for r in records_of(full)}
    assert {r["id"] for r in union} == set(expected)
    for record in union:
        other = expected[record["id"]]
        assert record.keys() == other.keys()
        if record["words"]:
            assert [w[:3] for w in record["words"]] == [w[:3] for w in other["words"]]
            assert [w[3] for w in record["words"]] == pytest.approx([w[3] for w in other["words"]], rel=RTOL,
                                                                      abs=1e-6)


def test_limit_explains_the_first_documents_only(model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "first.jsonl"
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--limit", 5, "--quiet") == 0
    first_ids = [row["id"] for row in corpus_rows()[:5]]
    assert sorted(r["id"] for r in records_of(out)) == sorted(first_ids)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        run("--help")
    assert "--limit N" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # argparse: at least 1
        run("--model", model_dir, "--input", corpus, "--out", tmp_path / "none.jsonl", "--limit", 0)
    with pytest.raises(DoclrpError, match="limit must be at least 1"):
        explain_corpus(model_dir, corpus, tmp_path / "none.jsonl", limit=0)


def test_parse_shard():
    assert parse_shard("0/1") == (0, 1)
    for bad in ("3/3", "1", "-1/2", "a/b", "0/0"):
        with pytest.raises(DoclrpError):
            parse_shard(bad)


# -- resume ---------------------------------------------------------------------------------------
KILLED_RUN = textwrap.dedent("""
    import os, sys, time
    from doclrp.corpus.output import journal

    tear_at, flag = int(sys.argv[1]), sys.argv[2]
    write = journal._write_all
    parquet_write = journal._ParquetWriter._write
    calls = 0

    def slow(fd, data):
        global calls
        calls += 1
        if calls == tear_at:  # half a batch reaches the disk, then the kill comes
            write(fd, data[: len(data) // 2])
            os.fsync(fd)
            open(flag, "w").close()
            time.sleep(600)
        write(fd, data)

    def slow_parquet(self, records):
        global calls
        calls += 1
        if calls == tear_at:  # a part file half made: written, never renamed
            (self.partial / "part-99999999.tmp").write_bytes(b"PAR1 cut")
            open(flag, "w").close()
            time.sleep(600)
        parquet_write(self, records)

    journal._write_all = slow
    journal._ParquetWriter._write = slow_parquet
    from doclrp.cli import main
    sys.exit(main(sys.argv[3:]))
""")


def kill_mid_run(tmp_path, argv, tear_at):
    script = tmp_path / "killed_run.py"
    script.write_text(KILLED_RUN, encoding="utf-8")
    flag = tmp_path / "torn"
    process = subprocess.Popen([sys.executable, str(script), str(tear_at), str(flag), "corpus", *map(str, argv)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while not flag.exists():
        if process.poll() is not None:
            raise AssertionError(f"the run ended before the kill: {process.stderr.read().decode()}")
        assert time.monotonic() < deadline, "the run never reached the batch to kill"
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=30)
    process.stderr.close()
    assert process.returncode == -signal.SIGKILL


@pytest.mark.slow  # a killed and a resumed run, each a fresh Python process: 3-4 s on 2 cores
@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_resume_after_sigkill_is_exactly_once(cnn_dir, corpus, tmp_path, suffix):
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    reference = tmp_path / f"reference{suffix}"
    explain_corpus(cnn_dir, corpus, reference, batch_size=3, progress=False)
    out = tmp_path / f"results{suffix}"
    argv = ["--model", cnn_dir, "--input", corpus, "--out", out, "--batch-size", 3, "--quiet"]
    kill_mid_run(tmp_path, argv, tear_at=4)
    assert not out.exists() and partial_path(out).exists()  # never a half file under the final name
    if suffix == ".jsonl":
        assert not partial_path(out).read_bytes().endswith(b"\n")  # the kill cut a line
    # The same command again finishes the job.
    assert main(["corpus", *map(str, argv)]) == 0
    assert not partial_path(out).exists()
    resumed, expected = records_of(out), records_of(reference)
    assert [r["id"] for r in resumed] == [r["id"] for r in expected]  # each once, in the same order
    assert resumed == expected  # the same batches as an uninterrupted run: the same numbers
    # Once more: nothing left to do, nothing rewritten.
    before = out.stat().st_mtime_ns
    assert main(["corpus", *map(str, argv)]) == 0
    assert out.stat().st_mtime_ns == before


def test_finished_results_grow_with_the_corpus(model_dir, tmp_path):
    rows = corpus_rows(12)
    corpus = write_jsonl(tmp_path / "c.jsonl", rows[:8])
    out = tmp_path / "r.jsonl"
    explain_corpus(model_dir, corpus, out, progress=False)
    write_jsonl(corpus, rows)
    report = explain_corpus(model_dir, corpus, out, progress=False)
    assert report.resumed == 8 and report.written == len(rows) - 8
    assert sorted(r["id"] for r in records_of(out)) == sorted(r["id"] for r in rows)


def test_writer_keeps_complete_lines_only(tmp_path):
    out = tmp_path / "r.jsonl"
    header = run_header(model_sha256="x", method={"name": "epsilon"}, target={"name": None}, input="c")
    record = {"id": "a", "skipped": "empty document"}
    with open_results_writer(out, header) as writer:
        writer.write_batch([record])
    with partial_path(out).open("ab") as handle:
        handle.write(b'{"id": "b", "skip')
    with open_results_writer(out, header) as writer:
        assert writer.done_ids == {"a"}
        writer.write_batch([record, {"id": "b", "skipped": "empty document"}])  # "a" is not written twice
        writer.finish()
    assert [r["id"] for r in records_of(out)] == ["a", "b"]


# -- bad input: one line, exit 2, nothing written ---------------------------------------------------
def fails(capsys, *argv):
    assert run(*argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("doclrp: error: ") and "\n" not in err and "Traceback" not in err
    return err


def test_missing_corpus(model_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    err = fails(capsys, "--model", model_dir, "--input", tmp_path / "nope.jsonl", "--out", out)
    assert "nope.jsonl" in err
    assert list(tmp_path.iterdir()) == []


def test_unreadable_corpus(model_dir, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_bytes(b'{"id": "a", "text": "caf\xe9"}\n')
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", tmp_path / "r.jsonl")
    assert "line 1" in err and "UTF-8" in err


def test_malformed_line_is_fatal_before_any_output(model_dir, tmp_path, capsys):
    rows = [json.dumps(r) for r in corpus_rows(10)]
    rows.insert(6, '{"id": "bad", "text": ')
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = tmp_path / "r.jsonl"
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out)
    assert "line 7" in err and "invalid JSON" in err
    assert not out.exists() and not partial_path(out).exists()
    # --on-error skip: the line is left out, with a warning naming it, never silently.
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--on-error", "skip", "--quiet") == 0
    captured = capsys.readouterr()
    assert "doclrp: warning: skipped" in captured.err and "line 7" in captured.err
    assert "1 malformed" in captured.out
    assert len(records_of(out)) == 12


def test_output_of_another_model_is_refused_unless_overwrite(model_dir, other_model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--quiet") == 0
    capsys.readouterr()
    before = out.read_bytes()
    err = fails(capsys, "--model", other_model_dir, "--input", corpus, "--out", out)
    assert "--overwrite" in err and "model_sha256" in err
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out, "--target", "tech")
    assert "target" in err
    assert out.read_bytes() == before and not partial_path(out).exists()
    assert run("--model", other_model_dir, "--input", corpus, "--out", out, "--overwrite", "--quiet") == 0
    assert read_results(out).header["model"] == str(other_model_dir.resolve())


def test_unfinished_run_of_another_model_is_refused(model_dir, other_model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    header = run_header(model_sha256="old", method={"name": "epsilon", "params": {"eps": 1e-6}}, target={"name": None, "weights": None, "reference": None, "reference_name": ""}, input=str(corpus))
    with open_results_writer(out, header) as writer:
        writer.write_batch([{"id": "d00", "skipped": "empty document"}])
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out)
    assert "unfinished" in err
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--overwrite", "--quiet") == 0
    assert len(records_of(out)) == 42


def test_file_not_written_by_doclrp_is_refused(model_dir, corpus, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    out.write_text("precious\n")
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out)
    assert "not written by doclrp" in err
    assert out.read_text() == "precious\n"


def test_cuda_absent(model_dir, corpus, tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", tmp_path / "r.jsonl", "--device", "cuda")
    assert "CUDA" in err
    assert not (tmp_path / "r.jsonl").exists() and not partial_path(tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("extra, message", [
    (["--target", "weather"], "unknown target"),
    (["--composite", "nonsense"], "unknown method"),
    (["--shard", "2/2"], "shard"),
    (["--batch-size", "0"], "batch size"),
])
def test_bad_settings(model_dir, corpus, tmp_path, capsys, extra, message):
    out = tmp_path / "r.jsonl"
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out, *extra)
    assert message in err
    assert not out.exists() and not partial_path(out).exists()


def test_missing_options_and_folders(model_dir, corpus, tmp_path, capsys):
    assert "--model" in fails(capsys, "--input", corpus, "--out", tmp_path / "r.jsonl")
    assert "does not exist" in fails(capsys, "--model", model_dir, "--input", corpus,
                                     "--out", tmp_path / "no" / "r.jsonl")
    assert "no model folder" in fails(capsys, "--model", tmp_path / "none", "--input", corpus,
                                      "--out", tmp_path / "r.jsonl")
    assert not (tmp_path / "r.jsonl").exists()


def test_library_warns_about_skipped_lines(model_dir, tmp_path):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "a", "text": "goal"}\nnot json\n', encoding="utf-8")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        report = explain_corpus(model_dir, corpus, tmp_path / "r.jsonl", on_error="skip", progress=False)
    assert report.malformed == 1 and report.explained == 1
    assert [str(w.message) for w in caught if w.category is CorpusWarning] == \
           [f"skipped {corpus} line 2: invalid JSON (Expecting value at column 1)"]



def test_skip_reasons_hold_no_part_of_an_id_with_spaces(model_dir):
    # explain() names documents by id now: the reason must be cut from the id by name, not by a blank
    pipeline = load_pipeline(model_dir)
    [record] = explain_records(pipeline, [Record("fortunes/mene mene", "zzzz qqqq")])
    assert record["skipped"] == UNKNOWN


# -- a time budget per document (--doc-timeout): a fake monotonic clock, advanced by the slow stage --
SLOW = "slowpoke"  # a document holding this word takes 1000 s to tokenize, on the fake clock


@pytest.fixture
def fake_clock(monkeypatch):
    import doclrp._explain
    import doclrp._budget

    clock = {"now": 0.0}
    monkeypatch.setattr(doclrp._budget, "_clock", lambda: clock["now"])
    tokenize = doclrp._explain.tokenize_many

    def slow_tokenize(texts, *args, **kwargs):
        if any(SLOW in text for text in texts):
            clock["now"] += 1000.0
        return tokenize(texts, *args, **kwargs)

    monkeypatch.setattr(doclrp._explain, "tokenize_many", slow_tokenize)
    return clock


def slow_corpus(tmp_path):
    rows = corpus_rows(12)
    rows.insert(7, {"id": "slow", "text": f"goal match {SLOW} team.", "label": "sport"})
    return write_jsonl(tmp_path / "slow.jsonl", rows)


def test_a_slow_document_is_skipped_with_its_reason_and_the_others_are_unchanged(model_dir, tmp_path, fake_clock):
    corpus = slow_corpus(tmp_path)
    report = explain_corpus(model_dir, corpus, tmp_path / "r.jsonl", batch_size=4, doc_timeout=60,
                            on_error="skip", progress=False)
    records = {r["id"]: r for r in records_of(tmp_path / "r.jsonl")}
    reason = "took longer than doc_timeout=60 s (stopped while splitting words)"
    assert records["slow"]["skipped"] == reason and report.skipped[reason] == 1
    # the same run without a budget: every other record is the same
    plain = explain_corpus(model_dir, corpus, tmp_path / "plain.jsonl", batch_size=4, doc_timeout=None,
                           on_error="skip", progress=False)
    assert plain.explained == report.explained + 1
    for record in records_of(tmp_path / "plain.jsonl"):
        if record["id"] != "slow":
            assert records[record["id"]] == record


def test_a_slow_document_stops_the_run_in_one_line_and_the_run_continues(model_dir, tmp_path, capsys, fake_clock):
    corpus, out = slow_corpus(tmp_path), tmp_path / "r.jsonl"
    err = fails(capsys, "--model", model_dir, "--input", corpus, "--out", out, "--batch-size", 2,
                "--doc-timeout", 60, "--quiet")
    assert "document slow took longer than doc_timeout=60 s (stopped while splitting words)" in err
    assert "--on-error skip" in err
    assert run("--model", model_dir, "--input", corpus, "--out", out, "--batch-size", 2, "--doc-timeout", 60,
               "--on-error", "skip", "--quiet") == 0
    records = records_of(out)
    assert len(records) == len({r["id"] for r in records}) == 15
    assert [r["id"] for r in records if r["skipped"] and r["skipped"].startswith("took longer")] == ["slow"]


def test_the_budget_is_checked_between_the_passes_over_a_documents_windows(cnn_dir, monkeypatch):
    import doclrp._budget

    pipeline = load_pipeline(cnn_dir)
    clock = {"now": 0.0}
    monkeypatch.setattr(doclrp._budget, "_clock", lambda: clock["now"])
    # every forward pass of the model takes 30 s on the fake clock; with one window per batch,
    # a document of n windows runs 2n passes (a prediction and an attribution per window)
    handle = pipeline.model.register_forward_hook(lambda *_: clock.__setitem__("now", clock["now"] + 30.0))
    try:
        long = Record("long", " ".join(WORDS * 5))              # 60 words: 7 windows of 12 tokens, 14 passes
        two = Record("two", " ".join((WORDS * 2)[:20]))         # 2 windows: 4 passes, checked at 0, 30, 60, 90 s
        short = Record("short", "goal match team")              # one window
        records = explain_records(pipeline, [long, two, short], batch_size=1, doc_timeout=100, on_error="skip")
    finally:
        handle.remove()
    reasons = {r["id"]: r["skipped"] for r in records}
    assert reasons == {"long": "took longer than doc_timeout=100 s (stopped between model passes)",
                       "two": "took longer than doc_timeout=100 s (stopped after its last model pass)",
                       "short": None}


def test_doc_timeout_settings(model_dir, corpus, tmp_path, capsys):
    from doclrp.cli.parsers import DOC_TIMEOUT, build_parser
    from doclrp.corpus.batch import DOC_TIMEOUT as BATCH_DOC_TIMEOUT

    assert DOC_TIMEOUT == BATCH_DOC_TIMEOUT
    parse = build_parser().parse_args
    assert parse(["corpus", "--doc-timeout", "off"]).doc_timeout is None
    assert parse(["corpus", "--doc-timeout", "2.5"]).doc_timeout == 2.5
    assert parse(["corpus"]).doc_timeout == DOC_TIMEOUT
    for bad in ("0", "-1", "nan", "inf", "soon"):
        with pytest.raises(SystemExit):
            parse(["corpus", "--doc-timeout", bad])
        assert "positive number of seconds" in capsys.readouterr().err
    with pytest.raises(DoclrpError, match="doc_timeout must be a positive number"):
        explain_corpus(model_dir, corpus, tmp_path / "r.jsonl", doc_timeout=0, progress=False)
    assert not (tmp_path / "r.jsonl").exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_len_of_results_counts_the_records(suffix, tmp_path):
    from doclrp.corpus.output import open_results_writer, run_header, skipped_record

    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    out = tmp_path / f"r{suffix}"
    header = run_header(model_sha256="ab", method={"name": "epsilon", "params": {}},
                        target={"name": None, "weights": None}, input="x")
    with open_results_writer(out, header) as writer:
        writer.write_batch([skipped_record(str(i), None, "empty document") for i in range(7)])
        writer.finish()
    results = read_results(out)
    assert len(results) == len(list(results)) == 7
