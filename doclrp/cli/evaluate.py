"""``doclrp evaluate``: score LRP composites and baselines by deleting the words they call relevant;
with ``--report DIR``, every measure of :mod:`doclrp.evaluate` with intervals, as results.json and a page.

>>> from doclrp.cli import main
>>> main(["evaluate", "--model", "nowhere", "--docs", "0"])
2
"""

from __future__ import annotations

import itertools
import json
import platform
import sys
import tempfile
from collections import Counter
from pathlib import Path

from doclrp.cli.options import prompt_options, say_device, target_from_args
from doclrp.corpus import open_corpus, train_test_split_fixed
from doclrp.corpus.split import sample_records
from doclrp.core.methods import resolve_method
from doclrp.errors import DoclrpError
from doclrp import __version__
from doclrp._atomic import staged_folder
from doclrp.evaluate import iter_method_scores, skipped_line
from doclrp._explain import sequence_protocol
from doclrp.evaluate.suite import default_methods, evaluate_methods, prepare
from doclrp.models.loading import load_model, resolve_device
from doclrp.render.evaluation import render_evaluation
from doclrp.training.planted import planted_trainer

__all__ = ["run", "summary_lines"]


def run(args) -> int:
    """``doclrp evaluate``: each method scored by deletion on held-out documents, a row as soon as known.

    The first line names the sample (its seed, its make-up by label, its ids) so that a run
    can be repeated and checked; documents that cannot be explained are left out in one line.
    """
    _check_options(args)
    methods = None
    if args.methods is not None:
        methods = [m.strip() for m in args.methods.split(",") if m.strip()]
        if not methods:
            raise DoclrpError("--methods names no method")
        for name in methods:  # before the model loads: a mistyped name answers at once
            resolve_method(name)
    args.device = resolve_device(args.device)
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle, vocab=args.vocab,
                          labels=args.labels, **prompt_options(args))
    target = target_from_args(args, pipeline)  # as soon as the labels are known, before the corpus is read
    records = list(open_corpus(args.corpus))
    if args.split == "test":
        records = train_test_split_fixed(records)[1]
    if not records:
        raise DoclrpError(f"corpus {args.corpus} has no document")
    sample = sample_records(records, args.docs, seed=args.seed)
    methods = default_methods(pipeline) if methods is None else methods
    if args.report is not None:
        return _report(args, pipeline, records, sample, methods, target)
    scores = iter_method_scores(pipeline, [r.text for r in sample], methods, k=args.k, steps=args.steps,
                                target=target, seed=args.seed, ids=[r.id for r in sample])
    first = next(scores)  # bad methods and targets fail here, before the table starts
    say_device(args.device)  # the first line, once the methods and target are known good: no half table
    print(_sample_line(sample, len(records), args), flush=True)
    if first.skipped:
        print(skipped_line(first.skipped, len(sample)))
    print(f"{len(first.documents)} documents ({args.split}); explained output lost when deleting words (mean):")
    print(f"  {'method':24s} {'top ' + str(args.k):>9s} {'random ' + str(args.k):>10s} {'AOPC':>8s} {'seconds':>8s}")
    for score in itertools.chain([first], scores):  # each row as soon as its method is done
        print(f"  {score.method:24s} {score.drop:9.3f} {score.random_drop:10.3f} {score.aopc:8.3f} "
              f"{score.seconds:8.1f}", flush=True)
    return 0


#: options of the quick table and of the report, with their defaults: each applies to one only
_QUICK = {"k": 10, "steps": 10}
_REPORT = {"resamples": 2000, "sanity_docs": 20, "planted_docs": 100, "planted_k": 3}
#: The most deletion-curve steps, bootstrap resamples and documents per batch one run takes.
MAX_STEPS, MAX_RESAMPLES, MAX_BATCH_SIZE = 1000, 100_000, 1024


