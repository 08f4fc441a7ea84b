"""Batch interest profiles: I(t) = Σ w_type · k(t − tᵢ; h) per (user, key) in one pass.

Why: this is the heart of the decay model. Interest of a user in a category (or an item) is
the sum over their past events of the event-type weight times the kernel weight of the event's
age. It is computed for a whole log at once, vectorised, into a sparse users × keys matrix.

Performance notes (10M events, 200k users × 500 categories, two cores; see
``benchmarks/bench_profiles.py``): each column is read from the Polars frame once (the
integer columns are zero-copy views), ages are turned into weights in place, and the
(user, key) sums use a dense ``bincount`` when the users × keys grid is small and SciPy's
counting-sort COO → CSR conversion otherwise. Results are exact sums, not approximations; for
the exponential kernel they agree with :class:`~decayrec.decay.online.ExponentialDecayState`
to rounding.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.data.schema import DEFAULT_EVENT_WEIGHTS, EventLog, EventWeights
from decayrec.decay.kernels import KERNELS, _weights_inplace, validate_half_lives, validate_kernel
from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = [
    "InterestKey",
    "decayed_interest",
    "event_decay_weights",
    "forecast_interest",
    "normalize_interest",
    "sum_by_key",
]

InterestKey = Literal["category", "item"]

#: Above this many (row, key) cells the dense ``bincount`` path would use too much memory
#: (2**25 cells are 256 MiB of float64).
_DENSE_CELL_LIMIT = 1 << 25

#: The dense path also needs the grid to be not much sparser than the data: allocating and
#: scanning a cell costs about a quarter of sorting an entry (measured crossover: 3-4 cells
#: per entry, NumPy 2.4 / SciPy 1.17, two cores), so beyond this many cells per entry the
#: sparse path is cheaper. Small grids are always dense.
_DENSE_CELLS_PER_ENTRY = 4
_DENSE_ALWAYS = 1 << 16


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
    events
        The log.
    at
        Unix seconds: one instant, or one per user index (length ``len(events.users)``).
    kernel
        The decay kernel (see :mod:`decayrec.decay.kernels`).
    half_life_seconds
        A scalar, or one half-life per category (per item when ``half_life_by="item"``);
        events without a category use the median of the per-category values.
    half_life_by
        What a half-life array is indexed by.
    weights
        Weight of each event type before decay.

    Returns
    -------
    numpy.ndarray
        One float64 weight per event, in log order.

    Raises
    ------
    InvalidParameterError
        For an unknown kernel, a non-positive half-life, a half-life array of the wrong length,
        or an ``at`` that is neither one instant nor one per user.

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0], item_index=[0, 1],
    ...     timestamp_seconds=[0.0, 20.0], event_type=[0, 4])
    >>> event_decay_weights(log, at=10.0, half_life_seconds=10.0).tolist()
    [0.5, 0.0]
    """
    _check_key(half_life_by, "half_life_by")
    return _event_weights(
        events,
        at=at,
        kernel=kernel,
        half_life_seconds=half_life_seconds,
        half_life_by=half_life_by,
        weights=weights,
        users=None,
        keys=None,
        key_is=None,
    )


