"""Training on small synthetic corpora: it learns, it is deterministic, it saves."""

import json
import random
import re

import pytest
import torch

from doclrp.corpus import Record
from doclrp.errors import DoclrpError
from doclrp.models import BowMLP, load_pipeline
from doclrp.training import TrainingSettings, train

FILLER = [f"w{i}" for i in range(30)]
CUES = {"sport": ["goal", "match", "cup"], "money": ["shares", "bank", "rates"]}
TINY = {
    "cnn": {"embed_dim": 8, "channels": 8, "widths": [2, 3]},
    "bow": {"hidden": [16]},
    "bag": {"embed_dim": 8},
}


def separable_records(n_per_class=40, seed=0):
    rng = random.Random(seed)
    records = []
    for label, cues in CUES.items():
        for i in range(n_per_class):
            words = rng.choices(FILLER, k=8) + rng.choices(cues, k=2)
            rng.shuffle(words)
            records.append(Record(f"{label}/{i}", " ".join(words) + ".", label))
    return records


def write_jsonl(path, records, **extra):
    with path.open("w") as handle:
        for r in records:
            handle.write(json.dumps({"id": r.id, "text": r.text, "label": r.label, **extra.get(r.id, {})}) + "\n")
    return path


# the CNN trains longest: 0.5-11 s on 2 cores, depending on how busy the machine is
@pytest.mark.parametrize("kind", [pytest.param("cnn", marks=pytest.mark.slow), "bow", "bag"])
def test_learns_a_separable_task(tmp_path, kind):
    corpus = write_jsonl(tmp_path / "c.jsonl", separable_records())
    pipeline = train(
        corpus, model=kind, epochs=25, lr=0.02, batch_size=8, min_freq=1, seed=1,
        progress=False, model_options=TINY[kind],
    )  # fmt: skip
    assert pipeline.metrics["test_accuracy"] >= 0.9
    assert pipeline.labels == ["money", "sport"]
    assert [p.label for p in pipeline.predict(["goal cup match w1.", "bank rates shares w2."])] == ["sport", "money"]


def test_same_seed_same_model_and_saved_metrics(tmp_path):
    records = separable_records()
    kwargs = dict(model="bow", epochs=3, min_freq=1, seed=4, progress=False, model_options=TINY["bow"])
    first = train(records, out=tmp_path / "first", **kwargs)
    second = train(list(reversed(records)), **kwargs)
    for (name, a), b in zip(first.model.state_dict().items(), second.model.state_dict().values()):
        assert torch.equal(a, b), name
    config = json.loads((tmp_path / "first" / "config.json").read_text())
    assert config["metrics"]["test_accuracy"] == first.metrics["test_accuracy"]
    assert config["metrics"]["n_test"] == 16 and config["metrics"]["settings"]["seed"] == 4
    texts = ["goal w3", "bank w4"]
    assert torch.equal(load_pipeline(tmp_path / "first").outputs(texts), first.outputs(texts))
    # the settings object the command line fills trains the very same model; keywords override it
    third = train(records, TrainingSettings(**{**kwargs, "epochs": 1}), epochs=3)
    for (name, a), b in zip(first.model.state_dict().items(), third.model.state_dict().values()):
        assert torch.equal(a, b), name


