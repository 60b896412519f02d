"""``doclrp corpus``: explain every document of a corpus, or summarize results as a report.

    doclrp corpus --model DIR --input CORPUS --out RESULTS [--target T] [--method M [--param NAME=V]]
                  [--reference mean|V,...] [--batch-size N] [--device auto|cpu|cuda] [--limit N] [--shard i/N]
                  [--engine local|ray] [--overwrite] [--on-error raise|skip] [--quiet]
    doclrp corpus summarize RESULTS --out REPORT_DIR [--top K] [--pages K] [--min-df N]
                  [--group-by auto|label|predicted|target] [--top-words-filter punct|stop|punct,stop|none]
                  [--class-switch|--no-class-switch] [--model DIR] [--device auto|cpu|cuda]

>>> from doclrp.cli import main
>>> main(["corpus", "--model", "m"])
2
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from doclrp.cli.checks import VOCAB_MODEL_SUFFIXES, check_arguments
from doclrp.cli.options import device_from_args, method_from_args, prompt_options
from doclrp.errors import DoclrpError
from doclrp.cli.parsers import parse_reference, parse_target
from doclrp.cli.terminal import in_command_line_terms, printable, warnings_as_lines
from doclrp.corpus import CorpusSettings, CorpusWarning, explain_corpus
from doclrp.corpus.reporting import summarize
from doclrp.documents import Limits
from doclrp.models.loading import load_model
from doclrp.text.terms import parse_leave_out

__all__ = ["run"]


@in_command_line_terms()
def run(args) -> int:
    """Run ``doclrp corpus`` or ``doclrp corpus summarize`` from parsed ``args``; 0 on success."""
    if getattr(args, "corpus_command", None) == "summarize":
        return _summarize(args)
    check_arguments(args)  # again: run() is callable without main()
    device_from_args(args)
    # Every skipped corpus line, not once per place in the code; each a `doclrp: warning:` line.
    with warnings_as_lines(), warnings.catch_warnings():
        warnings.simplefilter("always", CorpusWarning)
        # The model's own method (default) and the target are resolved by explain_corpus, once, on the loaded model.
        settings = CorpusSettings(target=parse_target(args.target), method=method_from_args(args),
                                  reference=parse_reference(args.reference), batch_size=args.batch_size,
                                  device=args.device, shard=args.shard, engine=args.engine, overwrite=args.overwrite,
                                  on_error=args.on_error, progress=not args.quiet, max_chars=args.max_chars,
                                  allow_pickle=args.allow_pickle, limit=args.limit, doc_timeout=args.doc_timeout,
                                  limits=Limits(max_bytes=args.max_bytes, max_pages=args.max_pages),
                                  model_options=_language_model_options(args))
        report = explain_corpus(_model(args), args.input, args.out, settings)
    print(report)
    return 0


def _language_model_options(args) -> dict[str, Any] | None:
    """``load_model``'s options for a language model read with --prompt and --labels (None: no prompt)."""
    options = prompt_options(args)
    return {**options, "labels": args.labels} if options else None


def _model(args) -> Any:
    """The --model folder, or a Keras/ONNX file read here with its --vocab (a corpus run takes a pipeline)."""
    if Path(args.model).suffix.lower() not in VOCAB_MODEL_SUFFIXES:
        return args.model
    return load_model(args.model, device=args.device, allow_pickle=args.allow_pickle, vocab=args.vocab,
                      labels=args.labels)


def _summarize(args) -> int:
    try:
        summary = summarize(args.results, args.out, top=args.top, pages=args.pages, min_df=args.min_df,
                            group_by=args.group_by,
                            leave_out=parse_leave_out(getattr(args, "top_words_filter", None)),
                            model=getattr(args, "model", None), class_switch=getattr(args, "class_switch", True),
                            device=getattr(args, "device", "cpu"))
    except OSError as error:  # the report folder: read-only, full, or under a file
        raise DoclrpError(f"cannot write {args.out}: {error.strerror or error}; choose another --out") from None
    for line in summary.lines(min_df=args.min_df):
        print(printable(line))
    return 0
