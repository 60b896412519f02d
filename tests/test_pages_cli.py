"""Issue 16 on the command line and in summaries: document pages carry every class, top-word lists
group repeated words and leave out punctuation (or stop words), summaries say which documents their
accuracy is on, and errors name the flags a command-line user types."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from doclrp.corpus import explain_corpus, read_results
from doclrp.corpus.summary import summarize_results
from doclrp.text import Prediction, build_explanation, tokenize
from doclrp.cli.terminal import FLAG_NAMES, command_line_terms, top_words_text
from references import run_cli


def explanation(text, relevance):
    doc = tokenize(text, pipeline="blank")
    return build_explanation(doc, [(w.start, w.end) for w in doc.words], relevance, labels=["a", "b"],
                             task="classification", prediction=Prediction.from_logits([0.0, 1.0], ["a", "b"]),
                             target="b", target_value=1.0, delta=0.0)


def test_top_words_group_repeats_and_leave_out_punctuation_by_default():
    exp = explanation("Sony, Sony and the sony !", [1.0, 0.5, 2.0, 0.25, 0.25, 0.5, 0.75])
    assert [(t.text, t.relevance, t.count) for t in exp.top_terms(5)] == [("Sony", 3.5, 3), ("and", 0.25, 1),
                                                                        ("the", 0.25, 1)]
    assert [t.text for t in exp.top_terms(5, leave_out=("punct", "stop"))] == ["Sony"]
    assert [t.text for t in exp.top_terms(5, leave_out=())][:2] == ["Sony", "!"]
    assert top_words_text(exp, 2, ("punct",)) == "Sony ×3 +3.500, and +0.250; against: -"


def test_cli_top_words_filter(topic_model_dir, capsys):
    text = "the goal, the goal, the late goal!"
    lines = {}
    for spec in ("punct", "punct,stop", "none"):
        code, out, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", text, "--top", "10",
                                 "--top-words-filter", spec)
        assert code == 0, err
        lines[spec] = out.splitlines()[-1]
    assert lines["punct"].count("goal") == 1 and "goal ×3" in lines["punct"]
    assert "the ×3" in lines["punct"] and "the ×3" not in lines["punct,stop"]
    assert not re.search(r"[,!] [+-]", lines["punct"].split("top words: ")[1])
    with pytest.raises(SystemExit) as exit:  # argparse: the choices, one usage error
        run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", text, "--top-words-filter", "commas")
    assert exit.value.code == 2 and "punct,stop" in capsys.readouterr().err


def test_explain_page_carries_every_class_and_contrast(topic_model_dir, tmp_path, capsys):
    page = tmp_path / "p.html"
    code, out, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a late goal",
                             "--out", str(page))
    assert code == 0, err
    html = page.read_text(encoding="utf-8")
    labels = re.findall(r'<label for="pick-\d+">([^<]*)</label>', html)
    predicted = re.search(r"prediction: (\w+)", out).group(1)
    assert labels[0] == predicted and sorted(labels) == sorted(["sport", "tech", "sport-vs-rest", "tech-vs-rest"])
    assert "<script" not in html  # the switch is radio buttons and style rules


def test_summary_leaves_out_punctuation_by_default():
    records = [{"id": "1", "label": "pos", "skipped": None, "task": "classification", "labels": ["neg", "pos"],
                "target": "pos", "target_value": 2.0, "delta": 0.0, "special": {}, "text": "good , good",
                "prediction": {"label": "pos", "index": 1, "probabilities": [0.1, 0.9], "values": [0.0, 2.0]},
                "sentences": [[0, 11, 2.0]], "words": [["good", 0, 4, 0.5], [",", 5, 6, 1.0], ["good", 7, 11, 0.5]]}]
    assert [w for w, _ in summarize_results(records).top_words("pos", min_df=1)] == ["good"]
    assert [w for w, _ in summarize_results(records, leave_out=()).top_words("pos", min_df=1)] == [",", "good"]


@pytest.mark.slow
def test_summary_reports_held_out_accuracy_when_the_split_is_known(topic_model_dir, topic_corpus_dir, tmp_path,
                                                                    capsys):
    results = tmp_path / "r.jsonl"
    explain_corpus(topic_model_dir, topic_corpus_dir, results, progress=False)
    summary = summarize_results(results)
    n_test = json.loads((topic_model_dir / "config.json").read_text())["metrics"]["n_test"]
    assert sum(summary.held_out_confusion.values()) == n_test
    lines = summary.lines()
    assert any(line.startswith("accuracy") and "training documents included" in line for line in lines)
    assert any(f"on the {n_test} held-out test documents" in line for line in lines)
    code, out, err = run_cli(capsys, "corpus", "summarize", str(results), "--out", str(tmp_path / "report"))
    assert code == 0, err
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert 'class="held-out"' in page and "training documents included" in page
    # Without a model folder the split is unknown: the accuracy says it may include training documents.
    records = list(read_results(results))
    other = summarize_results(records)
    assert other.held_out_confusion is None
    assert "training documents included if the model was trained on this corpus" in " ".join(other.lines())


# -- errors in command-line terms --------------------------------------------------------------
def test_every_translation_names_a_flag():
    for pattern, flag in FLAG_NAMES:
        assert "--" in flag or "doclrp train" in flag, pattern
    assert command_line_terms("need epochs >= 1, batch_size >= 1 and max_len >= 8 (got 0, 1, 8)") == \
        "need --epochs >= 1, --batch-size >= 1 and --max-len >= 8 (got 0, 1, 8)"


def one_line_error(code, err):
    assert code == 2 and err.startswith("doclrp: error: ") and err.count("\n") == 1, err
    assert not re.search(r"\b[a-z]+_[a-z_]+\s*=|save_pipeline|target_columns|target_names", err), err
    return err


def test_corpus_error_names_on_error_flag(topic_model_dir, tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text('{"id": "1", "text": "a goal"}\nnot json\n', encoding="utf-8")
    err = one_line_error(*run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(corpus),
                                  "--out", str(tmp_path / "r.jsonl"))[::2])
    assert "--on-error skip" in err


def test_train_errors_name_flags(tmp_path, capsys):
    corpus = tmp_path / "c.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": f"text {i}", "label": "ab"[i % 2]}) + "\n"
                              for i in range(20)), encoding="utf-8")
    err = one_line_error(*run_cli(capsys, "train", "--model", "bow", "--glove", "--corpus", str(corpus),
                                  "--out", str(tmp_path / "m"))[::2])
    assert "--glove needs a word-embedding model: use --model bag, --model cnn or --model lstm" in err
    err = one_line_error(*run_cli(capsys, "train", "--model", "bag", "--task", "regression", "--corpus",
                                  str(corpus), "--out", str(tmp_path / "m"))[::2])
    assert "--target-column" in err


def test_explain_errors_name_flags(topic_model_dir, tmp_path, capsys):
    err = one_line_error(*run_cli(capsys, "explain", "--model", str(topic_model_dir), "--text", "a goal",
                                  "--reference", "mean")[::2])
    assert "give --reference as one number per output" in err
    broken = tmp_path / "broken"
    shutil.copytree(topic_model_dir, broken)
    (broken / "vocab.json").unlink()
    err = one_line_error(*run_cli(capsys, "explain", "--model", str(broken), "--text", "a goal")[::2])
    assert "train it again with doclrp train" in err


def test_every_view_of_a_page_subtracts_the_same_reference(topic_model_dir):
    from doclrp import load_model
    from doclrp._explain import explain_targets

    views = explain_targets(load_model(topic_model_dir), "a late goal", target="sport", reference=[0.5, -0.5])
    assert len(views) == 4 and all(str(v.target).endswith(" − reference") for v in views)
    assert [v.target.reference for v in views] == [(0.5, -0.5)] * 4
