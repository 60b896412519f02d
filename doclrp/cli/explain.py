"""``doclrp explain``: explain one document; its prediction and top words printed, a page with ``--out``.

>>> import pathlib, tempfile
>>> doc = pathlib.Path(tempfile.mkdtemp()) / "doc.txt"
>>> _ = doc.write_text("Shares rose.", encoding="utf-8")
>>> read_document(doc)
'Shares rose.'
"""

from __future__ import annotations

import json
from pathlib import Path

from doclrp._atomic import write_text
from doclrp._explain import explain, explain_targets, invalid_character
from doclrp.cli.options import device_from_args, method_from_args, prompt_options, target_from_args
from doclrp.cli.terminal import in_command_line_terms, printable, top_words_text
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model
from doclrp.render import to_html
from doclrp.text.terms import excluded, parse_leave_out

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
    text = check_document(args.text if args.text is not None else read_document(args.file), args.max_chars)
    if args.generate is not None or args.continuation is not None:
        return _generation(args, text)
    if args.json is not None:
        raise DoclrpError("--json writes a generation explanation: give --generate N or --continuation TEXT")
    pipeline = load_model(args.model, device=args.device, allow_pickle=args.allow_pickle, vocab=args.vocab,
                          labels=args.labels, **prompt_options(args))
    # Made once, here, and carried down unchanged.
    target, method = target_from_args(args, pipeline), method_from_args(args, pipeline)
    leave_out = parse_leave_out(getattr(args, "top_words_filter", None))
    page = None
    if args.out is not None:
        # The page carries every class (and X-vs-rest) for its target switch: one pass each.
        explanation, *others = explain_targets(pipeline, text, target=target, method=method)
        page = write_page(args.out, to_html(explanation, title=Path(args.file).name if args.file else None,
                                            alternatives=others, leave_out=leave_out))
    else:
        explanation = explain(pipeline, text, target=target, method=method)
    print(printable(prediction_line(explanation)))
    _print_top(explanation, args.top, leave_out)
    if page is not None:
        print(f"wrote {page}")
    return 0


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
    if args.json is not None:
        written = write_page(args.json, json.dumps(result.to_dict(), ensure_ascii=False, indent=1) + "\n")
        print(f"wrote {written}")
    if args.out is not None:
        title = Path(args.file).name if args.file else None
        print(f"wrote {write_page(args.out, generation_html(result, title=title))}")
    return 0