def decayed_interest(
    events: EventLog,
    *,
    at: float | FloatArray,
    key: InterestKey = "category",
    kernel: KernelName = "exponential",
    half_life_seconds: float | FloatArray = float("inf"),
    weights: EventWeights = DEFAULT_EVENT_WEIGHTS,
    half_life_by: InterestKey | None = None,
) -> sp.csr_matrix:
    """Decayed interest of every user in every category (or item) at ``at``.

    Parameters
    ----------
    events
        The log.
    at
        Unix seconds: one instant, or one per user index. Events after a user's ``at`` do not
        count (they have not happened yet at that instant).
    key
        ``"category"`` (events without a category are left out) or ``"item"``.
    kernel
        The decay kernel.
    half_life_seconds
        A scalar or one half-life per ``half_life_by`` key; ``inf`` switches decay off.
    weights
        Weight of each event type before decay.
    half_life_by
        What a half-life array is indexed by; defaults to ``key``. Item profiles with
        per-category half-lives use ``key="item", half_life_by="category"``.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``len(events.users) × len(events.categories)`` (or ``× len(events.items)``), float64,
        canonical (sorted column indices, no duplicates, no explicit zeros).

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0, 1], item_index=[0, 1, 1],
    ...     category_index=[0, 0, 1], timestamp_seconds=[0.0, 10.0, 10.0], event_type=[0, 4, 0])
    >>> decayed_interest(log, at=10.0, half_life_seconds=10.0).toarray().tolist()
    [[5.5, 0.0], [0.0, 1.0]]
    """
    _check_key(key, "key")
    by = key if half_life_by is None else half_life_by
    _check_key(by, "half_life_by")
    users = events.user_index
    if key == "category":
        cols = events.category_index
        n_cols = len(events.categories)
    else:
        cols = events.item_index
        n_cols = len(events.items)
    values = _event_weights(
        events,
        at=at,
        kernel=kernel,
        half_life_seconds=half_life_seconds,
        half_life_by=by,
        weights=weights,
        users=users,
        keys=cols,
        key_is=key,
    )
    return sum_by_key(users, cols, values, shape=(len(events.users), n_cols))


def sum_by_key(
    rows: npt.NDArray[np.integer],
    cols: npt.NDArray[np.integer],
    values: FloatArray,
    *,
    shape: tuple[int, int],
) -> sp.csr_matrix:
    """Sum ``values`` into a sparse ``shape`` matrix by (row, col); negative cols are dropped.

    Why two code paths: a dense ``bincount`` over the flattened grid is the fastest exact
    group-sum when the grid is small, but its memory grows with rows × cols; past
    ``_DENSE_CELL_LIMIT`` cells (or when the grid is far sparser than the data) SciPy's
    COO → CSR conversion (a counting sort by row, then duplicates summed) is used. Both give
    the same canonical matrix; cells whose sum is exactly 0 are not stored.

    Raises
    ------
    InvalidParameterError
        When the three arrays differ in length or an index falls outside ``shape``.

    Examples
    --------
    >>> sum_by_key(np.array([0, 0, 1]), np.array([2, 2, -1]), np.array([1.0, 2.0, 5.0]),
    ...     shape=(2, 3)).toarray().tolist()
    [[0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]
    """
    n_rows, n_cols = (int(size) for size in shape)
    if not len(rows) == len(cols) == len(values):
        raise InvalidParameterError(
            "The 'rows', 'cols' and 'values' of sum_by_key must have one entry per event. "
            f"Got lengths {len(rows)}, {len(cols)} and {len(values)} instead."
        )
    keep = cols >= 0
    if not keep.all():
        rows, cols, values = rows[keep], cols[keep], values[keep]
    if len(rows):
        _check_range(rows, n_rows, "rows")
        _check_range(cols, n_cols, "cols")
    cells = n_rows * n_cols
    if cells <= _DENSE_CELL_LIMIT and cells <= max(
        _DENSE_ALWAYS, _DENSE_CELLS_PER_ENTRY * len(values)
    ):
        flat = rows.astype(np.int64)
        flat *= n_cols
        flat += cols
        dense = np.bincount(flat, weights=values, minlength=cells)
        nonzero = np.flatnonzero(dense)
        indptr = np.searchsorted(nonzero, np.arange(n_rows + 1, dtype=np.int64) * n_cols)
        return sp.csr_matrix(
            (dense[nonzero], (nonzero % max(n_cols, 1)).astype(np.int32), indptr),
            shape=(n_rows, n_cols),
        )
    # The constructor sorts by row (counting sort), sorts each row's columns and sums
    # duplicates; only zero sums are left to drop.
    matrix = sp.csr_matrix(
        (np.asarray(values, dtype=np.float64), (rows, cols)), shape=(n_rows, n_cols)
    )
    matrix.sum_duplicates()
    matrix.eliminate_zeros()
    return matrix


