"""`Explanation`: one document's words, their relevance and what was explained.

>>> from doclrp.text import tokenize, build_explanation, Prediction
>>> doc = tokenize("Great match. Poor ref.", pipeline="blank")
>>> spans = [(w.start, w.end) for w in doc.words]  # a word-level model: one token per word
>>> exp = build_explanation(
...     doc, spans, [2.0, 0.5, 0.0, -1.0, 0.25, 0.0],
...     labels=["business", "sport"], task="classification",
...     prediction=Prediction.from_logits([0.0, 2.0], labels=["business", "sport"]),
...     target="sport", target_value=2.0, delta=0.25)
>>> [w.text for w in exp.top_words(2)], [w.text for w in exp.top_words(1, sign=-1)]
(['Great', 'match'], ['Poor'])
>>> [s.relevance for s in exp.sentences], exp.total
([2.5, -0.75], 1.75)
>>> Explanation.from_dict(exp.to_dict()) == exp
True
>>> exp.tokens[0]
TokenPiece(text='Great', start=0, end=5, word=0, relevance=2.0)

The JSON form (`to_dict`) is what corpora are written as and HTML is made from;
`to_frame` gives the words as a pandas DataFrame, and in a notebook an `Explanation`
(or a list of them, `Explanations`) shows itself as its highlighted page.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

import numpy as np

from doclrp.core.targets import TASKS, Target
from doclrp.errors import DoclrpError
from doclrp.registry import Group, Registry
from doclrp.text.alignment import aggregate, align_array, as_vector
from doclrp.text.columns import TokenColumns, TokenPiece, WordColumns, WordRelevance
from doclrp.text.frames import words_frame
from doclrp.text.prompt import PromptWord
from doclrp.text.layout import WordLayout
from doclrp.text.terms import DEFAULT_LEAVE_OUT, Term, top_terms
from doclrp.text.words import Document

__all__ = [
    "Explanation",
    "Explanations",
    "Prediction",
    "SentenceRelevance",
    "TokenPiece",
    "WordRelevance",
    "build_explanation",
]

#: Key of `Explanation.special` for tokens that map to no word and have no name.
UNASSIGNED = "unassigned"

#: How notebooks draw an explanation (``notebook-explanation``) and a list of them
#: (``notebook-explanations``), and how `Explanation.page_images` draws a PDF's pages
#: (``page-images``). Rendering is a layer above text (docs/architecture.md: render imports text,
#: never the reverse), so its functions are the entry points ``doclrp.renderers``, imported on
#: first use, as the core finds the composites of models/hf.
RENDERERS: Registry[Callable[..., Any]] = Registry("renderer", Group.RENDERERS)


@dataclass(frozen=True)
class SentenceRelevance:
    """A sentence's offsets, text and summed relevance."""

    start: int
    end: int
    text: str
    relevance: float


@dataclass(frozen=True)
class Prediction:
    """What the model said: raw output ``values`` and, for classification,
    the predicted ``index``/``label`` and class ``probabilities``.

    >>> Prediction.from_logits([1.0, 1.0, 1.0], labels=["a", "b", "c"]).probabilities
    [0.3333333333333333, 0.3333333333333333, 0.3333333333333333]
    """

    label: str | None
    index: int | None
    probabilities: list[float] | None
    values: list[float]

    @classmethod
    def from_logits(cls, logits: Any, labels: Sequence[str] | None = None, task: str = "classification") -> Prediction:
        """The prediction for one sample's outputs before any softmax, (n_outputs,).

        Classification: softmax probabilities and the argmax; a single output
        is read as a binary logit (sigmoid; index 1 when p >= 0.5).
        Regression: the values alone.
        """
        _check_task(task)
        values = as_vector(logits).tolist()
        if task == "regression":
            return cls(None, None, None, values)
        if len(values) == 1:
            p = 1.0 / (1.0 + math.exp(-values[0]))
            probabilities = [1.0 - p, p]
        else:
            shifted = np.exp(np.asarray(values) - max(values))
            probabilities = (shifted / shifted.sum()).tolist()
        index = int(np.argmax(probabilities))
        label = labels[index] if labels is not None and index < len(labels) else None
        return cls(label, index, probabilities, values)


