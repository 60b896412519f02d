"""``doclrp serve`` under a costly request: how soon work past ``--timeout`` lets its model go,
how long the model list takes meanwhile, and how soon SIGTERM / Ctrl+C stop the server.

    python benchmarks/serve_faults.py [--timeout 2] [--repeats 3] [--minilm] [--out FILE]

The costly request is integrated gradients at its most steps (1024) on a 10,000-character
text: minutes of work. In this process (``create_app``, as the tests use it), per model:

- ``stop_s``: from the request's deadline (sent + ``--timeout``) to the moment its model's
  queue is idle again (the work stopped by :mod:`doclrp.core.cancel`, the model free);
- ``models_list_ms``: ``GET /api/models`` while the model is busy (median);
- ``grad_x_input_ms``: one gradient × input explanation of the same text, for scale (the
  stop takes effect within one tensor operation, far less than one such pass).

Then ``doclrp serve`` in its own process with the costly request running: seconds from
SIGTERM (and from SIGINT, Ctrl+C) to the process's end. Written to
``benchmarks/results/serve_faults.json`` (or ``--out``). Figures: the web app tutorial of the site (docs/tutorials/web-app.md).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import add_out_argument, results_path, write_results  # noqa: E402

from fastapi.testclient import TestClient  # noqa: E402

import doclrp  # noqa: E402
from doclrp.serve import Limits, create_app  # noqa: E402

BASE = "http://127.0.0.1:8765"
SENTENCE = ("The striker scored twice in the final and the club lifted the cup. "
            "Shares in the broadcaster rose after the match drew record viewers. ")
TEXT = (SENTENCE * (10_000 // len(SENTENCE) + 1))[:10_000]
HEAVY = {"text": TEXT, "method": "integrated-gradients", "params": {"steps": 1024}}


def stop_after_timeout(app, model: str, timeout: float) -> dict:
    queue = app.state.queues[model]
    client = TestClient(app, base_url=BASE)
    replies: list = []
    sent = time.monotonic()
    thread = threading.Thread(target=lambda: replies.append(
        TestClient(app, base_url=BASE).post("/api/explain", json={**HEAVY, "model": model})))
    thread.start()
    while not queue.busy:
        time.sleep(0.005)
    listing = []
    while time.monotonic() < sent + timeout - 0.2:  # the model list while the model works
        one = time.monotonic()
        assert client.get("/api/models").status_code == 200
        listing.append(time.monotonic() - one)
        time.sleep(0.05)
    while queue.busy:
        time.sleep(0.001)
    free = time.monotonic()
    thread.join()
    assert replies[0].status_code == 503, replies[0].text
    return {"stop_s": free - (sent + timeout), "models_list_ms": 1000 * statistics.median(listing),
            "models_list_max_ms": 1000 * max(listing)}


def grad_x_input_ms(app, model: str) -> float:
    pipeline = app.state.registry.get(model).pipeline
    doclrp.explain(pipeline, TEXT[:500], method="gradient-x-input")
    started = time.perf_counter()
    doclrp.explain(pipeline, TEXT, method="gradient-x-input")
    return 1000 * (time.perf_counter() - started)


def stop_on_signal(sig: int, models: list[str]) -> float:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    server = subprocess.Popen([sys.executable, "-m", "doclrp.cli", "serve", "--port", "0", "--device", "cpu",
                               "--timeout", "600", *(["--models", *models] if models else [])],
                              stdout=subprocess.PIPE, text=True, env=env)
    url = ""
    for line in server.stdout:
        if line.startswith("doclrp serve: open "):
            url = line.split()[3]
            break
    request = urllib.request.Request(url + "api/explain", data=json.dumps(HEAVY).encode(),
                                     headers={"Content-Type": "application/json"})

    def ask() -> None:
        try:
            urllib.request.urlopen(request, timeout=600).read()
        except (urllib.error.URLError, ConnectionError):
            pass

    threading.Thread(target=ask, daemon=True).start()
    time.sleep(3)  # the costly request is running
    sent = time.monotonic()
    server.send_signal(sig)
    server.wait(60)
    return time.monotonic() - sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=2.0, help="the server's --timeout (seconds)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--minilm", action="store_true", help="also the MiniLM transformer (AttnLRP's model)")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    models = {"bbc-cnn": doclrp.pretrained_path()}
    if args.minilm:
        from doclrp.models.hf import minilm_path

        models["minilm"] = minilm_path()
    app = create_app(models=models, limits=Limits(timeout_s=args.timeout, batch_window_s=0), digits=False)
    results: dict = {"text_chars": len(TEXT), "timeout_s": args.timeout, "models": {}}
    for model in models:
        # Warm: spaCy's pipeline loads on the first explanation (seconds, and not an operation a stop can cut).
        TestClient(app, base_url=BASE).post("/api/explain", json={"text": SENTENCE, "model": model})
        runs = [stop_after_timeout(app, model, args.timeout) for _ in range(args.repeats)]
        line = {"stop_s_median": statistics.median(r["stop_s"] for r in runs),
                "stop_s_max": max(r["stop_s"] for r in runs),
                "models_list_ms_median": statistics.median(r["models_list_ms"] for r in runs),
                "models_list_ms_max": max(r["models_list_max_ms"] for r in runs),
                "grad_x_input_ms": grad_x_input_ms(app, model)}
        results["models"][model] = line
        print(f"{model:8s} stopped {line['stop_s_median'] * 1000:6.0f} ms after the deadline (max "
              f"{line['stop_s_max'] * 1000:.0f}); model list meanwhile {line['models_list_ms_median']:.1f} ms "
              f"(max {line['models_list_ms_max']:.1f}); one gradient×input pass {line['grad_x_input_ms']:.0f} ms")
    app.state.server.close()
    extra = [str(path) for id, path in models.items() if id != "bbc-cnn"]
    for sig in (signal.SIGTERM, signal.SIGINT):
        seconds = stop_on_signal(sig, extra)
        results[f"{signal.Signals(sig).name}_s"] = seconds
        print(f"doclrp serve ended {seconds:.2f} s after {signal.Signals(sig).name} with the costly request running")
    write_results(results_path(args, __file__, *(["minilm"] if args.minilm else [])), __file__, args, results)


if __name__ == "__main__":
    main()
