"""The ``doclrp`` command line's parsers: argparse alone, so that ``--help`` and argument
errors come back before torch is imported.

>>> args = build_parser().parse_args(["explain", "--model", "m", "--text", "Hi.", "--out", "p.html",
...                                   "--composite", "zero", "--param", "eps=0.5"])
>>> args.command, args.method, parse_params(args.param)
('explain', 'zero', {'eps': 0.5})
>>> args = build_parser().parse_args(["corpus", "summarize", "r.jsonl", "--out", "report"])
>>> args.corpus_command, args.results, args.out
('summarize', 'r.jsonl', 'report')
>>> build_parser().parse_args(["corpus", "--model", "m", "--input", "bbc", "--out", "r.jsonl"]).corpus_command is None
True

``corpus`` and its nested ``summarize`` share one parser, so ``--model``/``--input``/``--out``
are checked by the command rather than by argparse (which would demand them from
``summarize`` too); a missing one is the usual one-line error, exit 2.
"""

from __future__ import annotations

import argparse
import difflib
import math

from doclrp import __version__
from doclrp.errors import DoclrpError
from doclrp.registry import Group, registered_names

#: The default of --max-chars; doclrp._explain.MAX_CHARS, written out here because this module
#: imports argparse only (importing doclrp._explain would import torch before --help).
MAX_CHARS = 1_000_000
#: The most tokens --generate writes; doclrp._generate.MAX_GENERATE, written out for the same reason.
MAX_GENERATE = 256
#: The default of --doc-timeout; doclrp.corpus.batch.DOC_TIMEOUT, written out for the same reason.
DOC_TIMEOUT = 300.0
#: The defaults of --max-pages and --max-bytes; doclrp.documents.MAX_PAGES and MAX_BYTES.
MAX_PAGES = 500
MAX_BYTES = 64 * 1024 * 1024

DEVICE_HELP = "auto (default: cuda when available, else cpu), cpu, cuda or cuda:N; the first line of output says which"

__all__ = ["parse_command_line", "build_parser", "add_model_options", "add_corpus_parser", "parse_target", "parse_params",
           "parse_reference", "add_prompt_options", "add_device", "add_top_words_filter", "add_allow_pickle", "add_max_chars",
           "add_document_limits", "positive_int", "byte_size",
           "positive_float", "count", "seconds_or_off"]


def add_model_options(parser) -> None:
    """--model, --vocab, --labels, --target, --method (alias --composite), --param and --device."""
    parser.add_argument("--model", required=True, metavar="DIR",
                        help="a model folder (doclrp or Hugging Face), a scikit-learn .skops file, or a Keras "
                             "(.keras, .h5) or ONNX (.onnx) text model file with --vocab")
    add_model_file_options(parser)
    parser.add_argument("--target", default="predicted",
                        help="what to explain: 'predicted' (default), a label or output name, an index, "
                             "'LABEL-vs-rest', or weights like 'pos=1,neg=-1'")
    parser.add_argument("--method", "--composite", dest="method", default=None,
                        help=f"LRP composite (default: the model's own: {_listed(Group.COMPOSITES)}) or a baseline: "
                             f"{_listed(Group.BASELINES)} (--composite: the older name)")
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                        help="a parameter of the method, e.g. eps=0.01, gamma=0.5, steps=64 (repeat for several)")
    add_device(parser)
    add_allow_pickle(parser)
    add_prompt_options(parser)


def add_prompt_options(parser) -> None:
    """--prompt/--prompt-file, --label-prefix, --chat: a causal language model as a classifier of --labels."""
    prompt = parser.add_mutually_exclusive_group()
    prompt.add_argument("--prompt", metavar="TEMPLATE",
                        help="--model is a causal language model (Llama, Qwen2, Gemma, Mistral, Phi-3, GPT-2 …) "
                             "reading this prompt, with {text} where the document goes, e.g. "
                             "'Article: {text}\\nTopic:'; its outputs are the scores of --labels as its next words")
    prompt.add_argument("--prompt-file", metavar="FILE", help="the prompt template from a UTF-8 file (long prompts)")
    parser.add_argument("--label-prefix", default=" ", metavar="TEXT",
                        help="with --prompt: what goes before each label (default a space, as after 'Topic:')")
    parser.add_argument("--chat", action="store_true",
                        help="with --prompt: the prompt as the user's message in the tokenizer's chat template")


