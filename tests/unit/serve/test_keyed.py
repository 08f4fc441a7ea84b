"""KeyedSums' per-owner rows: insertion order kept, and nothing the garbage collector walks."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from decayrec.serve._keyed import OWNER_SHIFT, KeyedSums


def _add(sums: KeyedSums, owners: np.ndarray, low: np.ndarray) -> None:
    codes = (owners.astype(np.int64) << OWNER_SHIFT) | low.astype(np.int64)
    n = len(codes)
    sums.add(codes, np.zeros(n), np.ones(n), np.ones(n), np.zeros(n, dtype=bool))


def test_rows_of_owner_lists_each_owners_new_keys_in_order_across_batches() -> None:
    """Against a dict of lists, over batches that grow, refill and move owners' blocks."""
    rng = np.random.default_rng(3)
    sums = KeyedSums(np.ones(1), np.ones(1))
    expected: dict[int, list[int]] = {}
    row_of: dict[int, int] = {}
    for size in [1, 5, 300, 2_000, 7, 4_000]:
        owners = rng.integers(0, 1_500, size=size)
        low = rng.integers(0, 40, size=size)
        _add(sums, owners, low)
        codes = (owners.astype(np.int64) << OWNER_SHIFT) | low
        for code in np.unique(codes).tolist():  # new keys take rows in sorted-code order
            if code not in row_of:
                row_of[code] = len(row_of)
                expected.setdefault(code >> OWNER_SHIFT, []).append(row_of[code])
        for owner in range(1_600):
            assert sums.rows_of_owner(owner).tolist() == expected.get(owner, [])
    assert len(sums) == len(row_of)


def test_returned_rows_are_a_copy() -> None:
    sums = KeyedSums(np.ones(1), np.ones(1))
    _add(sums, np.array([0, 0]), np.array([1, 2]))
    rows = sums.rows_of_owner(0)
    rows[:] = 99
    assert sums.rows_of_owner(0).tolist() == [0, 1]


def test_many_owners_add_no_object_the_garbage_collector_tracks() -> None:
    """One list per user made every full collection walk 200k lists (a 100 ms stall)."""
    sums = KeyedSums(np.ones(1), np.ones(1))
    gc.collect()
    before = len(gc.get_objects())
    _add(sums, np.arange(50_000), np.zeros(50_000, dtype=np.int64))
    gc.collect()
    assert len(gc.get_objects()) - before < 100


def test_negative_owners_are_refused() -> None:
    sums = KeyedSums(np.ones(1), np.ones(1))
    with pytest.raises(ValueError, match="non-negative"):
        _add(sums, np.array([-1]), np.array([0]))
