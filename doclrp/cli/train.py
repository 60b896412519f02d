"""``doclrp train``: train a text model on a corpus, or fine-tune a Hugging Face model.

>>> from doclrp.cli import main
>>> main(["train", "--model", "nothing-like-this", "--out", "/tmp/never-written"])
2
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from doclrp.cli.checks import MINILM, check_arguments, text_model_kinds, train_model_names
from doclrp.corpus import open_corpus
from doclrp.errors import DoclrpError
from doclrp.cli.options import device_from_args
from doclrp.cli.terminal import in_command_line_terms
from doclrp.training import TrainingSettings, hf_defaults, train, train_hf

__all__ = ["run", "check_writable", "saved_line"]


def check_writable(out: str | Path) -> None:
    """Refuse an ``out`` folder that cannot be written, before minutes of training: a file
    is made and removed in it, or in the nearest folder above it that exists.

    >>> import tempfile
    >>> check_writable(tempfile.mkdtemp() + "/new/model")
    """
    folder = Path(out).absolute()
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    try:
        if not folder.is_dir():
            raise NotADirectoryError(20, "Not a directory", str(folder))
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".doclrp-write-check-"):
            pass
    except OSError as error:  # read-only file system, no permission, a file where a folder should be
        raise DoclrpError(f"cannot write {out}: {error.strerror or error}; choose another --out") from None


@in_command_line_terms()
def run(args) -> int:
    """``doclrp train``: a built-in model trained, or a Hugging Face model fine-tuned, and saved."""
    options = {k: v for k, v in dict(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                                     max_len=args.max_len).items() if v is not None}
    check_arguments(args)  # again: run() is callable without main()
    check_writable(args.out)
    built_in = tuple(text_model_kinds())
    if args.model not in train_model_names():
        _check_config(Path(args.model) / "config.json")
    device_from_args(args)
    if args.glove and args.model not in built_in:
        raise DoclrpError(f"--glove initialises the embeddings of the built-in models ({', '.join(built_in)}) only")
    try:
        pipeline = _train(args, options, built_in)
    except OSError as error:  # saving the model (checked writable above; a disk can still fill up)
        raise DoclrpError(f"cannot write {args.out}: {error.strerror or error}; choose another --out") from None
    print(saved_line(args.out, pipeline.metrics))
    return 0


def saved_line(out: str, metrics: dict) -> str:
    """The command's last line: where the model went, its test metrics, the training time.

    >>> saved_line("models/m", {"test_accuracy": 0.91234, "n_test": 9, "train_seconds": 311.04})
    'saved models/m (test_accuracy 0.9123; trained in 311 s)'
    """
    scores = ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if isinstance(v, float) and k != "train_seconds")
    seconds = metrics.get("train_seconds")
    took = f"trained in {seconds:.0f} s" if isinstance(seconds, (int, float)) else ""
    return f"saved {out} ({'; '.join(part for part in (scores, took) if part)})"


def _train(args, options: dict, built_in: tuple[str, ...]):
    if args.model not in built_in:
        reader_options = {"target_columns": args.target_columns} if args.target_columns else {}
        options = {**hf_defaults(args.device), **options}
        base = None if args.model == MINILM else args.model
        return train_hf(open_corpus(args.corpus, **reader_options), args.out, base, task=args.task,
                        target_names=args.target_columns, device=args.device, seed=args.seed,
                        progress=not args.quiet, allow_pickle=args.allow_pickle, **options)
    settings = TrainingSettings(model=args.model, task=args.task, target_columns=args.target_columns, seed=args.seed,
                                glove=args.glove, device=args.device, progress=not args.quiet, **options)
    return train(args.corpus, settings, out=args.out)


def _check_config(path: Path) -> None:
    """A Hugging Face folder's ``config.json`` must be a JSON object before training starts on it."""
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise DoclrpError(f"{path} is not a readable JSON model configuration ({error}); "
                          "give a Hugging Face model folder") from None
    if not isinstance(config, dict):
        raise DoclrpError(f"{path} is not a JSON object; give a Hugging Face model folder")
