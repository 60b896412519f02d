"""Model folders that try to run code: custom code (``auto_map``) never imported, pickled weights
refused unless the user opts in, nothing prompts (stdin answers ``y``), one line each; NaN weights
refused (issue 17)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

transformers = pytest.importorskip("transformers")

from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.models.loading import load_model  # noqa: E402
from doclrp.models.hf import HFPipeline  # noqa: E402
from doclrp.models.hf.pipeline import SAFE_LOADING, check_hf_folder  # noqa: E402
from references import WORDS, run_cli, tiny_model, word_tokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CUSTOM_CODE = """
import pathlib
pathlib.Path({marker!r}).write_text("the folder's code ran")
from transformers import BertConfig, BertForSequenceClassification
class EvilConfig(BertConfig):
    model_type = "evil"
class EvilModel(BertForSequenceClassification):
    config_class = EvilConfig
"""


def doclrp_command(*argv, cwd):
    """``doclrp ARGV`` in a child process whose stdin answers every question with ``y``."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
    command = "import sys; from doclrp.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", command, *argv], input="y\n" * 20, capture_output=True,
                          text=True, cwd=cwd, env=env, timeout=300)


@pytest.fixture
def custom_code_folder(tmp_path):
    """A saved tiny BERT whose config.json points at its own configuration_/modeling_ files
    (as trust_remote_code models do); importing either writes ``marker``."""
    folder = tmp_path / "evil"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
               word_tokenizer()).save(folder)
    marker = tmp_path / "marker.txt"
    for name in ("configuration_evil.py", "modeling_evil.py"):
        (folder / name).write_text(CUSTOM_CODE.format(marker=str(marker)))
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="evil", architectures=["EvilModel"],
                  auto_map={"AutoConfig": "configuration_evil.EvilConfig",
                            "AutoModelForSequenceClassification": "modeling_evil.EvilModel"})
    (folder / "config.json").write_text(json.dumps(config))
    return folder, marker


@pytest.fixture(scope="module")
def pickled_folder(tmp_path_factory):
    """A tiny BERT whose weights are only ``pytorch_model.bin`` (a pickle)."""
    folder = tmp_path_factory.mktemp("pickled") / "bert"
    pipeline = HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
                          word_tokenizer())
    pipeline.save(folder)
    (folder / "model.safetensors").unlink()
    torch.save(pipeline.model.state_dict(), folder / "pytorch_model.bin")
    return folder


def test_custom_code_is_never_imported_nor_asked_about(custom_code_folder, tmp_path):
    folder, marker = custom_code_folder
    result = doclrp_command("explain", "--model", str(folder), "--text", "the cat sat", "--out",
                            str(tmp_path / "page.html"), cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "custom code" in result.stderr and "auto_map" in result.stderr
    assert "[y/N]" not in result.stdout + result.stderr
    assert not marker.exists() and not (tmp_path / "page.html").exists()


def test_custom_code_refused_by_train_and_corpus(custom_code_folder, tmp_path, topic_corpus_dir, capsys):
    folder, marker = custom_code_folder
    code, _, err = run_cli(capsys, "train", "--model", str(folder), "--corpus", str(topic_corpus_dir),
                           "--out", str(tmp_path / "tuned"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "custom code" in err
    code, _, err = run_cli(capsys, "corpus", "--model", str(folder), "--input", str(topic_corpus_dir),
                           "--out", str(tmp_path / "r.jsonl"), "--quiet")
    assert code == 2 and err.count("\n") == 1 and "custom code" in err
    assert not marker.exists()


def test_custom_code_in_tokenizer_config_is_refused(tmp_path):
    folder = tmp_path / "bert"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
               word_tokenizer()).save(folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config["auto_map"] = {"AutoTokenizer": ["tokenization_evil.EvilTokenizer", None]}
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    with pytest.raises(DoclrpError, match="tokenization_evil.py"):
        load_model(folder)


def test_transformers_itself_is_told_not_to_run_code(custom_code_folder):
    # Behind doclrp's own check: the explicit False makes transformers refuse, not prompt.
    folder, marker = custom_code_folder
    with pytest.raises(ValueError):
        transformers.AutoConfig.from_pretrained(folder, **SAFE_LOADING)
    assert not marker.exists()


def test_pickled_weights_are_refused_without_the_opt_in(pickled_folder, tmp_path):
    result = doclrp_command("explain", "--model", str(pickled_folder), "--text", "the cat sat", "--out",
                            str(tmp_path / "page.html"), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "pytorch_model.bin" in result.stderr
    assert "--allow-pickle" in result.stderr and "[y/N]" not in result.stdout
    assert not (tmp_path / "page.html").exists()


def test_pickled_weights_load_with_the_opt_in(pickled_folder, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "explain", "--model", str(pickled_folder), "--text", "the cat sat",
                           "--out", str(tmp_path / "page.html"), "--allow-pickle")
    assert code == 0 and (tmp_path / "page.html").exists()
    assert check_hf_folder(pickled_folder, allow_pickle=True) is False


def test_safetensors_are_preferred_over_a_pickle_beside_them(pickled_folder, tmp_path):
    folder = tmp_path / "both"
    pipeline = load_model(pickled_folder, allow_pickle=True)
    pipeline.save(folder)
    (folder / "pytorch_model.bin").write_bytes(b"not a pickle at all")  # never read
    assert check_hf_folder(folder) is True
    assert load_model(folder).labels == pipeline.labels


def nan_model(folder):
    pipeline = HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
                          word_tokenizer(), labels=["business", "sport"])
    with torch.no_grad():
        pipeline.model.classifier.weight[0, 0] = float("nan")
    pipeline.save(folder)
    return folder


def test_nan_weights_are_refused_naming_the_parameter(tmp_path, capsys, topic_corpus_dir):
    folder = nan_model(tmp_path / "nan")
    code, out, err = run_cli(capsys, "explain", "--model", str(folder), "--text", "the cat sat",
                             "--out", str(tmp_path / "page.html"))
    assert code == 2 and err.count("\n") == 1 and "classifier.weight" in err and "not finite" in err
    assert "prediction" not in out and not (tmp_path / "page.html").exists()
    code, _, err = run_cli(capsys, "corpus", "--model", str(folder), "--input", str(topic_corpus_dir),
                           "--out", str(tmp_path / "r.jsonl"), "--quiet")
    assert code == 2 and "classifier.weight" in err and not (tmp_path / "r.jsonl").exists()


def test_outputs_that_are_not_finite_are_refused_naming_the_output(topic_model_dir):
    from doclrp import explain

    pipeline = load_model(topic_model_dir)
    with torch.no_grad():  # finite weights, infinite outputs: past the load-time check
        for parameter in pipeline.model.parameters():
            parameter.mul_(1e38)
    with pytest.raises(DoclrpError, match=r"the model's output '(sport|tech)' is (-?inf|nan) \(not finite\)"):
        explain(pipeline, "the team won the cup final")


def test_a_vocab_json_that_is_a_list_is_named(topic_model_dir, tmp_path):
    import shutil

    folder = tmp_path / "model"
    shutil.copytree(topic_model_dir, folder)
    state = next(p for p in folder.glob("*.json") if p.name != "config.json")
    state.write_text("[1, 2, 3]")
    with pytest.raises(DoclrpError, match=rf"{state.name} holds a JSON list"):
        load_model(folder)


def _folder_without_head(folder):
    """A tiny BERT saved with ``save_pretrained``, then its classifier weights taken out."""
    from safetensors.torch import load_file, save_file

    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
               word_tokenizer()).save(folder)
    weights = load_file(folder / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not k.startswith("classifier.")}, folder / "model.safetensors",
              metadata={"format": "pt"})
    return folder


def test_a_random_classification_head_warns_once_in_one_line(tmp_path, capsys):
    import warnings

    from doclrp.models.hf.pipeline import RandomHeadWarning

    headless = _folder_without_head(tmp_path / "headless")
    with pytest.warns(RandomHeadWarning, match=r"no trained classification head \(classifier.bias, "
                                               r"classifier.weight missing.*random head") as caught:
        load_model(headless)
    assert len(caught) == 1
    trained = tmp_path / "trained"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
               word_tokenizer()).save(trained)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RandomHeadWarning)
        load_model(trained)  # a head in the weights: no warning
    code, out, err = run_cli(capsys, "explain", "--model", str(headless), "--text", "good film")
    assert code == 0, err
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("doclrp: warning: ") and "random head" in lines[0], err


