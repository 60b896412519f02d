"""Documents as files: a 100-page PDF read, explained and drawn, against its text explained as plain text.

A PDF of BBC articles (Helvetica 10 pt, about 50 lines a page), written by PDFium itself
(``pypdfium2``: standard font, one text object per line), is

* **read**: ``doclrp.documents.read_source`` (text layer in reading order, each character's
  box, hyphenated line ends joined);
* **explained**: ``explain`` of its text by the shipped BBC CNN and the words' pages and boxes
  attached (``SourceText.attach``), against ``explain`` of the same text given as plain text
  (and, for scale, with gradient × input);
* **drawn**: every page rendered by PDFium at the page view's resolution (1000 px wide, JPEG),
  and the HTML page with the page view (``to_html(..., pages=…)``, the first 50 pages).

Times are medians of ``--repeats`` interleaved rounds (each round runs every stage once). Peak
memory (resident set, MiB above the loaded model and spaCy) is measured in fresh processes,
one for the whole file path (read, explain, attach, draw, page) and one for the plain text
(read from a text file, explain, page).

    python benchmarks/documents.py [--pages 100] [--repeats 3] [--out FILE]

Results: printed, and written to ``benchmarks/results/documents.json`` (or ``--out``).
"""

from __future__ import annotations

import argparse
import ctypes
import io
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

from measure import add_out_argument, median_seconds, results_path, write_results

LINES_PER_PAGE = 50


