"""The Ray engine of ``doclrp corpus``: the same batches, explained by model replicas.

>>> from doclrp.corpus import explain_corpus
>>> explain_corpus("models/bbc-cnn", "bbc", "results.jsonl", engine="ray")  # doctest: +SKIP

The driver reads the corpus and plans batches exactly as the local engine does
(:func:`doclrp.corpus.run.plan_batches`). Planned batches are gathered into
windows (about ``window_docs`` documents, so memory stays bounded); each window
becomes a Ray Dataset of one row per batch, mapped by an actor pool of model
replicas: one per GPU when the cluster has GPUs, else one per CPU (each with one
torch thread). Results come back in plan order (``preserve_order``) and the driver
writes them with the same writer, so resuming and exactly-once work as locally,
and the records equal the local engine's (up to float rounding where thread
counts differ). Replicas restart per window: a window is sized so that their
start-up (seconds: importing torch and spaCy, loading the model) is small against
its work.

Ray is optional (``pip install 'doclrp[ray]'``). An already initialised Ray
(``ray.init(address=...)``, or ``RAY_ADDRESS``) is used as it is; otherwise a local
instance is started for the run and shut down after it.
"""

from __future__ import annotations

import itertools
import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import torch

from doclrp.corpus.batch import explain_records
from doclrp.corpus.readers import Record
from doclrp.documents import Limits
from doclrp.models.loading import load_model
from doclrp.errors import DoclrpError

__all__ = ["run_ray", "ExplainReplica"]

#: Documents per Ray Dataset (one actor pool start-up each).
WINDOW_DOCS = 4096


class ExplainReplica:
    """A model replica in a Ray actor: explains one planned batch per row."""

    def __init__(self, model, device: str, options: dict[str, Any], threads: int | None,
                 allow_pickle: bool = False) -> None:
        if threads:
            torch.set_num_threads(threads)
        if type(model).__name__ == "ObjectRef":  # a pipeline put in the object store by the driver
            import ray  # optional: the ray extra

            model = ray.get(model)
        if isinstance(model, str):
            model = load_model(model, device=device, allow_pickle=allow_pickle)
        self.pipeline = model
        self.options = options

    def __call__(self, rows: dict) -> dict:
        out = []
        for payload in rows["batch"]:
            records = [Record(i, t, label, None if targets is None else tuple(targets), source=source)
                       for i, t, label, targets, source in json.loads(payload)]
            out.append(json.dumps(explain_records(self.pipeline, records, **self.options), ensure_ascii=False))
        return {"number": rows["number"], "records": np.array(out, dtype=object)}


def _ray():
    try:
        import ray  # optional: the ray extra
        import ray.data
    except ImportError:
        raise DoclrpError("--engine ray needs Ray Data: pip install 'doclrp[ray]'") from None
    return ray


def _windows(batches: Iterator[list[Record]], docs: int) -> Iterator[list[list[Record]]]:
    window, size = [], 0
    for batch in batches:
        window.append(batch)
        size += len(batch)
        if size >= docs:
            yield window
            window, size = [], 0
    if window:
        yield window


def run_ray(batches: Iterator[list[Record]], model, write: Callable[[list[dict[str, Any]]], None], *,
            device: str = "cpu", target="predicted", method=None, batch_size: int = 32,
            max_chars: int | None = None, doc_timeout: float | None = None, on_error: str = "raise",
            allow_pickle: bool = False, limits: Limits | None = None,
            replicas: int | None = None, window_docs: int = WINDOW_DOCS) -> None:
    """Explain ``batches`` on Ray and pass each batch's records to ``write``, in plan order.

    ``model``: a model folder that every Ray node can read (each replica loads it), or a
    loaded pipeline (shipped to the replicas through Ray's object store).
    ``replicas``: how many model replicas (default: one per GPU, else one per CPU).
    """
    ray = _ray()
    windows = _windows(batches, window_docs)
    first = next(windows, None)
    if first is None:  # nothing left to explain: no cluster to start
        return
    # Ray Data logs every execution and its own settings; the run has its own progress bar.
    quiet = logging.getLogger("ray.data")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()  # changed for the run, restored after it
    saved = (context.execution_options.preserve_order, context.enable_progress_bars,
             context.print_on_execution_start)
    started = not ray.is_initialized()
    try:
        if started:
            ray.init(include_dashboard=False, logging_level="ERROR")
        resources = ray.cluster_resources()
        gpus, cpus = int(resources.get("GPU", 0)), int(resources.get("CPU", 1))
        if str(device).startswith("cuda") and not gpus:
            raise DoclrpError("--device cuda asked for but the Ray cluster has no GPU: use --device cpu")
        if gpus:
            count, per_replica, replica_device, threads = replicas or gpus, {"num_gpus": 1}, "cuda", None
        else:
            count, per_replica, replica_device, threads = replicas or max(1, cpus), {"num_cpus": 1}, "cpu", 1
        # Results must come back in plan order, so that the file equals the local engine's.
        context.execution_options.preserve_order = True
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        options = dict(target=target, method=method, batch_size=batch_size, max_chars=max_chars,
                       doc_timeout=doc_timeout, on_error=on_error, limits=limits)
        settings = {"model": model if isinstance(model, str) else ray.put(model), "device": replica_device,
                    "options": options, "threads": threads, "allow_pickle": allow_pickle}
        for number, window in enumerate(itertools.chain([first], windows)):
            rows = [{"number": i, "batch": json.dumps([[r.id, r.text, r.label, r.targets, r.source] for r in batch],
                                                      ensure_ascii=False)} for i, batch in enumerate(window)]
            dataset = ray.data.from_items(rows, override_num_blocks=len(rows)).map_batches(
                ExplainReplica, batch_size=1, batch_format="numpy", fn_constructor_kwargs=settings,
                compute=ray.data.ActorPoolStrategy(size=min(count, len(rows))), **per_replica)
            expected = 0
            for row in dataset.iter_rows():
                if int(row["number"]) != expected:  # preserve_order guarantees this; never write out of plan
                    raise DoclrpError(f"Ray returned batch {row['number']} of window {number} where "
                                      f"{expected} was expected")
                write(json.loads(row["records"]))
                expected += 1
    finally:
        (context.execution_options.preserve_order, context.enable_progress_bars,
         context.print_on_execution_start) = saved
        quiet.setLevel(level)
        if started:
            ray.shutdown()
