"""The web app's upload (``POST /api/upload``): a PDF, Word, HTML, e-mail or text file explained
as its text, a PDF's pages drawn with every word's page and box; bounded by --max-bytes (before
the body is parsed) and --max-pages; bad files one line; the export afterwards as today."""

import json

import pytest

pytest.importorskip("fastapi", reason="doclrp serve needs the serve extra: pip install 'doclrp[serve]'")
pytest.importorskip("multipart", reason="uploads need python-multipart (the serve extra)")

from fastapi.testclient import TestClient  # noqa: E402

from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline  # noqa: E402
from doclrp.serve import create_app  # noqa: E402
from doclrp.serve.state import Limits  # noqa: E402
from references import docx_bytes, eml_bytes, pdf_bytes  # noqa: E402

BASE = "http://127.0.0.1:8000"


@pytest.fixture(scope="module")
def client():
    encoder = IdEncoder.fit(["the late goal won the match", "the new phone chip"])
    pipe = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["sport", "tech"])
    app = create_app(models={"tiny": pipe}, digits=False, limits=Limits(max_bytes=50_000, max_pages=3))
    return TestClient(app, base_url=BASE)


def upload(client, name, data, **request):
    return client.post("/api/upload", files={"file": (name, data, "application/octet-stream")},
                       data={"request": json.dumps({"model": "tiny", "target": "sport", **request})})


def test_pdf_upload_gives_words_with_boxes_and_pages(client):
    reply = upload(client, "match.pdf", pdf_bytes([["the late goal", "won the match"], ["the new phone"]]))
    assert reply.status_code == 200, reply.text
    data = reply.json()
    assert data["document"] == {"name": "match.pdf", "kind": "pdf", "pages": 2, "attachments": [], "notes": []}
    assert data["text"] == "the late goal\nwon the match\n\nthe new phone"
    assert [p["page"] for p in data["pages"]] == [0, 1]
    assert data["pages"][0]["src"].startswith("data:image/png;base64,")
    assert all(0 <= w["box"][0] < w["box"][2] <= 1 for w in data["words"]) and data["words"][-1]["page"] == 1
    assert data["target"]["name"] == "sport"
    # Export as today: the text of the upload, answered from the kept explanation.
    export = client.post("/api/export", json={"text": data["text"], "model": "tiny", "target": "sport",
                                              "format": "json"})
    assert export.status_code == 200 and json.loads(export.content)["text"] == data["text"]


@pytest.mark.parametrize("name, data, kind", [
    ("letter.docx", docx_bytes(["the late goal"]), "docx"),
    ("page.html", b"<p>the new <b>phone</b><script>goal()</script>", "html"),
    ("mail.eml", eml_bytes("goal", text="the match", attachments=[("x.pdf", b"%PDF")]), "email"),
    ("note.txt", "the match".encode("utf-16"), "text"),
])
def test_other_kinds_upload_without_pages(client, name, data, kind):
    reply = upload(client, name, data)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert body["document"]["kind"] == kind and body["pages"] == [] and "box" not in body["words"][0] or \
        body["words"][0]["box"] is None
    assert "goal()" not in body["text"]


@pytest.mark.parametrize("case, status, message", [
    ("too-big", 413, "request body over"),
    ("over-max-bytes", 413, "big.txt is over --max-bytes 50,000 bytes"),
    ("too-many-pages", 422, "4 pages, more than --max-pages 3"),
    ("encrypted", 422, "is an encrypted PDF"),
    ("scanned", 422, "has no text layer"),
    ("binary", 422, "is a PNG image"),
    ("no-file", 422, "no file in the form"),
    ("bad-request", 422, "must be a JSON object"),
    ("unknown-field", 422, "not an explain request"),
])
def test_bad_uploads_are_one_line(client, case, status, message):
    if case == "too-big":
        reply = upload(client, "big.txt", b"goal " * 30_000)
    elif case == "over-max-bytes":  # within the form's room, but the file itself is over the bound
        reply = upload(client, "big.txt", b"goal " * 12_000)
    elif case == "too-many-pages":
        reply = upload(client, "long.pdf", pdf_bytes([["goal"]] * 4))
    elif case == "encrypted":
        reply = upload(client, "locked.pdf", pdf_bytes([["goal"]], encrypted=True))
    elif case == "scanned":
        reply = upload(client, "scan.pdf", pdf_bytes([[]]))
    elif case == "binary":
        reply = upload(client, "photo.jpg", b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    elif case == "no-file":
        reply = client.post("/api/upload", data={"request": "{}"}, files={"other": ("a", b"b")})
    elif case == "bad-request":
        reply = client.post("/api/upload", files={"file": ("a.txt", b"goal")}, data={"request": "[1]"})
    else:
        reply = upload(client, "a.txt", b"goal", colour="red")
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert message in error and "\n" not in error


def test_upload_body_bound_holds_without_a_content_length(client):
    def chunks():
        yield b"--x\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.txt\"\r\n\r\n"
        yield b"goal " * 100
        yield b"\r\n--x--\r\n"

    reply = client.post("/api/upload", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=x"})
    assert reply.status_code == 411