def _check_options(args) -> None:
    """Every number and the report folder checked before the model loads: one line, exit 2. An
    option of the quick table given with ``--report``, or one of the report's without it, is
    refused (it would be ignored), then every option left unset takes its default."""
    report = args.report is not None
    for name in (_QUICK if report else _REPORT):
        if getattr(args, name) is not None:
            flag = "--" + name.replace("_", "-")
            raise DoclrpError(f"{flag} applies to the quick table, not to --report (whose curves take the fixed "
                              "10 % … 100 % grid; --planted-k counts the trigger): drop it or --report"
                              if report else f"{flag} applies to --report only: add --report DIR or drop it")
    for name, default in {**_QUICK, **_REPORT}.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    for flag, value, least in (("--docs", args.docs, 1), ("--resamples", args.resamples, 1),
                               ("--sanity-docs", args.sanity_docs, 0), ("--planted-docs", args.planted_docs, 0),
                               ("--planted-k", args.planted_k, 1), ("--batch-size", args.batch_size, 1)):
        if value < least:
            raise DoclrpError(f"{flag} must be at least {least}, got {value}")
    for flag, value in (("--k", args.k), ("--steps", args.steps)):
        if value < 1:
            raise DoclrpError(f"{flag[2:]} must be a positive integer, got {value}")
    # Maxima of the work one run may ask for (each a loop of model passes or of resampling).
    for flag, value, most in (("--steps", args.steps, MAX_STEPS), ("--resamples", args.resamples, MAX_RESAMPLES),
                              ("--batch-size", args.batch_size, MAX_BATCH_SIZE)):
        if value > most:
            raise DoclrpError(f"{flag} takes at most {most}, got {value}")
    if args.report is not None:
        out = Path(args.report)
        ours = (out / "results.json").is_file() and (out / "index.html").is_file()
        if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not ours)):
            raise DoclrpError(f"{out} exists and is not a doclrp evaluation report: choose another --report "
                              "or remove it")
        if not out.parent.is_dir():
            raise DoclrpError(f"folder {out.parent} does not exist: create it or choose another --report")
        try:  # minutes of work come before the report is written: a read-only place answers now
            tempfile.TemporaryDirectory(dir=out.parent, prefix=".doclrp-write-check-").cleanup()
        except OSError as error:
            raise DoclrpError(f"cannot write {out}: {error.strerror or error}; choose another --report") from None


def _report(args, pipeline, records, sample, methods, target) -> int:
    """The full evaluation: methods checked on the first document, then each run with a
    progress bar; results.json and index.html written to ``--report`` in one swap."""
    texts, ids = [r.text for r in sample], [r.id for r in sample]
    _, _, kept, _, skipped = prepare(pipeline, texts, methods, ids=ids, target=target,
                                     batch_size=args.batch_size)
    say_device(args.device)
    print(_sample_line(sample, len(records), args), flush=True)
    if skipped:
        print(skipped_line(skipped, len(sample)))
    data = evaluate_methods(pipeline, texts, methods, ids=ids, target=target, seed=args.seed,
                            batch_size=args.batch_size, resamples=args.resamples, sanity_docs=args.sanity_docs,
                            planted_docs=args.planted_docs, k=args.planted_k, progress=True,
                            planted_trainer=planted_trainer(pipeline))
    meta = {"model": str(args.model), "corpus": str(args.corpus), "split": args.split,
            "doclrp": __version__, "torch": _torch_version(), "python": platform.python_version(),
            "machine": _machine(args.device)}
    data = {**meta, "sample_line": _sample_line(sample, len(records), args), **data}
    try:
        with staged_folder(args.report) as staging:
            (staging / "results.json").write_text(json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False),
                                                  encoding="utf-8")
            (staging / "index.html").write_text(render_evaluation(data, {**meta, "target": data["target"]}),
                                                encoding="utf-8")
    except OSError as error:  # checked writable at the start; a disk can still fill up
        raise DoclrpError(f"cannot write {args.report}: {error.strerror or error}; choose another --report") from None
    # what was deleted: a bag-of-features model's words are cut from the text, others lose token ids
    deleted = "token ids" if sequence_protocol(pipeline) is not None else "words cut from the text"
    print(f"{len(kept)} documents ({args.split}); deletion of {deleted}, means with "
          f"{data['level']:.0%} bootstrap intervals:")
    for line in summary_lines(data):
        print(line)
    print(f"report: {args.report}")
    return 0


def summary_lines(data) -> list[str]:
    """The report's deletion table as text: ABPC, comprehensiveness, sufficiency, seconds per document."""
    def cell(summary) -> str:
        if summary.get("mean") is None:
            return "–"
        return f"{summary['mean']:.3f} [{summary['low']:.3f}, {summary['high']:.3f}]"
    lines = [f"  {'method':22s} {'ABPC':>24s} {'comprehensiveness':>24s} {'sufficiency':>24s} {'s/doc':>8s}"]
    for method in data["methods"]:
        row = method["summary"]["deletion"]
        lines.append(f"  {method['name']:22s} {cell(row['abpc']):>24s} {cell(row['comprehensiveness']):>24s} "
                     f"{cell(row['sufficiency']):>24s} {method['time']['mean']:8.4f}")
    return lines


def _torch_version() -> str:
    import torch  # already loaded with the model; imported here to say its version

    return torch.__version__


def _machine(device) -> str:
    return f"{platform.platform()}, {platform.machine()}, {platform.processor() or 'cpu'}, " \
           f"python {sys.version.split()[0]}, device {device}"


def _sample_line(sample, available: int, args) -> str:
    """``sample: …``: how the documents were chosen (seed, labels) and their ids."""
    ids = ", ".join(r.id for r in sample)
    if len(sample) == available:
        return f"sample: all {available} documents ({args.split}), in id order: {ids}"
    counts = Counter(r.label for r in sample)
    if set(counts) == {None}:
        how = "drawn at random (no labels)"
    else:
        how = "stratified by label (" + ", ".join(f"{label} {n}" for label, n in sorted(counts.items(), key=str)) + ")"
    return f"sample: {len(sample)} of {available} documents ({args.split}), seed {args.seed}, {how}: {ids}"
