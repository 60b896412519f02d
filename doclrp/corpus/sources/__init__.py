"""Dataset-specific sources of corpora: the BBC News articles (:mod:`.bbc`), the VADER
regression corpora (:mod:`.vader`) and the VADER lexicon check (:mod:`.lexicon`).

>>> from doclrp.corpus.sources.bbc import read_bbc
>>> next(iter(read_bbc())).id
'business/001'

They are found by name through :mod:`doclrp.corpus.registry`, which the generic
readers consult; each source imports the readers, never the reverse.
"""
