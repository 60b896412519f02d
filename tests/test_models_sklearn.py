"""scikit-learn text pipelines: the converted model computes what scikit-learn computes (decision
values, probabilities, predictions), the encoder is the vectorizer's own feature vector and finds
every feature's words, LRP-0 on a linear estimator is exactly coef_ × X, explain/corpus/evaluate
and the HTML work unchanged, and .skops files load through the safe loader only."""

import importlib
import itertools
import json
import sys
import zipfile
from collections import Counter

import numpy as np
import pytest
import skops.io
import torch
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfTransformer, TfidfVectorizer
from sklearn.linear_model import (LinearRegression, LogisticRegression, Ridge, RidgeClassifier, SGDClassifier,
                                  SGDRegressor)
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import LinearSVC

import doclrp
from doclrp.cli import main
from doclrp.corpus import open_corpus, read_results
from doclrp.errors import DoclrpError
from doclrp.evaluate import deletion_drops
from doclrp.models.loading import load_model
from doclrp.models.sklearn import SUPPORTED_CLASSES, SklearnTextEncoder, from_sklearn
from doclrp.models.sklearn_files import ALLOWED_TYPES
from doclrp.render import to_html

EXACT = 1e-10  # float64 model against scikit-learn's float64 arithmetic
FLOAT32 = 1e-5  # the default float32 model
FEATURES = 1e-6  # the encoder's float32 feature vector against scikit-learn's

TINY_TEXTS = ["good fun film", "bad dull film", "good good show", "dull bad bad plot", "fun plot twist",
              "a dull ending", "great fun", "awful bad acting"] * 3
TINY_CLASSES = ["pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg"] * 3
TINY_THREE = ["pos", "neg", "pos", "neg", "mid", "mid", "pos", "neg"] * 3
TINY_VALUES = np.array([1.0, -1.0, 0.8, -1.2, 0.6, -0.4, 1.1, -1.5] * 3)


@pytest.fixture(scope="module")
def bbc():
    """40 BBC News articles per class for training and 10 per class held out."""
    per_class: dict[str, list] = {}
    for record in open_corpus("bbc"):
        per_class.setdefault(record.label, [])
        if len(per_class[record.label]) < 50:
            per_class[record.label].append(record)
    train = [r for rs in per_class.values() for r in rs[:40]]
    test = [r for rs in per_class.values() for r in rs[40:]]
    return train, test


@pytest.fixture(scope="module")
def bbc_classifier(bbc):
    train, _ = bbc
    fitted = make_pipeline(TfidfVectorizer(sublinear_tf=True, stop_words="english", max_features=3000,
                                           ngram_range=(1, 2)), LogisticRegression(max_iter=200))
    return fitted.fit([r.text for r in train], [r.label for r in train])


@pytest.fixture(scope="module")
def bbc_saved(bbc_classifier, tmp_path_factory):
    path = tmp_path_factory.mktemp("skops") / "bbc.skops"
    skops.io.dump(bbc_classifier, path)
    return path


# -- equality with scikit-learn ---------------------------------------------------------------------
def test_bbc_classifier_equals_sklearn(bbc, bbc_classifier):
    _, test = bbc
    texts = [r.text for r in test]
    converted = from_sklearn(bbc_classifier, dtype=torch.float64)
    assert converted.labels == ["business", "entertainment", "politics", "sports", "tech"]
    assert converted.task == "classification"
    outputs = converted.outputs(texts).double().numpy()
    float64 = converted.model(converted.inputs(texts)).detach().numpy()
    np.testing.assert_allclose(float64, bbc_classifier.decision_function(texts), atol=EXACT)
    np.testing.assert_allclose(torch.softmax(torch.from_numpy(float64), 1).numpy(),
                               bbc_classifier.predict_proba(texts), atol=EXACT)
    assert [p.label for p in converted.predict(texts)] == list(bbc_classifier.predict(texts))
    default = from_sklearn(bbc_classifier)  # float32
    np.testing.assert_allclose(default.outputs(texts).numpy(), outputs, atol=FLOAT32)