@dataclass(frozen=True)
class Explanation:
    """Relevance of each word of ``text`` for the explained ``target``.

    ``target``: what was explained, a :class:`~doclrp.core.targets.Target` with its
    weights over the outputs (``str(target)`` is its name: ``"sport"``, ``"sport-vs-rest"``);
    ``target_value``: the explained output (e.g. the class logit);
    ``delta``: target_value − total relevance (conservation error);
    ``special``: relevance of model tokens that map to no word, by name;
    ``method``: the method that made it, ``{"name": …, "params": {…}}``;
    ``tokens``: the model tokens with their relevance (`TokenPiece`), the pieces the words were
    summed from (empty when not kept, as in explanations read back from corpus results);
    ``prompt``: the words of a language model's prompt template with their relevance
    (:class:`~doclrp.text.prompt.PromptWord`), apart from the document's words (empty otherwise).
    ``layout``: where each word stands on the pages of its file (`WordLayout`, PDF files; None
    for text without pages), a side structure indexed like the words.

    ``words`` and ``tokens`` are sequences of named tuples stored as columns
    (:class:`~doclrp.text.columns.WordColumns`, :class:`~doclrp.text.columns.TokenColumns`:
    arrays of offsets, sentences and relevance; a million words cost a few arrays, not a
    million objects). Lists of tuples given here are stored as columns too.
    """

    text: str
    words: Sequence[WordRelevance]
    sentences: list[SentenceRelevance]
    labels: list[str]
    task: str
    prediction: Prediction
    target: Target
    target_value: float
    delta: float
    special: dict[str, float] = field(default_factory=dict)
    id: str | None = None
    method: dict[str, Any] = field(default_factory=dict)
    # Not compared: an explanation read back from corpus results (words, no tokens) equals the one it was made from.
    tokens: Sequence[TokenPiece] = field(default_factory=list, compare=False)
    prompt: list[PromptWord] = field(default_factory=list)
    layout: WordLayout | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _check_task(self.task)
        if not isinstance(self.words, WordColumns):
            object.__setattr__(self, "words", WordColumns.from_rows(self.text, self.words))
        if not isinstance(self.tokens, TokenColumns):
            object.__setattr__(self, "tokens", TokenColumns.from_rows(self.text, self.tokens))
        if self.layout is not None and len(self.layout) != len(self.words):
            raise DoclrpError(f"a layout of {len(self.layout)} words for an explanation of {len(self.words)}: "
                              "give one page and box per word")

    @property
    def word_columns(self) -> WordColumns:
        """``words`` as their columns (typed as such): ``.start``, ``.end``, ``.sentence``, ``.relevance``."""
        return self.words  # type: ignore[return-value]  # made so in __post_init__

    @property
    def relevance(self) -> np.ndarray:
        """Word relevance as a float64 array, in word order."""
        return self.word_columns.relevance.copy()

    @property
    def total(self) -> float:
        """All relevance the input received: words plus special tokens plus the prompt template's
        words (so ``target_value ≈ total + delta``)."""
        return math.fsum([*self.word_columns.relevance.tolist(), *self.special.values(),
                          *(p.relevance for p in self.prompt)])

    def top_words(self, k: int = 10, sign: int = +1) -> list[WordRelevance]:
        """The ``k`` words with the largest relevance for (``sign=+1``) or
        against (``sign=-1``) the target; words of the other sign or zero never appear."""
        if sign not in (1, -1):
            raise DoclrpError(f"sign must be +1 (for the target) or -1 (against it), got {sign!r}")
        words = self.word_columns
        signed = words.relevance * sign
        chosen = np.flatnonzero(signed > 0)
        order = chosen[np.lexsort((words.start[chosen], -signed[chosen]))][:max(k, 0)]
        return [words[i] for i in order.tolist()]

    def top_terms(self, k: int = 10, sign: int = +1, leave_out: Sequence[str] = DEFAULT_LEAVE_OUT) -> list[Term]:
        """The ``k`` words for (``sign=+1``) or against (``-1``) the target with a word's occurrences
        grouped (lower-cased, relevance summed, counted) and punctuation (default) or stop words
        left out: what pages and terminals list (:func:`doclrp.text.terms.top_terms`).

        >>> [(t.text, t.relevance, t.count) for t in Explanation.from_dict(_EXAMPLE).top_terms(2)]
        [('Up', 1.5, 1)]
        """
        return top_terms(self.words, k, sign, leave_out)

    def to_frame(self) -> Any:
        """The words as a pandas DataFrame, one row each: ``word``, ``start``, ``end`` (character
        offsets into ``text``), ``sentence`` (index into ``sentences``) and ``relevance``.

        >>> Explanation.from_dict(_EXAMPLE).to_frame().to_dict("list")["relevance"]
        [1.5, -0.5]
        """
        return words_frame([self])

    def _repr_html_(self) -> str:
        """The page of ``doclrp.render.to_html``, for notebooks."""
        return RENDERERS["notebook-explanation"](self)

    def page_images(self, source: Any = None, **options: Any) -> list[Any]:
        """The pages of the PDF this explains as PIL images, every word's box coloured by its
        relevance (`doclrp.render.pages.page_images`: ``source`` the PDF's path or bytes, by
        default the file its `layout` names; ``pages``, ``max_width``, ``cmap``, ``vmax``)."""
        return list(RENDERERS["page-images"](self, source, **options))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data; `from_dict` gives back an equal `Explanation`."""
        skip = ("words", "tokens", "target", "layout", "prompt")
        data = copy.deepcopy({f.name: getattr(self, f.name) for f in fields(self) if f.name not in skip})
        data["prediction"] = asdict(self.prediction)
        data["sentences"] = [asdict(sentence) for sentence in self.sentences]
        data["target"] = self.target.to_dict()
        if self.prompt:
            data["prompt"] = [word._asdict() for word in self.prompt]
        data["words"] = [word._asdict() for word in self.words]
        data["tokens"] = [token._asdict() for token in self.tokens]
        if self.layout is not None:  # each word carries its page and box; the pages' sizes and the file come once
            data["layout"] = self.layout.to_dict()
            for index, word in enumerate(data["words"]):
                word.update(self.layout.word(index))
        return {f.name: data[f.name] for f in fields(self) if f.name in data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Explanation:
        """The `Explanation` that `to_dict` (possibly via JSON) described."""
        try:
            return cls(
                text=data["text"],
                # By field: words of a file with pages carry their page and box too (`layout`).
                words=_word_columns(data["text"], data["words"]),
                sentences=[SentenceRelevance(**s) for s in data["sentences"]],
                labels=list(data["labels"]),
                task=data["task"],
                prediction=Prediction(**data["prediction"]),
                target=_target_of(data["target"], data["labels"]),
                target_value=data["target_value"],
                delta=data["delta"],
                special=dict(data.get("special") or {}),
                id=data.get("id"),
                method=dict(data.get("method") or {}),
                # Absent from dicts written before tokens were kept.
                tokens=TokenColumns.from_rows(data["text"], [TokenPiece(**t) for t in data.get("tokens") or ()]),
                prompt=[PromptWord(**p) for p in data.get("prompt") or ()],
                layout=WordLayout.from_dict(data["layout"], data["words"]) if data.get("layout") else None,
            )
        except (KeyError, TypeError) as err:
            raise DoclrpError(f"not an Explanation dict ({err}); it must come from Explanation.to_dict()") from err


class Explanations(list):
    """A list of `Explanation` that shows itself in a notebook (an index of the documents) and
    becomes one DataFrame.

    >>> many = Explanations([Explanation.from_dict(_EXAMPLE)] * 2)
    >>> many.to_frame()[["document", "word"]].values.tolist()
    [['d1', 'Up'], ['d1', 'down'], ['d1', 'Up'], ['d1', 'down']]
    """

    def to_frame(self) -> Any:
        """One row per word of every explanation: ``document`` (its ``id``, else its position)
        and the columns of `Explanation.to_frame`."""
        return words_frame(self, [e.id if e.id is not None else n for n, e in enumerate(self)])

    def _repr_html_(self) -> str:
        return RENDERERS["notebook-explanations"](self)


def build_explanation(
    document: Document,
    token_spans: Any,
    token_relevance: Any,
    *,
    labels: Sequence[str],
    task: str,
    prediction: Prediction | Mapping[str, Any],
    target: Target | str,
    target_value: float,
    delta: float,
    special: Sequence[str] | None = None,
    id: str | None = None,
    method: Mapping[str, Any] | None = None,
) -> Explanation:
    """Align model tokens to the words of ``document`` and sum their relevance.

    ``token_spans``: (start, end) per model token (see `align`);
    ``token_relevance``: (seq,) one number per token; ``special``: optional
    token names, e.g. ``tokenizer.convert_ids_to_tokens(ids)``: a token that
    maps to no word is reported under its name in ``Explanation.special``
    (else under ``"unassigned"``), so no relevance is lost. Every token is kept
    in ``Explanation.tokens`` with its word (one piece per span).
    """
    alignment = align_array(token_spans, document)
    relevance = as_vector(token_relevance)
    summed = aggregate(relevance, alignment, document)
    if special is not None and len(special) != len(alignment):
        raise DoclrpError(f"{len(special)} special names for {len(alignment)} tokens; give one name per token")
    leftovers: dict[str, float] = {}
    for i in np.flatnonzero(alignment < 0).tolist():  # special tokens: a few per window
        name = UNASSIGNED if special is None else str(special[i])
        leftovers[name] = leftovers.get(name, 0.0) + float(relevance[i])
    text = document.text
    spans = np.asarray(token_spans.detach().cpu().numpy() if hasattr(token_spans, "detach") else token_spans,
                       dtype=np.int64).reshape(-1, 2)
    columns = document.words
    words = WordColumns(text, texts=columns._texts, extra=columns.extra, start=columns.start, end=columns.end,
                        sentence=columns.sentence, relevance=summed.words)
    if len(alignment) == len(words) and np.array_equal(alignment, np.arange(len(words))):
        # One model token per word (word-id models): the tokens share the words' arrays.
        tokens = TokenColumns(text, start=words.start, end=words.end, word=alignment, relevance=words.relevance)
    else:
        tokens = TokenColumns(text, start=spans[:, 0], end=spans[:, 1], word=alignment, relevance=relevance)
    sentences = [
        SentenceRelevance(s.start, s.end, text[s.start : s.end], float(r))
        for s, r in zip(document.sentences, summed.sentences.tolist())
    ]
    if isinstance(prediction, Mapping):
        prediction = Prediction(**prediction)
    return Explanation(
        text=document.text,
        words=words,
        sentences=sentences,
        labels=list(labels),
        task=task,
        prediction=prediction,
        target=_target_of(target, labels),
        target_value=float(target_value),
        delta=float(delta),
        special=leftovers,
        id=id,
        method=dict(method or {}),
        tokens=tokens,
    )


def _target_of(target: Target | Mapping[str, Any] | str, labels: Sequence[str]) -> Target:
    """A ``Target`` from itself, its ``to_dict`` form, or a label name (one output)."""
    if isinstance(target, Target):
        return target
    if isinstance(target, Mapping):
        return Target.from_dict(target)
    labels = [str(label) for label in labels]
    if target in labels:
        return Target.output(labels.index(target), labels)
    return Target(name=str(target))


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise DoclrpError(f"task must be one of {TASKS}, got {task!r}")


#: A small explanation in its `to_dict` form, for the examples above.
_EXAMPLE: dict[str, Any] = {
    "text": "Up down", "id": "d1", "labels": ["neg", "pos"], "task": "classification",
    "words": [{"text": "Up", "start": 0, "end": 2, "sentence": 0, "relevance": 1.5},
              {"text": "down", "start": 3, "end": 7, "sentence": 0, "relevance": -0.5}],
    "sentences": [{"start": 0, "end": 7, "text": "Up down", "relevance": 1.0}],
    "prediction": {"label": "pos", "index": 1, "probabilities": [0.3, 0.7], "values": [0.0, 1.0]},
    "target": "pos", "target_value": 1.0, "delta": 0.0,
}


def _word_columns(text: str, words: Sequence[Mapping[str, Any]]) -> WordColumns:
    """The columns of words in their ``to_dict`` form, without a tuple per word (by field: a
    word of a file with pages also carries its page and box, which `WordLayout` reads)."""
    if not isinstance(words, Sequence) or any(not isinstance(w, Mapping) for w in words[:1]):
        raise TypeError("words must be a list of {text, start, end, sentence, relevance} objects")
    columns: dict[str, Any] = {name: [w[name] for w in words] for name in ("start", "end", "sentence", "relevance")}
    texts = [w["text"] for w in words]
    own = [text[s:e] for s, e in zip(columns["start"], columns["end"])]
    return WordColumns(text, texts=None if texts == own else texts, **columns)
