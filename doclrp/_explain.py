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
from typing import Any, cast, overload

import warnings

import numpy as np
import torch

from .core import Attributor, Target, describe, output_tensor, resolve_method
from .core.cancel import check_cancelled
from .core.rules import AlphaBeta
from .core.targets import CONTRAST_SUFFIX
from .core.methods import MethodSpec
from ._budget import Budget, checked
from .errors import DoclrpError
from .models.measured import measured_note, model_kind
from .text import Document, Explanation, Explanations, Prediction, build_explanation, tokenize_many
from .text.columns import WordSpans, WordTable
from .text.pipeline import FeaturePipeline, TextPipeline, TokenSequence
from .text.prompt import PromptColumn, PromptWord
from .text.targets import ReferenceLike, TargetLike, resolve_reference, resolve_target

__all__ = ["explain", "explain_targets", "MAX_TARGET_VIEWS", "MAX_VIEW_WORDS", "Explanation", "MAX_CHARS", "document_outputs", "invalid_character", "resolve_target",
           "resolve_reference", "window_starts", "sequence_protocol", "window_output_sums", "document_names", "pipeline_method", "unexplainable", "unplaced_share",
           "UnexplainableDocument", "UnplacedRelevanceWarning", "UNPLACED_WARNING_SHARE", "MethodNoteWarning",
           "method_notes", "checked_names"]

#: Relevance that reaches the input but lies on no word (features absent from a bag-of-words
#: document, padding): above this share of a document's absolute relevance, a warning says so.
UNPLACED_WARNING_SHARE = 0.01
# the ``special`` entries of such relevance: [CLS], [SEP] and position embeddings are parts of
# the model's input, reported by name; these are not
_UNPLACED = ("unassigned", "[PAD]")
# why explain() refuses a document (the reasons corpus runs and evaluation record)
EMPTY = "is empty"
NO_KNOWN_WORD = "has no word the model knows"
NO_TOKENS = "has no tokens"
ONLY_UNKNOWN = "has only words the model does not know"


class UnexplainableDocument(DoclrpError):
    """A document ``explain()`` cannot explain; ``document`` names it (its id, else its
    position), ``reason`` says why (one of the reasons above)."""

    def __init__(self, document: str, reason: str) -> None:
        super().__init__(f"{_called(document)} {reason}: nothing to explain")
        self.document = document
        self.reason = reason


class UnplacedRelevanceWarning(UserWarning):
    """More than :data:`UNPLACED_WARNING_SHARE` of a document's relevance lies on no word."""


class MethodNoteWarning(UserWarning):
    """What the chosen method means for this model: measured no better than random on its kind
    (:mod:`doclrp.models.measured`), or α-β on a negative explained value (its signs flip)."""

