"""The report folder of corpus results (``doclrp corpus summarize``): :func:`summarize` writes
index.html, the linked document pages, words.csv and summary.json from the statistics of
:mod:`doclrp.corpus.summary`, and the class switch loads the run's model to re-explain them.

>>> import tempfile, pathlib
>>> from doclrp.corpus.output import open_results_writer, run_header, skipped_record
>>> folder = pathlib.Path(tempfile.mkdtemp())
>>> header = run_header(model_sha256="ab12", method={"name": "zero", "params": {}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(folder / "r.jsonl", header) as writer:
...     writer.write_batch([skipped_record("a", "pos", "empty document")])
...     _ = writer.finish()
>>> summarize(folder / "r.jsonl", folder / "report", progress=False).report.name
'index.html'

Class switch: a record holds one target, so :func:`summarize` re-explains the documents it
links (and only those) for every class and ``X-vs-rest`` with
:func:`doclrp._explain.explain_targets` (the run's method, parameters and target, from the
results' header) when the run's model is at hand: its folder named in the header, or the one
given, with the fingerprint the header records. Otherwise the pages show the explained
target alone and the report says why, in one line.
"""

from __future__ import annotations

import json
import re
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from doclrp._atomic import staged_folder
from doclrp._explain import explain_targets
from doclrp._progress import Progress, duration
from doclrp.core.methods import resolve_method
from doclrp.core.targets import Target
from doclrp.corpus.output import model_fingerprint, record_to_explanation, run_fingerprint
from doclrp.documents import Limits, PageImage, read_source, render_pages
from doclrp.corpus.summary import LEXICON_MIN_COUNT, REPORT_TAG, CorpusSummary, report_data, summarize_results
from doclrp.errors import DoclrpError
from doclrp.models.loading import load_model, resolve_device
from doclrp.render.html import to_html
from doclrp.render.report import render_report
from doclrp.render.table import csv_text
from doclrp.text.explanation import Explanation
from doclrp.text.terms import DEFAULT_LEAVE_OUT

__all__ = ["summarize", "report_pages", "REPORT_PAGES"]


_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


def _page_name(number: int, id: str) -> str:
    return f"docs/{number:03d}-{_UNSAFE_NAME.sub('-', str(id)).strip('-.')[:60] or 'doc'}.html"


def _words_csv(summary: CorpusSummary) -> str:
    # Spreadsheet-safe: a word or a group such as =HYPERLINK(…) stays text (doclrp.render.table).
    rows: list[list[Any]] = [["group", "word", "sum", "mean", "count", "df"]]
    for group in sorted(summary.groups):
        for word, s in sorted(summary.groups[group].items(), key=lambda item: (-abs(item[1].sum), item[0])):
            rows.append([str(group), word, float(s.sum), float(s.mean), s.count, s.df])
    return csv_text(rows, lineterminator="\r\n")


def _summary_json(summary: CorpusSummary, top: int, min_df: int) -> str:
    data = {
        "doclrp": REPORT_TAG, "header": summary.header, "task": summary.task, "group_by": summary.group_by,
        "documents": summary.documents, "explained": summary.explained, "skipped": dict(summary.skipped),
        "accuracy": summary.accuracy, "labelled": summary.labelled,
        "confusion": [[t, p, n] for (t, p), n in sorted(summary.confusion.items(), key=str)],
        "delta_abs_mean": summary.delta_abs_mean, "delta_abs_max": summary.delta_abs_max,
        "top_words": {g: {side: [[w, s.sum, s.mean, s.df] for w, s in summary.top_words(g, top, sign, min_df)]
                          for side, sign in (("for", 1), ("against", -1))} for g in sorted(summary.groups)},
        "lexicon": summary.lexicon, "pages": summary.pages_note,
    }
    return json.dumps(data, indent=1, ensure_ascii=False, default=str) + "\n"


