"""Small things that said less than the truth: outputs rounded to float32 under a float64 model, the
report's clipped axis label, a table wider than a phone, curves hiding each other, the console
naming token ids where words are cut from the text."""

import re

import torch

from doclrp.render.evaluation import render_evaluation


def test_outputs_follow_the_models_float_type():
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline

    from doclrp.models.sklearn import from_sklearn

    texts = ["up up", "down", "up down", "down down up"]
    fitted = make_pipeline(CountVectorizer(), Ridge(alpha=0.1)).fit(texts, [2.0, -1.0, 0.5, 0.1])
    converted = from_sklearn(fitted, dtype=torch.float64)
    outputs = converted.outputs(texts)
    assert outputs.dtype == torch.float64
    assert abs(outputs[:, 0].numpy() - fitted.predict(texts)).max() < 1e-10
    assert converted.outputs([]).dtype == torch.float64
    assert from_sklearn(fitted).outputs(texts).dtype == torch.float32


def _data(curves):
    return {"shares": [0.0, 0.5, 1.0], "documents": ["a"], "seed": 0, "methods": [
        {"name": name, "curves": {"deletion": {"morf": morf, "lerf": [2.0, 1.5, 0.0]}},
         "summary": {"deletion": {"abpc": {"mean": 0.3, "low": 0.2, "high": 0.4, "n": 1}}},
         "time": {"mean": 0.01, "low": 0.01, "high": 0.01, "n": 1}} for name, morf in curves]}


def test_identical_curves_are_said_and_both_drawn():
    page = render_evaluation(_data([("epsilon", [2.0, 0.5, 0.0]), ("gradient-x-input", [2.0, 0.5, 0.0]),
                                    ("saliency", [2.0, 1.0, 0.0])]))
    morf, lerf = re.findall(r"<figure>.*?</figure>", page, flags=re.S)
    assert "gradient-x-input is the same as epsilon" in morf and "saliency is the same" not in morf
    assert morf.count('stroke-dasharray="6 6"') == 1  # the twin drawn in dashes over the first
    # the LeRF curves of all three coincide
    assert "saliency is the same as epsilon" in lerf and lerf.count('stroke-dasharray="6 6"') == 2


def test_the_axis_labels_fit_and_wide_tables_scroll():
    page = render_evaluation(_data([("epsilon", [2.0, 0.5, 0.0])]))
    for svg in re.findall(r"<svg[^>]*>.*?</svg>", page, flags=re.S):
        width = float(re.search(r'width="([\d.]+)"', svg).group(1))
        assert 'viewBox="0 0 ' in svg
        for x, label in re.findall(r'<text x="([\d.]+)"[^>]*text-anchor="middle">(\d+%)</text>', svg):
            # a 10 px label is at most ~6 px per character wide: half of it right of its centre
            assert float(x) + 3.2 * len(label) <= width, label
    assert page.count('<div class="wide"><table>') == page.count("<table>") > 0
    assert ".wide { overflow-x: auto" in page and "svg { max-width: 100%" in page
