"""A fixed, documented train/test split that does not depend on record order.

>>> from doclrp.corpus.readers import Record
>>> from doclrp.corpus.split import train_test_split_fixed
>>> records = [Record(str(i), f"text {i}", "ab"[i % 2]) for i in range(10)]
>>> train, test = train_test_split_fixed(records, test_fraction=0.2)
>>> len(train), len(test), sorted(r.label for r in test)
(8, 2, ['a', 'b'])
>>> train_test_split_fixed(records[::-1])[1] == test
True

How it works (also in corpora/README.md): records are grouped by label (all
records form one group when labels are None); within each group they are
ordered by ``blake2b(f"{seed}:{text}")`` and the first
``round(test_fraction * len(group))`` go to test. The key is the text, not the
id, so that duplicated documents (BBC News holds some) land on the same side
and cannot leak from train into test; ties are broken by id. The result is
the same for any input order, on any machine and Python version (no
``hash()``, whose salt changes per process).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from doclrp.corpus.readers import Record
from doclrp.errors import DoclrpError

__all__ = ["train_test_split_fixed"]


def _key(record: Record, seed: int) -> bytes:
    return hashlib.blake2b(f"{seed}:{record.text}".encode(), digest_size=16).digest()


def train_test_split_fixed(
    records: Iterable[Record], test_fraction: float = 0.2, seed: int = 13
) -> tuple[list[Record], list[Record]]:
    """``(train, test)`` lists, stratified by label; each is ordered by id.

    >>> train_test_split_fixed([], test_fraction=0.5)
    ([], [])
    """
    if not 0.0 <= test_fraction <= 1.0:
        raise DoclrpError(f"test_fraction must be in [0, 1], got {test_fraction!r}")
    groups: dict[str | None, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.label].append(record)
    train: list[Record] = []
    test: list[Record] = []
    for group in groups.values():
        keys = {r.id: _key(r, seed) for r in group}
        ordered = sorted(group, key=lambda r: (keys[r.id], r.id))
        cut = round(test_fraction * len(ordered))
        # Move the cut past identical texts so a duplicate is never split.
        while 0 < cut < len(ordered) and keys[ordered[cut].id] == keys[ordered[cut - 1].id]:
            cut += 1
        test += ordered[:cut]
        train += ordered[cut:]
    by_id = lambda r: r.id  # noqa: E731
    return sorted(train, key=by_id), sorted(test, key=by_id)
