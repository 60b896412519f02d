"""``doclrp evaluate``: score LRP composites and baselines by deleting the words they call relevant.

>>> from doclrp.cli import main
>>> main(["evaluate", "--model", "nowhere", "--docs", "0"])
2
"""

from __future__ import annotations

import itertools
from collections import Counter

from doclrp.cli.options import say_device, target_from_args
from doclrp.corpus import open_corpus, train_test_split_fixed
from doclrp.corpus.split import sample_records
from doclrp.errors import DoclrpError
from doclrp.evaluate import iter_method_scores, skipped_line
from doclrp.models.loading import load_model, resolve_device

__all__ = ["run"]


def run(args) -> int:
    """``doclrp evaluate``: each method scored by deletion on held-out documents, a row as soon as known.

    The first line names the sample (its seed, its make-up by label, its ids) so that a run
    can be repeated and checked; documents that cannot be explained are left out in one line.
    """
    if args.docs < 1:
        raise DoclrpError(f"--docs must be at least 1, got {args.docs}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise DoclrpError("--methods names no method")
    args.device = resolve_device(args.device)
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle)
    records = list(open_corpus(args.corpus))
    if args.split == "test":
        records = train_test_split_fixed(records)[1]
    if not records:
        raise DoclrpError(f"corpus {args.corpus} has no document")
    sample = sample_records(records, args.docs, seed=args.seed)
    scores = iter_method_scores(pipeline, [r.text for r in sample], methods, k=args.k, steps=args.steps,
                                target=target_from_args(args, pipeline), seed=args.seed, ids=[r.id for r in sample])
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
