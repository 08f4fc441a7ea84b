"""Exact full-ranking metrics, vectorised over users.

Why: sampled metrics (rank the target among 100 random items) flatter every model and can
even reorder them, so decayrec scores the model's top-``K`` list against the *whole*
catalogue. Everything here works on two plain inputs and never loops over users:

``ranked``
    ``(n_users, K_max)`` integer item (or category) indices, best first, padded with ``-1``
    where a model returned fewer than ``K_max`` entries. Indices must be unique within a row.
``targets``
    a sparse ``(n_users, n_columns)`` matrix whose stored non-zero entries mark the relevant
    indices of each user (binary relevance; values are ignored).

Targets a model *cannot* rank (an item that never occurs in its training data) still count in
the denominators of recall, F1, NDCG and MAP: pass their number per user as ``n_absent`` (or
give them extra columns beyond the catalogue, which no ranking can hit). Recall then cannot
reach 1, which is the honest answer for a model that has never seen the item.

Definitions for a user with ``h`` hits among the first ``K`` ranks and ``R`` relevant targets
(``R`` includes the absent ones); every metric is averaged over users with ``R >= 1``
(each user weighs the same, whatever the size of their target set):

=============  ===================================================================
``precision``  ``h / K`` (a list shorter than ``K`` is not rewarded for it)
``recall``     ``h / R``
``f1``         harmonic mean of the user's own precision and recall,
               ``2 P R / (P + R) = 2 h / (K + R)`` (0 without hits), then averaged;
               *not* the harmonic mean of the averaged P and R
``ndcg``       ``DCG / IDCG`` with gains 1 and discount ``1 / log2(rank + 1)``; the
               ideal list puts ``min(R, K)`` relevant entries first
``mrr``        ``1 / rank`` of the first hit within ``K``, 0 without one
``hit_rate``   1 if any of the first ``K`` entries is relevant, else 0
``map``        average precision: ``Σ_{hits at rank j ≤ K} precision@j / min(R, K)``
``coverage``   distinct indices in all users' top-``K`` lists / catalogue size
               (a property of the lists, not of the targets)
=============  ===================================================================

Examples
--------
>>> import numpy as np
>>> import scipy.sparse as sp
>>> ranked = np.array([[3, 1, 0], [2, -1, -1]])
>>> targets = sp.csr_matrix(np.array([[0, 1, 0, 0], [1, 0, 0, 0]]))
>>> scores = ranking_metrics(ranked, targets, ks=(2,), n_items=4)
>>> scores["recall@2"], scores["precision@2"], scores["mrr@2"], scores["coverage@2"]
(0.5, 0.25, 0.25, 0.75)

References
----------
.. [1] W. Krichene and S. Rendle, "On Sampled Metrics for Item Recommendation", KDD 2020.
.. [2] K. Järvelin and J. Kekäläinen, "Cumulated gain-based evaluation of IR techniques",
   ACM TOIS 20(4), 2002.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray

__all__ = [
    "RANKING_METRICS",
    "average_metrics",
    "catalogue_coverage",
    "hit_matrix",
    "metric_key",
    "per_user_metrics",
    "ranking_metrics",
]

#: Names of the per-user ranking metrics, in report order (coverage is per list, not per user).
RANKING_METRICS: tuple[str, ...] = ("ndcg", "recall", "precision", "f1", "mrr", "hit_rate", "map")

BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]


def metric_key(name: str, k: int) -> str:
    """The lower-case key of a metric at a cutoff, e.g. ``metric_key("ndcg", 10) == "ndcg@10"``."""
    return f"{name}@{k}"


def _validate_ks(ks: Iterable[int]) -> list[int]:
    values = list(ks)
    if not values:
        raise InvalidParameterError("The 'ks' parameter must hold at least one cutoff K.")
    for k in values:
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1:
            raise InvalidParameterError(
                f"The 'ks' parameter must hold integers >= 1. Got {k!r} in {values!r} instead."
            )
    return [int(k) for k in dict.fromkeys(values)]


def _as_ranked(ranked: npt.ArrayLike) -> IntArray:
    array = np.asarray(ranked)
    if array.ndim != 2 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
        raise InvalidParameterError(
            "The 'ranked' parameter must be a 2-D integer array (n_users, K) of indices, -1 "
            f"padded. Got an array of shape {array.shape} and dtype {array.dtype} instead."
        )
    return array.astype(np.int64, copy=False)


def _as_targets(targets: Any, n_users: int) -> sp.csr_matrix:
    if not sp.issparse(targets):
        raise InvalidParameterError(
            "The 'targets' parameter must be a scipy.sparse matrix (n_users, n_columns) of "
            f"relevant indices. Got {type(targets).__name__} instead."
        )
    matrix = sp.csr_matrix(targets, copy=True)
    if matrix.shape[0] != n_users:
        raise InvalidParameterError(
            f"The 'targets' parameter has {matrix.shape[0]} rows but 'ranked' has {n_users}; "
            "they need one row per user, in the same order."
        )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    matrix.sort_indices()
    return matrix


def _as_absent(n_absent: npt.ArrayLike | None, n_users: int) -> IntArray:
    if n_absent is None:
        return np.zeros(n_users, dtype=np.int64)
    absent = np.asarray(n_absent)
    if absent.shape != (n_users,) or (absent.size and (absent < 0).any()):
        raise InvalidParameterError(
            f"The 'n_absent' parameter must be {n_users} non-negative counts (one per user). "
            f"Got an array of shape {absent.shape} instead."
        )
    return absent.astype(np.int64, copy=False)


def hit_matrix(ranked: npt.ArrayLike, targets: Any) -> BoolArray:
    """Whether each ranked entry is one of its user's targets: ``(n_users, K_max)`` booleans.

    Why a sorted search instead of a dense ``(n_users, n_items)`` mask: the mask for a real
    catalogue would need gigabytes; encoding each (user, index) pair as one ``int64`` key and
    looking the ranked keys up in the sorted target keys needs memory proportional to the
    number of targets plus the size of ``ranked``.

    Raises
    ------
    InvalidParameterError
        When shapes disagree, an index lies outside ``[-1, n_columns)``, or a row repeats an
        index (which would let precision exceed 1).
    """
    ranks = _as_ranked(ranked)
    n_users, width = ranks.shape
    matrix = _as_targets(targets, n_users)
    n_columns = int(matrix.shape[1])
    if ranks.size:
        low, high = int(ranks.min()), int(ranks.max())
        if low < -1 or high >= n_columns:
            raise InvalidParameterError(
                f"The 'ranked' parameter holds index {low if low < -1 else high}; indices must "
                f"be -1 (padding) or in [0, {n_columns}), the columns of 'targets'."
            )
        ordered = np.sort(ranks, axis=1)
        repeated = (ordered[:, 1:] == ordered[:, :-1]) & (ordered[:, 1:] >= 0)
        if repeated.any():
            row = int(np.flatnonzero(repeated.any(axis=1))[0])
            raise InvalidParameterError(
                f"The 'ranked' parameter repeats an index in row {row}: {ranks[row].tolist()}; "
                "each user's list must hold distinct indices."
            )
    target_rows = np.repeat(np.arange(n_users, dtype=np.int64), np.diff(matrix.indptr))
    # Rows ascend and indices are sorted within rows, so the keys come out sorted.
    target_keys = target_rows * n_columns + matrix.indices.astype(np.int64)
    ranked_keys = np.arange(n_users, dtype=np.int64)[:, None] * n_columns + ranks
    position = np.searchsorted(target_keys, ranked_keys)
    found = position < target_keys.size
    found[found] = target_keys[position[found]] == ranked_keys[found]
    hits: BoolArray = found & (ranks >= 0)
    return hits.reshape(n_users, width)


def per_user_metrics(
    ranked: npt.ArrayLike,
    targets: Any,
    ks: Sequence[int] = (10,),
    *,
    n_absent: npt.ArrayLike | None = None,
) -> dict[str, FloatArray]:
    """Every metric of :data:`RANKING_METRICS` at every ``K``, one value per user.

    Parameters
    ----------
    ranked
        ``(n_users, K_max)`` indices, best first, -1 padded. ``K`` larger than ``K_max`` is
        allowed: the missing ranks count as misses.
    targets
        Sparse ``(n_users, n_columns)``; stored non-zeros are the relevant indices.
    ks
        Cutoffs.
    n_absent
        Per user, how many relevant targets the model could not rank at all (not in its
        catalogue); they count in the denominators.

    Returns
    -------
    dict of str to ndarray
        ``{"ndcg@10": (n_users,), ...}``; NaN for users without any relevant target.
    """
    cutoffs = _validate_ks(ks)
    ranks = _as_ranked(ranked)
    n_users = ranks.shape[0]
    matrix = _as_targets(targets, n_users)
    n_relevant = np.diff(matrix.indptr).astype(np.int64) + _as_absent(n_absent, n_users)
    k_max = max(cutoffs)
    hits = hit_matrix(ranks[:, :k_max], matrix).astype(np.float64)
    if hits.shape[1] < k_max:
        hits = np.pad(hits, ((0, 0), (0, k_max - hits.shape[1])))

    positions = np.arange(1, k_max + 1, dtype=np.float64)
    discount = 1.0 / np.log2(positions + 1.0)
    cum_hits = np.cumsum(hits, axis=1)
    cum_dcg = np.cumsum(hits * discount, axis=1)
    ideal_dcg = np.r_[0.0, np.cumsum(discount)]  # ideal_dcg[m]: m relevant entries on top
    cum_ap = np.cumsum(hits * (cum_hits / positions), axis=1)
    any_hit = cum_hits[:, -1] > 0
    first_rank = np.where(any_hit, np.argmax(hits, axis=1) + 1, k_max + 1)

    valid = n_relevant > 0
    relevant = np.where(valid, n_relevant, 1).astype(np.float64)
    out: dict[str, FloatArray] = {}
    for k in cutoffs:
        h = cum_hits[:, k - 1]
        best_possible = np.minimum(n_relevant, k)
        values = {
            "ndcg": cum_dcg[:, k - 1] / np.where(valid, ideal_dcg[best_possible], 1.0),
            "recall": h / relevant,
            "precision": h / k,
            "f1": 2.0 * h / (k + relevant),
            "mrr": np.where(first_rank <= k, 1.0 / first_rank, 0.0),
            "hit_rate": (h > 0).astype(np.float64),
            "map": cum_ap[:, k - 1] / np.where(valid, best_possible, 1),
        }
        for name in RANKING_METRICS:
            out[metric_key(name, k)] = np.where(valid, values[name], np.nan)
    return out


def catalogue_coverage(ranked: npt.ArrayLike, k: int, n_items: int) -> float:
    """Share of the catalogue that appears in at least one user's top-``k`` list.

    Why: a model that shows everyone the same bestsellers can score well on accuracy while
    leaving most of the shop unseen; coverage makes that visible.
    """
    ranks = _as_ranked(ranked)
    (k,) = _validate_ks([k])
    if isinstance(n_items, bool) or not isinstance(n_items, int | np.integer) or n_items < 1:
        raise InvalidParameterError(
            f"The 'n_items' parameter must be a catalogue size >= 1. Got {n_items!r} instead."
        )
    shown = ranks[:, :k]
    shown = shown[shown >= 0]
    if shown.size and int(shown.max()) >= n_items:
        raise InvalidParameterError(
            f"The 'ranked' parameter holds index {int(shown.max())}, outside the catalogue of "
            f"'n_items'={n_items}."
        )
    return float(np.unique(shown).size / n_items)


def ranking_metrics(
    ranked: npt.ArrayLike,
    targets: Any,
    ks: Sequence[int] = (10,),
    *,
    n_absent: npt.ArrayLike | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """Metrics averaged over users that have at least one relevant target.

    Parameters
    ----------
    ranked, targets, ks, n_absent
        As in :func:`per_user_metrics`.
    n_items
        Catalogue size; when given, ``coverage@K`` is added (over *all* rows of ``ranked``).

    Returns
    -------
    dict of str to float
        ``{"ndcg@10": ..., "recall@10": ..., ..., "coverage@10": ...}`` in the order of
        ``ks`` then :data:`RANKING_METRICS`.

    Raises
    ------
    InvalidParameterError
        When no user has a relevant target (an average over nobody is meaningless).
    """
    per_user = per_user_metrics(ranked, targets, ks, n_absent=n_absent)
    return average_metrics(per_user, ks, ranked=ranked, n_items=n_items)


def average_metrics(
    per_user: Mapping[str, FloatArray],
    ks: Sequence[int],
    *,
    ranked: npt.ArrayLike | None = None,
    n_items: int | None = None,
) -> dict[str, float]:
    """The averages of :func:`ranking_metrics` from :func:`per_user_metrics`' values.

    For callers that keep the per-user values too (confidence intervals), so the ranking is
    scored once. ``coverage@K`` is added when both ``ranked`` and ``n_items`` are given.
    """
    first = next(iter(per_user.values()))
    valid = ~np.isnan(first)
    if not valid.any():
        raise InvalidParameterError(
            "The 'targets' parameter holds no relevant entry for any user; metrics need at "
            "least one user with a target."
        )
    out: dict[str, float] = {}
    for k in _validate_ks(ks):
        for name in RANKING_METRICS:
            key = metric_key(name, k)
            out[key] = float(per_user[key][valid].mean())
        if n_items is not None and ranked is not None:
            out[metric_key("coverage", k)] = catalogue_coverage(ranked, k, n_items)
    return out