def _listed(group: str) -> str:
    """The names the registry of ``group`` holds, for a help text (read without importing torch)."""
    return ", ".join(registered_names(group))


def named_sources() -> str:
    """The corpus sources known by name (the registry's), quoted, for a help text."""
    return ", ".join(repr(name) for name in registered_names(Group.CORPUS_SOURCES))


def corpus_help() -> str:
    """What a corpus argument takes: a named source (from the registry), a folder or a file."""
    return f"{named_sources()}, a folder of <class>/*.txt, a .jsonl or a .csv"


def add_model_file_options(parser) -> None:
    """--vocab and --labels: what a Keras or ONNX model file needs besides its weights."""
    parser.add_argument("--vocab", metavar="FILE",
                        help="the vocabulary of a Keras or ONNX --model file: a vocab.txt, a Hugging Face "
                             "tokenizer.json, or a Keras TextVectorization vocabulary (one word per line)")
    parser.add_argument("--labels", type=label_list, metavar="A,B,C",
                        help="the output names of a Keras or ONNX --model file, in order (default 0, 1, ...); "
                             "with --prompt, the label words a language model scores (one-token labels by their "
                             "logit, longer ones by their summed log-probability)")


def label_list(value: str) -> list[str]:
    """An argparse type: comma-separated output names.

    >>> label_list("neg, pos")
    ['neg', 'pos']
    """
    names = [name.strip() for name in value.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"--labels {value!r}: give names separated by commas, e.g. neg,pos")
    return names


def add_device(parser) -> None:
    """--device: where the model runs, ``auto`` by default (resolved once by ``models.loading.resolve_device``)."""
    parser.add_argument("--device", default="auto", help=DEVICE_HELP)


def add_allow_pickle(parser) -> None:
    """--allow-pickle: the opt-in, named for its risk, to Hugging Face folders with pickled weights."""
    parser.add_argument("--allow-pickle", action="store_true",
                        help="load a Hugging Face folder whose weights are pickled (pytorch_model.bin): unpickling "
                             "can run code hidden in the file, so only for folders you trust (default: safetensors "
                             "only)")


def add_max_chars(parser) -> None:
    """--max-chars: the longest document accepted (explain, corpus)."""
    parser.add_argument("--max-chars", type=positive_int, default=MAX_CHARS, metavar="N",
                        help=f"longest document accepted, in characters (default {MAX_CHARS:,}); corpus runs "
                             "skip longer ones with a reason")


def add_document_limits(parser) -> None:
    """--max-pages and --max-bytes: the bounds of reading a document file (PDF, Word, HTML, e-mail, text)."""
    parser.add_argument("--max-pages", type=positive_int, default=MAX_PAGES, metavar="N",
                        help=f"most pages of a PDF read (default {MAX_PAGES})")
    parser.add_argument("--max-bytes", type=byte_size, default=MAX_BYTES, metavar="SIZE",
                        help=f"largest file read, in bytes or with a unit: 20MB, 512KB (default {MAX_BYTES // 2**20}MB)")


#: Units of --max-bytes (binary, as file managers count them).
_UNITS = {"": 1, "b": 1, "kb": 1024, "k": 1024, "mb": 1024**2, "m": 1024**2, "gb": 1024**3, "g": 1024**3}


def byte_size(value: str) -> int:
    """An argparse type: a positive number of bytes, with an optional unit.

    >>> byte_size("20MB"), byte_size("512kb"), byte_size("1000")
    (20971520, 524288, 1000)
    """
    text = value.strip().lower().replace(" ", "")
    number = text.rstrip("kmgb")
    unit = text[len(number):]
    try:
        size = float(number) * _UNITS[unit]
    except (ValueError, KeyError):
        size = math.nan
    if not (math.isfinite(size) and size >= 1):
        raise argparse.ArgumentTypeError(f"expected a size like 20MB, 512KB or a number of bytes, got {value!r}")
    return int(size)


