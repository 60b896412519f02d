"""``doclrp explain``: explain one document; its prediction and top words printed, a page or JSON with ``--out``.

>>> import pathlib, tempfile
>>> doc = pathlib.Path(tempfile.mkdtemp()) / "doc.html"
>>> _ = doc.write_text("<p>Shares <b>rose</b>.<script>x()</script>", encoding="utf-8")
>>> read_document(doc)
'Shares rose.'

``--file`` is any document doclrp reads (:mod:`doclrp.documents`: PDF, Word, HTML, e-mail,
text), within ``--max-bytes``, ``--max-pages`` and ``--doc-timeout``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from doclrp._atomic import write_text
from doclrp._budget import Budget, DocumentTimeout
from doclrp._explain import MAX_VIEW_WORDS, explain, explain_targets, invalid_character
from doclrp.cli.options import device_from_args, method_from_args, prompt_options, target_from_args
from doclrp.cli.terminal import in_command_line_terms, printable, top_words_text
from doclrp.documents import Deadline, Limits, SourceText, read_source, render_pages
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model
from doclrp.render import to_html
from doclrp.render.pages import PAGE_VIEW_PAGES
from doclrp.text import load_spacy
from doclrp.text.terms import excluded, parse_leave_out

__all__ = ["run", "read_document", "read_file", "drawn_pages", "write_page", "write_json", "check_document", "prediction_line",
           "limits_from_args", "document_line"]


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


def read_document(path: str | Path, limits: Limits | None = None) -> str:
    """The text of a document file of any kind doclrp reads; one-line errors for missing,
    oversized, encrypted, scanned and malformed files and for text in other encodings."""
    return read_file(path, limits).text


def read_file(path: str | Path, limits: Limits | None = None, deadline: Deadline | None = None) -> SourceText:
    """A document file read within ``limits`` (:func:`doclrp.documents.read_source`)."""
    return read_source(path, name=str(path), limits=limits, deadline=deadline)


def drawn_pages(source: SourceText | None, deadline: Deadline | None = None) -> list:
    """The first `PAGE_VIEW_PAGES` pages of a PDF drawn for its page view (none for other kinds)."""
    if source is None or source.kind != "pdf" or source.data is None or not source.pages:
        return []
    return render_pages(source.data, source.name or "the PDF", pages=range(min(source.pages, PAGE_VIEW_PAGES)),
                        deadline=deadline)


def limits_from_args(args) -> Limits:
    """The bounds of reading a file from ``--max-bytes``, ``--max-pages`` and ``--doc-timeout``."""
    return Limits(max_bytes=args.max_bytes, max_pages=args.max_pages, timeout=getattr(args, "doc_timeout", None))


def document_line(source: SourceText) -> str:
    """What was read from a file that is not plain text: its kind, pages, attachments, notes.

    >>> document_line(SourceText("Hi", kind="pdf", name="a.pdf", pages=3, notes=["no text on page(s) 2 (scanned?)"]))
    'document: a.pdf (PDF, 3 pages; no text on page(s) 2 (scanned?))'
    """
    kinds = {"pdf": "PDF", "docx": "Word", "html": "HTML", "email": "e-mail", "text": "text"}
    facts = [kinds[source.kind]]
    if source.pages is not None:
        facts.append(f"{source.pages} page{'s' if source.pages != 1 else ''}")
    details = "; ".join(source.notes + ([f"attachments: {', '.join(source.attachments)}"] if source.attachments
                                        else []))
    return f"document: {source.name} ({', '.join(facts)}{'; ' + details if details else ''})"


def write_json(path: str | Path, data: dict) -> Path:
    """``data`` as a JSON file, written atomically (the checks of `write_page`)."""
    return write_page(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")


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
    # A named method and its --param need no model: checked before the file is read and the model
    # loads; the target as soon as the model's labels are there. Made once, here, and carried down.
    method = method_from_args(args)
    limits = limits_from_args(args) if args.file is not None else None
    deadline = limits.deadline() if limits is not None else None  # reading and drawing the pages share it
    # The file is read before the model loads (an unreadable one fails at once); its time counts
    # against --doc-timeout, and the model's and spaCy's loading do not (the command's, not the document's).
    reading = Budget(None)
    with reading.stage("reading"):
        source = None if args.file is None else read_file(args.file, limits, deadline)
        text = check_document(args.text if source is None else source.text, args.max_chars)
    if args.generate is not None or args.continuation is not None:
        return _generation(args, text)
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle, vocab=args.vocab,
                          labels=args.labels, **prompt_options(args))
    # the target as soon as the model's labels are there; the method, unless named, is the model's own
    target, method = target_from_args(args, pipeline), method or method_from_args(args, pipeline)
    load_spacy()
    budget = Budget(getattr(args, "doc_timeout", None))
    budget.charge("reading", reading.seconds["reading"])
    try:
        explanation, page = _explain_document(args, pipeline, text, source, deadline, budget, target, method)
    except DocumentTimeout as error:
        raise DoclrpError(f"the document {error}; raise --doc-timeout or split the document") from None
    finally:
        if getattr(args, "timings", False):
            print("timings " + json.dumps({name: round(s, 4) for name, s in budget.seconds.items()}),
                  file=sys.stderr, flush=True)
    print(printable(prediction_line(explanation)))
    _print_top(explanation, args.top, parse_leave_out(getattr(args, "top_words_filter", None)))
    if source is not None and source.kind != "text":
        print(printable(document_line(source)))
    if page is not None:
        print(f"wrote {page}")
    return 0


def _explain_document(args: Any, pipeline: Any, text: str, source: SourceText | None, deadline: Deadline | None,
                      budget: Budget, target: Any, method: Any) -> tuple[Any, Path | None]:
    leave_out = parse_leave_out(getattr(args, "top_words_filter", None))
    as_json = args.out is not None and Path(args.out).suffix.lower() == ".json"
    if args.out is None or as_json:
        explanation = explain(pipeline, text, target=target, method=method, budget=budget)
        if source is not None:
            explanation = source.attach(explanation)
        if not as_json:
            return explanation, None
        with budget.stage("writing the page"):
            return explanation, write_json(args.out, _json_of(explanation, source))
    # The page carries every class (and X-vs-rest) for its target switch: one pass each.
    explanation, *others = explain_targets(pipeline, text, target=target, method=method, budget=budget)
    if source is not None:
        explanation, others = source.attach(explanation), [source.attach(other) for other in others]
    if len(explanation.words) > MAX_VIEW_WORDS:
        print(f"the page shows {explanation.target} alone: documents over {MAX_VIEW_WORDS:,} words get no switch "
              "between targets (each target is one more pass over the whole document)", file=sys.stderr)
    with budget.stage("making the page"):
        page = to_html(explanation, title=Path(args.file).name if args.file else None, alternatives=others,
                       leave_out=leave_out, budget=budget, pages=drawn_pages(source, deadline))
    with budget.stage("writing the page"):
        return explanation, write_page(args.out, page)


def _generation(args, text: str) -> int:
    """``--generate N`` / ``--continuation TEXT``: each token the language model writes, explained."""
    from doclrp._generate import MAX_GENERATE, explain_generation  # the language model path only
    from doclrp.models.hf.prompted import load_prompted_lm
    from doclrp.render.generation import generation_html

    options = prompt_options(args, labels_needed=False)
    if not options:
        raise DoclrpError("--generate and --continuation need --prompt (or --prompt-file): the language model "
                          "reads the document inside it")
    if args.labels is not None:
        raise DoclrpError("--labels score a classifier's labels; --generate and --continuation explain what the "
                          "model writes: give one or the other")
    if args.generate is not None and args.generate > MAX_GENERATE:
        raise DoclrpError(f"--generate takes at most {MAX_GENERATE} tokens, got {args.generate}")
    if args.target != "predicted" or args.reference is not None:
        raise DoclrpError("--target and --reference do not apply to --generate: each written token is explained")
    lm = load_prompted_lm(args.model, options["prompt"], chat=options["chat"], device=args.device,
                          allow_pickle=args.allow_pickle)
    result = explain_generation(lm, text, max_new_tokens=args.generate or 1, continuation=args.continuation,
                                method=method_from_args(args, lm))
    print(printable(f"continuation: {result.continuation!r}"))
    leave = parse_leave_out(getattr(args, "top_words_filter", None))
    for index, token in enumerate(result.generated):
        ranked = sorted(range(len(result.words)), key=lambda i: -token.words[i])
        shown = [result.words[i].text for i in ranked if token.words[i] > 0
                 and not excluded(result.words[i].text, leave)][: args.top]
        print(printable(f"  {index + 1:3d} {token.token!r} (logit {token.value:.3f}, p {token.probability:.3f}): "
                        f"{', '.join(shown) or '-'}"))
    if args.out is not None and Path(args.out).suffix.lower() == ".json":
        print(f"wrote {write_json(args.out, result.to_dict())}")
    elif args.out is not None:
        title = Path(args.file).name if args.file else None
        print(f"wrote {write_page(args.out, generation_html(result, title=title))}")
    return 0


def _json_of(explanation: Any, source: SourceText | None) -> dict[str, Any]:
    """``Explanation.to_dict()`` and, for a file, what was read from it (``document``)."""
    data = explanation.to_dict()
    if source is not None:
        data["document"] = {"name": source.name, "kind": source.kind, "pages": source.pages,
                            "attachments": list(source.attachments), "notes": list(source.notes)}
    return data
