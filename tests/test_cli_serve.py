"""``doclrp serve`` from the command line: the URL it prints, the warning off loopback, one-line
errors; the server itself is not started (its run is replaced)."""

from __future__ import annotations

import socket

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")

import doclrp  # noqa: E402
from doclrp.cli import main  # noqa: E402


@pytest.fixture
def served(monkeypatch):
    """The apps and sockets ``doclrp serve`` would run."""
    runs = []

    def fake_run(self, sockets=None):
        runs.append((self.config.app, sockets))
        for sock in sockets or ():
            sock.close()

    monkeypatch.setattr(uvicorn.Server, "run", fake_run)
    return runs


def test_serve_prints_its_url_and_serves_the_shipped_model(served, capsys):
    assert main(["serve", "--port", "0"]) == 0
    out, err = capsys.readouterr()
    device, opened = out.splitlines()[:2]
    assert device in ("device: cpu", "device: cuda") and err == ""  # --device auto, said first
    assert opened.startswith("doclrp serve: open http://127.0.0.1:")
    app, sockets = served[0]
    assert app.state.registry.ids() == ["bbc-cnn"] and app.state.limits.max_chars == 50_000


def test_serve_adds_model_folders_and_limits(served, capsys, topic_model_dir):
    assert main(["serve", "--port", "0", "--models", str(topic_model_dir), "--max-chars", "500"]) == 0
    app, _ = served[0]
    assert app.state.registry.ids()[0] == "bbc-cnn" and len(app.state.registry.ids()) == 2
    assert app.state.limits.max_chars == 500


def test_serve_browses_results_and_batches_as_told(served, capsys, tmp_path):
    from doclrp.corpus.output import open_results_writer, run_header, skipped_record

    out = tmp_path / "My Run.jsonl"
    header = run_header(model_sha256="ab", method={"name": "epsilon", "params": {}},
                        target={"name": None, "weights": None}, input="bbc")
    with open_results_writer(out, header) as writer:
        writer.write_batch([skipped_record("a", "pos", "empty document")])
        writer.finish()
    assert main(["serve", "--port", "0", "--results", str(out), "--batch-window", "0", "--max-batch", "4"]) == 0
    app, _ = served[0]
    assert (app.state.limits.batch_window_s, app.state.limits.max_batch) == (0.0, 4)
    assert [r["id"] for r in app.state.results] == ["my-run"]


def test_serve_warns_off_loopback(served, capsys):
    assert main(["serve", "--host", "0.0.0.0", "--port", "0"]) == 0
    assert "warning: serving on 0.0.0.0" in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--models", "no/such/folder"], "no model folder at no/such/folder"),
    (["--max-chars", "0"], "must be positive"),
    (["--port", "70000"], "not a port number"),
    (["--results", "no/such/results.jsonl"], "no results file at no/such/results.jsonl"),
    (["--batch-window", "5"], "--batch-window takes 0 to 1 seconds"),
    (["--max-batch", "0"], "--max-batch 1 to 256"),
    (["--max-queue", "0"], "--max-queue takes 1 to 10000 requests"),
    (["--models", str(doclrp.pretrained_path() / "vocab.json")], "cannot serve model vocab.json: "),
])
def test_serve_user_errors_are_one_line(served, capsys, argv, message):
    assert main(["serve", "--port", "0", *argv] if "--port" not in argv else ["serve", *argv]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1 and not served


def test_a_port_in_use_is_one_line(served, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        assert main(["serve", "--port", str(taken.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_serve_takes_every_model_format_and_checks_models_before_the_port_opens(served, capsys, tmp_path,
                                                                                topic_model_dir):
    """A .skops file serves like a folder; a model with NaN weights, a missing one: one line each
    at start-up, exit 2, no server."""
    import skops.io
    import torch
    from fastapi.testclient import TestClient
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from doclrp import load_model
    from doclrp.models.io import save_pipeline
    from doclrp.serve import create_app

    fitted = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(
        ["good fun", "bad dull", "great film", "awful plot"] * 3, ["pos", "neg", "pos", "neg"] * 3)
    skops.io.dump(fitted, tmp_path / "Reviews.skops")
    assert main(["serve", "--port", "0", "--models", str(tmp_path / "Reviews.skops")]) == 0
    app, _ = served.pop()
    assert app.state.registry.ids() == ["bbc-cnn", "reviews"]
    assert app.state.registry.get("reviews").info["labels"] == ["neg", "pos"]
    # (the command's app is closed once its run returns: the same models in a new one)
    app = create_app(models=[tmp_path / "Reviews.skops"], digits=False)
    reply = TestClient(app, base_url="http://127.0.0.1:8765").post(
        "/api/explain", json={"text": "good fun", "model": "reviews"})
    assert reply.status_code == 200 and [w["text"] for w in reply.json()["words"]] == ["good", "fun"]

    broken = load_model(topic_model_dir)
    with torch.no_grad():
        next(broken.model.parameters()).view(-1)[0] = float("nan")
    save_pipeline(broken, tmp_path / "broken")
    capsys.readouterr()
    assert main(["serve", "--port", "0", "--models", str(tmp_path / "broken"), str(tmp_path / "gone.skops")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "doclrp: error: 2 models cannot be served:" and len(err) == 3 and not served
    assert err[1].startswith("  broken: ") and "not finite" in err[1]
    assert err[2].startswith("  gone: no model file at")
