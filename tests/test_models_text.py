"""Text models: shapes, padding invariants, configs and the registry."""

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from doclrp.errors import DoclrpError
from doclrp.models import MODEL_TYPES, BowMLP, EmbeddingBagModel, TextCNN, build_model, model_config

TOLERANCE = 1e-6


def small_models(n_outputs):
    torch.manual_seed(0)
    return [
        TextCNN(vocab_size=40, embed_dim=6, widths=(2, 3), channels=5, n_outputs=n_outputs),
        BowMLP(n_features=40, hidden=(7, 5), n_outputs=n_outputs),
        EmbeddingBagModel(vocab_size=40, embed_dim=6, n_outputs=n_outputs),
    ]


def inputs_for(model, batch=3, seq=9):
    if isinstance(model, BowMLP):
        return torch.rand(batch, model.config["n_features"])
    return torch.randint(1, model.config["vocab_size"], (batch, seq))


@pytest.mark.parametrize("n_outputs", [1, 3, 5])  # a regressor, a 3-output regressor or classifier, 5 classes
def test_forward_shapes(n_outputs):
    for model in small_models(n_outputs):
        assert model(inputs_for(model)).shape == (3, n_outputs)
        assert model.default_composite == "epsilon"
        assert isinstance(model.head, nn.Linear)


@pytest.mark.parametrize("seq", [1, 2, 4])
def test_cnn_pads_short_inputs_like_padding_ids(seq):
    model = TextCNN(vocab_size=30, embed_dim=4, widths=(3, 4, 5), channels=3, n_outputs=2).eval()
    ids = torch.randint(1, 30, (2, seq))
    assert torch.allclose(model(ids), model(F.pad(ids, (0, 5 - seq))), atol=TOLERANCE)


def test_cnn_output_does_not_depend_on_batch_neighbours():
    # Biases make padded windows fire (ReLU(bias) > 0): without the padding mask a
    # document's max-pool would pick them up once a longer neighbour pads its row.
    torch.manual_seed(0)
    model = TextCNN(vocab_size=30, embed_dim=4, widths=(2, 3), channels=6, n_outputs=3).eval()
    with torch.no_grad():
        for branch in model.branches:
            branch[0].bias.fill_(2.0)
    short, long = torch.randint(1, 30, (1, 4)), torch.randint(1, 30, (1, 40))
    batch = torch.cat([F.pad(short, (0, 36)), long])
    together = model(batch)
    assert torch.allclose(together[0], model(short)[0], atol=TOLERANCE)
    assert torch.allclose(together[1], model(long)[0], atol=TOLERANCE)


def test_embedding_bag_ignores_padding():
    model = EmbeddingBagModel(vocab_size=30, embed_dim=4, n_outputs=2)
    ids = torch.tensor([[3, 7, 9]])
    assert torch.allclose(model(ids), model(F.pad(ids, (0, 4))), atol=TOLERANCE)


def test_padding_rows_stay_zero_while_training():
    for model in small_models(2):
        if isinstance(model, BowMLP):
            continue
        optimizer = torch.optim.Adam(model.parameters(), lr=0.1)
        ids = torch.tensor([[0, 4, 5, 0], [6, 0, 0, 0]])
        model(ids).sum().backward()
        optimizer.step()
        assert torch.count_nonzero(model.embedding.weight[0]) == 0


def test_activations_are_modules():
    """The engine attaches rules to modules: no activation may hide in forward()."""
    model = TextCNN(vocab_size=10, embed_dim=4, widths=(2, 3), channels=3, n_outputs=2)
    kinds = [type(m) for m in model.modules()]
    assert kinds.count(nn.ReLU) == kinds.count(nn.Conv1d) == kinds.count(nn.AdaptiveMaxPool1d) == 2
    assert nn.ReLU in {type(m) for m in BowMLP(5, hidden=(3,), n_outputs=2).modules()}


def test_config_is_json_and_rebuilds_the_architecture():
    for model in small_models(4):
        config = json.loads(json.dumps(model_config(model)))
        rebuilt = build_model(config)
        assert type(rebuilt) is type(model) and rebuilt.config == model.config
        assert {k: v.shape for k, v in rebuilt.state_dict().items()} == {
            k: v.shape for k, v in model.state_dict().items()
        }


def test_registry():
    assert {"text-cnn", "bow-mlp", "embedding-bag", "image-mlp", "image-cnn"} <= set(MODEL_TYPES)
    assert MODEL_TYPES["text-cnn"] is TextCNN
    for name in MODEL_TYPES:
        assert MODEL_TYPES[name].model_type == name
    with pytest.raises(DoclrpError, match="unknown model_type 'rnn'"):
        build_model({"model_type": "rnn"})
    with pytest.raises(DoclrpError, match="bad config for model_type 'bow-mlp'"):
        build_model({"model_type": "bow-mlp", "n_features": 3, "layers": 2})
    with pytest.raises(DoclrpError, match="'model_type' key"):
        build_model({"n_features": 3})
    with pytest.raises(DoclrpError, match="not a doclrp model"):
        model_config(nn.Linear(2, 2))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: TextCNN(vocab_size=0), "vocab_size"),
        (lambda: TextCNN(vocab_size=5, widths=(3, 0)), "widths"),
        (lambda: TextCNN(vocab_size=5, dropout=1.0), "dropout"),
        (lambda: BowMLP(n_features=5, n_outputs=0), "n_outputs"),
        (lambda: EmbeddingBagModel(vocab_size=5, padding_idx=5), "padding_idx"),
    ],
)
def test_bad_arguments(make, message):
    with pytest.raises(DoclrpError, match=message):
        make()