# -- configurations with wrong value types, pickles torch refuses (issue 22 §3) --------------------------
@pytest.fixture(scope="module")
def saved_bert(tmp_path_factory):
    folder = tmp_path_factory.mktemp("bert") / "bert"
    HFPipeline(tiny_model("bert", n_labels=2, vocab=len(WORDS), max_position_embeddings=12),
               word_tokenizer()).save(folder)
    return folder


def _broken(saved_bert, tmp_path, **changes):
    import shutil

    folder = tmp_path / "broken"
    shutil.copytree(saved_bert, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("changes, fragment", [
    ({"hidden_size": "sixteen"}, "hidden_size must be a whole number of at least 1, got 'sixteen'"),
    ({"num_attention_heads": 0}, "num_attention_heads must be a whole number of at least 1, got 0"),
    ({"num_attention_heads": 3}, "hidden_size 16 does not split over num_attention_heads 3"),
    ({"vocab_size": None}, "cannot load the model in"),
    ({"hidden_act": 7}, "cannot load the model in"),
    ({"pad_token_id": 999}, "cannot load the model in"),  # torch's Embedding asserts padding_idx < num_embeddings
])
def test_a_config_with_wrong_value_types_is_one_line_everywhere(changes, fragment, saved_bert, topic_corpus_dir,
                                                                tmp_path, capsys):
    folder = _broken(saved_bert, tmp_path, **changes)
    for argv in [("explain", "--model", str(folder), "--text", "the cat sat", "--out", str(tmp_path / "p.html")),
                 ("corpus", "--model", str(folder), "--input", str(topic_corpus_dir), "--out",
                  str(tmp_path / "r.jsonl"), "--quiet"),
                 ("evaluate", "--model", str(folder), "--corpus", str(topic_corpus_dir)),
                 ("train", "--model", str(folder), "--corpus", str(topic_corpus_dir), "--out", str(tmp_path / "t"),
                  "--quiet", "--epochs", "1")]:
        code, _, err = run_cli(capsys, *argv)
        assert code == 2 and err.count("\n") == 1 and fragment in err and "Traceback" not in err, (argv, err)
    assert not any(p.name in ("p.html", "r.jsonl", "t") for p in tmp_path.iterdir())


def test_allow_pickle_on_a_pickle_torch_refuses_is_one_line(saved_bert, tmp_path, capsys):
    import pickle
    import shutil

    folder = tmp_path / "pickled"
    shutil.copytree(saved_bert, folder)
    (folder / "model.safetensors").unlink()
    # An object torch's weights-only loader does not allow (as a file that runs code would hold).
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps({"x": Path("anything")}))
    code, _, err = run_cli(capsys, "explain", "--model", str(folder), "--text", "the cat sat", "--allow-pickle",
                           "--out", str(tmp_path / "p.html"))
    assert code == 2 and err.count("\n") == 1 and "Traceback" not in err
    assert "torch's safe loader refuses its pickled weights" in err and not (tmp_path / "p.html").exists()
