"""Faithfulness of LRP and the baselines on BBC News: the README's evaluation table.

Runs :func:`doclrp.evaluate.suite.evaluate_methods` (what ``doclrp evaluate --report`` runs) on
a seeded, stratified sample of the held-out BBC documents (the fixed split of ``doclrp
train``) for the shipped text CNN, and for a MiniLM fine-tuned on BBC when ``--minilm
FOLDER`` is given (``doclrp train --model minilm``; not shipped, and slow on a CPU). Writes the
figures to ``benchmarks/results/evaluation-<model>-<docs>docs.json`` and the Markdown table next
to it (``.md``, which the site's Evaluation page, ``docs/evaluation.md``, includes as it is), and
the HTML report with ``--report DIR``.

    PYTHONPATH=. python benchmarks/evaluation.py [--docs 30] [--minilm FOLDER]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from doclrp.corpus import open_corpus, train_test_split_fixed  # noqa: E402
from doclrp.corpus.split import sample_records  # noqa: E402
from doclrp.evaluate.suite import evaluate_methods  # noqa: E402
from doclrp.models.loading import load_model  # noqa: E402
from doclrp.render.evaluation import render_evaluation  # noqa: E402
from measure import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SHIPPED = ROOT / "doclrp" / "pretrained" / "bbc-cnn"


def cell(summary: dict, digits: int = 2) -> str:
    if summary.get("mean") is None:
        return "–"
    return f"{summary['mean']:.{digits}f} [{summary['low']:.{digits}f}, {summary['high']:.{digits}f}]"


def markdown(name: str, data: dict) -> str:
    """One model's table: deletion and replacement ABPC, comprehensiveness, sufficiency,
    normalized AOPC, the randomization check, planted-trigger recovery and seconds per document."""
    planted = (data.get("planted") or {}).get("methods", {})
    lines = [f"**{name}**: {len(data['documents'])} held-out documents (seed {data['seed']}), means with 95 % "
             f"bootstrap intervals; ↑ higher is better, ↓ lower.", "",
             "| method | ABPC ↑ (deletion) | ABPC ↑ (replacement) | comprehensiveness ↑ | sufficiency ↓ | "
             "normalized AOPC ↑ | ρ after randomizing all layers (→ 0) | planted trigger top-1 ↑ | s / doc |",
             "|---|---|---|---|---|---|---|---|---|"]
    for method in data["methods"]:
        deletion, replacement = method["summary"]["deletion"], method["summary"]["replacement"]
        sanity = method.get("sanity", {}).get("all", {}).get("summary", {})
        trigger = planted.get(method["name"], {})
        lines.append(
            f"| {method['name']} | {cell(deletion['abpc'])} | {cell(replacement['abpc'])} | "
            f"{cell(deletion['comprehensiveness'])} | {cell(deletion['sufficiency'])} | "
            f"{cell(deletion['normalized_aopc'])} | {cell(sanity) if sanity else '–'} | "
            f"{cell(trigger['top1']) if 'top1' in trigger else '–'} | {method['time']['mean']:.3f} |")
    return "\n".join(lines) + "\n"


def run(name: str, folder: Path, args) -> tuple[dict, str]:
    records = train_test_split_fixed(list(open_corpus("bbc")))[1]
    sample = sample_records(records, args.docs, seed=args.seed)
    pipeline = load_model(folder)
    methods = args.methods.split(",") if args.methods else None
    data = evaluate_methods(pipeline, [r.text for r in sample], methods, ids=[r.id for r in sample], seed=args.seed,
                            resamples=args.resamples, sanity_docs=args.sanity_docs, planted_docs=args.planted_docs,
                            progress=True)
    return data, markdown(name, data)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=30, help="held-out documents per model (default 30)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--methods", default=None, help="comma-separated (default: doclrp evaluate's defaults)")
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--sanity-docs", type=int, default=10)
    parser.add_argument("--planted-docs", type=int, default=100)
    parser.add_argument("--minilm", type=Path, default=None, help="a MiniLM folder fine-tuned on BBC (optional)")
    parser.add_argument("--report", type=Path, default=None, help="also write the HTML report(s) into this folder")
    parser.add_argument("--skip-cnn", action="store_true", help="measure only --minilm")
    args = parser.parse_args()
    models = ([] if args.skip_cnn else [("bbc-cnn", SHIPPED)]) + ([("minilm", args.minilm)] if args.minilm else [])
    for name, folder in models:
        data, table = run(name, folder, args)
        stem = f"evaluation-{name}-{args.docs}docs"
        write_results(RESULTS / f"{stem}.json", __file__, args, data)
        (RESULTS / f"{stem}.md").write_text(table, encoding="utf-8")
        if args.report:
            args.report.mkdir(parents=True, exist_ok=True)
            (args.report / f"{name}.html").write_text(render_evaluation(data, {"model": name}), encoding="utf-8")
        print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
