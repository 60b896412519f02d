"""Keras and ONNX model files on the command line (issue 25): --model FILE with --vocab (a Keras
TextVectorization vocabulary, a vocab.txt, a tokenizer.json) and --labels; explain, corpus,
evaluate and serve work on them; a missing vocabulary is one line saying what to pass."""

import json
import warnings

import pytest
import torch

from references import import_keras, run_cli  # noqa: E402

keras = import_keras()
pytest.importorskip("onnx")

import doclrp  # noqa: E402
from doclrp.cli.checks import VOCAB_MODEL_SUFFIXES  # noqa: E402
from doclrp.core import attribute  # noqa: E402
from doclrp.models.imported import MODEL_FILE_KINDS, ImportedTextPipeline, read_vocabulary  # noqa: E402
from doclrp.models.text import TextCNN  # noqa: E402

L = keras.layers
WORDS = ["", "[UNK]", "the", "match", "goal", "team", "won", "shares", "market", "fell", "rose", "bank"]
TEXT = "The team won the match with a late goal. Shares in the bank rose."
DOCS = ["The team won the match.", "Shares fell and the market fell.", "A late goal: the team won.",
        "The bank rose; shares rose."]


@pytest.fixture(scope="module")
def keras_files(tmp_path_factory):
    """A Kim CNN over a TextVectorization vocabulary (fixed length 16, masked padding not needed)."""
    folder = tmp_path_factory.mktemp("keras")
    ids = keras.Input((16,), dtype="int32")
    embedded = L.Embedding(len(WORDS), 6)(ids)
    pooled = [L.GlobalMaxPooling1D()(L.Conv1D(4, k, activation="relu")(embedded)) for k in (2, 3)]
    model = keras.Model(ids, L.Dense(2, activation="softmax")(L.Concatenate()(pooled)))
    model.save(folder / "kim.keras")
    (folder / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    return folder


@pytest.fixture(scope="module")
def onnx_files(tmp_path_factory):
    """doclrp's TextCNN exported to ONNX (any length), with a vocab.txt of [PAD]/[UNK] and words."""
    folder = tmp_path_factory.mktemp("onnx")
    torch.manual_seed(0)
    model = TextCNN(vocab_size=len(WORDS), embed_dim=6, widths=(2, 3), channels=4, n_outputs=3).eval()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randint(1, len(WORDS), (2, 9)),), folder / "cnn.onnx", dynamo=False,
                          input_names=["ids"], dynamic_axes={"ids": {0: "batch", 1: "seq"}})
    (folder / "vocab.txt").write_text("\n".join(["[PAD]", "[UNK]", *WORDS[2:]]) + "\n")
    return folder, model


def test_the_suffixes_are_one_list():
    assert VOCAB_MODEL_SUFFIXES == MODEL_FILE_KINDS


def test_explain_a_keras_file_with_its_textvectorization_vocabulary(keras_files, capsys, tmp_path):
    page = tmp_path / "page.html"
    code, out, err = run_cli(capsys, "explain", "--model", str(keras_files / "kim.keras"), "--vocab",
                             str(keras_files / "vocab.txt"), "--labels", "sport,business", "--text", TEXT,
                             "--out", str(page), "--device", "cpu")
    assert code == 0, err
    assert "prediction:" in out and ("sport" in out or "business" in out) and "top words" in out
    assert page.is_file() and "goal" in page.read_text()


def test_a_missing_vocabulary_is_one_line_saying_what_to_pass(keras_files, onnx_files, capsys):
    for model in (keras_files / "kim.keras", onnx_files[0] / "cnn.onnx"):
        code, out, err = run_cli(capsys, "explain", "--model", str(model), "--text", TEXT)
        assert code == 2 and out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and "pass the vocabulary it was trained with, --vocab FILE" in lines[0]
        assert "--labels a,b,c" in lines[0]
    code, _, err = run_cli(capsys, "explain", "--model", str(keras_files / "kim.keras"), "--vocab", "nowhere.txt",
                           "--text", TEXT)
    assert code == 2 and "--vocab nowhere.txt: no such file" in err
    code, _, err = run_cli(capsys, "explain", "--model", str(keras_files / "kim.keras"), "--vocab",
                           str(keras_files / "vocab.txt"), "--labels", "a,b,c", "--text", TEXT, "--device", "cpu")
    assert code == 2 and "--labels names 3 outputs but" in err and len(err.strip().splitlines()) == 1


def test_the_onnx_pipeline_explains_as_the_original_model(onnx_files):
    folder, model = onnx_files
    pipeline = doclrp.load_model(folder / "cnn.onnx", vocab=folder / "vocab.txt", labels=["a", "b", "c"])
    assert isinstance(pipeline, ImportedTextPipeline) and pipeline.length is None
    explanation = doclrp.explain(pipeline, TEXT, target="b")
    ids, spans = pipeline.tokens([TEXT])[0]
    relevance = attribute(model, torch.tensor([ids]), target=1, composite="epsilon").relevance[0]
    assert [w.text for w in explanation.words][:3] == ["The", "team", "won"]
    by_start = {w.start: w.relevance for w in explanation.words}
    for (start, _), value in zip(spans, relevance.tolist()):
        assert by_start[start] == pytest.approx(value, abs=1e-5)


