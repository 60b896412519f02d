"""Corpora: reading documents from folders, JSONL, CSV or the shipped BBC News
corpus, a fixed train/test split, explaining whole corpora into resumable
results (`explain_corpus`) and summarizing them (`summarize`).

>>> from doclrp.corpus import open_corpus, train_test_split_fixed
>>> train, test = train_test_split_fixed(open_corpus("bbc"))
>>> len(train), len(test)
(1781, 444)
"""

from doclrp.corpus import readers
from doclrp.corpus.readers import *  # noqa: F401,F403  (the readers' names, readers.__all__, are ours too)
from doclrp.corpus.sources.bbc import bbc_folder, read_bbc
from doclrp.corpus.split import train_test_split_fixed
from doclrp.corpus.output import read_results, record_to_explanation
from doclrp.corpus.run import CorpusSettings, RunReport, explain_corpus
from doclrp.corpus.summary import summarize_results
from doclrp.corpus.reporting import summarize

__all__ = [
    *readers.__all__,
    "read_bbc",
    "bbc_folder",
    "train_test_split_fixed",
    "explain_corpus",
    "CorpusSettings",
    "RunReport",
    "read_results",
    "record_to_explanation",
    "summarize",
    "summarize_results",
]