def forecast_interest(
    events: EventLog,
    *,
    at: float | FloatArray,
    horizon_seconds: float,
    key: InterestKey = "category",
    kernel: KernelName = "exponential",
    half_life_seconds: float | FloatArray = float("inf"),
    weights: EventWeights = DEFAULT_EVENT_WEIGHTS,
    half_life_by: InterestKey | None = None,
) -> sp.csr_matrix:
    """Interest expected at ``at + horizon`` if the user does nothing more until then.

    Why: "what will this user still care about next week" ranks categories for campaigns;
    events after ``at`` are unknown at ``at`` and so never count. For the exponential kernel
    the forecast is ``I(at) · 2^(-horizon/h)``; other kernels reshape the profile as well.

    Parameters
    ----------
    at
        Unix seconds: now (one instant, or one per user index).
    horizon_seconds
        How far ahead, ``>= 0``.

    Raises
    ------
    InvalidParameterError
        For a negative (or ``nan``) horizon, and as :func:`decayed_interest`.

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0], item_index=[0, 0], category_index=[0, 0],
    ...     timestamp_seconds=[0.0, 50.0], event_type=[0, 0])
    >>> forecast_interest(log, at=10.0, horizon_seconds=10.0,
    ...     half_life_seconds=10.0).toarray().tolist()
    [[0.25]]
    """
    if not horizon_seconds >= 0:
        raise InvalidParameterError(
            f"The 'horizon' must be a non-negative duration. Got {horizon_seconds!r} s instead."
        )
    at_arr = _instant(events, at)
    seconds = events.timestamp_seconds
    now = at_arr if at_arr.ndim == 0 else at_arr[events.user_index]
    past = events.filter(seconds <= now)
    return decayed_interest(
        past,
        at=at_arr + horizon_seconds,
        key=key,
        kernel=kernel,
        half_life_seconds=half_life_seconds,
        weights=weights,
        half_life_by=half_life_by,
    )


def normalize_interest(
    matrix: sp.csr_matrix | sp.csr_array,
    method: Literal["sum", "softmax"] = "sum",
    *,
    temperature: float = 1.0,
) -> sp.csr_matrix:
    """Normalise each user's row: to sum to one, or a softmax over the user's non-zero keys.

    Why: raw interest grows with activity; normalised rows compare heavy and light users and
    read as "share of attention". The softmax runs over the keys a user has touched only (an
    untouched key has no interest, not interest 0 that would still get probability mass).

    Parameters
    ----------
    matrix
        Users × keys interest (any sparse format).
    method
        ``"sum"`` (divide by the row total) or ``"softmax"``.
    temperature
        ``> 0``; small values sharpen the softmax towards the top key, large ones flatten it.

    Returns
    -------
    scipy.sparse.csr_matrix
        A new matrix; empty rows stay empty and the input is not modified.

    Examples
    --------
    >>> m = sp.csr_matrix(np.array([[1.0, 3.0], [0.0, 0.0]]))
    >>> normalize_interest(m).toarray().tolist()
    [[0.25, 0.75], [0.0, 0.0]]
    """
    if method not in ("sum", "softmax"):
        raise InvalidParameterError(
            f"The 'method' parameter must be 'sum' or 'softmax'. Got {method!r} instead."
        )
    if method == "softmax" and not temperature > 0:
        raise InvalidParameterError(
            f"The 'temperature' parameter must be > 0. Got {temperature!r} instead."
        )
    out = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.eliminate_zeros()  # an explicit 0 is no interest: it must not join a softmax
    counts = np.diff(out.indptr)
    row_of = np.repeat(np.arange(out.shape[0]), counts)
    if method == "sum":
        totals = np.bincount(row_of, weights=out.data, minlength=out.shape[0])
        out.data /= totals[row_of]
        return out
    if out.nnz == 0:
        return out
    scaled = out.data / temperature
    row_max = np.full(out.shape[0], -np.inf)
    np.maximum.at(row_max, row_of, scaled)
    exp = np.exp(scaled - row_max[row_of])
    totals = np.bincount(row_of, weights=exp, minlength=out.shape[0])
    out.data = exp / totals[row_of]
    return out


