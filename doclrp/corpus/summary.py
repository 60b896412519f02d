"""Summaries of corpus results: relevance per word and class, and an HTML report.

>>> from doclrp.corpus.summary import summarize_results
>>> records = [
...     {"id": "1", "label": "pos", "skipped": None, "task": "classification", "labels": ["neg", "pos"],
...      "target": "pos", "target_value": 2.0, "delta": 0.0, "special": {}, "text": "Good good bad",
...      "prediction": {"label": "pos", "index": 1, "probabilities": [0.1, 0.9], "values": [0.0, 2.0]},
...      "sentences": [[0, 13, 2.0]], "words": [["Good", 0, 4, 1.5], ["good", 5, 9, 1.0], ["bad", 10, 13, -0.5]]},
... ]
>>> summary = summarize_results(records)
>>> stat = summary.groups["pos"]["good"]
>>> stat.sum, stat.count, stat.df, stat.mean
(2.5, 2, 1, 1.25)
>>> [word for word, _ in summary.top_words("pos", sign=-1, min_df=1)]
['bad']

Words are lower-cased. A record's class (its *group*) is, with ``group_by="auto"``,
its true label when it has one, else the predicted label; for regression the
explained output. The relevance summed is always the record's relevance for
its explained target (by default the predicted class), so the words "for" a
class are the words that pushed the documents of that class toward what was
explained.

Target checks: when a corpus source brings a check for the one output the records
explain (by their target weights, see :func:`explained_output`;
:func:`doclrp.corpus.registry.target_check`; today the VADER lexicon correlation for
regressors of ``compound``, alone or as a deviation from a reference),
the summary calls it with ``word_means``, the mean relevance per occurrence of each word
of that group seen at least ``lexicon_min_count`` times, when its module can be
imported, and shows what it returns (``(r, words)``).

This module computes the statistics, a pure pass over the records (no model is loaded); the
report page is drawn by :func:`doclrp.render.report.render_report` from :func:`report_data`,
and :mod:`doclrp.corpus.reporting` writes the report folder.
"""

from __future__ import annotations

import heapq
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from doclrp.corpus.output import read_results
from doclrp.corpus.readers import Record
from doclrp.corpus.registry import target_check
from doclrp.corpus.split import _key as split_key
from doclrp.errors import DoclrpError
from doclrp.render.notebook import embed
from doclrp.render.report import CorpusReportData, DocumentRow, GroupWords, WordRow, render_report
from doclrp.text.terms import DEFAULT_LEAVE_OUT, describe_leave_out, excluded

__all__ = ["WordStat", "CorpusSummary", "summarize_results", "report_data", "explained_output", "GROUP_BY",
           "LEXICON_MIN_COUNT", "REPORT_TAG"]

GROUP_BY = ("auto", "label", "predicted", "target")
REPORT_TAG = "corpus-report"
NO_LABEL = "(no label)"
#: Skipped ids listed per reason in the report.
SKIPPED_SHOWN = 20
#: Occurrences a word needs to enter the lexicon correlation (rarer words' means are noise).
LEXICON_MIN_COUNT = 5


@dataclass
class WordStat:
    """One word in one group: summed relevance, occurrences, documents."""

    sum: float = 0.0
    count: int = 0
    df: int = 0

    @property
    def mean(self) -> float:
        """Mean relevance per occurrence."""
        return self.sum / self.count if self.count else 0.0