# (document index, start token, token ids) of one window of a sequence
_Window = tuple[int, int, Any]  # the ids: a list slice or an array view
# a document's (token spans, relevance per token, special relevance, logits, target weights, value, delta)
_Parts = tuple[Any, np.ndarray, dict[str, float], Any, Any, float, float]  # spans: (n, 2) array or list of pairs


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
    """The sequence protocol for ``TextPipeline``s with an ``IdEncoder`` (``encoder``: its word ids)."""

    def __init__(self, pipeline: TextPipeline, encoder: Any, budget: Budget | None = None) -> None:
        self.pipeline, self.encoder = pipeline, encoder
        self.max_tokens: int = encoder.max_len
        self.budget = budget

    def tokens(self, documents: Sequence[Any]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per document (a ``Document``, or anything with its ``.text`` and ``.words``): the word ids
        (n,) and the words' spans (n, 2), as int64 arrays, encoded :data:`ENCODE_WORDS` words at a time."""
        vocabulary = self.encoder.vocabulary
        encoded = []
        for document in documents:
            words = _word_spans(document)
            ids = np.empty(len(words), dtype=np.int64)
            for begin in range(0, len(words), ENCODE_WORDS):
                ids[begin : begin + ENCODE_WORDS] = vocabulary.encode(words[begin : begin + ENCODE_WORDS].texts())
                checked(self.budget, "while encoding")
                check_cancelled()
            encoded.append((ids, np.stack([words.start, words.end], axis=1)))
        return encoded

    def collate(self, windows: Sequence[Sequence[int]]
                ) -> tuple[torch.Tensor, dict[str, Any], list[list[int]], list[list[str]]]:
        ids = torch.zeros(len(windows), max(1, *map(len, windows)), dtype=torch.long)
        for row, window in enumerate(windows):
            ids[row, : len(window)] = torch.as_tensor(np.asarray(window, dtype=np.int64))
        positions = [list(range(len(w))) for w in windows]
        specials = [["[PAD]"] * (ids.shape[1] - len(w)) for w in windows]
        device = next(self.pipeline.model.parameters()).device
        return ids.to(device), {}, positions, specials


#: Words encoded to ids at a time (a budget is checked between such chunks).
ENCODE_WORDS = 65_536


def _word_spans(document: Any) -> WordTable[Any]:
    """The words of a ``Document`` (or of an object with its ``.text`` and ``.words``) as columns."""
    words = document.words
    if isinstance(words, WordTable):
        return words
    return WordSpans.from_rows(document.text, [(w.text, w.start, w.end, getattr(w, "sentence", 0)) for w in words])


def sequence_protocol(pipeline: TextPipeline, budget: Budget | None = None) -> TokenSequence | None:
    """The pipeline as a :class:`~doclrp.text.pipeline.TokenSequence` (itself, or its word ids),
    or None for a bag of features; ``budget`` is checked while word-id pipelines encode."""
    if hasattr(pipeline, "collate") and hasattr(pipeline, "tokens"):
        return cast(TokenSequence, pipeline)
    encoder = getattr(pipeline, "encoder", None)
    if encoder is not None and hasattr(encoder, "vocabulary"):
        return _IdSequence(pipeline, encoder, budget)
    return None


def _features(pipeline: TextPipeline) -> FeaturePipeline:
    """``pipeline``, which is no sequence, as a bag of features (else one line: it is neither)."""
    if not isinstance(pipeline, FeaturePipeline):
        raise DoclrpError(f"{type(pipeline).__name__} is neither a sequence of tokens (tokens and collate, or an "
                          "encoder with a vocabulary) nor a bag of features (inputs and token_relevance)")
    return pipeline


# a str is a Sequence[str] too: this overload, the first, takes it (hence the overlap mypy sees)
@overload
def explain(pipeline: TextPipeline, texts: str, target: TargetLike = ..., method: MethodSpec = ..., *,  # type: ignore[overload-overlap]
            composite: MethodSpec = ..., batch_size: int = ..., overlap: int | None = ...,
            ids: Sequence[str] | None = ..., reference: ReferenceLike = ...,
            budget: Budget | float | None = ...) -> Explanation: ...


@overload
def explain(pipeline: TextPipeline, texts: Sequence[str], target: TargetLike = ..., method: MethodSpec = ..., *,
            composite: MethodSpec = ..., batch_size: int = ..., overlap: int | None = ...,
            ids: Sequence[str] | None = ..., reference: ReferenceLike = ...,
            budget: Budget | float | None = ...) -> Explanations: ...


def explain(pipeline: TextPipeline, texts: str | Sequence[str], target: TargetLike = "predicted",
            method: MethodSpec = None, *, composite: MethodSpec = None, batch_size: int = 16, overlap: int | None = None,
            ids: Sequence[str] | None = None, reference: ReferenceLike = None,
            budget: Budget | float | None = None) -> Explanation | Explanations:
    """Explain ``target`` for one text (returns an ``Explanation``) or a list (returns ``Explanations``, a list that shows itself in a notebook).

    ``target``: ``"predicted"`` (default; the only output of a one-output regressor), a
    label name, an output index, ``"LABEL-vs-rest"`` (the class against the mean of the
    others), or a mapping ``{label: weight}`` for a weighted combination of outputs.
    A :class:`~doclrp.core.targets.Target` (from :func:`resolve_target`) is used as it is.
    ``method``: an LRP composite or a baseline, by name (``"epsilon"``,
    ``"integrated-gradients"``), as a ``doclrp.Composite`` or as an attributor from
    :func:`~doclrp.core.methods.resolve_method`; default the model's own.
    ``composite``: the older name of ``method`` (give one of the two).
    ``overlap``: tokens shared by consecutive windows of long documents (default a quarter).
    ``reference``: explain ``f(x) − reference`` instead of ``f(x)``: ``"mean"`` (the mean
    prediction on the training texts, stored by ``doclrp.training``) or one number per
    output. The output layer's bias becomes ``b − reference``: under LRP-0 and ε the
    words keep their relevance and the offset moves into ``delta``; under z⁺ and αβ the
    words share out the deviation instead of the whole score. ``target`` is then named
    ``"<target> − mean"`` (or ``"− reference"``) and ``target_value`` is the deviation.
    ``budget``: seconds the whole call may take, or a :class:`~doclrp._budget.Budget` (which also
    times each stage: ``budget.seconds``); checked between the blocks of words spaCy splits,
    the chunks of words encoded, the batches of windows and the words built, it raises
    :class:`~doclrp._budget.DocumentTimeout` (a ``DoclrpError``) when spent. None: no limit.
    """
    budget = budget if isinstance(budget, Budget) or budget is None else Budget(budget)
    single = isinstance(texts, str)
    texts = [texts] if isinstance(texts, str) else list(texts)
    names = checked_names(texts, ids, single)
    resolved = resolve_target(target, pipeline, reference)
    attributor = pipeline_method(pipeline, method, composite)
    explanations = _explain_texts(pipeline, texts, names, ids, resolved, attributor, batch_size, overlap, budget)
    return explanations[0] if single else Explanations(explanations)


def checked_names(texts: Sequence[Any], ids: Sequence[str] | None, single: bool) -> list[str]:
    """The documents' names (:func:`document_names`), once each text is known to be explainable text.

    One text given as a string (``single``) is "the document" in messages; several are named
    by position or id.

    >>> checked_names(["Up.", "Down."], ["a", "b"], single=False), checked_names(["Up."], None, single=True)
    (['a', 'b'], [''])
    >>> checked_names(["  "], None, single=True)
    Traceback (most recent call last):
    doclrp._explain.UnexplainableDocument: the document is empty: nothing to explain
    """
    names = [""] if single and ids is None else document_names(texts, ids)
    for name, text in zip(names, texts):
        if not isinstance(text, str):
            raise DoclrpError(f"{_called(name)} is a {type(text).__name__}, not text")
        if not text.strip():
            raise UnexplainableDocument(name, EMPTY)
        problem = invalid_character(text)
        if problem:
            raise DoclrpError(f"{_called(name)} {problem}")
    return names


def _explain_texts(pipeline: TextPipeline, texts: Sequence[str], names: Sequence[str], ids: Sequence[str] | None,
                   resolved: Target, attributor: Attributor, batch_size: int, overlap: int | None,
                   budget: Budget | None, documents: Sequence[Document] | None = None,
                   warn_level: int = 4) -> list[Explanation]:
    """:func:`explain` once the target and method are resolved; ``documents``: the texts' words
    when they were split already (:func:`explain_targets` splits them once for all targets);
    ``warn_level``: the stack level of the caller's caller, whom a warning names."""
    described = describe(attributor)
    clock = budget if budget is not None else Budget()
    if documents is None:
        with clock.stage("splitting words"):
            documents = tokenize_many(texts, budget=budget)
        checked(budget, "after tokenizing")
    sequence = sequence_protocol(pipeline, budget)
    was_training = pipeline.model.training
    pipeline.model.eval()
    try:
        if sequence is None:
            with clock.stage("attributing"):
                results = _explain_bag(_features(pipeline), texts, resolved, attributor, batch_size, names, budget)
        else:
            results = _explain_sequence(pipeline, sequence, documents, resolved, attributor, batch_size, overlap,
                                        names, clock, budget)
    finally:
        pipeline.model.train(was_training)
    checked(budget, "after its last model pass")
    for position, parts in enumerate(results):
        _check_finite_outputs(parts[3], pipeline.labels, names[position])
    explanations = []
    with clock.stage("building words and sentences"):
        for i, (doc, parts) in enumerate(zip(documents, results)):
            explanations.append(_finish(pipeline, doc, resolved, *parts, id=None if ids is None else str(ids[i]),
                                        method=described))
            checked(budget, "while building words and sentences")
    _warn_unplaced(explanations, names, described["name"], warn_level)
    _warn_method_notes(pipeline, attributor, explanations, names, warn_level)
    return explanations


#: Outputs explained one by one for a page's target switch (and as many ``X-vs-rest`` contrasts):
#: one backward pass each is cheap for models with a few classes; beyond this many, the most
#: probable outputs (highest values) are taken.
MAX_TARGET_VIEWS = 20


#: Words of a document up to which :func:`explain_targets` explains every target (a page's switch).
MAX_VIEW_WORDS = 10_000


def explain_targets(pipeline: TextPipeline, text: str, target: TargetLike = "predicted", method: MethodSpec = None, *,
                    reference: ReferenceLike = None, id: str | None = None, max_outputs: int = MAX_TARGET_VIEWS,
                    contrasts: bool = True, max_words: int | None = MAX_VIEW_WORDS,
                    budget: Budget | float | None = None) -> list[Explanation]:
    """``text`` explained for ``target`` first, then for every other output and (classification)
    every ``LABEL-vs-rest`` contrast, with one method: the data of a page's target switch
    (``doclrp.render.to_html(first, alternatives=rest)``).

    One explanation (one backward pass per window) per target; for models with more than
    ``max_outputs`` outputs only the ``max_outputs`` highest-valued outputs (and their contrasts)
    are explained. A target equal to the first one is not repeated; a reference subtracted from
    the first target is subtracted from every other. The text is split into words once.

    ``max_words``: a document of more words gets the first explanation alone (None: no limit):
    each other target costs one more pass over the whole document, and its page one more view
    of it (:data:`MAX_VIEW_WORDS`). ``budget``: as :func:`explain` takes it, for all targets together.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 3), encoder, ["a", "b", "c"])
    >>> views = explain_targets(pipe, "good fun", target="b")
    >>> [str(v.target) for v in views]
    ['b', 'a', 'c', 'a-vs-rest', 'b-vs-rest', 'c-vs-rest']
    >>> len(explain_targets(pipe, "good fun", target="b", max_words=1))
    1
    """
    budget = budget if isinstance(budget, Budget) or budget is None else Budget(budget)
    attributor = pipeline_method(pipeline, method)
    base = resolve_target(target, pipeline, reference)
    ids = None if id is None else [id]
    names = checked_names([text], ids, single=True)
    clock = budget if budget is not None else Budget()
    with clock.stage("splitting words"):
        documents = tokenize_many([text], budget=budget)
    checked(budget, "after tokenizing")

    def one(resolved: Target) -> Explanation:
        return _explain_texts(pipeline, [text], names, ids, resolved, attributor, 16, None, budget, documents,
                              warn_level=5)[0]

    first = one(base)
    if max_words is not None and len(first.words) > max_words:
        return [first]
    labels = list(pipeline.labels)
    outputs = list(range(len(labels)))
    if len(outputs) > max_outputs:
        values = first.prediction.values
        outputs = sorted(sorted(outputs, key=lambda i: -values[i])[:max_outputs])
    specs: list[Any] = [labels[i] for i in outputs]
    if contrasts and pipeline.task == "classification" and len(labels) > 1:
        specs += [f"{labels[i]}{CONTRAST_SUFFIX}" for i in outputs]
    views = [first]
    seen = {first.target.weights}
    for spec in specs:
        # the first target's reference (given here or carried by a Target) applies to every view
        resolved = resolve_target(spec, pipeline).with_reference(base.reference, base.reference_name)
        if resolved.weights in seen:
            continue
        seen.add(resolved.weights)
        with warnings.catch_warnings():  # the notes are the chosen target's, said once above
            warnings.simplefilter("ignore", MethodNoteWarning)
            views.append(one(resolved))
    return views


def _called(name: str) -> str:
    """How a message names a document: ``document NAME``, or ``the document`` for the one text
    ``explain`` was given (name ``""``).

    >>> _called("7"), _called("")
    ('document 7', 'the document')
    """
    return f"document {name}" if name else "the document"


def document_names(texts: Sequence[Any], ids: Sequence[str] | None) -> list[str]:
    """How errors and skips name each document: by its id when ``ids`` are given, else by its
    position.

    >>> document_names(["a", "b"], None), document_names(["a", "b"], ["x", "y"])
    (['0', '1'], ['x', 'y'])
    """
    if ids is None:
        return [str(position) for position in range(len(texts))]
    if isinstance(ids, str) or len(ids) != len(texts):
        raise DoclrpError(f"ids: give one id per text, got {1 if isinstance(ids, str) else len(ids)} ids for "
                          f"{len(texts)} texts")
    return [str(i) for i in ids]


def unplaced_share(explanation: Explanation) -> float:
    """The share of a document's absolute relevance that lies on no word (absent bag-of-words
    features, padding), as ``explanation.special`` records it.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> unplaced_share(explain(pipe, "good fun"))
    0.0
    """
    unplaced = sum(abs(explanation.special.get(key, 0.0)) for key in _UNPLACED)
    total = unplaced + float(np.abs(explanation.relevance).sum())
    return unplaced / total if total > 0 else 0.0


def _warn_unplaced(explanations: Sequence[Explanation], names: Sequence[str], method: str,
                   stacklevel: int = 3) -> None:
    """One warning per call when documents have more than a small share of relevance on no word:
    a method that hands relevance to what the text does not hold must not pass unnoticed."""
    shares = [(unplaced_share(e), name) for e, name in zip(explanations, names)]
    high = [(share, name) for share, name in shares if share > UNPLACED_WARNING_SHARE]
    if not high:
        return
    share, name = max(high)
    others = f" and {len(high) - 1} more of {len(shares)} documents" if len(high) > 1 else ""
    warnings.warn(
        f"{method}: {share:.1%} of the relevance reaching the input of {_called(name)}{others} lies on no word "
        "of its text (special['unassigned'] / special['[PAD]']: features the document lacks, padding, tokens "
        "outside any word); its words leave that much of the output unexplained",
        UnplacedRelevanceWarning, stacklevel=stacklevel)


def method_notes(pipeline: TextPipeline, attributor: Attributor, explanations: Sequence[Explanation],
                 names: Sequence[str]) -> list[str]:
    """The notes on the method for these explanations, one line each (what :func:`explain` warns,
    and the web app shows): the figure measured for this composite on this kind of model where it
    was no better than random, and α-β on a negative explained value.

    α-β hands ``α·R`` to the positive contributions and ``−β·R`` to the negative ones; for a
    negative explained value ``R`` the words that pushed the value *down* get positive relevance
    ("cup" −0.44 under ``alpha2-beta1`` for sports-vs-rest where ε gave +7.0, the logit −0.86).
    """
    notes = []
    measured = measured_note(model_kind(getattr(pipeline, "model", None)), attributor.name)
    if measured:
        notes.append(measured)
    composite = getattr(attributor, "composite", None)
    if composite is not None and any(isinstance(rule, AlphaBeta) and rule.beta > 0
                                     for rule in (*composite.rules.values(), composite.first)):
        negative = [(e.target_value, name) for e, name in zip(explanations, names) if e.target_value < 0]
        if negative:
            value, name = min(negative)
            others = f" and {len(negative) - 1} more of {len(names)} documents" if len(negative) > 1 else ""
            notes.append(f"{attributor.name} explains a negative value ({value:.3g} for document {name}{others}): "
                         "α-β then gives positive relevance to the words that pull the value down, the meaning "
                         "of its signs flips; explain a target whose value is positive, or use epsilon")
    return notes


def _warn_method_notes(pipeline: TextPipeline, attributor: Attributor, explanations: Sequence[Explanation],
                       names: Sequence[str], stacklevel: int = 3) -> None:
    for note in method_notes(pipeline, attributor, explanations, names):
        warnings.warn(note, MethodNoteWarning, stacklevel=stacklevel)


#: Characters of one document that the command line and corpus runs accept by default: a
#: document's cost (time, memory, page size) grows with its length, so a 20 MB file that is
#: not meant as one document must not quietly take an hour.
MAX_CHARS = 1_000_000


def invalid_character(text: str) -> str | None:
    """What makes ``text`` unusable as a document, or None: a lone surrogate (no Unicode
    character; Python makes them of undecodable bytes on the command line, JSON of ``"\\ud800"``).

    >>> invalid_character("Shares rose."), invalid_character("Shares " + chr(0xDCFF) + " rose")
    (None, 'has an invalid character (U+DCFF, a lone surrogate, at character 7): give valid UTF-8 text')
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as error:
        return (f"has an invalid character (U+{ord(text[error.start]):04X}, a lone surrogate, at character "
                f"{error.start}): give valid UTF-8 text")
    return None


def _check_finite_outputs(logits: Any, labels: Sequence[str], document: Any) -> None:
    """Refuse outputs that are NaN or infinite: their explanation would be noise (argmax of NaN)."""
    values = np.asarray(logits.detach().cpu() if isinstance(logits, torch.Tensor) else logits, dtype=float)
    bad = np.flatnonzero(~np.isfinite(values.reshape(-1)))
    if bad.size:
        index = int(bad[0])
        name = labels[index] if index < len(labels) else str(index)
        raise DoclrpError(f"{_called(document)}: the model's output {name!r} is {values.reshape(-1)[index]} "
                          "(not finite): check the model's weights")


def pipeline_method(pipeline: TextPipeline, method: MethodSpec = None, composite: MethodSpec = None) -> Attributor:
    """The attributor for ``method`` (or its older name ``composite``), default the model's own
    (``pipeline.default_composite``); what :func:`explain` and corpus runs resolve once.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["up", "down"])
    >>> pipeline_method(TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["a", "b"]))
    LRP('epsilon', eps=1e-06, recurrent=None, bias_factor=0.0)
    """
    if method is not None and composite is not None:
        raise DoclrpError("give method= or its older name composite=, not both")
    return resolve_method(method if method is not None else composite if composite is not None
                          else pipeline.default_composite)


def _explain_bag(pipeline: FeaturePipeline, texts: Sequence[str], target: Target, attributor: Attributor,
                 batch_size: int, names: Sequence[str], budget: Budget | None = None) -> list[_Parts]:
    results: list[_Parts] = []
    for start in range(0, len(texts), batch_size):
        checked(budget, "between model passes")
        chunk = texts[start : start + batch_size]
        inputs = pipeline.inputs(chunk)
        if not bool((inputs != 0).any(1).all()):
            empty = start + int((inputs != 0).any(1).logical_not().nonzero()[0])
            raise UnexplainableDocument(names[empty], NO_KNOWN_WORD)
        attr = attributor.attribute(pipeline.model, inputs, target)
        for row, text in enumerate(chunk):
            tokens = pipeline.token_relevance(text, attr.relevance[row])
            results.append((tokens.spans, np.asarray(tokens.relevance, float),
                            {"unassigned": tokens.unassigned} if tokens.unassigned else {},
                            attr.logits[row], attr.target[row], float(attr.target_output[row]),
                            float(attr.delta[row])))
    return results


def _windows(sequence: TokenSequence, encoded: Sequence[tuple[Any, Any]], overlap: int | None,
             names: Sequence[str] | None = None, pipeline: TextPipeline | None = None) -> list[_Window]:
    """``(document, start, ids)`` of every window, in document order (``ids`` a slice of the
    document's ids: a view where they are an array); with ``names`` (strict), a document
    without tokens, or only unknown ones, is an error instead of one empty window."""
    size = sequence.max_tokens
    overlap = size // 4 if overlap is None else overlap
    if not 0 <= overlap < size:
        raise DoclrpError(f"overlap must be in [0, {size}), got {overlap}")
    windows: list[_Window] = []
    for doc_index, (token_ids, _) in enumerate(encoded):
        reason = None if names is None else _sequence_reason(pipeline, token_ids)
        if reason is not None:
            raise UnexplainableDocument(cast(Sequence[str], names)[doc_index], reason)
        for start in window_starts(len(token_ids), size, overlap):
            windows.append((doc_index, start, token_ids[start : start + size]))
    return windows


@torch.no_grad()
def document_outputs(pipeline: TextPipeline, texts: Sequence[str], *, batch_size: int = 16,
                     overlap: int | None = None) -> torch.Tensor:
    """Model outputs ``(n_texts, n_outputs)`` per document as ``explain`` sees them: the mean
    of the outputs of its windows (``pipeline.outputs`` reads only the first window).

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"], max_len=2)
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> document_outputs(pipe, ["good fun bad dull", ""]).shape
    torch.Size([2, 2])
    """
    texts = [texts] if isinstance(texts, str) else list(texts)
    sequence = sequence_protocol(pipeline)
    if sequence is None:
        return pipeline.outputs(texts, batch_size=batch_size).double()
    encoded = sequence.tokens(tokenize_many(texts, pipeline="blank"))
    windows = _windows(sequence, encoded, overlap)
    was_training = pipeline.model.training
    pipeline.model.eval()
    try:
        sums, counts = window_output_sums(pipeline, sequence, windows, len(texts), batch_size)
    finally:
        pipeline.model.train(was_training)
    return sums / counts


@torch.no_grad()
def window_output_sums(pipeline: TextPipeline, sequence: TokenSequence, windows: Sequence[_Window], n_documents: int,
                       batch_size: int, budget: Budget | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(sums (n_documents, n_outputs), counts (n_documents, 1))``: each document's
    window outputs summed, and how many windows it has (float64, on the CPU); ``budget``
    is checked before each batch."""
    sums = torch.zeros(n_documents, len(pipeline.labels), dtype=torch.float64)
    counts = torch.zeros(n_documents, 1, dtype=torch.float64)
    for begin in range(0, len(windows), batch_size):
        checked(budget, "between model passes")
        batch = windows[begin : begin + batch_size]
        inputs, kwargs, _, _ = sequence.collate([w[2] for w in batch])
        logits = output_tensor(pipeline.model(inputs, **kwargs)).reshape(len(batch), -1).double().cpu()
        rows = torch.tensor([w[0] for w in batch])
        sums.index_add_(0, rows, logits)
        counts.index_add_(0, rows, torch.ones(len(batch), 1, dtype=torch.float64))
    return sums, counts


def _explain_sequence(pipeline: TextPipeline, sequence: TokenSequence, documents: Sequence[Document], target: Target,
                      attributor: Attributor, batch_size: int, overlap: int | None,
                      names: Sequence[str], clock: Budget, budget: Budget | None) -> list[_Parts]:
    with clock.stage("encoding"):
        encoded = [(np.asarray(ids, dtype=np.int64), np.asarray(spans, dtype=np.int64).reshape(-1, 2))
                   for ids, spans in sequence.tokens(documents)]
        windows = _windows(sequence, encoded, overlap, names, pipeline)
    checked(budget, "after encoding")
    # Each document's relevance is written into its own preallocated array as the batches of
    # windows stream through; the windows themselves are views of the document's ids.
    per_doc: list[dict[str, Any]] = [
        dict(relevance=np.zeros(len(ids)), special={}, logits=0, weights=0, value=0.0, delta=0.0) for ids, _ in encoded]
    counts = np.bincount([w[0] for w in windows], minlength=len(encoded)).tolist()
    batches = _window_batches(windows, counts, batch_size)
    # Only documents whose windows span several batches need a forward pass of their
    # own to find their class; the others find it inside their attribution batch.
    split = [w for w in windows if counts[w[0]] > batch_size]
    with clock.stage("predicting (documents over several batches)"):
        classes = {} if not target.is_predicted else _document_classes(pipeline, sequence, split, len(encoded),
                                                                        batch_size, budget)
    with clock.stage("attributing"):
        _attribute_windows(pipeline, sequence, batches, per_doc, counts, target, attributor, classes, budget)
    return [(spans, acc["relevance"], acc["special"], acc["logits"], acc["weights"], acc["value"], acc["delta"])
            for (_, spans), acc in zip(encoded, per_doc)]


def _attribute_windows(pipeline: TextPipeline, sequence: TokenSequence, batches: Sequence[list[_Window]],
                       per_doc: list[dict[str, Any]], counts: Sequence[int], target: Target, attributor: Attributor,
                       classes: dict[int, int], budget: Budget | None) -> None:
    """One attribution per batch of windows, each window's share added into its document's arrays."""
    for batch in batches:
        checked(budget, "between model passes")
        inputs, kwargs, positions, specials = sequence.collate([w[2] for w in batch])
        attr = attributor.attribute(pipeline.model, inputs, _window_target(target, batch, classes, pipeline.labels),
                                    forward_kwargs=kwargs)
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


def _window_batches(windows: Sequence[_Window], counts: Sequence[int], batch_size: int) -> list[list[_Window]]:
    """Consecutive windows in batches of at most ``batch_size``: a document's windows kept
    in one batch whenever they fit, so that the batch's own logits give its class; a
    document with more windows than that fills batches of its own.

    >>> [[w[0] for w in b] for b in _window_batches([(0,), (1,), (1,), (2,)], [1, 2, 1], 2)]
    [[0], [1, 1], [2]]
    >>> [[w[0] for w in b] for b in _window_batches([(0,), (1,), (1,), (1,), (2,)], [1, 3, 1], 2)]
    [[0], [1, 1], [1], [2]]
    """
    batches: list[list[_Window]] = []
    batch: list[_Window] = []
    for window in windows:
        document = window[0]
        new_document = bool(batch) and batch[-1][0] != document
        apart = counts[document] > batch_size or counts[batch[-1][0]] > batch_size if batch else False
        if batch and (len(batch) == batch_size
                      or (new_document and (apart or len(batch) + counts[document] > batch_size))):
            batches.append(batch)
            batch = []
        batch.append(window)
    if batch:
        batches.append(batch)
    return batches


def _document_classes(pipeline: TextPipeline, sequence: TokenSequence, windows: Sequence[_Window], n_documents: int,
                      batch_size: int, budget: Budget | None = None) -> dict[int, int]:
    """The predicted class of each document in ``windows`` (all its windows): the argmax
    of the mean of its windows' outputs, so all its windows explain that same class."""
    sums, counts = window_output_sums(pipeline, sequence, windows, n_documents, batch_size, budget)
    return {doc_index: int(sums[doc_index].argmax()) for doc_index in counts[:, 0].nonzero()[:, 0].tolist()}


def _window_target(target: Target, batch: Sequence[_Window], classes: dict[int, int], labels: Sequence[str]) -> Target:
    """The target of a batch of windows: the resolved target; or, for the predicted output,
    the class of a document spread over several batches (``classes``), else the argmax of
    the summed outputs of each document's windows in this batch."""
    if not target.is_predicted:
        return target
    first = batch[0][0]
    if first in classes:  # such a document fills its batches alone (_window_batches)
        return target.for_output(classes[first], labels)
    return target.grouped([doc_index for doc_index, _, _ in batch])


def _sequence_reason(pipeline: TextPipeline | None, token_ids: Sequence[int] | np.ndarray) -> str | None:
    """Why a document of these model tokens cannot be explained, or None."""
    if len(token_ids) == 0:
        return NO_TOKENS
    vocabulary = getattr(getattr(pipeline, "encoder", None), "vocabulary", None)
    if vocabulary is not None and bool(np.all(np.asarray(token_ids) == vocabulary.oov_id)):
        return ONLY_UNKNOWN
    return None


def unexplainable(pipeline: TextPipeline, texts: Sequence[str], *, batch_size: int = 64) -> dict[int, str]:
    """``{position: reason}`` for each of ``texts`` that :func:`explain` would refuse (empty, no
    word the model knows), checked as ``explain`` checks them; evaluation leaves these out.

    >>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
    >>> encoder = IdEncoder.fit(["good fun", "bad dull"])
    >>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
    >>> unexplainable(pipe, ["good fun", "  ", "Mene, mene, tekel"])
    {1: 'is empty', 2: 'has only words the model does not know'}
    """
    texts = list(texts)
    reasons = {i: EMPTY for i, text in enumerate(texts) if not text.strip()}
    rest = [i for i in range(len(texts)) if i not in reasons]
    sequence = sequence_protocol(pipeline)
    if sequence is None:
        for start in range(0, len(rest), batch_size):
            chunk = rest[start : start + batch_size]
            known = (_features(pipeline).inputs([texts[i] for i in chunk]) != 0).any(1).tolist()
            reasons.update({i: NO_KNOWN_WORD for i, any_known in zip(chunk, known) if not any_known})
    else:
        encoded = sequence.tokens(tokenize_many([texts[i] for i in rest]))
        for i, (token_ids, _) in zip(rest, encoded):
            reason = _sequence_reason(pipeline, token_ids)
            if reason is not None:
                reasons[i] = reason
    return dict(sorted(reasons.items()))


def _finish(pipeline: TextPipeline, document: Document, target: Target, spans: list[tuple[int, int]],
            relevance: np.ndarray, special: dict[str, float], logits: Any, weights: Any, value: float, delta: float, id: str | None,
            method: dict[str, Any]) -> Explanation:
    prediction = Prediction.from_logits(logits, pipeline.labels, pipeline.task)
    explanation = build_explanation(document, spans, relevance, labels=pipeline.labels, task=pipeline.task,
                                    prediction=prediction, target=target.for_weights(list(weights), pipeline.labels),
                                    target_value=value, delta=delta, id=id, method=method)
    # a language model's prompt template (doclrp.models.hf.label_scores): words beside the protocol's
    words: Sequence[PromptWord] = getattr(pipeline, "prompt_words", ())
    prompt = [0.0] * len(words)
    for key, amount in special.items():
        if isinstance(key, PromptColumn):  # a piece of a language model's prompt template: by its word
            prompt[key.word] += amount
        else:
            explanation.special[key] = explanation.special.get(key, 0.0) + amount
    if prompt:
        explanation.prompt.extend(PromptWord(word.text, amount, word.before) for word, amount in zip(words, prompt))
    return explanation
