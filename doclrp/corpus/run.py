"""Explaining a whole corpus: streamed, batched by length, resumable, shardable.

>>> import tempfile, pathlib
>>> from doclrp.models import EmbeddingBagModel, IdEncoder, TextPipeline
>>> from doclrp.corpus import Record, explain_corpus, read_results
>>> encoder = IdEncoder.fit(["good fun", "bad dull"])
>>> pipeline = TextPipeline(EmbeddingBagModel(len(encoder.vocabulary), 4, 2), encoder, ["neg", "pos"])
>>> docs = [Record("a", "good fun"), Record("b", "  "), Record("c", "bad, dull")]
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> report = explain_corpus(pipeline, docs, out, progress=False)
>>> report.explained, report.skipped
(2, {'empty document': 1})
>>> [(r["id"], r["skipped"]) for r in read_results(out)]
[('b', 'empty document'), ('a', None), ('c', None)]

How a run goes:

1. The corpus is read once to check it (a malformed line fails here, before any
   output exists, unless ``on_error="skip"``) and to count its documents.
2. The results file is opened for resuming (see :mod:`doclrp.corpus.output`).
3. The corpus is streamed again in buffers of ``buffer_size`` documents; each
   buffer is sorted by text length and cut into batches of ``batch_size``, so a
   batch pads little. The plan depends only on the corpus, the shard and the two
   sizes, never on what is already done: a batch is written whole or not at all,
   so a restarted run meets the same batches, skips the finished ones, and ends
   with the records an uninterrupted run would have written.
4. Each batch is explained (the ``local`` engine here, or Ray, see
   :mod:`doclrp.corpus.ray_engine`) and appended; memory holds one buffer.

Empty or whitespace-only documents, and documents the model cannot read (no
word it knows), do not stop a long run: they get a record whose ``skipped``
says why, and the report counts them.
"""

from __future__ import annotations

import gc
import hashlib
import itertools
import re
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from doclrp._progress import Progress

from doclrp.corpus.batch import DOC_TIMEOUT, check_doc_timeout, explain_records
from doclrp.corpus.ray_engine import run_ray
from doclrp.corpus.output import model_fingerprint, open_results_writer, results_lock, run_fingerprint, run_header
from doclrp.corpus.readers import CorpusWarning, Record, open_corpus
from doclrp.corpus.registry import SOURCES
from doclrp.documents import Limits
from doclrp.core import describe
from doclrp.errors import DoclrpError
from doclrp.models.loading import check_device, load_model
from doclrp.text import load_spacy
from doclrp._explain import MAX_CHARS, pipeline_method, resolve_target

__all__ = ["CorpusSettings", "RunReport", "explain_corpus", "frozen_heap", "parse_shard", "in_shard", "plan_batches",
           "ENGINES"]

ENGINES = ("local", "ray")
#: Documents read, sorted by length and batched together (memory holds one such buffer).
BUFFER_SIZE = 512


@dataclass
class RunReport:
    """What a run did. ``resumed``: records that were already written before it started."""

    path: Path
    explained: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    resumed: int = 0
    malformed: int = 0
    seconds: float = 0.0

    @property
    def written(self) -> int:
        """Records this run added."""
        return self.explained + sum(self.skipped.values())

    @property
    def total(self) -> int:
        """Records in the results."""
        return self.resumed + self.written

    @property
    def docs_per_second(self) -> float:
        return self.written / self.seconds if self.seconds > 0 else 0.0

    def __str__(self) -> str:
        parts = [f"{self.total} records in {self.path}: {self.explained} explained now"]
        if self.skipped:
            parts.append("skipped " + ", ".join(f"{n} ({reason})" for reason, n in sorted(self.skipped.items())))
        if self.resumed:
            parts.append(f"{self.resumed} from an earlier run")
        if self.malformed:
            parts.append(f"{self.malformed} malformed corpus lines left out")
        return "; ".join(parts) + f"; {self.seconds:.1f} s ({self.docs_per_second:.1f} docs/s)"