@dataclass
class CorpusSummary:
    """Aggregates of a results file (see the module docstring)."""

    header: dict[str, Any]
    group_by: str
    task: str | None = None
    groups: dict[str, dict[str, WordStat]] = field(default_factory=dict)
    #: The one output each group's documents explain (by the records' target weights), or None.
    group_outputs: dict[str, str | None] = field(default_factory=dict)
    group_documents: Counter = field(default_factory=Counter)
    documents: int = 0
    explained: int = 0
    skipped: Counter = field(default_factory=Counter)
    skipped_ids: dict[str, list[str]] = field(default_factory=dict)
    confusion: Counter = field(default_factory=Counter)  # (true, predicted) → documents
    delta_abs_sum: float = 0.0
    delta_abs_max: float = 0.0
    score_name: str = "explained value"
    most_confident: list[dict[str, Any]] = field(default_factory=list)
    least_confident: list[dict[str, Any]] = field(default_factory=list)
    lexicon: dict[str, Any] | None = None
    #: ``(true, predicted)`` → documents, for the documents the model was tested on when it was
    #: trained (its held-out split, recomputed from the model's settings); None when unknown.
    held_out_confusion: Counter | None = None
    #: What the top-word lists leave out (:mod:`doclrp.text.terms`).
    leave_out: tuple[str, ...] = DEFAULT_LEAVE_OUT
    #: The report's index.html, once written by :func:`~doclrp.corpus.reporting.summarize`.
    report: Path | None = None
    #: What the document pages show, in one line (the class switch, or why there is none);
    #: set by :func:`~doclrp.corpus.reporting.summarize`.
    pages_note: str | None = None

    @property
    def labelled(self) -> int:
        return sum(self.confusion.values())

    @property
    def accuracy(self) -> float | None:
        if not self.labelled:
            return None
        return sum(n for (true, predicted), n in self.confusion.items() if true == predicted) / self.labelled

    @property
    def held_out_accuracy(self) -> float | None:
        """Accuracy on the model's held-out test documents (None when they are not known)."""
        confusion = self.held_out_confusion
        if not confusion:
            return None
        return sum(n for (true, predicted), n in confusion.items() if true == predicted) / sum(confusion.values())

    def foreign_labels(self) -> list[str]:
        """True labels of the documents that are none of the model's outputs (the results' header
        names them): the model can never predict those."""
        known = self.header.get("labels")
        if not known:
            return []
        return sorted({str(true) for true, _ in self.confusion} - {str(label) for label in known})

    def accuracy_scope(self) -> str:
        """Which documents the accuracy is on, in words."""
        if self.held_out_confusion:
            return "on all labelled documents, the model's training documents included"
        return "on all labelled documents (training documents included if the model was trained on this corpus)"

    @property
    def delta_abs_mean(self) -> float:
        return self.delta_abs_sum / self.explained if self.explained else 0.0

    def top_words(self, group: str, k: int = 20, sign: int = +1, min_df: int = 2,
                  leave_out: Sequence[str] | None = None) -> list[tuple[str, WordStat]]:
        """The ``k`` words with the largest summed relevance for (``sign=+1``) or against
        (``-1``) ``group``'s explained target, among words in ``min_df`` documents or more;
        ``leave_out`` (default the summary's own, punctuation): ``"punct"``, ``"stop"``."""
        if sign not in (1, -1):
            raise DoclrpError(f"sign must be +1 or -1, got {sign!r}")
        leave_out = self.leave_out if leave_out is None else leave_out
        words = [(w, s) for w, s in self.groups.get(group, {}).items()
                 if s.df >= min_df and s.sum * sign > 0 and not excluded(w, leave_out)]
        return heapq.nsmallest(k, words, key=lambda item: (-item[1].sum * sign, item[0]))

    def _repr_html_(self) -> str:
        """The report page (without its document pages), for notebooks."""
        return embed(render_report(report_data(self)), title="doclrp corpus report")

    def lines(self, top: int = 5, min_df: int = 2) -> list[str]:
        """A few lines for a terminal."""
        skipped = sum(self.skipped.values())
        out = [f"report: {self.report}"] if self.report is not None else []
        out += [self.pages_note] if self.pages_note else []
        out += [f"{self.documents} documents: {self.explained} explained, {skipped} skipped"
               + (f" ({', '.join(f'{n} {reason}' for reason, n in self.skipped.most_common())})" if skipped else "")]
        foreign = self.foreign_labels()
        if self.accuracy is not None and foreign == sorted({true for true, _ in self.confusion}):
            out.append(f"accuracy not measured: the corpus's labels ({_listed(foreign)}) are none of the model's "
                       f"({_listed(self.header.get('labels') or [])})")
        elif self.accuracy is not None:
            out.append(f"accuracy {self.accuracy:.4f} {self.accuracy_scope().replace('labelled', f'{self.labelled} labelled', 1)}")
            if foreign:
                out.append(f"note: labels {_listed(foreign)} are not the model's: their documents count as wrong")
            if self.held_out_confusion:
                out.append(f"accuracy {self.held_out_accuracy:.4f} on the {sum(self.held_out_confusion.values())} "
                           "held-out test documents of the model's training split")
        up, down = ("raise", "lower") if self.task == "regression" else ("for", "against")
        for group in sorted(self.groups):
            pro = ", ".join(w for w, _ in self.top_words(group, top, +1, min_df)) or "-"
            con = ", ".join(w for w, _ in self.top_words(group, top, -1, min_df)) or "-"
            out.append(f"{group}: {up}: {pro}; {down}: {con}")
        if self.explained:
            out.append(f"conservation |delta|: mean {self.delta_abs_mean:.3g}, max {self.delta_abs_max:.3g}")
        if self.lexicon is not None:
            out.append(f"{self.lexicon['name']}: {_lexicon_text(self.lexicon)}")
        return out


