"""`doclrp corpus summarize`: hand-computable statistics, the report, the lexicon hook, bad input."""

import dataclasses
import json
from html.parser import HTMLParser

import pytest

from doclrp.cli import main
from doclrp.corpus import explain_corpus, read_results
from doclrp.corpus.registry import TARGET_CHECKS
from doclrp.corpus.sources import lexicon as lexicon_source
from doclrp.corpus.sources.lexicon import VADER_CHECK
from doclrp.corpus.output import open_results_writer, run_header, skipped_record
from doclrp.corpus.reporting import summarize
from doclrp.corpus.summary import summarize_results
from doclrp.errors import DoclrpError
from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline, save_pipeline
from doclrp.render.report import bar_chart_svg

LABELS = ["neg", "pos"]


def one_hot(name, labels):
    return [1.0 if label == name else 0.0 for label in labels]


def record(id, label, predicted, probabilities, words, target=None, task="classification", labels=LABELS,
           weights=None):
    # As explain_corpus writes them: the explained target's name and its weight per output.
    weights = weights if weights is not None else one_hot(target or predicted, labels)
    text, spans, position = "", [], 0
    for word, _ in words:
        text += word + " "
        spans.append((position, position + len(word)))
        position += len(word) + 1
    total = sum(r for _, r in words)
    index = labels.index(predicted) if predicted in labels else None
    return {"id": id, "label": label, "skipped": None, "task": task, "labels": labels,
            "target": target or predicted, "target_weights": weights, "target_value": total + 0.5, "delta": 0.5,
            "prediction": {"label": predicted if task == "classification" else None, "index": index,
                           "probabilities": probabilities, "values": [0.0] * len(labels)},
            "special": {}, "targets": None, "text": text, "sentences": [[0, len(text) - 1, total]],
            "words": [[w, s, e, r] for (w, r), (s, e) in zip(words, spans)]}


RECORDS = [
    record("r1", "pos", "pos", [0.1, 0.9], [("Good", 1.0), ("good", 0.5), ("bad", -0.25)]),
    record("r2", "pos", "neg", [0.6, 0.4], [("bad", 0.75), ("good", -0.5), ("movie", 0.25)]),
    record("r3", "neg", "neg", [0.99, 0.01], [("bad", 2.0), ("Bad", 1.0)]),
    skipped_record("r4", "neg", "empty document", " "),
    record("r5", None, "pos", [0.3, 0.7], [("good", 0.25)]),
]


def write_results(path, records, target="predicted"):
    header = run_header(model_sha256="f" * 64, method={"name": "epsilon", "params": {}}, target={"name": target},
                        input="tiny")
    with open_results_writer(path, header) as writer:
        writer.write_batch(records)
        writer.finish()
    return path


def test_known_sums_means_and_document_frequencies():
    summary = summarize_results(RECORDS)
    assert (summary.documents, summary.explained, dict(summary.skipped)) == (5, 4, {"empty document": 1})
    # Groups: true label where known (r1, r2 → pos; r3 → neg), else predicted (r5 → pos).
    assert dict(summary.group_documents) == {"pos": 3, "neg": 1}
    good, bad, movie = (summary.groups["pos"][w] for w in ("good", "bad", "movie"))
    assert (good.sum, good.count, good.df, good.mean) == (1.25, 4, 3, 0.3125)
    assert (bad.sum, bad.count, bad.df, bad.mean) == (0.5, 2, 2, 0.25)
    assert (movie.sum, movie.count, movie.df) == (0.25, 1, 1)
    neg_bad = summary.groups["neg"]["bad"]  # "bad" and "Bad" are one word
    assert (neg_bad.sum, neg_bad.count, neg_bad.df, neg_bad.mean) == (3.0, 2, 1, 1.5)
    assert summary.accuracy == pytest.approx(2 / 3) and summary.labelled == 3
    assert dict(summary.confusion) == {("pos", "pos"): 1, ("pos", "neg"): 1, ("neg", "neg"): 1}
    assert [w for w, _ in summary.top_words("pos", k=5, sign=+1, min_df=1)] == ["good", "bad", "movie"]
    assert [w for w, _ in summary.top_words("pos", k=5, sign=+1, min_df=2)] == ["good", "bad"]
    assert summary.top_words("pos", sign=-1, min_df=1) == []
    # Confidence: the probability of the explained (here predicted) class.
    assert summary.score_name == "probability of the explained class"
    assert [r["id"] for r in summary.most_confident] == ["r3", "r1", "r5", "r2"]
    assert [r["id"] for r in summary.least_confident] == ["r2", "r5", "r1", "r3"]
    assert summary.delta_abs_mean == 0.5


