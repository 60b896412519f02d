"""Every measure over several methods on one sample of documents, as plain data for a report.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> default_methods(pipe)[:4]
['epsilon', 'epsilon-plus', 'alpha2-beta1', 'gradient-x-input']
>>> data = evaluate_methods(pipe, ["good fun", "bad, dull fun"], ["epsilon", "random"], resamples=50,
...                         sanity_docs=0, planted_docs=0)
>>> [m["name"] for m in data["methods"]], sorted(data["methods"][0]["summary"])
(['epsilon', 'random'], ['deletion', 'replacement'])

:func:`evaluate_methods` resolves every method and the target first, and runs each method
once on the first document, so that a name that does not exist or a method that does not
fit the model fails before the first, maybe long, method runs. Then, per method and in
batches (a progress bar per method on stderr, with its estimate, when ``progress``):
explain (timed), and measure the MoRF, LeRF curves by deletion and replacement of token ids
(:mod:`~doclrp.evaluate.perturbation`); the random order's curves are measured once. Then the
per-document measures (:mod:`~doclrp.evaluate.measures`), their means with bootstrap
intervals and each method's paired difference from the first method
(:mod:`~doclrp.evaluate.uncertainty`), the randomization check on the first ``sanity_docs``
documents, over several re-initializations (:mod:`~doclrp.evaluate.sanity`), and the
planted-trigger recovery on a model trained in the run (:mod:`~doclrp.evaluate.planted`): one of
the evaluated model's own kind where ``planted_trainer`` makes it (the command line passes
:func:`doclrp.training.planted.planted_trainer`; evaluate sits below training), else the
reference CNN, labelled so; a method that does not fit that model records why instead.
"""

from __future__ import annotations

import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from tqdm.auto import tqdm  # type: ignore[import-untyped]

from doclrp._explain import explain, resolve_target
from doclrp.core import describe, resolve_method
from doclrp.errors import DoclrpError
from doclrp.evaluate.compare import explainable_documents
from doclrp.evaluate.deletion import check_positive
from doclrp.evaluate.measures import (abpc, aopc_bounds, aopc_per_document, comprehensiveness, normalized_aopc,
                                      sufficiency)
from doclrp.evaluate.perturbation import MODES, SHARES, perturbation_curves
from doclrp.evaluate.planted import PlantedTask, planted_documents, train_planted_model, trigger_recovery
from doclrp.evaluate.sanity import RANDOMIZATIONS, SEEDS, WORD_SETS, randomization_check
from doclrp.evaluate.uncertainty import LEVEL, RESAMPLES, bootstrap_interval, paired_difference

__all__ = ["evaluate_methods", "prepare", "default_methods", "TEXT_COMPOSITES", "TRANSFORMER_COMPOSITES", "BASELINE_METHODS",
           "MEASURES"]

#: LRP composites for models over words or features, and for Hugging Face transformers.
TEXT_COMPOSITES = ("epsilon", "epsilon-plus", "alpha2-beta1")
TRANSFORMER_COMPOSITES = ("attnlrp", "cp-lrp")
BASELINE_METHODS = ("gradient-x-input", "saliency", "integrated-gradients", "occlusion", "random")
#: Planted documents a model of the evaluated model's kind is trained on (the reference CNN: 100).
PLANTED_TRAINING = 1000
#: The per-document measures, and whether higher is better.
MEASURES = {"abpc": True, "comprehensiveness": True, "sufficiency": False, "aopc": True, "normalized_aopc": True}


def default_methods(pipeline) -> list[str]:
    """The model's default LRP composite, the other composites for its kind, then the baselines."""
    composites = TRANSFORMER_COMPOSITES if hasattr(pipeline, "tokenizer") else TEXT_COMPOSITES
    first = str(pipeline.default_composite)
    return [first, *[c for c in composites if c != first], *BASELINE_METHODS]


def prepare(pipeline, texts: Sequence[str], methods: Sequence[Any] | None = None, *,
            ids: Sequence[str] | None = None, target: Any = "predicted", batch_size: int = 16) -> tuple:
    """``(attributors, target, texts, ids, skipped)``: the methods and the target resolved, the
    documents that can be explained (and those left out, by id and reason), and each method run
    once on the first document, so that a method that does not fit the model fails now."""
    attributors = [resolve_method(m) for m in (default_methods(pipeline) if methods is None else methods)]
    if not attributors:
        raise DoclrpError("no method to evaluate")
    names = [a.name for a in attributors]
    if len(set(names)) != len(names):
        raise DoclrpError(f"a method is named twice: {', '.join(names)}")
    target = resolve_target(target, pipeline)
    texts, doc_names, skipped = explainable_documents(pipeline, texts, ids, batch_size)
    for attributor in attributors:
        explain(pipeline, texts[:1], target=target, method=attributor, ids=doc_names[:1])
    return attributors, target, texts, doc_names, skipped


