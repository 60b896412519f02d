"""Hostile documents and arguments (issue 17): lone surrogates, over-long documents, runs that
made spaCy quadratic, terminal escape sequences, numbers that train nothing; summaries of null
values. Each ends in one line (or a skipped record), never a traceback."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from doclrp._explain import MAX_CHARS, explain
from doclrp.cli.parsers import MAX_CHARS as PARSER_MAX_CHARS
from doclrp.corpus import Record, explain_corpus, read_results
from doclrp.corpus.batch import explain_records
from doclrp.corpus.output import open_results_writer, run_header
from doclrp.corpus.summary import NOT_FINITE, summarize_results
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model
from doclrp.text import tokenize
from doclrp.text.words import split_long_runs
from references import run_cli

ROOT = Path(__file__).resolve().parent.parent
SURROGATE = "\ud800"


def test_the_parser_default_is_the_library_limit():
    assert PARSER_MAX_CHARS == MAX_CHARS


# -- lone surrogates ------------------------------------------------------------------------------
def test_undecodable_bytes_on_the_command_line_are_one_line(topic_model_dir, tmp_path):
    # Python turns the byte \xff of an argument into the lone surrogate U+DCFF.
    command = "import sys; from doclrp.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run([sys.executable, "-c", command, "explain", "--model", str(topic_model_dir),
                             "--text", os.fsdecode(b"Shares \xff rose"), "--out", str(tmp_path / "p.html")],
                            capture_output=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300)
    stderr = result.stderr.decode("utf-8", "replace")
    assert result.returncode == 2 and stderr.count("\n") == 1, stderr
    assert "U+DCFF" in stderr and "Traceback" not in stderr


def test_explain_refuses_a_surrogate_in_python(topic_model_dir):
    with pytest.raises(DoclrpError, match=r"U\+D800"):
        explain(load_model(topic_model_dir), f"the team {SURROGATE} won")


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize("field", ["text", "id", "label"])
def test_surrogates_in_a_jsonl_corpus(field, topic_model_dir, tmp_path, capsys):
    bad = {"id": "bad", "text": "the team won", "label": "sport"}
    bad[field] = f"x{SURROGATE}y"
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": "a", "text": "the new phone", "label": "tech"}, bad,
                                                {"id": "c", "text": "a late goal", "label": "sport"}])
    out = tmp_path / "r.jsonl"
    code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(corpus),
                           "--out", str(out), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "line 2" in err and "U+D800" in err and not out.exists()
    for _ in range(2):  # and again: a restart meets the same line, and must finish too
        code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(corpus),
                               "--out", str(out), "--quiet", "--on-error", "skip")
        assert code == 0 and "skipped" in err and "U+D800" in err
    assert sorted(r["id"] for r in read_results(out)) == ["a", "c"]


def test_train_and_evaluate_refuse_a_surrogate_in_one_line(topic_model_dir, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": str(i), "text": f"the team won {SURROGATE}" if i == 3
                                                 else "the team won", "label": "sport"} for i in range(6)])
    code, _, err = run_cli(capsys, "train", "--model", "bag", "--corpus", str(corpus), "--out",
                           str(tmp_path / "m"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "U+D800" in err
    code, _, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(corpus))
    assert code == 2 and err.count("\n") == 1 and "U+D800" in err


def test_records_with_a_surrogate_are_skipped_with_the_reason(topic_model_dir, tmp_path):
    records = [Record("a", "the team won"), Record("b", f"the {SURROGATE} team")]
    out = tmp_path / "r.jsonl"
    for _ in range(2):
        report = explain_corpus(str(topic_model_dir), records, out, progress=False)
    assert report.total == 2
    skipped = {r["id"]: r["skipped"] for r in read_results(out)}
    assert skipped["a"] is None and "U+D800" in skipped["b"]
    with pytest.raises(DoclrpError, match="id has an invalid character"):
        explain_records(load_model(topic_model_dir), [Record(f"b{SURROGATE}", "the team won")])


def test_a_json_error_message_says_at_once(tmp_path):
    from doclrp.corpus.readers import read_jsonl

    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "x", "text": "unterminated}\n')
    with pytest.raises(DoclrpError, match="character at column") as error:
        list(read_jsonl(path))
    assert "at at" not in str(error.value)


# -- bounded work per document --------------------------------------------------------------------
def test_explain_refuses_a_document_over_max_chars(topic_model_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "the team won " * 10,
                           "--max-chars", "100", "--out", str(tmp_path / "p.html"))
    assert code == 2 and err.count("\n") == 1 and "--max-chars 100" in err


def test_corpus_skips_documents_over_max_chars(topic_model_dir, tmp_path, capsys):
    corpus = write_jsonl(tmp_path / "c.jsonl", [{"id": "short", "text": "the team won"},
                                                {"id": "long", "text": "the team won " * 20}])
    out = tmp_path / "r.jsonl"
    code, _, _ = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(corpus), "--out",
                         str(out), "--quiet", "--max-chars", "100")
    records = {r["id"]: r for r in read_results(out)}
    assert code == 0 and records["short"]["skipped"] is None
    assert "exceeds max_chars=100" in records["long"]["skipped"] and records["long"]["text"] is None


@pytest.mark.parametrize("run", ["😀", "!", "!?"])
def test_long_runs_tokenize_in_linear_time_with_exact_offsets(run):
    text = "Markets fell. " + run * 20_000 + " Then rose."
    started = time.perf_counter()
    doc = tokenize(text)
    assert time.perf_counter() - started < 10  # quadratic before: about 75 s for 20,000 "!", 300 s for emoji
    assert all(text[w.start : w.end] == w.text for w in doc.words)
    covered = sum(w.end - w.start for w in doc.words)
    assert covered == len(text) - text.count(" ")  # every character but the spaces is in a word
    assert [w.text for w in doc.words[:3]] == ["Markets", "fell", "."] and doc.words[-2].text == "rose"


def test_ordinary_text_is_not_split():
    text = "A perfectly ordinary sentence, with a longish-but-fine-hyphenated-compound-word."
    prepared, breaks = split_long_runs(text)
    assert prepared == text and breaks.size == 0


# -- the command line ------------------------------------------------------------------------------
@pytest.mark.parametrize("argv", [
    ["train", "--out", "never", "--batch-size", "0"],
    ["train", "--out", "never", "--lr", "nan"],
    ["train", "--out", "never", "--lr", "-1"],
    ["train", "--out", "never", "--epochs", "0"],
    ["explain", "--model", "m", "--text", "x", "--out", "p.html", "--top", "-5"],
    ["explain", "--model", "m", "--text", "x", "--out", "p.html", "--max-chars", "0"],
    ["corpus", "summarize", "r.jsonl", "--out", "report", "--top", "-5"],
])
def test_numbers_that_mean_nothing_are_refused(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from doclrp.cli import main

    with pytest.raises(SystemExit) as exit:
        main(argv)
    assert exit.value.code == 2 and "Traceback" not in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_training_functions_refuse_them_too(topic_corpus_dir):
    from doclrp.training import train

    with pytest.raises(DoclrpError, match="epochs"):
        train(str(topic_corpus_dir), model="bag", epochs=0, progress=False)
    with pytest.raises(DoclrpError, match="learning rate"):
        train(str(topic_corpus_dir), model="bag", lr=float("nan"), progress=False)


def test_document_words_reach_the_terminal_escaped(topic_model_dir, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text",
                           "the team\x1b]0;owned\x07 won \x1b[2J", "--out", str(tmp_path / "p.html"))
    assert code == 0 and "\x1b" not in out and "\x07" not in out and "\\x1b" in out


# -- summaries of null values ----------------------------------------------------------------------
def test_summarize_counts_records_with_null_numbers_apart(topic_model_dir, tmp_path):
    out = tmp_path / "r.jsonl"
    explain_corpus(str(topic_model_dir), [Record("a", "the team won"), Record("b", "the new phone")], out,
                   progress=False)
    lines = out.read_text().splitlines()
    header, first, second = json.loads(lines[0]), json.loads(lines[1]), json.loads(lines[2])
    first["words"][0][3] = None  # as a NaN model writes them: JSON has no NaN
    first["target_value"] = None
    broken = tmp_path / "broken.jsonl"
    with open_results_writer(broken, run_header(**{k: header[k] for k in ("model_sha256", "method", "target",
                                                                          "input")})) as writer:
        writer.write_batch([first, second])
        writer.finish()
    summary = summarize_results(broken)
    assert summary.skipped == {NOT_FINITE: 1} and summary.explained == 1
