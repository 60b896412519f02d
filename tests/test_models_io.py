"""TextPipeline: prediction, save/load round trip, and every way loading can fail."""

import json

import pytest
import torch

from doclrp.errors import DoclrpError
from doclrp.models import (
    BowMLP,
    EmbeddingBagModel,
    IdEncoder,
    TextCNN,
    TextPipeline,
    TfidfEncoder,
    load_pipeline,
    save_pipeline,
)

TEXTS = ["The team won the cup.", "Shares fell on the news.", "Rates rose again.", "A late goal won it."]
LABELS = ["business", "sport"]


def make_pipeline(kind):
    torch.manual_seed(0)
    if kind == "bow":
        encoder = TfidfEncoder.fit(TEXTS, min_df=1)
        return TextPipeline(BowMLP(encoder.n_features, hidden=(6,), n_outputs=2), encoder, LABELS, metrics={"x": 1})
    encoder = IdEncoder.fit(TEXTS, max_len=20)
    if kind == "cnn":
        model = TextCNN(len(encoder.vocabulary), embed_dim=5, widths=(2, 3), channels=4, n_outputs=2)
        return TextPipeline(model, encoder, LABELS)
    return TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 5, n_outputs=1), encoder, ["score"], "regression")


@pytest.mark.parametrize("kind", ["bow", "cnn", "bag"])
def test_round_trip_gives_identical_outputs(tmp_path, kind):
    pipeline = make_pipeline(kind)
    folder = save_pipeline(pipeline, tmp_path / "model")
    loaded = load_pipeline(folder)
    assert torch.equal(loaded.outputs(TEXTS + ["unseen words"]), pipeline.outputs(TEXTS + ["unseen words"]))
    assert (loaded.labels, loaded.task, loaded.metrics) == (pipeline.labels, pipeline.task, pipeline.metrics)
    assert not loaded.model.training
    files = sorted(p.name for p in folder.iterdir())
    assert files == sorted(["config.json", "model.safetensors", pipeline.encoder.state_file])
    assert list(tmp_path.iterdir()) == [folder]  # no staging folder left behind


def test_config_json_describes_the_pipeline(tmp_path):
    folder = save_pipeline(make_pipeline("cnn"), tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    assert config["model"]["model_type"] == "text-cnn" and config["model"]["widths"] == [2, 3]
    assert config["encoder"] == {"type": "ids", "config": {"max_len": 20}}
    assert (config["task"], config["labels"], config["format_version"]) == ("classification", LABELS, 1)
    assert "doclrp_version" in config


def test_predict_classification_and_regression():
    prediction = make_pipeline("cnn").predict(["The cup."])[0]
    assert prediction.label in LABELS and prediction.probabilities == pytest.approx(
        torch.tensor(prediction.values).softmax(0).tolist()
    )
    regression = make_pipeline("bag").predict(["Rates rose.", "x"])
    assert [p.label for p in regression] == [None, None] and len(regression[0].values) == 1
    with pytest.raises(DoclrpError, match="one str"):
        make_pipeline("bow").predict("a text, not a list")


def test_pipeline_checks_labels_and_encoder_size():
    pipeline = make_pipeline("bow")
    with pytest.raises(DoclrpError, match="2 outputs but 3 labels"):
        TextPipeline(pipeline.model, pipeline.encoder, ["a", "b", "c"])
    with pytest.raises(DoclrpError, match="expects 99"):
        TextPipeline(BowMLP(99, hidden=(3,), n_outputs=2), pipeline.encoder, LABELS)
    with pytest.raises(DoclrpError, match="task"):
        TextPipeline(pipeline.model, pipeline.encoder, LABELS, task="ranking")


@pytest.fixture
def saved(tmp_path):
    return save_pipeline(make_pipeline("cnn"), tmp_path / "m")


def test_missing_folder_and_files(tmp_path, saved):
    with pytest.raises(DoclrpError, match="no pipeline folder at"):
        load_pipeline(tmp_path / "nowhere")
    (saved / "vocab.json").unlink()
    with pytest.raises(DoclrpError, match=r"vocab\.json is missing"):
        load_pipeline(saved)
    (saved / "config.json").unlink()
    with pytest.raises(DoclrpError, match=r"config\.json is missing"):
        load_pipeline(saved)


def test_missing_weights(saved):
    (saved / "model.safetensors").unlink()
    with pytest.raises(DoclrpError, match=r"model\.safetensors is missing"):
        load_pipeline(saved)


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupted_weights(saved, damage):
    path = saved / "model.safetensors"
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00junk" * 40, "empty": b""}[damage])
    with pytest.raises(DoclrpError, match=r"model\.safetensors is corrupted or truncated") as error:
        load_pipeline(saved)
    assert "\n" not in str(error.value)


def test_invalid_config_json(saved):
    (saved / "config.json").write_text('{"format": "doclrp-text-pipeline",')
    with pytest.raises(DoclrpError, match="is not valid JSON"):
        load_pipeline(saved)


def test_config_with_missing_entry_or_other_version(saved):
    path = saved / "config.json"
    config = json.loads(path.read_text())
    path.write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(DoclrpError, match="format_version 99"):
        load_pipeline(saved)
    del config["labels"]
    path.write_text(json.dumps(config))
    with pytest.raises(DoclrpError, match="lacks or mistypes entry 'labels'"):
        load_pipeline(saved)


def test_shape_mismatch(saved):
    path = saved / "config.json"
    config = json.loads(path.read_text())
    config["model"]["channels"] = 7
    path.write_text(json.dumps(config))
    with pytest.raises(DoclrpError, match=r"has shape \(4, 5, 2\), the config builds \(7, 5, 2\)"):
        load_pipeline(saved)


def test_failed_save_leaves_old_pipeline_and_no_partial_folder(tmp_path, saved, monkeypatch):
    before = (saved / "model.safetensors").read_bytes()

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("doclrp.models.io.save_file", broken)
    with pytest.raises(OSError, match="disk full"):
        save_pipeline(make_pipeline("cnn"), saved)
    with pytest.raises(OSError):
        save_pipeline(make_pipeline("cnn"), tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert (saved / "model.safetensors").read_bytes() == before


def test_failed_rename_restores_the_old_pipeline(tmp_path, saved, failing_folder_swap):
    with pytest.raises(OSError, match="rename failed"):
        save_pipeline(make_pipeline("bow"), saved)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m"]
    assert load_pipeline(saved).encoder.encoder_type == "ids"


def test_save_replaces_a_pipeline_but_not_other_folders(tmp_path, saved):
    save_pipeline(make_pipeline("bow"), saved)
    assert (saved / "tfidf.json").is_file() and not (saved / "vocab.json").exists()
    assert load_pipeline(saved).encoder.encoder_type == "tfidf"
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "notes.txt").write_text("mine")
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text('{"architectures": ["BertModel"]}')
    for other in ("docs", "hf"):
        with pytest.raises(DoclrpError, match="not a saved doclrp pipeline"):
            save_pipeline(make_pipeline("bow"), tmp_path / other)
    assert (tmp_path / "docs" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "hf", "m"]
