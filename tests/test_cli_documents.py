"""`doclrp explain --file` for every kind of document: the words read, JSON with page and box for
PDF words, and each bad or hostile file as one line, exit 2, nothing written."""

import json

import pytest

from doclrp.text import Explanation
from references import docx_bytes, eml_bytes, pdf_bytes, run_cli

GOAL_PDF = [["the match ended with a late goal", "the team won the cup final"]]


def documents(tmp_path):
    """One file of each kind, all about sport."""
    files = {
        "match.pdf": pdf_bytes(GOAL_PDF),
        "match.docx": docx_bytes(["the match ended with a late goal", [["team", "cup"]]], headers=["final"]),
        "match.html": b"<h1>the match</h1><p>ended with a late <b>goal</b><script>phone()</script>",
        "match.eml": eml_bytes("late goal", text="the team won the cup final"),
        "match.txt": "the match ended with a late goal".encode("utf-16"),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    return files


@pytest.mark.parametrize("name", ["match.pdf", "match.docx", "match.html", "match.eml", "match.txt"])
def test_explain_any_kind_of_file_to_json(name, topic_model_dir, tmp_path, capsys):
    documents(tmp_path)
    out = tmp_path / "out.json"
    code, stdout, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(tmp_path / name),
                                "--out", str(out))
    assert code == 0, err
    assert "prediction: " in stdout and "top words" in stdout
    data = json.loads(out.read_text(encoding="utf-8"))
    explanation = Explanation.from_dict(data)
    assert "goal" in [w.text for w in explanation.words]
    assert data["document"]["kind"] == name.rsplit(".", 1)[1].replace("eml", "email").replace("txt", "text")
    assert "phone" not in explanation.text and "<" not in explanation.text
    if name.endswith(".pdf"):
        assert "document: " in stdout and "(PDF, 1 page)" in stdout
        assert all(0 <= w["box"][0] < w["box"][2] <= 1 and w["page"] == 0 for w in data["words"])
        assert explanation.layout is not None and explanation.layout.source.endswith("match.pdf")
        assert Explanation.from_dict(explanation.to_dict()).layout == explanation.layout
    else:
        assert "page" not in data["words"][0] and explanation.layout is None


def test_explain_pdf_page_html(topic_model_dir, tmp_path, capsys):
    documents(tmp_path)
    page = tmp_path / "page.html"
    code, stdout, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file",
                                str(tmp_path / "match.pdf"), "--out", str(page))
    assert code == 0, err
    assert "late" in page.read_text(encoding="utf-8")


@pytest.mark.parametrize("case", ["encrypted", "scanned", "too-many-pages", "too-big", "bad-pdf", "zip-bomb",
                                  "deep-html", "binary", "latin-1"])
def test_bad_documents_one_line_exit_2_nothing_written(case, topic_model_dir, tmp_path, capsys):
    extra = []
    if case == "encrypted":
        data, reason = pdf_bytes([["secret"]], encrypted=True), "is an encrypted PDF"
    elif case == "scanned":
        data, reason = pdf_bytes([[], []]), "has no text layer"
    elif case == "too-many-pages":
        data, reason = pdf_bytes([["page"]], shared_pages=10_000), "10,000 pages, more than --max-pages 500"
    elif case == "too-big":
        data, reason, extra = b"goal " * 300, "more than --max-bytes 1,024", ["--max-bytes", "1KB"]
    elif case == "bad-pdf":
        data, reason = b"%PDF-1.4\nnothing else", "is not a readable PDF"
    elif case == "zip-bomb":
        data, reason = docx_bytes(["goal"], extra_parts={"word/big.bin": b"\0" * 30_000_000}), "zip bomb"
    elif case == "deep-html":
        data, reason = b"<div>" * 5000 + b"goal", "nests its elements deeper than 512"
    elif case == "binary":
        data, reason = b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "is a PNG image"
    else:
        data, reason = "un café".encode("latin-1"), "is not UTF-8 text (byte 6); convert it to UTF-8"
    path = tmp_path / "doc.bin"
    path.write_bytes(data)
    out = tmp_path / "page.html"
    code, stdout, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(path),
                                "--out", str(out), *extra)
    assert code == 2 and reason in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists() and "Traceback" not in err


def test_max_pages_and_doc_timeout_options(topic_model_dir, tmp_path, capsys):
    path = tmp_path / "three.pdf"
    path.write_bytes(pdf_bytes([["goal"]] * 3))
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(path),
                           "--max-pages", "2")
    assert code == 2 and "3 pages, more than --max-pages 2" in err
    with pytest.raises(SystemExit) as exit_:
        run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(path), "--max-bytes", "lots")
    assert exit_.value.code == 2 and "expected a size like 20MB" in capsys.readouterr().err


def test_doc_timeout_covers_reading_and_drawing(topic_model_dir, tmp_path, capsys, monkeypatch):
    from doclrp.documents import limits as limits_module

    path = tmp_path / "ten.pdf"
    path.write_bytes(pdf_bytes([["goal"]] * 10))
    now = [0.0]

    def clock():
        now[0] += 1.0
        return now[0]

    monkeypatch.setattr(limits_module, "_clock", clock)
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(path),
                           "--doc-timeout", "4", "--out", str(tmp_path / "p.html"))
    assert code == 2 and "reading page 5 of" in err and "took longer than --doc-timeout 4 s" in err
    assert len(err.strip().splitlines()) == 1
    # One budget for reading and drawing: ten pages read within 12 "seconds", the drawing stopped
    # at its third page. Still one line, and no page written.
    now[0] = 0.0
    code, _, err = run_cli(capsys, "explain", "--model", str(topic_model_dir), "--file", str(path),
                           "--doc-timeout", "12", "--out", str(tmp_path / "p.html"))
    assert code == 2 and "drawing page 3 of" in err and "took longer than --doc-timeout 12 s" in err
    assert not (tmp_path / "p.html").exists()