def seconds_or_off(value: str) -> float | None:
    """An argparse type: a positive, finite number of seconds, or ``off`` (None: no limit).

    >>> seconds_or_off("2.5"), seconds_or_off("off")
    (2.5, None)
    """
    if value.strip().lower() in ("off", "none"):
        return None
    try:
        seconds = float(value)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds or 'off', got {value!r}")
    return seconds


#: What --top-words-filter accepts (doclrp.text.terms.parse_leave_out reads it; written out here
#: because this module imports argparse only).
TOP_WORDS_FILTERS = ("punct", "stop", "punct,stop", "stop,punct", "none")


def add_top_words_filter(parser) -> None:
    """--top-words-filter: what top-word lists leave out (repeated words are always grouped)."""
    parser.add_argument("--top-words-filter", default="punct", choices=TOP_WORDS_FILTERS, metavar="punct|stop|punct,stop|none",
                        help="what the top-word lists leave out: punct (default: punctuation left out, stop words "
                             "kept), stop, punct,stop or none; a word's repeated occurrences are always grouped "
                             "(relevance summed, count shown)")


def positive_int(value: str) -> int:
    """An argparse type: a whole number of at least 1.

    >>> positive_int("3")
    3
    """
    return _whole(value, 1)


def count(value: str) -> int:
    """An argparse type: a whole number of at least 0."""
    return _whole(value, 0)


def _whole(value: str, least: int) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if number < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {number}")
    return number