@pytest.mark.parametrize("group_by, groups", [
    ("label", {"pos": 2, "neg": 1, "(no label)": 1}),
    ("predicted", {"pos": 2, "neg": 2}),
    ("target", {"pos": 2, "neg": 2}),
])
def test_group_by(group_by, groups):
    assert dict(summarize_results(RECORDS, group_by=group_by).group_documents) == groups


def test_keeps_only_the_asked_number_of_documents():
    summary = summarize_results(RECORDS, pages=2)
    assert [r["id"] for r in summary.most_confident] == ["r3", "r1"]
    assert [r["id"] for r in summary.least_confident] == ["r2", "r5"]


class Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags, self.links = [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [value for name, value in attrs if name == "href"]


def test_report_files_links_and_escaping(tmp_path, capsys):
    evil = record("<script>alert(1)</script>", "<b>pos</b>", "pos", [0.2, 0.8], [("<img>", 1.0), ("good", 0.5)])
    results = write_results(tmp_path / "r.jsonl", RECORDS + [evil])
    out = tmp_path / "report"
    assert main(["corpus", "summarize", str(results), "--out", str(out), "--min-df", "1"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy 0.5000 on all 4 labelled documents (training documents included if" in printed
    assert "pos: for: good" in printed
    assert sorted(p.name for p in out.iterdir()) == ["docs", "index.html", "summary.json", "words.csv"]
    page = (out / "index.html").read_text(encoding="utf-8")
    tags = Tags()
    tags.feed(page)
    assert "script" not in tags.tags and "img" not in tags.tags and "b" not in tags.tags
    assert "&lt;script&gt;" in page and "<svg" in page and 'class="confusion"' in page
    documents = {link for link in tags.links if link.startswith("docs/")}  # in both tables: 5 documents
    assert len(documents) == 5 and all((out / link).is_file() for link in documents)
    assert "words.csv" in tags.links
    data = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert data["accuracy"] == 0.5 and data["skipped"] == {"empty document": 1}
    assert data["top_words"]["pos"]["for"][0][:2] == ["good", 1.25]
    assert data["top_words"]["<b>pos</b>"]["for"][0][:2] == ["<img>", 1.0]
    assert "pos,good,1.25,0.3125,4,3" in (out / "words.csv").read_text(encoding="utf-8")


def test_report_is_replaced_whole_and_other_folders_are_kept(tmp_path, capsys):
    results = write_results(tmp_path / "r.jsonl", RECORDS)
    out = tmp_path / "report"
    assert main(["corpus", "summarize", str(results), "--out", str(out)]) == 0
    (out / "stale.txt").write_text("old")
    assert main(["corpus", "summarize", str(results), "--out", str(out), "--pages", "1"]) == 0
    assert not (out / "stale.txt").exists() and len(list((out / "docs").iterdir())) == 2
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "thesis.tex").write_text("keep")
    capsys.readouterr()
    assert main(["corpus", "summarize", str(results), "--out", str(mine)]) == 2
    assert "not a doclrp corpus report" in capsys.readouterr().err
    assert (mine / "thesis.tex").read_text() == "keep"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind


@pytest.mark.parametrize("content, message", [
    (None, "no results file"),
    ("hello\n", "not doclrp corpus results"),
])
def test_bad_results(tmp_path, capsys, content, message):
    results = tmp_path / "r.jsonl"
    if content is not None:
        results.write_text(content)
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("doclrp: error:") and message in err and "\n" not in err
    assert not (tmp_path / "report").exists()


REGRESSION = ["neg", "neu", "pos", "compound"]


def regression_records(target="compound", weights=None):
    weights = weights if weights is not None else one_hot("compound", REGRESSION)

    def r(id, words):
        return record(id, None, None, None, words, target=target, task="regression", labels=REGRESSION,
                      weights=weights)

    return [r("a", [("great", 0.5), ("awful", -0.75)]), r("b", [("great", 0.25), ("fine", 0.125)])]


def test_regression_words_up_and_down_and_the_lexicon_hook(tmp_path, monkeypatch, capsys):
    seen = {}

    def vader_correlation(word_means):  # doclrp.corpus.sources.lexicon's contract: word → mean, returns (r, words)
        seen.update(word_means)
        return 0.42, 3

    _fake_lexicon_check(monkeypatch, vader_correlation)
    results = write_results(tmp_path / "r.jsonl", regression_records(), target="compound")
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--min-df", "1"]) == 0
    printed = capsys.readouterr().out
    assert "compound: raise: great, fine; lower: awful" in printed
    assert "VADER lexicon correlation (compound; words seen 5+ times): r = +0.420 over 3 words" in printed
    assert seen == {}  # no word of this tiny corpus is seen five times
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "raise compound" in page and "lower compound" in page and "r = +0.420 over 3 words" in page
    assert "accuracy" not in page.lower().split("<body>")[1].split("conservation")[0].replace("id=", "")


def _fake_lexicon_check(monkeypatch, function):
    """The registered VADER check (entry point doclrp.target_checks: vader-lexicon) with ``function``."""
    monkeypatch.setitem(TARGET_CHECKS, "vader-lexicon", dataclasses.replace(VADER_CHECK, function=function))


def test_lexicon_hook_gets_mean_relevance_of_frequent_words(monkeypatch):
    _fake_lexicon_check(monkeypatch, lambda word_means: (float("nan"), len(word_means)))
    summary = summarize_results(regression_records(), lexicon_min_count=2)
    assert summary.lexicon["result"][1] == 1  # only "great" is seen twice
    assert summary.lines()[-1].endswith("r undefined (1 words in the lexicon)")


@pytest.mark.parametrize("target, weights, checked", [
    ("compound − mean", [0.0, 0.0, 0.0, 1.0], True), ("compound − reference", [0.0, 0.0, 0.0, 1.0], True),
    ("pos", [0.0, 0.0, 1.0, 0.0], False), ("+1·compound -1·neg", [-1.0, 0.0, 0.0, 1.0], False)])
def test_lexicon_check_covers_deviations_from_a_reference(monkeypatch, target, weights, checked):
    _fake_lexicon_check(monkeypatch, lambda word_means: (0.5, len(word_means)))
    # Decided by the explained output's weights, not by the target's name.
    lexicon = summarize_results(regression_records(target, weights), lexicon_min_count=2).lexicon
    if checked:
        assert lexicon["name"].startswith(f"VADER lexicon correlation ({target};") and lexicon["result"] == (0.5, 1)
    else:
        assert lexicon is None


def test_lexicon_hook_falls_back_when_the_lexicon_is_absent(monkeypatch):
    def absent():
        raise DoclrpError("the VADER lexicon needs the vaderSentiment package")

    monkeypatch.setattr(lexicon_source, "_lexicon", absent)  # as if vaderSentiment were not installed
    summary = summarize_results(regression_records())
    assert summary.lexicon["name"].startswith("VADER") and "needs the vaderSentiment" in summary.lexicon["error"]
    assert summarize_results(RECORDS).lexicon is None  # classification: no lexicon check


def test_bar_chart_lengths_are_proportional():
    svg = bar_chart_svg([("a", 2.0, "x"), ("b", -1.0, "y")], "#b2182b", "chart", width=364)
    # 364 - 150 (names) - 64 (values) = 150 px for the largest |value|.
    assert 'width="150.0"' in svg and 'width="75.0"' in svg


def test_end_to_end_from_a_corpus_run(tmp_path, capsys):
    encoder = IdEncoder.fit(["good fun great", "bad dull awful"])
    pipeline = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, LABELS)
    model_dir = save_pipeline(pipeline, tmp_path / "model")
    corpus = tmp_path / "c.jsonl"
    rows = [{"id": str(i), "text": t, "label": label} for i, (t, label) in
            enumerate([("good fun", "pos"), ("great fun", "pos"), ("bad, dull", "neg"), ("awful", "neg")])]
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    explain_corpus(model_dir, corpus, tmp_path / "r.parquet", progress=False)
    summary = summarize(tmp_path / "r.parquet", tmp_path / "report", min_df=1)
    assert summary.documents == 4 and summary.labelled == 4
    assert summary.header["model_sha256"] == read_results(tmp_path / "r.parquet").header["model_sha256"]
    assert (tmp_path / "report" / "index.html").is_file()


# -- the class switch on document pages (issue 16) -------------------------------------------------
def tiny_run(tmp_path, labels=("neg", "neu", "pos")):
    """A three-class model saved to a folder, and a run of it over six documents."""
    encoder = IdEncoder.fit(["good fun great", "bad dull awful", "plain okay"])
    pipeline = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, len(labels)), encoder, list(labels))
    model_dir = save_pipeline(pipeline, tmp_path / "model")
    corpus = tmp_path / "c.jsonl"
    texts = [("good fun", "pos"), ("great fun", "pos"), ("bad, dull", "neg"), ("awful", "neg"),
             ("plain okay", "neu"), ("okay fun", "neu")]
    corpus.write_text("".join(json.dumps({"id": str(i), "text": t, "label": label}) + "\n"
                              for i, (t, label) in enumerate(texts)), encoding="utf-8")
    explain_corpus(model_dir, corpus, tmp_path / "r.jsonl", method="epsilon", progress=False)
    return model_dir, tmp_path / "r.jsonl", dict(texts)


