"""The parts of the ``doclrp serve`` API beyond one explanation: colour maps as data, export
(doclrp's HTML page, JSON, CSV), corpus results (paged table, filters, sorting, top words,
one stored document; JSONL and Parquet; a 100,000-record file), the digits demo, and
batching of requests that arrive together."""

from __future__ import annotations

import csv
import io
import json
import math
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")

import orjson  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import doclrp  # noqa: E402
from doclrp.corpus.output import read_results, record_to_explanation  # noqa: E402
from doclrp._explain import explain_targets  # noqa: E402
from doclrp.corpus.run import explain_corpus  # noqa: E402
from doclrp.render.html import to_html  # noqa: E402
from doclrp.render.image import colorize  # noqa: E402
from doclrp.serve import Limits, create_app  # noqa: E402
from doclrp.serve.colormaps import COLORMAPS  # noqa: E402

BASE = "http://127.0.0.1:8765"
TEXT = ("The striker scored twice in the final and the club lifted the cup. "
        "Shares in the broadcaster rose after the match drew record viewers.")
CORPUS = [
    {"id": "s1", "label": "sports", "text": "The striker scored twice and the team won the cup final."},
    {"id": "s2", "label": "sports", "text": "The coach praised the players after the match."},
    {"id": "b1", "label": "business", "text": "Shares rose after the bank reported strong profits."},
    {"id": "b2", "label": "business", "text": "The film won an award at the festival on Sunday."},
    {"id": "<b>x</b>", "label": "tech", "text": '<script>alert(1)</script> software & "chips" sold well.'},
]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in CORPUS))
    return path


@pytest.fixture(scope="module")
def results_jsonl(corpus_file):
    out = corpus_file.parent / "run.jsonl"
    explain_corpus(doclrp.pretrained_path(), str(corpus_file), out, progress=False)
    return out


@pytest.fixture(scope="module")
def app(results_jsonl):
    return create_app(models={"bbc-cnn": doclrp.pretrained_path()}, results={"run": results_jsonl},
                      limits=Limits(max_chars=2_000))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url=BASE)


@pytest.fixture(scope="module")
def bbc():
    return doclrp.load_model(doclrp.pretrained_path())


def one_line_error(reply, status, fragment):
    assert reply.status_code == status, reply.text
    message = reply.json()["error"]
    assert fragment in message and "\n" not in message


# -- colour maps --------------------------------------------------------------------------------------
def test_the_colour_maps_are_the_image_cores_sampled_from_minus_one_to_one(client):
    maps = {m["name"]: m["stops"] for m in client.get("/api/colormaps").json()}
    assert list(maps) == list(COLORMAPS) and list(maps)[0] == "rdbu"
    assert {"gray-red", "black-firered", "blue-black-yellow"} <= maps.keys()
    for name, stops in maps.items():
        assert len(stops) % 2 == 1
        ends = colorize([-1.0, 0.0, 1.0], name)
        assert [stops[0], stops[len(stops) // 2], stops[-1]] == ["#%02x%02x%02x" % tuple(c) for c in ends]
    assert maps["rdbu"][-1] == "#b2182b" and maps["rdbu"][0] == "#2166ac"


# -- export --------------------------------------------------------------------------------------------
def test_export_html_is_doclrps_page_of_the_same_explanation(client, bbc):
    request = {"text": TEXT, "method": "epsilon", "params": {"eps": 0.01}, "target": "sports"}
    reply = client.post("/api/export", json={**request, "format": "html"})
    assert reply.status_code == 200 and reply.headers["content-type"].startswith("text/html")
    assert 'attachment; filename="doclrp-bbc-cnn-epsilon-sports.html"' == reply.headers["content-disposition"]
    # With the class switch, as `doclrp explain --out` writes the page: every class and X-vs-rest.
    expected, *others = explain_targets(bbc, TEXT, target="sports", method=doclrp.resolve_method("epsilon", eps=0.01))
    assert reply.text == to_html(expected, alternatives=others)
    assert len(others) == 2 * len(bbc.labels) - 1 and 'name="view"' in reply.text


def test_export_json_and_csv_hold_what_the_page_shows(client):
    request = {"text": TEXT, "method": "gradient-x-input", "target": {"business": 1, "sports": -1}}
    shown = client.post("/api/explain", json=request).json()
    data = client.post("/api/export", json={**request, "format": "json"}).json()
    assert [w["relevance"] for w in data["words"]] == [w["relevance"] for w in shown["words"]]
    assert data["target"] == shown["target"] and data["target"]["weights"][:4] == [1.0, 0.0, 0.0, -1.0]
    reply = client.post("/api/export", json={**request, "format": "csv"})
    assert reply.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(reply.text)))
    assert rows[0] == ["word", "start", "end", "sentence", "relevance"]
    assert [(r[0], float(r[4])) for r in rows[1:]] == [(w["text"], w["relevance"]) for w in shown["words"]]


