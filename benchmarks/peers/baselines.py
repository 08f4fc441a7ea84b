"""The always-there baselines: all-time popularity, personal top frequency and item-item kNN.

Why: every peer comparison needs the simple answers a shop would try first, without decay, so
that decay (and the learned peers) are measured against them. Each is a
:class:`~decayrec.models.base.Recommender`, so it runs under decayrec's own protocols, and
reuses the base class for per-user time slicing (``user_events_.gather`` keeps only events at
or before each user's ``at``), exclusions and the popularity fallback.

All three count events, whatever their type (``event_weights`` defaults to 1 for every type),
and never decay: ``half_life`` must be ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.data.schema import EventType
from decayrec.errors import InvalidParameterError
from decayrec.models.base import Recommender
from decayrec.models.popularity import DecayedPopularity
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = ["UNIT_WEIGHTS", "ItemKNN", "NoDecayBaseline", "PersonalTopFrequency", "Popularity"]

#: Every event type counts once.
UNIT_WEIGHTS: Mapping[str, float] = {t.label: 1.0 for t in EventType}


class NoDecayBaseline(Recommender):
    """A recommender without decay: ``half_life`` is ``None``, events count 1 by default."""

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = None,
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(
            kernel=kernel,
            half_life=half_life,
            event_weights=UNIT_WEIGHTS if event_weights is None else event_weights,
        )

    @property
    def display_name(self) -> str:
        """:attr:`name` (no ``-no-decay`` suffix: these never decay)."""
        return self.name

    def _validate_params(self) -> None:
        super()._validate_params()
        if self.half_life is not None:
            raise InvalidParameterError(
                f"The 'half_life' parameter of {type(self).__name__} must be None (this "
                f"baseline does not decay). Got {self.half_life!r} instead."
            )

    def _history(
        self, user_index: IndexArray, at: FloatArray
    ) -> tuple[IndexArray, IndexArray, FloatArray]:
        """``(row, item, seconds)`` of the users' events at or before each one's ``at``."""
        rows, positions, _ = self.user_events_.gather(user_index, at)
        columns = self.user_events_.columns
        return rows, columns.item[positions], columns.seconds[positions]

    def _count_matrix(self, user_index: IndexArray, at: FloatArray) -> sp.csr_matrix:
        """Weighted event counts ``(len(user_index), n_items)`` up to each user's ``at``."""
        rows, positions, _ = self.user_events_.gather(user_index, at)
        columns = self.user_events_.columns
        return sp.csr_matrix(
            (columns.type_weight[positions], (rows, columns.item[positions])),
            shape=(len(user_index), self.n_items),
        )

    def _own_events(self, user: int, at: float) -> npt.NDArray[np.int64]:
        """Positions (in ``user_events_.columns``) of the user's events up to ``at``."""
        return self.user_events_.gather(np.array([user], dtype=np.int32), np.array([at]))[1]

    def _explanation(
        self,
        user: int,
        item: int,
        at: float,
        positions: npt.NDArray[np.int64],
        contribution: FloatArray,
    ) -> Explanation:
        columns = self.user_events_.columns
        score = float(self._score_known(np.array([user], dtype=np.int32), np.array([at]))[0, item])
        return self._item_explanation(
            self.events_.users.raw([user])[0],
            item,
            at,
            score=score,
            components={"score": score},
            events=self._describe_events(
                columns, positions, at, np.ones(len(positions)), contribution
            ),
        )


class Popularity(NoDecayBaseline, DecayedPopularity):
    """All-time popularity: the number of events on each item up to ``at`` (no decay).

    :class:`~decayrec.models.DecayedPopularity` with decay off and every event counting 1
    (the textbook baseline; ``decayed-popularity-no-decay`` keeps the funnel weights).

    Examples
    --------
    >>> from decayrec.data.schema import EventLog
    >>> log = EventLog.from_indices(user_index=[0, 1, 2, 2], item_index=[0, 0, 1, 1],
    ...     timestamp_seconds=[0.0, 0.0, 9.0, 10.0], event_type=[0, 0, 4, 4])
    >>> Popularity().fit(log).recommend(["0"], at=10.0, exclude="none").item_ids(0)
    ['0', '1']
    """

    name: ClassVar[str] = "popularity"