def evaluate_methods(pipeline, texts: Sequence[str], methods: Sequence[Any] | None = None, *,
                     ids: Sequence[str] | None = None, target: Any = "predicted", seed: int = 0,
                     shares: Sequence[float] = SHARES, batch_size: int = 16, resamples: int = RESAMPLES,
                     sanity_docs: int = 20, planted_docs: int = 100, k: int = 3,
                     progress: bool = False, sanity_seeds: int = SEEDS,
                     planted_trainer: Callable[[PlantedTask, int], Any] | None = None) -> dict[str, Any]:
    """All measures for ``methods`` (default :func:`default_methods`) on ``texts``, as JSON-safe data
    (see the module; the keys are what ``doclrp evaluate --report`` writes to ``results.json``)."""
    check_positive(batch_size, "batch_size")
    check_positive(k, "k")
    check_positive(sanity_seeds, "sanity_seeds")
    check_positive(resamples, "resamples")
    for value, name in ((sanity_docs, "sanity_docs"), (planted_docs, "planted_docs")):
        if isinstance(value, bool) or int(value) != value or value < 0:
            raise DoclrpError(f"{name} must be a whole number >= 0, got {value!r}")
    attributors, target, texts, doc_names, skipped = prepare(pipeline, texts, methods, ids=ids, target=target,
                                                             batch_size=batch_size)
    runs = [_run_method(pipeline, texts, doc_names, a, target, seed, shares, batch_size, progress)
            for a in attributors]
    random_curves = {mode: perturbation_curves(pipeline, runs[0]["explanations"], direction="random", mode=mode,
                                               shares=shares, seed=seed, batch_size=max(64, batch_size))
                     for mode in MODES}
    per_method = [_measures(run, random_curves) for run in runs]
    _normalize(per_method)
    interval = dict(seed=seed, resamples=resamples)
    results = []
    for attributor, run, measures in zip(attributors, runs, per_method):
        entry: dict[str, Any] = {
            "name": attributor.name,
            "method": describe(attributor),
            "per_document": {mode: {m: _floats(v) for m, v in measures[mode].items()} for mode in MODES},
            "seconds_per_document": _floats(run["seconds"]),
            "time": bootstrap_interval(run["seconds"], **interval).as_dict(),
            "curves": {mode: {d: _floats(run["curves"][mode][d].mean(0)) for d in ("morf", "lerf")}
                       for mode in MODES},
            "summary": {mode: {m: bootstrap_interval(v, **interval).as_dict() for m, v in measures[mode].items()}
                        for mode in MODES},
        }
        results.append(entry)
    if sanity_docs:
        for entry, attributor, run in zip(results, attributors,
                                          _bar(runs, "randomization check", "method", progress)):
            entry["sanity"] = _sanity(pipeline, run["explanations"][:sanity_docs], attributor, seed,
                                      sanity_seeds, batch_size, interval)
    first = per_method[0]
    paired = {mode: {m: [{"method": attributor.name, "baseline": attributors[0].name,
                          **paired_difference(measures[mode][m], first[mode][m], **interval).as_dict()}
                         for attributor, measures in zip(attributors[1:], per_method[1:])]
                     for m in MEASURES} for mode in MODES}
    data: dict[str, Any] = {
        "documents": list(doc_names), "skipped": skipped, "seed": seed, "shares": [float(s) for s in shares],
        "resamples": resamples, "level": LEVEL, "target": str(target), "labels": list(pipeline.labels),
        "task": pipeline.task, "measures": {m: {"higher_is_better": h} for m, h in MEASURES.items()},
        "random_curves": {mode: _floats(curves.mean(0)) for mode, curves in random_curves.items()},
        "methods": results, "paired": paired,
    }
    if planted_docs:
        data["planted"] = _planted(attributors, planted_docs, seed, k, batch_size, interval, progress,
                                   planted_trainer)
    return data


def _run_method(pipeline, texts, doc_names, attributor, target, seed, shares, batch_size, progress) -> dict:
    explanations, seconds = [], []
    forward_batch = max(64, batch_size)  # forward passes only: no gradients kept, so larger batches fit
    curves: dict[str, dict[str, list]] = {mode: {"morf": [], "lerf": []} for mode in MODES}
    bar = tqdm(total=len(texts), unit="doc", desc=attributor.name, file=sys.stderr, disable=not progress,
               dynamic_ncols=True, mininterval=0.5)
    with bar:
        for start in range(0, len(texts), batch_size):
            chunk = slice(start, start + batch_size)
            started = time.perf_counter()
            made = explain(pipeline, texts[chunk], target=target, method=attributor, batch_size=batch_size,
                           ids=doc_names[chunk])
            seconds += [(time.perf_counter() - started) / len(made)] * len(made)
            for mode in MODES:
                for direction in ("morf", "lerf"):
                    curves[mode][direction].append(perturbation_curves(
                        pipeline, made, direction=direction, mode=mode, shares=shares, seed=seed + start,
                        batch_size=forward_batch))
            explanations += made
            bar.update(len(made))
    return {"explanations": explanations, "seconds": np.array(seconds),
            "curves": {mode: {d: np.concatenate(c) for d, c in by.items()} for mode, by in curves.items()}}


