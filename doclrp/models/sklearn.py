"""scikit-learn text pipelines as doclrp text pipelines: a torch module equal to the estimator,
and an encoder that is the pipeline's own vectorizer.

>>> from sklearn.feature_extraction.text import TfidfVectorizer
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> texts, labels = ["good fun film", "bad dull film", "good good", "dull bad"], ["pos", "neg", "pos", "neg"]
>>> fitted = make_pipeline(TfidfVectorizer(), LogisticRegression()).fit(texts, labels)
>>> pipeline = from_sklearn(fitted)
>>> pipeline.labels, pipeline.task, pipeline.default_composite
(['neg', 'pos'], 'classification', 'zero')
>>> pipeline.predict(["a good film"])[0].label == fitted.predict(["a good film"])[0]
True

What is converted: a ``Pipeline`` of a vectorizer (``CountVectorizer``, ``TfidfVectorizer`` or
``HashingVectorizer``, optionally followed by a ``TfidfTransformer``) and one estimator
(``LogisticRegression``, ``LinearSVC``, ``SGDClassifier``, ``RidgeClassifier``, ``Ridge``,
``LinearRegression``, ``SGDRegressor``, ``MLPClassifier``, ``MLPRegressor``).

The model's input is the vectorizer's own feature vector (tf-idf weighting, ``sublinear_tf``,
``binary``, the ``norm`` included): the document's norm is a constant of the input, not a layer,
so under LRP-0 a linear estimator's relevance of feature ``j`` is exactly
``weight[j] × feature value[j]``. A feature's relevance is shared equally by its occurrences in
the text, and an n-gram's share equally by its words, as for ``BowMLP``'s tf-idf features.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from doclrp.errors import DoclrpError
from doclrp.models.encoders import TokenRelevance
from doclrp.models.pipeline import TextPipeline

__all__ = ["from_sklearn", "SklearnTextEncoder", "SklearnNet", "VECTORIZERS", "LINEAR_ESTIMATORS", "MLP_ESTIMATORS",
           "SUPPORTED_CLASSES"]

#: The vectorizers whose features map to words (class names, matched by ``isinstance`` below).
VECTORIZERS = ("CountVectorizer", "TfidfVectorizer", "HashingVectorizer")
#: Estimators with ``coef_`` and ``intercept_`` (decision = X · coef_ᵀ + intercept_).
LINEAR_ESTIMATORS = ("LogisticRegression", "LinearSVC", "SGDClassifier", "RidgeClassifier", "Ridge",
                     "LinearRegression", "SGDRegressor")
#: Multi-layer perceptrons (``coefs_``, ``intercepts_``, ``activation``).
MLP_ESTIMATORS = ("MLPClassifier", "MLPRegressor")
#: Every class a converted pipeline may hold, by full name (the allow-list of ``.skops`` files).
SUPPORTED_CLASSES = (
    "sklearn.pipeline.Pipeline",
    "sklearn.feature_extraction.text.CountVectorizer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.feature_extraction.text.HashingVectorizer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.linear_model._stochastic_gradient.SGDClassifier",
    "sklearn.linear_model._stochastic_gradient.SGDRegressor",
    "sklearn.linear_model._ridge.RidgeClassifier",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.neural_network._multilayer_perceptron.MLPClassifier",
    "sklearn.neural_network._multilayer_perceptron.MLPRegressor",
)

_ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU, "tanh": nn.Tanh, "logistic": nn.Sigmoid, "identity": nn.Identity}


def _sklearn_classes(names: Sequence[str]) -> tuple[Any, ...]:
    # lazily: a second to import scikit-learn
    from sklearn import linear_model, neural_network, svm
    from sklearn.feature_extraction import text

    modules = (text, linear_model, neural_network, svm)
    return tuple(getattr(next(m for m in modules if hasattr(m, name)), name) for name in names)


def _describe(step: Any) -> str:
    return type(step).__name__


# -- the torch module --------------------------------------------------------------------------------
class SklearnNet(nn.Module):
    """An estimator's decision function as Linear layers: ``layers`` (the hidden layers of an
    MLP with their activations, empty for a linear estimator), then ``head``.

    Input ``(batch, n_features)``: the vectorizer's feature vector; output ``(batch, n_outputs)``.

    >>> net = SklearnNet(n_features=3, hidden=[2], activation="tanh", n_outputs=2)
    >>> net(torch.rand(4, 3)).shape, net.default_composite
    (torch.Size([4, 2]), 'epsilon')
    """

    model_type = "sklearn"
    zero_is_absent = True
    #: z^B's box; ``from_sklearn`` sets the vectorizer's (``SklearnTextEncoder.input_bounds``)
    input_bounds: tuple[float | None, float | None] = (None, None)

    def __init__(self, n_features: int, hidden: Sequence[int] = (), activation: str = "identity",
                 n_outputs: int = 2, estimator: str = "") -> None:
        super().__init__()
        if activation not in _ACTIVATIONS:
            raise DoclrpError(f"activation {activation!r} is not supported: use one of {', '.join(_ACTIVATIONS)}")
        self.config: dict[str, Any] = {"n_features": int(n_features), "hidden": [int(h) for h in hidden], "activation": activation,
                       "n_outputs": int(n_outputs), "estimator": estimator}
        layers: list[nn.Module] = []
        width = int(n_features)
        for size in hidden:
            layers += [nn.Linear(width, int(size)), _ACTIVATIONS[activation]()]
            width = int(size)
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(width, int(n_outputs))
        # LRP-0 is the exact decomposition of a linear score (weight × feature value, the
        # intercept in delta); through hidden layers ε keeps small denominators in check.
        self.default_composite = "epsilon" if hidden else "zero"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.layers(x))


def _two_sided(weight: np.ndarray, bias: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A binary classifier's one decision column d as two outputs [−d/2, d/2]: their softmax is
    sigmoid(d) (a logistic model's probability), their argmax sklearn's prediction."""
    return np.concatenate([-weight / 2, weight / 2]), np.concatenate([-bias / 2, bias / 2])


