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
    (["--sanity-docs", "5"], "--sanity-docs applies to --report only"),  # it would be ignored
    (["--resamples", "100"], "--resamples applies to --report only"),
    (["--target", "weather"], "unknown target 'weather'"),
    (["--steps", "5000"], "--steps takes at most 1000, got 5000"),
    (["--batch-size", "100000"], "--batch-size takes at most 1024"),
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


# -- the full report (--report DIR) ------------------------------------------------------------------
REPORT_ARGS = ["--split", "all", "--docs", "4", "--methods", "epsilon,random", "--resamples", "50",
               "--sanity-docs", "2", "--planted-docs", "10"]


@pytest.mark.slow  # trains the planted-trigger CNN in the run
def test_report_writes_results_and_a_self_contained_page(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    import json
    from html.parser import HTMLParser

    report = tmp_path / "report"
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                             *REPORT_ARGS, "--report", str(report))
    assert code == 0, err
    assert sorted(p.name for p in report.iterdir()) == ["index.html", "results.json"]
    lines = out.splitlines()
    assert lines[1].startswith("sample: 4 of 24 documents (all), seed 0") and lines[-1] == f"report: {report}"
    assert [line.split()[0] for line in lines[4:6]] == ["epsilon", "random"]
    assert "epsilon" in err and "doc" in err  # a progress bar per method, on stderr
    data = json.loads((report / "results.json").read_text(encoding="utf-8"))
    assert data["seed"] == 0 and len(data["documents"]) == 4 and data["sample_line"] == lines[1]
    assert {"doclrp", "torch", "python", "machine"} <= set(data)
    for method in data["methods"]:
        assert len(method["seconds_per_document"]) == 4
        for mode in ("deletion", "replacement"):
            assert set(method["per_document"][mode]) == {"abpc", "comprehensiveness", "sufficiency", "aopc",
                                                         "normalized_aopc"}
            assert all(len(v) == 4 for v in method["per_document"][mode].values())
        assert len(method["sanity"]["all"]["per_document"]) == 2
    assert data["paired"]["deletion"]["abpc"][0]["method"] == "random"
    assert set(data["planted"]["methods"]) == {"epsilon", "random"}
    page = (report / "index.html").read_text(encoding="utf-8")
    tags = []

    class Collect(HTMLParser):
        def handle_starttag(self, tag, attrs):
            tags.append((tag, dict(attrs)))

    Collect().feed(page)
    names = [tag for tag, _ in tags]
    assert names.count("svg") == 4 and "table" in names and "script" not in names
    assert not any(key in ("src", "href") for _, attrs in tags for key in attrs)
    assert "http:" not in page and "https:" not in page and "//" not in page.replace("<!DOCTYPE", "")


def test_report_renders_escaped_text():
    from doclrp.render.evaluation import render_evaluation

    page = render_evaluation({"documents": ["<script>x</script>"], "skipped": {"<b>": "is empty"},
                              "methods": [], "seed": 1}, {"model": "a & <b>"})
    assert "<script>x" not in page and "&lt;script&gt;x" in page and "a &amp; &lt;b&gt;" in page


@pytest.mark.parametrize("extra, message", [
    (["--resamples", "0"], "--resamples must be at least 1"),
    (["--sanity-docs", "-1"], "--sanity-docs must be at least 0"),
    (["--planted-docs", "-2"], "--planted-docs must be at least 0"),
    (["--planted-k", "0"], "--planted-k must be at least 1"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--steps", "5"], "--steps applies to the quick table, not to --report"),  # it would be ignored
    (["--k", "3"], "--k applies to the quick table, not to --report"),
    (["--resamples", "10000000"], "--resamples takes at most 100000"),
    (["--methods", "epsilon,sailency"], "unknown method 'sailency'"),
    (["--methods", "epsilon,epsilon"], "a method is named twice"),
    (["--target", "weather"], "unknown target 'weather'"),
])
def test_bad_report_options_one_line_exit_2(topic_model_dir, topic_corpus_dir, tmp_path, capsys, extra, message):
    report = tmp_path / "report"
    code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir),
                             *REPORT_ARGS, "--report", str(report), *extra)
    assert code == 2 and err.startswith("doclrp: error: ") and err.count("\n") == 1 and message in err, err
    assert out == "" and not report.exists()


def test_a_report_folder_that_is_not_a_report_is_kept(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("keep me", encoding="utf-8")
    (tmp_path / "file.txt").write_text("keep me", encoding="utf-8")
    for report, message in ((tmp_path / "mine", "is not a doclrp evaluation report"),
                            (tmp_path / "file.txt", "is not a doclrp evaluation report"),
                            (tmp_path / "no" / "where", "does not exist")):
        code, out, err = run_cli(capsys, "evaluate", "--model", str(topic_model_dir), "--corpus",
                                 str(topic_corpus_dir), *REPORT_ARGS, "--report", str(report))
        assert code == 2 and err.count("\n") == 1 and message in err, err
    assert (tmp_path / "mine" / "thesis.tex").read_text(encoding="utf-8") == "keep me"


def test_help_lists_the_default_methods(capsys):
    from doclrp.cli import main

    with pytest.raises(SystemExit):
        main(["evaluate", "--help"])
    text = "".join(capsys.readouterr().out.split())  # argparse wraps lines, also at hyphens
    for names in ("epsilon,epsilon-plus,alpha2-beta1", "attnlrp,cp-lrp", "gradient-x-input,saliency",
                  "integrated-gradients,occlusion,random", "--reportDIR"):
        assert names in text


def test_methods_are_checked_before_the_model_loads_and_the_target_before_the_corpus_is_read(
        topic_model_dir, topic_corpus_dir, capsys, monkeypatch):
    argv = ["evaluate", "--model", str(topic_model_dir), "--corpus", str(topic_corpus_dir)]
    with monkeypatch.context() as patch:
        patch.setattr("doclrp.cli.evaluate.load_model", lambda *a, **k: pytest.fail("the model loaded first"))
        code, _, err = run_cli(capsys, *argv, "--methods", "epsilon,sailency")
        assert code == 2 and "unknown method 'sailency' (did you mean 'saliency'?)" in err
    monkeypatch.setattr("doclrp.cli.evaluate.open_corpus", lambda *a, **k: pytest.fail("the corpus was read first"))
    code, _, err = run_cli(capsys, *argv, "--target", "sprot")
    assert code == 2 and "unknown target 'sprot' (did you mean 'sport'?)" in err
