"""Relevance stays on what the document holds: every composite, every text model type.

A feature that is 0 in a bag-of-words vector is a word the document lacks, a padded position
is no word at all: neither may take relevance, or the words present lose it (issue 18: z^B
with bounds from the batch gave absent tf-idf features 98.6 % of it). What cannot be placed
on a word beyond a small share is reported with a warning.
"""

import warnings

import pytest
import torch

import doclrp
from doclrp import explain
from doclrp._explain import UNPLACED_WARNING_SHARE, UnplacedRelevanceWarning
from doclrp.core.composites import composite_names
from doclrp.errors import DoclrpError
from doclrp.models import BowMLP, EmbeddingBagModel, IdEncoder, TextCNN, TextPipeline, TfidfEncoder

TOLERANCE = 1e-5  # float32 sums, relative to the relevance that reached the input
TRAIN = ["good fun film with great acting", "bad dull film with awful plot", "the film runs two hours long",
         "a great plot and fun acting", "dull acting and a bad long plot"]
# different lengths in one batch (padding), one shorter than the text CNN's widest filter
DOCUMENTS = ["good fun", "a bad , dull film with an awful plot and bad acting", "great film", "plot"]
COMPOSITES = composite_names()
# map Hugging Face modules; on a model without them they are LRP-ε, and they refuse convolutions
TRANSFORMER_COMPOSITES = {"cp-lrp", "attnlrp"}


def pipeline(kind: str, seed: int = 0) -> TextPipeline:
    torch.manual_seed(seed)
    if kind == "bow":
        encoder = TfidfEncoder.fit(TRAIN, min_df=1)
        model = BowMLP(encoder.n_features, hidden=(16, 8), n_outputs=3)
    else:
        encoder = IdEncoder.fit(TRAIN)
        size = len(encoder.vocabulary)
        model = (TextCNN(size, embed_dim=6, widths=(2, 3, 5), channels=4, n_outputs=3) if kind == "cnn"
                 else EmbeddingBagModel(size, embed_dim=6, n_outputs=3))
    with torch.no_grad():  # biases away from 0, so that the bias and z^B's box have work to do
        for name, parameter in model.named_parameters():
            if name.endswith("bias"):
                parameter.uniform_(-0.5, 0.5)
    return TextPipeline(model.eval(), encoder, ["a", "b", "c"])


def unplaced(explanation) -> float:
    """Relevance that reached the input but lies on no word: absent features, padding."""
    return abs(explanation.special.get("unassigned", 0.0)) + abs(explanation.special.get("[PAD]", 0.0))


@pytest.mark.parametrize("kind", ["bow", "cnn", "bag"])
@pytest.mark.parametrize("composite", COMPOSITES)
def test_the_words_present_get_all_the_relevance_that_reaches_the_input(kind, composite):
    pipe = pipeline(kind)
    if kind == "cnn" and composite in TRANSFORMER_COMPOSITES:
        with pytest.raises(DoclrpError, match="Conv1d"):
            explain(pipe, DOCUMENTS, method=composite)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error", UnplacedRelevanceWarning)
        explanations = explain(pipe, DOCUMENTS, target="b", method=composite, batch_size=4)
    for explanation in explanations:
        on_words = sum(abs(w.relevance) for w in explanation.words)
        assert on_words > 0, explanation.text
        assert unplaced(explanation) <= TOLERANCE * on_words, (explanation.text, explanation.special)


@pytest.mark.parametrize("composite", COMPOSITES)
def test_bag_of_words_features_at_zero_get_no_relevance(composite):
    pipe = pipeline("bow")
    inputs = pipe.inputs(DOCUMENTS)
    relevance = doclrp.attribute(pipe.model, inputs, target=1, composite=composite).relevance
    assert bool((relevance[inputs == 0] == 0).all())


class UndeclaredBow(BowMLP):
    """A model of tf-idf rows that does not declare that 0 means a word the document lacks."""

    zero_is_absent = False


def test_explicit_bounds_keep_absent_inputs_out_and_the_equation_elsewhere():
    # The user's own box (--param low=… high=…) replaces the declared one, but a feature the
    # document lacks still gets nothing on a model that declares zero_is_absent ...
    pipe = pipeline("bow")
    composite = doclrp.get_composite("epsilon-gamma-box", low=0.0, high=1.0)
    inputs = pipe.inputs(DOCUMENTS)
    relevance = doclrp.attribute(pipe.model, inputs, target=1, composite=composite).relevance
    assert bool((relevance[inputs == 0] == 0).all()) and bool((relevance != 0).any())
    # ... while on a model that does not declare it the box is used as given (the z^B
    # equation, as its reference tests have it): absent features with negative weights take a
    # share, and explain() says how much lies on no word.
    undeclared = UndeclaredBow(**pipe.model.config)
    undeclared.load_state_dict(pipe.model.state_dict())
    pipe = TextPipeline(undeclared.eval(), pipe.encoder, pipe.labels)
    relevance = doclrp.attribute(pipe.model, inputs, target=1, composite=composite).relevance
    assert bool((relevance[inputs == 0] != 0).any())
    with pytest.warns(UnplacedRelevanceWarning, match=r"of the relevance .* lies on no word") as caught:
        explain(pipe, DOCUMENTS, target="b", method=composite, ids=["d0", "d1", "d2", "d3"])
    message = str(caught[0].message)
    assert "document d" in message and "%" in message


def test_a_small_unplaced_share_is_quiet():
    assert 0 < UNPLACED_WARNING_SHARE <= 0.05