def _check_report_folder(out: Path) -> None:
    if out.exists():
        marker = out / "summary.json"
        ours = False
        try:
            ours = json.loads(marker.read_text(encoding="utf-8")).get("doclrp") == REPORT_TAG
        except (OSError, ValueError, AttributeError):
            pass
        if not out.is_dir() or (any(out.iterdir()) and not ours):
            raise DoclrpError(f"{out} exists and is not a doclrp corpus report: choose another --out or remove it")
    if not out.parent.is_dir():
        raise DoclrpError(f"folder {out.parent} does not exist: create it or choose another --out")


def summarize(results: str | Path, out: str | Path, *, top: int = 20, pages: int = 10, min_df: int = 2,
              group_by: str = "auto", lexicon_min_count: int = LEXICON_MIN_COUNT,
              leave_out: Sequence[str] = DEFAULT_LEAVE_OUT, model: Any = None, class_switch: bool = True,
              device: str = "cpu", progress: bool = True) -> CorpusSummary:
    """Summarize ``results`` and write the report folder ``out``: index.html, docs/*.html
    (the most and least confident documents, highlighted), words.csv and summary.json.

    The folder is built aside and renamed into place, so ``out`` is always a whole
    report, the old one or the new one; a folder that is not a report is never replaced.

    ``class_switch``: the document pages carry every class's relevance and ``X-vs-rest``
    (every output's, for regression) with a switch between them, when the run's model is at
    hand (see the module docstring); the linked documents are re-explained on ``device``,
    with a start line and progress on stderr unless ``progress`` is False. ``model``: the
    run's model folder (or the loaded pipeline the run used), default the folder the results'
    header names; one given whose fingerprint is not the header's ``model_sha256`` is an error.
    ``summary.pages_note`` says in one line what the pages show and why.
    """
    out = Path(out)
    for name, value in (("top", top), ("pages", pages), ("min_df", min_df)):
        if int(value) != value or value < 0:
            raise DoclrpError(f"{name} must be a non-negative integer, got {value!r}")
    _check_report_folder(out)
    if class_switch and isinstance(model, (str, Path)) and not Path(model).exists():
        raise DoclrpError(f"model {model} does not exist: give the folder of the run's model")
    summary = summarize_results(results, pages=pages, group_by=group_by, lexicon_min_count=lexicon_min_count,
                                leave_out=leave_out)
    summary.header.setdefault("results_path", str(Path(results).resolve()))
    linked = list({str(r["id"]): r for r in summary.most_confident + summary.least_confident}.values())
    alternatives: dict[str, list[Explanation]] = {}
    pipeline = None
    if not class_switch:
        summary.pages_note = "document pages: the explained target only (class switch off)"
    elif linked or model is not None:  # a model given is checked even when no page needs it
        pipeline, summary.pages_note = _switch_model(summary.header, model, device)
    with staged_folder(out) as staging:
        # re-explained once the staging folder exists: a report folder that cannot be written fails first
        if pipeline is not None and linked:
            alternatives, summary.pages_note = _alternatives(pipeline, summary.header, linked, progress)
        (staging / "docs").mkdir()
        hrefs: dict[str, str] = {}
        for record in linked:
            name = _page_name(len(hrefs) + 1, record["id"])
            explanation = record_to_explanation(record, summary.header.get("method"))
            others = alternatives.get(str(record["id"]), ())
            if explanation.layout is not None:  # the other targets share the words' places on the pages
                others = [replace(other, layout=explanation.layout) for other in others]
            page = to_html(explanation, title=f"{record['id']} ({record['target']})",
                           back=("../index.html", "corpus report"), leave_out=summary.leave_out,
                           alternatives=others, pages=report_pages(record))
            (staging / name).write_text(page, encoding="utf-8")
            hrefs[record["id"]] = name
        page = render_report(report_data(summary, top, min_df), hrefs)
        (staging / "index.html").write_text(page, encoding="utf-8")
        (staging / "words.csv").write_text(_words_csv(summary), encoding="utf-8")
        (staging / "summary.json").write_text(_summary_json(summary, top, min_df), encoding="utf-8")
    summary.report = out / "index.html"
    return summary


#: Pages of a PDF drawn on its report page (each ~100 kB; a report links up to 2 × --pages documents).
REPORT_PAGES = 10


