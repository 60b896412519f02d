"""Corpus results: the record format and run header (:mod:`.records`), the journal that writes
each document exactly once and resumes (:mod:`.journal`), and reading finished results
(:mod:`.reading`).

>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "results.jsonl"
>>> header = run_header(model_sha256="ab12", method={"name": "epsilon", "params": {"eps": 1e-6}},
...                     target={"name": None, "weights": None}, input="bbc")
>>> with open_results_writer(out, header) as writer:
...     writer.write_batch([skipped_record("a", None, "empty document")])
...     path = writer.finish()
>>> results = read_results(out)
>>> results.header["method"]["name"], [r["id"] for r in results]
('epsilon', ['a'])

**Records.** One per document, the same keys in JSONL and Parquet::

    id, label, skipped, task, labels, target, target_weights, target_value, delta,
    prediction {label, index, probabilities, values}, special {name: relevance},
    targets, text, sentences [[start, end, relevance]...], words [[text, start, end, relevance]...],
    source, layout

``source`` is the document's file (PDF, Word, HTML, e-mail) when it was read from one, and
``layout`` a PDF's word places as columns (``WordLayout.to_columns``: ``page`` and ``box`` per
word, ``parts`` of words broken over lines, ``page_sizes``); both None otherwise.

``skipped`` is None for an explained document and the reason otherwise (then
everything after ``skipped`` but ``targets`` and ``text`` is None). Offsets are
characters of ``text``; ``targets`` are the corpus's regression targets, if read;
``target`` is the explained target's name and ``target_weights`` its weight per output
(the run header holds the method, with its parameters, and the target as given).
:func:`record_to_explanation` gives back the full :class:`~doclrp.text.Explanation`
(for HTML pages).

**Files.** JSONL: the first line is the run header (``{"doclrp": "corpus-results", ...}``),
then one record per line. Parquet: the header is the file's ``doclrp`` metadata entry.
Records come in the run's plan order (corpus order, sorted by length within buffers).

**Exactly once, under SIGKILL.** A run writes to ``RESULTS.partial`` and renames it
to ``RESULTS`` when the corpus is done, so ``RESULTS`` only ever exists complete.
JSONL: every batch is appended with one ``write`` and ``fsync``ed before the next
batch starts; a kill can only cut the last line short, and a restart drops that
partial line and reads the ids that are complete. Parquet (no appends): every
batch is a part file in the ``RESULTS.partial/`` folder, written to a temporary
name and renamed; the end merges the parts into ``RESULTS``.
A restart whose header differs from the one on disk (another model, composite,
target, reference, input or shard) is refused unless ``overwrite``.

**One run at a time.** A run holds an OS lock (``flock``) on ``RESULTS.lock`` while it
works (:func:`results_lock`); a second run on the same ``RESULTS`` is refused at once.
The OS releases the lock when its process ends, killed or not, so none is left behind.
Readers refuse results that hold an id twice (the mark of two runs that wrote at once
before this lock existed). A file system that refuses writes (read-only, full) ends the
run with a one-line error naming the path.
"""

from doclrp.corpus.output.records import (FORMAT_VERSION, HEADER_KEYS, PROMPT_KEY, explanation_record,
                                          model_fingerprint, record_from_parquet_row, record_to_explanation,
                                          results_format, run_fingerprint, run_header, skipped_record, WordRows)
from doclrp.corpus.output.journal import ResultsWriter, open_results_writer, partial_path, results_lock
from doclrp.corpus.output.reading import DOCUMENT_COLUMNS, Results, read_results

__all__ = [
    "FORMAT_VERSION",
    "HEADER_KEYS",
    "PROMPT_KEY",
    "DOCUMENT_COLUMNS",
    "Results",
    "ResultsWriter",
    "WordRows",
    "record_from_parquet_row",
    "explanation_record",
    "model_fingerprint",
    "open_results_writer",
    "partial_path",
    "read_results",
    "record_to_explanation",
    "results_lock",
    "results_format",
    "run_header",
    "run_fingerprint",
    "skipped_record",
]
