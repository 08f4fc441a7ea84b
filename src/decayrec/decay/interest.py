"""Batch interest profiles: I(t) = Σ w_type · k(t − tᵢ; h) per (user, key) in one pass.

Why: this is the heart of the decay model. Interest of a user in a category (or an item) is
the sum over their past events of the event-type weight times the kernel weight of the event's
age. It is computed for a whole log at once, vectorised, into a sparse users × keys matrix.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.data.schema import DEFAULT_EVENT_WEIGHTS, EventLog, EventWeights
from decayrec.decay.kernels import decay_weights
from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, KernelName

__all__ = [
    "InterestKey",
    "decayed_interest",
    "event_decay_weights",
    "forecast_interest",
    "normalize_interest",
    "sum_by_key",
]

InterestKey = Literal["category", "item"]

#: Above this many (row, key) cells the dense ``bincount`` path would use too much memory.
_DENSE_CELL_LIMIT = 1 << 25


def event_decay_weights(
    events: EventLog,
    *,
    at: float | FloatArray,
    kernel: KernelName = "exponential",
    half_life_seconds: float | FloatArray = float("inf"),
    half_life_by: InterestKey = "category",
    weights: EventWeights = DEFAULT_EVENT_WEIGHTS,
) -> FloatArray:
    """w_type · k(at − tᵢ) for every event (0 for events after ``at``).

    Parameters
    ----------
    at
        Unix seconds: one instant, or one per user index (length ``len(events.users)``).
    half_life_seconds
        A scalar, or one half-life per category (per item when ``half_life_by="item"``);
        events without a category use the median of the per-category values.
    """
    ages = _ages(events, at)
    half_life = _per_event_half_life(events, half_life_seconds, half_life_by)
    kernel_weight = decay_weights(ages, half_life, kernel)
    kernel_weight *= weights.as_array()[events.event_type]
    return kernel_weight


def decayed_interest(
    events: EventLog,
    *,
    at: float | FloatArray,
    key: InterestKey = "category",
    kernel: KernelName = "exponential",
    half_life_seconds: float | FloatArray = float("inf"),
    weights: EventWeights = DEFAULT_EVENT_WEIGHTS,
) -> sp.csr_matrix:
    """Decayed interest of every user in every category (or item) at ``at``.

    Returns a ``len(events.users) × len(events.categories)`` (or ``× len(events.items)``)
    CSR matrix; events without a category are left out of the category profile.

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0, 1], item_index=[0, 1, 1],
    ...     category_index=[0, 0, 1], timestamp_seconds=[0.0, 10.0, 10.0], event_type=[0, 4, 0])
    >>> decayed_interest(log, at=10.0, half_life_seconds=10.0).toarray().tolist()
    [[5.5, 0.0], [0.0, 1.0]]
    """
    values = event_decay_weights(
        events,
        at=at,
        kernel=kernel,
        half_life_seconds=half_life_seconds,
        half_life_by=key,
        weights=weights,
    )
    if key == "category":
        cols = events.category_index
        n_cols = len(events.categories)
    elif key == "item":
        cols = events.item_index
        n_cols = len(events.items)
    else:
        raise InvalidParameterError(
            f"The 'key' parameter must be 'category' or 'item'. Got {key!r} instead."
        )
    return sum_by_key(events.user_index, cols, values, shape=(len(events.users), n_cols))


def sum_by_key(
    rows: npt.NDArray[np.integer],
    cols: npt.NDArray[np.integer],
    values: FloatArray,
    *,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Sum ``values`` into a sparse ``shape`` matrix by (row, col); negative cols are dropped."""
    n_rows, n_cols = shape
    keep = cols >= 0
    if not keep.all():
        rows, cols, values = rows[keep], cols[keep], values[keep]
    if n_rows * n_cols <= _DENSE_CELL_LIMIT:
        flat = rows.astype(np.int64) * n_cols + cols
        dense = np.bincount(flat, weights=values, minlength=n_rows * n_cols)
        nonzero = np.flatnonzero(dense)
        out_rows = nonzero // n_cols
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(out_rows, minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix(
            (dense[nonzero], (nonzero % n_cols).astype(np.int32), indptr), shape=shape
        )
    matrix = sp.csr_matrix((values, (rows, cols)), shape=shape)
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def forecast_interest(
    events: EventLog,
    *,
    at: float,
    horizon_seconds: float,
    key: InterestKey = "category",
    kernel: KernelName = "exponential",
    half_life_seconds: float | FloatArray = float("inf"),
    weights: EventWeights = DEFAULT_EVENT_WEIGHTS,
) -> sp.csr_matrix:
    """Interest expected at ``at + horizon`` if the user does nothing more until then."""
    if horizon_seconds < 0:
        raise InvalidParameterError(
            f"The 'horizon' must be a non-negative duration. Got {horizon_seconds!r} s instead."
        )
    past = events.filter(events.timestamp_seconds <= at)
    return decayed_interest(
        past,
        at=at + horizon_seconds,
        key=key,
        kernel=kernel,
        half_life_seconds=half_life_seconds,
        weights=weights,
    )


def normalize_interest(
    matrix: sp.csr_matrix,
    method: Literal["sum", "softmax"] = "sum",
    *,
    temperature: float = 1.0,
) -> sp.csr_matrix:
    """Normalise each user's row: to sum to one, or a softmax over the user's non-zero keys.

    Empty rows stay empty. ``temperature`` > 0 sharpens (small) or flattens (large) the softmax.
    """
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    counts = np.diff(out.indptr)
    row_of = np.repeat(np.arange(out.shape[0]), counts)
    if method == "sum":
        totals = np.asarray(out.sum(axis=1)).ravel()
        with np.errstate(divide="ignore", invalid="ignore"):
            out.data /= totals[row_of]
        return out
    if method != "softmax":
        raise InvalidParameterError(
            f"The 'method' parameter must be 'sum' or 'softmax'. Got {method!r} instead."
        )
    if not temperature > 0:
        raise InvalidParameterError(
            f"The 'temperature' parameter must be > 0. Got {temperature!r} instead."
        )
    if out.nnz == 0:
        return out
    scaled = out.data / temperature
    row_max = np.full(out.shape[0], -np.inf)
    np.maximum.at(row_max, row_of, scaled)
    exp = np.exp(scaled - row_max[row_of])
    totals = np.bincount(row_of, weights=exp, minlength=out.shape[0])
    out.data = exp / totals[row_of]
    return out


def _ages(events: EventLog, at: float | FloatArray) -> FloatArray:
    at_arr = np.asarray(at, dtype=np.float64)
    times = events.timestamp_seconds
    if at_arr.ndim == 0:
        ages = float(at_arr) - times
        return ages
    if at_arr.shape != (len(events.users),):
        raise InvalidParameterError(
            f"'at' must be one instant or one per user ({len(events.users)}). "
            f"Got shape {at_arr.shape} instead."
        )
    return at_arr[events.user_index] - times


def _per_event_half_life(
    events: EventLog, half_life_seconds: float | FloatArray, by: InterestKey
) -> float | FloatArray:
    half_life = np.asarray(half_life_seconds, dtype=np.float64)
    if half_life.ndim == 0:
        return float(half_life)
    keys = events.category_index if by == "category" else events.item_index
    fallback = float(np.median(half_life)) if half_life.size else float("inf")
    table = np.append(half_life, fallback)  # index -1 (no category) reads the fallback
    return table[keys]
