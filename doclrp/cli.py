"""The ``doclrp`` command: thin argument parsing over the library.

    doclrp demo                       explain BBC test documents with the shipped model
    doclrp train --corpus bbc --model cnn --out models/bbc-cnn
    doclrp explain --model DIR --text "..." --out page.html
    doclrp corpus --model DIR --input bbc --out results.jsonl
    doclrp corpus summarize results.jsonl --out report/
    doclrp evaluate --model DIR --corpus bbc --methods epsilon,integrated-gradients,random

User errors end with one line on stderr (``doclrp: error: ...``) and exit code 2,
and leave no partial output behind.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

from .errors import DoclrpError

__all__ = ["main", "build_parser"]

EXIT_USAGE = 2


def _add_model_options(parser):
    parser.add_argument("--model", required=True, metavar="DIR", help="a model folder (doclrp or Hugging Face)")
    parser.add_argument("--target", default="predicted",
                        help="what to explain: 'predicted' (default), a label or output name, an index, "
                             "'LABEL-vs-rest', or weights like 'pos=1,neg=-1'")
    parser.add_argument("--method", "--composite", dest="method", default=None,
                        help="LRP composite (default: the model's own: zero, epsilon, epsilon-plus, "
                             "epsilon-gamma-box, alpha2-beta1, cp-lrp, attnlrp) or a baseline: gradient-x-input, "
                             "saliency, integrated-gradients, occlusion, random (--composite: the older name)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the method, e.g. eps=0.01, gamma=0.5, steps=64 (repeat for several)")
    parser.add_argument("--device", default="cpu", help="cpu or cuda")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doclrp",
        description="Explain PyTorch text models word by word with Layer-wise Relevance Propagation.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="explain one BBC test document per type with the shipped model",
                          description="Load the model shipped with doclrp, explain one test document of each "
                                      "BBC news type and write highlighted HTML pages with an index.")
    demo.add_argument("--out", default="doclrp-demo", help="output folder (default: doclrp-demo)")
    demo.add_argument("--model", default=None, help="a model folder instead of the shipped one")
    demo.add_argument("--top", type=int, default=8, help="top words to print per document")

    train = sub.add_parser("train", help="train a text model on a corpus",
                           description="Train a text model (cnn, bow, bag), or fine-tune minilm or any local "
                                       "Hugging Face model folder, with early stopping (built-in models) and "
                                       "save it as safetensors + JSON; prints and stores test metrics.")
    train.add_argument("--corpus", default="bbc",
                       help="'bbc', 'vader', 'vader-rt', a folder of <class>/*.txt, a .jsonl or a .csv")
    train.add_argument("--model", default="cnn", metavar="cnn|bow|bag|minilm|FOLDER",
                       help="a built-in model, the shipped MiniLM encoder, or a local Hugging Face model folder "
                            "to fine-tune (encoders and decoder classifiers; default cnn)")
    train.add_argument("--out", required=True, help="output model folder")
    train.add_argument("--task", default="classification", choices=["classification", "regression"])
    train.add_argument("--target-column", action="append", dest="target_columns", metavar="NAME",
                       help="regression target field/column (repeat for several outputs)")
    train.add_argument("--epochs", type=int, default=None)
    train.add_argument("--batch-size", type=int, default=None)
    train.add_argument("--lr", type=float, default=None)
    train.add_argument("--seed", type=int, default=13)
    train.add_argument("--max-len", type=int, default=None)
    train.add_argument("--glove", action="store_true", help="initialise embeddings from GloVe 6B 50d")
    train.add_argument("--device", default="cpu")
    train.add_argument("--quiet", action="store_true", help="no progress bars")

    explain = sub.add_parser("explain", help="explain one document and write a highlighted HTML page",
                             description="Explain one document with a trained model; writes a highlighted HTML "
                                         "page and prints the most relevant words.")
    _add_model_options(explain)
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the document text")
    source.add_argument("--file", help="a UTF-8 text file")
    explain.add_argument("--out", required=True, help="the HTML page to write")
    explain.add_argument("--top", type=int, default=10, help="top words to print")
    explain.add_argument("--reference", metavar="mean|V,V,...",
                         help="explain the deviation from a reference prediction: 'mean' (stored at training) "
                              "or one number per output")

    evaluate = sub.add_parser("evaluate", help="score LRP and baseline methods by deleting relevant words",
                              description="Explain held-out documents with each method and measure how much "
                                          "the explained output falls when the most relevant words are deleted "
                                          "(against random words), and the area over the deletion curve.")
    evaluate.add_argument("--model", required=True, metavar="DIR", help="a model folder (doclrp or Hugging Face)")
    evaluate.add_argument("--corpus", default="bbc", help="'bbc', a folder of <class>/*.txt, a .jsonl or a .csv")
    evaluate.add_argument("--split", default="test", choices=["test", "all"],
                          help="documents: the held-out part of doclrp train's fixed split (default) or all")
    evaluate.add_argument("--docs", type=int, default=100, help="documents to use (default 100)")
    evaluate.add_argument("--methods", default="epsilon,gradient-x-input,integrated-gradients,occlusion,random",
                          help="comma-separated LRP composites and baselines")
    evaluate.add_argument("--target", default="predicted", help="a label, an index or 'LABEL-vs-rest'")
    evaluate.add_argument("--k", type=int, default=10, help="words deleted for the drop (default 10)")
    evaluate.add_argument("--steps", type=int, default=10, help="steps of the deletion curve (default 10)")
    evaluate.add_argument("--device", default="cpu", help="cpu or cuda")

    from .corpus.cli import add_corpus_parser

    add_corpus_parser(sub, _add_model_options)
    return parser


def _parse_target(value: str):
    """``'pos=1,neg=-1'`` → a weight mapping; anything else unchanged."""
    if "=" not in value:
        return value
    weights = {}
    for part in value.split(","):
        name, _, weight = part.partition("=")
        try:
            weights[name.strip()] = float(weight)
        except ValueError:
            raise DoclrpError(f"bad target weight {part!r}: write NAME=NUMBER[,NAME=NUMBER...]") from None
    return weights


def _parse_params(values: list[str]) -> dict:
    """``['eps=0.01', 'steps=8']`` → ``{'eps': 0.01, 'steps': 8}`` (numbers as numbers).

    >>> _parse_params(["eps=0.01", "steps=8"])
    {'eps': 0.01, 'steps': 8}
    """
    params = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name.strip():
            raise DoclrpError(f"bad --param {value!r}: write NAME=VALUE, e.g. eps=0.01")
        try:
            number = float(raw)
        except ValueError:
            raise DoclrpError(f"bad --param {value!r}: the value must be a number") from None
        params[name.strip()] = int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() \
            else number
    return params


def resolve_cli_method(args, pipeline):
    """The attributor that ``--method``/``--composite`` and ``--param`` name (default: the model's own)."""
    from .core import resolve_method

    return resolve_method(args.method or pipeline.default_composite, **_parse_params(args.param))


def write_text_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` through a temporary file: never a half-written page."""
    path = Path(path)
    if path.is_dir():
        raise DoclrpError(f"{path} is a folder; give a file name for the page")
    if not path.parent.exists():
        raise DoclrpError(f"folder {path.parent} does not exist")
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temporary.write_text(text, encoding="utf-8")
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    return path


def read_document(path: str | Path) -> str:
    """A UTF-8 document; one-line errors for missing files and other encodings."""
    path = Path(path)
    if not path.is_file():
        raise DoclrpError(f"no such file: {path}")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as error:
        raise DoclrpError(f"{path} is not UTF-8 text (byte {error.start}); convert it to UTF-8") from None


def _print_top(explanation, top: int) -> None:
    words = sorted(explanation.words, key=lambda w: -abs(w.relevance))[:top]
    shown = ", ".join(f"{w.text} {w.relevance:+.3f}" for w in words)
    print(f"  target {explanation.target} = {explanation.target_value:.3f}; top words: {shown}")


def cmd_explain(args) -> int:
    from .explain import explain
    from .models.loading import load_text_model
    from .render import render_document

    text = args.text if args.text is not None else read_document(args.file)
    pipeline = load_text_model(args.model, device=args.device)
    from .corpus.cli import _parse_reference

    explanation = explain(pipeline, text, target=_parse_target(args.target), method=resolve_cli_method(args, pipeline),
                          reference=_parse_reference(args.reference))
    page = write_text_atomic(args.out, render_document(explanation, title=Path(args.file).name if args.file else None))
    print(f"prediction: {explanation.prediction.label or explanation.prediction.values}")
    _print_top(explanation, args.top)
    print(f"wrote {page}")
    return 0


def cmd_train(args) -> int:
    options = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                     max_len=args.max_len).items() if v is not None}
    if Path(args.out).exists() and any(Path(args.out).iterdir()):
        raise DoclrpError(f"{args.out} exists and is not empty; choose a new folder")
    built_in = ("cnn", "bow", "bag")
    if args.model not in (*built_in, "minilm") and not (Path(args.model) / "config.json").is_file():
        raise DoclrpError(f"--model {args.model!r}: give cnn, bow, bag, minilm or a Hugging Face model folder "
                          "(one with a config.json)")
    if args.glove and args.model not in built_in:
        raise DoclrpError("--glove initialises the embeddings of the built-in models (cnn, bow, bag) only")
    if args.model not in built_in:
        from .corpus import open_corpus
        from .training import hf_defaults, train_hf

        reader_options = {"target_columns": args.target_columns} if args.target_columns else {}
        options = {**hf_defaults(args.device), **options}
        base = None if args.model == "minilm" else args.model
        pipeline = train_hf(open_corpus(args.corpus, **reader_options), args.out, base, task=args.task,
                            target_names=args.target_columns, device=args.device, seed=args.seed,
                            progress=not args.quiet, **options)
    else:
        from .training import train

        pipeline = train(args.corpus, model=args.model, task=args.task, target_columns=args.target_columns,
                         out=args.out, seed=args.seed, glove=args.glove, device=args.device,
                         progress=not args.quiet, **options)
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in pipeline.metrics.items() if isinstance(v, float))
    print(f"saved {args.out} ({metrics})")
    return 0


def cmd_evaluate(args) -> int:
    from .corpus import open_corpus, train_test_split_fixed
    from .evaluate import iter_method_scores
    from .models.loading import load_text_model

    if args.docs < 1:
        raise DoclrpError(f"--docs must be at least 1, got {args.docs}")
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    if not methods:
        raise DoclrpError("--methods names no method")
    pipeline = load_text_model(args.model, device=args.device)
    records = list(open_corpus(args.corpus))
    if args.split == "test":
        records = train_test_split_fixed(records)[1]
    texts = [r.text for r in records if r.text.strip()][: args.docs]
    if not texts:
        raise DoclrpError(f"corpus {args.corpus} has no document with text")
    scores = iter_method_scores(pipeline, texts, methods, k=args.k, steps=args.steps,
                                target=_parse_target(args.target))
    first = next(scores)  # bad methods and targets fail here, before the table starts
    print(f"{len(texts)} documents ({args.split}); explained output lost when deleting words (mean):")
    print(f"  {'method':24s} {'top ' + str(args.k):>9s} {'random ' + str(args.k):>10s} {'AOPC':>8s} {'seconds':>8s}")
    for score in itertools.chain([first], scores):  # each row as soon as its method is done
        print(f"  {score.method:24s} {score.drop:9.3f} {score.random_drop:10.3f} {score.aopc:8.3f} "
              f"{score.seconds:8.1f}", flush=True)
    return 0


def cmd_demo(args) -> int:
    from .demo import run_demo

    index = run_demo(args.out, model=args.model, top=args.top)
    print(f"open {index}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {"demo": cmd_demo, "train": cmd_train, "explain": cmd_explain, "evaluate": cmd_evaluate}
    try:
        if args.command == "corpus":
            from .corpus.cli import run_corpus_command

            return run_corpus_command(args)
        return handlers[args.command](args)
    except DoclrpError as error:
        print(f"doclrp: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("doclrp: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
