"""Time and memory of explaining one document against its size: linear, also for pathological text.

Every measurement is a fresh ``doclrp`` command in its own process, as a user runs it, its
wall time and peak resident memory (``wait4``) taken from outside:

* ``explain``: ``doclrp explain --file DOC --out page.html --timings`` (the shipped BBC CNN):
  loading, reading, splitting words, encoding, the model passes, words and sentences, the page
  (per-stage seconds from ``--timings``);
* ``corpus``: ``doclrp corpus`` over a JSONL file holding that one document (``--max-chars``
  raised, ``--doc-timeout off``): one document of a corpus run, its record written.

Memory is reported above the same command on a one-line document (the model, spaCy and torch
are the same for every size), and a least-squares line through the sizes gives MiB per MB of
text and seconds per MB. Documents:

* ``news``: BBC articles joined by blank lines up to the size (ordinary text);
* ``emoji``: one run of a single emoji (spaCy's tokenizer is quadratic on such runs; doclrp
  gives it the run in pieces, :func:`doclrp.text.words.split_long_runs`);
* ``punctuation``: a run of alternating ``!?`` (any long run without a space).

``--budget SECONDS`` adds the time budget's check: ``doclrp explain --doc-timeout SECONDS`` on
the largest document (how long after its start the document was stopped, and where), and a
corpus run of that document between two short ones with ``--doc-timeout SECONDS --on-error
skip`` (the long one skipped with its reason, the run going on).

    python benchmarks/document_size.py [--sizes 0.1,0.5,1,5,20] [--kinds news] [--budget 10 [--budget-only]]
                                       [--no-corpus] [--out FILE]

Results: printed, and written to ``benchmarks/results/document_size.json`` (or ``--out``).
Issue 28's goals: at most 60 MiB per MB of text, 5 MB within 12x the wall time of 0.5 MB, a
20 MB document in under 10 minutes, a 5 MB document under ``--doc-timeout 10`` stopped within 15 s.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from measure import add_out_argument, results_path, write_results

KINDS = ("news", "emoji", "punctuation")
MB = 1_000_000
ONE_LINE = "Shares rose after the results."


def document(kind: str, size: int) -> str:
    """A document of ``size`` characters of ``kind``."""
    if kind == "emoji":
        return "Markets reacted. " + "😀" * size
    if kind == "punctuation":
        return "Markets reacted. " + "!?" * (size // 2)
    from doclrp.corpus import read_bbc  # here: only the measuring process needs the corpus

    texts, total = [], 0
    for record in read_bbc():
        texts.append(record.text)
        total += len(record.text) + 2
        if total >= size:
            break
    text = "\n\n".join(texts)
    while len(text) < size:
        text = text + "\n\n" + text
    return text[:size]


def run_command(arguments: list[str], folder: Path) -> dict[str, Any]:
    """Run ``doclrp ARGUMENTS`` in a fresh process: wall seconds, peak RSS (MiB), exit code, output."""
    out, err = folder / "stdout.txt", folder / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        process = subprocess.Popen([sys.executable, "-m", "doclrp.cli", *arguments], stdout=stdout, stderr=stderr,
                                   cwd=folder)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    stderr_text = err.read_text(encoding="utf-8", errors="replace")
    timings = {}
    for line in stderr_text.splitlines():
        if line.startswith("timings "):
            timings = json.loads(line.removeprefix("timings "))
    return {"seconds": seconds, "peak_rss_mib": usage.ru_maxrss / 1024, "exit_code": process.returncode,
            "stages": timings, "stdout": out.read_text(encoding="utf-8", errors="replace")[-2000:],
            "stderr": stderr_text[-2000:]}


def explain_command(model: str, path: Path, page: Path, extra: list[str] = ()) -> list[str]:
    return ["explain", "--model", model, "--file", str(path), "--out", str(page), "--timings",
            "--max-chars", str(10**9), *extra]


def corpus_command(model: str, path: Path, results: Path, extra: list[str] = ()) -> list[str]:
    results.unlink(missing_ok=True)  # a fresh run each time: results of the same settings are continued, not redone
    return ["corpus", "--model", model, "--input", str(path), "--out", str(results), "--max-chars", str(10**9),
            "--quiet", "--overwrite", *(extra or ["--doc-timeout", "off"])]


def write_corpus(path: Path, texts: dict[str, str]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for id, text in texts.items():
            handle.write(json.dumps({"id": id, "text": text}) + "\n")
    return path


def linear_fit(sizes: list[float], values: list[float]) -> dict[str, float]:
    """Least-squares line ``value = slope × MB + intercept`` and how well it fits (R²)."""
    x, y = np.asarray(sizes, float), np.asarray(values, float)
    if len(x) < 2:
        return {}
    slope, intercept = np.polyfit(x, y, 1)
    residual = float(((y - (slope * x + intercept)) ** 2).sum())
    spread = float(((y - y.mean()) ** 2).sum())
    return {"slope_per_mb": float(slope), "intercept": float(intercept),
            "r2": 1.0 - residual / spread if spread > 0 else 1.0}


def measure(kind: str, size: int, model: str, folder: Path, base: dict[str, float],
            with_corpus: bool) -> dict[str, Any]:
    text = document(kind, size)
    path = folder / f"{kind}-{size}.txt"
    path.write_text(text, encoding="utf-8")
    explained = run_command(explain_command(model, path, folder / "page.html"), folder)
    if explained["exit_code"] != 0:
        raise SystemExit(f"doclrp explain failed on {kind} {size}: {explained['stderr']}")
    row: dict[str, Any] = {
        "kind": kind, "characters": len(text), "mb": len(text) / MB,
        "explain": {"seconds": explained["seconds"], "peak_rss_mib": explained["peak_rss_mib"],
                    "peak_added_mib": explained["peak_rss_mib"] - base["explain"],
                    "stages": explained["stages"], "page_bytes": (folder / "page.html").stat().st_size},
    }
    if with_corpus:
        corpus = write_corpus(folder / "one.jsonl", {"doc": text})
        ran = run_command(corpus_command(model, corpus, folder / "results.jsonl"), folder)
        if ran["exit_code"] != 0:
            raise SystemExit(f"doclrp corpus failed on {kind} {size}: {ran['stderr']}")
        row["corpus"] = {"seconds": ran["seconds"], "peak_rss_mib": ran["peak_rss_mib"],
                         "peak_added_mib": ran["peak_rss_mib"] - base["corpus"],
                         "results_bytes": (folder / "results.jsonl").stat().st_size}
    path.unlink()
    return row


def budget_check(kind: str, size: int, seconds: float, model: str, folder: Path) -> dict[str, Any]:
    """The budget on the largest document: ``explain --doc-timeout`` and a corpus run around it."""
    text = document(kind, size)
    path = folder / "budget.txt"
    path.write_text(text, encoding="utf-8")
    stopped = run_command(explain_command(model, path, folder / "budget.html", ["--doc-timeout", str(seconds)]),
                          folder)
    document_seconds = sum(stopped["stages"].values())
    corpus = write_corpus(folder / "budget.jsonl", {"short-1": ONE_LINE, "long": text, "short-2": ONE_LINE})
    ran = run_command(corpus_command(model, corpus, folder / "budget-results.jsonl",
                                     ["--doc-timeout", str(seconds), "--on-error", "skip"]), folder)
    records = [json.loads(line) for line in (folder / "budget-results.jsonl").read_text().splitlines()[1:]]
    return {
        "kind": kind, "characters": len(text), "doc_timeout": seconds,
        "explain": {"exit_code": stopped["exit_code"], "message": stopped["stderr"].strip().splitlines()[-1:],
                    "command_seconds": stopped["seconds"], "document_seconds": document_seconds,
                    "stages": stopped["stages"]},
        "corpus": {"exit_code": ran["exit_code"], "seconds": ran["seconds"],
                   "records": {r["id"]: r["skipped"] for r in records}},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.1,0.5,1,5,20", help="document sizes in MB (million characters)")
    parser.add_argument("--kinds", default="news", help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--no-corpus", action="store_true", help="measure doclrp explain only")
    parser.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                        help="also check --doc-timeout SECONDS on the largest document")
    parser.add_argument("--budget-only", action="store_true", help="only the --budget check")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    from doclrp import pretrained_path

    model = str(pretrained_path())
    sizes = [float(s) for s in args.sizes.split(",")]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "one.txt").write_text(ONE_LINE, encoding="utf-8")
        one = run_command(explain_command(model, folder / "one.txt", folder / "page.html"), folder)
        base = {"explain": one["peak_rss_mib"], "explain_seconds": one["seconds"]}
        line = run_command(corpus_command(model, write_corpus(folder / "line.jsonl", {"one": ONE_LINE}),
                                          folder / "results.jsonl"), folder)
        base.update(corpus=line["peak_rss_mib"], corpus_seconds=line["seconds"])
        print(f"one-line document: explain {base['explain_seconds']:.1f} s, {base['explain']:.0f} MiB peak; "
              f"corpus {base['corpus_seconds']:.1f} s, {base['corpus']:.0f} MiB peak", flush=True)
        print(f"{'kind':8s} {'MB':>5s} {'explain s':>10s} {'added MiB':>10s} {'MiB/MB':>7s} {'page MB':>8s} "
              f"{'corpus s':>9s} {'added MiB':>10s}  stages (s)", flush=True)
        for kind in [] if args.budget_only else args.kinds.split(","):
            for size in sizes:
                row = measure(kind, int(size * MB), model, folder, base, not args.no_corpus)
                rows.append(row)
                e, c = row["explain"], row.get("corpus", {})
                stages = ", ".join(f"{name} {s:.1f}" for name, s in e["stages"].items())
                print(f"{kind:8s} {row['mb']:5.1f} {e['seconds']:10.1f} {e['peak_added_mib']:10.0f} "
                      f"{e['peak_added_mib'] / row['mb']:7.1f} {e['page_bytes'] / MB:8.1f} "
                      f"{c.get('seconds', float('nan')):9.1f} {c.get('peak_added_mib', float('nan')):10.0f}  {stages}",
                      flush=True)
        fits = {}
        for kind in [] if args.budget_only else args.kinds.split(","):
            mine = [r for r in rows if r["kind"] == kind]
            mb = [r["mb"] for r in mine]
            fits[kind] = {"explain_mib": linear_fit(mb, [r["explain"]["peak_added_mib"] for r in mine]),
                          "explain_seconds": linear_fit(mb, [r["explain"]["seconds"] for r in mine])}
            if not args.no_corpus:
                fits[kind]["corpus_mib"] = linear_fit(mb, [r["corpus"]["peak_added_mib"] for r in mine])
                fits[kind]["corpus_seconds"] = linear_fit(mb, [r["corpus"]["seconds"] for r in mine])
            by_size = {round(r["mb"], 3): r["explain"]["seconds"] for r in mine}
            if 0.5 in by_size and 5.0 in by_size:
                fits[kind]["explain_seconds_5mb_over_0_5mb"] = by_size[5.0] / by_size[0.5]
            for name, fit in fits[kind].items():
                if isinstance(fit, dict) and fit:
                    print(f"{kind} {name}: {fit['slope_per_mb']:.2f} per MB + {fit['intercept']:.1f} "
                          f"(R² {fit['r2']:.3f})")
                elif not isinstance(fit, dict):
                    print(f"{kind} {name}: {fit:.2f}")
        budget = None
        if args.budget is not None:
            budget = budget_check(args.kinds.split(",")[0], int(max(sizes) * MB), args.budget, model, folder)
            e = budget["explain"]
            print(f"--doc-timeout {args.budget:g} on {max(sizes):g} MB: explain exit {e['exit_code']} after "
                  f"{e['document_seconds']:.1f} s of document work ({e['command_seconds']:.1f} s with loading): "
                  f"{' '.join(e['message'])}")
            print(f"corpus run around it: exit {budget['corpus']['exit_code']} in {budget['corpus']['seconds']:.1f} s, "
                  f"records {budget['corpus']['records']}")
    write_results(results_path(args, __file__), __file__, args,
                  {"baseline": base, "documents": rows, "fits": fits, "budget": budget})


if __name__ == "__main__":
    main()
