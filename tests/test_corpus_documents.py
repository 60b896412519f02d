"""Corpus runs over documents as people have them: folders of mixed files (class sub-folders),
JSONL/CSV rows with a ``path``; records keep the source file and a PDF's page and box per word
(JSONL and Parquet); files that cannot be read are skipped records with the reason."""

import json

import pytest

from doclrp.corpus import explain_corpus
from doclrp.corpus.output import read_results, record_to_explanation
from doclrp.corpus.readers import open_corpus
from references import docx_bytes, eml_bytes, pdf_bytes, run_cli


@pytest.fixture
def mixed_folder(tmp_path):
    """sport/ and tech/ with a text, a PDF, a Word file, an HTML page, an e-mail and two bad files."""
    root = tmp_path / "mixed"
    (root / "sport").mkdir(parents=True)
    (root / "tech").mkdir()
    (root / "sport" / "a.txt").write_text("the match ended with a late goal", encoding="utf-8")
    (root / "sport" / "a.pdf").write_bytes(pdf_bytes([["the team won the cup", "final with a goal"]]))
    (root / "sport" / "b.docx").write_bytes(docx_bytes(["a goal in the last minute"]))
    (root / "tech" / "c.html").write_bytes(b"<p>the new phone has a faster <b>chip</b><script>goal()</script>")
    (root / "tech" / "d.eml").write_bytes(eml_bytes("software update", text="for the laptop chip"))
    (root / "tech" / "locked.pdf").write_bytes(pdf_bytes([["secret chip"]], encrypted=True))
    (root / "tech" / "scan.pdf").write_bytes(pdf_bytes([[]]))
    (root / "tech" / ".hidden.pdf").write_bytes(b"junk")
    (root / "tech" / "notes.xlsx").write_bytes(b"PK junk")
    return root


def test_folder_of_mixed_files_reads_every_document_kind(mixed_folder):
    records = list(open_corpus(mixed_folder))
    assert [(r.id, r.label) for r in records] == [
        ("sport/a.pdf", "sport"), ("sport/a", "sport"), ("sport/b.docx", "sport"), ("tech/c.html", "tech"),
        ("tech/d.eml", "tech"), ("tech/locked.pdf", "tech"), ("tech/scan.pdf", "tech")]
    assert records[1].text and records[1].source is None
    assert records[0].text == "" and records[0].source.endswith("sport/a.pdf")


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_records_keep_source_and_pdf_words_page_and_box(suffix, mixed_folder, topic_model_dir, tmp_path):
    out = tmp_path / f"results{suffix}"
    if suffix == ".parquet":
        pytest.importorskip("pyarrow")
    report = explain_corpus(topic_model_dir, mixed_folder, out, progress=False)
    assert report.explained == 5 and sum(report.skipped.values()) == 2
    records = {r["id"]: r for r in read_results(out)}
    assert records["tech/locked.pdf"]["skipped"] == "locked.pdf is an encrypted PDF: save it without a password first"
    assert "has no text layer" in records["tech/scan.pdf"]["skipped"]
    assert records["tech/locked.pdf"]["source"].endswith("locked.pdf")
    pdf = records["sport/a.pdf"]
    assert pdf["source"].endswith("sport/a.pdf") and pdf["text"] == "the team won the cup\nfinal with a goal"
    layout = pdf["layout"]
    assert len(layout["page"]) == len(pdf["words"]) and set(layout["page"]) == {0}
    assert all(0 <= b[0] < b[2] <= 1 and 0 <= b[1] < b[3] <= 1 for b in layout["box"])
    explanation = record_to_explanation(pdf)
    assert explanation.layout.boxes_on(0)[0][0] == 0 and explanation.layout.source == "a.pdf"
    html = records["tech/c.html"]
    assert html["layout"] is None and "goal()" not in html["text"] and html["source"].endswith("c.html")
    assert records["sport/a"]["source"] is None and records["sport/a"]["layout"] is None


def test_jsonl_and_csv_rows_with_a_path(mixed_folder, topic_model_dir, tmp_path):
    rows = [{"id": "p", "path": "mixed/sport/a.pdf", "label": "sport"},
            {"id": "t", "text": "the new phone chip", "label": "tech"},
            {"id": "gone", "path": "mixed/nowhere.pdf", "label": "tech"}]
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    csv_corpus = tmp_path / "corpus.csv"
    csv_corpus.write_text("id,path,label\np,mixed/sport/b.docx,sport\n", encoding="utf-8")
    assert [r.source for r in open_corpus(csv_corpus)] == [str(tmp_path / "mixed/sport/b.docx")]
    out = tmp_path / "results.jsonl"
    explain_corpus(topic_model_dir, corpus, out, progress=False)
    records = {r["id"]: r for r in read_results(out)}
    assert records["p"]["layout"] is not None and records["t"]["source"] is None
    assert records["gone"]["skipped"].startswith("no such file")


def test_command_line_corpus_over_documents_with_bounds(mixed_folder, topic_model_dir, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    bound = (mixed_folder / "sport" / "a.pdf").stat().st_size - 1
    assert (mixed_folder / "tech" / "c.html").stat().st_size < bound
    code, stdout, err = run_cli(capsys, "corpus", "--model", str(topic_model_dir), "--input", str(mixed_folder),
                                "--out", str(out), "--max-bytes", str(bound), "--quiet")
    assert code == 0, err
    records = {r["id"]: r for r in read_results(out)}
    assert f"more than --max-bytes {bound:,}" in records["sport/a.pdf"]["skipped"]
    assert records["tech/c.html"]["skipped"] is None


def test_report_document_pages_show_page_views(mixed_folder, topic_model_dir, tmp_path):
    from doclrp.corpus import summarize

    out = tmp_path / "results.jsonl"
    explain_corpus(topic_model_dir, mixed_folder, out, progress=False)
    summarize(out, tmp_path / "report", pages=5, min_df=1, progress=False)
    pages = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "report" / "docs").iterdir()}
    pdf_page = next(text for name, text in pages.items() if "a.pdf" in name)
    assert 'class="pageview"' in pdf_page and pdf_page.count("data:image/png;base64,") == 1
    assert 'id="pick-1"' in pdf_page  # the class switch recolours the boxes too
    other = next(text for name, text in pages.items() if "c.html" in name)
    assert 'class="pageview"' not in other
    # The file gone: the page shows the text alone.
    (mixed_folder / "sport" / "a.pdf").unlink()
    summarize(out, tmp_path / "report2", pages=5, min_df=1, progress=False)
    again = next(p.read_text(encoding="utf-8") for p in (tmp_path / "report2" / "docs").iterdir() if "a.pdf" in p.name)
    assert 'class="pageview"' not in again and "the team won the cup" in again