def report_pages(record: Mapping[str, Any]) -> list[PageImage]:
    """The first `REPORT_PAGES` pages of a PDF record's file, drawn for its page view; none when
    the record has no layout or its file is gone or changed (the page then shows the text)."""
    source, layout = record.get("source"), record.get("layout")
    if not source or not layout:
        return []
    try:
        read = read_source(source, limits=Limits())
    except DoclrpError:
        return []
    if read.kind != "pdf" or read.data is None or read.text != record.get("text"):
        return []  # another file now stands at that path: its pages would not match the boxes
    return render_pages(read.data, Path(source).name, pages=range(min(read.pages or 0, REPORT_PAGES)))


# -- class switch: the linked documents re-explained for every target ----------------------------
_SINGLE = "document pages: the explained target only"


def _switch_model(header: Mapping[str, Any], model: Any, device: str) -> tuple[Any, str | None]:
    """``(pipeline, None)`` for the run's model, or ``(None, why not)`` in one line; a ``model``
    given that is not the run's is an error."""
    expected = header.get("model_sha256")
    options = dict(header.get("model_options") or {})  # a language model's prompt and labels
    if model is not None:
        given = Path(model) if isinstance(model, (str, Path)) else model
        fingerprint = run_fingerprint(given, options) if isinstance(given, Path) else model_fingerprint(given)
        if fingerprint != expected:
            shown = given if isinstance(given, Path) else "the model given"
            raise DoclrpError(f"{shown} is not the model of these results (its fingerprint differs from the "
                              f"header's model_sha256 {str(expected)[:12]}…): give the run's model folder")
        return (load_model(given, resolve_device(device), **options) if isinstance(given, Path) else given), None
    folder = header.get("model")
    if not folder:
        return None, f"{_SINGLE} (the run's model was not a folder: give it with --model DIR for a class switch)"
    if not Path(folder).exists():
        return None, f"{_SINGLE} (the run's model {folder} is not there: point at it with --model DIR)"
    if run_fingerprint(folder, options) != expected:
        return None, (f"{_SINGLE} (the run's model {folder} has changed since the run: its fingerprint differs; "
                      "--model DIR points at the run's model)")
    try:
        return load_model(folder, resolve_device(device), **options), None
    except DoclrpError as error:
        return None, f"{_SINGLE} (the run's model {folder} does not load: {error})"


def _alternatives(pipeline: Any, header: Mapping[str, Any], records: Sequence[Mapping[str, Any]],
                  progress: bool) -> tuple[dict[str, list[Explanation]], str]:
    """Each record's other views (every output, and ``X-vs-rest`` for classification) by id,
    made as the run made the record (its method with its parameters, its target), and the
    pages' note."""
    described = header.get("method") or {}
    try:
        method = resolve_method(described["name"], **(described.get("params") or {}))
        target = Target.from_dict(header["target"])
    except (DoclrpError, KeyError, TypeError) as error:
        return {}, f"{_SINGLE} (the run's method or target cannot be rebuilt: {error})"
    what = "every class and X-vs-rest" if pipeline.task == "classification" else "every output"
    device = next((str(p.device) for p in pipeline.model.parameters()), "cpu")
    if progress:  # said at once: what is about to happen, and how much of it
        print(f"class switch: explaining the {len(records)} linked documents for {what} with "
              f"{described['name']} on {device}", file=sys.stderr, flush=True)
    started, alternatives, failed = time.perf_counter(), {}, 0
    with Progress(len(records), "class switch", unit="doc", enabled=progress) as bar:
        for record in records:
            try:
                views = explain_targets(pipeline, record["text"], target=target, method=method, id=str(record["id"]))
            except DoclrpError:
                failed += 1
            else:
                own = tuple(record.get("target_weights") or ())
                # the record itself is the first view; a view of another text cannot share its page
                alternatives[str(record["id"])] = [v for v in views if v.text == record["text"] and
                                                   tuple(v.target.weights or ()) != own]
            bar.update()
    note = (f"document pages: {what}, with a switch ({len(records) - failed} documents re-explained with "
            f"{described['name']} in {duration(time.perf_counter() - started)})")
    return alternatives, note + (f"; {failed} could not be and show the explained target only" if failed else "")
