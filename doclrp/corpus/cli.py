"""The ``doclrp corpus`` command: explain a corpus, or summarize results.

    doclrp corpus --model DIR --input CORPUS --out RESULTS [--target T] [--method M [--param NAME=V]]
                  [--reference mean|V,...] [--batch-size N] [--device cpu|cuda] [--shard i/N]
                  [--engine local|ray] [--overwrite] [--on-error raise|skip] [--quiet]
    doclrp corpus summarize RESULTS --out REPORT_DIR [--top K] [--pages K] [--min-df N]
                  [--group-by auto|label|predicted|target]

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="doclrp")
>>> sub = parser.add_subparsers(dest="command")
>>> add_corpus_parser(sub, lambda p: p.add_argument("--model", required=True))
>>> args = parser.parse_args(["corpus", "summarize", "r.jsonl", "--out", "report"])
>>> args.corpus_command, args.results, args.out
('summarize', 'r.jsonl', 'report')
>>> parser.parse_args(["corpus", "--model", "m", "--input", "bbc", "--out", "r.jsonl"]).corpus_command is None
True

Both forms share one ``corpus`` parser with an optional nested ``summarize``
command, so ``--model``/``--input``/``--out`` are checked here rather than by
argparse (which would demand them from ``summarize`` too); a missing one is the
usual one-line error, exit 2.
"""

from __future__ import annotations

import sys
import warnings

from doclrp.errors import DoclrpError

__all__ = ["add_corpus_parser", "run_corpus_command"]


class _NotRequired:
    """A parser whose ``add_argument`` drops ``required``: see the module docstring."""

    def __init__(self, parser) -> None:
        self._parser = parser

    def add_argument(self, *names, **options):
        options.pop("required", None)
        return self._parser.add_argument(*names, **options)

    def __getattr__(self, name):
        return getattr(self._parser, name)


def add_corpus_parser(subparsers, add_model_options) -> None:
    """Add ``corpus`` (with ``add_model_options``' --model/--target/--composite/--device)
    and its nested ``summarize`` to the ``doclrp`` subcommands."""
    corpus = subparsers.add_parser(
        "corpus", help="explain every document of a corpus; resumable JSONL/Parquet results",
        description="Explain every document of a corpus and write one record per document (JSONL, or Parquet "
                    "for a .parquet path). Needs --model, --input and --out. Interrupted runs continue where "
                    "they stopped when the same command is run again. 'doclrp corpus summarize RESULTS --out DIR' "
                    "writes an HTML report of the results.")
    add_model_options(_NotRequired(corpus))
    corpus.add_argument("--input", metavar="CORPUS",
                        help="'bbc', a folder of <class>/*.txt, a .jsonl or a .csv file")
    corpus.add_argument("--out", metavar="RESULTS", help="results file: .jsonl (default format) or .parquet")
    corpus.add_argument("--reference", metavar="mean|V,V,...",
                        help="explain the deviation from a reference prediction: 'mean' (stored at training) "
                             "or one number per output")
    corpus.add_argument("--batch-size", type=int, default=32, help="documents per batch (default 32)")
    corpus.add_argument("--shard", metavar="i/N", help="only shard i of N (0 ≤ i < N), by a hash of the document id")
    corpus.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local (default) or ray: model replicas on a Ray cluster, one per GPU or CPU")
    corpus.add_argument("--overwrite", action="store_true",
                        help="replace results written with another model or other settings (results of the "
                             "same settings are continued, not redone)")
    corpus.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="a malformed corpus line: stop before writing (raise, default) or leave it out "
                             "with a warning (skip)")
    corpus.add_argument("--quiet", action="store_true", help="no progress bar")

    nested = corpus.add_subparsers(dest="corpus_command", metavar="summarize")
    summarize = nested.add_parser(
        "summarize", help="an HTML report of corpus results",
        description="Aggregate word relevance per class (sum, mean per occurrence, document frequency) and write "
                    "an HTML report: top words for and against each class, accuracy and confusion matrix when "
                    "labels exist, the most and least confident documents as highlighted pages.")
    summarize.add_argument("results", metavar="RESULTS", help="a results file written by doclrp corpus")
    summarize.add_argument("--out", required=True, metavar="DIR", help="report folder (replaced atomically)")
    summarize.add_argument("--top", type=int, default=20, help="words per chart (default 20)")
    summarize.add_argument("--pages", type=int, default=10,
                           help="most and least confident documents to render, each (default 10)")
    summarize.add_argument("--min-df", type=int, default=2,
                           help="only words in at least this many documents of a class enter its charts (default 2)")
    summarize.add_argument("--group-by", choices=["auto", "label", "predicted", "target"], default="auto",
                           help="classes of the summary: auto (true label where known, else predicted), label, "
                                "predicted, or the explained target")


def run_corpus_command(args) -> int:
    """Run ``doclrp corpus`` or ``doclrp corpus summarize`` from parsed ``args``; 0 on success."""
    if getattr(args, "corpus_command", None) == "summarize":
        return _summarize(args)
    missing = [flag for flag, value in (("--model", args.model), ("--input", args.input), ("--out", args.out))
               if not value]
    if missing:
        raise DoclrpError(f"doclrp corpus needs {', '.join(missing)} "
                          "(or: doclrp corpus summarize RESULTS --out DIR)")
    from doclrp.cli import _parse_params, _parse_target
    from doclrp.core import resolve_method
    from doclrp.corpus.run import explain_corpus

    params = _parse_params(args.param)
    if params and not args.method:
        raise DoclrpError("--param needs --method: the parameters belong to a named method")
    method = resolve_method(args.method, **params) if args.method else None
    with _warnings_as_lines():
        report = explain_corpus(args.model, args.input, args.out, target=_parse_target(args.target),
                                method=method, reference=_parse_reference(args.reference),
                                batch_size=args.batch_size, device=args.device,
                                shard=args.shard, engine=args.engine, overwrite=args.overwrite,
                                on_error=args.on_error, progress=not args.quiet)
    print(report)
    return 0


def _parse_reference(value: str | None):
    """``None``, ``"mean"``, or ``"0.1,0.5"`` → a list of floats.

    >>> _parse_reference("0.5, -1"), _parse_reference("mean")
    ([0.5, -1.0], 'mean')
    """
    if value is None or value == "mean":
        return value
    try:
        return [float(part) for part in value.split(",")]
    except ValueError:
        raise DoclrpError(f"--reference must be 'mean' or numbers like 0.1,0.5 (one per output), got {value!r}") \
            from None


def _summarize(args) -> int:
    from doclrp.corpus.summarize import summarize

    summary = summarize(args.results, args.out, top=args.top, pages=args.pages, min_df=args.min_df,
                        group_by=args.group_by)
    for line in summary.lines(min_df=args.min_df):
        print(line)
    return 0


class _warnings_as_lines(warnings.catch_warnings):
    """Corpus warnings (skipped lines) as ``doclrp: warning: ...`` lines on stderr, each one."""

    def __enter__(self):
        from doclrp.corpus.readers import CorpusWarning

        result = super().__enter__()
        warnings.simplefilter("always", CorpusWarning)
        original = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, CorpusWarning):
                print(f"doclrp: warning: {message}", file=sys.stderr)
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        return result