# ---------------------------------------------------------------------------- internals
def _check_key(key: str, name: str) -> None:
    if key not in ("category", "item"):
        raise InvalidParameterError(
            f"The '{name}' parameter must be 'category' or 'item'. Got {key!r} instead."
        )


def _check_range(index: npt.NDArray[np.integer], size: int, name: str) -> None:
    low, high = int(index.min()), int(index.max())
    if low < 0 or high >= size:
        bad = low if low < 0 else high
        raise InvalidParameterError(
            f"The '{name}' of sum_by_key must lie in [0, {size}) (negative cols are dropped). "
            f"Got {bad} instead."
        )


def _instant(events: EventLog, at: float | FloatArray) -> FloatArray:
    """``at`` as a 0-d array (one instant) or one entry per user index; never ``nan``."""
    at_arr = np.asarray(at, dtype=np.float64)
    n_users = len(events.users)
    if at_arr.shape == (1,) and n_users != 1:
        at_arr = at_arr.reshape(())
    if at_arr.ndim != 0 and at_arr.shape != (n_users,):
        raise InvalidParameterError(
            f"'at' must be one instant or one per user ({n_users}). "
            f"Got shape {at_arr.shape} instead."
        )
    if np.isnan(at_arr).any():
        raise InvalidParameterError("'at' must be a time in Unix seconds. Got nan instead.")
    return at_arr


def _event_weights(
    events: EventLog,
    *,
    at: float | FloatArray,
    kernel: KernelName,
    half_life_seconds: float | FloatArray,
    half_life_by: InterestKey,
    weights: EventWeights,
    users: IndexArray | None,
    keys: IndexArray | None,
    key_is: InterestKey | None,
) -> FloatArray:
    """The shared body of :func:`event_decay_weights`; reuses columns the caller already has."""
    func = KERNELS[validate_kernel(kernel)]
    at_arr = _instant(events, at)
    half_life = _per_event_half_life(
        events, half_life_seconds, half_life_by, keys if key_is == half_life_by else None
    )
    # Ages are computed into a float64 array this function owns, which then becomes the
    # weights in place: one 8-byte-per-event allocation instead of five.
    micros = events.frame["timestamp"].dt.epoch("us").to_numpy()
    ages = micros.astype(np.float64)
    ages /= 1e6  # exactly EventLog.timestamp_seconds
    if at_arr.ndim == 0:
        np.subtract(float(at_arr), ages, out=ages)
    else:
        per_event = at_arr[events.user_index if users is None else users]
        ages = np.subtract(per_event, ages, out=per_event)
    result = _weights_inplace(ages, half_life, func)
    type_weights = weights.as_array()
    if not (type_weights == 1.0).all():
        result *= type_weights.take(events.event_type)
    return result


def _per_event_half_life(
    events: EventLog,
    half_life_seconds: float | FloatArray,
    by: InterestKey,
    keys: IndexArray | None,
) -> float | FloatArray:
    half_life = validate_half_lives(half_life_seconds)
    if isinstance(half_life, float):
        return half_life
    n_keys = len(events.categories) if by == "category" else len(events.items)
    if half_life.shape != (n_keys,):
        raise InvalidParameterError(
            f"A 'half_life_seconds' array must hold one half-life per {by} ({n_keys}). "
            f"Got shape {half_life.shape} instead."
        )
    if keys is None:
        keys = events.category_index if by == "category" else events.item_index
    fallback = float(np.median(half_life)) if half_life.size else float("inf")
    table = np.append(half_life, fallback)  # index -1 (no category) reads the fallback
    return table.take(keys)