class Views(HTMLParser):
    """A document page's switch labels and, per view, its words' exact values (``data-v``)."""

    def __init__(self):
        super().__init__()
        self.labels, self.views, self._in_label = [], [], False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self._in_label = tag == "label" and (attrs.get("for") or "").startswith("pick-")
        if tag == "div" and "view" in (attrs.get("class") or "").split():
            self.views.append([])
        if tag == "span" and attrs.get("class") == "w" and self.views:
            self.views[-1].append(float(attrs["data-v"]))

    def handle_data(self, data):
        if self._in_label:
            self.labels.append(data)
            self._in_label = False


def pages(report):
    out = {}
    for path in sorted((report / "docs").iterdir()):
        views = Views()
        views.feed(path.read_text(encoding="utf-8"))
        out[path.name] = views
    return out


def test_document_pages_switch_between_every_class_with_the_librarys_numbers(tmp_path, capsys):
    from doclrp import load_model
    from doclrp._explain import explain_targets

    model_dir, results, _ = tiny_run(tmp_path)
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--pages", "2",
                 "--device", "cpu"]) == 0
    captured = capsys.readouterr()
    assert "class switch: explaining the 4 linked documents for every class and X-vs-rest with epsilon" in captured.err
    assert "document pages: every class and X-vs-rest, with a switch (4 documents re-explained" in captured.out
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "document pages: every class and X-vs-rest, with a switch" in index
    pipeline = load_model(model_dir)
    by_id = {str(r["id"]): r for r in read_results(results)}
    found = pages(tmp_path / "report")
    assert len(found) == 4
    for name, views in found.items():
        record = by_id[name.split("-", 1)[1].removesuffix(".html")]
        expected = explain_targets(pipeline, record["text"], target="predicted", method="epsilon", id=record["id"])
        assert views.labels == [str(e.target) for e in expected] and len(views.labels) == 3 + 3
        assert views.labels[0] == record["target"] and "neg-vs-rest" in views.labels
        assert views.views[0] == [w[3] for w in record["words"]]  # the record itself comes first
        for shown, explanation in zip(views.views, expected):
            assert shown == pytest.approx([w.relevance for w in explanation.words], abs=1e-6)


