"""Corpus readers (folder, JSONL, CSV, BBC) and the fixed train/test split."""

import json
from collections import Counter
import warnings

import pytest

from doclrp.corpus import (
    CorpusWarning,
    Record,
    open_corpus,
    read_bbc,
    read_csv,
    read_folder,
    read_jsonl,
    train_test_split_fixed,
)
from doclrp.corpus.split import sample_records
from doclrp.errors import DoclrpError


def write_folder(root, files):
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return root


# --- folder ----------------------------------------------------------------


def test_folder_reads_classes_in_sorted_order(tmp_path):
    write_folder(tmp_path, {"b/2.txt": "two", "b/1.txt": "one", "a/x.txt": "ex", "top.txt": "free", "a/skip.md": "no"})
    records = list(read_folder(tmp_path))
    assert records == [
        Record("top", "free", None),
        Record("a/x", "ex", "a"),
        Record("b/1", "one", "b"),
        Record("b/2", "two", "b"),
    ]


def test_folder_non_utf8_file_names_the_file(tmp_path):
    write_folder(tmp_path, {"a/good.txt": "fine", "a/bad.txt": b"price \xa3 5"})
    with pytest.raises(DoclrpError, match=r"bad\.txt is not valid UTF-8") as error:
        list(read_folder(tmp_path))
    # The way out is named where it exists: the command line has no such option, Python has.
    assert "from Python, doclrp.corpus.read_folder(folder, fallback_encoding='latin-1')" in str(error.value)
    assert "or pass fallback_encoding" not in str(error.value)
    texts = [r.text for r in read_folder(tmp_path, fallback_encoding="latin-1")]
    assert "price £ 5" in texts


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(DoclrpError, match="no corpus folder"):
        read_folder(tmp_path / "nope")  # fails on the call, not at the first next()
    with pytest.raises(DoclrpError, match="no .txt files"):
        read_folder(tmp_path)


# --- JSONL -------------------------------------------------------------------


def write_lines(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else line.encode() for line in lines) + b"\n")
    return path


def test_jsonl_reads_records_targets_and_defaults(tmp_path):
    path = write_lines(
        tmp_path / "c.jsonl",
        [
            json.dumps({"id": "a", "text": "Good.", "label": "pos", "stars": 5}),
            "",
            json.dumps({"text": "Bad.", "label": 0, "stars": "1.5"}),
        ],
    )
    assert list(read_jsonl(path, target_columns=["stars"])) == [
        Record("a", "Good.", "pos", (5.0,)),
        Record("3", "Bad.", "0", (1.5,)),
    ]


@pytest.mark.parametrize(
    "bad_line, problem",
    [
        ('{"id": "x", "text": "oops"', "invalid JSON"),
        ('["not", "an", "object"]', "expected a JSON object"),
        ('{"id": "x", "label": "pos"}', "field 'text' is missing"),
        ('{"id": "a", "text": "same id"}', "duplicate id 'a'"),
        (b'{"id": "x", "text": "\xff"}', "not valid UTF-8"),
    ],
)
def test_jsonl_malformed_line_is_reported_with_its_number(tmp_path, bad_line, problem):
    path = write_lines(
        tmp_path / "c.jsonl",
        ['{"id": "a", "text": "one"}', bad_line, '{"id": "c", "text": "three"}'],
    )
    with pytest.raises(DoclrpError, match=f"line 2: {problem}"):
        list(read_jsonl(path))
    with pytest.warns(CorpusWarning, match=f"line 2: {problem}"):
        records = list(read_jsonl(path, on_error="skip"))
    assert [r.id for r in records] == ["a", "c"]


