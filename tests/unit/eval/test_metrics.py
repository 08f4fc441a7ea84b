"""Known-answer and reference tests of the full-ranking metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from decayrec.errors import InvalidParameterError
from decayrec.eval.metrics import (
    RANKING_METRICS,
    catalogue_coverage,
    hit_matrix,
    per_user_metrics,
    ranking_metrics,
)


def _targets(rows: list[list[int]], n_columns: int) -> sp.csr_matrix:
    data = [(r, c) for r, cols in enumerate(rows) for c in cols]
    if not data:
        return sp.csr_matrix((len(rows), n_columns))
    r, c = zip(*data, strict=True)
    return sp.csr_matrix((np.ones(len(r)), (r, c)), shape=(len(rows), n_columns))


def _reference(
    ranked: list[list[int]], targets: list[set[int]], absent: list[int], k: int
) -> dict[str, float]:
    """A slow, obvious implementation: loops and sets, straight from the definitions."""
    sums = dict.fromkeys(RANKING_METRICS, 0.0)
    n_valid = 0
    for row, relevant, n_absent in zip(ranked, targets, absent, strict=True):
        n_rel = len(relevant) + n_absent
        if n_rel == 0:
            continue
        n_valid += 1
        top = row[:k]
        hits = [1.0 if (i >= 0 and i in relevant) else 0.0 for i in top]
        hits += [0.0] * (k - len(hits))
        h = sum(hits)
        p, r = h / k, h / n_rel
        sums["precision"] += p
        sums["recall"] += r
        sums["f1"] += 0.0 if p + r == 0 else 2 * p * r / (p + r)
        dcg = sum(g / math.log2(j + 2) for j, g in enumerate(hits))
        idcg = sum(1 / math.log2(j + 2) for j in range(min(n_rel, k)))
        sums["ndcg"] += dcg / idcg
        first = next((j for j, g in enumerate(hits) if g), None)
        sums["mrr"] += 0.0 if first is None else 1 / (first + 1)
        sums["hit_rate"] += 1.0 if h else 0.0
        ap, seen = 0.0, 0.0
        for j, g in enumerate(hits):
            if g:
                seen += 1
                ap += seen / (j + 1)
        sums["map"] += ap / min(n_rel, k)
    return {name: value / n_valid for name, value in sums.items()}


class TestKnownAnswers:
    def test_hand_computed_two_users(self) -> None:
        # user 0: relevant {1, 4}; ranked 3, 1, 0, 4 -> hits at ranks 2 and 4
        # user 1: relevant {2} plus one target absent from the catalogue; ranked 2 first
        ranked = np.array([[3, 1, 0, 4], [2, 0, -1, -1]])
        targets = _targets([[1, 4], [2]], 5)
        scores = ranking_metrics(ranked, targets, ks=(2, 4), n_absent=[0, 1], n_items=5)

        # K = 2: user 0 has 1 hit at rank 2; user 1 has 1 hit at rank 1 of 2 relevant
        assert scores["precision@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
        assert scores["recall@2"] == pytest.approx((1 / 2 + 1 / 2) / 2)
        assert scores["f1@2"] == pytest.approx((2 * 1 / (2 + 2) + 2 * 1 / (2 + 2)) / 2)
        ndcg0 = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
        ndcg1 = 1.0 / (1 + 1 / math.log2(3))  # ideal puts both relevant (one absent) on top
        assert scores["ndcg@2"] == pytest.approx((ndcg0 + ndcg1) / 2)
        assert scores["mrr@2"] == pytest.approx((1 / 2 + 1) / 2)
        assert scores["hit_rate@2"] == 1.0
        assert scores["map@2"] == pytest.approx(((1 / 2) / 2 + 1 / 2) / 2)
        assert scores["coverage@2"] == pytest.approx(4 / 5)  # {3, 1, 2, 0}

        # K = 4: user 0 hits at ranks 2 and 4
        assert scores["precision@4"] == pytest.approx((2 / 4 + 1 / 4) / 2)
        assert scores["recall@4"] == pytest.approx((1.0 + 1 / 2) / 2)
        ndcg0 = (1 / math.log2(3) + 1 / math.log2(5)) / (1 + 1 / math.log2(3))
        assert scores["ndcg@4"] == pytest.approx((ndcg0 + ndcg1) / 2)
        assert scores["map@4"] == pytest.approx(((1 / 2 + 2 / 4) / 2 + 1 / 2) / 2)
        assert scores["coverage@4"] == pytest.approx(1.0)

    def test_perfect_ranking_scores_one(self) -> None:
        ranked = np.array([[2, 0, 1], [1, 2, 0]])
        targets = _targets([[2, 0], [1]], 3)
        scores = ranking_metrics(ranked, targets, ks=(2,))
        for name in ("ndcg", "recall", "mrr", "hit_rate", "map"):
            assert scores[f"{name}@2"] == pytest.approx(1.0), name

    def test_absent_targets_cap_recall(self) -> None:
        """A target outside the catalogue can never be hit: recall stays below 1."""
        ranked = np.array([[0, 1]])
        targets = _targets([[0]], 2)
        assert ranking_metrics(ranked, targets, ks=(2,), n_absent=[1])["recall@2"] == 0.5
        # the same, represented as an extra column beyond the catalogue
        extra = _targets([[0, 2]], 3)
        assert ranking_metrics(ranked, extra, ks=(2,))["recall@2"] == 0.5

    def test_short_lists_count_missing_ranks_as_misses(self) -> None:
        ranked = np.array([[0]])
        targets = _targets([[0]], 1)
        scores = ranking_metrics(ranked, targets, ks=(10,), n_items=1)
        assert scores["precision@10"] == pytest.approx(0.1)
        assert scores["recall@10"] == 1.0
        assert scores["coverage@10"] == 1.0

    def test_users_without_targets_are_not_averaged(self) -> None:
        ranked = np.array([[0, 1], [0, 1]])
        targets = _targets([[0], []], 2)
        per_user = per_user_metrics(ranked, targets, ks=(1,))
        assert np.isnan(per_user["recall@1"][1])
        assert ranking_metrics(ranked, targets, ks=(1,))["recall@1"] == 1.0

    def test_hit_matrix_ignores_padding(self) -> None:
        ranked = np.array([[-1, 0], [1, -1]])
        targets = _targets([[0], [0]], 2)
        assert hit_matrix(ranked, targets).tolist() == [[False, True], [False, False]]

    def test_coverage_counts_distinct_items(self) -> None:
        ranked = np.array([[0, 1, 2], [0, 1, 3]])
        assert catalogue_coverage(ranked, 2, 10) == pytest.approx(0.2)
        assert catalogue_coverage(ranked, 3, 10) == pytest.approx(0.4)


class TestValidation:
    def test_rejects_repeated_index(self) -> None:
        with pytest.raises(InvalidParameterError, match="repeats an index in row 0"):
            hit_matrix(np.array([[1, 1]]), _targets([[1]], 2))

    def test_rejects_out_of_range_index(self) -> None:
        with pytest.raises(InvalidParameterError, match="holds index 5"):
            hit_matrix(np.array([[5]]), _targets([[1]], 2))

    def test_rejects_row_mismatch(self) -> None:
        with pytest.raises(InvalidParameterError, match="2 rows but 'ranked' has 1"):
            hit_matrix(np.array([[0]]), _targets([[0], [1]], 2))

    def test_rejects_dense_targets(self) -> None:
        with pytest.raises(InvalidParameterError, match=r"scipy\.sparse"):
            hit_matrix(np.array([[0]]), np.array([[1]]))

    @pytest.mark.parametrize("ks", [(), (0,), (2.5,), (True,)])
    def test_rejects_bad_cutoffs(self, ks: tuple[object, ...]) -> None:
        with pytest.raises(InvalidParameterError, match="'ks'"):
            per_user_metrics(np.array([[0]]), _targets([[0]], 1), ks=ks)  # type: ignore[arg-type]

    def test_rejects_negative_absent_counts(self) -> None:
        with pytest.raises(InvalidParameterError, match="'n_absent'"):
            ranking_metrics(np.array([[0]]), _targets([[0]], 1), n_absent=[-1])

    def test_rejects_no_targets_at_all(self) -> None:
        with pytest.raises(InvalidParameterError, match="no relevant entry"):
            ranking_metrics(np.array([[0]]), _targets([[]], 1))


@st.composite
def _cases(draw: st.DrawFn) -> tuple[list[list[int]], list[set[int]], list[int], int, int]:
    n_items = draw(st.integers(1, 12))
    n_users = draw(st.integers(1, 6))
    width = draw(st.integers(1, n_items))
    ranked: list[list[int]] = []
    targets: list[set[int]] = []
    absent: list[int] = []
    for _ in range(n_users):
        row = draw(st.permutations(range(n_items)))[:width]
        n_pad = draw(st.integers(0, width))
        ranked.append(list(row[: width - n_pad]) + [-1] * n_pad)
        targets.append(draw(st.sets(st.integers(0, n_items - 1))))
        absent.append(draw(st.integers(0, 2)))
    if all(len(t) + a == 0 for t, a in zip(targets, absent, strict=True)):
        absent[0] = 1
    k = draw(st.integers(1, n_items + 2))
    return ranked, targets, absent, k, n_items


@settings(max_examples=200, deadline=None)
@given(_cases())
def test_matches_reference_implementation(
    case: tuple[list[list[int]], list[set[int]], list[int], int, int],
) -> None:
    ranked, targets, absent, k, n_items = case
    matrix = _targets([sorted(t) for t in targets], n_items)
    scores = ranking_metrics(np.array(ranked), matrix, ks=(k,), n_absent=absent)
    expected = _reference(ranked, targets, absent, k)
    for name in RANKING_METRICS:
        assert scores[f"{name}@{k}"] == pytest.approx(expected[name], abs=1e-12), name


def test_matches_reference_on_seeded_random_data(rng: np.random.Generator) -> None:
    """A larger random case (300 users, 500 items) against the loop reference."""
    n_users, n_items, width = 300, 500, 25
    ranked = np.array([rng.permutation(n_items)[:width] for _ in range(n_users)])
    ranked[rng.random(ranked.shape) < 0.05] = -1  # sprinkle padding (keeps rows distinct)
    targets = [set(rng.choice(n_items, rng.integers(0, 8), replace=False).tolist()) for _ in ranked]
    # make hits likely: copy a few ranked items into the targets
    for row, relevant in zip(ranked, targets, strict=True):
        relevant.update(int(i) for i in row[:5] if i >= 0 and rng.random() < 0.3)
    absent = rng.integers(0, 2, n_users).tolist()
    matrix = _targets([sorted(t) for t in targets], n_items)
    scores = ranking_metrics(ranked, matrix, ks=(5, 10, 20, 30), n_absent=absent)
    for k in (5, 10, 20, 30):
        expected = _reference(ranked.tolist(), targets, absent, k)
        for name in RANKING_METRICS:
            assert scores[f"{name}@{k}"] == pytest.approx(expected[name], abs=1e-12)
