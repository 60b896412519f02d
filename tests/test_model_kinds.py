"""Every declared model kind (doclrp.models.registry.MODEL_KINDS, declared next to its class) trains,
saves, loads and explains; training, the command line and loading all read the one declaration."""

import random

import pytest
import torch

import doclrp
from doclrp.cli.checks import text_model_kinds
from doclrp.cli.parsers import build_parser
from doclrp.corpus import Record
from doclrp.models.registry import MODEL_KINDS, MODEL_TYPES
from doclrp.training import train

CUES = {"sport": ["goal", "match", "cup"], "money": ["shares", "bank", "rates"]}
FILLER = [f"w{i}" for i in range(12)]
#: What every rule the model kinds use conserves here, up to float32 sums and ε.
CONSERVATION = 1e-3


def tiny_corpus(n_per_class: int = 12) -> list[Record]:
    rng = random.Random(5)
    records = []
    for label, cues in CUES.items():
        for i in range(n_per_class):
            words = rng.choices(FILLER, k=5) + rng.choices(cues, k=2)
            records.append(Record(f"{label}/{i}", " ".join(words) + ".", label))
    return records


@pytest.mark.parametrize("name", list(MODEL_KINDS))
def test_every_declared_kind_trains_saves_loads_and_explains(tmp_path, name):
    kind = MODEL_KINDS[name]
    assert kind.name == name and MODEL_TYPES[kind.model.model_type] is kind.model
    torch.manual_seed(0)
    trained = train(tiny_corpus(), model=name, out=tmp_path / name, epochs=1, batch_size=8, min_freq=1, max_len=16,
                    seed=2, progress=False)
    assert type(trained.model) is kind.model
    assert trained.metrics["settings"]["epochs"] == 1 and trained.metrics["settings"]["lr"] == kind.lr
    loaded = doclrp.load_model(tmp_path / name)
    assert type(loaded.model) is kind.model and loaded.labels == ["money", "sport"]
    assert loaded.model.config == trained.model.config
    text = "goal match w1 cup."
    torch.testing.assert_close(loaded.outputs([text]), trained.outputs([text]))
    explanation = doclrp.explain(loaded, text)
    assert explanation.method["name"] == kind.default_method == loaded.default_composite
    words = sum(w.relevance for w in explanation.words) + sum(explanation.special.values())
    assert abs(words + explanation.delta - explanation.target_value) < CONSERVATION
    assert [w.text for w in explanation.words] == ["goal", "match", "w1", "cup", "."]


def test_the_command_line_lists_the_declared_kinds():
    assert text_model_kinds() == list(MODEL_KINDS)
    train_help = build_parser()._subparsers._group_actions[0].choices["train"].format_help()
    assert all(name in train_help for name in MODEL_KINDS)
    for name in MODEL_KINDS:
        assert build_parser().parse_args(["train", "--model", name, "--out", "m"]).model == name


def test_kind_defaults_come_from_the_declaration(tmp_path):
    kind = MODEL_KINDS["bag"]
    pipeline = train(tiny_corpus(4), model="bag", epochs=1, min_freq=1, progress=False, test_fraction=0.25,
                     val_fraction=0.2)
    assert pipeline.model.config["embed_dim"] == kind.architecture["embed_dim"]
    with pytest.raises(doclrp.DoclrpError, match=r"unknown model kind 'cnnn' \(did you mean 'cnn'\?\)"):
        train(tiny_corpus(4), model="cnnn")
