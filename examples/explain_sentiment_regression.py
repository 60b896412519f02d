"""Which words raise a sentence's sentiment score, and which pull it down? A regressor, word by word.

    python examples/explain_sentiment_regression.py [MODEL_DIR] [OUT_DIR]

MODEL_DIR (default models/vader-cnn) is a text CNN with four outputs (neg,
neu, pos, compound) trained on BBC News sentences scored by VADER; when it is
missing it is trained first (a few minutes on a laptop CPU):

    doclrp train --corpus vader --task regression --target-column neg --target-column neu \\
        --target-column pos --target-column compound --out models/vader-cnn

Each sentence is explained three ways: one output (compound), a weighted
combination of outputs (pos − neg), and the deviation of compound from the mean
prediction (reference="mean"). Relevance is signed: red words raised the
score, blue words lowered it. Pages and an index go to OUT_DIR (default
sentiment-regression/).
"""

import sys
from pathlib import Path

from doclrp import explain
from doclrp.models import load_pipeline
from doclrp.render import to_html, render_index
from doclrp.training import train

SENTENCES = [
    "Shares surged after the firm reported strong profits and a generous dividend.",
    "The minister resigned amid fierce criticism over the failed and costly scheme.",
    "Fans cheered a brilliant win, although the injury to their captain was a blow.",
]
TARGETS = ["neg", "neu", "pos", "compound"]

model_dir = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("models/vader-cnn")
out = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("sentiment-regression")

if model_dir.is_dir():
    pipeline = load_pipeline(model_dir)
else:
    pipeline = train("vader", model="cnn", task="regression", target_columns=TARGETS, out=model_dir)
print("test R²:", {k: round(v, 3) for k, v in pipeline.metrics["test_r2"].items()})

out.mkdir(parents=True, exist_ok=True)
entries = []
for n, sentence in enumerate(SENTENCES, start=1):
    ways = {
        "compound": explain(pipeline, sentence, target="compound"),
        "pos-neg": explain(pipeline, sentence, target={"pos": 1, "neg": -1}),
        # The deviation from the average training sentence. Under the model's ε rules the
        # words keep their relevance and the offset moves into delta; under
        # composite="alpha2-beta1" the words share out the deviation itself.
        "vs-mean": explain(pipeline, sentence, target="compound", reference="mean"),
    }
    values = [round(v, 3) for v in ways["compound"].prediction.values]
    print(f"\n{sentence}\n  prediction: {dict(zip(pipeline.labels, values))}")
    for name, e in ways.items():
        up = ", ".join(f"{w.text} {w.relevance:+.3f}" for w in e.top_words(3))
        down = ", ".join(f"{w.text} {w.relevance:+.3f}" for w in e.top_words(3, sign=-1))
        # Conservation: words + special tokens + delta add up to the explained value.
        print(f"  {e.target}: {e.target_value:+.3f} = words {e.total:+.3f} + delta {e.delta:+.3f}; "
              f"up: {up}; down: {down}")
        page = f"{n}-{name}.html"
        (out / page).write_text(to_html(e, title=f"{sentence[:40]}… · {e.target}"), encoding="utf-8")
        entries.append((page, e))
(out / "index.html").write_text(render_index(entries, title="Sentiment regression, word by word"), encoding="utf-8")
print("\nopen", (out / "index.html").resolve())