def positive_float(value: str) -> float:
    """An argparse type: a finite number above 0 (``nan`` and ``inf`` are refused).

    >>> positive_float("0.01")
    0.01
    """
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {value!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {value}")
    return number


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="doclrp",
        description="Explain PyTorch text models word by word with Layer-wise Relevance Propagation.",
    )
    parser.add_argument("--version", action="version", version=f"doclrp {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    demo = sub.add_parser("demo", help="explain one BBC test document per type with the shipped model",
                          description="Load the model shipped with doclrp, explain one test document of each "
                                      "BBC news type and write highlighted HTML pages with an index.")
    demo.add_argument("--out", default="doclrp-demo", help="output folder (default: doclrp-demo)")
    demo.add_argument("--model", default=None,
                      help="a model folder (doclrp or Hugging Face) or a .skops file instead of the shipped one")
    demo.add_argument("--top", type=count, default=8, help="top words to print per document")
    add_top_words_filter(demo)

    kinds = _listed(Group.MODEL_KINDS)
    train = sub.add_parser("train", help="train a text model on a corpus",
                           description=f"Train a text model ({kinds}), or fine-tune minilm or any local "
                                       "Hugging Face model folder, with early stopping (built-in models) and "
                                       "save it as safetensors + JSON; prints and stores test metrics.")
    train.add_argument("--corpus", default="bbc", help=corpus_help())
    train.add_argument("--model", default="cnn", metavar="|".join([*registered_names(Group.MODEL_KINDS), "minilm", "FOLDER"]),
                       help="a built-in model, the shipped MiniLM encoder, or a local Hugging Face model folder "
                            "to fine-tune (encoders and decoder classifiers; default cnn)")
    train.add_argument("--out", required=True, help="output model folder")
    train.add_argument("--task", default="classification", choices=["classification", "regression"])
    train.add_argument("--target-column", action="append", dest="target_columns", metavar="NAME",
                       help="regression target field/column (repeat for several outputs)")
    train.add_argument("--epochs", type=positive_int, default=None)
    train.add_argument("--batch-size", type=positive_int, default=None)
    train.add_argument("--lr", type=positive_float, default=None)
    train.add_argument("--seed", type=int, default=13)
    train.add_argument("--max-len", type=positive_int, default=None)
    train.add_argument("--glove", action="store_true", help="initialise embeddings from GloVe 6B 50d")
    add_device(train)
    train.add_argument("--quiet", action="store_true",
                       help="print nothing while training: no progress bars and no per-epoch lines (the device "
                            "line first and the saved folder with its test metrics last still)")
    add_allow_pickle(train)

    explain = sub.add_parser("explain", help="explain one document: its prediction and top words, an HTML page",
                             description="Explain one document with a trained model; prints the prediction and "
                                         "the most relevant words, and with --out writes a highlighted HTML page.")
    add_model_options(explain)
    source = explain.add_mutually_exclusive_group(required=True)
    source.add_argument("--text", help="the document text")
    source.add_argument("--file", help="a document: PDF, Word .docx, HTML, e-mail .eml or text (UTF-8, UTF-16 "
                                       "with a BOM); the kind is found from the content")
    explain.add_argument("--out", help="the HTML page (.html) or the explanation as JSON (.json) to write "
                                       "(default: none, the terminal only)")
    add_document_limits(explain)
    explain.add_argument("--top", type=count, default=10, help="top words to print")
    add_top_words_filter(explain)
    add_max_chars(explain)
    explain.add_argument("--doc-timeout", type=seconds_or_off, default=DOC_TIMEOUT, metavar="SECONDS",
                         help=f"seconds the document's work may take (default {DOC_TIMEOUT:g}; 'off': no limit): "
                              "reading the --file, splitting words, encoding, the model passes, the page and its "
                              "drawn PDF pages (loading the model does not count); checked between blocks of text "
                              "and batches of windows, so it holds to within about a second")
    explain.add_argument("--timings", action="store_true",
                         help="print the seconds each stage took (reading, splitting words, encoding, model passes, "
                              "words and sentences, page) to stderr as one JSON line")
    explain.add_argument("--reference", metavar="mean|V,V,...",
                         help="explain the deviation from a reference prediction: 'mean' (stored at training) "
                              "or one number per output")
    writes = explain.add_mutually_exclusive_group()
    writes.add_argument("--generate", type=positive_int, metavar="N",
                        help=f"with --prompt: let the language model write N tokens (greedy, at most {MAX_GENERATE}) "
                             "and explain each: which document words made it (--out FILE.json: JSON, generated: one "
                             "entry per token; --out FILE.html: the page)")
    writes.add_argument("--continuation", metavar="TEXT",
                        help="with --prompt: explain this text as the language model's next words, token by token")

    evaluate = sub.add_parser(
        "evaluate", help="score LRP and baseline methods by deleting relevant words; --report: the full report",
        description="Explain held-out documents with each method and measure how much the explained output falls "
                    "when the most relevant words are deleted (against random words), and the area over the "
                    "deletion curve. With --report DIR: MoRF and LeRF curves on the model's token ids (deletion "
                    "and replacement), ABPC, comprehensiveness, sufficiency, normalized AOPC, each with 95% "
                    "bootstrap intervals and paired differences, model-randomization checks, a planted-trigger "
                    "task and time per document, written as DIR/results.json and DIR/index.html.")
    evaluate.add_argument("--model", required=True, metavar="DIR",
                          help="a model folder (doclrp or Hugging Face), a scikit-learn .skops file, or a Keras "
                               "or ONNX model file with --vocab")
    add_model_file_options(evaluate)
    evaluate.add_argument("--corpus", default="bbc", help=corpus_help())
    evaluate.add_argument("--split", default="test", choices=["test", "all"],
                          help="documents: the held-out part of doclrp train's fixed split (default) or all")
    evaluate.add_argument("--docs", type=int, default=100,
                          help="documents to use (default 100): a sample drawn with --seed, stratified by label "
                               "(at random without labels); its seed and ids are printed first")
    evaluate.add_argument("--seed", type=int, default=0,
                          help="seed of the document sample, of the random words and of the intervals (default 0)")
    evaluate.add_argument("--methods", default=None,
                          help="comma-separated LRP composites and baselines (default: the model's default LRP "
                               "composite and the other composites for its kind: epsilon, epsilon-plus, "
                               "alpha2-beta1 for word and feature models, attnlrp, cp-lrp for Hugging Face "
                               "transformers; then gradient-x-input, saliency, integrated-gradients, occlusion, "
                               "random)")
    evaluate.add_argument("--target", default="predicted", help="a label, an index or 'LABEL-vs-rest'")
    evaluate.add_argument("--k", type=int, default=None,
                          help="words deleted for the drop (default 10; not with --report)")
    evaluate.add_argument("--steps", type=int, default=None,
                          help="steps of the deletion curve (default 10, at most 1000; not with --report, whose "
                               "curves take the fixed 10 %% … 100 %% grid)")
    evaluate.add_argument("--report", metavar="DIR",
                          help="write the full report to this folder (results.json, index.html); replaced whole")
    evaluate.add_argument("--resamples", type=int, default=None,
                          help="bootstrap resamples of each interval (default 2000, at most 100000; with --report)")
    evaluate.add_argument("--sanity-docs", type=int, default=None,
                          help="documents of the model-randomization check per method (default 20; 0 skips it; "
                               "with --report)")
    evaluate.add_argument("--planted-docs", type=int, default=None,
                          help="test documents of the planted-trigger task (default 100; 0 skips it; with --report)")
    evaluate.add_argument("--planted-k", type=int, default=None,
                          help="the trigger counts as found among this many most relevant words (default 3; with "
                               "--report)")
    evaluate.add_argument("--batch-size", type=int, default=16, help="documents per batch (default 16, at most 1024)")
    add_device(evaluate)
    add_allow_pickle(evaluate)
    add_prompt_options(evaluate)

    serve = sub.add_parser("serve", help="start the local web app to explain text in a browser",
                           description="Serve a page and an HTTP API (POST /api/explain, GET /api/models, "
                                       "GET /api/methods, ...) that explain text with the shipped BBC model and any "
                                       "--models folders, compare two explanations, browse --results of doclrp "
                                       "corpus, and explain digits drawn by hand. Binds to 127.0.0.1; needs "
                                       "doclrp[serve].")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; others expose the app to the network)")
    serve.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    serve.add_argument("--models", nargs="+", default=[], metavar="MODEL",
                       help="models to serve as well: folders (doclrp, Hugging Face), .skops files, or Keras/ONNX "
                            "model files (with --vocab, --labels); each is loaded and checked before the server "
                            "starts")
    add_model_file_options(serve)
    serve.add_argument("--results", nargs="+", default=[], metavar="FILE",
                       help="results of doclrp corpus (.jsonl or .parquet) to browse")
    serve.add_argument("--max-chars", type=int, default=50_000, help="longest text accepted (default 50000)")
    serve.add_argument("--max-bytes", type=byte_size, default=20 * 1024 * 1024, metavar="SIZE",
                       help="largest document file uploaded (PDF, Word, HTML, e-mail, text), in bytes or with a "
                            "unit: 5MB (default 20MB)")
    serve.add_argument("--max-pages", type=positive_int, default=MAX_PAGES, metavar="N",
                       help=f"most pages of an uploaded PDF (default {MAX_PAGES})")
    serve.add_argument("--timeout", type=float, default=60.0,
                       help="seconds one explanation may take, waiting included; work past it is stopped "
                            "(default 60)")
    serve.add_argument("--max-queue", type=int, default=64, metavar="N",
                       help="requests that may wait for one model; more are refused at once with 503 and "
                            "Retry-After (default 64)")
    serve.add_argument("--batch-window", type=float, default=0.015, metavar="S",
                       help="seconds a request waits for others to the same model, to explain them in one batch "
                            "(default 0.015; 0: no wait)")
    serve.add_argument("--max-batch", type=int, default=16, metavar="N",
                       help="most documents one batch explains (default 16)")
    serve.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                       help="another host name the server answers to (repeat; with --host other than loopback)")
    add_device(serve)
    add_prompt_options(serve)  # for the --models folders

    add_corpus_parser(sub)
    return parser