@pytest.mark.slow  # reading the VADER scores of BBC sentences and fitting an MLP: about 5 s
def test_bbc_regressor_equals_sklearn():
    """VADER compound scores of BBC News sentences, regressed by an MLP on counts."""
    records = list(itertools.islice(open_corpus("vader", target_columns=["compound"]), 400))
    texts, values = [r.text for r in records], [r.targets[0] for r in records]
    fitted = make_pipeline(CountVectorizer(max_features=800, binary=True),
                           MLPRegressor(hidden_layer_sizes=(16,), max_iter=60, random_state=0))
    fitted.fit(texts[:300], values[:300])
    converted = from_sklearn(fitted, labels=["compound"], dtype=torch.float64)
    assert converted.task == "regression" and converted.labels == ["compound"]
    outputs = converted.model(converted.inputs(texts[300:])).detach().numpy()
    np.testing.assert_allclose(outputs[:, 0], fitted.predict(texts[300:]), atol=EXACT)
    explanation = doclrp.explain(converted, texts[300])
    assert explanation.task == "regression" and explanation.words


VECTORIZERS = {
    "tfidf": lambda: [TfidfVectorizer()],
    "tfidf-everything": lambda: [TfidfVectorizer(sublinear_tf=True, strip_accents="unicode", ngram_range=(1, 3),
                                                 stop_words=["the", "a", "of", "to", "and"], norm="l1",
                                                 max_features=4000, token_pattern=r"(?u)\b(\w+)\b")],
    "count-binary-cased": lambda: [CountVectorizer(lowercase=False, binary=True, min_df=2)],
    "count-bigrams-only": lambda: [CountVectorizer(ngram_range=(2, 2), stop_words="english", max_features=2000)],
    "count-tfidf-transformer": lambda: [CountVectorizer(strip_accents="ascii"), TfidfTransformer(sublinear_tf=True)],
    "hashing": lambda: [HashingVectorizer(n_features=2 ** 12, ngram_range=(1, 2))],
    "hashing-unsigned-tfidf": lambda: [HashingVectorizer(n_features=2 ** 10, alternate_sign=False, norm=None),
                                       TfidfTransformer()],
}


@pytest.mark.parametrize("kind", VECTORIZERS)
def test_encoder_is_the_vectorizer_and_finds_every_feature(bbc, kind):
    """Feature vectors equal scikit-learn's on BBC documents, and the features found in the text
    (with their counts) are exactly the ones the analyzer produces."""
    train, test = bbc
    steps = VECTORIZERS[kind]()
    fitted = make_pipeline(*steps, RidgeClassifier()).fit([r.text for r in train], [r.label for r in train])
    encoder = from_sklearn(fitted).encoder
    texts = [r.text for r in test[::5]] + ["Café CRÈME brûlée, naïve ﬁne Ǆ ΟΔΟΣ İstanbul!"]
    expected = fitted[:-1].transform(texts).toarray()
    np.testing.assert_allclose(encoder.inputs(texts).numpy(), expected, atol=FEATURES)
    analyzer = steps[0].build_analyzer()
    for text, row in zip(texts, expected):
        found = Counter(feature for feature, _ in encoder.occurrences(text))
        expected_features = Counter(encoder._feature(term) for term in analyzer(text))
        expected_features.pop(None, None)
        assert found == expected_features, text[:40]
        if encoder.hashing:  # colliding terms of opposite signs may cancel to a zero feature
            assert set(np.flatnonzero(row)) <= set(found)
        else:
            assert set(np.flatnonzero(row)) == set(found)
        for feature, spans in encoder.occurrences(text):
            words = [text[a:b] for a, b in spans]
            if not encoder.hashing and steps[0].lowercase and not steps[0].strip_accents:
                assert " ".join(words).lower() == encoder.terms[feature]


