"""``doclrp serve`` from the command line: the URL it prints, the warning off loopback, one-line
errors; the server itself is not started (its run is replaced)."""

from __future__ import annotations

import socket

import pytest

uvicorn = pytest.importorskip("uvicorn", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")

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
