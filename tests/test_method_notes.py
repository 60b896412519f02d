"""One line where the chosen method means less than it seems: α-β on a negative explained value (its
signs flip), and a composite measured no better than random on the model's kind (the measured table, docs/how-to/choose-method.md).
In the API a ``MethodNoteWarning``, on the command line one ``doclrp: warning:`` line."""

import warnings

import pytest
import torch

from doclrp import explain
from doclrp._explain import MethodNoteWarning
from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline, save_pipeline
from doclrp.models import measured
from references import run_cli

TEXTS = ["good fun film", "bad dull film", "a good plot"]


@pytest.fixture
def pipeline():
    encoder = IdEncoder.fit(TEXTS)
    torch.manual_seed(0)
    model = EmbeddingBagModel(len(encoder.vocabulary), 4, 2).eval()
    with torch.no_grad():  # class "b" always has a negative logit, class "a" a positive one
        model.head.bias.copy_(torch.tensor([5.0, -5.0]))
    return TextPipeline(model, encoder, ["a", "b"])


def _notes(caught, about="negative value"):
    return [str(w.message) for w in caught if issubclass(w.category, MethodNoteWarning) and about in str(w.message)]


def test_alpha_beta_on_a_negative_value_says_its_signs_flip(pipeline):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        made = explain(pipeline, TEXTS, target="b", method="alpha2-beta1", ids=["x", "y", "z"])
    assert all(e.target_value < 0 for e in made)
    (note,) = _notes(caught)
    assert note.startswith("alpha2-beta1 explains a negative value (") and "and 2 more of 3 documents" in note
    assert "signs flips" in note and "\n" not in note
    # a positive value, or a method without α-β: no note
    for target, method in (("a", "alpha2-beta1"), ("b", "epsilon"), ("b", "zero")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            explain(pipeline, TEXTS, target=target, method=method)
        assert not _notes(caught), (target, method)


def test_a_composite_measured_no_better_than_random_says_so(pipeline, monkeypatch):
    figures = {"corpus": "bbc", "abpc": -3.7, "low": -4.64, "high": -2.86, "random": 0.12, "random_low": -0.2,
               "random_high": 0.5, "documents": 30}
    monkeypatch.setattr(measured, "NOT_BETTER_THAN_RANDOM", {"epsilon-plus": {"embedding-bag": figures}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        explain(pipeline, TEXTS[:1], method="epsilon-plus")
        explain(pipeline, TEXTS[:1], method="epsilon")
    assert _notes(caught, "") == [measured.measured_note("embedding-bag", "epsilon-plus")]
    assert "-3.70 [-4.64, -2.86] against random 0.12" in _notes(caught, "")[0]


def test_no_default_composite_is_one_measured_no_better_than_random():
    from doclrp.models.registry import MODEL_TYPES

    for kind, cls in MODEL_TYPES.items():
        default = getattr(cls, "default_composite", None)
        assert kind not in measured.NOT_BETTER_THAN_RANDOM.get(default, {}), (kind, default)


def test_the_command_line_prints_the_note_as_one_line(pipeline, tmp_path, capsys):
    folder = save_pipeline(pipeline, tmp_path / "model")
    code, out, err = run_cli(capsys, "explain", "--model", str(folder), "--text", "bad dull film", "--target", "b",
                             "--method", "alpha2-beta1", "--out", str(tmp_path / "page.html"))
    assert code == 0, err
    lines = [line for line in err.splitlines() if "explains a negative value" in line]
    assert len(lines) == 1 and lines[0].startswith("doclrp: warning: alpha2-beta1 explains a negative value")


def test_the_web_app_shows_the_note(pipeline, tmp_path):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from doclrp.serve import create_app

    folder = save_pipeline(pipeline, tmp_path / "model")
    client = TestClient(create_app(models={"m": folder}), base_url="http://127.0.0.1:8000")
    negative = client.post("/api/explain", json={"text": "bad dull film", "method": "alpha2-beta1", "target": "b"})
    assert negative.status_code == 200, negative.text
    (note,) = [n for n in negative.json()["notes"] if "negative value" in n]
    assert note.startswith("alpha2-beta1 explains a negative value")
    positive = client.post("/api/explain", json={"text": "bad dull film", "method": "alpha2-beta1", "target": "a"})
    assert not [n for n in positive.json()["notes"] if "negative value" in n]
    # the figure measured for alpha2-beta1 on this kind (the measured table) is a note too, when there is one
    assert [n for n in positive.json()["notes"] if "no better than random" in n] == [
        n for n in [measured.measured_note("embedding-bag", "alpha2-beta1")] if n]
