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

:func:`sample_records` draws an evaluation sample the same way: seeded, stratified by
label, so that a sample of ids that begin with their class is not one class.

>>> from doclrp.corpus.split import sample_records
>>> sorted({r.label for r in sample_records(sorted(records, key=lambda r: r.label), 4, seed=1)})
['a', 'b']
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable

from doclrp.corpus.readers import Record
from doclrp.errors import DoclrpError

__all__ = ["train_test_split_fixed", "sample_records"]


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


def sample_records(records: Iterable[Record], n: int, seed: int = 0) -> list[Record]:
    """``n`` of ``records`` drawn at random from ``seed`` and stratified by label (each label
    in proportion to its share, largest remainders rounding up; at random among all when
    there are no labels), returned in id order; all of them, in id order, when ``n`` covers
    them. The same on any machine and for any input order (keys by ``blake2b``, as the split).

    >>> recs = [Record(f"{label}{i:02d}", f"text {label} {i}", label) for label in "abc" for i in range(10)]
    >>> sample = sample_records(recs, 6, seed=0)
    >>> [r.label for r in sample]
    ['a', 'a', 'b', 'b', 'c', 'c']
    >>> sample == sample_records(recs[::-1], 6, seed=0) != sample_records(recs, 6, seed=1)
    True
    """
    records = list(records)
    if isinstance(n, bool) or int(n) != n or n < 0:
        raise DoclrpError(f"the sample size must be a whole number >= 0, got {n!r}")
    by_id = lambda r: r.id  # noqa: E731
    if n >= len(records):
        return sorted(records, key=by_id)
    groups: dict[str | None, list[Record]] = defaultdict(list)
    for record in records:
        groups[record.label].append(record)
    labels = sorted(groups, key=lambda label: (label is not None, str(label)))
    exact = {label: n * len(groups[label]) / len(records) for label in labels}
    quota = {label: int(exact[label]) for label in labels}
    # largest remainders first (ties: larger group, then label), so the quotas sum to n
    for label in sorted(labels, key=lambda lb: (quota[lb] - exact[lb], -len(groups[lb]), str(lb)))[
            : n - sum(quota.values())]:
        quota[label] += 1
    chosen: list[Record] = []
    for label in labels:
        keyed = sorted(groups[label], key=lambda r: (_sample_key(r, seed), r.id))
        chosen += keyed[: quota[label]]
    return sorted(chosen, key=by_id)


def _sample_key(record: Record, seed: int) -> bytes:
    # by id, not text (as the split is): a sample may hold duplicated texts, and ids are unique
    return hashlib.blake2b(f"sample:{seed}:{record.id}".encode(), digest_size=16).digest()
