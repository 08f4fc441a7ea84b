"""Tiny models and hand-built logs for the evaluation tests.

The real models live in ``decayrec.models``; these stand-ins keep the evaluation tests
independent of them (and fast): their scores are simple enough to predict by hand.
"""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from decayrec.data.schema import EventLog
from decayrec.decay.kernels import decay_weights
from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray

T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


class RecentItems(Recommender):
    """Scores an item by the user's decayed count of it, plus a little decayed popularity.

    With decay, recently touched items win; without, all-time counts do. Popularity breaks
    ties (and ranks items the user never touched).
    """

    name = "recent-items"

    def _fit_state(self) -> None:
        pass

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        cols = self.columns_
        scores = np.zeros((len(user_index), self.n_items))
        for row, (user, instant) in enumerate(zip(user_index, at, strict=True)):
            weights = decay_weights(instant - cols.seconds, self.half_life_seconds_, self.kernel)
            mine = cols.user == user
            scores[row] = np.bincount(
                cols.item[mine], weights=weights[mine], minlength=self.n_items
            )
            scores[row] += 1e-3 * np.bincount(cols.item, weights=weights, minlength=self.n_items)
        return scores

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:  # pragma: no cover
        raise NotImplementedError


class FixedRanking(Recommender):
    """Ranks the catalogue in one fixed order (item index ascending), the same for all users."""

    name = "fixed-ranking"

    def _fit_state(self) -> None:
        pass

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        order = -np.arange(self.n_items, dtype=np.float64)
        return np.tile(order, (len(user_index), 1))

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:  # pragma: no cover
        raise NotImplementedError


def make_log(
    users: list[int],
    items: list[int],
    days: list[float],
    categories: list[int] | None = None,
) -> EventLog:
    """A log from parallel lists; times in days after :data:`T0`; every event a view."""
    return EventLog.from_indices(
        user_index=users,
        item_index=items,
        timestamp_seconds=[T0 + d * DAY for d in days],
        event_type=[0] * len(users),
        category_index=categories,
    )