def parse_shard(shard: str | Sequence[int] | None) -> tuple[int, int] | None:
    """``"i/N"`` (0 ≤ i < N) → ``(i, N)``; None stays None.

    >>> parse_shard("1/4"), parse_shard(None)
    ((1, 4), None)
    """
    if shard is None:
        return None
    if isinstance(shard, str):
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", shard)
        if not match:
            raise DoclrpError(f"--shard must look like i/N (e.g. 0/4), got {shard!r}")
        shard = (int(match[1]), int(match[2]))
    index, count = (int(x) for x in shard)
    if count < 1 or not 0 <= index < count:
        raise DoclrpError(f"shard {index}/{count}: N must be ≥ 1 and i one of 0..N-1")
    return index, count


def in_shard(id: str, shard: tuple[int, int] | None) -> bool:
    """Whether document ``id`` belongs to ``shard``: blake2b of the id, modulo N.

    The same on every machine and Python (no ``hash()``), and every id is in exactly one shard.

    >>> sum(in_shard("business/001", (i, 3)) for i in range(3))
    1
    """
    if shard is None:
        return True
    digest = hashlib.blake2b(id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % shard[1] == shard[0]


def plan_batches(records: Iterable[Record], batch_size: int, buffer_size: int = BUFFER_SIZE) -> Iterator[list[Record]]:
    """Batches of similar length: buffers of ``buffer_size`` records, each sorted by text length.

    >>> docs = [Record(str(i), "x" * n) for i, n in enumerate([5, 1, 4, 2, 3])]
    >>> [[r.id for r in b] for b in plan_batches(docs, batch_size=2, buffer_size=4)]
    [['1', '3'], ['2', '0'], ['4']]
    """
    buffer_size = max(buffer_size, batch_size)
    buffer: list[Record] = []

    def batches():
        buffer.sort(key=lambda r: len(r.text))  # stable: equal lengths keep corpus order
        for start in range(0, len(buffer), batch_size):
            yield buffer[start : start + batch_size]

    for record in records:
        buffer.append(record)
        if len(buffer) == buffer_size:
            yield from batches()
            buffer = []
    if buffer:
        yield from batches()


def _open_corpus(corpus, on_error: str) -> Iterable[Record]:
    if not isinstance(corpus, (str, Path)):
        return corpus
    if not _is_source(corpus) and Path(corpus).is_dir():
        return open_corpus(corpus)  # folders have no lines to skip
    return open_corpus(corpus, on_error=on_error)


def _is_source(corpus) -> bool:
    """Whether ``corpus`` names a registered source (``"bbc"``, ``"vader"``…) rather than a path."""
    return isinstance(corpus, str) and corpus.lower() in SOURCES


def _input_name(corpus) -> str:
    if _is_source(corpus):
        return corpus.lower()
    if isinstance(corpus, (str, Path)):
        return str(Path(corpus).resolve())
    return "records"


def _check_corpus(corpus, on_error: str, shard, limit: int | None = None) -> tuple[int | None, list[str]]:
    """Read the corpus once: (documents in the shard, malformed-line messages).

    An iterator of Records can be read only once: it is not checked (count None).
    """
    if not isinstance(corpus, (str, Path)) and iter(corpus) is corpus:
        return None, []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CorpusWarning)
        count = sum(1 for _ in _stream(corpus, on_error, shard, limit, quiet=False))
    malformed = [str(w.message) for w in caught if issubclass(w.category, CorpusWarning)]
    for w in caught:
        if not issubclass(w.category, CorpusWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return count, malformed


def _stream(corpus, on_error: str, shard, limit: int | None = None, quiet: bool = True) -> Iterator[Record]:
    """The corpus's records in the shard, the first ``limit`` of them (None: all)."""
    with warnings.catch_warnings():
        if quiet:  # malformed lines were reported by the check; seeing them again is noise
            warnings.simplefilter("ignore", CorpusWarning)
        records = (record for record in _open_corpus(corpus, on_error) if in_shard(record.id, shard))
        yield from itertools.islice(records, limit)


@dataclass(frozen=True)
class CorpusSettings:
    """How :func:`explain_corpus` runs; ``doclrp corpus`` fills one from its options.

    ``method``: an LRP composite or baseline (name or object),
    default the model's own; resolved once, with ``target``, before anything is written.
    ``shard``: ``"i/N"``: only documents whose id hashes to shard i of N.
    ``limit``: only the first ``limit`` documents (of the shard), in corpus order: a quick look.
    ``reference``: explain the deviation from it (``"mean"`` or one number per output; see ``explain``).
    ``engine``: ``"local"`` or ``"ray"`` (same records; see :mod:`doclrp.corpus.ray_engine`).
    ``on_error``: ``"raise"`` stops at a malformed corpus line (before writing), ``"skip"``
    leaves it out with a warning. Restarting the same call continues an interrupted run.
    ``max_chars``: longer documents get a skipped record (None: no limit).
    ``doc_timeout``: seconds of work one document may take (default 300; None: no limit),
    checked between its stages (tokenizing, each forward/backward pass over a batch of
    windows; a stage already running, such as one spaCy call, is not interrupted). A document
    over it is a skipped record with the reason under ``on_error="skip"``, else a one-line
    error that stops the run (rerun to continue). Both engines check it (on Ray, each
    replica). See :func:`doclrp.corpus.batch.explain_records`.
    ``limits``: the bounds of reading document files (PDF, Word, HTML, e-mail: a folder's or a
    row's ``path``; `doclrp.documents.Limits`: ``max_bytes``, ``max_pages``); files are read with
    their batch, within ``doc_timeout``; one that cannot be read gets a skipped record.
    ``allow_pickle``: load a Hugging Face folder whose weights are pickled (see ``load_model``).
    ``model_options``: more keyword arguments of ``load_model`` for a model folder (a language
    model's ``prompt``, ``labels``, ``chat``, ``label_prefix``); part of the run's model
    fingerprint and header, so that results of another prompt are never continued.

    >>> CorpusSettings(batch_size=8).engine
    'local'
    """

    target: Any = "predicted"
    method: Any = None
    batch_size: int = 32
    reference: Any = None
    device: str = "cpu"
    shard: str | Sequence[int] | None = None
    engine: str = "local"
    overwrite: bool = False
    on_error: str = "raise"
    buffer_size: int = BUFFER_SIZE
    max_chars: int | None = MAX_CHARS
    allow_pickle: bool = False
    progress: bool = True
    ray_options: dict[str, Any] | None = None
    limit: int | None = None
    doc_timeout: float | None = DOC_TIMEOUT
    limits: Limits | None = None
    model_options: Mapping[str, Any] | None = None


def explain_corpus(model: Any, corpus: Any, out: str | Path, settings: CorpusSettings | None = None,
                   **options: Any) -> RunReport:
    """Explain every document of ``corpus`` with ``model`` and write one record each to ``out``, as
    ``settings`` say (a :class:`CorpusSettings`; ``options``, its fields by name, override them:
    ``explain_corpus(model, "bbc", "r.jsonl", method="zero")``; ``composite=`` is the older name
    of ``method=``).

    ``model``: a model folder (doclrp or Hugging Face), loaded on the settings' ``device``, or a
    loaded pipeline (used where it is).
    ``corpus``: a named source (``"bbc"``…), a folder of ``<class>/*.txt``, a .jsonl/.csv file, or Records.
    ``out``: results path; Parquet when it ends in .parquet, JSONL otherwise.
    Only one run writes to ``out`` at a time: a second one is refused at once (a lock
    file next to it, released by the OS when the first run ends or dies).
    """
    composite = options.pop("composite", None)
    s = replace(settings or CorpusSettings(), **options)
    started = time.perf_counter()
    shard = parse_shard(s.shard)
    if s.engine not in ENGINES:
        raise DoclrpError(f"engine must be one of {', '.join(ENGINES)}, got {s.engine!r}")
    if s.on_error not in ("raise", "skip"):
        raise DoclrpError(f"on_error must be 'raise' or 'skip', got {s.on_error!r}")
    optional = {"max_chars": s.max_chars, "limit": s.limit}  # None: no bound
    for name, value in {"batch size": s.batch_size, "buffer size": s.buffer_size, **optional}.items():
        if value is None and name in optional:
            continue
        if isinstance(value, bool) or value is None or int(value) != value or value < 1:
            raise DoclrpError(f"{name} must be at least 1, got {value!r}")
    doc_timeout = check_doc_timeout(s.doc_timeout)
    if s.engine == "local":  # Ray replicas load on their own nodes' devices
        check_device(s.device)
    # Taken first: a second run on the same output is refused before it reads the corpus or loads a model.
    with results_lock(out):
        count, malformed = _check_corpus(corpus, s.on_error, shard, s.limit)
        for message in malformed:
            warnings.warn(message, CorpusWarning, stacklevel=2)

        extra: dict[str, Any] = {}
        if isinstance(model, (str, Path)):
            load_options = dict(s.model_options or {})
            pipeline = load_model(model, device="cpu" if s.engine == "ray" else s.device, allow_pickle=s.allow_pickle,
                                  **load_options)
            fingerprint, model_path = run_fingerprint(model, load_options), str(Path(model).resolve())
            if load_options:  # the same folder with another prompt is another model (in the fingerprint too)
                extra["model_options"] = load_options
        else:
            pipeline, fingerprint, model_path = model, model_fingerprint(model), None
        # Resolved once, here: a bad method or target fails before any output, and every batch gets these objects.
        target = resolve_target(s.target, pipeline, s.reference)
        method = pipeline_method(pipeline, s.method, composite)
        header = run_header(model_sha256=fingerprint, method=describe(method), target=target.to_dict(),
                            input=_input_name(corpus), shard=shard, model=model_path,
                            task=pipeline.task, labels=list(pipeline.labels), **extra)

        report = RunReport(Path(out), malformed=len(malformed))
        skipped: Counter[str] = Counter()
        if s.engine == "local":
            load_spacy()  # explain's spaCy pipeline, loaded before the heap is frozen
        with open_results_writer(out, header, overwrite=s.overwrite) as writer, frozen_heap():
            report.resumed = len(writer.done_ids)
            planned = plan_batches(_stream(corpus, s.on_error, shard, s.limit), s.batch_size, s.buffer_size)
            pending = _pending(planned, writer.done_ids)
            total = None if count is None else max(0, count - report.resumed)
            if s.progress:  # said at once: what is about to happen, and how much of it
                print(f"explaining {'?' if total is None else total} documents"
                      f"{f' ({report.resumed} done before)' if report.resumed else ''} of {header['input']} with "
                      f"{describe(method)['name']} for {target}, {s.engine} engine"
                      f"{f' on {s.device}' if s.engine == 'local' else ''}; writing {out}", file=sys.stderr, flush=True)
            bar = _progress(s.progress, total=total, resumed=report.resumed)

            def write(records: list[dict[str, Any]]) -> None:
                writer.write_batch(records)
                for record in records:
                    if record["skipped"]:
                        skipped[record["skipped"]] += 1
                    else:
                        report.explained += 1
                if bar is not None:
                    bar.update(len(records))

            try:
                batch_options: dict[str, Any] = dict(target=target, method=method, batch_size=s.batch_size,
                                                     max_chars=s.max_chars, doc_timeout=doc_timeout,
                                                     on_error=s.on_error, limits=s.limits)
                if s.engine == "local":
                    for batch in pending:
                        write(explain_records(pipeline, batch, **batch_options))
                else:
                    # with load options, the loaded pipeline goes to the replicas (through Ray's object store)
                    shipped = model_path if model_path is not None and not extra else pipeline
                    run_ray(pending, shipped, write, device=s.device,
                            allow_pickle=s.allow_pickle, **batch_options, **(s.ray_options or {}))
                writer.finish()
            finally:
                if bar is not None:
                    bar.close()
    report.skipped = dict(skipped)
    report.seconds = time.perf_counter() - started
    return report


@contextmanager
def frozen_heap():
    """Python's cyclic garbage collector leaves the objects that exist now (models,
    spaCy's vocabulary, ...) alone until the block ends; newer ones are collected as usual.

    >>> with frozen_heap():
    ...     gc.get_freeze_count() > 0
    True

    A corpus run makes a few small tuples per word, and every full collection they set
    off would walk each object of the process: freezing cut a BBC run on 2 cores from
    15 s to 10 s (plain prediction gains alike: see benchmarks/corpus_throughput.py).
    Inside an outer frozen block it does nothing, so the outer block decides when to thaw.
    """
    if gc.get_freeze_count():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def _pending(batches: Iterator[list[Record]], done: set[str]) -> Iterator[list[Record]]:
    """The planned batches minus finished documents (whole batches, unless the batch size changed)."""
    for batch in batches:
        todo = [r for r in batch if r.id not in done]
        if todo:
            yield todo


def _progress(enabled: bool, total: int | None, resumed: int) -> Progress | None:
    if not enabled:
        return None
    # A bar on a terminal; in logs and pipes a line now and then, each with the time left.
    bar = Progress(total, "explaining", unit="doc", stream=sys.stderr,
                   note=f"{resumed} done before" if resumed else "")
    return bar
