"""Training the ready text models on a corpus, with a fixed split and early stopping.

>>> from doclrp.training import train
>>> pipeline = train("bbc", model="bow", epochs=2, progress=False)  # doctest: +SKIP
>>> pipeline.metrics["test_accuracy"] > 0.9                         # doctest: +SKIP
True

The corpus is split by :func:`doclrp.corpus.train_test_split_fixed` (seed
``split_seed``) into train and test; a validation part is carved from train
the same way. Vocabulary or tf-idf are fitted on the remaining train part only.
Adam minimizes cross-entropy (classification) or mean squared error on
standardized targets (regression, :class:`~doclrp.training.scaling.TargetScaling`;
the scaling is folded into the last layer afterwards, so the saved model predicts in the targets' own units and LRP
relevance sums to them). After each epoch the validation loss is measured;
training stops after ``patience`` epochs without improvement and the best
epoch's weights are kept. Test metrics go into ``pipeline.metrics`` and
config.json; a regressor also stores ``mean_prediction`` (its mean output on
the training texts, per output name: ``explain(reference="mean")``). The
same arguments and seed give the same model (on CPU).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from dataclasses import dataclass, replace
from typing import Any, cast

import torch
from torch import nn
from tqdm.auto import tqdm  # type: ignore[import-untyped]

from doclrp._progress import Progress, duration
from doclrp.corpus import Record, open_corpus, train_test_split_fixed
from doclrp.errors import DoclrpError
from doclrp.models.glove import GLOVE_DIM, load_glove
from doclrp.models.io import save_pipeline
from doclrp.core.targets import TASKS
from doclrp.models.pipeline import TextPipeline
from doclrp.models.registry import MODEL_KINDS, ModelKind
from doclrp.training.defaults import TEXT_DEFAULTS
from doclrp.training.metrics import prediction_metrics, summarize_metrics
from doclrp.training.scaling import TargetScaling

__all__ = ["train", "TrainingSettings", "check_training_options"]

def _records(corpus: str | Path | Iterable[Record], target_columns: Sequence[str] | None) -> list[Record]:
    if isinstance(corpus, (str, Path)):
        options = {"target_columns": list(target_columns)} if target_columns else {}
        corpus = open_corpus(corpus, **options)
    records = list(corpus)
    if not records:
        raise DoclrpError("the corpus is empty: nothing to train on")
    return records


def _targets(records: list[Record], task: str, labels: list[str]) -> torch.Tensor:
    if task == "classification":
        index = {label: i for i, label in enumerate(labels)}
        return torch.tensor([index[cast(str, r.label)] for r in records])  # every record has one (_output_names)
    return torch.tensor([r.targets for r in records], dtype=torch.float32)


def _output_names(records: list[Record], task: str, target_columns: Sequence[str] | None) -> list[str]:
    if task == "classification":
        missing = [r.id for r in records if r.label is None]
        if missing:
            raise DoclrpError(
                f"{len(missing)} records have no label (e.g. {missing[0]!r}): classification needs labels"
            )
        labels = sorted({r.label for r in records if r.label is not None})
        if len(labels) < 2:
            raise DoclrpError(f"classification needs at least 2 labels, the corpus has {labels}")
        return labels
    lengths = {len(r.targets) for r in records if r.targets is not None}
    if any(r.targets is None for r in records) or len(lengths) != 1:
        raise DoclrpError(
            "regression needs the same number of numeric targets on every record: "
            "pass target_columns naming the JSONL fields or CSV columns"
        )
    n = lengths.pop()
    if target_columns and len(target_columns) != n:
        raise DoclrpError(f"{len(target_columns)} target_columns for {n} targets per record")
    return list(target_columns) if target_columns else [f"target{i}" for i in range(n)]


def _build(kind: ModelKind, encoder, n_outputs: int, options: dict[str, Any], glove: bool, seed: int,
           say) -> nn.Module:
    if glove:
        options = {**options, "embed_dim": GLOVE_DIM}
    model = kind.build(encoder.input_size, n_outputs, **options)
    if glove:
        weights, found = load_glove(encoder.vocabulary, seed=seed)
        with torch.no_grad():
            cast(nn.Embedding, model.embedding).weight.copy_(weights)  # an ids model (glove checked by train)
        say(f"GloVe: {found} of {len(encoder.vocabulary)} vocabulary words found")
    return model


def _trim(inputs: torch.Tensor) -> torch.Tensor:
    # Id batches come padded to the longest text of the whole split; cutting
    # the all-padding tail columns saves convolution work and changes nothing
    # (padding is zero before and after the cut).
    if inputs.dtype != torch.long or inputs.shape[1] <= 1:
        return inputs
    used = (inputs != 0).any(dim=0).nonzero()
    return inputs[:, : int(used.max()) + 1 if len(used) else 1]


@torch.no_grad()
def _predict(model: nn.Module, inputs: torch.Tensor, batch_size: int, device: torch.device) -> torch.Tensor:
    model.eval()
    outputs = [
        model(_trim(inputs[i : i + batch_size]).to(device)).float().cpu() for i in range(0, len(inputs), batch_size)
    ]
    return torch.cat(outputs)


def _fit(net, train_data, val_data, loss_fn, task, labels, device, say, *,
         epochs, batch_size, lr, seed, patience, progress) -> int:  # fmt: skip
    """Adam with early stopping on validation loss; leaves ``net`` at its best epoch, returns it."""
    (x_fit, y_fit), (x_val, y_val) = train_data, val_data
    optimizer = torch.optim.Adam(net.parameters(), lr=lr)
    order = torch.Generator().manual_seed(seed)
    best_loss, best_state, best_epoch, stale = math.inf, copy.deepcopy(net.state_dict()), 0, 0
    per_epoch = math.ceil(len(x_fit) / batch_size)
    # One bar over every batch of every epoch: its estimate is for the whole training (an upper
    # bound: early stopping may end it sooner); each epoch's line repeats it.
    bar = Progress(epochs * per_epoch, f"epoch 1/{epochs}", unit="batch", enabled=progress,
                   note="at most: early stopping may end sooner")
    started = time.perf_counter()
    with bar:
        for epoch in range(1, epochs + 1):
            bar.set_description(f"epoch {epoch}/{epochs}")
            net.train()
            permutation = torch.randperm(len(x_fit), generator=order)
            # the epoch's mean over its documents: the last batch's loss alone is noise (it rose
            # while the validation loss fell)
            total = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, len(x_fit), batch_size):
                index = permutation[start : start + batch_size]
                loss = loss_fn(net(_trim(x_fit[index]).to(device)), y_fit[index].to(device))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                total += loss.detach() * len(index)  # summed on the device: no sync per batch
                bar.update()
            train_loss = float(total) / len(x_fit)
            val_out = _predict(net, x_val, 2 * batch_size, device)
            val_loss = float(loss_fn(val_out, y_val))
            elapsed = time.perf_counter() - started
            left = f", at most {duration(elapsed / epoch * (epochs - epoch))} left" if epoch < epochs else ""
            say(f"epoch {epoch}/{epochs}: train loss {train_loss:.4f}, val loss {val_loss:.4f}"
                f"{_val_metrics(task, val_out, y_val, labels)}; {duration(elapsed)} elapsed{left}")
            if val_loss < best_loss - 1e-6:
                best_loss, best_state, best_epoch, stale = val_loss, copy.deepcopy(net.state_dict()), epoch, 0
            else:
                stale += 1
                if stale >= patience:
                    say(f"no improvement for {patience} epochs: stopping, keeping epoch {best_epoch}")
                    break
    net.load_state_dict(best_state)
    return best_epoch


def _val_metrics(task: str, outputs: torch.Tensor, targets: torch.Tensor, labels: list[str]) -> str:
    """The validation line's metrics: accuracy and macro-F1, or R² per output (regression; the
    targets are standardized while training, and R² is the same in any units)."""
    metrics = prediction_metrics(task, outputs, targets, labels, "val")
    if task == "regression":
        metrics = {"val_r2": metrics["val_r2"]}
    return ", " + summarize_metrics(metrics, "val")


def check_training_options(*, epochs: int, batch_size: int, lr: float, max_len: int) -> None:
    """Refuse settings that would train nothing or fail later (an untrained model saved, a NaN loss).

    >>> check_training_options(epochs=0, batch_size=8, lr=0.01, max_len=100)
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: epochs must be a whole number of at least 1, got 0
    """
    for name, value in (("epochs", epochs), ("batch_size", batch_size), ("max_len", max_len)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise DoclrpError(f"{name} must be a whole number of at least 1, got {value!r}")
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise DoclrpError(f"lr (the learning rate) must be a positive number, got {lr!r}")


@dataclass(frozen=True)
class TrainingSettings:
    """How :func:`train` trains a built-in text model; ``doclrp train`` fills one from its options.

    ``model``: a :data:`~doclrp.models.registry.MODEL_KINDS` name (``"cnn"`` TextCNN, ``"lstm"``
    TextLSTM, bidirectional, ``"bow"`` tf-idf + BowMLP, ``"bag"`` EmbeddingBagModel).
    ``target_columns``: for regression, the JSONL fields / CSV columns holding the targets.
    ``epochs``/``lr`` default per model (its :class:`~doclrp.models.registry.ModelKind`);
    ``model_options`` override architecture arguments (e.g. ``{"channels": 100}``).
    ``max_len``: words per document (ids models); ``min_freq``: in how many texts (tf-idf) or
    how often (ids) a word must occur to get a feature or id; ``max_vocab``: most ids /
    features. ``glove``: start the embedding from GloVe 50-d vectors (ids models; sets
    embed_dim to 50). ``progress=False``: no progress bars and no printing.

    >>> TrainingSettings(model="bow", epochs=2).lr is None
    True
    """

    model: str = "cnn"
    task: str = "classification"
    target_columns: Sequence[str] | None = None
    epochs: int | None = None
    batch_size: int = TEXT_DEFAULTS["batch_size"]
    lr: float | None = None
    seed: int = 13
    max_len: int = TEXT_DEFAULTS["max_len"]
    min_freq: int = 2
    max_vocab: int | None = 20000
    glove: bool = False
    device: str = "cpu"
    progress: bool = True
    patience: int = 5
    test_fraction: float = 0.2
    val_fraction: float = 0.1
    split_seed: int = 13
    model_options: Mapping[str, Any] | None = None


def train(corpus: str | Path | Iterable[Record] = "bbc", settings: TrainingSettings | None = None, *,
          out: str | Path | None = None, **options: Any) -> TextPipeline:
    """Train a built-in text model on ``corpus`` (anything :func:`open_corpus` reads, or Records) as
    ``settings`` say (a :class:`TrainingSettings`; ``options``, its fields by name, override
    them: ``train("bbc", model="bow", epochs=2)``); save it to ``out`` when given; return the pipeline.
    """
    s = replace(settings or TrainingSettings(), **options)
    kind = MODEL_KINDS[s.model]
    if s.task not in TASKS:
        raise DoclrpError(f"task must be one of {TASKS}, got {s.task!r}")
    if s.glove and not kind.word_embeddings:
        embedding_kinds = [f"model={k.name!r}" for k in MODEL_KINDS.values() if k.word_embeddings]
        raise DoclrpError(f"glove=True needs a word-embedding model: use {', '.join(embedding_kinds[:-1])} "
                          f"or {embedding_kinds[-1]}")
    if s.device.startswith("cuda") and not torch.cuda.is_available():
        raise DoclrpError(f"device {s.device!r} asked for but CUDA is not available: use device='cpu'")
    epochs = kind.epochs if s.epochs is None else s.epochs
    lr = kind.lr if s.lr is None else s.lr
    check_training_options(epochs=epochs, batch_size=s.batch_size, lr=lr, max_len=s.max_len)
    say = tqdm.write if s.progress else (lambda *_: None)
    started = time.perf_counter()

    records = _records(corpus, s.target_columns)
    labels = _output_names(records, s.task, s.target_columns)
    train_part, test = train_test_split_fixed(records, s.test_fraction, seed=s.split_seed)
    fit, val = train_test_split_fixed(train_part, s.val_fraction, seed=s.split_seed + 1)
    if not fit or not val or not test:
        raise DoclrpError(
            f"{len(records)} records give {len(fit)} train, {len(val)} validation and {len(test)} test documents: "
            "every part needs at least one; use a larger corpus or other fractions"
        )

    torch.manual_seed(s.seed)
    encoder = kind.fit_encoder([r.text for r in fit], max_len=s.max_len, min_freq=s.min_freq, max_vocab=s.max_vocab)
    x_fit, x_val, x_test = (encoder.inputs([r.text for r in part]) for part in (fit, val, test))
    y_fit, y_val, y_test = (_targets(part, s.task, labels) for part in (fit, val, test))
    net = _build(kind, encoder, len(labels), dict(s.model_options or {}), s.glove, s.seed, say)
    device_ = torch.device(s.device)
    net.to(device_)

    if s.task == "classification":
        loss_fn: nn.Module = nn.CrossEntropyLoss()
    else:
        loss_fn = nn.MSELoss()
        scaling = TargetScaling.fit(y_fit)
        y_fit, y_val = scaling.apply(y_fit), scaling.apply(y_val)

    say(f"training {s.model} ({type(net).__name__}) on {len(fit)} documents (validating on {len(val)}, testing on "
        f"{len(test)}): up to {epochs} epochs of {math.ceil(len(fit) / s.batch_size)} batches, stopping after "
        f"{s.patience} without improvement; device {device_}")
    best_epoch = _fit(
        net, (x_fit, y_fit), (x_val, y_val), loss_fn, s.task, labels, device_, say,
        epochs=epochs, batch_size=s.batch_size, lr=lr, seed=s.seed, patience=s.patience, progress=s.progress,
    )  # fmt: skip

    if s.task == "regression":
        # Fold the standardization into the head: outputs come in target units.
        scaling.fold_into(cast(nn.Linear, net.head))  # every built-in text model ends in a Linear head
    net.eval()
    test_out = _predict(net, x_test, 2 * s.batch_size, device_)
    metrics = prediction_metrics(s.task, test_out, y_test, labels, "test")
    if s.task == "regression":
        # What explain(reference="mean") subtracts, so that relevance explains
        # how a text moves the score away from the average training text.
        fit_mean = _predict(net, x_fit, 2 * s.batch_size, device_).double().mean(dim=0)
        metrics["mean_prediction"] = dict(zip(labels, fit_mean.tolist()))
    metrics.update(
        n_train=len(fit),
        n_val=len(val),
        n_test=len(test),
        best_epoch=best_epoch,
        train_seconds=round(time.perf_counter() - started, 1),
        settings={
            "model": s.model, "epochs": epochs, "batch_size": s.batch_size, "lr": lr, "seed": s.seed,
            "split_seed": s.split_seed, "max_len": s.max_len, "min_freq": s.min_freq, "max_vocab": s.max_vocab,
            "glove": s.glove, "patience": s.patience, "test_fraction": s.test_fraction, "val_fraction": s.val_fraction,
        },
    )  # fmt: skip
    say(f"test ({len(test)} documents): {summarize_metrics(metrics, 'test')}; {metrics['train_seconds']} s")
    pipeline = TextPipeline(net, encoder, labels, s.task, metrics)
    if out is not None:
        save_pipeline(pipeline, out)  # the caller says where it went (the command line does, once)
    return pipeline