def _listed(names: Sequence[Any], most: int = 6) -> str:
    return ", ".join(map(str, names[:most])) + (", …" if len(names) > most else "")


def _group(record: Mapping[str, Any], group_by: str) -> str:
    predicted = (record["prediction"] or {}).get("label")
    if group_by == "label":
        return record["label"] if record["label"] is not None else NO_LABEL
    if group_by == "target" or (record["task"] == "regression" and group_by == "auto"):
        return str(record["target"])
    if group_by == "predicted" or record["label"] is None:
        return predicted if predicted is not None else str(record["target"])
    return record["label"]


def _score(record: Mapping[str, Any]) -> float:
    """Confidence: the probability of the explained class, else the explained value."""
    probabilities = record["prediction"].get("probabilities")
    output = explained_output(record)
    if probabilities and output is not None:
        return float(probabilities[record["labels"].index(output)])
    return float(record["target_value"])


def explained_output(record: Mapping[str, Any]) -> str | None:
    """The output a record explains alone (its target weights one-hot), by name; None for
    a combination of outputs (a contrast, weights) or a record without weights.

    >>> explained_output({"labels": ["neg", "pos"], "target_weights": [0.0, 1.0]})
    'pos'
    >>> explained_output({"labels": ["neg", "pos"], "target_weights": [-1.0, 1.0]}) is None
    True
    """
    weights, labels = record.get("target_weights"), record.get("labels") or []
    if not weights or len(weights) != len(labels) or sorted(weights) != [0.0] * (len(weights) - 1) + [1.0]:
        return None
    return str(labels[list(weights).index(1.0)])