def _measures(run, random_curves) -> dict[str, dict[str, np.ndarray]]:
    """Per mode, each measure per document; AOPC normalized by the orders this method and the
    random order reach (the run-wide bounds are applied in :func:`_normalize`)."""
    out = {}
    for mode in MODES:
        morf, lerf = run["curves"][mode]["morf"], run["curves"][mode]["lerf"]
        out[mode] = {"abpc": abpc(morf, lerf), "comprehensiveness": comprehensiveness(morf),
                     "sufficiency": sufficiency(lerf), "aopc": aopc_per_document(morf),
                     "_lerf_aopc": aopc_per_document(lerf), "_random_aopc": aopc_per_document(random_curves[mode])}
    return out


def _normalize(per_method: list[dict[str, dict[str, np.ndarray]]]) -> None:
    for mode in MODES:
        orders = [m[mode][key] for m in per_method for key in ("aopc", "_lerf_aopc")]
        lower, upper = aopc_bounds([*orders, per_method[0][mode]["_random_aopc"]])
        for measures in per_method:
            measures[mode]["normalized_aopc"] = normalized_aopc(measures[mode]["aopc"], lower, upper)
            del measures[mode]["_lerf_aopc"], measures[mode]["_random_aopc"]


def _sanity(pipeline, explanations, attributor, seed, seeds, batch_size, interval) -> dict[str, Any]:
    """Per randomization: ρ per document (the mean over the seeds) over all words, with its interval,
    the same over the words non-zero under either model (``"nonzero"``), and each seed's mean."""
    correlations = randomization_check(pipeline, explanations, attributor, seed=seed, seeds=seeds,
                                       batch_size=batch_size)
    out: dict[str, Any] = {}
    for layers in RANDOMIZATIONS:
        by_words = {}
        for words in WORD_SETS:
            rho = correlations[layers][words]
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # a document whose ρ is NaN under every seed
                per_document, per_seed = np.nanmean(rho, 0), np.nanmean(rho, 1)
            by_words[words] = {"per_document": _floats(per_document),
                               "summary": bootstrap_interval(per_document, **interval).as_dict(),
                               "per_seed": _floats(per_seed)}
        out[layers] = {**by_words["all"], "nonzero": by_words["nonzero"],
                       "seeds": list(range(seed, seed + seeds))}
    return out


def _planted(attributors, n: int, seed: int, k: int, batch_size: int, interval, progress: bool,
             trainer: Callable[[PlantedTask, int], Any] | None) -> dict[str, Any]:
    """The trigger planted into a model of the evaluated model's kind when ``trainer`` makes one
    (its architecture and settings, doclrp's training), else into the reference CNN (said so)."""
    # a model of the user's kind trains with its own settings (epochs, batch size, learning rate),
    # made for corpora of thousands: on 100 documents it would take too few steps to learn anything
    task = planted_documents(max(PLANTED_TRAINING if trainer is not None else 100, n), seed=seed)
    if trainer is not None:
        pipeline = trainer(task, seed)
        model = {"kind": str(getattr(pipeline.model, "model_type", type(pipeline.model).__name__)),
                 "reference": False}
    else:
        pipeline = train_planted_model(task, seed=seed)
        model = {"kind": "text-cnn", "reference": True}
    test = planted_documents(n, seed=seed + 1)
    by_method: dict[str, Any] = {}
    for attributor in _bar(attributors, "planted trigger", "method", progress):
        try:
            made = explain(pipeline, test.texts, method=attributor, batch_size=batch_size)
        except DoclrpError as error:  # a transformer composite on the tiny CNN: said, not fatal
            by_method[attributor.name] = {"error": str(error)}
            continue
        hits = trigger_recovery(made, test.triggers, k)
        by_method[attributor.name] = {key: bootstrap_interval(v, **interval).as_dict() for key, v in hits.items()}
    accuracy = float(np.mean([p.label == c for p, c in zip(pipeline.predict(test.texts), test.classes)]))
    return {"documents": n, "k": k, "accuracy": accuracy, "methods": by_method, "model": model}


def _bar(items, desc: str, unit: str, progress: bool):
    """``items`` with a progress bar on stderr (when ``progress``), as each method's own bar."""
    return tqdm(items, desc=desc, unit=unit, file=sys.stderr, disable=not progress, dynamic_ncols=True,
                mininterval=0.5)


def _floats(values) -> list[float | None]:
    """JSON-safe: NaN becomes None."""
    return [None if not np.isfinite(v) else float(v) for v in np.asarray(values, dtype=np.float64).reshape(-1)]

