"""Throughput of ``doclrp corpus``: a whole corpus explained and written, against plain prediction.

    python benchmarks/corpus_throughput.py [--model DIR] [--corpus bbc] [--batch-size 32]
                                           [--device cpu|cuda] [--threads N] [--format jsonl|parquet]
                                           [--profile] [--out FILE]

Default: the shipped BBC CNN over the whole BBC corpus (2,225 documents). Printed, each
measured in this process, corpus reading included in every line:

- ``predict``: plain batched prediction (``pipeline.outputs``, no gradient), batched by
  length like the run. The encoder cuts each document to the model's ``max_len`` tokens.
  Once as called, once inside ``frozen_heap()`` as the corpus run itself works: the
  ratios use the second, so that they measure LRP and not the garbage collector.
- ``all windows``: the same forward pass over every window that the explanation
  covers (long documents are explained whole, in overlapping windows), so the ratio
  against it is the cost of relevance itself (its floor is about 2: forward + backward).
- ``split words``: :func:`doclrp.text.tokenize_many` with explain's spaCy pipeline, whose
  words the explanation reports (prediction's encoder splits with the faster blank one).
- ``explain + write``: :func:`doclrp.corpus.explain_corpus` into a fresh results file.

Issue 28's goal: explain + write at most 1.5x (all windows + split words).

``--profile`` adds where the explanation's time goes (tokenizing, the LRP passes,
building records, writing) from a cProfile run of the same job.
Results: printed, and written to ``benchmarks/results/corpus_throughput[-<model>][-<corpus>]
[-<device>][-<format>].json`` (only the settings that differ from the defaults name the
file; or ``--out``).
Targets (issue 4): under 60 s and under 2.5x prediction on a 2-core CPU.

Figures, where the time goes and how the run got there: ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import platform
import pstats
import statistics
import tempfile
import time
from pathlib import Path

import torch

from doclrp.corpus import explain_corpus, open_corpus
from doclrp.corpus.run import frozen_heap, plan_batches
from doclrp._explain import document_outputs
from doclrp import load_model, pretrained_path
from doclrp.text import tokenize_many
from measure import add_out_argument, results_path, write_results

#: Functions whose cumulative time the profile reports, by what they stand for.
PHASES = {
    "read corpus": ("readers.py", "records", "numbered"),
    "split words (spaCy)": ("words.py", "tokenize_many"),
    "encode": ("_explain.py", "tokens"),
    "LRP forward + backward": ("attribution.py", "lrp_attribute"),
    "class of multi-window documents": ("_explain.py", "_document_classes"),
    "words, sentences (build_explanation)": ("explanation.py", "build_explanation"),
    "result records": ("records.py", "explanation_record"),
    "write + fsync": ("journal.py", "write_batch"),
}


def _records(corpus):
    return list(open_corpus(corpus))


def time_predict(pipeline, corpus, batch_size):
    started = time.perf_counter()
    records = _records(corpus)
    for batch in plan_batches(records, batch_size):
        pipeline.outputs([r.text for r in batch], batch_size=batch_size)
    return time.perf_counter() - started, len(records)


def time_tokenize(corpus):
    """Splitting the corpus into words and sentences as explain() does (the spaCy pipeline it uses)."""
    started = time.perf_counter()
    tokenize_many([r.text for r in _records(corpus)])
    return time.perf_counter() - started


def time_predict_windows(pipeline, corpus, batch_size):
    """Prediction over the windows explain() covers: doclrp._explain.document_outputs."""
    started = time.perf_counter()
    for batch in plan_batches(_records(corpus), batch_size):
        document_outputs(pipeline, [r.text for r in batch], batch_size=batch_size)
    return time.perf_counter() - started


def time_explain(model, corpus, batch_size, device, fmt, profile=False):
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"results.{fmt}"
        profiler = cProfile.Profile() if profile else None
        started = time.perf_counter()
        if profiler:
            profiler.enable()
        report = explain_corpus(model, corpus, out, batch_size=batch_size, device=device, progress=False)
        if profiler:
            profiler.disable()
        seconds = time.perf_counter() - started
        size = out.stat().st_size
    return seconds, report, size, profiler


def print_profile(profiler, total) -> dict:
    stats = pstats.Stats(profiler).stats

    def cumulative(filename, *functions):
        return sum(entry[3] for (file, _, name), entry in stats.items()
                   if file.endswith(filename) and name in functions)

    print(f"where the explanation's time goes (cProfile of the same run, {total:.1f} s with profiling overhead):")
    seconds = {phase: cumulative(*where) for phase, where in PHASES.items()}
    # explain()'s own per-window work: its sequence loop minus the passes it calls.
    seconds["explain() per-window bookkeeping"] = (cumulative("_explain.py", "_attribute_windows")
                                                   - seconds["LRP forward + backward"])
    for phase, value in seconds.items():
        print(f"  {phase:40s} {value:7.2f} s  {100 * value / total:5.1f} %")
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="model folder (default: the shipped BBC CNN)")
    parser.add_argument("--corpus", default="bbc")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--format", choices=["jsonl", "parquet"], default="jsonl")
    parser.add_argument("--repeats", type=int, default=3, help="rounds of all lines (medians are printed)")
    parser.add_argument("--profile", action="store_true")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = args.model or str(pretrained_path())
    pipeline = load_model(model, device=args.device)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"model {model}; corpus {args.corpus}; batch {args.batch_size}; device {args.device}; "
          f"torch threads {torch.get_num_threads()}; {cpus} CPUs usable; {platform.machine()}")
    # Warm the file cache and both spaCy pipelines (the encoder's and explain's) for every line alike...
    warm = _records(args.corpus)[:8]
    pipeline.outputs([r.text for r in warm])
    explain_corpus(pipeline, warm, Path(tempfile.mkdtemp()) / "warm.jsonl", progress=False)
    # ... and spaCy's vocabulary: the first pass of each pipeline over a corpus adds
    # a lexeme per new word (about 1 s for BBC), a one-off that neither line should carry.
    texts = [r.text for r in _records(args.corpus)]
    for name in ("blank", "auto"):
        tokenize_many(texts, pipeline=name)

    # Rounds interleave the lines, so that a slow spell of a shared machine hits all alike;
    # each line reports its median.
    rounds = []
    for _ in range(args.repeats):
        plain_predict, documents = time_predict(pipeline, args.corpus, args.batch_size)
        # explain_corpus freezes the heap for the garbage collector (see frozen_heap); the
        # ratios compare it with prediction that does the same, so they measure LRP, not GC.
        with frozen_heap():
            predict, _ = time_predict(pipeline, args.corpus, args.batch_size)
            windows_time = time_predict_windows(pipeline, args.corpus, args.batch_size)
            tokenize_time = time_tokenize(args.corpus)
        explained, report, size, _ = time_explain(model, args.corpus, args.batch_size, args.device, args.format)
        rounds.append((plain_predict, predict, windows_time, tokenize_time, explained))
    plain_predict, predict, windows_time, tokenize_time, explained = (statistics.median(column)
                                                                      for column in zip(*rounds))
    print(f"medians of {args.repeats} rounds")
    print(f"predict (as called)     {plain_predict:7.2f} s  ({documents} documents, "
          f"{documents / plain_predict:.0f} docs/s)")
    print(f"predict, frozen heap    {predict:7.2f} s  ({documents / predict:.0f} docs/s)")
    print(f"  all windows           {windows_time:7.2f} s")
    print(f"split words (spaCy)     {tokenize_time:7.2f} s  (explain's word splitter)")
    print(f"explain + write         {explained:7.2f} s  ({report.total} records, {size / 1e6:.1f} MB "
          f"{args.format}, {report.total / explained:.0f} docs/s)")
    print(f"ratio explain / predict {explained / predict:7.2f}x;  explain / predict all windows "
          f"{explained / windows_time:.2f}x;  explain / predict as called {explained / plain_predict:.2f}x")
    print(f"ratio explain / (predict all windows + split words) {explained / (windows_time + tokenize_time):.2f}x "
          "(issue 28's goal: at most 1.5x)")
    results = {
        "documents": documents, "records": report.total, "output_bytes": size,
        "seconds": {"predict_as_called": plain_predict, "predict_frozen_heap": predict,
                    "predict_all_windows": windows_time, "split_words": tokenize_time, "explain_and_write": explained},
        "documents_per_second": report.total / explained,
        "ratios": {"explain_to_predict": explained / predict, "explain_to_all_windows": explained / windows_time,
                   "explain_to_all_windows_and_split": explained / (windows_time + tokenize_time),
                   "explain_to_predict_as_called": explained / plain_predict},
        "rounds": [dict(zip(("predict_as_called", "predict_frozen_heap", "predict_all_windows", "split_words",
                             "explain_and_write"), r)) for r in rounds],
    }
    if args.profile:
        profiled, _, _, profiler = time_explain(model, args.corpus, args.batch_size, args.device, args.format,
                                                profile=True)
        results["profile"] = {"seconds_with_profiler": profiled,
                              "phases_seconds": print_profile(profiler, profiled)}
    variant = (Path(args.model).name if args.model else "", "" if args.corpus == "bbc" else Path(args.corpus).stem,
               "" if args.device == "cpu" else args.device, "" if args.format == "jsonl" else args.format)
    write_results(results_path(args, __file__, *variant), __file__, args, results, device=args.device,
                  packages=("spacy",))


if __name__ == "__main__":
    main()