def test_jsonl_bad_target_is_a_malformed_line(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", ['{"text": "t", "y": "high"}'])
    with pytest.raises(DoclrpError, match="line 1: target 'y' is not a number"):
        list(read_jsonl(path, target_columns=["y"]))


def test_jsonl_skip_never_silent_and_on_error_checked(tmp_path):
    path = write_lines(tmp_path / "c.jsonl", ["{", "{"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert list(read_jsonl(path, on_error="skip")) == []
    assert [str(w.message).split(": ")[0].rsplit(" ", 2)[-2:] for w in caught] == [["line", "1"], ["line", "2"]]
    with pytest.raises(DoclrpError, match="on_error"):
        read_jsonl(path, on_error="ignore")


# --- CSV ---------------------------------------------------------------------


def test_csv_reads_quoted_fields_bom_and_targets(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text('\ufeffid,text,label,score\n1,"Long, and\nslow.",neg,2\n2,Quick.,pos,4.5\n', encoding="utf-8")
    assert list(read_csv(path, target_columns=["score"])) == [
        Record("1", "Long, and\nslow.", "neg", (2.0,)),
        Record("2", "Quick.", "pos", (4.5,)),
    ]


def test_csv_without_id_or_label_columns(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("body\nfirst\nsecond\n")
    assert list(read_csv(path, text_column="body")) == [Record("2", "first"), Record("3", "second")]


def test_csv_errors(tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("id,text\n1,a\n")
    with pytest.raises(DoclrpError, match=r"no column\(s\) \['body'\]; its columns are \['id', 'text'\]"):
        read_csv(path, text_column="body")
    path.write_text("id,text,y\n1,a,3\n2,b,\n3,c,x,extra\n")
    with pytest.raises(DoclrpError, match="line 3: target 'y' is missing"):
        list(read_csv(path, target_columns=["y"]))
    with pytest.warns(CorpusWarning, match="line 4: 4 fields, header has 3"):
        assert [r.id for r in read_csv(path, on_error="skip")] == ["1", "2"]
    path.write_bytes(b"text\n\xff\xfe\n")
    with pytest.raises(DoclrpError, match="not valid UTF-8"):
        list(read_csv(path))


# --- dispatch and BBC ----------------------------------------------------------


def test_open_corpus_dispatches(tmp_path):
    write_folder(tmp_path / "f", {"a/1.txt": "x"})
    write_lines(tmp_path / "c.jsonl", ['{"text": "j"}'])
    (tmp_path / "c.csv").write_text("text\nc\n")
    assert [r.text for r in open_corpus(tmp_path / "f")] == ["x"]
    assert [r.text for r in open_corpus(str(tmp_path / "c.jsonl"))] == ["j"]
    assert [r.text for r in open_corpus(tmp_path / "c.csv")] == ["c"]
    with pytest.raises(DoclrpError, match="no corpus at"):
        open_corpus(tmp_path / "missing.txt")
    (tmp_path / "c.xml").write_text("<x/>")
    with pytest.raises(DoclrpError, match="cannot read"):
        open_corpus(tmp_path / "c.xml")


def test_bbc_is_complete():
    records = list(read_bbc())
    assert len(records) == 2225 == len({r.id for r in records})
    assert sorted({r.label for r in records}) == ["business", "entertainment", "politics", "sports", "tech"]
    assert records[0].id == "business/001"
    assert "£15.8m" in next(r.text for r in records if r.id == "sports/199")  # the one Latin-1 file


# --- split ---------------------------------------------------------------------


def corpus(n=60, labels="abc"):
    return [Record(f"doc{i}", f"text number {i}", labels[i % len(labels)]) for i in range(n)]


def test_split_is_deterministic_order_free_and_stratified():
    records = corpus()
    train, test = train_test_split_fixed(records, test_fraction=0.25, seed=5)
    assert (train, test) == train_test_split_fixed(records[::-1], test_fraction=0.25, seed=5)
    assert (train, test) == train_test_split_fixed(iter(sorted(records, key=lambda r: r.text)), 0.25, 5)
    assert sorted(r.id for r in train + test) == sorted(r.id for r in records)
    assert not {r.id for r in train} & {r.id for r in test}
    assert [sum(r.label == c for r in test) for c in "abc"] == [5, 5, 5]
    assert train_test_split_fixed(records, 0.25, seed=6)[1] != test


def test_split_keeps_duplicate_texts_together():
    records = [Record(f"d{i}", f"text {i // 2}", "a") for i in range(40)]  # every text twice
    for fraction in (0.1, 0.25, 0.5):
        train, test = train_test_split_fixed(records, fraction)
        assert not {r.text for r in train} & {r.text for r in test}


def test_split_without_labels_and_bad_fraction():
    records = [Record(str(i), str(i)) for i in range(10)]
    assert [len(part) for part in train_test_split_fixed(records, 0.3)] == [7, 3]
    with pytest.raises(DoclrpError, match="test_fraction"):
        train_test_split_fixed(records, 1.5)


def test_samples_cover_every_class_in_proportion_whatever_the_id_order():
    # Ids that begin with their class: the first 10 in id order would all be "business".
    records = [Record(f"{label}/{i:03d}", f"{label} text {i}", label)
               for label, n in (("business", 50), ("politics", 30), ("sport", 20)) for i in range(n)]
    sample = sample_records(records, 10, seed=0)
    assert Counter(r.label for r in sample) == {"business": 5, "politics": 3, "sport": 2}
    assert [r.id for r in sample] == sorted(r.id for r in sample)
    assert sample == sample_records(reversed(records), 10, seed=0)
    assert sample != sample_records(records, 10, seed=1)
    unlabelled = [Record(f"{i:03d}", f"text {i}") for i in range(100)]
    drawn = [int(r.id) for r in sample_records(unlabelled, 10, seed=0)]
    assert len(drawn) == 10 and max(drawn) >= 10  # at random, not the first ten
    assert sample_records(records[:3], 10) == sorted(records[:3], key=lambda r: r.id)
