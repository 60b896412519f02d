"""Reading documents (doclrp.documents): PDF text with pages and boxes, Word, HTML, e-mail and text,
the kind found from the content, and every bound and hostile file: one line, nothing run."""

import io
import zipfile

import numpy as np
import pytest

from doclrp.documents import Limits, detect_kind, read_source, render_pages
from doclrp.documents import limits as limits_module
from doclrp.documents.pdf import iter_page_images
from doclrp.errors import DoclrpError
from references import docx_bytes, eml_bytes, pdf_bytes

#: Share of a word box's pixels that must be ink when the page is drawn (text, not background).
INK_IN_BOX = 0.05


def words_of(source, *words):
    """(start, end) of each word's first occurrence in the text."""
    spans = []
    for word in words:
        start = source.text.index(word)
        spans.append((start, start + len(word)))
    return spans


# -- PDF --------------------------------------------------------------------------------------
def test_pdf_text_in_reading_order_with_pages_lines_and_paragraphs():
    data = pdf_bytes([["Quarterly report of the board.", "Sales rose in March.", "", "", "Costs fell."],
                      ["Second page: the outlook."]])
    source = read_source(data, name="report.pdf")
    assert source.kind == "pdf" and source.pages == 2 and source.notes == []
    assert source.text == ("Quarterly report of the board.\nSales rose in March.\n\nCosts fell.\n\n"
                           "Second page: the outlook.")
    layout = source.word_layout(words_of(source, "Quarterly", "Costs", "outlook"))
    assert layout.page.tolist() == [0, 0, 1]
    assert layout.page_sizes == [(612.0, 792.0), (612.0, 792.0)]
    # "Quarterly" stands at x = 72 pt, its baseline 72 pt below the top of a 612 × 792 pt page.
    x0, y0, x1, y1 = layout.box[0].tolist()
    assert x0 == pytest.approx(72 / 612, abs=0.01) and y0 < 72 / 792 < y1 and x1 > x0
    # Boxes go down the page as the lines do.
    assert layout.box[1, 1] > layout.box[0, 3]


def test_pdf_every_word_box_covers_its_ink_on_the_drawn_page():
    data = pdf_bytes([[(80, 700, "Alpha beta"), (300, 400, "gamma delta"), (90, 90, "epsilon")]])
    source = read_source(data, name="a.pdf")
    words = ["Alpha", "beta", "gamma", "delta", "epsilon"]
    layout = source.word_layout(words_of(source, *words))
    image = np.asarray(next(iter_page_images(data, encode=False)).convert("L"))
    height, width = image.shape
    covered = np.zeros_like(image, dtype=bool)
    for box in layout.box:
        x0, y0, x1, y1 = (box * [width, height, width, height]).round().astype(int)
        covered[y0:y1 + 1, x0:x1 + 1] = True
        assert (image[y0:y1 + 1, x0:x1 + 1] < 128).mean() > INK_IN_BOX
    ink = image < 128
    assert ink[covered].sum() / ink.sum() > 0.97  # the boxes hold the text's ink


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_pdf_boxes_follow_a_rotated_page(rotation):
    data = pdf_bytes([[(80, 700, "Alpha"), (300, 100, "omega")]], rotate=rotation)
    source = read_source(data, name="turned.pdf")
    layout = source.word_layout(words_of(source, "Alpha", "omega"))
    assert layout.page_sizes == [(792.0, 612.0)] if rotation != 180 else [(612.0, 792.0)]
    image = np.asarray(next(iter_page_images(data, encode=False)).convert("L"))
    height, width = image.shape
    for box in layout.box:
        x0, y0, x1, y1 = (box * [width, height, width, height]).round().astype(int)
        assert (image[y0:y1 + 1, x0:x1 + 1] < 128).mean() > INK_IN_BOX


def test_pdf_hyphenated_line_end_joined_with_exact_offsets_and_a_box_per_line():
    data = pdf_bytes([["The board approved the docu-", "ment yesterday."]])
    source = read_source(data, name="a.pdf")
    assert source.text == "The board approved the document yesterday."
    (start, end), = words_of(source, "document")
    layout = source.word_layout([(start, end)])
    parts = layout.boxes_on(0)
    assert len(parts) == 2 and parts[0][1][1] < parts[1][1][1]  # "docu" above "ment"
    # Every character of the word keeps its own place: the offsets are exact.
    assert (source.chars.page[start:end] == 0).all()
    assert len(set(source.chars.line[start:end].tolist())) == 2


