"""LearnedDecay's training tables: the target's own user left out, exactly."""

from __future__ import annotations

import numpy as np
import pytest

from decayrec.models import item2item
from decayrec.models._learned_tables import ItemSimilarity, leave_user_out_shares
from decayrec.models.item2item import (
    SimilarityName,
    cooccurrence_counts,
    item_similarity,
    sequence_pairs,
)


def _log(seed: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    rng = np.random.default_rng(seed)
    n_users, n_items = 30, 25
    users = rng.integers(0, n_users, 400)
    items = (rng.zipf(1.6, 400) - 1) % n_items  # popular and rare items
    return users.astype(np.int32), items.astype(np.int32), n_users, n_items


@pytest.mark.parametrize("measure", ["cooccurrence", "jaccard", "cosine", "lift", "inclusion"])
def test_held_out_similarity_is_the_similarity_without_the_user(measure: SimilarityName) -> None:
    users, items, n_users, n_items = _log(0)
    tables = ItemSimilarity(
        users, items, n_users, n_items,
        measure=measure, max_neighbours=n_items, self_weight=0.0, normalise=False,
    )  # fmt: skip
    full = item_similarity(cooccurrence_counts(users, items, n_users, n_items), measure)
    row_sum = np.asarray(full.sum(axis=1)).ravel()
    scale = row_sum[row_sum > 0].mean()
    held_out = tables.held_out().toarray() * scale
    checked = 0
    for user in range(n_users):
        mine = np.unique(items[users == user])
        others = users != user
        without = item_similarity(
            cooccurrence_counts(users[others], items[others], n_users, n_items), measure
        ).toarray()
        for h in mine:
            for t in mine:
                if h != t and full[h, t] > 0:
                    assert held_out[h, t] == pytest.approx(without[h, t], abs=1e-12)
                    checked += 1
    assert checked > 50


def test_similarity_rows_sum_to_one_when_normalised() -> None:
    users, items, n_users, n_items = _log(1)
    tables = ItemSimilarity(
        users, items, n_users, n_items,
        measure="jaccard", max_neighbours=5, self_weight=0.0, normalise=True,
    )  # fmt: skip
    has = tables.row_sum > 0
    assert np.allclose(tables.row_sum[has], 1.0)
    assert (np.diff(tables.matrix.indptr) <= 5).all()
    # Held-out rows never exceed the full ones: one shopper fewer links fewer pairs.
    assert (tables.held_out().toarray() <= tables.matrix.toarray() + 1e-12).all()


def test_shares_leave_the_targets_user_out() -> None:
    users, items, _, n_items = _log(2)
    slots = (items % 4).astype(np.int64)
    targets = np.arange(len(users), dtype=np.int64)
    got = leave_user_out_shares(users, items, slots, targets, n_items)
    for e in range(len(users)):
        others = users != users[e]
        in_slot = others & (slots == slots[e])
        expected = (in_slot & (items == items[e])).sum() / in_slot.sum() if in_slot.any() else 0
        assert got[e] == pytest.approx(expected)


def _sequence_log(seed: int) -> tuple[np.ndarray, np.ndarray, int, int]:
    """Events grouped by user in time order, with repeated items within a user."""
    users, items, n_users, n_items = _log(seed)
    order = np.argsort(users, kind="stable")
    return users[order], items[order], n_users, n_items


@pytest.mark.parametrize("measure", ["cooccurrence", "jaccard"])
@pytest.mark.parametrize("normalise", [False, True])
@pytest.mark.parametrize("backward", [1.0, 0.25])
def test_sequence_local_lookup_leaves_the_shopper_out_exactly(
    measure: SimilarityName, normalise: bool, backward: float
) -> None:
    users, items, n_users, n_items = _sequence_log(3)

    def sequence_cooccurrence(users, items, n_users, n_items, *, window, step_decay):  # type: ignore[no-untyped-def]
        pairs = sequence_pairs(
            users, items, window=window, step_decay=step_decay, backward_weight=backward
        )
        return item2item.sequence_cooccurrence(users, items, n_users, n_items, pairs), None

    tables = ItemSimilarity(
        users, items, n_users, n_items, measure=measure, max_neighbours=n_items,
        self_weight=0.0, normalise=normalise, window=3, step_decay=0.5, backward_weight=backward,
    )  # fmt: skip
    lookup = tables.training_lookup()
    full_counts, _ = sequence_cooccurrence(users, items, n_users, n_items, window=3, step_decay=0.5)
    full = item_similarity(full_counts, measure, min_cooccurrence=0).toarray()
    checked = 0
    for user in range(n_users):
        others = users != user
        counts, _ = sequence_cooccurrence(
            users[others], items[others], n_users, n_items, window=3, step_decay=0.5
        )
        without = item_similarity(counts, measure, min_cooccurrence=0).toarray()
        mine = np.unique(items[users == user])
        for h in mine:
            for t in mine:
                if h == t or full[h, t] <= 0:
                    continue
                got = lookup(np.array([h]), np.array([t]), np.array([user]))[0]
                # The matrix scales each raw row; the held-out value keeps that scale.
                expected = tables.matrix[h, t] * without[h, t] / full[h, t]
                assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
                checked += 1
    assert checked > 50


def test_sequence_local_counts_weigh_pairs_by_distance() -> None:
    users, items = np.array([0, 0, 0, 0, 1, 1]), np.array([0, 1, 2, 0, 1, 2])
    pairs = sequence_pairs(users, items, window=2, step_decay=0.5)
    dense = item2item.sequence_cooccurrence(users, items, 2, 3, pairs).toarray()
    # user 0: 0-1 (1), 1-2 (1), 2-0 (1), 0-2 (0.5), 1-0 (0.5); user 1: 1-2 (1).
    assert dense[0, 1] == dense[1, 0] == 1.5
    assert dense[1, 2] == 2.0 and dense[0, 2] == 1.5
    assert np.diag(dense).tolist() == [1.0, 2.0, 2.0]  # users per item
    tables = ItemSimilarity(
        users, items, 2, 3, measure="cooccurrence", max_neighbours=3, self_weight=0.0,
        normalise=False, window=2, step_decay=0.5,
    )  # fmt: skip
    lookup = tables.training_lookup()
    # Only user 0 links items 0 and 1 (weight 1.5): left out, nothing remains.
    assert lookup(np.array([0]), np.array([1]), np.array([0]))[0] == 0.0
    # Items 1 and 2: user 1 adds 1 of the 2, so half the value remains for user 1.
    half = lookup(np.array([1]), np.array([2]), np.array([1]))[0]
    assert half == pytest.approx(tables.matrix[1, 2] / 2)
    with pytest.raises(ValueError, match="no single held-out matrix"):
        tables.held_out()
