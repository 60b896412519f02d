"""Fine-tuning a local Hugging Face folder: `doclrp train --model FOLDER` (an encoder) and
`train_hf` on a decoder whose tokenizer has no pad token; bad input: one line, exit 2."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from doclrp.cli import main  # noqa: E402
from doclrp.corpus import Record  # noqa: E402
from doclrp import explain  # noqa: E402
from doclrp.models.hf import HFPipeline, load_hf_pipeline  # noqa: E402
from doclrp.training import train_hf  # noqa: E402
from references import WORDS, tiny_model, word_tokenizer  # noqa: E402

GOOD, BAD = "the team won good goal", "the stock market fell bad"


def records(n=40):
    return [Record(str(i), f"{GOOD if i % 2 else BAD} {i % 5}", "pos" if i % 2 else "neg") for i in range(n)]


@pytest.fixture(scope="module")
def corpus_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("corpus") / "reviews.jsonl"
    path.write_text("".join(json.dumps({"id": r.id, "text": r.text, "label": r.label}) + "\n" for r in records()))
    return path


@pytest.fixture(scope="module")
def encoder_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("base") / "bert"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12), word_tokenizer()).save(folder)
    return folder


def test_train_cli_fine_tunes_a_local_folder(encoder_folder, corpus_file, tmp_path, capsys):
    out = tmp_path / "tuned"
    code = main(["train", "--model", str(encoder_folder), "--corpus", str(corpus_file), "--out", str(out),
                 "--epochs", "10", "--lr", "3e-3", "--batch-size", "8", "--max-len", "12", "--quiet"])
    assert code == 0 and "test_accuracy 1.0000" in capsys.readouterr().out
    pipeline = load_hf_pipeline(out)
    assert pipeline.labels == ["neg", "pos"] and pipeline.predict([GOOD])[0].label == "pos"


def test_decoder_without_pad_token_fine_tunes_and_explains(tmp_path):
    torch.manual_seed(0)
    config = transformers.AutoConfig.for_model(
        "llama", vocab_size=len(WORDS), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
        intermediate_size=32, num_labels=2, eos_token_id=WORDS.index("</s>"))
    config.pad_token_id = None  # as decoder checkpoints come
    base = tmp_path / "llama"
    transformers.AutoModelForSequenceClassification.from_config(config).save_pretrained(base)
    tokenizer = word_tokenizer("llama", max_length=12)
    tokenizer.pad_token = None
    tokenizer.eos_token = "</s>"
    tokenizer.save_pretrained(base)
    pipeline = train_hf(records(), tmp_path / "out", base, epochs=10, lr=3e-3, batch_size=8, max_len=12,
                        progress=False)
    assert pipeline.metrics["test_accuracy"] == 1.0
    loaded = load_hf_pipeline(tmp_path / "out")
    assert loaded.tokenizer.pad_token == "</s>" and loaded.model.config.pad_token_id == WORDS.index("</s>")
    explanation = explain(loaded, f"{GOOD} and {BAD}", target="pos")
    assert {w.text for w in explanation.words} >= {"good", "bad"} and set(explanation.special) == {"<s>"}


@pytest.mark.parametrize("case", ["not-a-model", "glove-on-hf"])
def test_train_cli_bad_model_one_line_exit_2(case, encoder_folder, corpus_file, tmp_path, capsys):
    model, extra = (str(tmp_path / "nowhere"), []) if case == "not-a-model" else (str(encoder_folder), ["--glove"])
    out = tmp_path / "out"
    code = main(["train", "--model", model, "--corpus", str(corpus_file), "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("doclrp: error: ") and err.count("\n") == 1, err
    assert not out.exists()