def parse_command_line(parser: argparse.ArgumentParser, argv: list[str] | None) -> argparse.Namespace:
    """``parser.parse_args(argv)``, but an unknown option is told by its command's parser (its usage,
    not the top level's) with the closest option it has (``--targte``: did you mean ``--target``?).

    >>> parse_command_line(build_parser(), ["explain", "--model", "m", "--text", "Hi.", "--targte", "x"])
    Traceback (most recent call last):
    SystemExit: 2
    """
    args, unknown = parser.parse_known_args(argv)
    if not unknown:
        return args
    command = _command_parser(parser, args)
    options = [option for action in command._actions for option in action.option_strings]
    hint = ""
    for word in unknown:
        if word.startswith("-"):
            close = difflib.get_close_matches(word.split("=", 1)[0], options, n=1)
            if close:
                hint = f" (did you mean {close[0]}?)"
                break
    command.error(f"unrecognized arguments: {' '.join(unknown)}{hint}")
    raise AssertionError("unreachable")  # argparse's error() exits


def _command_parser(parser: argparse.ArgumentParser, args: argparse.Namespace) -> argparse.ArgumentParser:
    """The innermost parser of the command ``args`` holds (``corpus summarize`` included)."""
    found = parser
    for destination in ("command", "corpus_command"):
        actions = [a for a in found._actions if isinstance(a, argparse._SubParsersAction)]
        name = getattr(args, destination, None)
        if not actions or name is None or name not in actions[0].choices:
            break
        found = actions[0].choices[name]
    return found