def test_regression_predicts_in_target_units(tmp_path):
    rng = random.Random(3)
    records, targets = [], {}
    for i in range(120):
        good = rng.randint(0, 6)
        words = ["good"] * good + ["bad"] * (6 - good)
        rng.shuffle(words)
        record_id = str(i)
        records.append(Record(record_id, " ".join(words)))
        targets[record_id] = {"stars": 100.0 + 10.0 * good / 6}  # far from 0: the folded scale must work
    corpus = write_jsonl(tmp_path / "r.jsonl", records, **targets)
    pipeline = train(
        corpus, model="bag", task="regression", target_columns=["stars"], epochs=60, lr=0.05,
        batch_size=16, min_freq=1, progress=False, model_options={"embed_dim": 4},
    )  # fmt: skip
    assert pipeline.labels == ["stars"] and pipeline.task == "regression"
    assert pipeline.metrics["test_r2"]["stars"] > 0.9
    assert pipeline.metrics["test_rmse"]["stars"] < 1.0
    high, low = (p.values[0] for p in pipeline.predict(["good good good good good good", "bad bad bad bad bad bad"]))
    assert high == pytest.approx(110, abs=1.5) and low == pytest.approx(100, abs=1.5)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"model": "rnn"}, "unknown model kind .rnn."),
        ({"model": "bow", "glove": True}, "glove=True needs"),
        ({"task": "ranking"}, "task must be one of"),
        ({"task": "regression"}, "same number of numeric targets"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(DoclrpError, match=message):
        train(separable_records(5), progress=False, **kwargs)


def test_unlabeled_corpus_cannot_train_a_classifier():
    with pytest.raises(DoclrpError, match="have no label"):
        train([Record(str(i), "text") for i in range(10)], progress=False)


def test_the_reported_train_loss_is_the_mean_of_the_epoch():
    from doclrp.training.text import _fit  # internal: the training loop whose report is checked
    torch.manual_seed(0)
    net = BowMLP(6, hidden=(4,), n_outputs=2)
    x, y = torch.rand(10, 6), torch.tensor([0, 1] * 5)
    cross_entropy, batches = torch.nn.CrossEntropyLoss(), []

    def loss_fn(outputs, targets):
        loss = cross_entropy(outputs, targets)
        if outputs.requires_grad:  # a training batch, not the validation pass
            batches.append((loss.item(), len(targets)))
        return loss

    lines = []
    _fit(net, (x, y), (x, y), loss_fn, "classification", ["a", "b"], torch.device("cpu"), lines.append,
         epochs=1, batch_size=4, lr=0.1, seed=0, patience=3, progress=False)
    assert [n for _, n in batches] == [4, 4, 2]
    printed = float(re.search(r"train loss ([0-9.]+)", lines[0]).group(1))
    assert printed == pytest.approx(sum(loss * n for loss, n in batches) / 10, abs=1e-4)
    assert printed != pytest.approx(batches[-1][0], abs=1e-4)


# -- the bidirectional LSTM (issue 13) ----------------------------------------------------------
TINY_LSTM = {"embed_dim": 8, "hidden": 8}


@pytest.mark.slow
def test_lstm_trains_saves_and_is_explained_by_every_command(tmp_path, capsys):
    import doclrp
    from references import run_cli

    corpus = write_jsonl(tmp_path / "c.jsonl", separable_records())
    out = tmp_path / "lstm"
    code, _, err = run_cli(capsys, "train", "--model", "lstm", "--corpus", str(corpus), "--out", str(out),
                           "--epochs", "25", "--lr", "0.02", "--batch-size", "8", "--seed", "1", "--quiet")
    assert code == 0, err
    pipeline = load_pipeline(out)
    assert type(pipeline.model).__name__ == "TextLSTM" and pipeline.model.config["hidden"] == 128
    assert pipeline.metrics["test_accuracy"] >= 0.9
    explanation = doclrp.explain(pipeline, "w1 w2 goal w3 w4 w5 w6.", target="sport")
    assert explanation.top_words(1)[0].text == "goal"
    assert abs(explanation.delta) < 0.1 * abs(explanation.target_value) + 1e-3
    page = tmp_path / "p.html"
    code, output, err = run_cli(capsys, "explain", "--model", str(out), "--text", "a cup match <b>x</b>",
                                "--out", str(page))
    assert code == 0, err
    assert "&lt;b&gt;" in page.read_text()
    results = tmp_path / "r.jsonl"
    code, _, err = run_cli(capsys, "corpus", "--model", str(out), "--input", str(corpus), "--out", str(results))
    assert code == 0, err
    assert len(results.read_text().splitlines()) >= len(separable_records())


def test_lstm_learns_a_separable_task(tmp_path):
    pipeline = train(separable_records(), model="lstm", epochs=15, lr=0.02, batch_size=8, min_freq=1, seed=1,
                     progress=False, model_options=TINY_LSTM, out=tmp_path / "m")
    assert pipeline.metrics["test_accuracy"] >= 0.9
    texts = ["goal cup match w1.", "bank rates shares w2."]
    assert [p.label for p in pipeline.predict(texts)] == ["sport", "money"]
    assert torch.equal(load_pipeline(tmp_path / "m").outputs(texts), pipeline.outputs(texts))


@pytest.mark.slow
def test_lstm_learns_a_regression():
    rng = random.Random(3)
    records = []
    for i in range(120):
        good = rng.randint(0, 6)
        words = ["good"] * good + ["bad"] * (6 - good)
        rng.shuffle(words)
        records.append(Record(str(i), " ".join(words), targets=[100.0 + 10.0 * good / 6]))
    regressor = train(records, model="lstm", task="regression", epochs=40, lr=0.02, batch_size=16, min_freq=1,
                      progress=False, model_options=TINY_LSTM)
    # a tiny LSTM counting good words (r² 0.73 in 40 epochs); the units are held by the bag test above
    assert regressor.metrics["test_r2"]["target0"] > 0.5


def test_train_says_saved_once_with_its_time_in_seconds(topic_corpus_dir, tmp_path, capsys):
    from references import run_cli

    out = tmp_path / "bag"
    code, printed, err = run_cli(capsys, "train", "--model", "bag", "--corpus", str(topic_corpus_dir), "--out",
                                 str(out), "--epochs", "1")
    assert code == 0, err
    saved = [line for line in (printed + err).splitlines() if "saved" in line]
    assert len(saved) == 1 and saved[0].startswith(f"saved {out} (")
    assert re.search(r"; trained in \d+ s\)$", saved[0]) and "train_seconds" not in saved[0]
