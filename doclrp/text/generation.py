"""`GenerationExplanation`: what a language model wrote after a document, token by token, and
which words of the document (and which earlier tokens it wrote) made each token.

>>> from doclrp.text import tokenize
>>> doc = tokenize("Shares fell.", pipeline="blank")
>>> first = GeneratedToken(" down", 7, 2.5, 0.4, [1.5, 0.5, 0.0], [], [0.25], {"<s>": 0.0}, 0.25)
>>> second = GeneratedToken(" again", 9, 1.0, 0.3, [0.5, 0.0, 0.0], [0.25], [0.0], {"<s>": 0.0}, 0.25)
>>> g = GenerationExplanation.build(doc, [first, second], prompt=[PromptWord("News:", 0.0)], method={"name": "x"})
>>> g.continuation, g.span(0, 2).tolist()
(' down again', [2.0, 0.5, 0.0])
>>> GenerationExplanation.from_dict(g.to_dict()) == g
True

Per generated token: the explained value (its next-token logit), its probability, the relevance
of every document word, of every earlier generated token (``previous``), of every word of the
prompt template (``prompt``) and of special tokens by name; ``delta`` what none of them took, so
that ``sum(words) + sum(previous) + sum(prompt) + sum(special) + delta == value``. The words'
own ``relevance`` is that of the whole continuation (:meth:`GenerationExplanation.span` sums any
span of tokens).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from doclrp.errors import DoclrpError
from doclrp.text.explanation import WordRelevance
from doclrp.text.prompt import PromptWord
from doclrp.text.words import Document

__all__ = ["GeneratedToken", "GenerationExplanation"]


class GeneratedToken(NamedTuple):
    """One generated token (its text as decoded, its id) and the relevance that made it."""

    token: str
    id: int
    value: float
    probability: float
    words: list[float]
    previous: list[float]
    prompt: list[float]
    special: dict[str, float]
    delta: float

    @property
    def total(self) -> float:
        """All relevance the input received (``value ≈ total + delta``)."""
        return float(sum(self.words) + sum(self.previous) + sum(self.prompt) + sum(self.special.values()))


@dataclass(frozen=True)
class GenerationExplanation:
    """A document, the tokens a language model wrote after it (inside its prompt), and per token
    the relevance of the document's words, the earlier tokens and the prompt's words."""

    text: str
    words: list[WordRelevance]
    prompt: list[PromptWord]
    generated: list[GeneratedToken]
    method: dict[str, Any] = field(default_factory=dict)
    id: str | None = None
    greedy: bool = True

    @classmethod
    def build(cls, document: Document, generated: Sequence[GeneratedToken], *, prompt: Sequence[PromptWord] = (),
              method: Mapping[str, Any] | None = None, id: str | None = None, greedy: bool = True
              ) -> GenerationExplanation:
        """From the document's words and the tokens: the words and prompt words carry the relevance of
        the whole continuation."""
        if not generated:
            raise DoclrpError("a generation explanation needs at least one generated token")
        totals = np.sum([token.words for token in generated], axis=0) if document.words else np.zeros(0)
        words = [WordRelevance(w.text, w.start, w.end, w.sentence, float(r))
                 for w, r in zip(document.words, totals.tolist())]
        prompt_totals = np.sum([token.prompt for token in generated], axis=0).tolist() if prompt else []
        return cls(document.text, words, [PromptWord(p.text, float(r), p.before) for p, r in zip(prompt, prompt_totals)],
                   list(generated), dict(method or {}), id, greedy)

    @property
    def continuation(self) -> str:
        """The generated text."""
        return "".join(token.token for token in self.generated)

    def span(self, start: int, stop: int) -> np.ndarray:
        """The document words' relevance for generated tokens ``start`` to ``stop`` (exclusive), summed."""
        if not 0 <= start < stop <= len(self.generated):
            raise DoclrpError(f"span {start}:{stop} is not within the {len(self.generated)} generated tokens")
        return np.sum([self.generated[i].words for i in range(start, stop)], axis=0)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-safe data (``generated``: one entry per token); `from_dict` gives it back."""
        return {
            "text": self.text, "id": self.id, "method": dict(self.method), "greedy": self.greedy,
            "continuation": self.continuation,
            "words": [w._asdict() for w in self.words],
            "prompt": [p._asdict() for p in self.prompt],
            "generated": [t._asdict() for t in self.generated],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GenerationExplanation:
        try:
            return cls(text=data["text"], words=[WordRelevance(**w) for w in data["words"]],
                       prompt=[PromptWord(**p) for p in data.get("prompt") or ()],
                       generated=[GeneratedToken(**{**t, "special": dict(t["special"])}) for t in data["generated"]],
                       method=dict(data.get("method") or {}), id=data.get("id"), greedy=bool(data.get("greedy", True)))
        except (KeyError, TypeError) as error:
            raise DoclrpError(f"not a GenerationExplanation dict ({error}); it must come from to_dict()") from None
