"""Faithfulness of LRP and the baselines on BBC News: the README's evaluation table.

Runs :func:`doclrp.evaluate.suite.evaluate_methods` (what ``doclrp evaluate --report`` runs) on
a seeded, stratified sample of the held-out BBC documents (the fixed split of ``doclrp
train``) for the shipped text CNN, and for a MiniLM fine-tuned on BBC when ``--minilm
FOLDER`` is given (``doclrp train --model minilm``; not shipped, and slow on a CPU). Writes the
figures to ``benchmarks/results/evaluation-<model>-<docs>docs.json``, the Markdown table next
to it (``.md``), the HTML report with ``--report DIR``, and with ``--readme`` the table into
the README's evaluation section (between its ``evaluation-table`` markers).

    PYTHONPATH=. python benchmarks/evaluation.py [--docs 30] [--minilm FOLDER] [--readme]

``--composites CORPUS:FOLDER …`` measures instead every named LRP composite that fits each model
(and the random baseline) by deletion ABPC, on held-out documents of its corpus (BBC News,
VADER): the README's table composite × model kind, with each composite's paired difference from
random. Each model's figures go to ``benchmarks/results/composites-<corpus>-<model>-<docs>docs.json``;
``--readme`` writes the table (between the ``composite-table`` markers) and the composites not
better than random by their interval into ``doclrp/models/measured.py``, whose figure
``explain`` then prints when such a composite is chosen for such a model.

    PYTHONPATH=. python benchmarks/evaluation.py --composites bbc:models/bbc-bow vader:models/vader-bow \
        --docs 30 --readme
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from doclrp._explain import explain  # noqa: E402
from doclrp.core.composites import composite_names  # noqa: E402
from doclrp.corpus import open_corpus, train_test_split_fixed  # noqa: E402
from doclrp.corpus.split import sample_records  # noqa: E402
from doclrp.errors import DoclrpError  # noqa: E402
from doclrp.evaluate.suite import TRANSFORMER_COMPOSITES, evaluate_methods  # noqa: E402
from doclrp.models.loading import load_model  # noqa: E402
from doclrp.render.evaluation import render_evaluation  # noqa: E402
from doclrp.training.planted import planted_trainer  # noqa: E402
from measure import write_results  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "README.md"
SHIPPED = ROOT / "doclrp" / "pretrained" / "bbc-cnn"
START, END = "<!-- evaluation-table:start -->", "<!-- evaluation-table:end -->"
TABLE_START, TABLE_END = "<!-- composite-table:start -->", "<!-- composite-table:end -->"
MEASURED = ROOT / "doclrp" / "models" / "measured.py"
KIND_ORDER = ["bow-mlp", "sklearn", "embedding-bag", "text-cnn", "text-lstm"]
MEASURED_START, MEASURED_END = "# measured:start", "# measured:end"


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
                            progress=True, planted_trainer=planted_trainer(pipeline))
    return data, markdown(name, data)


def update_readme(table: str, start: str = START, end: str = END, path: Path = README) -> None:
    text = path.read_text(encoding="utf-8")
    if start not in text or end not in text:
        raise SystemExit(f"{path.name} has no {start} … {end} markers")
    text = re.sub(re.escape(start) + ".*?" + re.escape(end), lambda _: f"{start}\n{table}{end}", text, flags=re.S)
    path.write_text(text, encoding="utf-8")


def fitting_composites(pipeline, text: str) -> list[str]:
    """The named composites that explain this model (a transformer composite refuses a CNN, the
    plain ones a transformer's LayerNorm; z^B a model that declares no input range)."""
    fitting = []
    # on a model without attention the transformer composites are LRP-0 (the `zero` row)
    transformer = hasattr(pipeline, "tokenizer")
    for name in composite_names():
        if name in TRANSFORMER_COMPOSITES and not transformer:
            continue
        try:
            explain(pipeline, [text], method=name)
        except DoclrpError:
            continue
        fitting.append(name)
    return fitting


def measure_composites(corpus: str, folder: Path, args) -> dict:
    """Every fitting composite and random (first: the paired differences are from it) by deletion."""
    records = train_test_split_fixed(list(open_corpus(corpus)))[1]
    sample = sample_records(records, args.docs, seed=args.seed)
    pipeline = load_model(folder)
    methods = ["random", *fitting_composites(pipeline, sample[0].text)]
    data = evaluate_methods(pipeline, [r.text for r in sample], methods, ids=[r.id for r in sample],
                            seed=args.seed, resamples=args.resamples, sanity_docs=0, planted_docs=0,
                            progress=True)
    data["model"] = {"folder": folder.name, "corpus": corpus, "model_type": _model_type(pipeline),
                     "metrics": getattr(pipeline, "metrics", {})}
    return data


def _model_type(pipeline) -> str:
    return str(getattr(pipeline.model, "model_type", None) or getattr(getattr(pipeline.model, "config", None),
                                                                        "model_type", "unknown"))


def composite_rows(runs: list[dict]) -> tuple[str, dict]:
    """The Markdown table composite × model (deletion ABPC [95 % interval]; ✗ where its paired
    difference from random is not above 0 by its interval) and the composites not better than
    random, by model type: ``{composite: {model_type: figures}}``."""
    columns = [f"{r['model']['corpus']} {r['model']['model_type']}" for r in runs]
    names = list(dict.fromkeys(m["name"] for r in runs for m in r["methods"]))
    worse: dict[str, dict[str, dict]] = {}
    lines = ["| composite | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for name in names:
        cells = []
        for run in runs:
            method = next((m for m in run["methods"] if m["name"] == name), None)
            if method is None:
                cells.append("does not apply")
                continue
            summary = method["summary"]["deletion"]["abpc"]
            text = cell(summary)
            if name != "random":
                paired = next(p for p in run["paired"]["deletion"]["abpc"] if p["method"] == name)
                if not paired["low"] > 0:
                    text += " ✗"
                    random = next(m for m in run["methods"] if m["name"] == "random")["summary"]["deletion"]["abpc"]
                    figures = {
                        "corpus": run["model"]["corpus"], "abpc": summary["mean"], "low": summary["low"],
                        "high": summary["high"], "random": random["mean"], "random_low": random["low"],
                        "random_high": random["high"], "documents": len(run["documents"])}
                    known = worse.setdefault(name, {}).get(run["model"]["model_type"])
                    # one figure per kind: the corpus where the composite fell furthest below random
                    if known is None or figures["abpc"] - figures["random"] < known["abpc"] - known["random"]:
                        worse[name][run["model"]["model_type"]] = figures
            cells.append(text)
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n", worse


def write_measured(worse: dict) -> None:
    body = "NOT_BETTER_THAN_RANDOM: dict[str, dict[str, dict[str, Any]]] = " + json.dumps(worse, indent=4) + "\n"
    update_readme(body, MEASURED_START, MEASURED_END, MEASURED)


def run_composites(args) -> int:
    """Measure the models named (``--composites corpus:folder``, none: only rebuild the table), then
    the table from every saved ``composites-*-<docs>docs.json``: models measured in other runs
    (the LSTMs, slow to train) join it."""
    for pair in args.composites:
        corpus, _, folder = pair.partition(":")
        data = measure_composites(corpus, Path(folder), args)
        stem = f"composites-{corpus}-{Path(folder).name}-{args.docs}docs"
        write_results(RESULTS / f"{stem}.json", __file__, args, data)
    saved = sorted(RESULTS.glob(f"composites-*-{args.docs}docs.json"))
    runs = [json.loads(path.read_text(encoding="utf-8"))["results"] for path in saved]
    runs.sort(key=lambda run: (run["model"]["corpus"], KIND_ORDER.index(run["model"]["model_type"])
                               if run["model"]["model_type"] in KIND_ORDER else len(KIND_ORDER)))
    table, worse = composite_rows(runs)
    print(table)
    if args.readme:
        update_readme(table, TABLE_START, TABLE_END)
        write_measured(worse)
    return 0


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
    parser.add_argument("--readme", action="store_true", help="write the table(s) into README.md")
    parser.add_argument("--composites", nargs="*", metavar="CORPUS:FOLDER", default=None,
                        help="measure every composite on these models (see the module docstring)")
    parser.add_argument("--skip-cnn", action="store_true",
                        help="measure only --minilm; the CNN's table is read from its saved results (same --docs)")
    args = parser.parse_args()
    if args.composites is not None:
        return run_composites(args)
    models = ([] if args.skip_cnn else [("bbc-cnn", SHIPPED)]) + ([("minilm", args.minilm)] if args.minilm else [])
    tables = []
    if args.skip_cnn:
        saved = RESULTS / "evaluation-bbc-cnn-30docs.md"
        if not saved.exists():
            raise SystemExit(f"--skip-cnn: no saved CNN table at {saved}")
        tables.append(saved.read_text(encoding="utf-8"))
    for name, folder in models:
        data, table = run(name, folder, args)
        stem = f"evaluation-{name}-{args.docs}docs"
        write_results(RESULTS / f"{stem}.json", __file__, args, data)
        (RESULTS / f"{stem}.md").write_text(table, encoding="utf-8")
        if args.report:
            args.report.mkdir(parents=True, exist_ok=True)
            (args.report / f"{name}.html").write_text(render_evaluation(data, {"model": name}), encoding="utf-8")
        print(table)
        tables.append(table)
    if not args.minilm:
        tables.append("MiniLM: not measured here (no fine-tuned MiniLM folder on this machine; "
                      "`--minilm FOLDER` adds its table).\n")
    if args.readme:
        update_readme("\n".join(tables))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
