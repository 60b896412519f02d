"""The command line in everyday use: no traceback for a bad device or a broken model
configuration, a fast ``--help`` (torch is not imported before parsing), missing files answered
before the commands load, and no carriage-return flood from progress bars in logs."""

import json
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from references import run_cli

ROOT = Path(__file__).resolve().parents[1]

# Run `doclrp ARGS` in a fresh interpreter and print, after it, which heavy modules it imported.
_PROBE = """
import sys
from doclrp.cli import main
try:
    code = main(sys.argv[1:])
except SystemExit as exit:
    code = exit.code
heavy = sorted(m for m in ("torch", "transformers", "spacy", "numpy", "sklearn") if m in sys.modules)
print("HEAVY=" + ",".join(heavy), file=sys.stderr)
sys.exit(code)
"""


def _probe(*argv):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    done = subprocess.run([sys.executable, "-c", _PROBE, *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=120)
    heavy = done.stderr.rsplit("HEAVY=", 1)[1].strip()
    return done.returncode, done.stdout, done.stderr, heavy


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["--version"],
    ["explain", "--help"],
    ["explain", "--model"],                                          # argument error
    ["explain", "--model", "no-such-folder", "--text", "Hi.", "--out", "p.html"],
    ["explain", "--model", str(ROOT / "doclrp" / "pretrained" / "bbc-cnn"), "--file", "no-such.txt",
     "--out", "p.html"],
    ["corpus", "--model", "m"],
    ["evaluate", "--model", "no-such-folder"],
    ["train", "--model", "no-such-folder", "--out", "never-written"],
])
def test_help_argument_and_missing_file_errors_import_no_torch(argv):
    code, out, err, heavy = _probe(*argv)
    assert heavy == "", f"{argv} imported {heavy}"
    if argv[-1] == "--help":
        assert code == 0 and "usage: doclrp" in out
    elif argv[-1] == "--version":
        import doclrp

        assert code == 0 and out == f"doclrp {doclrp.__version__}\n", out
    else:
        assert code == 2
        assert "Traceback" not in err


def test_console_module_runs():
    done = subprocess.run([sys.executable, "-m", "doclrp.cli", "--help"], capture_output=True, text=True, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == 0 and "explain" in done.stdout


def test_library_still_whole_after_lazy_package_import():
    import doclrp

    assert set(doclrp.__all__) <= set(dir(doclrp))
    assert all(getattr(doclrp, name) is not None for name in doclrp.__all__)
    with pytest.raises(AttributeError):
        doclrp.no_such_name  # noqa: B018


def test_public_names_are_the_packages_own():
    import doclrp
    import doclrp.core

    assert doclrp.register_composite is doclrp.core.register_composite
    assert doclrp.attribute is doclrp.core.attribute
    assert doclrp.render is importlib.import_module("doclrp.render")
    assert len(doclrp.__all__) == len(set(doclrp.__all__))
    doclrp.register_composite("epsilon-quarter", lambda: doclrp.core.composites.epsilon(eps=0.25))
    try:
        assert "epsilon-quarter" in doclrp.method_names()
    finally:
        del doclrp.core.COMPOSITES["epsilon-quarter"]


def test_bogus_device_is_one_line(topic_model_dir, tmp_path, capsys):
    for argv in (["explain", "--model", str(topic_model_dir), "--text", "a goal", "--out", str(tmp_path / "p.html")],
                 ["corpus", "--model", str(topic_model_dir), "--input", "bbc", "--out", str(tmp_path / "r.jsonl")],
                 ["train", "--out", str(tmp_path / "m")]):
        code, out, err = run_cli(capsys, *argv, "--device", "bogus")
        assert code == 2 and err.strip().count("\n") == 0 and "unknown device 'bogus'" in err, err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("config", ["{not json", "[1, 2]", "\xff\xfe"])
def test_train_on_folder_with_broken_config_is_one_line(config, tmp_path, capsys):
    folder = tmp_path / "hf"
    folder.mkdir()
    (folder / "config.json").write_bytes(config.encode("latin-1"))
    code, out, err = run_cli(capsys, "train", "--model", str(folder), "--out", str(tmp_path / "out"))
    assert code == 2 and err.startswith("doclrp: error: ") and err.strip().count("\n") == 0, err
    assert "config.json" in err
    assert not (tmp_path / "out").exists()


def test_progress_bar_writes_no_carriage_returns_when_stderr_is_not_a_terminal(topic_model_dir, topic_corpus_dir,
                                                                             tmp_path, capsys):
    # capsys's stderr is not a terminal, as in a log file or CI.
    out = tmp_path / "r.jsonl"
    code, _, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(topic_corpus_dir),
                           "--out", str(out), "--batch-size", "1")
    assert code == 0, err
    assert "\r" not in err
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 24


def test_training_progress_writes_no_carriage_returns_when_stderr_is_not_a_terminal(topic_corpus_dir, tmp_path,
                                                                                   capsys):
    from doclrp.training import train

    train(str(topic_corpus_dir), model="bag", out=tmp_path / "m", epochs=2, progress=True, min_freq=1,
          batch_size=2, model_options={"embed_dim": 4})
    captured = capsys.readouterr()
    assert "\r" not in captured.err
    assert json.loads((tmp_path / "m" / "config.json").read_text())


def test_device_defaults_to_auto_resolved_once_and_said_first(topic_model_dir, topic_corpus_dir, tmp_path, capsys):
    import torch

    from doclrp.cli.parsers import build_parser

    expected = "device: " + ("cuda" if torch.cuda.is_available() else "cpu")
    model = str(topic_model_dir)
    for argv in (["explain", "--model", model, "--text", "a goal", "--out", "p"], ["corpus", "--model", model], ["serve"],
                 ["evaluate", "--model", model], ["train", "--out", "m"]):
        assert build_parser().parse_args(argv).device == "auto", argv
    for argv in (["explain", "--model", model, "--text", "a late goal", "--out", str(tmp_path / "p.html")],
                 ["corpus", "--model", model, "--input", str(topic_corpus_dir), "--out", str(tmp_path / "r.jsonl"),
                  "--quiet"],
                 ["evaluate", "--model", model, "--corpus", str(topic_corpus_dir), "--split", "all", "--docs", "2",
                  "--methods", "random", "--k", "1", "--steps", "2"]):
        code, out, err = run_cli(capsys, *argv)
        assert code == 0, err
        assert out.splitlines()[0] == expected, (argv, out)
