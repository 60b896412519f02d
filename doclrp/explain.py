"""``explain()``: word-level explanations of text pipelines.

A pipeline is either a *bag of features* (tf-idf → MLP: relevance per feature is
shared over the feature's occurrences in the document) or a *sequence* of model
tokens (word ids, sub-word pieces). Sequences longer than the model takes are cut
into overlapping windows; the document's output is the mean of the windows'
outputs, so a word's relevance is the sum of its relevance in each window divided
by the number of windows, and the words still sum to the explained output.

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> e = explain(pipe, "good fun, really")
>>> [w.text for w in e.words]
['good', 'fun', ',', 'really']
>>> abs(sum(w.relevance for w in e.words) + sum(e.special.values()) + e.delta - e.target_value) < 1e-5
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .core import attribute, contrast_weights, get_composite, output_tensor
from .errors import DoclrpError
from .text import Document, Explanation, Prediction, build_explanation, tokenize_many

__all__ = ["explain", "Explanation", "document_outputs", "resolve_target", "resolve_reference", "ResolvedTarget",
           "window_starts"]

CONTRAST_SUFFIX = "-vs-rest"


@dataclass(frozen=True)
class ResolvedTarget:
    """A text-level target as output weights; ``index`` None means "the predicted class"."""

    weights: torch.Tensor | None
    name: str | None


def resolve_target(target, labels: Sequence[str], task: str) -> ResolvedTarget:
    """Turn ``"predicted"``, a label, an index, ``"LABEL-vs-rest"`` or a weight mapping into weights.

    >>> resolve_target("sport-vs-rest", ["business", "sport", "tech"], "classification").weights.tolist()
    [-0.5, 1.0, -0.5]
    >>> resolve_target({"pos": 1, "neg": -1}, ["neg", "pos"], "regression").weights.tolist()
    [-1.0, 1.0]
    """
    labels = list(labels)
    n = len(labels)
    if target is None or target == "predicted":
        if task == "regression" and n > 1:
            raise DoclrpError(f"a regressor with {n} outputs needs a target: one of {', '.join(labels)}")
        return ResolvedTarget(None, None if task == "classification" else labels[0])
    if isinstance(target, dict):
        weights = torch.zeros(n)
        for key, weight in target.items():
            weights[_index_of(key, labels)] = float(weight)
        name = " ".join(f"{w:+g}·{k}" for k, w in target.items())
        return ResolvedTarget(weights, name)
    if isinstance(target, str) and target.endswith(CONTRAST_SUFFIX) and target not in labels:
        index = _index_of(target[: -len(CONTRAST_SUFFIX)], labels)
        return ResolvedTarget(contrast_weights(index, n), f"{labels[index]}{CONTRAST_SUFFIX}")
    index = _index_of(target, labels)
    weights = torch.zeros(n)
    weights[index] = 1.0
    return ResolvedTarget(weights, labels[index])


def _index_of(key, labels: list[str]) -> int:
    if isinstance(key, str) and key in labels:
        return labels.index(key)
    try:
        index = int(key)
    except (TypeError, ValueError):
        raise DoclrpError(f"unknown target {key!r}; choose one of: {', '.join(labels)}, "
                          f"an index, 'predicted' or 'LABEL{CONTRAST_SUFFIX}'") from None
    if not 0 <= index < len(labels):
        raise DoclrpError(f"target index {index} is out of range for {len(labels)} outputs")
    return index


def resolve_reference(reference, pipeline) -> tuple[torch.Tensor | None, str]:
    """``(values (n_outputs,), name)`` for ``reference``: None, ``"mean"`` (the mean
    prediction stored at training time) or one number per output.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["up", "down"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"], "regression",
    ...                     metrics={"mean_prediction": {"neg": 0.25, "pos": 0.5}})
    >>> values, name = resolve_reference("mean", pipe)
    >>> values.tolist(), name
    ([0.25, 0.5], 'mean')
    """
    labels = list(pipeline.labels)
    if reference is None:
        return None, ""
    if isinstance(reference, str):
        if reference != "mean":
            raise DoclrpError(f"unknown reference {reference!r}: use 'mean' or one number per output")
        stored = getattr(pipeline, "metrics", {}).get("mean_prediction")
        if stored is None:
            raise DoclrpError("this model stores no mean prediction (it was trained without one): retrain it, "
                              "or pass reference as one number per output")
        missing = [label for label in labels if label not in stored]
        if missing:
            raise DoclrpError(f"the stored mean prediction lacks outputs {missing}: retrain, or pass numbers")
        return torch.tensor([float(stored[label]) for label in labels], dtype=torch.float64), "mean"
    values = torch.as_tensor(reference, dtype=torch.float64).reshape(-1)
    if values.numel() != len(labels):
        raise DoclrpError(f"reference has {values.numel()} values for {len(labels)} outputs ({', '.join(labels)})")
    if not bool(values.isfinite().all()):
        raise DoclrpError(f"reference values must be finite numbers, got {values.tolist()}")
    return values, "reference"


def window_starts(length: int, size: int, overlap: int) -> list[int]:
    """Start offsets of windows of ``size`` covering ``length`` tokens with ``overlap``.

    >>> window_starts(10, 4, 1)
    [0, 3, 6]
    >>> window_starts(3, 4, 1)
    [0]
    """
    if length <= size:
        return [0]
    step = max(1, size - overlap)
    starts = list(range(0, length - size + 1, step))
    if starts[-1] + size < length:
        starts.append(length - size)
    return starts


# -- sequence pipelines (word ids) ----------------------------------------------------------------
class _IdSequence:
    """The sequence protocol for ``TextPipeline``s with an ``IdEncoder``."""

    def __init__(self, pipeline):
        self.pipeline = pipeline
        self.max_tokens = pipeline.encoder.max_len

    def tokens(self, documents: Sequence[Document]):
        vocabulary = self.pipeline.encoder.vocabulary
        return [(vocabulary.encode([w.text for w in doc.words]), [(w.start, w.end) for w in doc.words])
                for doc in documents]

    def collate(self, windows: list[list[int]]):
        ids = torch.zeros(len(windows), max(1, *map(len, windows)), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.tensor(window, dtype=torch.long)
        positions = [list(range(len(w))) for w in windows]
        specials = [["[PAD]"] * (ids.shape[1] - len(w)) for w in windows]
        return ids.to(self.pipeline.device), {}, positions, specials


def _sequence_protocol(pipeline):
    if hasattr(pipeline, "collate") and hasattr(pipeline, "tokens"):
        return pipeline
    encoder = getattr(pipeline, "encoder", None)
    if encoder is not None and hasattr(encoder, "vocabulary"):
        return _IdSequence(pipeline)
    return None


def explain(pipeline, texts: str | Sequence[str], target="predicted", composite=None, *,
            batch_size: int = 16, overlap: int | None = None, ids: Sequence[str] | None = None,
            reference=None):
    """Explain ``target`` for one text (returns an ``Explanation``) or a list (returns a list).

    ``target``: ``"predicted"`` (default; the only output of a one-output regressor), a
    label name, an output index, ``"LABEL-vs-rest"`` (the class against the mean of the
    others), or a mapping ``{label: weight}`` for a weighted combination of outputs.
    ``composite``: a name or ``doclrp.Composite``; default the model's own. A baseline
    method of :mod:`doclrp.evaluate` works here too, by name (``"integrated-gradients"``)
    or as an object, so that LRP and baselines are compared on the same words.
    ``overlap``: tokens shared by consecutive windows of long documents (default a quarter).
    ``reference``: explain ``f(x) − reference`` instead of ``f(x)``: ``"mean"`` (the mean
    prediction on the training texts, stored by ``doclrp.train``) or one number per
    output. The output layer's bias becomes ``b − reference``: under LRP-0 and ε the
    words keep their relevance and the offset moves into ``delta``; under z⁺ and αβ the
    words share out the deviation instead of the whole score. ``target`` is then named
    ``"<target> − mean"`` (or ``"− reference"``) and ``target_value`` is the deviation.
    """
    single = isinstance(texts, str)
    texts = [texts] if single else list(texts)
    for position, text in enumerate(texts):
        if not isinstance(text, str):
            raise DoclrpError(f"document {position} is a {type(text).__name__}, not text")
        if not text.strip():
            raise DoclrpError(f"document {ids[position] if ids else position} is empty: nothing to explain")
    resolved = resolve_target(target, pipeline.labels, pipeline.task)
    reference, reference_name = resolve_reference(reference, pipeline)
    composite = composite or pipeline.default_composite
    attributor = _attributor(composite)
    documents = tokenize_many(texts)
    sequence = _sequence_protocol(pipeline)
    was_training = pipeline.model.training
    pipeline.model.eval()
    try:
        if sequence is None:
            results = _explain_bag(pipeline, texts, resolved, attributor, batch_size, reference)
        else:
            results = _explain_sequence(pipeline, sequence, documents, resolved, attributor, batch_size, overlap,
                                        reference)
    finally:
        pipeline.model.train(was_training)
    explanations = [
        _finish(pipeline, doc, resolved, *parts, id=None if ids is None else str(ids[i]),
                reference_name=reference_name)
        for i, (doc, parts) in enumerate(zip(documents, results))
    ]
    return explanations[0] if single else explanations


def _attributor(composite):
    """``attribute(model, inputs, target, forward_kwargs=, reference=)`` for ``composite``:
    an LRP composite (name or object) or a baseline method of :mod:`doclrp.evaluate`."""
    from .evaluate import get_method  # evaluate builds on this module

    method = get_method(composite)
    if method is not None:
        return method.attribute
    composite = get_composite(composite)  # once, and an unknown name fails before any work
    return lambda model, inputs, target, **kwargs: attribute(model, inputs, target, composite, **kwargs)


def _target_for(resolved: ResolvedTarget):
    if resolved.weights is None:
        return None
    return lambda logits: resolved.weights.to(device=logits.device, dtype=logits.dtype)


def _explain_bag(pipeline, texts, resolved, attributor, batch_size, reference=None):
    results = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        inputs = pipeline.inputs(chunk)
        if not bool((inputs != 0).any(1).all()):
            empty = start + int((inputs != 0).any(1).logical_not().nonzero()[0])
            raise DoclrpError(f"document {empty} has no word the model knows: nothing to explain")
        attr = attributor(pipeline.model, inputs, _target_for(resolved), reference=reference)
        for row, text in enumerate(chunk):
            tokens = pipeline.token_relevance(text, attr.relevance[row])
            results.append((tokens.spans, np.asarray(tokens.relevance, float),
                            {"unassigned": tokens.unassigned} if tokens.unassigned else {},
                            attr.logits[row], attr.target[row], float(attr.target_output[row]),
                            float(attr.delta[row])))
    return results


def _windows(pipeline, sequence, encoded, overlap, strict=True):
    """``(document, start, ids)`` of every window, in document order; ``strict``: a
    document without tokens, or only unknown ones, is an error instead of one empty window."""
    size = sequence.max_tokens
    overlap = size // 4 if overlap is None else overlap
    if not 0 <= overlap < size:
        raise DoclrpError(f"overlap must be in [0, {size}), got {overlap}")
    windows = []
    for doc_index, (token_ids, _) in enumerate(encoded):
        if strict and not token_ids:
            raise DoclrpError(f"document {doc_index} has no tokens: nothing to explain")
        if strict and _all_unknown(pipeline, token_ids):
            raise DoclrpError(f"document {doc_index} has only words the model does not know: nothing to explain")
        for start in window_starts(len(token_ids), size, overlap):
            windows.append((doc_index, start, token_ids[start : start + size]))
    return windows


@torch.no_grad()
def document_outputs(pipeline, texts: Sequence[str], *, batch_size: int = 16, overlap: int | None = None):
    """Model outputs ``(n_texts, n_outputs)`` per document as ``explain`` sees them: the mean
    of the outputs of its windows (``pipeline.outputs`` reads only the first window).

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"], max_len=2)
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> document_outputs(pipe, ["good fun bad dull", ""]).shape
    torch.Size([2, 2])
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    sequence = _sequence_protocol(pipeline)
    if sequence is None:
        return pipeline.outputs(texts, batch_size=batch_size).double()
    encoded = sequence.tokens(tokenize_many(texts, pipeline="blank"))
    windows = _windows(pipeline, sequence, encoded, overlap, strict=False)
    was_training = pipeline.model.training
    pipeline.model.eval()
    try:
        sums, counts = _window_output_sums(pipeline, sequence, windows, len(texts), batch_size)
    finally:
        pipeline.model.train(was_training)
    return sums / counts