def test_pdf_with_javascript_and_open_action_is_read_and_drawn_without_a_form_environment(monkeypatch):
    import pypdfium2

    def refuse(*args, **kwargs):
        raise AssertionError("a form environment was initialised")

    monkeypatch.setattr(pypdfium2.PdfDocument, "init_forms", refuse)
    data = pdf_bytes([["Nothing here runs."]], javascript=True)
    assert b"/OpenAction" in data and b"/JavaScript" in data
    source = read_source(data, name="hostile.pdf")
    assert source.text == "Nothing here runs."
    images = render_pages(data, "hostile.pdf")
    assert len(images) == 1 and images[0].data[:8] == b"\x89PNG\r\n\x1a\n" and images[0].mime == "image/png"


def test_pdf_pages_are_drawn_at_a_bounded_resolution():
    data = pdf_bytes([["Tiny page."]], size=(100, 50))
    assert [(i.width, i.height) for i in render_pages(data)] == [(200, 100)]  # at most 2 px a point
    big = pdf_bytes([["A poster."]], size=(5000, 3000))
    image, = render_pages(big, max_width=800)
    assert image.width == 800 and image.height == 480


def test_pdf_page_without_text_is_noted_and_a_scan_without_text_refused():
    source = read_source(pdf_bytes([["Words."], [], ["More words."]]), name="a.pdf")
    assert source.notes == ["no text on page(s) 2 (scanned?)"] and source.pages == 3
    with pytest.raises(DoclrpError, match=r"^scan\.pdf has no text layer on any of its 2 page\(s\) \(a scanned "
                                          r"document\?\): doclrp reads the text a PDF carries and does no OCR$"):
        read_source(pdf_bytes([[], []]), name="scan.pdf")


def test_encrypted_pdf_is_one_line():
    with pytest.raises(DoclrpError, match=r"^locked\.pdf is an encrypted PDF: save it without a password first$"):
        read_source(pdf_bytes([["Secret."]], encrypted=True), name="locked.pdf")


def test_ten_thousand_page_pdf_refused_by_its_page_count_before_pages_are_read(monkeypatch):
    data = pdf_bytes([["Page."]], shared_pages=10_000)
    seen = []
    import doclrp.documents.pdf as pdf_module
    real = pdf_module._page_chars
    monkeypatch.setattr(pdf_module, "_page_chars", lambda page: seen.append(1) or real(page))
    with pytest.raises(DoclrpError, match=r"^big\.pdf has 10,000 pages, more than --max-pages 500: split it or "
                                          r"raise the limit$"):
        read_source(data, name="big.pdf")
    assert seen == []
    assert read_source(pdf_bytes([["Page."]] * 3), name="ok.pdf", limits=Limits(max_pages=3)).pages == 3


def test_pdf_whose_page_tree_claims_ten_thousand_pages():
    data = pdf_bytes([["Only one page."]], count=10_000)
    try:
        source = read_source(data, name="liar.pdf")
    except DoclrpError as error:  # refused by the count it claims: one line
        assert "10,000 pages" in str(error) or "not a readable PDF" in str(error)
    else:  # or PDFium counts the pages there are
        assert source.pages < 10_000 and "Only one page." in source.text


