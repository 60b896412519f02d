"""The HTTP API of ``doclrp serve`` through FastAPI's test client: what it lists, that an
explanation equals the library's, every bad input a 4xx with one line, the Host and Origin
guards, and 16 concurrent requests equal to the same requests one at a time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")

from fastapi.testclient import TestClient  # noqa: E402

import doclrp  # noqa: E402
from doclrp.core.methods import method_names, method_parameters  # noqa: E402
from doclrp.models import EmbeddingBagModel, IdEncoder, TextLSTM, TextPipeline  # noqa: E402
from doclrp.serve import Limits, create_app  # noqa: E402

BASE = "http://127.0.0.1:8765"
TEXT = ("The striker scored twice in the final and the club lifted the cup. "
        "Shares in the broadcaster rose after the match drew record viewers.")


def _regressor() -> TextPipeline:
    encoder = IdEncoder.fit(["prices rose sharply", "prices fell", "calm day"])
    return TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 1), encoder, ["score"], "regression",
                        metrics={"mean_prediction": {"score": 0.25}})


def _lstm() -> TextPipeline:
    import torch

    torch.manual_seed(0)
    encoder = IdEncoder.fit([TEXT])
    return TextPipeline(TextLSTM(len(encoder.vocabulary), 6, hidden=5, n_outputs=2), encoder, ["a", "b"])


@pytest.fixture(scope="module")
def app():
    return create_app(models={"bbc-cnn": doclrp.pretrained_path(), "reg": _regressor(), "lstm": _lstm()},
                      limits=Limits(max_chars=2_000))


@pytest.fixture(scope="module")
def client(app):
    return TestClient(app, base_url=BASE)


@pytest.fixture(scope="module")
def bbc():
    return doclrp.load_model(doclrp.pretrained_path())


def test_models_are_listed_by_id_with_labels_task_and_default_method(client):
    models = client.get("/api/models").json()
    assert [m["id"] for m in models] == ["bbc-cnn", "reg", "lstm"]
    assert models[0]["labels"] == ["business", "entertainment", "politics", "sports", "tech"]
    assert (models[0]["task"], models[0]["default_method"]) == ("classification", "epsilon")
    assert (models[1]["task"], models[1]["has_mean_reference"]) == ("regression", True)
    assert "path" not in models[0] and "source" not in models[0]


def test_every_method_is_listed_with_its_parameters(client):
    methods = {m["name"]: m for m in client.get("/api/methods").json()}
    assert list(methods) == method_names()
    assert methods["epsilon"] == {"name": "epsilon", "kind": "lrp",
                                  "params": {"eps": 1e-6, "recurrent": None, "bias_factor": 0.0},
                                  "choices": {"recurrent": ["doclrp", "arras"]}}
    assert methods["integrated-gradients"] == {"name": "integrated-gradients", "kind": "baseline",
                                               "params": {"steps": 32}, "choices": {}}
    for name, method in methods.items():
        assert method["params"].keys() == method_parameters(name).keys()


@pytest.mark.parametrize("method, params, target", [
    ("epsilon", {"eps": 0.01}, "predicted"),
    ("integrated-gradients", {"steps": 4}, "sports"),
    ("zero", {}, "business-vs-rest"),
    ("gradient-x-input", {}, 3),
])
def test_an_explanation_equals_the_librarys(client, bbc, method, params, target):
    reply = client.post("/api/explain", json={"text": TEXT, "method": method, "params": params, "target": target})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    expected = doclrp.explain(bbc, TEXT, target=target, method=doclrp.resolve_method(method, **params))
    assert [(w["text"], w["start"], w["end"]) for w in data["words"]] == [(w.text, w.start, w.end)
                                                                          for w in expected.words]
    assert [w["relevance"] for w in data["words"]] == pytest.approx(expected.relevance.tolist(), rel=1e-6, abs=1e-9)
    assert data["target"]["name"] == str(expected.target)
    assert data["target"]["weights"] == list(expected.target.weights)
    assert data["method"] == {"name": method, "params": expected.method["params"]}
    assert data["prediction"]["label"] == expected.prediction.label
    c = data["conservation"]
    assert c["explained"] == pytest.approx(c["words"] + c["special"] + c["delta"], abs=1e-5)
    assert [s["relevance"] for s in data["sentences"]] == pytest.approx([s.relevance for s in expected.sentences],
                                                                        rel=1e-6, abs=1e-9)
    assert all(w["relevance"] > 0 for w in data["top_for"]) and all(w["relevance"] < 0 for w in data["top_against"])
    # The top words as pages and terminals list them (Explanation.top_terms): grouped, no punctuation.
    for side, sign in (("top_for", 1), ("top_against", -1)):
        assert data[side] == [t._asdict() for t in expected.top_terms(10, sign)]


def test_the_arras_mode_of_a_recurrent_model_is_chosen_by_name(client):
    params = {"eps": 0.001, "recurrent": "arras"}
    reply = client.post("/api/explain", json={"text": TEXT, "model": "lstm", "method": "epsilon", "params": params})
    assert reply.status_code == 200, reply.text
    expected = doclrp.explain(_lstm(), TEXT, method=doclrp.resolve_method("epsilon", **params))
    assert [w["relevance"] for w in reply.json()["words"]] == pytest.approx(expected.relevance.tolist(), rel=1e-6,
                                                                            abs=1e-9)
    assert reply.json()["method"]["params"]["recurrent"] == "arras"
    # the other mode gives other figures: the choice reached the rule
    plain = client.post("/api/explain", json={"text": TEXT, "model": "lstm", "method": "epsilon",
                                              "params": {"eps": 0.001}}).json()
    assert [w["relevance"] for w in plain["words"]] != pytest.approx(expected.relevance.tolist(), rel=1e-6)
    bad = client.post("/api/explain", json={"text": TEXT, "model": "lstm", "method": "epsilon",
                                            "params": {"recurrent": "sideways"}})
    assert bad.status_code == 422 and "choose one of doclrp, arras" in bad.json()["error"]
    assert client.post("/api/explain", json={"text": TEXT, "method": "epsilon",
                                             "params": {"eps": "large"}}).status_code == 422


def test_top_words_group_a_words_occurrences_and_leave_punctuation_out(client):
    text = "Goal! Goal, goal: the goal of the season. The striker's goal! Shares fell."
    data = client.post("/api/explain", json={"text": text, "target": "sports"}).json()
    texts = [w["text"].lower() for w in data["top_for"] + data["top_against"]]
    assert len(texts) == len(set(texts)) and not {"!", ",", ":", "."} & set(texts)
    goal = next(w for w in data["top_for"] + data["top_against"] if w["text"].lower() == "goal")
    words = [w for w in data["words"] if w["text"].lower() == "goal"]
    assert goal["count"] == len(words) == 5 and goal["start"] == words[0]["start"]
    assert goal["relevance"] == pytest.approx(sum(w["relevance"] for w in words), rel=1e-9)


def test_head_of_the_page_is_200_for_monitoring(client):
    reply = client.head("/")
    assert reply.status_code == 200 and reply.text == ""


def test_the_default_model_and_method_are_the_models_own(client):
    data = client.post("/api/explain", json={"text": TEXT}).json()
    assert (data["model"], data["method"]["name"], data["target"]["name"]) == ("bbc-cnn", "epsilon",
                                                                               data["prediction"]["label"])


def test_a_regression_output_with_the_mean_reference(client):
    data = client.post("/api/explain", json={"text": "prices rose", "model": "reg", "reference": "mean"}).json()
    assert data["target"]["name"] == "score − mean" and data["prediction"]["probabilities"] is None
    assert data["conservation"]["explained"] == pytest.approx(data["prediction"]["values"][0] - 0.25)


@pytest.mark.parametrize("payload, status, fragment", [
    ({"text": ""}, 422, "text is empty"),
    ({"text": "  \n "}, 422, "text is empty"),
    ({"text": "word " * 500}, 413, "at most 2000"),
    ({"text": TEXT, "model": "../../etc"}, 404, "unknown model id '../../etc'"),
    ({"text": TEXT, "method": "epsilno"}, 422, "did you mean 'epsilon'"),
    ({"text": TEXT, "method": "epsilon", "params": {"gamma": 0.5}}, 422, "takes no parameter gamma"),
    ({"text": TEXT, "method": "epsilon", "params": {"eps": "big"}}, 422, "parameter eps of 'epsilon' takes a number"),
    ({"text": TEXT, "method": "integrated-gradients", "params": {"steps": 2.5}}, 422, "whole number"),
    ({"text": TEXT, "target": "weather"}, 422, "weather"),
    ({"text": TEXT, "target": 9}, 422, "9"),
    ({"text": TEXT, "model": "reg", "reference": [1.0, 2.0]}, 422, "reference has 2 values"),
    ({"text": TEXT, "granularity": "pixel"}, 422, "granularity"),
    ({"text": TEXT, "colour": "red"}, 422, "colour"),
    ({"model": "bbc-cnn"}, 422, "text"),
])
def test_every_bad_input_is_a_4xx_with_one_line(client, payload, status, fragment):
    reply = client.post("/api/explain", json=payload)
    assert reply.status_code == status, reply.text
    assert list(reply.json()) == ["error"]
    message = reply.json()["error"]
    assert fragment in message and "\n" not in message and "Traceback" not in message


def test_a_body_that_is_not_json_is_a_one_line_422(client):
    reply = client.post("/api/explain", content=b"text=hello", headers={"Content-Type": "application/json"})
    assert reply.status_code == 422 and "\n" not in reply.json()["error"]


@pytest.mark.parametrize("body, status, fragment", [
    (b'{"text": "good \\ud800 fun"}', 422, "the document has an invalid character (U+D800, a lone surrogate"),
    (b'"\\ud800"', 422, "the request holds a lone surrogate"),
    (b'{"text": "hi", "method": "\\udc00"}', 422, "method holds a lone surrogate"),
    (b'{"text": "hi", "params": {"\\ud800": 1}}', 422, "takes no parameter \\ud800"),
    (b'{"text": "hi", "\\ud800": 1}', 422, "a field name of the request holds a lone surrogate"),
    (b'{"text": "good \xff fun"}', 400, "not JSON in UTF-8"),
])
def test_a_lone_surrogate_or_bad_utf8_is_one_line_that_says_so(client, body, status, fragment):
    reply = client.post("/api/explain", content=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == status and fragment in reply.json()["error"]
    assert "valid dictionary" not in reply.text and "\n" not in reply.json()["error"]


def test_one_text_is_the_document_in_messages(client):
    reply = client.post("/api/explain", json={"text": "zebra quokka", "model": "reg"})  # no word it knows
    assert reply.status_code == 422 and reply.json()["error"].startswith("the document "), reply.text


def test_the_digits_tab_does_not_say_its_model_is_trained_on_first_use(client):
    page = client.get("/").text
    assert "first use" not in page and "shipped model" in page


def test_an_oversized_body_is_refused_before_it_is_read(client):
    reply = client.post("/api/explain", content=b"x" * 100_000, headers={"Content-Type": "application/json"})
    assert reply.status_code == 413 and "bytes" in reply.json()["error"]


def test_a_foreign_host_is_refused(app):
    for base in ("http://evil.example:8765", "http://127.0.0.1.evil.example"):
        reply = TestClient(app, base_url=base).get("/api/models")
        assert reply.status_code == 400 and "does not answer to host" in reply.json()["error"]
    assert TestClient(app, base_url="http://localhost:9").get("/api/models").status_code == 200


def test_a_cross_origin_post_is_refused(client):
    reply = client.post("/api/explain", json={"text": TEXT}, headers={"Origin": "http://evil.example"})
    assert reply.status_code == 403 and "cross-origin" in reply.json()["error"]
    reply = client.post("/api/explain", json={"text": TEXT}, headers={"Origin": "http://127.0.0.1:9999"})
    assert reply.status_code == 403
    assert client.post("/api/explain", json={"text": TEXT}, headers={"Origin": BASE}).status_code == 200


def test_a_request_over_the_time_limit_is_a_503():
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path()}, limits=Limits(timeout_s=0.001))
    reply = TestClient(app, base_url=BASE).post("/api/explain", json={"text": TEXT * 20, "method": "occlusion"})
    assert reply.status_code == 503 and "took over" in reply.json()["error"]


def test_the_page_and_its_files_carry_a_content_security_policy(client):
    for path in ("/", "/static/app.js", "/static/style.css", "/api/models"):
        reply = client.get(path)
        assert reply.status_code == 200
        policy = reply.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "default-src 'none'" in policy
        assert reply.headers["x-content-type-options"] == "nosniff"
    assert "<script src=\"/static/app.js\"" in client.get("/").text
    # The page builds the document from text nodes only.
    assert "innerHTML" not in client.get("/static/app.js").text
    assert client.get("/openapi.json").json()["paths"].keys() >= {"/api/explain", "/api/models", "/api/methods"}


def test_a_missing_results_file_is_one_line():
    with pytest.raises(doclrp.DoclrpError, match="no results file at results.jsonl"):
        create_app(models={"reg": _regressor()}, results=["results.jsonl"])


CONCURRENT = [{"text": f"{TEXT} Request {i}.", "method": method, "params": params, "target": target}
              for i, (method, params, target) in enumerate(
                  [("epsilon", {}, "predicted"), ("zero", {}, "sports"), ("gradient-x-input", {}, "business"),
                   ("integrated-gradients", {"steps": 4}, "tech-vs-rest")] * 4)]


@pytest.mark.slow
def test_sixteen_concurrent_requests_equal_sequential_ones(app, bbc):
    def ask(payload):
        # One client per thread, as 16 browsers would be; the app (models, locks) is shared.
        reply = TestClient(app, base_url=BASE).post("/api/explain", json=payload)
        assert reply.status_code == 200, reply.text
        data = reply.json()
        return data["target"]["name"], data["delta"], [w["relevance"] for w in data["words"]]

    sequential = [ask(payload) for payload in CONCURRENT]
    start = threading.Barrier(16)

    def ask_together(payload):
        start.wait()
        return ask(payload)

    with ThreadPoolExecutor(16) as pool:
        concurrent = list(pool.map(ask_together, CONCURRENT))
    assert concurrent == sequential
    model = app.state.registry.get("bbc-cnn").pipeline.model
    assert not any(m._forward_hooks or m._backward_hooks or m._forward_pre_hooks for m in model.modules())

