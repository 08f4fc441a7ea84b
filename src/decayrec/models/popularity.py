"""Trending items: decayed popularity, the simplest decay model and everyone's fallback.

Why: what is popular *now* is a strong baseline in shops (seasons, promotions, new arrivals),
and a plain all-time count over-rates items that sold well long ago. The score of an item at
instant ``at`` is

    P_i(at) = Σ_{events e on i, t_e <= at} w_type(e) · k(at − t_e; half_life)

over all users' events. It is the same for every user; the exclusion policies make the lists
personal (nothing the user already bought). The other models fall back to it for users with
no history at ``at``.
"""

from __future__ import annotations

from typing import ClassVar

from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray

__all__ = ["DecayedPopularity"]


class DecayedPopularity(Recommender):
    """Recommend what is trending at ``at``: ``Σ w_type · k(at − t)`` per item.

    Parameters
    ----------
    kernel
        Decay kernel (``exponential``, ``linear``, ``power``, ``logarithmic``).
    half_life
        How long until an event counts half; ``None`` = all-time popularity (``-no-decay``).
    event_weights
        ``{event type: weight}`` overrides of the default funnel weights.

    Attributes
    ----------
    events_, user_events_, item_category_, popularity_index_
        See :class:`~decayrec.models.base.Recommender`.

    Notes
    -----
    Stability: stable. Popularity at many instants is cheap: the exponential kernel is
    checkpointed exactly (see ``PopularityIndex``), so evaluating with one instant per user
    costs one small pass per distinct instant.

    Examples
    --------
    >>> from datetime import timedelta
    >>> from decayrec.data.schema import EventLog
    >>> log = EventLog.from_indices(user_index=[0, 1, 2, 2], item_index=[0, 0, 1, 1],
    ...     timestamp_seconds=[0.0, 0.0, 86_400.0 * 9, 86_400.0 * 10], event_type=[4, 4, 0, 0])
    >>> model = DecayedPopularity(half_life=timedelta(days=1)).fit(log)
    >>> model.recommend(["0"], at=86_400.0 * 10, exclude="none").item_ids(0)
    ['1', '0']
    >>> DecayedPopularity(half_life=None).fit(log).recommend(
    ...     ["0"], at=86_400.0 * 10, exclude="none").item_ids(0)
    ['0', '1']
    """

    name: ClassVar[str] = "decayed-popularity"
    _tie_break_by_popularity: ClassVar[bool] = False

    def _fit_state(self) -> None:
        # Everything needed lives in ``popularity_index_``, built by the base class.
        return None

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        return self._popularity_at(at)

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        return self._explain_popularity(self.events_.users.raw([user])[0], item, at, fallback=False)
