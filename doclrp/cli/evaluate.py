"""``doclrp evaluate``: score LRP composites and baselines by deleting the words they call relevant.

>>> from doclrp.cli import main
>>> main(["evaluate", "--model", "nowhere", "--docs", "0"])
2
"""

from __future__ import annotations

import itertools

from doclrp.cli.options import target_from_args
from doclrp.corpus import open_corpus, train_test_split_fixed
from doclrp.errors import DoclrpError
from doclrp.evaluate import iter_method_scores
from doclrp.models.loading import load_model

__all__ = ["run"]


def run(args) -> int:
    """``doclrp evaluate``: each method scored by deletion on held-out documents, a row as soon as known."""
    if args.docs < 1:
        raise DoclrpError(f"--docs must be at least 1, got {args.docs}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise DoclrpError("--methods names no method")
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle)
    records = list(open_corpus(args.corpus))
    if args.split == "test":
        records = train_test_split_fixed(records)[1]
    texts = [r.text for r in records if r.text.strip()][: args.docs]
    if not texts:
        raise DoclrpError(f"corpus {args.corpus} has no document with text")
    scores = iter_method_scores(pipeline, texts, methods, k=args.k, steps=args.steps,
                                target=target_from_args(args, pipeline))
    first = next(scores)  # bad methods and targets fail here, before the table starts
    print(f"{len(texts)} documents ({args.split}); explained output lost when deleting words (mean):")
    print(f"  {'method':24s} {'top ' + str(args.k):>9s} {'random ' + str(args.k):>10s} {'AOPC':>8s} {'seconds':>8s}")
    for score in itertools.chain([first], scores):  # each row as soon as its method is done
        print(f"  {score.method:24s} {score.drop:9.3f} {score.random_drop:10.3f} {score.aopc:8.3f} "
              f"{score.seconds:8.1f}", flush=True)
    return 0