def summarize_results(results: Iterable[Mapping[str, Any]] | str | Path, *, pages: int = 10,
                      group_by: str = "auto", lexicon_min_count: int = LEXICON_MIN_COUNT,
                      leave_out: Sequence[str] = DEFAULT_LEAVE_OUT) -> CorpusSummary:
    """Aggregate records (or a results path) in one streaming pass; keeps ``pages`` documents
    with the highest and the lowest confidence for the report.

    Accuracy is on every labelled document. When the run's model folder records how it was
    split for training (``n_test`` and the split's settings, as ``doclrp train`` stores them)
    and the same split of these documents gives as many test documents, the accuracy on
    those held-out documents is reported as well (``held_out_confusion``).
    """
    if group_by not in GROUP_BY:
        raise DoclrpError(f"group_by must be one of {', '.join(GROUP_BY)}, got {group_by!r}")
    header: dict[str, Any] = {}
    if isinstance(results, (str, Path)):
        results = read_results(results)
        header = results.header
    summary = CorpusSummary(header=dict(header), group_by=group_by, leave_out=tuple(leave_out))
    split = _training_split(header)
    # (label, split key, id, (true, predicted) or None): enough to redo the model's split afterwards
    entries: list[tuple[str, bytes, str, tuple[str, str | None] | None]] = []
    most: list = []  # min-heaps of (score, order, record) and (-score, order, record)
    least: list = []
    for order, record in enumerate(results):
        summary.documents += 1
        if split is not None and record.get("label") is not None and isinstance(record.get("text"), str):
            pair = None
            if record.get("task") == "classification" and not record.get("skipped") and record.get("prediction"):
                pair = (record["label"], record["prediction"].get("label"))
            entries.append((record["label"], _split_key(record["text"], split[1]), str(record["id"]), pair))
        reason = record.get("skipped") or (None if _finite(record) else NOT_FINITE)
        if reason:
            summary.skipped[reason] += 1
            shown = summary.skipped_ids.setdefault(reason, [])
            if len(shown) < SKIPPED_SHOWN:
                shown.append(str(record["id"]))
            continue
        summary.explained += 1
        if summary.task is None:
            summary.task = record["task"]
            if record["task"] == "classification" and explained_output(record) is not None:
                summary.score_name = "probability of the explained class"
        group = _group(record, group_by)
        summary.group_documents[group] += 1
        summary.group_outputs.setdefault(group, explained_output(record))
        stats = summary.groups.setdefault(group, {})
        seen = set()
        for word in record["words"]:
            key = word[0].lower()
            stat = stats.get(key)
            if stat is None:
                stat = stats[key] = WordStat()
            stat.sum += word[3]
            stat.count += 1
            if key not in seen:
                seen.add(key)
                stat.df += 1
        if record["task"] == "classification" and record["label"] is not None:
            summary.confusion[(record["label"], record["prediction"]["label"])] += 1
        delta = abs(float(record["delta"]))
        summary.delta_abs_sum += delta
        summary.delta_abs_max = max(summary.delta_abs_max, delta)
        if pages > 0:
            score = _score(record)
            _keep(most, (score, -order, record), pages)
            _keep(least, (-score, -order, record), pages)
    summary.most_confident = [r for _, _, r in sorted(most, key=lambda e: (-e[0], -e[1]))]
    summary.least_confident = [r for _, _, r in sorted(least, key=lambda e: (-e[0], -e[1]))]
    summary.lexicon = _lexicon(summary, lexicon_min_count)
    if split is not None:
        summary.held_out_confusion = _held_out_confusion(entries, *split)
    return summary


