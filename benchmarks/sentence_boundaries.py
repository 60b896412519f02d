"""Sentence boundaries of explain's word splitters on BBC News, against spaCy's parser.

doclrp splits words and sentences with the trained package's sentence tagger (``pipeline="full"``,
what ``explain`` uses when the package is installed) or spaCy's punctuation sentencizer
(``"blank"``). Long texts go to either in blocks (:func:`doclrp.text.words.blocks`), which
changes no boundary (``tests/test_text_blocks.py``). This script scores both against the
dependency parser of the same package (the most accurate splitter it has, ~14x slower), as
precision, recall and F1 of sentence starts (word offsets), paragraph breaks included for all.

    python benchmarks/sentence_boundaries.py [--docs 300] [--out FILE]

Results: printed, and written to ``benchmarks/results/sentence_boundaries.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from measure import add_out_argument, results_path, write_results


def starts(nlp: Any, texts: list[str]) -> tuple[list[set[int]], float]:
    """The sentence starts (character offsets) of each text, and the seconds it took."""
    from doclrp.text import tokenize_many

    began = time.perf_counter()
    documents = tokenize_many(texts, nlp=nlp)
    return [{s.start for s in d.sentences} for d in documents], time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=300, help="BBC documents, evenly spread over the corpus")
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    import spacy

    from doclrp.corpus import read_bbc
    from doclrp.text import load_spacy
    from doclrp.text.words import MODEL_PACKAGE

    texts = [record.text for record in read_bbc()]
    texts = texts[:: max(1, len(texts) // args.docs)][: args.docs]
    parser_nlp = spacy.load(MODEL_PACKAGE, exclude=["tagger", "attribute_ruler", "lemmatizer", "ner"])
    reference, reference_seconds = starts(parser_nlp, texts)
    results: dict[str, Any] = {"documents": len(texts), "parser_seconds": reference_seconds,
                               "reference_sentences": sum(map(len, reference)), "splitters": {}}
    print(f"{len(texts)} BBC documents; parser: {results['reference_sentences']} sentences in {reference_seconds:.1f} s")
    for name in ("full", "blank"):
        found, seconds = starts(load_spacy(name), texts)
        hits = sum(len(a & b) for a, b in zip(found, reference))
        n_found = sum(map(len, found))
        scores = {"precision": hits / n_found, "recall": hits / results["reference_sentences"],
                  "f1": 2 * hits / (n_found + results["reference_sentences"]), "sentences": n_found,
                  "seconds": seconds}
        results["splitters"][name] = scores
        print(f"{name:6s} precision {scores['precision']:.3f} recall {scores['recall']:.3f} F1 {scores['f1']:.3f} "
              f"({n_found} sentences, {seconds:.1f} s)")
    write_results(results_path(args, __file__), __file__, args, results, packages=("spacy",))


if __name__ == "__main__":
    main()
