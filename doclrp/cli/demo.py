"""``doclrp demo``: the shipped BBC model explains one test document of each type.

>>> from doclrp.cli.demo import run_demo
>>> index = run_demo("doclrp-demo")            # doctest: +SKIP
>>> index.name                                  # doctest: +SKIP
'index.html'
"""

from __future__ import annotations

import sys
from pathlib import Path

from doclrp._atomic import staged_folder
from doclrp._explain import explain
from doclrp.cli.terminal import printable
from doclrp.corpus import read_bbc, train_test_split_fixed
from doclrp.models.loading import load_model, pretrained_path
from doclrp.render import render_index, to_html

__all__ = ["run", "run_demo", "demo_documents"]


def demo_documents(labels):
    """The first test document (by id) of each label, from the fixed BBC split."""
    _, test = train_test_split_fixed(list(read_bbc()))
    chosen = {}
    for record in sorted(test, key=lambda r: r.id):
        chosen.setdefault(record.label, record)
    return [chosen[label] for label in labels if label in chosen]


def run_demo(out: str | Path = "doclrp-demo", model: str | Path | None = None, top: int = 8,
             stream=None) -> Path:
    """Write ``out/index.html`` and one page per document; print the top words. Returns the index path."""
    stream = stream or sys.stdout
    pipeline = load_model(model or pretrained_path())
    records = demo_documents(pipeline.labels)
    explanations = explain(pipeline, [r.text for r in records], ids=[r.id for r in records])
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # Built aside and swapped in whole: an interrupted run leaves the old folder intact.
    with staged_folder(out) as staging:
        entries = []
        for record, explanation in zip(records, explanations):
            page = f"{record.id.replace('/', '-')}.html"
            (staging / page).write_text(to_html(explanation, title=f"BBC {record.id}"), encoding="utf-8")
            entries.append((page, explanation, record.label))
            print(printable(f"{record.id} (true {record.label}, predicted {explanation.prediction.label})"),
                  file=stream)
            words = ", ".join(f"{w.text} {w.relevance:+.2f}" for w in explanation.top_words(top))
            print(printable(f"  for {explanation.target}: {words}"), file=stream)
        index = render_index(entries, title="doclrp demo: BBC news types")
        (staging / "index.html").write_text(index, encoding="utf-8")
    return (out / "index.html").resolve()


def run(args) -> int:
    """``doclrp demo``: pages for the BBC news types, the index path printed."""
    index = run_demo(args.out, model=args.model, top=args.top)
    print(f"open {index}")
    return 0
