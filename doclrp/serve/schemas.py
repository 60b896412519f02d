"""What the API takes and gives, as pydantic models: FastAPI checks requests against them
and documents them at ``/openapi.json``.

>>> ExplainRequest(text="Shares rose.", method="epsilon", params={"eps": 0.01}).target
'predicted'
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StringConstraints

__all__ = ["ExplainRequest", "ExplainResponse", "ExportRequest", "MethodInfo", "ModelInfo", "Word", "Sentence", "Token",
           "TopWord", "PredictionOut", "TargetOut", "MethodOut", "Conservation", "ColormapInfo", "ResultsInfo",
           "DigitsRequest", "GRANULARITIES"]

#: How the page colours the document: each word, each sentence by its summed relevance, or each model token.
GRANULARITIES = ("word", "sentence", "token")
_Number = StrictInt | StrictFloat
#: A parameter that takes text (``recurrent``): one of the values ``GET /api/methods`` lists for it.
_Choice = Annotated[str, StringConstraints(max_length=32)]


class ExplainRequest(BaseModel):
    """One document to explain: ``model`` and ``method`` default to the first model and its own method."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(description="the document")
    model: str | None = Field(None, description="a model id from GET /api/models (default: the first)")
    method: str | None = Field(None, max_length=100,
                               description="a method from GET /api/methods (default: the model's own)")
    params: dict[str, _Number | _Choice | None] = Field(default_factory=dict, max_length=16,
                                                        description="the method's parameters")
    target: str | StrictInt | dict[str, _Number] = Field(
        "predicted", description="'predicted', a label, an output index, 'LABEL-vs-rest' or {label: weight}")
    reference: Literal["mean"] | list[_Number] | None = Field(
        None, description="explain the deviation from 'mean' (stored at training) or from these values")
    granularity: Literal["word", "sentence", "token"] = Field(
        "word", description="what the page colours (and a CSV export lists, for 'token'): words, sentences or model tokens")


class ExportRequest(ExplainRequest):
    """An explain request and the file to make of its explanation."""

    format: Literal["html", "json", "csv"] = Field("html", description="doclrp's HTML page, JSON, or CSV of words")


class DigitsRequest(BaseModel):
    """A drawn digit: 8 rows of 8 pixels from 0 (paper) to 1 (ink)."""

    model_config = ConfigDict(extra="forbid")

    pixels: list[list[_Number]] = Field(max_length=8, description="8 rows of 8 numbers in [0, 1]")
    method: str | None = Field(None, max_length=100, description="a method from GET /api/methods")
    params: dict[str, _Number | _Choice | None] = Field(default_factory=dict, max_length=16)
    target: str | StrictInt = Field("predicted", description="'predicted' or a digit")


class ColormapInfo(BaseModel):
    name: str
    stops: list[str]


class ResultsInfo(BaseModel):
    id: str
    name: str
    documents: int
    labels: list[str]
    method: MethodOut
    target: str | None
    task: str | None


class ModelInfo(BaseModel):
    id: str
    name: str
    task: str
    labels: list[str]
    default_method: str
    has_mean_reference: bool
    generates: bool = False  # a language model served with a prompt: POST /api/generate explains what it writes


class MethodInfo(BaseModel):
    name: str
    kind: Literal["lrp", "baseline"]
    params: dict[str, StrictInt | StrictFloat | None]
    choices: dict[str, list[str]] = Field(default_factory=dict,
                                          description="the parameters that take text, with the values they may take")


class Word(BaseModel):
    text: str
    start: int
    end: int
    sentence: int
    relevance: float
    color: str
    text_color: str


class Sentence(BaseModel):
    text: str
    start: int
    end: int
    relevance: float
    color: str
    text_color: str


class Token(BaseModel):
    """A model token: its text and offsets, the index of its word (None: special or between words)."""

    text: str
    start: int
    end: int
    word: int | None
    relevance: float
    color: str
    text_color: str


class TopWord(BaseModel):
    """A word of a top-word list: its occurrences grouped (lower-cased, relevance summed; ``text`` as
    it first occurs, ``start`` its first offset), punctuation left out."""

    text: str
    start: int
    relevance: float
    count: int = 1


class PredictionOut(BaseModel):
    label: str | None
    index: int | None
    probabilities: list[float] | None
    values: list[float]


class TargetOut(BaseModel):
    name: str
    weights: list[float] | None
    reference: list[float] | None
    reference_name: str


class MethodOut(BaseModel):
    name: str
    params: dict[str, StrictInt | StrictFloat | str | None]


class Conservation(BaseModel):
    """``explained = words + special + delta``."""

    explained: float
    words: float
    special: float
    delta: float


class ExplainResponse(BaseModel):
    model: str
    text: str
    granularity: str
    labels: list[str]
    task: str
    words: list[Word]
    sentences: list[Sentence]
    tokens: list[Token] = Field(default_factory=list,
                                description="the model tokens the words were summed from (none for stored results)")
    prediction: PredictionOut
    target: TargetOut
    method: MethodOut
    delta: float
    special: dict[str, float]
    conservation: Conservation
    top_for: list[TopWord]
    top_against: list[TopWord]
    scale: dict[str, float | str]
    notes: list[str] = Field(default_factory=list,
                             description="what the method means here, one line each (α-β on a negative value …)")
