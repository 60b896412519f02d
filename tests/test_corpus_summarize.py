"""`doclrp corpus summarize`: hand-computable statistics, the report, the lexicon hook, bad input."""

import json
import sys
from html.parser import HTMLParser

import pytest

from doclrp.cli import main
from doclrp.corpus import explain_corpus, read_results
from doclrp.corpus.output import open_results_writer, run_header, skipped_record
from doclrp.corpus.summary import summarize, summarize_results
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
    fake = type(sys)("doclrp.corpus.sources.lexicon")
    seen = {}

    def vader_correlation(word_means):  # doclrp.corpus.sources.lexicon's contract: word → mean, returns (r, words)
        seen.update(word_means)
        return 0.42, 3

    fake.vader_correlation = vader_correlation
    monkeypatch.setitem(sys.modules, "doclrp.corpus.sources.lexicon", fake)
    results = write_results(tmp_path / "r.jsonl", regression_records(), target="compound")
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--min-df", "1"]) == 0
    printed = capsys.readouterr().out
    assert "compound: raise: great, fine; lower: awful" in printed
    assert "VADER lexicon correlation (compound; words seen 5+ times): r = +0.420 over 3 words" in printed
    assert seen == {}  # no word of this tiny corpus is seen five times
    page = (tmp_path / "report" / "index.html").read_text(encoding="utf-8")
    assert "raise compound" in page and "lower compound" in page and "r = +0.420 over 3 words" in page
    assert "accuracy" not in page.lower().split("<body>")[1].split("conservation")[0].replace("id=", "")


def test_lexicon_hook_gets_mean_relevance_of_frequent_words(monkeypatch):
    fake = type(sys)("doclrp.corpus.sources.lexicon")
    fake.vader_correlation = lambda word_means: (float("nan"), len(word_means))
    monkeypatch.setitem(sys.modules, "doclrp.corpus.sources.lexicon", fake)
    summary = summarize_results(regression_records(), lexicon_min_count=2)
    assert summary.lexicon["result"][1] == 1  # only "great" is seen twice
    assert summary.lines()[-1].endswith("r undefined (1 words in the lexicon)")


@pytest.mark.parametrize("target, weights, checked", [
    ("compound − mean", [0.0, 0.0, 0.0, 1.0], True), ("compound − reference", [0.0, 0.0, 0.0, 1.0], True),
    ("pos", [0.0, 0.0, 1.0, 0.0], False), ("+1·compound -1·neg", [-1.0, 0.0, 0.0, 1.0], False)])
def test_lexicon_check_covers_deviations_from_a_reference(monkeypatch, target, weights, checked):
    fake = type(sys)("doclrp.corpus.sources.lexicon")
    fake.vader_correlation = lambda word_means: (0.5, len(word_means))
    monkeypatch.setitem(sys.modules, "doclrp.corpus.sources.lexicon", fake)
    # Decided by the explained output's weights, not by the target's name.
    lexicon = summarize_results(regression_records(target, weights), lexicon_min_count=2).lexicon
    if checked:
        assert lexicon["name"].startswith(f"VADER lexicon correlation ({target};") and lexicon["result"] == (0.5, 1)
    else:
        assert lexicon is None


def test_lexicon_hook_falls_back_when_part_two_is_absent(monkeypatch):
    monkeypatch.setitem(sys.modules, "doclrp.corpus.sources.lexicon", None)  # import fails as if not installed
    summary = summarize_results(regression_records())
    assert summary.lexicon["name"].startswith("VADER") and "not available" in summary.lexicon["error"]
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
