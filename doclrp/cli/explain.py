"""``doclrp explain``: explain one document; its prediction and top words printed, a page with ``--out``.

>>> import pathlib, tempfile
>>> doc = pathlib.Path(tempfile.mkdtemp()) / "doc.txt"
>>> _ = doc.write_text("Shares rose.", encoding="utf-8")
>>> read_document(doc)
'Shares rose.'
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from doclrp._atomic import write_text
from doclrp._budget import Budget, DocumentTimeout
from doclrp._explain import MAX_VIEW_WORDS, explain, explain_targets, invalid_character
from doclrp.cli.options import device_from_args, method_from_args, target_from_args
from doclrp.cli.terminal import in_command_line_terms, printable, top_words_text
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model
from doclrp.render import to_html
from doclrp.text import load_spacy
from doclrp.text.terms import parse_leave_out

__all__ = ["run", "read_document", "write_page", "check_document", "prediction_line"]


def write_page(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: never a half-written page."""
    path = Path(path)
    if path.is_dir():
        raise DoclrpError(f"{path} is a folder; give a file name for the page")
    if not path.parent.exists():
        raise DoclrpError(f"folder {path.parent} does not exist")
    try:
        return write_text(path, text)
    except OSError as error:  # a read-only file system, a full disk, a "folder" that is a file
        raise DoclrpError(f"cannot write {path}: {error.strerror or error}; choose another --out") from None


def check_document(text: str, max_chars: int) -> str:
    """``text`` if it can be explained; else the one-line reason.

    >>> check_document("x" * 11, max_chars=10)
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: the document has 11 characters, more than --max-chars 10: split it or raise the limit
    """
    if len(text) > max_chars:
        raise DoclrpError(f"the document has {len(text):,} characters, more than --max-chars {max_chars:,}: "
                          "split it or raise the limit")
    problem = invalid_character(text)
    if problem:
        raise DoclrpError(f"the document {problem}")
    return text


def read_document(path: str | Path) -> str:
    """A UTF-8 document; one-line errors for missing files and other encodings."""
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"no such file: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DoclrpError(f"{path} is not UTF-8 text (byte {error.start}); convert it to UTF-8") from None


def prediction_line(explanation) -> str:
    """The prediction in one line: the label, or each regression output with its name.

    >>> from types import SimpleNamespace
    >>> from doclrp.text import Prediction
    >>> regression = SimpleNamespace(prediction=Prediction.from_logits([0.53, 0.41], task="regression"),
    ...                              labels=["compound", "pos"])
    >>> prediction_line(regression)
    'prediction: compound +0.530, pos +0.410'
    >>> prediction_line(SimpleNamespace(prediction=Prediction.from_logits([0.0, 2.0], labels=["a", "b"]),
    ...                                 labels=["a", "b"]))
    'prediction: b (p 0.881)'
    """
    prediction = explanation.prediction
    if prediction.label is not None:
        return f"prediction: {prediction.label} (p {prediction.probabilities[prediction.index]:.3f})"
    names = list(explanation.labels)
    if len(names) != len(prediction.values):  # a model without output names: their positions name them
        names = [str(i) for i in range(len(prediction.values))]
    return "prediction: " + ", ".join(f"{name} {value:+.3f}" for name, value in zip(names, prediction.values))


def _print_top(explanation, top: int, leave_out) -> None:
    shown = top_words_text(explanation, top, leave_out)
    print(printable(f"  target {explanation.target} = {explanation.target_value:.3f}; top words: {shown}"))


@in_command_line_terms()
def run(args) -> int:
    """``doclrp explain``: one document, its prediction and top words printed, a highlighted page with ``--out``."""
    device_from_args(args)
    if args.file is not None and not Path(args.file).is_file():  # before the model loads: a typo fails at once
        raise DoclrpError(f"no such file: {args.file}")
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle, vocab=args.vocab,
                          labels=args.labels)
    load_spacy()  # the word splitter too: loading is the command's work, not the document's
    # The document's budget starts once the model is loaded: loading is the command's, not the document's.
    budget = Budget(getattr(args, "doc_timeout", None))
    try:
        explanation, page = _explain_document(args, pipeline, budget)
    except DocumentTimeout as error:
        raise DoclrpError(f"the document {error}; raise --doc-timeout or split the document") from None
    finally:
        if getattr(args, "timings", False):
            print("timings " + json.dumps({name: round(s, 4) for name, s in budget.seconds.items()}),
                  file=sys.stderr, flush=True)
    print(printable(prediction_line(explanation)))
    _print_top(explanation, args.top, parse_leave_out(getattr(args, "top_words_filter", None)))
    if page is not None:
        print(f"wrote {page}")
    return 0


def _explain_document(args: Any, pipeline: Any, budget: Budget) -> tuple[Any, Path | None]:
    with budget.stage("reading"):
        text = check_document(args.text if args.text is not None else read_document(args.file), args.max_chars)
    # Made once, here, and carried down unchanged.
    target, method = target_from_args(args, pipeline), method_from_args(args, pipeline)
    leave_out = parse_leave_out(getattr(args, "top_words_filter", None))
    if args.out is None:
        return explain(pipeline, text, target=target, method=method, budget=budget), None
    # The page carries every class (and X-vs-rest) for its target switch: one pass each.
    explanation, *others = explain_targets(pipeline, text, target=target, method=method, budget=budget)
    if len(explanation.words) > MAX_VIEW_WORDS:
        print(f"the page shows {explanation.target} alone: documents over {MAX_VIEW_WORDS:,} words get no switch "
              "between targets (each target is one more pass over the whole document)", file=sys.stderr)
    with budget.stage("making the page"):
        page = to_html(explanation, title=Path(args.file).name if args.file else None, alternatives=others,
                       leave_out=leave_out, budget=budget)
    with budget.stage("writing the page"):
        return explanation, write_page(args.out, page)