HOSTILE = '=HYPERLINK("http://evil.example") said +cmd and @SUM(A1) - then\tleft =1+1'


@pytest.mark.parametrize("granularity", ["word", "token"])
def test_csv_export_is_spreadsheet_safe(client, granularity):
    """Cells that a spreadsheet would run as formulas (=, +, -, @, tab, CR first) get a leading
    ' (OWASP); relevance stays a number, negative ones included."""
    request = {"text": HOSTILE, "method": "gradient-x-input", "granularity": granularity}
    shown = client.post("/api/explain", json=request).json()
    rows = list(csv.reader(io.StringIO(client.post("/api/export", json={**request, "format": "csv"}).text)))
    units = shown["tokens"] if granularity == "token" else shown["words"]
    assert len(rows) == len(units) + 1 and any(u["text"].startswith(("=", "+", "-", "@")) for u in units)
    for row, unit in zip(rows[1:], units):
        dangerous = unit["text"].startswith(("=", "+", "-", "@", "\t", "\r"))
        assert row[0] == ("'" + unit["text"] if dangerous else unit["text"])
        assert float(row[4]) == unit["relevance"]
    assert any(float(row[4]) < 0 and row[4].startswith("-") for row in rows[1:])


def test_export_refuses_a_bad_format_in_one_line(client):
    one_line_error(client.post("/api/export", json={"text": TEXT, "format": "pdf"}), 422, "format")


def test_a_contrast_and_weights_equal_the_librarys(client, bbc):
    for target in ({"business": 1, "sports": -1}, {"tech": 0.5, "politics": 0.5}):
        data = client.post("/api/explain", json={"text": TEXT, "method": "epsilon", "target": target}).json()
        expected = doclrp.explain(bbc, TEXT, target=target, method="epsilon")
        assert [w["relevance"] for w in data["words"]] == pytest.approx(expected.relevance.tolist(), rel=1e-6,
                                                                        abs=1e-9)
        assert data["target"]["name"] == str(expected.target)


# -- corpus results ------------------------------------------------------------------------------------
def test_results_are_listed_by_id_never_by_path(client, results_jsonl):
    (info,) = client.get("/api/results").json()
    assert info["id"] == "run" and info["documents"] == len(CORPUS) and info["method"]["name"] == "epsilon"
    assert str(results_jsonl.parent) not in json.dumps(info)


def test_a_page_of_documents_filters_and_sorts_on_the_server(client, results_jsonl):
    page = client.get("/api/results/run/documents").json()
    in_file = [r["id"] for r in read_results(results_jsonl)]
    assert page["total"] == 5 and [r["id"] for r in page["rows"]] == in_file
    assert [r["index"] for r in page["rows"]] == list(range(5))
    by_id = [r["id"] for r in client.get("/api/results/run/documents?sort=id&descending=true").json()["rows"]]
    assert by_id == sorted(in_file, reverse=True)
    assert client.get("/api/results/run/documents?label=sports").json()["total"] == 2
    wrong = client.get("/api/results/run/documents?correct=false").json()["rows"]
    assert all(r["label"] != r["predicted"] for r in wrong) and wrong
    assert {r["id"] for r in client.get("/api/results/run/documents?search=SHARES").json()["rows"]} == {"b1"}
    ranked = client.get("/api/results/run/documents?sort=confidence&descending=true").json()["rows"]
    assert [r["confidence"] for r in ranked] == sorted((r["confidence"] for r in ranked), reverse=True)
    by_delta = client.get("/api/results/run/documents?min_abs_delta=0&sort=delta").json()["rows"]
    assert [r["delta"] for r in by_delta] == sorted(r["delta"] for r in by_delta)
    paged = client.get("/api/results/run/documents?offset=3&limit=1").json()
    assert paged["total"] == 5 and [r["id"] for r in paged["rows"]] == in_file[3:4]
    high = client.get("/api/results/run/documents?min_confidence=0.99").json()["rows"]
    assert all(r["confidence"] >= 0.99 for r in high)


