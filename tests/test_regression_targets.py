"""Regression and multi-output targets per token: one output, weights, a reference; signed HTML.

Tiny random or quickly trained models; conservation is checked on every explanation:
words + special tokens + delta == the explained value.
"""

import colorsys
import random
import re

import numpy as np
import pytest
import torch

from doclrp.corpus import Record
from doclrp.errors import DoclrpError
from doclrp import explain
from doclrp._explain import resolve_reference  # internal: no public name for it
from doclrp.models import BowMLP, EmbeddingBagModel, IdEncoder, TextCNN, TextPipeline, TfidfEncoder, load_pipeline
from doclrp.render import to_html
from doclrp.training import train

OUTPUTS = ["neg", "neu", "pos", "compound"]
MEAN = {"neg": 0.05, "neu": 0.8, "pos": 0.15, "compound": 0.25}
TEXTS = ["A superb, happy film with great acting.", "Dull plot and awful, sad dialogue.", "The film lasts two hours."]
#: float32 models: sums over a few words agree to this.
TOLERANCE = 1e-5


def tiny_pipeline(kind, seed=0, max_len=400, metrics=None):
    torch.manual_seed(seed)
    if kind == "bow":
        encoder = TfidfEncoder.fit(TEXTS, min_df=1)
        model = BowMLP(encoder.n_features, hidden=(6,), n_outputs=4)
    else:
        encoder = IdEncoder.fit(TEXTS, max_len=max_len)
        size = len(encoder.vocabulary)
        model = TextCNN(size, 6, (2, 3), 5, n_outputs=4) if kind == "cnn" else EmbeddingBagModel(size, 6, 4)
    metrics = {"mean_prediction": MEAN} if metrics is None else metrics
    return TextPipeline(model, encoder, OUTPUTS, "regression", metrics)


def conserved(explanation):
    total = explanation.relevance.sum() + sum(explanation.special.values()) + explanation.delta
    return abs(total - explanation.target_value) < TOLERANCE


KINDS = ["cnn", "bow", "bag"]


@pytest.mark.parametrize("kind", KINDS)
def test_one_output_by_name_or_index(kind):
    pipeline = tiny_pipeline(kind)
    outputs = pipeline.outputs(TEXTS)
    by_name = explain(pipeline, TEXTS, target="compound")
    by_index = explain(pipeline, TEXTS, target=3)
    for row, (a, b) in enumerate(zip(by_name, by_index)):
        assert a.target == b.target and str(a.target) == "compound"
        assert a.target_value == pytest.approx(float(outputs[row, 3]), abs=TOLERANCE)
        assert a.prediction.values == pytest.approx(outputs[row].tolist(), abs=TOLERANCE)
        np.testing.assert_array_equal(a.relevance, b.relevance)
        assert conserved(a)


@pytest.mark.parametrize("kind", KINDS)
def test_weighted_outputs_are_the_weighted_explanations(kind):
    pipeline = tiny_pipeline(kind)
    outputs = pipeline.outputs(TEXTS)
    pos, neg = explain(pipeline, TEXTS, target="pos"), explain(pipeline, TEXTS, target="neg")
    for row, mixed in enumerate(explain(pipeline, TEXTS, target={"pos": 1, "neg": -1})):
        assert str(mixed.target) == "+1·pos -1·neg"
        assert mixed.target_value == pytest.approx(float(outputs[row, 2] - outputs[row, 0]), abs=TOLERANCE)
        # Every rule is linear in the output weights for a fixed forward pass.
        np.testing.assert_allclose(mixed.relevance, pos[row].relevance - neg[row].relevance, atol=TOLERANCE)
        assert conserved(mixed)


@pytest.mark.parametrize("kind", KINDS)
def test_reference_mean_explains_the_deviation(kind):
    pipeline = tiny_pipeline(kind)
    outputs = pipeline.outputs(TEXTS)
    plain = explain(pipeline, TEXTS, target="compound")
    shifted = explain(pipeline, TEXTS, target="compound", reference="mean")
    for row, (a, b) in enumerate(zip(plain, shifted)):
        assert str(b.target) == "compound − mean"
        assert b.target_value == pytest.approx(float(outputs[row, 3]) - MEAN["compound"], abs=TOLERANCE)
        assert b.prediction.values == a.prediction.values  # the prediction itself is not shifted
        # ε keeps the offset out of the words (up to ε's own share, which depends on the
        # output's size): it lands in delta.
        np.testing.assert_allclose(b.relevance, a.relevance, rtol=1e-3, atol=TOLERANCE)
        assert b.delta == pytest.approx(a.delta - MEAN["compound"], abs=1e-3 * abs(a.delta) + TOLERANCE)
        assert conserved(b)
    # Under αβ the output's relevance (now f − reference) is split by the signed parts
    # (bias b − reference included), so the words change too, and conservation still holds.
    alpha_beta = explain(pipeline, TEXTS[0], target="compound", reference="mean", composite="alpha2-beta1")
    assert conserved(alpha_beta)
    if kind == "cnn":  # (a layer whose parts all share one sign would hand on the same shares)
        unshifted = explain(pipeline, TEXTS[0], target="compound", composite="alpha2-beta1")
        assert not np.allclose(alpha_beta.relevance, unshifted.relevance)