@torch.no_grad()
def _window_output_sums(pipeline, sequence, windows, n_documents: int, batch_size: int):
    """``(sums (n_documents, n_outputs), counts (n_documents, 1))``: each document's
    window outputs summed, and how many windows it has (float64, on the CPU)."""
    sums = torch.zeros(n_documents, len(pipeline.labels), dtype=torch.float64)
    counts = torch.zeros(n_documents, 1, dtype=torch.float64)
    for begin in range(0, len(windows), batch_size):
        batch = windows[begin : begin + batch_size]
        inputs, kwargs, _, _ = sequence.collate([w[2] for w in batch])
        logits = output_tensor(pipeline.model(inputs, **kwargs)).reshape(len(batch), -1).double().cpu()
        rows = torch.tensor([w[0] for w in batch])
        sums.index_add_(0, rows, logits)
        counts.index_add_(0, rows, torch.ones(len(batch), 1, dtype=torch.float64))
    return sums, counts


def _explain_sequence(pipeline, sequence, documents, resolved, attributor, batch_size, overlap, reference=None):
    encoded = sequence.tokens(documents)
    windows = _windows(pipeline, sequence, encoded, overlap)
    per_doc = [dict(relevance=np.zeros(len(ids)), special={}, logits=0, weights=0, value=0.0, delta=0.0)
               for ids, _ in encoded]
    counts = np.bincount([w[0] for w in windows], minlength=len(encoded)).tolist()
    batches = _window_batches(windows, counts, batch_size)
    # Only documents whose windows span several batches need a forward pass of their
    # own to find their class; the others find it inside their attribution batch.
    split = [w for w in windows if counts[w[0]] > batch_size]
    classes = {} if resolved.weights is not None else _document_classes(pipeline, sequence, split, len(encoded),
                                                                          batch_size)
    for batch in batches:
        inputs, kwargs, positions, specials = sequence.collate([w[2] for w in batch])
        attr = attributor(pipeline.model, inputs, _window_target(resolved, batch, classes),
                          forward_kwargs=kwargs, reference=reference)
        # Whole tensors to numpy once per batch: per-row tensor indexing costs more than the rows' sums.
        relevance = attr.relevance.double().cpu().numpy()
        logits, weights = attr.logits.double().cpu().numpy(), attr.target.double().cpu().numpy()
        values, deltas = attr.target_output.double().cpu().tolist(), attr.delta.double().cpu().tolist()
        other = {name: value.double().cpu().reshape(len(batch), -1).sum(1).tolist()
                 for name, value in attr.other_relevance.items()}
        for row, (doc_index, start, window) in enumerate(batch):
            share = 1.0 / counts[doc_index]
            acc = per_doc[doc_index]
            columns = positions[row]
            acc["relevance"][start : start + len(window)] += share * relevance[row, columns]
            special = acc["special"]
            if specials[row]:
                is_special = np.ones(relevance.shape[1], dtype=bool)
                is_special[columns] = False
                for name, value in zip(specials[row], relevance[row, is_special].tolist()):
                    special[name] = special.get(name, 0.0) + share * value
            for name, sums in other.items():
                special[name] = special.get(name, 0.0) + share * sums[row]
            acc["logits"] = acc["logits"] + share * logits[row]
            acc["weights"] = weights[row]
            acc["value"] += share * values[row]
            acc["delta"] += share * deltas[row]
    return [(spans, acc["relevance"], acc["special"], acc["logits"], acc["weights"], acc["value"], acc["delta"])
            for (_, spans), acc in zip(encoded, per_doc)]


