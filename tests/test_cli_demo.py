"""`doclrp demo` end to end on CPU with the shipped model: an index and one page per BBC type."""

from html.parser import HTMLParser

from doclrp.cli import main
from doclrp.models.loading import load_model, pretrained_path

TYPES = {"business", "entertainment", "politics", "sports", "tech"}


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.spans_with_value = [], 0

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "a" and attrs.get("href", "").endswith(".html"):
            self.links.append(attrs["href"])
        if tag == "span" and attrs.get("title"):
            self.spans_with_value += 1


def test_shipped_model_is_the_documented_one():
    pipeline = load_model(pretrained_path())
    assert set(pipeline.labels) == TYPES
    assert pipeline.metrics["test_accuracy"] >= 0.95


def test_demo_writes_index_and_a_highlighted_page_per_type(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert str(out / "index.html") in printed
    index = _Links()
    index.feed((out / "index.html").read_text(encoding="utf-8"))
    pages = sorted(set(index.links))
    assert len(pages) == 5
    assert {page.split("-")[0] for page in pages} == TYPES
    for page in pages:
        parsed = _Links()
        parsed.feed((out / page).read_text(encoding="utf-8"))
        assert parsed.spans_with_value > 50        # every word is a highlighted span with its value
    for label in TYPES:
        assert f"true {label}" in printed


def test_demo_output_folder_is_replaced_whole(tmp_path, capsys):
    out = tmp_path / "demo"
    out.mkdir()
    (out / "stale.html").write_text("old", encoding="utf-8")
    assert main(["demo", "--out", str(out)]) == 0
    assert not (out / "stale.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".demo")]
