"""What the app answers with an explanation: the JSON the page draws (every word, sentence and
model token with its colour, the prediction, top words, conservation) and the exports (doclrp's
HTML page, JSON, CSV).

>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> import doclrp
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> data = explanation_response("tiny", "word", doclrp.explain(pipe, "good fun", target="pos"))
>>> [w["text"] for w in data["words"]], data["target"]["name"], data["words"][0]["color"][0]
(['good', 'fun'], 'pos', '#')
>>> export_name("bbc-cnn", {"name": "epsilon"}, "sports-vs-rest", "csv")
'doclrp-bbc-cnn-epsilon-sports-vs-rest.csv'
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi.responses import Response

from doclrp.render.colors import css_gradient, diverging_rgb, hex_color, symmetric_vmax, text_color
from doclrp.render.html import to_html
from doclrp.render.table import csv_text
from doclrp.corpus.output import PROMPT_KEY

__all__ = ["explanation_response", "export_response", "export_name", "json_defaults", "EXPORT_TYPES", "TOP_WORDS"]

#: Words listed for and against the target beside the document.
TOP_WORDS = 10
EXPORT_TYPES = {"html": "text/html; charset=utf-8", "json": "application/json",
                "csv": "text/csv; charset=utf-8"}
#: The ``responses`` entry of an export route in the schema.
EXPORT_CONTENT: dict[int | str, dict[str, Any]] = {200: {"content": {t: {} for t in EXPORT_TYPES.values()}}}


def explanation_response(model: str, granularity: str, explanation: Any) -> dict[str, Any]:
    """The explain response (:class:`~doclrp.serve.schemas.ExplainResponse`) of ``explanation``."""
    data = explanation.to_dict()
    word_vmax = symmetric_vmax([w.relevance for w in explanation.words])
    sentence_vmax = symmetric_vmax([s.relevance for s in explanation.sentences])
    token_vmax = symmetric_vmax([t.relevance for t in explanation.tokens])
    words_sum = math.fsum(w.relevance for w in explanation.words)
    # a language model's prompt template: its words' relevance in one entry, so the table adds up
    special = {**explanation.special, **({PROMPT_KEY: math.fsum(p.relevance for p in explanation.prompt)}
                                         if explanation.prompt else {})}
    special_sum = math.fsum(special.values())
    return {
        "model": model,
        "text": explanation.text,
        "granularity": granularity,
        "labels": data["labels"],
        "task": data["task"],
        "words": _coloured(data["words"], word_vmax),
        "sentences": _coloured(data["sentences"], sentence_vmax),
        "tokens": _coloured(data["tokens"], token_vmax),
        "prediction": data["prediction"],
        "target": {**data["target"], "name": str(explanation.target)},
        "method": {"name": data["method"].get("name", ""), "params": json_defaults(data["method"].get("params", {}))},
        "delta": explanation.delta,
        "special": special,
        "conservation": {"explained": explanation.target_value, "words": words_sum, "special": special_sum,
                         "delta": explanation.delta},
        # As the pages and the terminal list them: a word's occurrences grouped, punctuation left out.
        "top_for": [term._asdict() for term in explanation.top_terms(TOP_WORDS, +1)],
        "top_against": [term._asdict() for term in explanation.top_terms(TOP_WORDS, -1)],
        "scale": {"word_vmax": word_vmax, "sentence_vmax": sentence_vmax, "token_vmax": token_vmax,
                  "gradient": css_gradient()},
    }


def export_response(explanation: Any, format: str, name: str, response: dict[str, Any],
                    alternatives: Sequence[Any] = ()) -> Response:
    """``explanation`` as a download ``name``: doclrp's HTML page (``alternatives``: the other
    targets of its class switch), the JSON of ``response``, or CSV (one row per word; per model
    token for the granularity ``token``)."""
    if format == "html":
        body = to_html(explanation, alternatives=alternatives)
    elif format == "json":
        body = json.dumps({key: value for key, value in response.items() if key != "scale"}, ensure_ascii=False)
    else:
        # Spreadsheet-safe: a word such as =HYPERLINK(…) stays text (doclrp.render.table).
        if response["granularity"] == "token" and explanation.tokens:
            body = csv_text([["token", "start", "end", "word", "relevance"],
                             *((t.text, t.start, t.end, t.word, float(t.relevance)) for t in explanation.tokens)])
        else:
            body = csv_text([["word", "start", "end", "sentence", "relevance"],
                             *((w.text, w.start, w.end, w.sentence, float(w.relevance)) for w in explanation.words)])
    return Response(body, media_type=EXPORT_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def export_name(*parts: Any) -> str:
    """A download's file name: ``doclrp-`` and the parts (a method's name, a target's name…) as
    safe slugs, the last part the extension."""
    *names, extension = parts
    slugs = [re.sub(r"[^a-z0-9._]+", "-", str(p.get("name", "") if isinstance(p, Mapping) else p).lower())
             .strip("-.") for p in names]
    return "-".join(["doclrp", *(s for s in slugs if s)])[:150] + f".{extension}"


def _coloured(units: list[dict[str, Any]], vmax: float) -> list[dict[str, Any]]:
    """Each unit with its background and text colour (the scale computed for all units at once:
    one value at a time cost twice the explanation itself on a news article)."""
    backgrounds = [hex_color(rgb) for rgb in diverging_rgb([u["relevance"] for u in units], vmax).reshape(-1, 3)]
    return [{**unit, "color": background, "text_color": _text_color(background)}
            for unit, background in zip(units, backgrounds)]


#: At most 2 × 255 backgrounds exist on the diverging scale: each text colour is worked out once.
_text_color = functools.lru_cache(maxsize=1024)(text_color)


def json_defaults(params: Mapping[str, Any]) -> dict[str, Any]:
    """Parameters as JSON numbers or the text a parameter takes (``recurrent``); a tensor bound is
    shown as no value."""
    return {key: value if isinstance(value, (int, float, str)) or value is None else None
            for key, value in params.items()}
