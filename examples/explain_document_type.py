"""Why did the model file this article under its type? Word by word, as an HTML page.

    python examples/explain_document_type.py [MODEL_DIR] [page.html]

With no MODEL_DIR it uses the BBC text CNN shipped inside doclrp (pass a folder made by
``doclrp train --corpus bbc --model bow --out models/bbc-bow`` to explain another model).
"""

import sys
from pathlib import Path

from doclrp import explain
from doclrp.models.loading import load_model, pretrained_path
from doclrp.render import to_html

ARTICLE = """Chip maker posts record profit

Shares in the semiconductor firm jumped 8% after it reported record quarterly profits,
helped by strong demand for processors used in laptops and mobile phones.
Analysts said the results beat market expectations."""

model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else pretrained_path()
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("explained-article.html")

pipeline = load_model(model_dir)
# target="predicted" explains the class the model chose; try target="tech" or "business-vs-rest".
explanation = explain(pipeline, ARTICLE, target="predicted")

probabilities = dict(zip(pipeline.labels, explanation.prediction.probabilities))
print("predicted:", explanation.prediction.label, {k: round(v, 3) for k, v in probabilities.items()})
print("words for it:    ", [(w.text, round(w.relevance, 3)) for w in explanation.top_words(8)])
print("words against it:", [(w.text, round(w.relevance, 3)) for w in explanation.top_words(5, sign=-1)])
# Conservation: the words (plus padding/special tokens) and delta add up to the explained logit.
print(f"logit {explanation.target_value:.3f} = words {explanation.total:.3f} + delta {explanation.delta:.3f}")

out.write_text(to_html(explanation, title="Why this type?"), encoding="utf-8")
print("wrote", out.resolve())
