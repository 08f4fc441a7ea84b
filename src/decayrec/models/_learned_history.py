"""Histories of :class:`~decayrec.models.learned.LearnedDecay`: visits, padded windows, features.

What: the training units of the learned model and the inputs of its scoring, built with NumPy
only (no torch), so that training and serving read a user's past in exactly the same way:

* every event with an earlier event of its user is a next-event target, predicted from the
  user's events before it; a *visit* (a run of events without a gap longer than
  ``session_gap``) weighs 1 in total, so long sessions do not drown the rest;
* a *history window* is the last ``max_history`` such events, padded into ``(rows, width)``
  arrays (time order, the newest last);
* *user features* describe the window (activity, mean gap, purchase share, recency), so the
  per-user decay adjustment never looks at anything after the instant it predicts for.

Why a module of its own: the two consumers (the torch training loop and the NumPy scorer)
must agree to the event on what a history is; one implementation guarantees it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from decayrec.data.schema import EventType
from decayrec.models._events import Columns, UserEvents
from decayrec.types import FloatArray, IndexArray

__all__ = [
    "FEATURE_NAMES",
    "HistoryWindow",
    "Predictions",
    "decayed_count_before",
    "find_predictions",
    "history_features",
    "prediction_windows",
    "request_windows",
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
class Predictions:
    """Training predictions: one per target event, from the user's events before it.

    Positions index ``UserEvents.columns``. A user's first event has no history and is not a
    target; in each visit only the first ``max_per_visit`` events are, each weighted
    ``1 / kept`` so that every visit counts once, however long.

    Attributes
    ----------
    position
        The target event.
    history_start
        First position of its history window (``position - max_history`` at the earliest,
        never before the user's first event).
    seconds
        The target's time: the instant it is predicted at.
    weight
        ``1 / (targets kept in its visit)``.
    opens_visit
        Whether the target is the first event of a visit (predicted from earlier visits only).
    """

    position: npt.NDArray[np.int64]
    history_start: npt.NDArray[np.int64]
    seconds: FloatArray
    weight: FloatArray
    opens_visit: npt.NDArray[np.bool_]

    def __len__(self) -> int:
        return len(self.position)


def find_predictions(
    user_events: UserEvents, session_gap: float, max_history: int, max_per_visit: int
) -> Predictions:
    """Every event with an earlier event of its user is a target (see :class:`Predictions`)."""
    columns = user_events.columns
    n = len(columns.user)
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = columns.user[1:] != columns.user[:-1]
    gap = np.full(n, np.inf)
    gap[1:] = np.diff(columns.seconds)
    opens = new_user | (gap > session_gap)
    visit = np.cumsum(opens) - 1
    visit_start = np.flatnonzero(opens)
    rank = np.arange(n) - visit_start[visit]
    keep = (rank < max_per_visit) & ~new_user
    kept_per_visit = np.bincount(visit[keep], minlength=len(visit_start))
    position = np.flatnonzero(keep).astype(np.int64)
    user_first = user_events.indptr[columns.user[position]]
    return Predictions(
        position=position,
        history_start=np.maximum(position - max_history, user_first),
        seconds=columns.seconds[position].copy(),
        weight=1.0 / kept_per_visit[visit[position]],
        opens_visit=opens[position],
    )


@dataclass(frozen=True)
class HistoryWindow:
    """Padded history windows, one row per prediction (the newest event last).

    ``valid`` marks real events; padded cells hold position 0 and must be masked.
    ``in_session`` marks the visit under way: the trailing events linked to the prediction
    instant by gaps of at most ``session_gap`` (none when the last event is older than that).
    """

    positions: npt.NDArray[np.int64]  # (rows, width) into UserEvents.columns
    valid: npt.NDArray[np.bool_]
    age_days: FloatArray  # (rows, width) age at the prediction instant, >= 0
    in_session: npt.NDArray[np.bool_]

    @property
    def width(self) -> int:
        return int(self.positions.shape[1])

    def take(self, rows: npt.NDArray[np.intp]) -> HistoryWindow:
        """The windows of the given rows."""
        return HistoryWindow(
            self.positions[rows], self.valid[rows], self.age_days[rows], self.in_session[rows]
        )

    def before_visit(self) -> HistoryWindow:
        """The same windows with the visit under way masked out (``valid`` only before it)."""
        return HistoryWindow(
            self.positions, self.valid & ~self.in_session, self.age_days, self.in_session
        )


def prediction_windows(
    predictions: Predictions,
    rows: npt.NDArray[np.intp],
    columns: Columns,
    session_gap: float,
) -> HistoryWindow:
    """History windows of the given predictions: the events before each target, at its time."""
    first = predictions.history_start[rows]
    stop = predictions.position[rows]
    width = max(int((stop - first).max(initial=0)), 1)
    offsets = np.arange(width, dtype=np.int64)
    # Right-aligned: the newest event sits in the last column for every row.
    positions = (stop - width)[:, None] + offsets[None, :]
    valid = positions >= first[:, None]
    positions = np.where(valid, positions, 0)
    age = np.where(valid, predictions.seconds[rows][:, None] - columns.seconds[positions], 0.0)
    return _window(positions, valid, age, session_gap)


def request_windows(
    user_events: UserEvents,
    users: IndexArray,
    at: FloatArray,
    max_history: int,
    session_gap: float,
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
    age_seconds = np.zeros((len(users), width))
    out_positions[rows, column] = positions
    valid[rows, column] = True
    age_seconds[rows, column] = ages
    return _window(out_positions, valid, age_seconds, session_gap)


def _window(
    positions: npt.NDArray[np.int64],
    valid: npt.NDArray[np.bool_],
    age_seconds: FloatArray,
    session_gap: float,
) -> HistoryWindow:
    """A window from right-aligned cells; finds the visit under way from the ages alone."""
    # Gap from each event to the next one (the newest: to the prediction instant).
    to_next = np.empty_like(age_seconds)
    to_next[:, :-1] = age_seconds[:, :-1] - age_seconds[:, 1:]
    to_next[:, -1] = age_seconds[:, -1]
    linked = (to_next <= session_gap) & valid
    in_session = np.flip(np.logical_and.accumulate(np.flip(linked, axis=1), axis=1), axis=1)
    return HistoryWindow(positions, valid, age_seconds / DAY_SECONDS, in_session)


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


def decayed_count_before(
    keys: npt.NDArray[np.integer[Any]],
    seconds: FloatArray,
    weights: FloatArray,
    half_life: float,
    *,
    users: npt.NDArray[np.integer[Any]] | None = None,
) -> FloatArray:
    """For every event, ``Σ w_j 2^(-(t - t_j) / h)`` over the earlier events with its key.

    "Earlier" is earlier in ``(key, time)`` order (file order on ties), so an event never
    counts itself. With ``users``, other users' events at the event's own instant count too,
    later in the file or not, as popularity at an instant counts every event at or before it
    (on logs with day timestamps, a day's events are all "at" that day); the event's own
    user's later events at that instant stay out: they are that user's future.

    How: a segmented scan by doubling (pass ``p`` adds the partial sum ``2^p`` positions back,
    decayed over the gap, where it has the same key), about ``log2`` of the longest key's
    event count vectorised passes. Every partial sum is a decayed count, never larger than
    the key's events, so spans of any length are exact; a cumulative sum scaled to each key's
    first event would overflow (or, summed across keys, cancel to 0) after some hundreds of
    half-lives, which a ten-year review log at a one-week half-life exceeds.
    """
    order = np.lexsort((seconds, keys))
    k, t = keys[order], seconds[order].astype(np.float64)
    own = weights[order].astype(np.float64)
    inclusive = own.copy()
    step = 1
    while step < len(k):
        same = k[step:] == k[:-step]
        if not same.any():
            break
        gap = (t[step:] - t[:-step])[same]
        added = np.zeros(len(k))
        added[step:][same] = inclusive[:-step][same] * np.exp2(-gap / half_life)
        inclusive += added
        step *= 2
    out = np.empty(len(k))
    out[order] = np.maximum(inclusive - own, 0.0)
    if users is not None:
        weight = weights.astype(np.float64)
        out += _weight_after(weight, keys, seconds) - _weight_after(weight, keys, seconds, users)
    return out


def _weight_after(weights: FloatArray, *group_by: npt.NDArray[Any]) -> FloatArray:
    """For every event, the total weight of the later events (in file order) of its group,
    the events sharing every array of ``group_by``."""
    order = np.lexsort(group_by[::-1])  # stable: file order within a group
    w = weights[order]
    continues = np.zeros(len(w), dtype=bool)  # the next event is of the same group
    continues[:-1] = True
    for column in group_by:
        ordered = column[order]
        continues[:-1] &= ordered[1:] == ordered[:-1]
    cumulative = np.cumsum(w)
    ends = np.where(continues, len(w), np.arange(len(w)))
    group_end = np.minimum.accumulate(ends[::-1])[::-1]
    out = np.empty(len(w))
    out[order] = cumulative[group_end] - cumulative
    return out