def _linear_parts(estimator: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], str]:
    """``([(weight (out, in), bias (out,)), ...], activation)`` of ``estimator``'s decision function."""
    (mlp_classifier,) = _sklearn_classes(["MLPClassifier"])
    if hasattr(estimator, "coefs_"):
        if isinstance(estimator, mlp_classifier) and estimator.out_activation_ == "logistic" and estimator.n_outputs_ > 1:
            raise DoclrpError(f"{_describe(estimator)} fitted on several labels per text (multilabel) is not "
                              "supported: fit it on one label per text")
        layers = [(np.asarray(w, np.float64).T, np.asarray(b, np.float64))
                  for w, b in zip(estimator.coefs_, estimator.intercepts_)]
        return layers, estimator.activation
    weight = np.atleast_2d(np.asarray(estimator.coef_, np.float64))
    bias = np.broadcast_to(np.atleast_1d(np.asarray(estimator.intercept_, np.float64)), weight.shape[:1]).copy()
    return [(weight, bias)], "identity"


def _build_net(estimator: Any, n_features: int, classifier: bool, dtype: torch.dtype) -> SklearnNet:
    layers, activation = _linear_parts(estimator)
    weight, bias = layers[-1]
    if classifier and weight.shape[0] == 1:
        weight, bias = _two_sided(weight, bias)
        layers[-1] = (weight, bias)
    if layers[0][0].shape[1] != n_features:
        raise DoclrpError(f"{_describe(estimator)} expects {layers[0][0].shape[1]} features but the vectorizer "
                          f"gives {n_features}: the pipeline's steps were not fitted together")
    net = SklearnNet(n_features, [w.shape[0] for w, _ in layers[:-1]], activation, weight.shape[0],
                     _describe(estimator)).to(dtype)  # before the copy: float32 weights would round sklearn's
    linears = [m for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        for linear, (w, b) in zip(linears, layers):
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
    return net


# -- the encoder ---------------------------------------------------------------------------------------
def _json_safe(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, (list, tuple, frozenset, set)):
        return [_json_safe(v) for v in (sorted(value, key=str) if isinstance(value, (set, frozenset)) else value)]
    return str(value)


class SklearnTextEncoder:
    """A fitted vectorizer (and ``TfidfTransformer``) as a doclrp encoder: ``inputs`` is its own
    ``transform`` (dense), ``token_relevance`` finds where each feature occurs in the text.

    >>> from sklearn.feature_extraction.text import TfidfVectorizer
    >>> encoder = SklearnTextEncoder(TfidfVectorizer(ngram_range=(1, 2)).fit(["Red wine", "red rose"]))
    >>> [(encoder.terms[f], spans) for f, spans in encoder.occurrences("RED wine!")]
    [('red', [(0, 3)]), ('wine', [(4, 8)]), ('red wine', [(0, 3), (4, 8)])]

    Word occurrences are found by the vectorizer's own settings (``lowercase``,
    ``strip_accents``, ``token_pattern``, ``stop_words``, ``ngram_range``) applied with character
    offsets; the analyzer must be ``"word"`` and no callable preprocessor or tokenizer is run.
    """

    encoder_type = "sklearn"

    def __init__(self, vectorizer: Any, transformer: Any = None, dtype: torch.dtype = torch.float32) -> None:
        count, hashing, tfidf_transformer = _sklearn_classes(["CountVectorizer", "HashingVectorizer",
                                                              "TfidfTransformer"])
        if not isinstance(vectorizer, (count, hashing)):
            raise DoclrpError(f"the first step is a {_describe(vectorizer)}: doclrp converts a "
                              f"{', '.join(VECTORIZERS)}")
        if transformer is not None and not isinstance(transformer, tfidf_transformer):
            raise DoclrpError(f"a {_describe(transformer)} after the vectorizer is not supported: only a "
                              "TfidfTransformer may follow it")
        _check_word_analyzer(vectorizer)
        self.vectorizer, self.transformer, self.dtype = vectorizer, transformer, dtype
        self.hashing = isinstance(vectorizer, hashing)
        if self.hashing:
            self.index: dict[str, int] = {}
            self.input_size = int(vectorizer.n_features)
        else:
            vocabulary = getattr(vectorizer, "vocabulary_", None)
            if not isinstance(vocabulary, dict) or not vocabulary:
                raise DoclrpError(f"the {_describe(vectorizer)} is not fitted: fit the pipeline first")
            self.index = {str(term): int(i) for term, i in vocabulary.items()}
            self.input_size = len(self.index)
        if transformer is not None and getattr(transformer, "n_features_in_", self.input_size) != self.input_size:
            raise DoclrpError("the TfidfTransformer was fitted on another vectorizer's features: refit the pipeline")
        self._pattern = re.compile(vectorizer.token_pattern)
        stop_words = vectorizer.get_stop_words()
        self._stop_words = frozenset(stop_words) if stop_words is not None else frozenset()
        self._preprocess = vectorizer.build_preprocessor()

    @property
    def n_features(self) -> int:
        """Alias of ``input_size``, as :class:`~doclrp.models.encoders.TfidfEncoder` has it."""
        return self.input_size

    @property
    def terms(self) -> list[str]:
        """Term of each feature (empty for a ``HashingVectorizer``: features are hashes)."""
        terms = [""] * (0 if self.hashing else self.input_size)
        for term, i in self.index.items():
            terms[i] = term
        return terms

    @property
    def config(self) -> dict[str, Any]:
        steps = [self.vectorizer] + ([self.transformer] if self.transformer is not None else [])
        return {"steps": [[_describe(s), {k: _json_safe(v) for k, v in sorted(s.get_params().items())}]
                          for s in steps]}

    def state(self) -> dict[str, Any]:
        idf = getattr(self.transformer if self.transformer is not None else self.vectorizer, "idf_", None)
        return {"terms": self.terms, "idf": None if idf is None else np.asarray(idf, float).tolist()}

    @property
    def input_bounds(self) -> tuple[float | None, float | None]:
        """The range of the feature values as the steps define it (z^B's box, never the batch's):
        non-negative (either sign for a ``HashingVectorizer`` with ``alternate_sign``), at most 1
        in size where the last step normalizes rows (``norm="l1"``/``"l2"``) or counts are binary
        without idf; counts or idf weights without normalization have no upper bound (None).

        >>> from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
        >>> SklearnTextEncoder(TfidfVectorizer().fit(["aa bb"])).input_bounds
        (0.0, 1.0)
        >>> SklearnTextEncoder(CountVectorizer().fit(["aa bb"])).input_bounds
        (0.0, None)
        """
        last = self.transformer if self.transformer is not None else self.vectorizer
        binary = (getattr(self.vectorizer, "binary", False)
                  and not getattr(last, "use_idf", False) and getattr(last, "norm", None) is None)
        bounded = getattr(last, "norm", None) in ("l1", "l2") or binary
        signed = self.hashing and bool(getattr(self.vectorizer, "alternate_sign", False))
        if signed:
            return (-1.0, 1.0) if bounded else (None, None)
        return 0.0, (1.0 if bounded else None)

    def inputs(self, texts: Sequence[str]) -> torch.Tensor:
        """The pipeline's feature vectors ``(batch, n_features)``, dense, in ``dtype``."""
        if isinstance(texts, str):
            raise DoclrpError("expected a list of texts, got one str: wrap it in a list")
        matrix = self.vectorizer.transform(list(texts))
        if self.transformer is not None:
            matrix = self.transformer.transform(matrix)
        return torch.from_numpy(np.asarray(matrix.toarray(), dtype=np.float64)).to(self.dtype)

    encode = inputs

    def occurrences(self, text: str) -> list[tuple[int, list[tuple[int, int]]]]:
        """``(feature, [(start, end) of each of its words])`` per occurrence of a feature's term
        in ``text``, unigrams first; terms that are no feature are left out."""
        tokens = [t for t in self._tokens(text) if t[0] not in self._stop_words]
        low, high = self.vectorizer.ngram_range
        found = []
        for n in range(low, high + 1):
            for i in range(len(tokens) - n + 1):
                gram = tokens[i : i + n]
                feature = self._feature(" ".join(t[0] for t in gram))
                if feature is not None:
                    found.append((feature, [(t[1], t[2]) for t in gram]))
        return found

    def token_relevance(self, text: str, relevance: Any) -> TokenRelevance:
        """Feature relevance ``(n_features,)`` → relevance per word occurrence.

        A feature's relevance is shared equally by its occurrences in ``text`` (an n-gram's
        share equally by its words; with hashing, terms that collide share one feature);
        relevance of features found nowhere in the text is ``unassigned``. The sum is conserved.

        >>> from sklearn.feature_extraction.text import CountVectorizer
        >>> encoder = SklearnTextEncoder(CountVectorizer().fit(["aa bb"]))
        >>> encoder.token_relevance("bb aa bb", [0.5, 1.0])
        TokenRelevance(spans=[(0, 2), (3, 5), (6, 8)], relevance=[0.5, 0.5, 0.5], unassigned=0.0)
        """
        if isinstance(relevance, torch.Tensor):
            relevance = relevance.detach().double().cpu().numpy()
        row = np.asarray(relevance, dtype=np.float64)
        if row.shape != (self.input_size,):
            raise DoclrpError(f"relevance has shape {row.shape}, the encoder has {self.input_size} features")
        found = self.occurrences(text)
        counts = Counter(f for f, _ in found)
        per_span: dict[tuple[int, int], float] = {}
        for feature, spans in found:
            share = row[feature] / counts[feature] / len(spans)
            for span in spans:
                per_span[span] = per_span.get(span, 0.0) + share
        present = np.zeros(self.input_size, dtype=bool)
        present[list(counts)] = True
        ordered = sorted(per_span)
        return TokenRelevance(ordered, [float(per_span[s]) for s in ordered], float(row[~present].sum()))

    def _feature(self, term: str) -> int | None:
        if not self.hashing:
            return self.index.get(term)
        from sklearn.utils import murmurhash3_32  # lazily, with scikit-learn

        # As sklearn's FeatureHasher: the signed 32-bit hash of the UTF-8 term, folded.
        h = int(murmurhash3_32(term.encode("utf-8"), seed=0, positive=False))
        size = self.input_size
        return (2147483647 - (size - 1)) % size if h == -2147483648 else abs(h) % size

    def _tokens(self, text: str) -> list[tuple[str, int, int]]:
        """``(token, start, end)`` per token of the preprocessed text, offsets into ``text``."""
        processed, owners = _preprocessed_with_offsets(text, self._preprocess)
        tokens = []
        group = 1 if self._pattern.groups == 1 else 0
        for match in self._pattern.finditer(processed):
            start, end = match.span(group)
            if start < 0 or start == end or owners is None:
                continue  # an empty token has no characters to carry relevance; unknown offsets neither
            tokens.append((processed[start:end], owners[start], owners[end - 1] + 1))
        return tokens


def _preprocessed_with_offsets(text: str, preprocess: Callable[[str], str]) -> tuple[str, list[int] | None]:
    """``(preprocessed text, the index in text of each of its characters)``, found by preprocessing
    character by character; None where that gives another length than preprocessing the whole
    text (then no occurrence is placed and the relevance stays unassigned, reported)."""
    whole = preprocess(text)
    if whole == text or (len(whole) == len(text) and text.isascii()):
        return whole, list(range(len(text)))
    owners: list[int] = []
    pieces = []
    for i, character in enumerate(text):
        piece = preprocess(character)
        pieces.append(piece)
        owners.extend([i] * len(piece))
    if len(owners) == len(whole):  # equal, or a letter changed by its context (the final sigma)
        return whole, owners
    return whole, None


def _check_word_analyzer(vectorizer: Any) -> None:
    name = _describe(vectorizer)
    for option in ("preprocessor", "tokenizer"):
        if getattr(vectorizer, option, None) is not None:
            raise DoclrpError(f"{name}({option}=...) is not supported: doclrp runs no function of the pipeline; "
                              "use token_pattern, lowercase and strip_accents instead")
    if vectorizer.analyzer != "word":
        raise DoclrpError(f"{name}(analyzer={_json_safe(vectorizer.analyzer)!r}) is not supported: only "
                          "analyzer='word' maps features to words")
    if vectorizer.input != "content":
        raise DoclrpError(f"{name}(input={vectorizer.input!r}) is not supported: use input='content' (texts)")
    if vectorizer.strip_accents not in (None, "ascii", "unicode"):
        raise DoclrpError(f"{name}(strip_accents=...) must be None, 'ascii' or 'unicode'")
    if re.compile(vectorizer.token_pattern).groups > 1:
        raise DoclrpError(f"{name}: token_pattern has more than one capturing group")


# -- the conversion ------------------------------------------------------------------------------------
def from_sklearn(pipeline: Any, *, labels: Sequence[str] | None = None,
                 dtype: torch.dtype = torch.float32) -> TextPipeline:
    """A doclrp :class:`~doclrp.models.pipeline.TextPipeline` equal to the fitted scikit-learn
    ``pipeline``: same predictions, decision values and (for ``LogisticRegression`` and
    ``MLPClassifier``) probabilities, to float tolerance.

    >>> from sklearn.feature_extraction.text import CountVectorizer
    >>> from sklearn.linear_model import Ridge
    >>> from sklearn.pipeline import make_pipeline
    >>> fitted = make_pipeline(CountVectorizer(), Ridge()).fit(["up up", "down", "up down"], [2.0, -1.0, 0.5])
    >>> converted = from_sklearn(fitted, labels=["change"])
    >>> converted.task, converted.labels
    ('regression', ['change'])
    >>> round(float(converted.outputs(["up"])[0, 0]), 5) == round(float(fitted.predict(["up"])[0]), 5)
    True

    Outputs: a classifier has one output per class of ``estimator.classes_``, the decision
    values (``decision_function``; an MLP's logits). A binary classifier's single decision
    value ``d`` becomes two outputs ``[−d/2, d/2]``: their argmax is sklearn's prediction, their
    softmax sklearn's ``predict_proba`` for a logistic model, and each class is explained as
    the half of ``d`` that speaks for it; the target ``"<second class>-vs-rest"`` is ``d`` itself
    (under LRP-0 its word relevance sums ``coef_ × X``). A regressor has one output per target,
    named by ``labels`` (default ``"prediction"``, or ``"prediction_0"``, ... for several).
    ``dtype``: the model's and inputs' float type (``torch.float64`` for exact comparisons).
    """
    from sklearn.exceptions import NotFittedError  # lazily: a second to import scikit-learn
    from sklearn.pipeline import Pipeline
    from sklearn.utils.validation import check_is_fitted

    if not isinstance(pipeline, Pipeline):
        raise DoclrpError(f"from_sklearn takes a fitted sklearn Pipeline (vectorizer, then estimator), got a "
                          f"{_describe(pipeline)}")
    steps = [(name, step) for name, step in pipeline.steps if step is not None and step != "passthrough"]
    if len(steps) not in (2, 3):
        raise DoclrpError(f"the pipeline has {len(steps)} steps: doclrp converts a vectorizer, an optional "
                          "TfidfTransformer and an estimator")
    (_, vectorizer), *middle, (estimator_name, estimator) = steps
    linear, mlp = _sklearn_classes(LINEAR_ESTIMATORS), _sklearn_classes(MLP_ESTIMATORS)
    if not isinstance(estimator, linear + mlp):
        raise DoclrpError(f"unsupported step {estimator_name!r} ({_describe(estimator)}): doclrp converts "
                          f"{', '.join(LINEAR_ESTIMATORS + MLP_ESTIMATORS)}")
    encoder = SklearnTextEncoder(vectorizer, middle[0][1] if middle else None, dtype)
    try:
        check_is_fitted(estimator)
        if middle:
            check_is_fitted(middle[0][1])
    except NotFittedError:
        raise DoclrpError("the pipeline is not fitted: fit it first") from None
    classes = getattr(estimator, "classes_", None)
    classifier = classes is not None
    net = _build_net(estimator, encoder.input_size, classifier, dtype)
    if classes is not None:
        names = [str(c) for c in classes]
        if len(names) == 2 and net.config["n_outputs"] != 2 or len(names) > 2 and net.config["n_outputs"] != len(names):
            raise DoclrpError(f"{_describe(estimator)} has {len(names)} classes but {net.config['n_outputs']} "
                              "decision columns")
    else:
        n = net.config["n_outputs"]
        names = ["prediction"] if n == 1 else [f"prediction_{i}" for i in range(n)]
    if labels is not None:
        if isinstance(labels, str) or len(labels) != len(names):
            raise DoclrpError(f"labels: give {len(names)} names, one per output ({', '.join(names)})")
        names = [str(label) for label in labels]
    net.input_bounds = encoder.input_bounds  # z^B's box: the features' range, as the vectorizer defines it
    net.eval()
    return TextPipeline(net, encoder, names, "classification" if classifier else "regression")