@pytest.mark.parametrize("kind", ["cnn", "bag"])
def test_reference_is_exact_in_a_bias_free_model(kind):
    pipeline = tiny_pipeline(kind, seed=3)
    pipeline.model.double()
    with torch.no_grad():
        for name, parameter in pipeline.model.named_parameters():
            if name.endswith("bias"):
                parameter.zero_()
    weights = {"pos": 1.0, "neg": -1.0, "compound": 0.5}
    offset = sum(w * MEAN[k] for k, w in weights.items())
    plain = explain(pipeline, TEXTS[0], target=weights, composite="zero")
    shifted = explain(pipeline, TEXTS[0], target=weights, reference=[MEAN[k] for k in OUTPUTS], composite="zero")
    assert abs(plain.delta) < 1e-10
    assert shifted.delta == pytest.approx(-offset, abs=1e-10)
    assert shifted.target_value == pytest.approx(plain.target_value - offset, abs=1e-10)
    assert str(shifted.target) == "+1·pos -1·neg +0.5·compound − reference"
    np.testing.assert_allclose(shifted.relevance, plain.relevance, atol=1e-12)


def test_reference_on_a_document_cut_into_windows():
    pipeline = tiny_pipeline("cnn", max_len=5)
    document = " ".join(TEXTS)  # 23 words: several overlapping windows
    plain = explain(pipeline, document, target="pos", overlap=2)
    shifted = explain(pipeline, document, target="pos", overlap=2, reference="mean")
    assert len(shifted.words) == 23 and conserved(shifted) and conserved(plain)
    assert shifted.target_value == pytest.approx(plain.target_value - MEAN["pos"], abs=TOLERANCE)


def test_resolve_reference_values_and_errors():
    pipeline = tiny_pipeline("bag")
    values, name = resolve_reference("mean", pipeline)
    assert values.tolist() == [MEAN[k] for k in OUTPUTS] and name == "mean"
    assert resolve_reference(None, pipeline) == (None, "")
    assert resolve_reference((0, 1, 2, 3), pipeline)[0].tolist() == [0.0, 1.0, 2.0, 3.0]
    bad = [
        ("median", pipeline, "unknown reference 'median'"),
        ([0.1, 0.2], pipeline, "reference has 2 values for 4 outputs"),
        ([0.0, float("nan"), 0.0, 0.0], pipeline, "must be finite"),
        ("mean", tiny_pipeline("bag", metrics={}), "stores no mean prediction"),
        ("mean", tiny_pipeline("bag", metrics={"mean_prediction": {"neg": 0.0}}), "lacks outputs"),
    ]
    for reference, owner, message in bad:
        with pytest.raises(DoclrpError, match=message):
            explain(owner, TEXTS[0], target="pos", reference=reference)


# -- a small trained regressor: signs, stored mean, HTML ------------------------------------------
POSITIVE, NEGATIVE, FILLER = ["good", "great", "superb"], ["bad", "awful", "dull"], [f"w{i}" for i in range(12)]


def sentiment_records(n=150, seed=5):
    """Texts whose pos/neg/compound are what a lexicon scorer would say."""
    rng = random.Random(seed)
    records = []
    for i in range(n):
        good, bad = rng.randint(0, 3), rng.randint(0, 3)
        words = rng.choices(POSITIVE, k=good) + rng.choices(NEGATIVE, k=bad) + rng.choices(FILLER, k=4)
        rng.shuffle(words)
        targets = (bad / len(words), good / len(words), (good - bad) / 3)
        records.append(Record(str(i), " ".join(words), targets=targets))
    return records


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    records = sentiment_records()
    folder = tmp_path_factory.mktemp("model") / "bag"
    pipeline = train(records, model="bag", task="regression", target_columns=["neg", "pos", "compound"],
                     out=folder, epochs=40, lr=0.05, batch_size=16, min_freq=1, progress=False,
                     model_options={"embed_dim": 6})  # fmt: skip
    return pipeline, folder, records


def test_trained_regressor_stores_its_mean_prediction(trained):
    pipeline, folder, records = trained
    assert pipeline.metrics["test_r2"]["compound"] > 0.8
    mean = pipeline.metrics["mean_prediction"]
    assert list(mean) == ["neg", "pos", "compound"]
    for k, name in enumerate(mean):
        assert mean[name] == pytest.approx(np.mean([r.targets[k] for r in records]), abs=0.05)
    loaded = load_pipeline(folder)
    assert loaded.metrics["mean_prediction"] == mean
    e = explain(loaded, "good w1 bad superb", target="compound", reference="mean")
    assert e.target_value == pytest.approx(e.prediction.values[2] - mean["compound"], abs=TOLERANCE)
    assert conserved(e)


def test_trained_regressor_relevance_is_signed(trained):
    pipeline = trained[0]
    text = "superb w3 awful great w7 dull"
    for target in ("compound", {"pos": 1, "neg": -1}):
        e = explain(pipeline, text, target=target, reference="mean")
        by_word = {w.text: w.relevance for w in e.words}
        assert all(by_word[w] > 0 for w in ("superb", "great")), by_word
        assert all(by_word[w] < 0 for w in ("awful", "dull")), by_word
        assert conserved(e)


def _hue(hex_colour):
    r, g, b = (int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5))
    return colorsys.rgb_to_hsv(r, g, b)[0] * 360


def test_regression_page_shows_both_directions_in_their_own_hues(trained):
    e = explain(trained[0], "superb w3 awful great w7 dull", target="compound")
    page = to_html(e)
    shades = dict(
        (word, colour) for colour, word in re.findall(r'<span class="w" style="background-color:(#[0-9a-f]{6});[^"]*"'
                                                     r' title="[^"]*"[^>]*>([^<]*)</span>', page)
    )
    assert set(shades) == {"superb", "w3", "awful", "great", "w7", "dull"}
    up = [_hue(shades[w]) for w in ("superb", "great")]
    down = [_hue(shades[w]) for w in ("awful", "dull")]
    assert all(h < 20 or h > 340 for h in up), up  # red: raises the score
    assert all(190 < h < 230 for h in down), down  # blue: lowers it
    assert "raises compound" in page and "lowers compound" in page
