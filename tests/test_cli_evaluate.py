"""`doclrp evaluate` end to end on a tiny saved model and a folder corpus, and its bad input."""

import shutil
from collections import Counter

import pytest

from references import run_cli


def test_evaluate_prints_a_row_per_method(topic_model_dir, topic_corpus_dir, capsys):
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                             "--split", "all", "--docs", "6", "--methods", "epsilon, random,integrated-gradients",
                             "--k", "2", "--steps", "3")
    assert code == 0, err
    device, *lines = out.splitlines()
    assert device in ("device: cpu", "device: cuda")  # --device auto, said first
    assert lines[0].startswith("sample: 6 of 24 documents (all), seed 0, stratified by label (sport 3, tech 3): ")
    assert lines[1].startswith("6 documents (all)")
    rows = {line.split()[0]: [float(x) for x in line.split()[1:]] for line in lines[3:]}
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


def sample_ids(first_line):
    return first_line.rsplit(": ", 1)[1].split(", ")


def test_the_sample_is_seeded_stratified_and_named(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    # Ids begin with their class (sport/…, tech/…): the first documents in id order are one class.
    corpus = tmp_path / "corpus"
    shutil.copytree(topic_corpus_dir, corpus)
    for i in range(12, 36):  # three sport documents to one tech
        (corpus / "sport" / f"{i:03d}.txt").write_text("the team scored a goal", encoding="utf-8")
    argv = ["evaluate", "--model", str(topic_model_dir), "--corpus", str(corpus), "--split", "all", "--docs", "8",
            "--methods", "random", "--k", "1", "--steps", "2"]
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    first = out.splitlines()[1]  # after the device line
    assert ", seed 0, stratified by label (sport 6, tech 2): " in first
    ids = sample_ids(first)
    assert Counter(i.split("/")[0] for i in ids) == {"sport": 6, "tech": 2}
    assert sample_ids(run_cli(capsys, *argv)[1].splitlines()[1]) == ids  # seeded
    other = run_cli(capsys, *argv, "--seed", "3")[1].splitlines()[1]
    assert ", seed 3, " in other and sample_ids(other) != ids


def test_a_document_without_known_words_is_skipped_by_id(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    corpus = tmp_path / "corpus"
    shutil.copytree(topic_corpus_dir, corpus)
    (corpus / "tech" / "053.txt").write_text("Mene, mene, tekel, upharsen.", encoding="utf-8")
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(corpus),
                             "--split", "all", "--docs", "100", "--methods", "epsilon,random", "--k", "1",
                             "--steps", "2")
    assert code == 0, err
    lines = out.splitlines()[1:]  # after the device line
    assert lines[1] == "skipped 1 of 25 documents: tech/053 (has only words the model does not know)"
    assert lines[2].startswith("24 documents (all)")
    assert [line.split()[0] for line in lines[4:]] == ["epsilon", "random"]