@pytest.mark.parametrize("query, status, fragment", [
    ("limit=0", 422, "limit"), ("limit=100000", 422, "limit"), ("offset=-1", 422, "offset"),
    ("sort=text", 422, "sort"), ("min_confidence=2", 422, "min_confidence"), ("correct=maybe", 422, "correct"),
    ("search=" + "x" * 300, 422, "search"),
])
def test_bad_table_queries_are_one_line_4xx(client, query, status, fragment):
    one_line_error(client.get(f"/api/results/run/documents?{query}"), status, fragment)


def test_unknown_results_and_documents_are_404(client):
    assert client.get("/api/results/..%2F..%2Fetc/documents").status_code == 404
    one_line_error(client.get("/api/results/run.jsonl/documents"), 404, "unknown results id 'run.jsonl'")
    one_line_error(client.get("/api/results/nope/documents/0"), 404, "unknown results id 'nope'")
    one_line_error(client.get("/api/results/run/documents/99"), 404, "no document 99")


def test_a_stored_document_is_the_record_and_names_the_model_that_made_it(client, results_jsonl):
    records = list(read_results(results_jsonl))
    index = {r["id"]: i for i, r in enumerate(records)}
    data = client.get(f"/api/results/run/documents/{index['b1']}").json()
    expected = record_to_explanation(records[index["b1"]])
    assert data["text"] == expected.text and data["id"] == "b1"
    assert [w["relevance"] for w in data["words"]] == [w.relevance for w in expected.words]
    assert data["source"]["model"] == "bbc-cnn" and data["source"]["method"]["name"] == "epsilon"
    reply = client.get(f"/api/results/run/documents/{index['<b>x</b>']}/export?format=html")
    assert reply.status_code == 200 and "<script>alert" not in reply.text and "&lt;script&gt;" in reply.text
    rows = list(csv.reader(io.StringIO(client.get(f"/api/results/run/documents/{index['b1']}/export?format=csv").text)))
    assert len(rows) == len(expected.words) + 1


def test_top_words_per_class(client):
    groups = {g["group"]: g for g in client.get("/api/results/run/top-words?k=5").json()["groups"]}
    assert set(groups) == {"sports", "business", "tech"}
    assert groups["sports"]["documents"] == 2
    assert all(w["sum"] > 0 for w in groups["sports"]["for"])


def test_a_served_model_that_did_not_make_the_results_is_not_named(results_jsonl):
    from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline

    encoder = IdEncoder.fit(["good fun", "bad dull"])
    other = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    client = TestClient(create_app(models={"tiny": other}, results=[results_jsonl], digits=False), base_url=BASE)
    assert client.get("/api/results").json()[0]["id"] == "run"
    assert client.get("/api/results/run/documents/0").json()["source"]["model"] is None


def test_parquet_results_are_browsed_as_jsonl_ones(corpus_file, results_jsonl):
    pytest.importorskip("pyarrow")
    out = corpus_file.parent / "run.parquet"
    explain_corpus(doclrp.pretrained_path(), str(corpus_file), out, progress=False)
    client = TestClient(create_app(models={"bbc-cnn": doclrp.pretrained_path()}, results=[out, results_jsonl],
                                   digits=False), base_url=BASE)
    assert [r["id"] for r in client.get("/api/results").json()] == ["run", "run-2"]
    pages = [client.get(f"/api/results/{id}/documents?sort=id").json()["rows"] for id in ("run", "run-2")]
    assert pages[0] == pages[1]
    docs = [client.get(f"/api/results/{id}/documents/3").json() for id in ("run", "run-2")]
    assert docs[0]["words"] == docs[1]["words"]


@pytest.mark.slow
def test_a_100000_record_file_opens_at_once(tmp_path, results_jsonl):
    lines = results_jsonl.read_bytes().splitlines()
    header, records = lines[0], [orjson.loads(line) for line in lines[1:]]
    out = tmp_path / "big.jsonl"
    with out.open("wb") as handle:
        handle.write(header + b"\n")
        for i in range(100_000):
            record = dict(records[i % len(records)], id=f"doc-{i}")
            handle.write(orjson.dumps(record) + b"\n")
    started = time.perf_counter()
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path()}, results=[out], digits=False)
    indexed = time.perf_counter() - started
    client = TestClient(app, base_url=BASE)
    started = time.perf_counter()
    page = client.get("/api/results/big/documents?sort=confidence&descending=true&offset=50000&limit=50").json()
    paged = time.perf_counter() - started
    assert page["total"] == 100_000 and len(page["rows"]) == 50
    assert client.get("/api/results/big/documents/99999").json()["id"] == "doc-99999"
    assert indexed < 30 and paged < 2, (indexed, paged)


