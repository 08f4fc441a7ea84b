"""Histories of :class:`~decayrec.models.learned.LearnedDecay`: visits, padded windows, features.

What: the training units of the learned model and the inputs of its scoring, built with NumPy
only (no torch), so that training and serving read a user's past in exactly the same way:

* a *visit* is a run of one user's events without a gap longer than ``session_gap``; every
  event of a visit is a next-event target, predicted from the user's events *before the visit*
  (the situation of a recommendation shown when the shopper arrives);
* a *history window* is the last ``max_history`` such events, padded into ``(rows, width)``
  arrays (time order, the newest last);
* *user features* describe the window (activity, mean gap, purchase share, recency), so the
  per-user decay adjustment never looks at anything after the instant it predicts for.

Why a module of its own: the two consumers (the torch training loop and the NumPy scorer)
must agree to the event on what a history is; one implementation guarantees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from decayrec.data.schema import EventType
from decayrec.models._events import Columns, UserEvents
from decayrec.types import FloatArray, IndexArray

__all__ = [
    "FEATURE_NAMES",
    "HistoryWindow",
    "Visits",
    "find_visits",
    "history_features",
    "request_windows",
    "visit_windows",
]

DAY_SECONDS: Final = 86_400.0
#: Per-window user features, in column order (see :func:`history_features`).
FEATURE_NAMES: Final = (
    "log_events",
    "log_mean_gap_days",
    "purchase_share",
    "log_recency_days",
    "log_events_per_day",
)


@dataclass(frozen=True)
class Visits:
    """Visits of the grouped training events (positions index ``UserEvents.columns``).

    Attributes
    ----------
    start, stop
        First and one-past-last position of each visit.
    history_start
        First position of the visit's history window (``start - max_history`` at the
        earliest, never before the user's first event); ``history_start == start``: none.
    seconds
        Time of the visit's first event: the instant its targets are predicted at.
    """

    start: npt.NDArray[np.int64]
    stop: npt.NDArray[np.int64]
    history_start: npt.NDArray[np.int64]
    seconds: FloatArray

    def __len__(self) -> int:
        return len(self.start)

    def with_history(self) -> npt.NDArray[np.intp]:
        """Visits that have at least one earlier event (the only ones worth predicting)."""
        return np.flatnonzero(self.history_start < self.start)


def find_visits(user_events: UserEvents, session_gap: float, max_history: int) -> Visits:
    """Split each user's time-ordered events into visits at gaps longer than ``session_gap``."""
    columns = user_events.columns
    n = len(columns.user)
    if n == 0:
        empty = np.empty(0, dtype=np.int64)
        return Visits(empty, empty, empty, np.empty(0))
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = columns.user[1:] != columns.user[:-1]
    gap = np.full(n, np.inf)
    gap[1:] = np.diff(columns.seconds)
    boundary = new_user | (gap > session_gap)
    start = np.flatnonzero(boundary).astype(np.int64)
    stop = np.append(start[1:], n).astype(np.int64)
    user_first = user_events.indptr[columns.user[start]]
    history_start = np.maximum(start - max_history, user_first)
    return Visits(start, stop, history_start, columns.seconds[start].copy())


@dataclass(frozen=True)
class HistoryWindow:
    """Padded history windows, one row per prediction (the newest event last).

    ``valid`` marks real events; padded cells hold position 0 and must be masked.
    """

    positions: npt.NDArray[np.int64]  # (rows, width) into UserEvents.columns
    valid: npt.NDArray[np.bool_]
    age_days: FloatArray  # (rows, width) age at the prediction instant, >= 0

    @property
    def width(self) -> int:
        return int(self.positions.shape[1])


def visit_windows(visits: Visits, rows: npt.NDArray[np.intp], columns: Columns) -> HistoryWindow:
    """History windows of the given visits (events before each visit, at its start)."""
    first = visits.history_start[rows]
    length = visits.start[rows] - first
    width = max(int(length.max(initial=0)), 1)
    offsets = np.arange(width, dtype=np.int64)
    # Right-aligned: the newest event sits in the last column for every row.
    positions = (visits.start[rows] - width)[:, None] + offsets[None, :]
    valid = positions >= first[:, None]
    positions = np.where(valid, positions, 0)
    age = (visits.seconds[rows][:, None] - columns.seconds[positions]) / DAY_SECONDS
    return HistoryWindow(positions, valid, np.where(valid, age, 0.0))


def request_windows(
    user_events: UserEvents, users: IndexArray, at: FloatArray, max_history: int
) -> HistoryWindow:
    """History windows of known users at their instants: their last events at or before ``at``."""
    rows, positions, ages = user_events.gather(users, at)
    counts = np.bincount(rows, minlength=len(users))
    width = max(min(int(counts.max(initial=0)), max_history), 1)
    ends = np.cumsum(counts)
    # Rank from the end within each row: 0 for the newest event.
    from_end = np.repeat(ends, counts) - np.arange(len(rows)) - 1
    keep = from_end < width
    rows, positions, ages, from_end = rows[keep], positions[keep], ages[keep], from_end[keep]
    column = width - 1 - from_end
    out_positions = np.zeros((len(users), width), dtype=np.int64)
    valid = np.zeros((len(users), width), dtype=bool)
    age_days = np.zeros((len(users), width))
    out_positions[rows, column] = positions
    valid[rows, column] = True
    age_days[rows, column] = ages / DAY_SECONDS
    return HistoryWindow(out_positions, valid, age_days)


def history_features(window: HistoryWindow, columns: Columns) -> FloatArray:
    """User features of each window (see :data:`FEATURE_NAMES`), unscaled.

    Only the window is read, so a feature never sees beyond the prediction instant.
    """
    valid = window.valid
    n = valid.sum(axis=1).astype(np.float64)
    safe_n = np.maximum(n, 1.0)
    ages = np.where(valid, window.age_days, np.nan)
    with np.errstate(all="ignore"):
        oldest = np.nanmax(ages, axis=1)
        newest = np.nanmin(ages, axis=1)
    oldest = np.nan_to_num(oldest, nan=0.0)
    newest = np.nan_to_num(newest, nan=0.0)
    span = oldest - newest
    mean_gap = np.where(n > 1, span / np.maximum(n - 1, 1.0), 0.0)
    purchase = columns.event_type[window.positions] == EventType.PURCHASE
    purchase_share = (purchase & valid).sum(axis=1) / safe_n
    return np.column_stack(
        [
            np.log1p(n),
            np.log1p(mean_gap),
            purchase_share,
            np.log1p(newest),
            np.log1p(n / (span + 1.0)),
        ]
    )
