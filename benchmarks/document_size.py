"""Time and memory of explaining one document against its size: linear, also for pathological text.

Each measurement runs in a fresh Python process (peak memory is a per-process figure): it
loads the shipped BBC CNN and spaCy, then times one ``explain`` of a document of the given
size (words, windows, LRP, words and sentences) and ``to_html`` of the result, and reports
the peak resident memory the explanation added, per MB of text. Documents:

* ``news``: BBC test articles repeated up to the size (ordinary text);
* ``emoji``: one run of a single emoji (spaCy's tokenizer is quadratic on such runs; doclrp
  gives it the run in pieces, :func:`doclrp.text.words.split_long_runs`);
* ``punctuation``: a run of alternating ``!?`` (any long run without a space).

    python benchmarks/document_size.py [--sizes 0.01,0.03,0.1] [--kinds news,emoji,punctuation] [--out FILE]

The default sizes (0.01, 0.03, 0.1 MB) are small so that the script runs in about a minute on
two cores (with other jobs on them, 1 MB of news took two minutes and 0.38 GiB, and 0.2 MB of
emoji already 0.37 GiB); the issue's 0.25/1/5/20 MB run with ``--sizes 0.25,1,5,20`` (an hour or
more, and GiBs: about 2 GiB per MB of emoji text).
``--max-chars`` of the command line refuses documents over 1,000,000 characters by default.
Results: printed, and written to ``benchmarks/results/document_size.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from measure import add_out_argument, results_path, write_results

KINDS = ("news", "emoji", "punctuation")
MB = 1_000_000


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


def _rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure_one(kind: str, size: int) -> dict:
    """One explanation of one document, in this process (called in a child process)."""
    from doclrp import explain, load_model, pretrained_path
    from doclrp.render import to_html
    from doclrp.text import load_spacy, tokenize

    pipeline = load_model(pretrained_path())
    load_spacy()
    explain(pipeline, "Warm up the model and spaCy once.")
    text = document(kind, size)
    before = _rss_mib()
    started = time.perf_counter()
    words = len(tokenize(text))
    tokenized = time.perf_counter()
    explanation = explain(pipeline, text)
    explained = time.perf_counter()
    page = to_html(explanation)
    rendered = time.perf_counter()
    return {"kind": kind, "characters": len(text), "words": words,
            "seconds": {"tokenize": tokenized - started, "explain": explained - tokenized,
                        "to_html": rendered - explained},
            "page_bytes": len(page.encode("utf-8")),
            "peak_memory_added_mib": _rss_mib() - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="0.01,0.03,0.1", help="document sizes in MB (million characters)")
    parser.add_argument("--kinds", default=",".join(KINDS), help=f"comma-separated, of {', '.join(KINDS)}")
    parser.add_argument("--one", nargs=2, metavar=("KIND", "CHARACTERS"), help=argparse.SUPPRESS)
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure_one(args.one[0], int(args.one[1]))))
        return
    rows = []
    print(f"{'kind':12s} {'MB':>6s} {'words':>9s} {'tokenize s':>11s} {'explain s':>10s} {'to_html s':>10s} "
          f"{'page MB':>8s} {'peak MiB':>9s} {'MiB per MB':>11s}")
    for kind in args.kinds.split(","):
        for size in (float(s) for s in args.sizes.split(",")):
            child = subprocess.run([sys.executable, __file__, "--one", kind, str(int(size * MB))],
                                   capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
            row = json.loads(child.stdout.strip().splitlines()[-1])
            row["peak_memory_mib_per_mb"] = row["peak_memory_added_mib"] / (row["characters"] / MB)
            rows.append(row)
            s = row["seconds"]
            print(f"{kind:12s} {row['characters'] / MB:6.2f} {row['words']:9d} {s['tokenize']:11.2f} "
                  f"{s['explain']:10.2f} {s['to_html']:10.2f} {row['page_bytes'] / MB:8.1f} "
                  f"{row['peak_memory_added_mib']:9.0f} {row['peak_memory_mib_per_mb']:11.0f}", flush=True)
    write_results(results_path(args, __file__), __file__, args, {"documents": rows})


if __name__ == "__main__":
    main()
