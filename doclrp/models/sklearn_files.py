"""scikit-learn pipelines saved as ``.skops`` files, read with skops' safe loader.

>>> import tempfile, skops.io
>>> from sklearn.feature_extraction.text import CountVectorizer
>>> from sklearn.linear_model import LogisticRegression
>>> from sklearn.pipeline import make_pipeline
>>> fitted = make_pipeline(CountVectorizer(), LogisticRegression()).fit(["good", "bad"], ["pos", "neg"])
>>> path = tempfile.mkdtemp() + "/model.skops"
>>> skops.io.dump(fitted, path)
>>> load_skops_model(path).labels
['neg', 'pos']

A ``.skops`` file is a zip of JSON and arrays: skops builds only the types it trusts (its
defaults: scikit-learn estimators, numpy) and the few named in :data:`ALLOWED_TYPES`; a
file naming any other type (a function, a class of your own code) is refused with those
types' names, before anything is built. Pickle and joblib files are refused outright:
unpickling runs code hidden in the file.
"""

from __future__ import annotations

from pathlib import Path

from doclrp.errors import DoclrpError
from doclrp.models.pipeline import TextPipeline
from doclrp.models.sklearn import SUPPORTED_CLASSES, from_sklearn

__all__ = ["load_skops_model", "read_skops_pipeline", "ALLOWED_TYPES", "SKOPS_SUFFIX", "PICKLE_SUFFIXES",
           "PICKLE_REFUSAL"]

SKOPS_SUFFIX = ".skops"
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib")
#: The answer to a pickle or joblib file (the CLI's early check says the same).
PICKLE_REFUSAL = ("is a pickle/joblib file, which doclrp never loads (unpickling runs code hidden in the file): "
                  "save the pipeline with skops instead, skops.io.dump(pipeline, 'model.skops'), and give that file")

#: Types that skops does not trust by default but a supported pipeline holds: the classes
#: converted (should skops ever stop trusting them) and the MLPs' optimizer state. Never
#: functions, never anything outside scikit-learn.
ALLOWED_TYPES = frozenset({
    *SUPPORTED_CLASSES,
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
})


def read_skops_pipeline(path: str | Path):
    """The scikit-learn object in the ``.skops`` file ``path``, built by skops from trusted types
    only; every problem is one `DoclrpError` line and nothing is built.

    >>> read_skops_pipeline("model.joblib")
    Traceback (most recent call last):
    doclrp.errors.DoclrpError: model.joblib is a pickle/joblib file, which doclrp never loads (unpickling runs code hidden in the file): save the pipeline with skops instead, skops.io.dump(pipeline, 'model.skops'), and give that file
    """
    import skops.io  # lazily: an optional reader, and scikit-learn behind it takes a second

    path = Path(path)
    if path.suffix.lower() in PICKLE_SUFFIXES:
        raise DoclrpError(f"{path} {PICKLE_REFUSAL}")
    if not path.is_file():
        raise DoclrpError(f"no model file at {path}: check the path")
    try:
        untrusted = skops.io.get_untrusted_types(file=path)
    except Exception as error:  # noqa: BLE001  (a zip error, bad JSON, a missing entry: all "not a skops file")
        raise DoclrpError(f"{path} is not a readable .skops file ({type(error).__name__}: "
                          f"{_first_line(error)})") from None
    refused = sorted(set(untrusted) - ALLOWED_TYPES)
    if refused:
        raise DoclrpError(f"{path} holds types doclrp does not load (they could run code): {', '.join(refused)}; "
                          "only scikit-learn text pipelines of supported steps are read")
    try:
        return skops.io.load(path, trusted=sorted(untrusted))
    except Exception as error:  # noqa: BLE001  (whatever skops raises on a damaged file)
        raise DoclrpError(f"{path} could not be read as a .skops file ({type(error).__name__}: "
                          f"{_first_line(error)})") from None


def load_skops_model(path: str | Path, device: str = "cpu") -> TextPipeline:
    """A doclrp ``TextPipeline`` from a ``.skops`` file of a fitted scikit-learn text pipeline
    (see :func:`doclrp.models.sklearn.from_sklearn`), on ``device``."""
    fitted = read_skops_pipeline(path)
    try:
        pipeline = from_sklearn(fitted)
    except DoclrpError as error:
        raise DoclrpError(f"{path}: {error}") from None
    pipeline.model.to(device)
    return pipeline


def _first_line(error: Exception) -> str:
    text = str(error).strip().splitlines()
    return text[0][:200] if text else "no details"