# -- digits --------------------------------------------------------------------------------------------
SEVEN = [[0, 0.6, 1, 1, 1, 1, 0.5, 0], [0, 0, 0, 0, 0, 1, 0.4, 0], [0, 0, 0, 0, 0.5, 1, 0, 0],
         [0, 0, 0, 0, 1, 0.5, 0, 0], [0, 0, 0, 0.6, 1, 0, 0, 0], [0, 0, 0, 1, 0.5, 0, 0, 0],
         [0, 0, 0.5, 1, 0, 0, 0, 0], [0, 0, 1, 0.5, 0, 0, 0, 0]]


@pytest.mark.slow
def test_a_digit_is_predicted_and_explained_pixel_by_pixel(client):
    reply = client.post("/api/digits", json={"pixels": SEVEN, "method": "epsilon-gamma-box"})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert len(data["relevance"]) == 8 and all(len(row) == 8 for row in data["relevance"])
    assert math.isclose(sum(map(sum, data["relevance"])) + data["delta"], data["explained"], rel_tol=1e-4,
                        abs_tol=1e-4)
    assert data["prediction"]["label"] == data["target"] and data["test_accuracy"] > 0.85
    again = client.post("/api/digits", json={"pixels": SEVEN, "method": "gradient-x-input", "target": 3}).json()
    assert again["target"] == "3" and again["relevance"] != data["relevance"]


@pytest.mark.parametrize("payload, fragment", [
    ({"pixels": [[0] * 8] * 7}, "8 rows of 8"),
    ({"pixels": [[0] * 9] * 8}, "8 rows of 8"),
    ({"pixels": [[2] * 8] * 8}, "from 0 (paper) to 1 (ink)"),
    ({"pixels": [[0] * 8] * 8, "target": "eleven"}, "unknown digit"),
    ({"pixels": [[0] * 8] * 8, "method": "epsilno"}, "did you mean"),
    ({"pixels": [[0] * 8] * 9}, "pixels"),
])
def test_bad_digits_are_one_line_422(client, payload, fragment):
    one_line_error(client.post("/api/digits", json=payload), 422, fragment)


# -- batching ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_sixteen_requests_that_arrive_together_are_batched_and_equal_sequential_ones():
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path()}, limits=Limits(batch_window_s=0.2), digits=False)
    payloads = [{"text": f"{TEXT} Request number {i}." + " More words." * i, "method": "epsilon"} for i in range(16)]

    def ask(payload):
        reply = TestClient(app, base_url=BASE).post("/api/explain", json=payload)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        return data["target"]["name"], data["delta"], [w["relevance"] for w in data["words"]]

    sequential = [ask(p) for p in payloads]
    assert set(app.state.queues["bbc-cnn"].batch_sizes) == {1}
    app.state.queues["bbc-cnn"].batch_sizes.clear()
    app.state.queues["bbc-cnn"]  # the cache would answer repeats: ask for other texts of the same shape
    payloads = [{**p, "text": p["text"] + " Again."} for p in payloads]
    sequential = [ask(p) for p in payloads]
    app.state.queues["bbc-cnn"].batch_sizes.clear()
    start = threading.Barrier(16)

    def ask_together(payload):
        start.wait()
        return ask({**payload, "text": payload["text"] + " "})

    with ThreadPoolExecutor(16) as pool:
        together = list(pool.map(ask_together, payloads))
    assert max(app.state.queues["bbc-cnn"].batch_sizes) > 1, app.state.queues["bbc-cnn"].batch_sizes
    for (name, delta, words), (name2, delta2, words2) in zip(together, sequential):
        assert name == name2 and delta == pytest.approx(delta2, rel=1e-5, abs=1e-6)
        assert words == pytest.approx(words2, rel=1e-5, abs=1e-7)


def test_the_shipped_digits_model_has_the_accuracy_its_config_records():
    from doclrp.datasets import load_digits_images
    from doclrp.serve.digits import SHIPPED, DigitsModel
    from doclrp.training.metrics import accuracy

    digits = DigitsModel()
    with digits.lock:
        model = digits.model()
    data = load_digits_images()
    recorded = json.loads((SHIPPED / "config.json").read_text())["test_accuracy"]
    assert accuracy(model, data.x_test, data.y_test) == pytest.approx(recorded, abs=1e-9) and recorded > 0.9
    assert (SHIPPED / "model.safetensors").stat().st_size < 100_000