TINY_ESTIMATORS = {
    "logistic-binary": (LogisticRegression(), TINY_CLASSES),
    "logistic-3": (LogisticRegression(), TINY_THREE),
    "linear-svc-binary": (LinearSVC(), TINY_CLASSES),
    "linear-svc-3": (LinearSVC(), TINY_THREE),
    "sgd-binary": (SGDClassifier(random_state=0), TINY_CLASSES),
    "sgd-3": (SGDClassifier(loss="log_loss", random_state=0), TINY_THREE),
    "ridge-classifier-binary": (RidgeClassifier(), TINY_CLASSES),
    "ridge-classifier-3": (RidgeClassifier(), TINY_THREE),
    "ridge": (Ridge(), TINY_VALUES),
    "ridge-2-targets": (Ridge(), np.stack([TINY_VALUES, -2 * TINY_VALUES + 1], 1)),
    "linear-regression": (LinearRegression(), TINY_VALUES),
    "sgd-regressor": (SGDRegressor(random_state=0), TINY_VALUES),
    "mlp-binary-relu": (MLPClassifier((6, 5), max_iter=50, random_state=0), TINY_CLASSES),
    "mlp-3-tanh": (MLPClassifier((6,), activation="tanh", max_iter=50, random_state=0), TINY_THREE),
    "mlp-3-logistic": (MLPClassifier((6,), activation="logistic", max_iter=50, random_state=0), TINY_THREE),
    "mlp-regressor-identity": (MLPRegressor(hidden_layer_sizes=(4,), activation="identity", max_iter=50, random_state=0), TINY_VALUES),
    "mlp-regressor-2-outputs": (MLPRegressor(hidden_layer_sizes=(5,), max_iter=50, random_state=0),
                                np.stack([TINY_VALUES, TINY_VALUES ** 2], 1)),
}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("name", TINY_ESTIMATORS)
def test_every_estimator_equals_sklearn(name):
    estimator, targets = TINY_ESTIMATORS[name]
    fitted = make_pipeline(TfidfVectorizer(ngram_range=(1, 2)), estimator).fit(TINY_TEXTS, targets)
    texts = ["good fun", "bad plot twist", "dull dull good", "great awful acting show"]
    converted = from_sklearn(fitted, dtype=torch.float64)
    outputs = converted.model(converted.inputs(texts)).detach().numpy()
    predictions = [p.label for p in converted.predict(texts)]
    if hasattr(estimator, "classes_"):
        assert converted.labels == [str(c) for c in estimator.classes_]
        assert predictions == [str(c) for c in fitted.predict(texts)]
        if hasattr(estimator, "decision_function"):
            decision = fitted.decision_function(texts)
            if decision.ndim == 1:  # binary: two outputs [-d/2, d/2]
                np.testing.assert_allclose(outputs, np.stack([-decision / 2, decision / 2], 1), atol=EXACT)
            else:
                np.testing.assert_allclose(outputs, decision, atol=EXACT)
        if isinstance(estimator, (MLPClassifier, LogisticRegression)):
            np.testing.assert_allclose(torch.softmax(torch.from_numpy(outputs), 1).numpy(),
                                       fitted.predict_proba(texts), atol=EXACT)
    else:
        assert converted.task == "regression"
        expected = fitted.predict(texts).reshape(len(texts), -1)
        np.testing.assert_allclose(outputs, expected, atol=EXACT)
        assert converted.labels == (["prediction"] if expected.shape[1] == 1 else ["prediction_0", "prediction_1"])
    assert doclrp.explain(converted, texts[1], target=converted.labels[-1]).words


