"""How far doclrp's recurrent rule is from Arras et al.'s published procedure on a trained BiLSTM.

Both at Arras et al.'s ε = 0.001 (doclrp's own `epsilon` default is 1e-6): doclrp's mode splits
the cell sums ``c_t = f c_{t−1} + i g`` without ε, Arras et al.'s (``recurrent="arras"``, their
ArrasL/LRP_for_LSTM code) with ε at every step. For each held-out BBC document of the fixed split
(a seeded, stratified sample), the word relevance under both: the largest difference relative to
the document's largest |relevance|, its median and maximum over the documents, and in how many
documents the top word changes. Writes ``benchmarks/results/arras_modes-<model>.json``.

    PYTHONPATH=. python benchmarks/arras_modes.py --model models/bbc-lstm [--docs 40]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from doclrp import explain  # noqa: E402
from doclrp.core.methods import resolve_method  # noqa: E402
from doclrp.corpus import open_corpus, train_test_split_fixed  # noqa: E402
from doclrp.corpus.split import sample_records  # noqa: E402
from doclrp.models.loading import load_model  # noqa: E402
from measure import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EPS = 0.001  # Arras et al.'s default


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, required=True, help="a TextLSTM folder (doclrp train --model lstm)")
    parser.add_argument("--corpus", default="bbc")
    parser.add_argument("--docs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    pipeline = load_model(args.model)
    records = sample_records(train_test_split_fixed(list(open_corpus(args.corpus)))[1], args.docs, seed=args.seed)
    texts = [r.text for r in records]
    own = explain(pipeline, texts, method=resolve_method("epsilon", eps=EPS))
    arras = explain(pipeline, texts, method=resolve_method("epsilon", eps=EPS, recurrent="arras"))
    rows = []
    for record, a, b in zip(records, own, arras):
        x, y = (np.array([w.relevance for w in e.words]) for e in (a, b))
        rows.append({"id": record.id, "relative_difference": float(np.abs(x - y).max() / np.abs(y).max()),
                     "top_word_doclrp": a.words[int(x.argmax())].text, "top_word_arras": b.words[int(y.argmax())].text,
                     "top_word_changes": int(x.argmax()) != int(y.argmax()), "words": len(x)})
    differences = np.array([r["relative_difference"] for r in rows])
    summary = {"eps": EPS, "documents": len(rows), "median_relative_difference": float(np.median(differences)),
               "max_relative_difference": float(differences.max()),
               "top_word_changes": sum(r["top_word_changes"] for r in rows)}
    print(f"{args.model.name}: ε = {EPS}, {len(rows)} documents: per-document difference (max |Δ| / max |R|) "
          f"median {summary['median_relative_difference']:.1%}, max {summary['max_relative_difference']:.1%}; "
          f"top word changes in {summary['top_word_changes']} of {len(rows)}")
    write_results(ROOT / "benchmarks" / "results" / f"arras_modes-{args.model.name}.json", __file__, args,
                  {"summary": summary, "documents": rows})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