def test_corpus_and_evaluate_on_an_onnx_file(onnx_files, capsys, tmp_path):
    folder, _ = onnx_files
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps({"id": str(i), "text": t, "label": "abc"[i % 3]}) + "\n"
                              for i, t in enumerate(DOCS)))
    model = ["--model", str(folder / "cnn.onnx"), "--vocab", str(folder / "vocab.txt"), "--labels", "a,b,c"]
    out_file = tmp_path / "results.jsonl"
    code, out, err = run_cli(capsys, "corpus", *model, "--input", str(corpus), "--out", str(out_file), "--quiet",
                             "--device", "cpu")
    assert code == 0, err
    records = [json.loads(line) for line in out_file.read_text().splitlines()[1:]]
    assert len(records) == len(DOCS) and all(r["words"] for r in records)
    code, out, err = run_cli(capsys, "evaluate", *model, "--corpus", str(corpus), "--split", "all", "--docs", "4",
                             "--methods", "epsilon,random", "--k", "2", "--steps", "2", "--device", "cpu")
    assert code == 0, err
    assert "epsilon" in out and "random" in out


def test_serve_answers_for_a_keras_file(keras_files):
    pytest.importorskip("fastapi")
    from fastapi.testclient import TestClient

    from doclrp.cli.parsers import build_parser
    from doclrp.cli.serve import _models
    from doclrp.serve import create_app

    args = build_parser().parse_args(["serve", "--models", str(keras_files / "kim.keras"), "--vocab",
                                      str(keras_files / "vocab.txt"), "--labels", "sport,business"])
    args.device = "cpu"
    models = _models(args)
    assert isinstance(models["kim.keras"], ImportedTextPipeline)
    client = TestClient(create_app(models=models, digits=False), base_url="http://127.0.0.1:8765")
    listed = {m["id"]: m for m in client.get("/api/models").json()}
    assert listed["kim.keras"]["labels"] == ["sport", "business"]
    reply = client.post("/api/explain", json={"text": TEXT, "model": "kim.keras"})
    assert reply.status_code == 200, reply.text
    assert any(w["text"] == "goal" for w in reply.json()["words"])


def test_serve_names_every_bad_model_beside_model_files(keras_files, capsys, tmp_path):
    """Bad model files and bad folders together: one line each, before the port opens."""
    (tmp_path / "junk.onnx").write_bytes(b"not protobuf")
    code, out, err = run_cli(capsys, "serve", "--port", "0", "--device", "cpu", "--models",
                             str(keras_files / "kim.keras"), str(tmp_path / "junk.onnx"), str(tmp_path / "gone"),
                             "--vocab", str(keras_files / "vocab.txt"))
    lines = err.strip().splitlines()
    assert code == 2 and out.strip() in ("", "device: cpu")
    assert lines[0] == "doclrp: error: 2 models cannot be served:" and len(lines) == 3
    assert lines[1].startswith("  junk.onnx: ") and "not an ONNX model" in lines[1]
    assert lines[2].startswith("  gone: no model folder at")


def test_vocabulary_files(tmp_path):
    keras_style = tmp_path / "keras.json"
    keras_style.write_text(json.dumps(WORDS))
    vocabulary = read_vocabulary(keras_style)
    assert vocabulary.tokens_of(["The goal, won!"]) == [([2, 4, 6], [(0, 3), (4, 8), (10, 13)])]
    pieces = tmp_path / "vocab.txt"
    pieces.write_text("[PAD]\n[UNK]\nthe\ngoal\n##s\nwon\n")
    ids, spans = read_vocabulary(pieces).tokens_of(["The goals won"])[0]
    assert ids == [2, 3, 4, 5] and spans == [(0, 3), (4, 8), (8, 9), (10, 13)]
    from tokenizers import Tokenizer, models, pre_tokenizers

    tokenizer = Tokenizer(models.WordLevel({"[PAD]": 0, "[UNK]": 1, "goal": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    assert read_vocabulary(tmp_path / "tokenizer.json").tokens_of(["goal now"])[0][0] == [2, 1]
    (tmp_path / "bad.json").write_text('{"a": 1}')
    with pytest.raises(doclrp.DoclrpError, match="a JSON vocabulary is a list of words or a tokenizer.json"):
        read_vocabulary(tmp_path / "bad.json")
    (tmp_path / "nounk.txt").write_text("[PAD]\nthe\n")
    with pytest.raises(doclrp.DoclrpError, match="no unknown-word token"):
        read_vocabulary(tmp_path / "nounk.txt")
