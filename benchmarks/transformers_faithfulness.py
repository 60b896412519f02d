"""Deletion test on MiniLM fine-tuned on BBC News: do the most relevant words matter most?

For each test document (the fixed split of ``doclrp train``), the predicted class's
logit is explained with AttnLRP (and CP-LRP, and gradient × input of doclrp.evaluate for
comparison) on the first window of the text. Piece relevance is summed per word
(whitespace-separated, via the tokenizer's character spans); then the 10 most relevant
words are deleted from the text, or 10 random words, and the drop of the same logit is
measured. A faithful explanation makes the first drop larger. Prints the mean drops.
(``doclrp evaluate`` measures the same on spaCy words over whole documents, for any model.)

    python benchmarks/transformers_faithfulness.py --folder minilm-bbc [--docs 200]
    python benchmarks/transformers_faithfulness.py --train --folder minilm-bbc [--epochs 3 --max-len 256]

Results: printed, and written to ``benchmarks/results/transformers_faithfulness-<device>.json``
(or ``--out``).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np  # noqa: E402
import torch  # noqa: E402

import doclrp  # noqa: E402
from doclrp.corpus import open_corpus, read_folder, train_test_split_fixed  # noqa: E402
from doclrp.models.hf import load_hf_pipeline  # noqa: E402
from doclrp.training import train_hf  # noqa: E402
from measure import add_out_argument, results_path, write_results  # noqa: E402

METHODS = ["attnlrp", "cp-lrp", "gradient-x-input"]


def words_of(text: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(r"\S+", text)]


def word_relevance(pipeline, texts, method):
    """Per text: (word spans inside the first window, their relevance), and the explained class."""
    encoded = pipeline.tokens(texts)
    windows = [ids[: pipeline.max_tokens] for ids, _ in encoded]
    inputs, kwargs, positions, _ = pipeline.collate(windows)
    attribution = doclrp.resolve_method(method).attribute(pipeline.model, inputs, forward_kwargs=kwargs)
    relevance, logits = attribution.relevance, attribution.logits
    results = []
    for row, (text, (_, spans)) in enumerate(zip(texts, encoded)):
        row_relevance = relevance[row, positions[row]].double().cpu().numpy()
        words = words_of(text)
        limit = spans[len(windows[row]) - 1][1] if windows[row] else 0
        words = [w for w in words if w[0] < limit]
        starts = np.array([w[0] for w in words])
        per_word = np.zeros(len(words))
        for (start, _), value in zip(spans[: len(windows[row])], row_relevance):
            per_word[max(0, np.searchsorted(starts, start, side="right") - 1)] += value
        results.append((words, per_word))
    return results, logits.argmax(1).cpu()


def delete(text: str, spans) -> str:
    keep, last = [], 0
    for start, end in sorted(spans):
        keep.append(text[last:start])
        last = end
    keep.append(text[last:])
    return re.sub(r"\s+", " ", "".join(keep)).strip()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", default="minilm-bbc", help="fine-tuned model folder (written with --train)")
    parser.add_argument("--train", action="store_true", help="fine-tune MiniLM on the corpus first")
    parser.add_argument("--corpus", default="bbc", help="'bbc', a folder of <class>/*.txt, JSONL or CSV")
    parser.add_argument("--base", default=None, help="base model folder (default: the MiniLM package)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--removed", type=int, default=10)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if os.path.isdir(args.corpus):   # a copy of BBC News holds one Latin-1 file
        records = list(read_folder(args.corpus, fallback_encoding="latin-1"))
    else:
        records = list(open_corpus(args.corpus))
    trained_seconds = None
    if args.train:
        trained = time.perf_counter()
        train_hf(records, args.folder, args.base, epochs=args.epochs, max_len=args.max_len, device=args.device)
        trained_seconds = time.perf_counter() - trained
    pipeline = load_hf_pipeline(args.folder, device=args.device)
    print(f"model: {args.folder}; metrics {pipeline.metrics}")
    _, test = train_test_split_fixed(records)
    test = test[: args.docs]
    rng = np.random.default_rng(0)
    drops = {method: [] for method in METHODS}
    random_drops = []
    started = time.perf_counter()
    for begin in range(0, len(test), args.batch):
        texts = [r.text for r in test[begin : begin + args.batch]]
        original = pipeline.outputs(texts)
        per_method = {method: word_relevance(pipeline, texts, method) for method in METHODS}
        classes = per_method["attnlrp"][1]
        rows = torch.arange(len(texts))
        before = original[rows, classes]
        random_texts = []
        for i, text in enumerate(texts):
            words = per_method["attnlrp"][0][i][0]
            pick = rng.choice(len(words), size=min(args.removed, len(words)), replace=False)
            random_texts.append(delete(text, [words[j] for j in pick]))
        random_drops += (before - pipeline.outputs(random_texts)[rows, classes]).tolist()
        for method in METHODS:
            (results, _) = per_method[method]
            removed = [delete(text, [words[j] for j in np.argsort(-relevance)[: args.removed]])
                       for text, (words, relevance) in zip(texts, results)]
            drops[method] += (before - pipeline.outputs(removed)[rows, classes]).tolist()
    seconds = time.perf_counter() - started
    print(f"{len(test)} test documents, {args.removed} words removed from each "
          f"({seconds:.0f} s); mean drop of the explained logit:")
    for method in METHODS:
        print(f"  most relevant ({method}): {np.mean(drops[method]):.3f}")
    print(f"  random words:              {np.mean(random_drops):.3f}")
    write_results(results_path(args, __file__, args.device), __file__, args, {
        "documents": len(test), "words_removed": args.removed, "seconds": seconds, "training_seconds": trained_seconds,
        "model_metrics": pipeline.metrics,
        "mean_logit_drop": {"most_relevant": {method: float(np.mean(drops[method])) for method in METHODS},
                            "random_words": float(np.mean(random_drops))},
    }, device=args.device)


if __name__ == "__main__":
    main()