def test_a_changed_model_gives_single_target_pages_and_says_why(tmp_path, capsys):
    model_dir, results, _ = tiny_run(tmp_path)
    (model_dir / "config.json").write_text((model_dir / "config.json").read_text() + " ")  # another fingerprint
    summary = summarize(results, tmp_path / "report", pages=2, progress=False)
    assert summary.pages_note.startswith("document pages: the explained target only (the run's model ")
    assert "has changed since the run" in summary.pages_note and "--model DIR" in summary.pages_note
    assert all(views.labels == [] and len(views.views) == 1 for views in pages(tmp_path / "report").values())
    index = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert index.count("has changed since the run") == 1
    assert summarize(results, tmp_path / "off", pages=2, class_switch=False).pages_note.endswith("(class switch off)")


def test_model_points_at_a_moved_model_and_a_wrong_one_is_a_one_line_error(tmp_path, capsys):
    model_dir, results, _ = tiny_run(tmp_path)
    moved = model_dir.rename(tmp_path / "moved")
    summary = summarize(results, tmp_path / "report", pages=1, progress=False)
    assert "is not there: point at it with --model DIR" in summary.pages_note
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--pages", "1",
                 "--model", str(moved)]) == 0
    assert "with a switch (2 documents re-explained" in capsys.readouterr().out
    assert all(len(views.labels) == 6 for views in pages(tmp_path / "report").values())
    before = sorted(p.name for p in (tmp_path / "report" / "docs").iterdir())
    other, _, _ = tiny_run(tmp_path / "other")
    for wrong, message in ((other, "is not the model of these results"), (tmp_path / "nowhere", "does not exist")):
        assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--model",
                     str(wrong)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("doclrp: error:") and message in err and "\n" not in err
    # the report in place is whole and unchanged; nothing staged is left behind
    assert sorted(p.name for p in (tmp_path / "report" / "docs").iterdir()) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_words_csv_is_spreadsheet_safe(tmp_path):
    """Words and groups (labels) that a spreadsheet would run as formulas are text; numbers stay numbers."""
    import csv

    hostile = [("=HYPERLINK(\"http://x\")", 1.0), ("+cmd", -0.5), ("@SUM(A1)", 0.25), ("-2+3", -1.0)]
    evil = record("=ID()", "=1+1", "pos", [0.2, 0.8], hostile, labels=["neg", "pos"])
    results = write_results(tmp_path / "r.jsonl", [evil])
    out = tmp_path / "report"
    assert main(["corpus", "summarize", str(results), "--out", str(out), "--min-df", "1"]) == 0
    rows = list(csv.reader((out / "words.csv").read_text(encoding="utf-8").splitlines()))
    assert rows[0] == ["group", "word", "sum", "mean", "count", "df"]
    for group, word, total, mean, *_ in rows[1:]:
        assert group == "'=1+1" and word[0] == "'" and word[1] in "=+@-"
        assert float(total) == float(mean) and not total.startswith("'")
    assert {(row[1], float(row[2])) for row in rows[1:]} == {
        ("'=hyperlink(\"http://x\")", 1.0), ("'+cmd", -0.5), ("'@sum(a1)", 0.25), ("'-2+3", -1.0)}


