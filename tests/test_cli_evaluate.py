"""`doclrp evaluate` end to end on a tiny saved model and a folder corpus, and its bad input."""

import pytest

from references import run_cli


def test_evaluate_prints_a_row_per_method(topic_model_dir, topic_corpus_dir, capsys):
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                             "--split", "all", "--docs", "6", "--methods", "epsilon, random,integrated-gradients",
                             "--k", "2", "--steps", "3")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("6 documents (all)")
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[2:]}
    assert list(rows) == ["epsilon", "random", "integrated-gradients"]
    assert len({row[1] for row in rows.values()}) == 1  # the random-word drop is shared


@pytest.mark.parametrize("extra, message", [
    (["--docs", "0"], "--docs must be at least 1"),
    (["--methods", " , "], "--methods names no method"),
    (["--methods", "epsilon,sailency"], "unknown method 'sailency'"),
    (["--k", "0"], "k must be a positive integer"),
    (["--target", "weather"], "unknown target 'weather'"),
])
def test_bad_input_one_line_exit_2(topic_model_dir, topic_corpus_dir, capsys, extra, message):
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                             "--split", "all", "--docs", "3", *extra)
    assert code == 2 and err.startswith("doclrp: error: ") and err.count("\n") == 1 and message in err, err
    assert out == ""  # nothing printed before the error: no half table


def test_missing_model_or_corpus(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    for argv in (["--model", str(tmp_path / "none"), "--corpus", str(topic_corpus_dir)],
                 ["--model", str(topic_model_dir), "--corpus", str(tmp_path / "none.jsonl")]):
        code, _, err = run_cli(capsys, "evaluate", *argv)
        assert code == 2 and err.count("\n") == 1, err