# -- LRP-0 is exact on linear estimators ----------------------------------------------------------------
def test_lrp_zero_on_a_linear_estimator_is_coef_times_x(bbc):
    train, test = bbc
    two = [r for r in train if r.label in ("sports", "tech")]
    fitted = make_pipeline(TfidfVectorizer(stop_words="english", max_features=2000),
                           LogisticRegression()).fit([r.text for r in two], [r.label for r in two])
    converted = from_sklearn(fitted, dtype=torch.float64)
    assert converted.default_composite == "zero"
    texts = [r.text for r in test if r.label in ("sports", "tech")][:6]
    features = fitted[:-1].transform(texts).toarray()
    coef_x = fitted[-1].coef_[0] * features
    inputs = converted.inputs(texts)
    for target, sign in (("tech-vs-rest", 1.0), ("sports-vs-rest", -1.0), ("tech", 0.5), ("sports", -0.5)):
        attribution = doclrp.resolve_method("zero").attribute(
            converted.model, inputs, doclrp.Target.resolve(target, converted.labels, converted.task))
        np.testing.assert_allclose(attribution.relevance.numpy(), sign * coef_x, atol=EXACT)
    # Per word: the feature's relevance shared by its occurrences; the words sum to coef_ × X.
    explanation = doclrp.explain(converted, texts[0], target="tech-vs-rest")
    assert sum(w.relevance for w in explanation.words) == pytest.approx(coef_x[0].sum(), abs=1e-9)
    assert explanation.delta == pytest.approx(fitted[-1].intercept_[0], abs=1e-9)
    occurrences = converted.encoder.occurrences(texts[0])
    counts = Counter(f for f, _ in occurrences)
    by_word = {(w.start, w.end): w.relevance for w in explanation.words}
    matched = 0
    for feature, (span,) in occurrences:  # unigrams: one word each
        if span in by_word:
            expected = sum(coef_x[0, f] / counts[f] for f, spans in occurrences if spans == [span])
            assert by_word[span] == pytest.approx(expected, abs=1e-12)
            matched += 1
    assert matched >= 20


def test_multiclass_lrp_zero_and_ngrams_share_among_words(bbc_classifier, bbc):
    _, test = bbc
    converted = from_sklearn(bbc_classifier, dtype=torch.float64)
    text = test[0].text
    features = bbc_classifier[:-1].transform([text]).toarray()[0]
    for index, label in enumerate(converted.labels):
        explanation = doclrp.explain(converted, text, target=label, method="zero")
        coef_x = bbc_classifier[-1].coef_[index] * features
        assert sum(w.relevance for w in explanation.words) == pytest.approx(coef_x.sum(), abs=1e-9)
        assert explanation.special.get("unassigned", 0.0) == pytest.approx(0.0, abs=1e-12)
    encoder = converted.encoder
    bigram = next(term for term in encoder.terms if " " in term)
    text = f"{bigram.title()}!"  # one bigram, its two words also features (max_features keeps the frequent)
    relevance = np.zeros(encoder.input_size)
    relevance[encoder.index[bigram]] = 1.0
    tokens = encoder.token_relevance(text, relevance)
    assert [text[a:b].lower() for a, b in tokens.spans] == bigram.split()
    assert tokens.relevance == [0.5, 0.5] and tokens.unassigned == 0.0


# -- explain, HTML, corpus, evaluate unchanged ---------------------------------------------------------
def test_explain_html_corpus_and_evaluate_run_on_a_converted_pipeline(bbc_classifier, bbc_saved, bbc, tmp_path):
    _, test = bbc
    converted = from_sklearn(bbc_classifier)
    explanations = doclrp.explain(converted, [r.text for r in test[:3]])
    page = to_html(explanations[0])
    assert "<html" in page.lower() and explanations[0].prediction.label == bbc_classifier.predict([test[0].text])[0]
    drops = deletion_drops(converted, list(explanations), k=3)
    assert len(drops) == 3
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": r.id, "text": r.text, "label": r.label}) + "\n" for r in test[:4]),
                      encoding="utf-8")
    out = tmp_path / "results.jsonl"
    assert main(["corpus", "--model", str(bbc_saved), "--input", str(corpus), "--out", str(out), "--quiet"]) == 0
    records = list(read_results(out))
    assert sorted(r["id"] for r in records) == sorted(r.id for r in test[:4])
    assert all(r["words"] for r in records)


