"""Text side of doclrp: words, vocabularies, alignment of model tokens, explanations.

>>> from doclrp.text import tokenize, Vocabulary
>>> doc = tokenize("Stocks fell sharply.", pipeline="blank")
>>> Vocabulary().build([doc.word_texts]).encode(doc.word_texts)
[5, 3, 4, 2]

spaCy is imported only when text is first tokenized.
"""

from doclrp.text.alignment import Aggregated, aggregate, align
from doclrp.text.explanation import (
    Explanation,
    Explanations,
    Prediction,
    SentenceRelevance,
    TokenPiece,
    WordRelevance,
    build_explanation,
)
from doclrp.text.words import Document, Span, Token, load_spacy, tokenize, tokenize_many
from doclrp.text.vocab import Vocabulary
from doclrp.text.terms import Term, top_terms

__all__ = [
    "Aggregated",
    "Document",
    "Explanation",
    "Explanations",
    "Prediction",
    "SentenceRelevance",
    "Span",
    "Term",
    "Token",
    "TokenPiece",
    "Vocabulary",
    "WordRelevance",
    "aggregate",
    "align",
    "build_explanation",
    "load_spacy",
    "tokenize",
    "tokenize_many",
    "top_terms",
]