def test_the_report_names_the_target_and_method_and_says_when_labels_are_not_the_models(tmp_path, capsys):
    header = run_header(model_sha256="f" * 64, method={"name": "epsilon", "params": {"eps": 0.01}},
                        target={"name": "pos-vs-rest", "weights": [-1.0, 1.0], "reference": None,
                                "reference_name": ""}, input="tiny", labels=LABELS, task="classification")
    records = [record("a", "spam", "pos", [0.2, 0.8], [("good", 1.0)]),
               record("b", "ham", "neg", [0.7, 0.3], [("bad", 1.0)])]
    out = tmp_path / "r.jsonl"
    with open_results_writer(out, header) as writer:
        writer.write_batch(records)
        writer.finish()
    assert main(["corpus", "summarize", str(out), "--out", str(tmp_path / "report"), "--min-df", "1",
                 "--no-class-switch"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy not measured: the corpus's labels (ham, spam) are none of the model's (neg, pos)" in printed
    assert "accuracy 0.0000" not in printed
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "<dt>target</dt><dd>pos-vs-rest</dd>" in page and "<dt>method</dt><dd>epsilon (eps=0.01)</dd>" in page
    assert "&quot;weights&quot;" not in page
    # Some labels the model's, some not: the accuracy, and a word on the others.
    records[1]["label"] = "neg"
    with open_results_writer(tmp_path / "mixed.jsonl", header) as writer:
        writer.write_batch(records)
        writer.finish()
    assert main(["corpus", "summarize", str(tmp_path / "mixed.jsonl"), "--out", str(tmp_path / "report"),
                 "--min-df", "1", "--no-class-switch"]) == 0
    printed = capsys.readouterr().out
    assert "accuracy 0.5000" in printed and "note: labels spam are not the model's" in printed