# -- .skops files ----------------------------------------------------------------------------------
def test_skops_roundtrip_through_load_model(bbc_classifier, bbc_saved, bbc):
    _, test = bbc
    texts = [r.text for r in test[:10]]
    loaded = load_model(bbc_saved)
    assert loaded.labels == from_sklearn(bbc_classifier).labels
    np.testing.assert_allclose(loaded.outputs(texts).numpy(), bbc_classifier.decision_function(texts), atol=FLOAT32)


def test_cli_explain_with_a_skops_file(bbc_saved, tmp_path, capsys):
    out = tmp_path / "page.html"
    assert main(["explain", "--model", str(bbc_saved), "--text", "Shares in the chip maker rose.",
                 "--out", str(out)]) == 0
    assert "prediction:" in capsys.readouterr().out and out.is_file()
    assert main(["explain", "--model", str(tmp_path / "missing.skops"), "--text", "Hi.", "--out", str(out)]) == 2
    assert "no model file at" in capsys.readouterr().err
    (tmp_path / "model.joblib").write_bytes(b"not loaded")
    assert main(["explain", "--model", str(tmp_path / "model.joblib"), "--text", "Hi.", "--out", str(out)]) == 2
    assert "skops.io.dump" in capsys.readouterr().err


def _refusal(path) -> str:
    with pytest.raises(DoclrpError) as caught:
        load_model(path)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_pickles_and_malformed_files_are_refused_in_one_line(bbc_saved, tmp_path):
    for name in ("model.pkl", "model.joblib", "model.pickle"):
        (tmp_path / name).write_bytes(b"\x80\x04cos\nsystem\n.")
        assert "skops.io.dump(pipeline, 'model.skops')" in _refusal(tmp_path / name)
    (tmp_path / "text.skops").write_text("not a zip at all")
    assert "not a readable .skops file" in _refusal(tmp_path / "text.skops")
    with zipfile.ZipFile(tmp_path / "empty.skops", "w") as archive:
        archive.writestr("readme.txt", "no schema here")
    assert "not a readable .skops file" in _refusal(tmp_path / "empty.skops")
    data = bbc_saved.read_bytes()
    (tmp_path / "cut.skops").write_bytes(data[: len(data) // 2])
    assert ".skops" in _refusal(tmp_path / "cut.skops")
    assert "no model file" in _refusal(tmp_path / "missing.skops")


def test_unsupported_steps_are_named(tmp_path):
    cases = {
        "FunctionTransformer": make_pipeline(TfidfVectorizer(), FunctionTransformer(np.sqrt), LogisticRegression()),
        "RandomForest": None,
        "LogisticRegression, not a Pipeline": LogisticRegression(),
    }
    from sklearn.ensemble import RandomForestClassifier
    cases["RandomForest"] = make_pipeline(TfidfVectorizer(), RandomForestClassifier(n_estimators=2))
    for name, model in cases.items():
        if isinstance(model, Pipeline):
            model.fit(TINY_TEXTS, TINY_CLASSES)
        else:
            model.fit(TfidfVectorizer().fit_transform(TINY_TEXTS), TINY_CLASSES)
        path = tmp_path / f"{name.split(',')[0]}.skops"
        skops.io.dump(model, path)
        assert name.split(",")[0] in _refusal(path)


def test_untrusted_types_are_listed_and_no_code_runs(tmp_path, monkeypatch):
    """A pipeline whose tokenizer is a function of the user's module: the file names the
    function; loading refuses it by name, never imports the module nor calls the function."""
    module = tmp_path / "evil_tokenizers.py"
    marker = tmp_path / "ran"
    module.write_text(f"open({str(marker)!r}, 'w').close()\n"
                      "def tokenize(text):\n    return text.split()\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    import evil_tokenizers

    fitted = make_pipeline(TfidfVectorizer(tokenizer=evil_tokenizers.tokenize, token_pattern=None),
                           LogisticRegression()).fit(TINY_TEXTS, TINY_CLASSES)
    path = tmp_path / "evil.skops"
    skops.io.dump(fitted, path)
    marker.unlink()
    del sys.modules["evil_tokenizers"]
    message = _refusal(path)
    assert "evil_tokenizers.tokenize" in message
    assert not marker.exists() and "evil_tokenizers" not in sys.modules


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_conversion_refusals_are_one_line():
    fitted_char = make_pipeline(TfidfVectorizer(analyzer="char"), LogisticRegression()).fit(TINY_TEXTS, TINY_CLASSES)
    fitted_tokenizer = make_pipeline(TfidfVectorizer(tokenizer=str.split, token_pattern=None),
                                     LogisticRegression()).fit(TINY_TEXTS, TINY_CLASSES)
    multilabel = make_pipeline(TfidfVectorizer(), MLPClassifier((3,), max_iter=5)).fit(
        TINY_TEXTS, np.array([[i % 2, (i // 2) % 2] for i in range(len(TINY_TEXTS))]))
    cases = {
        "analyzer='char'": fitted_char,
        "tokenizer=": fitted_tokenizer,
        "multilabel": multilabel,
        "not fitted": make_pipeline(TfidfVectorizer(), LogisticRegression()),
        "got a LogisticRegression": LogisticRegression(),
        "steps": make_pipeline(TfidfVectorizer(), TfidfTransformer(), TfidfTransformer(), LogisticRegression()),
        "labels: give 2 names": None,
    }
    for expected, model in cases.items():
        with pytest.raises(DoclrpError) as caught:
            if model is None:
                from_sklearn(fitted_tokenizer.set_params(tfidfvectorizer__tokenizer=None,
                                                         tfidfvectorizer__token_pattern=r"(?u)\b\w\w+\b"),
                             labels=["one", "two", "three"])
            else:
                from_sklearn(model)
        assert expected in str(caught.value) and "\n" not in str(caught.value), expected


def test_offsets_survive_lowercasing_that_changes_length():
    encoder = SklearnTextEncoder(CountVectorizer().fit(["stanbul is big"]))
    text = "İstanbul is big"  # "İ".lower() is two characters: "i" and a combining dot
    assert [[text[a:b] for a, b in spans] for _, spans in encoder.occurrences(text)] == [["stanbul"], ["is"], ["big"]]


def test_allow_list_names_the_classes_it_means():
    """Each full name of the allow-list is where scikit-learn keeps that class today."""
    for name in sorted(ALLOWED_TYPES):
        module, _, cls = name.rpartition(".")
        assert getattr(importlib.import_module(module), cls).__name__ == cls, name
    assert set(SUPPORTED_CLASSES) <= ALLOWED_TYPES and all(n.startswith("sklearn.") for n in ALLOWED_TYPES)


def test_corpus_fingerprint_of_a_skops_file_follows_its_bytes(tmp_path):
    from doclrp.corpus.output import model_fingerprint
    first, second = tmp_path / "a.skops", tmp_path / "b.skops"
    first.write_bytes(b"one model")
    second.write_bytes(b"another model")
    assert model_fingerprint(first) != model_fingerprint(second)
    assert model_fingerprint(first) == model_fingerprint(str(first))


def test_every_command_that_takes_a_model_takes_a_skops_file(bbc_saved, tmp_path, capsys):
    """explain (above), corpus, corpus summarize --model, evaluate, demo; serve: tests/test_cli_serve.py."""
    results = tmp_path / "r.jsonl"
    assert main(["corpus", "--model", str(bbc_saved), "--input", "bbc", "--limit", "3", "--out", str(results),
                 "--quiet"]) == 0
    assert main(["corpus", "summarize", str(results), "--out", str(tmp_path / "report"), "--model",
                 str(bbc_saved)]) == 0
    assert main(["evaluate", "--model", str(bbc_saved), "--docs", "2"]) == 0
    assert main(["demo", "--model", str(bbc_saved), "--out", str(tmp_path / "demo")]) == 0
    err = capsys.readouterr().err
    assert "error" not in err and (tmp_path / "report" / "index.html").is_file()
    assert (tmp_path / "demo" / "index.html").is_file()
