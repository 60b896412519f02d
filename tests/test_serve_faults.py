"""``doclrp serve`` under a costly request: parameters bounded, work past ``--timeout`` stopped
and its model free again, the other models and the model list answered meanwhile, a full
queue refused at once with Retry-After, and the server stopping on SIGTERM / Ctrl+C while
work runs (in a subprocess, as ``doclrp serve``)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")

from fastapi.testclient import TestClient  # noqa: E402

import doclrp  # noqa: E402
from doclrp.cli import main  # noqa: E402
from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline  # noqa: E402
from doclrp.serve import Limits, create_app  # noqa: E402

BASE = "http://127.0.0.1:8765"
TEXT = ("The striker scored twice in the final and the club lifted the cup. "
        "Shares in the broadcaster rose after the match drew record viewers. ")
# Integrated gradients at its most steps on a long text: minutes of work for the shipped CNN.
HEAVY = {"text": TEXT * 40, "model": "bbc-cnn", "method": "integrated-gradients", "params": {"steps": 1024}}
WAIT_S = 60  # how long a test waits for something that happens in well under a second when the machine is idle


def _tiny() -> TextPipeline:
    encoder = IdEncoder.fit(["good fun", "bad dull"])
    return TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])


def _post(app, payload, path="/api/explain"):
    # One client per thread, as browsers would be.
    return TestClient(app, base_url=BASE).post(path, json=payload)


def _until(condition, what):
    deadline = time.monotonic() + WAIT_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.02)


@pytest.mark.parametrize("params, fragment", [
    ({"steps": 10**9}, "steps of 'integrated-gradients' takes 1 to 1024, got 1000000000"),
    ({"steps": 0}, "takes 1 to 1024, got 0"),
])
def test_method_parameters_are_bounded_in_the_api_and_on_the_command_line(params, fragment, capsys):
    client = TestClient(create_app(models={"tiny": _tiny()}, digits=False), base_url=BASE)
    reply = client.post("/api/explain", json={"text": "good", "method": "integrated-gradients", "params": params})
    assert reply.status_code == 422 and fragment in reply.json()["error"]
    reply = client.post("/api/explain", json={"text": "good", "method": "occlusion", "params": {"batch_size": 5000}})
    assert reply.status_code == 422 and "batch_size of 'occlusion' takes 1 to 256" in reply.json()["error"]
    argv = ["explain", "--model", str(doclrp.pretrained_path()), "--text", "hi", "--method", "integrated-gradients",
            *[f"--param={k}={v}" for k, v in params.items()]]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and err.count("\n") == 1


def test_a_heavy_request_stops_at_the_timeout_while_everything_else_is_answered():
    # 8 s: room for the other requests to be answered while the heavy one runs, on a busy machine too
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path(), "tiny": _tiny()},
                     limits=Limits(timeout_s=8, batch_window_s=0), digits=False)
    queue = app.state.queues["bbc-cnn"]
    client = TestClient(app, base_url=BASE)
    with ThreadPoolExecutor(2) as pool:
        heavy = pool.submit(_post, app, HEAVY)
        _until(lambda: queue.busy, "the heavy request never started")
        # Nothing below waits for the busy model.
        assert client.get("/api/models").status_code == 200
        assert client.get("/api/methods").status_code == 200
        assert client.get("/static/app.js").status_code == 200 and client.get("/").status_code == 200
        other = client.post("/api/explain", json={"text": "good fun", "model": "tiny"})
        assert other.status_code == 200 and [w["text"] for w in other.json()["words"]] == ["good", "fun"]
        assert not heavy.done()  # all of that while the heavy request was still running
        reply = heavy.result(WAIT_S)
    assert reply.status_code == 503 and "took over 8 s (--timeout)" in reply.json()["error"]
    # The runaway work was stopped, not left running: the model answers the next request.
    _until(lambda: not queue.busy, "the heavy work kept running past its time limit")
    normal = client.post("/api/explain", json={"text": TEXT, "model": "bbc-cnn"})
    assert normal.status_code == 200 and normal.json()["words"]


def test_a_full_queue_is_refused_at_once_with_retry_after():
    app = create_app(models={"bbc-cnn": doclrp.pretrained_path()},
                     limits=Limits(timeout_s=120, batch_window_s=0, max_queue=1), digits=False)
    queue = app.state.queues["bbc-cnn"]
    with ThreadPoolExecutor(2) as pool:
        running = pool.submit(_post, app, HEAVY)
        _until(lambda: queue.busy, "the first request never started")
        waiting = pool.submit(_post, app, {**HEAVY, "text": TEXT * 41})
        _until(lambda: queue.waiting == 1, "the second request never queued")
        refused = _post(app, {"text": TEXT, "model": "bbc-cnn"})
        assert refused.status_code == 503 and "is busy (1 requests wait for it)" in refused.json()["error"]
        assert 1 <= int(refused.headers["retry-after"]) <= 120
        assert not running.done() and not waiting.done()
        app.state.server.close()  # a shutdown: the running work stops, the waiting request is answered
        for future in (running, waiting):
            reply = future.result(WAIT_S)
            assert reply.status_code == 503 and reply.json()["error"] == "the server is shutting down"
    assert queue.join(WAIT_S)


def _start_server(*options: str) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    process = subprocess.Popen([sys.executable, "-m", "doclrp.cli", "serve", "--port", "0", "--device", "cpu",
                                *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    assert line.startswith("device: "), line + process.stderr.read()
    line = process.stdout.readline()
    assert line.startswith("doclrp serve: open "), line + process.stderr.read()
    return process, line.split()[3]


def _ask(url: str, payload: dict) -> int:
    request = urllib.request.Request(url + "api/explain", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=WAIT_S) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, ConnectionError):
        return 0  # the server closed the connection as it stopped


@pytest.mark.slow  # a server process started (and its model loaded) per signal
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_the_server_stops_within_seconds_while_work_runs(sig):
    process, url = _start_server("--timeout", "600")
    try:
        with ThreadPoolExecutor(1) as pool:
            heavy = pool.submit(_ask, url, HEAVY)
            time.sleep(2)  # the request is in the model's hands (it runs for minutes)
            assert not heavy.done()
            sent = time.monotonic()
            process.send_signal(sig)
            # Far shorter than the work: the server stopped it instead of waiting for it.
            process.wait(timeout=30)
            stopped = time.monotonic() - sent
            assert heavy.result(WAIT_S) in (503, 0)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    # uvicorn raises a caught SIGTERM again once it has shut down (the default: the process ends
    # by that signal); Ctrl+C ends as doclrp's "interrupted", exit 130.
    assert process.returncode in (0, 130, -signal.SIGTERM), process.stderr.read()
    assert "Traceback" not in process.stderr.read()
    print(f"stopped {stopped:.1f} s after {signal.Signals(sig).name}")


def test_closing_answers_the_running_request_even_when_its_work_cannot_be_stopped_yet():
    """Work outside any tensor operation (spaCy on a long text, a starved thread) is not stopped at
    once; the request is answered at once anyway, so a shutdown never waits for it."""
    import threading

    from doclrp.core.cancel import Cancelled
    from doclrp.serve.queues import SHUTDOWN, ModelQueue

    release = threading.Event()
    queue = ModelQueue("m", lambda key, texts: [release.wait(WAIT_S)] * len(texts), window_s=0)
    future = queue.submit("k", "text", timeout_s=WAIT_S)
    _until(lambda: queue.busy, "the work never started")
    queue.close()
    error = future.exception(timeout=WAIT_S / 2)  # answered, while the work still waits for release
    assert isinstance(error, Cancelled) and str(error) == SHUTDOWN and not release.is_set()
    release.set()
    assert queue.join(WAIT_S)
