"""Throughput and latency of ``doclrp serve`` against calling ``explain`` in a loop.

    python benchmarks/serve.py [--clients 1 4 16] [--requests 64] [--method epsilon]
                               [--batch-window 0.015] [--max-batch 16] [--out FILE]

The server runs in its own process (``doclrp serve --port 0``, the shipped BBC CNN, as a
user starts it); each client is a thread with its own keep-alive HTTP connection that
posts BBC documents to ``POST /api/explain`` one after the other. Every request's text
is unique (a number is appended), so no answer comes from the server's export cache.
The baseline is the same documents explained by ``doclrp.explain(pipeline, text)`` one
at a time in this process, before the server's lines and again after them. Printed per line: requests per second, latency p50 and p95
(milliseconds, the whole HTTP round trip for the server); written to
``benchmarks/results/serve[-<method>].json`` (or ``--out``).

Figures: the web app tutorial of the site (docs/tutorials/web-app.md).
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from measure import add_out_argument, results_path, write_results  # noqa: E402

import doclrp  # noqa: E402
from doclrp.corpus.readers import open_corpus  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary(latencies: list[float], seconds: float) -> dict:
    return {"requests": len(latencies), "seconds": seconds, "requests_per_s": len(latencies) / seconds,
            "p50_ms": 1000 * percentile(latencies, 0.5), "p95_ms": 1000 * percentile(latencies, 0.95),
            "mean_ms": 1000 * statistics.fmean(latencies)}


def start_server(args) -> tuple[subprocess.Popen, str, int]:
    command = [sys.executable, "-c", "import sys; from doclrp.cli import main; sys.exit(main(sys.argv[1:]))",
               "serve", "--port", "0", "--device", "cpu", "--batch-window", str(args.batch_window),
               "--max-batch", str(args.max_batch)]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    for line in server.stdout:
        if line.startswith("doclrp serve: open "):
            url = line.split()[3].rstrip("/")
            host, port = url.removeprefix("http://").rsplit(":", 1)
            wait_until_listening(host, int(port))
            return server, host, int(port)
    raise SystemExit(f"doclrp serve did not start (exit {server.wait()})")


def wait_until_listening(host: str, port: int, seconds: float = 120) -> None:
    """The URL is printed when the socket is bound; uvicorn listens a moment later."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            connection = http.client.HTTPConnection(host, port, timeout=10)
            connection.request("GET", "/api/models")
            if connection.getresponse().status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def run_clients(host: str, port: int, texts: list[str], clients: int, method: str) -> dict:
    queue = list(enumerate(texts))
    lock = threading.Lock()
    latencies: list[float] = []
    failures: list[str] = []

    def client() -> None:
        connection = http.client.HTTPConnection(host, port, timeout=600)
        while True:
            with lock:
                if not queue:
                    break
                _, text = queue.pop()
            body = json.dumps({"text": text, "method": method})
            started = time.perf_counter()
            connection.request("POST", "/api/explain", body, {"Content-Type": "application/json"})
            reply = connection.getresponse()
            data = reply.read()
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)
                if reply.status != 200:
                    failures.append(data.decode()[:200])
        connection.close()

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return summary(latencies, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--requests", type=int, default=64, help="requests per line (default 64)")
    parser.add_argument("--method", default="epsilon")
    parser.add_argument("--batch-window", type=float, default=0.015)
    parser.add_argument("--max-batch", type=int, default=16)
    add_out_argument(parser, __file__)
    args = parser.parse_args()

    corpus = [record.text for record in open_corpus("bbc")]
    # Every class and length: documents spread over the whole corpus.
    documents = corpus[:: max(1, len(corpus) // args.requests)][: args.requests]

    def texts(round: str) -> list[str]:
        return [f"{doc} (request {round}-{i})" for i, doc in enumerate(documents)]

    results: dict = {"documents": len(documents), "mean_chars": statistics.fmean(map(len, documents))}
    pipeline = doclrp.load_model(doclrp.pretrained_path())
    doclrp.explain(pipeline, documents[0], method=args.method)  # warm up
    def loop(round: str) -> dict:
        latencies = []
        started = time.perf_counter()
        for text in texts(round):
            one = time.perf_counter()
            doclrp.explain(pipeline, text, method=args.method)
            latencies.append(time.perf_counter() - one)
        line = summary(latencies, time.perf_counter() - started)
        print(f"explain() in a loop      {line['requests_per_s']:6.1f} req/s   "
              f"p50 {line['p50_ms']:6.1f} ms   p95 {line['p95_ms']:6.1f} ms")
        return line

    # Before and after the server's lines: on a shared machine the load changes while it runs.
    results["explain_loop"] = loop("loop")
    server, host, port = start_server(args)
    try:
        run_clients(host, port, texts("warm")[:4], 1, args.method)  # loads the model
        for clients in args.clients:
            line = run_clients(host, port, texts(f"c{clients}"), clients, args.method)
            results[f"serve_{clients}_clients"] = line
            print(f"serve, {clients:2d} client(s)     {line['requests_per_s']:6.1f} req/s   "
                  f"p50 {line['p50_ms']:6.1f} ms   p95 {line['p95_ms']:6.1f} ms")
    finally:
        server.terminate()
        server.wait(30)
    results["explain_loop_after"] = loop("after")
    variant = [] if args.method == "epsilon" else [args.method]
    write_results(results_path(args, __file__, *variant), __file__, args, results)


if __name__ == "__main__":
    main()