def _window_batches(windows, counts, batch_size):
    """Consecutive windows in batches of at most ``batch_size``, a document's windows kept
    in one batch whenever they fit, so that the batch's own logits give its class.

    >>> [[w[0] for w in b] for b in _window_batches([(0,), (1,), (1,), (2,)], [1, 2, 1], 2)]
    [[0], [1, 1], [2]]
    """
    batches, batch = [], []
    for window in windows:
        keep_together = counts[window[0]] <= batch_size and window[0] != (batch[-1][0] if batch else None)
        if batch and (len(batch) == batch_size or (keep_together and len(batch) + counts[window[0]] > batch_size)):
            batches.append(batch)
            batch = []
        batch.append(window)
    if batch:
        batches.append(batch)
    return batches


def _document_classes(pipeline, sequence, windows, n_documents, batch_size) -> dict[int, int]:
    """The predicted class of each document in ``windows`` (all its windows): the argmax
    of the mean of its windows' outputs, so all its windows explain that same class."""
    sums, counts = _window_output_sums(pipeline, sequence, windows, n_documents, batch_size)
    return {doc_index: int(sums[doc_index].argmax()) for doc_index in counts[:, 0].nonzero()[:, 0].tolist()}


def _window_target(resolved: ResolvedTarget, batch, classes: dict[int, int]):
    """Target weights for a batch of windows: the resolved target, or each document's
    class: the argmax of the summed logits of its windows in this batch, unless
    ``classes`` (documents spread over several batches) already names it."""
    if resolved.weights is not None:
        return _target_for(resolved)
    documents = torch.tensor([doc_index for doc_index, _, _ in batch])

    def weights(logits):
        logits = logits.detach().reshape(logits.shape[0], -1)
        _, group = documents.unique_consecutive(return_inverse=True)
        group = group.to(logits.device)
        summed = logits.new_zeros(int(group.max()) + 1, logits.shape[1]).index_add_(0, group, logits)
        chosen = summed.argmax(1)[group].tolist()
        chosen = [classes.get(doc_index, own) for (doc_index, _, _), own in zip(batch, chosen)]
        return torch.tensor(chosen, device=logits.device)

    return weights


def _all_unknown(pipeline, token_ids) -> bool:
    vocabulary = getattr(getattr(pipeline, "encoder", None), "vocabulary", None)
    return vocabulary is not None and all(i == vocabulary.oov_id for i in token_ids)


def _finish(pipeline, document, resolved, spans, relevance, special, logits, weights, value, delta, id,
            reference_name=""):
    prediction = Prediction.from_logits(logits, pipeline.labels, pipeline.task)
    name = resolved.name
    if name is None:
        name = pipeline.labels[int(torch.as_tensor(weights).argmax())]
    if reference_name:
        name = f"{name} − {reference_name}"
    explanation = build_explanation(document, spans, relevance, labels=pipeline.labels, task=pipeline.task,
                                    prediction=prediction, target=name, target_value=value, delta=delta, id=id)
    for key, amount in special.items():
        explanation.special[key] = explanation.special.get(key, 0.0) + amount
    return explanation
