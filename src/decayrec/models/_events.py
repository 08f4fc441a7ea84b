"""A model's training events as plain arrays, and grouped by user for per-user time slices.

What: :class:`Columns` holds the columns of the compacted training log that scoring reads
(indices, seconds, event types and their weights); :class:`UserEvents` groups them by user in
time order and gathers the events of requested users up to each user's own ``at``.

Why a module of its own: every model reads these arrays on its hot paths (scoring, exclusions,
explanations) and none of it depends on the estimator API; kept apart, the base class reads as
the estimator contract and these stay small, typed value objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from decayrec.data.schema import EventLog, EventWeights
from decayrec.types import FloatArray, IndexArray

__all__ = ["Columns", "UserEvents"]


@dataclass(frozen=True)
class Columns:
    """Training events as plain arrays in the model's index space (for hot paths)."""

    user: IndexArray
    item: IndexArray
    category: IndexArray
    seconds: FloatArray
    event_type: npt.NDArray[np.uint8]
    type_weight: FloatArray  # w_type of each event

    @classmethod
    def from_log(cls, log: EventLog, weights: EventWeights) -> Columns:
        event_type = log.event_type
        return cls(
            user=log.user_index,
            item=log.item_index,
            category=log.category_index,
            seconds=log.timestamp_seconds,
            event_type=event_type,
            type_weight=weights.as_array()[event_type],
        )

    def take(self, rows: npt.NDArray[np.intp]) -> Columns:
        return Columns(
            user=self.user[rows],
            item=self.item[rows],
            category=self.category[rows],
            seconds=self.seconds[rows],
            event_type=self.event_type[rows],
            type_weight=self.type_weight[rows],
        )


@dataclass(frozen=True)
class UserEvents:
    """Training events grouped by user, in time order inside a user (file order on ties).

    Why: per-user scoring at per-user instants only touches the requested users' events;
    grouping once at fit time turns that into a vectorised gather of contiguous ranges.
    """

    columns: Columns
    order: npt.NDArray[np.intp]  # position of each grouped event in the training log
    indptr: npt.NDArray[np.int64]  # (n_users + 1,)
    first_seconds: FloatArray  # (n_users,) time of each user's first event (inf: none)

    @classmethod
    def build(cls, columns: Columns, n_users: int) -> UserEvents:
        order = np.lexsort((columns.seconds, columns.user))  # stable: ties keep file order
        grouped = columns.take(order)
        counts = np.bincount(grouped.user, minlength=n_users)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        first = np.full(n_users, np.inf)
        has = counts > 0
        first[has] = grouped.seconds[indptr[:-1][has]]
        return cls(grouped, order, indptr, first)

    def gather(
        self, users: IndexArray, at: FloatArray
    ) -> tuple[IndexArray, npt.NDArray[np.int64], FloatArray]:
        """Events of ``users`` (negative = unknown: none) at or before each user's ``at``.

        Returns ``(row, position, age_seconds)``: the request row each event belongs to, its
        position in :attr:`columns` and its age ``at[row] - t`` (always >= 0).
        """
        safe = np.where(users >= 0, users, 0)
        starts = np.where(users >= 0, self.indptr[safe], 0)
        lengths = np.where(users >= 0, self.indptr[safe + 1] - starts, 0)
        total = int(lengths.sum())
        rows = np.repeat(np.arange(len(users), dtype=np.int32), lengths)
        shift = np.repeat(starts - (np.cumsum(lengths) - lengths), lengths)
        positions = np.arange(total, dtype=np.int64) + shift
        ages = at[rows] - self.columns.seconds[positions]
        keep = ages >= 0
        if not keep.all():
            rows, positions, ages = rows[keep], positions[keep], ages[keep]
        return rows, positions, ages