class PersonalTopFrequency(NoDecayBaseline):
    """What the user interacted with most, ties by recency, then all-time popularity.

    The score of an item is the user's event count on it (up to ``at``) plus a recency term
    in ``(0, 0.5]`` (``1 / (2 + age in days)`` of the latest such event), so counts rank first
    and recency breaks ties; items the user never touched score 0 and rank by popularity (the
    base class's tie-break).

    Examples
    --------
    >>> from decayrec.data.schema import EventLog
    >>> log = EventLog.from_indices(user_index=[0, 0, 0, 1, 1], item_index=[0, 0, 1, 2, 2],
    ...     timestamp_seconds=[0.0, 1.0, 2.0, 0.0, 1.0], event_type=[0, 0, 0, 0, 0])
    >>> PersonalTopFrequency().fit(log).recommend(["0"], at=5.0, exclude="none").item_ids(0)
    ['0', '1', '2']
    """

    name: ClassVar[str] = "personal-top-frequency"

    def _fit_state(self) -> None:
        return None

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        rows, items, seconds = self._history(user_index, at)
        out = self._count_matrix(user_index, at).toarray()
        latest = np.full(out.shape, -np.inf)
        np.maximum.at(latest, (rows, items), seconds)
        touched = np.isfinite(latest)
        age_days = (at[:, None] - latest)[touched] / 86_400.0
        out[touched] += 1.0 / (2.0 + age_days)
        return out

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        positions = self._own_events(user, at)
        positions = positions[self.user_events_.columns.item[positions] == item]
        weights = self.user_events_.columns.type_weight[positions]
        return self._explanation(user, item, at, positions, weights)


class ItemKNN(NoDecayBaseline):
    """Plain item-item kNN: cosine similarity on the binary user-item matrix, no decay.

    ``score(u, i) = Σ_{j in H_u(at)} cos(j, i)`` over the distinct items ``H_u(at)`` the user
    interacted with up to ``at``; ``cos(i, i) = 1``, so past items stay candidates (re-buys).
    The similarity is learned from the whole training log (not time-sliced), as
    :class:`~decayrec.models.DecayedItemKNN` does; the binary matrix makes it unchanged by a
    user repeating items.

    Examples
    --------
    >>> from decayrec.data.schema import EventLog
    >>> log = EventLog.from_indices(user_index=[0, 0, 1, 1, 2], item_index=[0, 1, 0, 1, 2],
    ...     timestamp_seconds=[0.0, 1.0, 0.0, 1.0, 0.0], event_type=[0, 0, 0, 0, 0])
    >>> ItemKNN().fit(log).recommend(["2"], at=5.0, exclude="seen").item_ids(0)
    ['0', '1']
    """

    name: ClassVar[str] = "itemknn"

    def _fit_state(self) -> None:
        columns = self.columns_
        shape = (len(self.events_.users), self.n_items)
        binary = sp.csr_matrix((np.ones(len(columns.item)), (columns.user, columns.item)), shape)
        binary.data[:] = 1.0  # duplicates were summed
        cooccurrence = (binary.T @ binary).tocsr()
        norms = np.sqrt(cooccurrence.diagonal())
        norms[norms == 0] = 1.0
        inverse = sp.diags(1.0 / norms)
        self.similarity_ = (inverse @ cooccurrence @ inverse).tocsr()

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        history = self._count_matrix(user_index, at)
        history.data[:] = 1.0
        return np.asarray((history @ self.similarity_).toarray())

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        positions = self._own_events(user, at)
        columns = self.user_events_.columns
        # One contribution per distinct past item: its latest event carries cos(j, item).
        items = columns.item[positions]
        last = np.unique(items[::-1], return_index=True)[1]
        positions = positions[::-1][last]
        column = np.asarray(self.similarity_[:, [item]].toarray()).ravel()
        return self._explanation(user, item, at, positions, column[columns.item[positions]])