def test_the_schema_documents_every_endpoint(client):
    paths = client.get("/openapi.json").json()["paths"].keys()
    assert paths >= {"/api/colormaps", "/api/export", "/api/results", "/api/results/{id}/documents",
                     "/api/results/{id}/documents/{index}", "/api/results/{id}/documents/{index}/export",
                     "/api/results/{id}/top-words", "/api/digits"}


# -- model tokens: the granularity "token" and a word's pieces -------------------------------------
SUBWORD_TEXT = "Unbelievable film. The players played a good match, the team was bad!"


@pytest.fixture(scope="module")
def subword_client():
    from references import SUBWORDS, subword_tokenizer, tiny_model

    from doclrp.models.hf.pipeline import HFPipeline

    # 12 positions: the text's 19 pieces are explained in overlapping windows.
    pipeline = HFPipeline(tiny_model("bert", n_labels=2, vocab=len(SUBWORDS), max_position_embeddings=12),
                          subword_tokenizer(12), labels=["neg", "pos"])
    return TestClient(create_app(models={"subword": pipeline}, digits=False), base_url=BASE), pipeline


def test_the_explain_response_carries_the_model_tokens_and_each_words_pieces(subword_client):
    client, pipeline = subword_client
    data = client.post("/api/explain", json={"text": SUBWORD_TEXT, "granularity": "token"}).json()
    assert data["granularity"] == "token"
    expected = doclrp.explain(pipeline, SUBWORD_TEXT, method=pipeline.default_composite)
    assert [(t["text"], t["start"], t["end"], t["word"]) for t in data["tokens"]] == \
           [(t.text, t.start, t.end, t.word) for t in expected.tokens]
    assert [t["text"] for t in data["tokens"] if t["word"] == 0] == ["Un", "believ", "able"]
    for index, word in enumerate(data["words"]):
        pieces = [t["relevance"] for t in data["tokens"] if t["word"] == index]
        assert math.fsum(pieces) == pytest.approx(word["relevance"], abs=1e-12 * data["scale"]["word_vmax"])
    assert data["scale"]["token_vmax"] == max(abs(t["relevance"]) for t in data["tokens"])
    assert all(t["color"].startswith("#") and t["text_color"] in ("#000000", "#ffffff") for t in data["tokens"])
    # export: JSON holds the tokens, CSV lists them for the token granularity (words otherwise)
    exported = client.post("/api/export", json={"text": SUBWORD_TEXT, "granularity": "token", "format": "json"})
    assert exported.json()["tokens"] == data["tokens"]
    rows = list(csv.reader(io.StringIO(client.post("/api/export", json={
        "text": SUBWORD_TEXT, "granularity": "token", "format": "csv"}).text)))
    assert rows[0] == ["token", "start", "end", "word", "relevance"]
    assert [(r[0], int(r[3]), float(r[4])) for r in rows[1:]] == \
           [(t["text"], t["word"], t["relevance"]) for t in data["tokens"]]
    words = list(csv.reader(io.StringIO(client.post("/api/export", json={"text": SUBWORD_TEXT, "format": "csv"}).text)))
    assert words[0][0] == "word" and len(words) == len(data["words"]) + 1


def test_the_cnns_tokens_are_its_words_and_stored_documents_have_none(client, results_jsonl):
    data = client.post("/api/explain", json={"text": TEXT, "granularity": "token"}).json()
    assert [(t["text"], t["start"], t["end"], t["relevance"]) for t in data["tokens"]] == \
           [(w["text"], w["start"], w["end"], w["relevance"]) for w in data["words"]]
    assert [t["word"] for t in data["tokens"]] == list(range(len(data["words"])))
    stored = client.get("/api/results/run/documents/0?granularity=token").json()
    assert stored["tokens"] == [] and stored["granularity"] == "token" and stored["words"]
    reply = client.get("/api/results/run/documents/0/export?format=csv&granularity=token")
    assert reply.text.startswith("word,start,end,sentence,relevance")  # no tokens stored: the words
    one_line_error(client.post("/api/explain", json={"text": TEXT, "granularity": "piece"}), 422, "granularity")
