"""Sanity check: do the words a VADER-trained regressor finds relevant carry VADER's valence?

    python benchmarks/vader_sanity.py                          # trains models/vader-cnn if missing
    python benchmarks/vader_sanity.py --model models/vader-bow --min-count 10
    python benchmarks/vader_sanity.py --corpus vader-rt --model models/vader-rt-cnn

The model explains ``compound`` for every held-out sentence (the test part of
the fixed split its training used); each lower-cased word's relevance is
averaged over its occurrences; the means of the words that occur at least
``--min-count`` times are correlated (Pearson) with the words' valence in
VADER's lexicon. A model that learned what VADER scores gives a clearly
positive r. As a control the same is measured for an untrained model of the
same architecture. Exits 1 when r is below ``--require``. Results: printed, and written
to ``benchmarks/results/vader_sanity-<model folder>.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import torch

from doclrp.corpus import open_corpus, train_test_split_fixed
from doclrp.corpus.sources.lexicon import vader_correlation, vader_lexicon
from doclrp import explain
from doclrp.models import TextPipeline, load_pipeline
from doclrp.training import train
from measure import add_out_argument, results_path, write_results

TARGETS = ["neg", "neu", "pos", "compound"]


def word_means(pipeline, texts, target="compound", batch_size=256) -> dict[str, tuple[float, int]]:
    """Lower-cased word → (mean relevance per occurrence, occurrences) over ``texts``."""
    sums, counts = defaultdict(float), defaultdict(int)
    for explanation in explain(pipeline, texts, target=target, batch_size=batch_size):
        for word in explanation.words:
            key = word.text.lower()
            sums[key] += word.relevance
            counts[key] += 1
    return {word: (sums[word] / counts[word], counts[word]) for word in sums}


def correlation(stats, min_count):
    return vader_correlation({w: mean for w, (mean, n) in stats.items() if n >= min_count})


def untrained(pipeline: TextPipeline, seed: int = 0) -> TextPipeline:
    torch.manual_seed(seed)
    model = type(pipeline.model)(**pipeline.model.config)
    return TextPipeline(model.eval(), pipeline.encoder, pipeline.labels, pipeline.task)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default="vader", choices=["vader", "vader-rt"],
                        help="what the model was trained on")
    parser.add_argument("--model", type=Path, default=None, help="a regressor trained on --corpus "
                        "(default models/<corpus>-<kind>)")
    parser.add_argument("--kind", default="cnn", choices=["cnn", "bow", "bag"],
                        help="what to train if --model is missing")
    parser.add_argument("--min-count", type=int, default=5, help="occurrences a word needs to enter")
    parser.add_argument("--require", type=float, default=0.3, help="fail below this r")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    args.model = args.model or Path(f"models/{args.corpus}-{args.kind}")

    trained_seconds = None
    if args.model.is_dir():
        pipeline = load_pipeline(args.model)
    else:
        print(f"no model at {args.model}: training a {args.kind} regressor on {args.corpus!r} "
              "(minutes on a laptop CPU)")
        trained = time.perf_counter()
        pipeline = train(args.corpus, model=args.kind, task="regression", target_columns=TARGETS, out=args.model)
        trained_seconds = time.perf_counter() - trained
    if "compound" not in pipeline.labels:
        print(f"{args.model} has outputs {pipeline.labels}: train it on {args.corpus!r} with a compound target",
              file=sys.stderr)
        return 2
    settings = pipeline.metrics.get("settings", {})
    _, test = train_test_split_fixed(open_corpus(args.corpus), settings.get("test_fraction", 0.2),
                                     seed=settings.get("split_seed", 13))
    texts = [record.text for record in test]

    started = time.perf_counter()
    stats = word_means(pipeline, texts)
    seconds = time.perf_counter() - started
    r, n = correlation(stats, args.min_count)
    control, control_n = correlation(word_means(untrained(pipeline), texts), args.min_count)

    lexicon = vader_lexicon()
    ranked = sorted((mean, w) for w, (mean, count) in stats.items() if count >= args.min_count)
    show = lambda items: ", ".join(f"{w} {m:+.3f} ({lexicon.get(w, 0):+.1f})" for m, w in items)  # noqa: E731
    print(f"model {args.model} ({type(pipeline.model).__name__}); test R² compound "
          f"{pipeline.metrics.get('test_r2', {}).get('compound', float('nan')):.3f}")
    print(f"explained {len(texts)} held-out sentences in {seconds:.1f} s")
    print(f"most negative words (mean relevance, VADER valence): {show(ranked[:8])}")
    print(f"most positive words: {show(ranked[::-1][:8])}")
    print(f"Pearson r(mean relevance for compound, VADER valence) = {r:.3f} over {n} words "
          f"(>= {args.min_count} occurrences); untrained control r = {control:.3f} over {control_n} words")
    write_results(results_path(args, __file__, args.model.name), __file__, args, {
        "model_class": type(pipeline.model).__name__, "training_seconds": trained_seconds,
        "test_r2": pipeline.metrics.get("test_r2"), "test_rmse": pipeline.metrics.get("test_rmse"),
        "sentences": len(texts), "explain_seconds": seconds,
        "pearson_r": r, "words": n, "control_pearson_r": control, "control_words": control_n,
        "most_negative_words": [{"word": w, "mean_relevance": m, "valence": lexicon.get(w, 0)} for m, w in ranked[:8]],
        "most_positive_words": [{"word": w, "mean_relevance": m, "valence": lexicon.get(w, 0)}
                                for m, w in ranked[::-1][:8]],
    })
    return 0 if r >= args.require else 1


if __name__ == "__main__":
    sys.exit(main())
