"""doclrp.text.Vocabulary: frequencies, ties, oov, lower-casing, JSON form."""

import json

import pytest

from doclrp.errors import DoclrpError
from doclrp.text import Vocabulary

CORPUS = [["The", "cat", "sat"], ["the", "dog", "sat"], ["A", "dog", "the", "end"]]


def test_specials_have_fixed_ids():
    vocab = Vocabulary().build(CORPUS)
    assert (vocab.pad_id, vocab.oov_id) == (0, 1)
    assert vocab.decode([0, 1]) == ["<pad>", "<unk>"]


def test_order_is_by_frequency_then_alphabet():
    vocab = Vocabulary().build(CORPUS)
    # the: 3, dog/sat: 2 (tie: alphabetical), then the singletons alphabetically.
    assert vocab.tokens == ["<pad>", "<unk>", "the", "dog", "sat", "a", "cat", "end"]
    assert Vocabulary().build(reversed(CORPUS)).tokens == vocab.tokens


def test_min_freq_sends_rare_tokens_to_oov():
    vocab = Vocabulary(min_freq=2).build(CORPUS)
    assert len(vocab) == 5
    assert vocab.encode(["the", "cat", "dog", "unseen"]) == [2, 1, 3, 1]


def test_max_size_counts_the_special_entries():
    vocab = Vocabulary(max_size=4).build(CORPUS)
    assert vocab.tokens == ["<pad>", "<unk>", "the", "dog"]
    assert vocab.encode(["sat"]) == [vocab.oov_id]


def test_lower_false_keeps_case_apart():
    vocab = Vocabulary(lower=False).build(CORPUS)
    assert "The" in vocab and "the" in vocab and "THE" not in vocab
    assert vocab.encode(["The", "the"]) == [vocab.tokens.index("The"), vocab.tokens.index("the")]
    lowered = Vocabulary().build(CORPUS)
    assert lowered.encode(["THE"]) == lowered.encode(["the"]) != [lowered.oov_id]


def test_literal_special_strings_do_not_duplicate_entries():
    vocab = Vocabulary().build([["<unk>", "<pad>", "x"]])
    assert vocab.tokens == ["<pad>", "<unk>", "x"]


def test_build_replaces_the_table():
    vocab = Vocabulary().build(CORPUS).build([["new"]])
    assert vocab.tokens == ["<pad>", "<unk>", "new"]


def test_encode_decode_round_trip():
    vocab = Vocabulary().build(CORPUS)
    tokens = ["the", "dog", "sat"]
    assert vocab.decode(vocab.encode(tokens)) == tokens


def test_json_round_trip():
    vocab = Vocabulary(min_freq=1, max_size=6, lower=False, oov="[UNK]", pad="[PAD]").build(CORPUS)
    again = Vocabulary.from_dict(json.loads(json.dumps(vocab.to_dict())))
    assert again == vocab
    assert again.encode(["The", "zzz"]) == vocab.encode(["The", "zzz"])
    assert (again.max_size, again.lower, again.oov) == (6, False, "[UNK]")


def test_errors_name_the_fix():
    with pytest.raises(DoclrpError, match="max_size"):
        Vocabulary(max_size=1)
    with pytest.raises(DoclrpError, match="min_freq"):
        Vocabulary(min_freq=0)
    vocab = Vocabulary().build(CORPUS)
    with pytest.raises(DoclrpError, match="list of tokens"):
        vocab.encode("the")
    with pytest.raises(DoclrpError, match="token lists"):
        Vocabulary().build(["the cat"])
    with pytest.raises(DoclrpError, match="out of range"):
        vocab.decode([len(vocab)])
    with pytest.raises(DoclrpError, match="out of range"):
        vocab.decode([-1])
    with pytest.raises(DoclrpError, match="to_dict"):
        Vocabulary.from_dict({"tokens": []})
    with pytest.raises(DoclrpError, match="duplicates"):
        Vocabulary.from_dict({**vocab.to_dict(), "tokens": ["<pad>", "<unk>", "a", "a"]})