def _training_split(header: Mapping[str, Any]) -> tuple[float, int, int] | None:
    """``(test_fraction, split_seed, n_test)`` of the run's model, from its folder (None when unknown)."""
    folder = header.get("model")
    if not folder:
        return None
    for name in ("config.json", "doclrp.json"):
        try:
            config = json.loads((Path(folder) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        metrics = config.get("metrics") if isinstance(config, dict) else None
        if isinstance(metrics, dict) and isinstance(metrics.get("n_test"), int):
            # doclrp.training.hf splits with the defaults of train_test_split_fixed and stores no settings
            settings = metrics.get("settings") or {}
            return float(settings.get("test_fraction", 0.2)), int(settings.get("split_seed", 13)), metrics["n_test"]
    return None


def _split_key(text: str, seed: int) -> bytes:
    # doclrp.corpus.split's key: the text, seeded (duplicated texts fall on one side)
    return split_key(Record("", text), seed)


def _held_out_confusion(entries: list, test_fraction: float, seed: int, n_test: int) -> Counter | None:
    """The confusion counts of the documents that :func:`~doclrp.corpus.split.train_test_split_fixed`
    puts into test, when these documents give exactly the model's ``n_test`` (the same corpus)."""
    groups: dict[str, list] = {}
    for label, key, id, pair in entries:
        groups.setdefault(label, []).append((key, id, pair))
    test = []
    for group in groups.values():
        group.sort(key=lambda entry: (entry[0], entry[1]))
        cut = round(test_fraction * len(group))
        while 0 < cut < len(group) and group[cut][0] == group[cut - 1][0]:
            cut += 1
        test += group[:cut]
    if len(test) != n_test:
        return None
    return Counter(pair for _, _, pair in test if pair is not None) or None


#: Why an explained record is left out of a summary when its numbers are null (JSON has no NaN).
NOT_FINITE = "relevance or output not finite"


def _finite(record: Mapping[str, Any]) -> bool:
    """Whether every number a summary reads from ``record`` is a finite number (a model with
    NaN weights writes nulls: such records are counted apart, not summed).

    >>> _finite({"target_value": 1.0, "delta": 0.0, "words": [["a", 0, 1, None]], "prediction": {}})
    False
    """
    prediction = record.get("prediction") or {}
    numbers = [record.get("target_value"), record.get("delta"), *[w[3] for w in record.get("words") or []],
               *(prediction.get("probabilities") or []), *(prediction.get("values") or [])]
    return all(isinstance(x, (int, float)) and math.isfinite(x) for x in numbers)


def _keep(heap: list, entry: tuple, size: int) -> None:
    if len(heap) < size:
        heapq.heappush(heap, entry)
    elif entry[:2] > heap[0][:2]:
        heapq.heapreplace(heap, entry)


def _lexicon(summary: CorpusSummary, min_count: int) -> dict[str, Any] | None:
    """The target check a source brings for the explained output (the VADER lexicon
    correlation for ``compound``); see
    :func:`doclrp.corpus.registry.target_check`."""
    found = next(((g, c) for g in summary.groups
                  if (c := target_check(summary.task, summary.group_outputs.get(g))) is not None), None)
    if found is None:
        return None
    group, check = found
    name = f"{check.title} ({group}; words seen {min_count}+ times)"
    try:
        means = {w: s.mean for w, s in summary.groups[group].items() if s.count >= min_count}
        return {"name": name, "result": check.function(means)}
    except DoclrpError as error:
        return {"name": name, "error": str(error)}


def _lexicon_text(lexicon: Mapping[str, Any]) -> str:
    if "error" in lexicon:
        return lexicon["error"]
    result = lexicon["result"]
    if isinstance(result, tuple) and len(result) == 2:  # (r, words), as doclrp.corpus.sources.lexicon returns
        r, words = result
        return f"r undefined ({words} words in the lexicon)" if math.isnan(r) else f"r = {r:+.3f} over {words} words"
    if isinstance(result, (int, float)):
        return f"r = {result:+.3f}"
    if isinstance(result, Mapping):
        return ", ".join(f"{k} {v:+.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in result.items())
    return str(result)


def report_data(summary: CorpusSummary, top: int = 20, min_df: int = 2) -> CorpusReportData:
    """The data of the report page (:func:`doclrp.render.report.render_report`) for ``summary``.

    >>> report_data(summarize_results([])).documents
    0
    """
    def rows(group: str, sign: int) -> list[WordRow]:
        return [WordRow(w, s.sum, s.mean, s.count, s.df) for w, s in summary.top_words(group, top, sign, min_df)]

    def documents(records: list[dict[str, Any]]) -> list[DocumentRow]:
        return [DocumentRow(str(r["id"]), r["label"], r["prediction"].get("label"), r["target"], _score(r))
                for r in records]

    return CorpusReportData(
        header=summary.header, group_by=summary.group_by, regression=summary.task == "regression",
        documents=summary.documents, explained=summary.explained, min_df=min_df,
        groups=[GroupWords(g, summary.group_documents[g], rows(g, +1), rows(g, -1)) for g in sorted(summary.groups)],
        skipped=[(reason, n, summary.skipped_ids.get(reason, [])) for reason, n in summary.skipped.most_common()],
        accuracy=summary.accuracy, labelled=summary.labelled, confusion=summary.confusion,
        accuracy_scope=summary.accuracy_scope(),
        held_out=None if summary.held_out_confusion is None or summary.held_out_accuracy is None else (
            summary.held_out_accuracy, sum(summary.held_out_confusion.values())),
        words_note=describe_leave_out(summary.leave_out), score_name=summary.score_name, most_confident=documents(summary.most_confident),
        least_confident=documents(summary.least_confident), delta_abs_mean=summary.delta_abs_mean,
        delta_abs_max=summary.delta_abs_max,
        lexicon=None if summary.lexicon is None else (summary.lexicon["name"], _lexicon_text(summary.lexicon)),
        pages_note=summary.pages_note,
    )
