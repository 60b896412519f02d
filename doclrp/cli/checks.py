"""Checks of the parsed arguments that need only the file system, made before a command's
module (and with it torch, seconds to import) is loaded: a mistyped path answers at once.

>>> from doclrp.cli.parsers import build_parser
>>> check_arguments(build_parser().parse_args(["explain", "--model", "nowhere", "--text", "Hi.", "--out", "p.html"]))
Traceback (most recent call last):
doclrp.errors.DoclrpError: no model folder at nowhere: check the path or train one (doclrp train)

The library checks the same things again where it reads the files (``load_model``,
``read_results``); these are the command's early answers, not the only guard.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from doclrp._atomic import OutputRefused, output_path
from doclrp.errors import DoclrpError
from doclrp.registry import Group, registered_names

__all__ = ["check_arguments", "text_model_kinds", "train_model_names", "MINILM", "MODEL_FILE_SUFFIXES"]

#: ``doclrp train --model minilm``: the shipped MiniLM encoder, fine-tuned (not a folder either).
MINILM = "minilm"


def text_model_kinds() -> list[str]:
    """The built-in text models ``doclrp train --model`` trains (the registry of model kinds),
    read without importing torch."""
    return registered_names(Group.MODEL_KINDS)


def train_model_names() -> list[str]:
    """``doclrp train --model`` names that are not folders: the model kinds, and minilm."""
    return [*text_model_kinds(), MINILM]


def check_arguments(args) -> None:
    """Raise `DoclrpError` for a missing input file or model (a folder, or a ``.skops`` file), or a
    missing corpus option."""
    command = args.command
    if command == "corpus":
        if args.corpus_command == "summarize":
            _check_output(args.out, "--out", folder=True)
            return
        missing = [flag for flag, value in (("--model", args.model), ("--input", args.input), ("--out", args.out))
                   if not value]
        if missing:
            raise DoclrpError(f"doclrp corpus needs {', '.join(missing)} "
                              "(or: doclrp corpus summarize RESULTS --out DIR)")
    for flag, value, folder in _outputs(args):
        _check_output(value, flag, folder)
    if command in ("explain", "corpus", "evaluate"):
        _check_model_folder(args.model, getattr(args, "vocab", None))
    if command == "serve":  # folders are checked where they are served
        for model in args.models:
            if Path(model).suffix.lower() in VOCAB_MODEL_SUFFIXES:
                _check_model_folder(model, getattr(args, "vocab", None))
    if command == "explain" and args.file is not None and not Path(args.file).is_file():
        raise DoclrpError(f"no such file: {args.file}")
    prompt_file = getattr(args, "prompt_file", None)
    if prompt_file is not None and not Path(prompt_file).is_file():
        raise DoclrpError(f"no such file: {prompt_file} (--prompt-file)")
    if command == "train":
        out = Path(args.out)
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise DoclrpError(f"{args.out} exists and is not empty; choose a new folder")
        if args.model not in train_model_names() and not (Path(args.model) / "config.json").is_file():
            raise DoclrpError(f"--model {args.model!r}: give {', '.join(train_model_names())} or a Hugging Face model "
                              "folder (one with a config.json)")


#: ``--model`` files (not folders) that ``load_model`` answers itself: ``.skops`` files are read,
#: pickles refused with the way to save a ``.skops`` file instead.
MODEL_FILE_SUFFIXES = (".skops", ".pkl", ".pickle", ".joblib")
#: ``--model`` files read with a ``--vocab`` (``doclrp.models.imported.MODEL_FILE_KINDS``, kept here
#: too: this module answers before torch is imported).
VOCAB_MODEL_SUFFIXES = {".keras": "Keras", ".h5": "Keras", ".onnx": "ONNX"}


def _check_model_folder(folder: str, vocab: str | None = None) -> None:
    path = Path(folder)
    kind = VOCAB_MODEL_SUFFIXES.get(path.suffix.lower())
    if kind is not None and not path.is_dir():
        if not path.is_file():
            raise DoclrpError(f"no model file at {folder}: check the path")
        if vocab is None:
            article = "an" if kind[0] in "AEIOU" else "a"
            raise DoclrpError(f"--model {folder} is {article} {kind} model file: pass the vocabulary it was trained with, "
                              "--vocab FILE (a vocab.txt, a Hugging Face tokenizer.json, or a Keras TextVectorization "
                              "vocabulary), and its output names, --labels a,b,c")
        if not Path(vocab).is_file():
            raise DoclrpError(f"--vocab {vocab}: no such file")
        return
    if path.suffix.lower() in MODEL_FILE_SUFFIXES and path.is_file():
        return
    if path.suffix.lower() == ".skops" and not path.is_dir():
        raise DoclrpError(f"no model file at {folder}: check the path")
    if not path.is_dir():
        raise DoclrpError(f"no model folder at {folder}: check the path or train one (doclrp train)")


def _outputs(args) -> list[tuple[str, str, bool]]:
    """``(flag, path, is a folder)`` of what the command will write (corpus summarize: above)."""
    wanted = {"explain": [("--out", "out", False)], "corpus": [("--out", "out", False)],
              "evaluate": [("--report", "report", True)], "demo": [("--out", "out", True)],
              "train": [("--out", "out", True)]}.get(args.command, [])
    return [(flag, getattr(args, name), folder) for flag, name, folder in wanted if getattr(args, name, None)]


def _check_output(path: str, flag: str, folder: bool) -> None:
    """Refuse at once an output that no writer would replace (a device, FIFO or socket; a file
    where a folder goes): :func:`doclrp._atomic.output_path`, which every writer calls again.

    >>> _check_output("/dev/null", "--out", folder=False)
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: cannot write /dev/null: it is a character device, not a regular file: doclrp never replaces one; choose another --out
    """
    in_the_way = next((a for a in Path(os.path.abspath(path)).parents if a.exists() and not a.is_dir()), None)
    if in_the_way is not None:  # "under a file": the OS would say "File exists" or "Not a directory"
        raise DoclrpError(f"cannot write {path}: {in_the_way} is not a folder; choose another {flag}")
    try:
        output_path(path, folder=folder)
    except OutputRefused as error:
        if error.errno == errno.EISDIR or (error.errno == errno.ENOTDIR and Path(path).is_file()):
            return  # a folder given for a file or a file for a folder: each command says so in its own words
        raise DoclrpError(f"cannot write {path}: {error.strerror}; choose another {flag}") from None
