"""Exact top-``n`` selection per row, with ties broken by a lazily computed prior.

What: :func:`top_n` picks the ``n`` best columns of each row of a score matrix by
(score desc, prior desc, index asc), exactly, with exclusions (``-inf``), NaN and a relative
threshold turned into -1 / NaN padding. Both item lists and category rankings use it.

Why a module of its own: the selection is the hottest step of ``recommend`` on big catalogues
and its fast path (block maxima, then an exact selection by value) is subtle; it is a pure
function of arrays, tested against a full sort, and needs nothing of the estimator.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray, IndexArray

__all__ = ["PriorFn", "top_n"]

#: Per-row secondary ranking key, computed lazily for the rows that need it.
PriorFn = Callable[[IndexArray], FloatArray]

#: Columns per block in the pre-selection of :func:`top_n`.
_BLOCK: Final = 64


def top_n(
    scores: FloatArray,
    n: int,
    threshold: float | None,
    prior: PriorFn | None = None,
) -> tuple[IndexArray, FloatArray]:
    """The ``n`` best columns per row by (score desc, prior desc, index asc), exactly.

    Why not ``argpartition`` alone: it breaks ties at the cut arbitrarily, so equal scores
    (say, every unseen item at 0) would come back in an unspecified order. Rows whose cut is
    tied are resolved by the secondary keys; ``prior`` (``rows -> (len(rows), n_cols)``, e.g.
    popularity) is evaluated only for rows with ties. ``-inf`` marks excluded entries and NaN
    ranks below everything; they and entries under ``threshold`` (relative to the row's best
    score) come back as -1 / NaN padding at the end of the row. ``scores`` is not modified.

    Speed: a selection over whole rows costs about 10 ns per cell, more than computing most
    scores. For short lists the row is first cut into blocks of :data:`_BLOCK` columns; the
    n-th largest block maximum ``L`` is a lower bound of the n-th largest score, so every
    entry that can make the list (ties included) lies in a block whose maximum is ``>= L``.
    Only those blocks are searched exactly; rows with too many such blocks (heavy ties) take
    the full path. Both paths apply the same total order, so the result does not depend on
    the path.
    """
    n_rows, n_cols = scores.shape
    n = min(n, n_cols)
    top = np.full((n_rows, n), -1, dtype=np.int32)
    top_scores = np.full((n_rows, n), np.nan)
    if n == 0 or n_rows == 0:
        return top, top_scores
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    get_prior = _cached_prior(prior) if prior is not None else None
    cols = np.empty((n_rows, n), dtype=np.int64)
    full_rows = np.arange(n_rows)
    n_blocks = n_cols // _BLOCK
    width = 2 * n + 4  # candidate blocks kept per row on the fast path
    if n_blocks >= 4 * width:
        body = scores[:, : n_blocks * _BLOCK].reshape(n_rows, n_blocks, _BLOCK)
        block_max = np.fmax.reduce(body, axis=2)
        if n_cols > n_blocks * _BLOCK:
            tail = np.fmax.reduce(scores[:, n_blocks * _BLOCK :], axis=1)
            block_max = np.concatenate([block_max, tail[:, None]], axis=1)
        total_blocks = block_max.shape[1]
        bound = np.partition(block_max, total_blocks - n, axis=1)[:, total_blocks - n]
        n_candidates = (block_max >= bound[:, None]).sum(axis=1)
        fast = np.isfinite(bound) & (n_candidates <= width)
        fast_rows = np.flatnonzero(fast)
        full_rows = np.flatnonzero(~fast)
        if fast_rows.size:
            blocks = np.argpartition(-block_max[fast_rows], width - 1, axis=1)[:, :width]
            blocks.sort(axis=1)  # ids must increase along the row for _select
            ids = (blocks[:, :, None] * _BLOCK + np.arange(_BLOCK)).reshape(fast_rows.size, -1)
            outside = ids >= n_cols  # the tail block is shorter
            ids[outside] = n_cols - 1
            values = scores[fast_rows[:, None], ids]  # gathers only the candidates
            values[outside] = -np.inf
            cols[fast_rows] = _select(values, ids, n, fast_rows, get_prior)
    if full_rows.size:
        values = scores[full_rows] if full_rows.size < n_rows else scores
        cols[full_rows] = _select(values, None, n, full_rows, get_prior)
    chosen = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -chosen), axis=1)
    cols = np.take_along_axis(cols, order, axis=1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    if get_prior is not None:
        tied = np.flatnonzero(
            (np.isfinite(chosen[:, 1:]) & (chosen[:, 1:] == chosen[:, :-1])).any(axis=1)
        )
        if tied.size:
            sub_cols = cols[tied]
            sub_prior = np.take_along_axis(get_prior(tied), sub_cols, axis=1)
            sub_order = np.lexsort((sub_cols, -sub_prior, -chosen[tied]), axis=1)
            cols[tied] = np.take_along_axis(sub_cols, sub_order, axis=1)
            chosen[tied] = np.take_along_axis(chosen[tied], sub_order, axis=1)
    invalid = ~np.isfinite(chosen)
    if threshold is not None:
        best = chosen[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(best > 0, chosen / best, 0.0)
        invalid |= relative < threshold
    top[~invalid] = cols[~invalid]
    top_scores[~invalid] = chosen[~invalid]
    return top, top_scores


def _cached_prior(prior: PriorFn) -> Callable[[npt.NDArray[np.intp]], FloatArray]:
    """``prior`` evaluated at most once per row (tie resolution and ordering may both ask)."""
    cache: dict[int, FloatArray] = {}

    def rows_of(rows: npt.NDArray[np.intp]) -> FloatArray:
        missing = [r for r in rows.tolist() if r not in cache]
        if missing:
            cache.update(zip(missing, prior(np.array(missing, dtype=np.int32)), strict=True))
        return np.stack([cache[r] for r in rows.tolist()])

    return rows_of


def _select(
    values: FloatArray,
    ids: npt.NDArray[np.int64] | None,
    n: int,
    rows: npt.NDArray[np.intp],
    prior: Callable[[npt.NDArray[np.intp]], FloatArray] | None,
) -> npt.NDArray[np.int64]:
    """Column ids of the ``n`` best entries per row of ``values`` (any order inside).

    ``ids[r, j]`` is the true column of ``values[r, j]`` and must increase along each row
    (``None``: ``j`` itself); ``rows`` are the batch rows, passed to ``prior``. Exact on ties:
    (score desc, prior desc, id asc). No NaN in ``values``.

    Works by value rather than by ``argpartition``: the n-th largest value is the cut,
    everything above it is in, and of the entries equal to it the row takes those with the
    largest prior, then the lowest ids (a running count along the row, as ids increase).
    """
    n_rows, width = values.shape
    if n >= width:
        local = np.broadcast_to(np.arange(width), (n_rows, width))
    else:
        cut = -np.partition(-values, n - 1, axis=1)[:, n - 1 : n]
        above = values > cut
        tied = values == cut
        n_above = above.sum(axis=1)
        ambiguous = np.flatnonzero(n_above + tied.sum(axis=1) > n)
        if ambiguous.size:
            sub_above, sub_tied = above[ambiguous], tied[ambiguous]
            # Below a cut of -inf everything is padding; the prior is not worth computing.
            with_prior = np.flatnonzero(np.isfinite(cut[ambiguous, 0]))
            if prior is not None and with_prior.size:
                sub_ids = (
                    np.broadcast_to(np.arange(width), (with_prior.size, width))
                    if ids is None
                    else ids[ambiguous[with_prior]]
                )
                key = np.take_along_axis(prior(rows[ambiguous[with_prior]]), sub_ids, axis=1)
                a, t = sub_above[with_prior], sub_tied[with_prior]
                masked = np.where(a, np.inf, np.where(t, key, -np.inf))
                key_cut = -np.partition(-masked, n - 1, axis=1)[:, n - 1 : n]
                sub_above[with_prior] = a | (t & (key > key_cut))
                sub_tied[with_prior] = t & (key == key_cut)
            need = n - sub_above.sum(axis=1, keepdims=True)
            first = np.cumsum(sub_tied, axis=1, dtype=np.int32) <= need
            above[ambiguous] = sub_above | (sub_tied & first)
            tied[ambiguous] = False
        local = np.nonzero(above | tied)[1].reshape(n_rows, n)
    if ids is None:
        return np.asarray(local, dtype=np.int64)
    return np.take_along_axis(ids, local, axis=1)