def _rss_mib() -> float:
    """This process's peak resident memory (MiB): VmHWM of its own memory map. Not ``ru_maxrss``,
    which a child started by ``subprocess`` inherits from its parent's peak (fork keeps it)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def article_lines(pages: int, width: int = 95) -> list[list[str]]:
    """BBC articles wrapped at ``width`` characters, ``LINES_PER_PAGE`` lines a page."""
    import textwrap

    from doclrp.corpus import read_bbc

    lines: list[str] = []
    for record in read_bbc():
        for paragraph in record.text.split("\n"):
            lines.extend(textwrap.wrap(paragraph, width) + [""])
        if len(lines) >= pages * LINES_PER_PAGE:
            break
    return [lines[i:i + LINES_PER_PAGE] for i in range(0, pages * LINES_PER_PAGE, LINES_PER_PAGE)]


def write_pdf(pages: list[list[str]]) -> bytes:
    """A PDF of ``pages`` (lists of lines) written by PDFium: Helvetica 10 pt, one text object a line."""
    import pypdfium2
    import pypdfium2.raw as pdfium_c

    pdf = pypdfium2.PdfDocument.new()
    font = pdfium_c.FPDFText_LoadStandardFont(pdf, b"Helvetica")
    for lines in pages:
        page = pdfium_c.FPDFPage_New(pdf, pdfium_c.FPDF_GetPageCount(pdf), 612, 792)
        for n, line in enumerate(lines):
            if not line:
                continue
            text = pdfium_c.FPDFPageObj_CreateTextObj(pdf, font, ctypes.c_float(10))
            encoded = (line + "\0").encode("utf-16-le")
            pdfium_c.FPDFText_SetText(text, ctypes.cast(ctypes.create_string_buffer(encoded, len(encoded)),
                                                        ctypes.POINTER(pdfium_c.FPDF_WCHAR)))
            pdfium_c.FPDFPageObj_Transform(text, 1, 0, 0, 1, 60, 740 - n * 13.5)
            pdfium_c.FPDFPage_InsertObject(page, text)
        pdfium_c.FPDFPage_GenerateContent(page)
        pdfium_c.FPDF_ClosePage(page)
    buffer = io.BytesIO()
    pdf.save(buffer)
    pdf.close()
    return buffer.getvalue()


def _model():
    from doclrp import explain, load_model, pretrained_path
    from doclrp.text import load_spacy

    pipeline = load_model(pretrained_path())
    load_spacy()
    explain(pipeline, "Warm up the model and spaCy once.")
    return pipeline


def measure_memory(mode: str, path: str) -> dict:
    """Peak resident memory that one path adds to a process holding the model and spaCy (called
    in a child process): ``file`` reads the PDF, explains, attaches, draws and writes the page;
    ``plain`` reads the same text from a text file, explains and writes the page."""
    from doclrp import explain
    from doclrp.documents import read_source, render_pages
    from doclrp.render import to_html
    from doclrp.render.pages import PAGE_VIEW_PAGES

    pipeline = _model()
    before = _rss_mib()
    if mode == "file":
        source = read_source(path)
        explanation = source.attach(explain(pipeline, source.text))
        to_html(explanation, pages=render_pages(source.data, pages=range(min(source.pages, PAGE_VIEW_PAGES))))
    else:
        to_html(explain(pipeline, Path(path).read_text(encoding="utf-8")))
    return {"mode": mode, "peak_memory_added_mib": _rss_mib() - before}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=100, help="pages of the PDF (default 100)")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds (default 3)")
    parser.add_argument("--memory", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    add_out_argument(parser, __file__)
    args = parser.parse_args()
    if args.memory:
        print(json.dumps(measure_memory(*args.memory)))
        return

    from doclrp import explain
    from doclrp.documents import read_source, render_pages
    from doclrp.render import to_html
    from doclrp.render.pages import PAGE_VIEW_PAGES

    pipeline, data = _model(), write_pdf(article_lines(args.pages))
    source = read_source(data, name="bench.pdf")
    text = source.text
    explanation = source.attach(explain(pipeline, text))
    drawn = render_pages(data, pages=range(min(args.pages, PAGE_VIEW_PAGES)))
    calls = {
        "read": lambda: read_source(data, name="bench.pdf"),
        "explain_plain_text": lambda: explain(pipeline, text),
        "explain_gradient_x_input": lambda: explain(pipeline, text, method="gradient-x-input"),
        "explain_and_attach": lambda: source.attach(explain(pipeline, text)),
        "draw_pages": lambda: render_pages(data),
        "page_html": lambda: to_html(explanation, pages=drawn),
    }
    seconds = median_seconds(calls, "cpu", args.repeats)
    file_path = seconds["read"] + seconds["explain_and_attach"]
    memory = {}
    with tempfile.TemporaryDirectory() as folder:
        paths = {"file": Path(folder) / "bench.pdf", "plain": Path(folder) / "bench.txt"}
        paths["file"].write_bytes(data)
        paths["plain"].write_text(text, encoding="utf-8")
        for mode, path in paths.items():
            child = subprocess.run([sys.executable, __file__, "--memory", mode, str(path)],
                                   capture_output=True, text=True, check=True, cwd=Path(__file__).parent)
            memory[mode] = json.loads(child.stdout.strip().splitlines()[-1])["peak_memory_added_mib"]
    results = {
        "pages": args.pages, "bytes": len(data), "characters": len(text), "words": len(explanation.words),
        "seconds": seconds,
        "pages_per_second": {name: args.pages / value for name, value in seconds.items() if name != "page_html"},
        "read_and_explain_vs_plain_text": file_path / seconds["explain_plain_text"],
        "plain_text_vs_gradient_x_input": seconds["explain_plain_text"] / seconds["explain_gradient_x_input"],
        "page_html_bytes": len(to_html(explanation, pages=drawn).encode("utf-8")),
        "page_view_pages": len(drawn),
        "peak_memory_added_mib": memory,
    }
    print(f"{args.pages}-page PDF: {len(data) / 1e6:.2f} MB, {len(text):,} characters, {len(explanation.words):,} words")
    for name, value in seconds.items():
        rate = f"{args.pages / value:8.1f} pages/s" if name != "page_html" else ""
        print(f"  {name:26s} {value:8.2f} s {rate}")
    print(f"  read + explain + attach vs plain text: {results['read_and_explain_vs_plain_text']:.2f}×; "
          f"plain-text explanation vs gradient × input: {results['plain_text_vs_gradient_x_input']:.2f}×")
    print(f"  page with {len(drawn)} page images: {results['page_html_bytes'] / 1e6:.1f} MB; peak memory added: "
          f"file path {memory['file']:.0f} MiB, plain text {memory['plain']:.0f} MiB")
    write_results(results_path(args, __file__), __file__, args, results)


if __name__ == "__main__":
    main()