@pytest.mark.parametrize("data, reason", [
    (b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF", "not a readable PDF"),
    (b"%PDF-1.7", "not a readable PDF"),
    (pdf_bytes([["Cut short."]])[:200], "not a readable PDF"),
])
def test_malformed_pdf_is_one_line(data, reason):
    with pytest.raises(DoclrpError, match=reason) as error:
        read_source(data, name="bad.pdf")
    assert "\n" not in str(error.value)


def test_reading_stops_at_the_doc_timeout_between_pages(monkeypatch):
    now = [0.0]

    def clock():
        now[0] += 1.0  # each look at the clock: a second later
        return now[0]

    monkeypatch.setattr(limits_module, "_clock", clock)
    with pytest.raises(DoclrpError, match=r"reading page \d+ of slow\.pdf took longer than --doc-timeout 3 s"):
        read_source(pdf_bytes([["Page."]] * 10), name="slow.pdf", limits=Limits(timeout=3))


def test_file_over_max_bytes_is_refused_before_it_is_read(tmp_path, monkeypatch):
    path = tmp_path / "big.txt"
    path.write_bytes(b"word " * 1000)
    monkeypatch.setattr("builtins.open", lambda *a, **k: pytest.fail("the file was opened"))
    with pytest.raises(DoclrpError, match=r"big\.txt has 5,000 bytes, more than --max-bytes 4,096: raise the limit"):
        read_source(path, name="big.txt", limits=Limits(max_bytes=4096))


def test_special_files_and_missing_files_are_one_line(tmp_path):
    with pytest.raises(DoclrpError, match="is not a regular file"):
        read_source(tmp_path)
    with pytest.raises(DoclrpError, match="^no such file"):
        read_source(tmp_path / "gone.pdf")


# -- Word -----------------------------------------------------------------------------------
def test_docx_paragraphs_tables_cell_by_cell_headers_and_footers_in_order():
    data = docx_bytes(["Invoice 42", "Dear customer,\tthank you.", [["Item", "Price"], ["Chair", "120 €"]],
                       "Pay within 30 days."], headers=["ACME Ltd"], footers=["Page 1"])
    source = read_source(data, name="invoice.docx")
    assert source.kind == "docx"
    assert source.text == ("ACME Ltd\n\nInvoice 42\n\nDear customer,\tthank you.\n\nItem\nPrice\nChair\n120 €"
                           "\n\nPay within 30 days.\n\nPage 1")


def test_docx_macros_are_never_read():
    data = docx_bytes(["Quarterly figures."], extra_parts={"word/vbaProject.bin": b"\xd0\xcf\x11\xe0 macro"})
    assert read_source(data, name="a.docm").text == "Quarterly figures."


def test_docx_zip_bomb_refused_by_its_directory_before_any_part_is_read(monkeypatch):
    bomb = docx_bytes(["Hi."], extra_parts={"word/media/zeros.bin": b"\0" * (50 * 1024 * 1024)})
    assert len(bomb) < 200_000
    monkeypatch.setattr(zipfile.ZipFile, "open", lambda *a, **k: pytest.fail("a part was read"))
    with pytest.raises(DoclrpError, match=r"zeros\.bin' unzips to 52,428,800 bytes from .* refused as a zip bomb"):
        read_source(bomb, name="bomb.docx")


def test_docx_total_unzipped_size_is_capped():
    data = docx_bytes(["Some text."] * 50)
    with pytest.raises(DoclrpError, match=r"unzips to [\d,]+ bytes, more than 1,000: refused as a zip bomb"):
        read_source(data, name="a.docx", limits=Limits(max_unzipped=1000))


def test_docx_part_that_unzips_to_more_than_its_directory_says_is_refused():
    data = bytearray(docx_bytes(["A long paragraph of text. " * 40000], compression=zipfile.ZIP_DEFLATED))
    # Shrink the recorded size of word/document.xml in the central directory: the stream is longer.
    archive = zipfile.ZipFile(io.BytesIO(bytes(data)))
    info = archive.getinfo("word/document.xml")
    assert info.file_size > 1_000_000
    central = bytes(data).rindex(b"PK\x01\x02", 0, bytes(data).index(b"word/document.xml", len(data) // 2))
    size_at = central + 24  # uncompressed size in a central directory header
    assert int.from_bytes(data[size_at:size_at + 4], "little") == info.file_size
    data[size_at:size_at + 4] = (1000).to_bytes(4, "little")
    with pytest.raises(DoclrpError, match="refused as a zip bomb|cannot be unzipped"):
        read_source(bytes(data), name="liar.docx", limits=Limits(max_ratio=2))


@pytest.mark.parametrize("case", ["broken-zip", "not-word", "bad-xml", "doctype"])
def test_malformed_word_files_are_one_line(case):
    if case == "broken-zip":
        data, reason = b"PK\x03\x04" + b"\0" * 100, "not a readable Word file"
    elif case == "not-word":
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("photo.jpg", b"...")
        data, reason = buffer.getvalue(), "without word/document.xml: not a Word .docx file"
    else:
        document = ('<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>'
                    '<w:p><w:r><w:t>unclosed</w:body></w:document>')
        reason = "malformed XML"
        if case == "doctype":
            document = ('<?xml version="1.0"?><!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>'
                        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                        '<w:body><w:p><w:r><w:t>&b;</w:t></w:r></w:p></w:body></w:document>')
            reason = "document type declaration"
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("word/document.xml", document)
        data = buffer.getvalue()
    with pytest.raises(DoclrpError, match=reason) as error:
        read_source(data, name="bad.docx")
    assert "\n" not in str(error.value)


# -- HTML -----------------------------------------------------------------------------------
def test_html_visible_text_only_blocks_as_paragraphs_entities_decoded():
    page = """<!DOCTYPE html><html><head><title>Not shown</title><style>p{color:red}</style>
    <script>document.write("no")</script></head><body>
    <h1>Match   report</h1><!-- a comment -->
    <p>United won 2&ndash;1 &amp; stay top.<br>Next: Saturday.
    <p>Second paragraph<span hidden>secret</span><span aria-hidden="true">icon</span>
    <span style="display: none">gone</span><span style="color: red">kept</span>
    <template><p>template</p></template><noscript>enable js</noscript>
    <ul><li>one<li>two</ul><table><tr><td>a<td>b<tr><td>c<td>d</table>
    <pre>  keep   this
  spacing</pre><img src="http://example.invalid/x.png" alt="picture">
    </body></html>"""
    source = read_source(page.encode(), name="match.html")
    assert source.kind == "html"
    assert source.text == ("Match report\n\nUnited won 2–1 & stay top.\nNext: Saturday.\n\nSecond paragraph kept"
                           "\n\none\ntwo\n\na\tb\nc\td\n\n  keep   this\n  spacing")


def test_html_hidden_paragraph_left_open_hides_only_itself():
    source = read_source(b"<div><p hidden>secret<p>shown<li>item</div><p>after", name="a.html")
    assert source.text == "shown\n\nitem\n\nafter"


def test_html_nesting_deeper_than_the_bound_is_refused_quickly():
    deep = ("<div>" * 100_000 + "deep" + "</div>" * 100_000).encode()
    with pytest.raises(DoclrpError, match=r"deep\.html nests its elements deeper than 512: refused"):
        read_source(deep, name="deep.html")
    shallow = ("<div>" * 400 + "fine" + "</div>" * 400).encode()
    assert read_source(shallow, name="ok.html").text == "fine"


def test_html_without_visible_text_and_in_another_charset():
    with pytest.raises(DoclrpError, match="without visible text"):
        read_source(b"<html><script>x()</script></html>", name="empty.html")
    latin = '<html><head><meta charset="iso-8859-1"></head><body>Café</body></html>'.encode("latin-1")
    assert read_source(latin, name="latin.html").text == "Café"


# -- e-mail ---------------------------------------------------------------------------------
def test_email_subject_and_text_body_attachments_listed_not_read():
    data = eml_bytes("Invoice overdue", text="Please pay invoice 42.\n", html="<p>HTML copy</p>",
                     attachments=[("invoice.pdf", b"%PDF-1.4 secret words")])
    source = read_source(data, name="mail.eml")
    assert source.kind == "email" and source.text == "Invoice overdue\n\nPlease pay invoice 42."
    assert source.attachments == ["invoice.pdf"] and "secret" not in source.text
    assert source.notes == ["1 attachment(s) listed, not read"]


def test_email_html_body_through_the_html_reader():
    data = eml_bytes("Newsletter", html="<p>Big <b>sale</b><script>x()</script></p><p>Today</p>")
    assert read_source(data, name="news.eml").text == "Newsletter\n\nBig sale\n\nToday"


def test_email_without_subject_or_text_is_one_line():
    with pytest.raises(DoclrpError, match="without a subject or text"):
        read_source(b"From: a@b.c\nTo: d@e.f\n\n", name="blank.eml")


# -- plain text and the kind ------------------------------------------------------------------
@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "utf-16-le", "utf-16-be"])
def test_plain_text_encodings(encoding):
    data = "Grüße aus Köln.".encode(encoding)
    if encoding in ("utf-16-le", "utf-16-be"):  # with its byte order mark
        data = "\ufeffGrüße aus Köln.".encode(encoding)
    assert read_source(data, name="a.txt").text == "Grüße aus Köln."


def test_text_in_another_encoding_is_one_line():
    with pytest.raises(DoclrpError, match=r"^latin\.txt is not UTF-8 text \(byte 3\); convert it to UTF-8$"):
        read_source("café".encode("latin-1"), name="latin.txt")


def test_the_kind_comes_from_the_content_not_the_name():
    assert read_source(pdf_bytes([["Really a PDF."]]), name="notes.txt").kind == "pdf"
    assert read_source(b"Really text.", name="report.pdf").kind == "text"
    assert read_source(docx_bytes(["Really Word."]), name="a.zip").kind == "docx"
    assert detect_kind(b"From: a@b.c\nSubject: hi\n\nbody") == "email"
    assert detect_kind(b"Subject: one header only\n\nbody", ".eml") == "email"
    assert detect_kind(b"Subject: one header only\n\nbody", ".txt") == "text"
    assert detect_kind(b"  <!doctype HTML><p>x") == "html"
    with pytest.raises(DoclrpError, match=r"^photo\.pdf is a PNG image: doclrp reads text and does no OCR"):
        read_source(b"\x89PNG\r\n\x1a\n....", name="photo.pdf")
    with pytest.raises(DoclrpError, match=r"old Office file .* save it as \.docx or \.eml"):
        read_source(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, name="old.doc")


def test_pages_of_print_are_small_pngs_and_pages_with_pictures_jpegs():
    from PIL import Image

    from doclrp.documents.pdf import _encoded

    print_page, = render_pages(pdf_bytes([["A page of print only."] * 30]))
    assert print_page.mime == "image/png" and len(print_page.data) < 120_000
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (300, 200, 3), dtype=np.uint8))
    photo = _encoded(0, noise, 80)
    assert photo.mime == "image/jpeg" and photo.data[:3] == b"\xff\xd8\xff" and (photo.width, photo.height) == (200, 300)
