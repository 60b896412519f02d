"""``doclrp demo``: the shipped BBC model explains one test document of each type.

>>> from doclrp.cli.demo import run_demo
>>> index = run_demo("doclrp-demo")            # doctest: +SKIP
>>> index.name                                  # doctest: +SKIP
'index.html'
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from doclrp._atomic import staged_folder
from doclrp._explain import explain_targets
from doclrp.cli.terminal import in_command_line_terms, printable, top_words_text
from doclrp.corpus import Record, read_bbc, train_test_split_fixed
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model, pretrained_path
from doclrp.render import render_index, to_html
from doclrp.text.terms import DEFAULT_LEAVE_OUT, parse_leave_out

__all__ = ["run", "run_demo", "demo_documents"]


def demo_documents(labels):
    """The first test document (by id) of each label, from the fixed BBC split."""
    _, test = train_test_split_fixed(list(read_bbc()))
    chosen: dict[str | None, Record] = {}
    for record in sorted(test, key=lambda r: r.id):
        chosen.setdefault(record.label, record)
    return [chosen[label] for label in labels if label in chosen]


def run_demo(out: str | Path = "doclrp-demo", model: str | Path | None = None, top: int = 8,
             stream=None, leave_out: Sequence[str] = DEFAULT_LEAVE_OUT) -> Path:
    """Write ``out/index.html`` and one page per document; print the top words. Returns the index path.

    Each page carries every class and ``X-vs-rest`` for its target switch (one pass each) and
    links back to the index.
    """
    stream = stream or sys.stdout
    pipeline = load_model(model or pretrained_path())
    records = demo_documents(pipeline.labels)
    print(f"explaining {len(records)} BBC test documents (one per type) with {model or 'the shipped model'}, "
          f"every class and X-vs-rest each; writing {out}", file=stream, flush=True)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    title = "doclrp demo: BBC news types"
    # Built aside and swapped in whole: an interrupted run leaves the old folder intact.
    with staged_folder(out) as staging:
        entries = []
        for record in records:  # each document printed when done: the lines are the progress
            explanation, *others = explain_targets(pipeline, record.text, id=record.id)
            page = f"{record.id.replace('/', '-')}.html"
            (staging / page).write_text(to_html(explanation, title=f"BBC {record.id}", alternatives=others,
                                                back=("index.html", title), leave_out=leave_out), encoding="utf-8")
            entries.append((page, explanation, record.label))
            print(printable(f"{record.id} (true {record.label}, predicted {explanation.prediction.label})"),
                  file=stream)
            print(printable(f"  for {explanation.target}: {top_words_text(explanation, top, leave_out)}"),
                  file=stream, flush=True)
        index = render_index(entries, title=title, leave_out=leave_out)
        (staging / "index.html").write_text(index, encoding="utf-8")
    return (out / "index.html").resolve()


@in_command_line_terms()
def run(args) -> int:
    """``doclrp demo``: pages for the BBC news types, the index path printed."""
    try:
        index = run_demo(args.out, model=args.model, top=args.top,
                         leave_out=parse_leave_out(getattr(args, "top_words_filter", None)))
    except OSError as error:  # read-only file system, /sys or /proc, a file where a folder goes, a full disk
        raise DoclrpError(f"cannot write {args.out}: {error.strerror or error}; choose another --out") from None
    print(f"open {index}")
    return 0