def add_corpus_parser(subparsers) -> None:
    """Add ``corpus`` (with the model options: --model/--target/--method/--device) and its
    nested ``summarize`` to the ``doclrp`` subcommands; see the module docstring."""
    corpus = subparsers.add_parser(
        "corpus", help="explain every document of a corpus; resumable JSONL/Parquet results",
        description="Explain every document of a corpus and write one record per document (JSONL, or Parquet "
                    "for a .parquet path). Needs --model, --input and --out. Interrupted runs continue where "
                    "they stopped when the same command is run again. 'doclrp corpus summarize RESULTS --out DIR' "
                    "writes an HTML report of the results.")
    add_model_options(_NotRequired(corpus))
    corpus.add_argument("--input", metavar="CORPUS",
                        help=f"{named_sources()}, a folder of <class>/*.txt (or .pdf, .docx, .html, .eml files, "
                             "mixed), a .jsonl or a .csv file (rows with a text, or a 'path' to a document file)")
    corpus.add_argument("--out", metavar="RESULTS", help="results file: .jsonl (default format) or .parquet")
    corpus.add_argument("--reference", metavar="mean|V,V,...",
                        help="explain the deviation from a reference prediction: 'mean' (stored at training) "
                             "or one number per output")
    corpus.add_argument("--batch-size", type=int, default=32, help="documents per batch (default 32)")
    add_max_chars(corpus)
    add_document_limits(corpus)
    corpus.add_argument("--limit", type=positive_int, metavar="N",
                        help="only the first N documents of the corpus (of the shard), in corpus order: a quick look "
                             "at a large corpus (default: all)")
    corpus.add_argument("--shard", metavar="i/N", help="only shard i of N (0 ≤ i < N), by a hash of the document id")
    corpus.add_argument("--engine", choices=["local", "ray"], default="local",
                        help="local (default) or ray: model replicas on a Ray cluster, one per GPU or CPU")
    corpus.add_argument("--overwrite", action="store_true",
                        help="replace results written with another model or other settings (results of the "
                             "same settings are continued, not redone)")
    corpus.add_argument("--on-error", choices=["raise", "skip"], default="raise",
                        help="a malformed corpus line: stop before writing (raise, default) or leave it out "
                             "with a warning (skip)")
    corpus.add_argument("--doc-timeout", type=seconds_or_off, default=DOC_TIMEOUT, metavar="SECONDS",
                        help=f"seconds of work one document may take (default {DOC_TIMEOUT:g}; 'off': no limit), "
                             "checked "
                             "in every stage of its work: between the blocks of text spaCy splits, the chunks of "
                             "words encoded, the model passes over batches of windows and the records built. A "
                             "document over the limit is skipped with its reason under --on-error skip, else "
                             "the run stops with one line (run it again to continue). Both engines (local, ray) "
                             "honour it")
    corpus.add_argument("--quiet", action="store_true", help="no progress bar")

    nested = corpus.add_subparsers(dest="corpus_command", metavar="summarize")
    summarize = nested.add_parser(
        "summarize", help="an HTML report of corpus results",
        description="Aggregate word relevance per class (sum, mean per occurrence, document frequency) and write "
                    "an HTML report: top words for and against each class, accuracy and confusion matrix when "
                    "labels exist, the most and least confident documents as highlighted pages.")
    summarize.add_argument("results", metavar="RESULTS", help="a results file written by doclrp corpus")
    summarize.add_argument("--out", required=True, metavar="DIR", help="report folder (replaced atomically)")
    summarize.add_argument("--top", type=positive_int, default=20, help="words per chart (default 20)")
    add_top_words_filter(summarize)
    summarize.add_argument("--pages", type=count, default=10,
                           help="most and least confident documents to render, each (default 10)")
    summarize.add_argument("--min-df", type=int, default=2,
                           help="only words in at least this many documents of a class enter its charts (default 2)")
    summarize.add_argument("--group-by", choices=["auto", "label", "predicted", "target"], default="auto",
                           help="classes of the summary: auto (true label where known, else predicted), label, "
                                "predicted, or the explained target")
    summarize.add_argument("--class-switch", action=argparse.BooleanOptionalAction, default=True,
                           help="document pages carry every class's relevance and X-vs-rest, with a switch "
                                "(default on when the run's model is at hand: the linked documents are "
                                "re-explained as the run did; about 1 min on 2 busy CPU cores for BBC's 20 with "
                                "the shipped CNN); --no-class-switch: the explained target only")
    summarize.add_argument("--model", metavar="DIR",
                           help="the run's model (folder or .skops file), when it is no longer where the results say (its "
                                "fingerprint must match theirs)")
    summarize.add_argument("--device", default="auto",
                           help="where the class switch re-explains: auto (default: cuda when available, else "
                                "cpu), cpu, cuda or cuda:N; its start line says which")


class _NotRequired:
    """A parser whose ``add_argument`` drops ``required``: see the module docstring."""

    def __init__(self, parser) -> None:
        self._parser = parser

    def add_argument(self, *names, **options):
        options.pop("required", None)
        return self._parser.add_argument(*names, **options)

    def __getattr__(self, name):
        return getattr(self._parser, name)


def parse_target(value: str):
    """``'pos=1,neg=-1'`` → a weight mapping; anything else unchanged.

    >>> parse_target("pos=1,neg=-1"), parse_target("sport")
    ({'pos': 1.0, 'neg': -1.0}, 'sport')
    """
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


def parse_params(values: list[str]) -> dict:
    """``['eps=0.01', 'steps=8']`` → ``{'eps': 0.01, 'steps': 8}`` (numbers as numbers, other
    values as words: ``recurrent=arras``; the method says which of its parameters take words).

    >>> parse_params(["eps=0.01", "steps=8", "recurrent=arras"])
    {'eps': 0.01, 'steps': 8, 'recurrent': 'arras'}
    """
    params: dict = {}
    for value in values:
        name, sep, raw = value.partition("=")
        if not sep or not name.strip() or not raw.strip():
            raise DoclrpError(f"bad --param {value!r}: write NAME=VALUE, e.g. eps=0.01")
        try:
            number = float(raw)
        except ValueError:
            params[name.strip()] = raw.strip()
            continue
        params[name.strip()] = int(number) if number.is_integer() and "." not in raw and "e" not in raw.lower() \
            else number
    return params


def parse_reference(value: str | None):
    """``None``, ``"mean"``, or ``"0.1,0.5"`` → a list of floats.

    >>> parse_reference("0.5, -1"), parse_reference("mean")
    ([0.5, -1.0], 'mean')
    """
    if value is None or value == "mean":
        return value
    try:
        return [float(part) for part in value.split(",")]
    except ValueError:
        raise DoclrpError(f"--reference must be 'mean' or numbers like 0.1,0.5 (one per output), got {value!r}") \
            from None
