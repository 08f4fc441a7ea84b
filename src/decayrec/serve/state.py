"""The service's online state: a fitted DecayedProfile kept current one event batch at a time.

What: :class:`OnlineProfile` holds, for every ``(user, category)``, ``(user, item)`` and item,
the decayed running sums of :class:`~decayrec.serve._keyed.KeyedSums`, starts from the model's
training events and folds every ingested event in at O(1) per key. It answers what
:class:`~decayrec.models.DecayedProfile` would answer on the same events:

    score(u, i, at) = Î_u(cat(i), at) · P̂(i | cat(i), at) + repeat_weight · Î_u(i, at)

(see :mod:`decayrec.models.profile`), plus the per-category interest and its forecast, and the
audiences of users with high or fading interest in a category.

Exactness: with the exponential kernel every number equals the batch model's up to float
rounding (a property test checks it). Other kernels run through their mixture of
exponentials (:func:`decayrec.decay.exponential_mixture`), whose error per unit of event
weight is at most the mixture's ``max_error``.

Time: the state only moves forward. A question about an instant before the newest event the
state holds is refused (:class:`~decayrec.errors.InvalidParameterError`): the running sums have
absorbed later events and cannot take them out again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from decayrec.data.schema import EventType
from decayrec.errors import InvalidParameterError, UnknownIdError
from decayrec.models import DecayedProfile
from decayrec.models._ranking import top_n
from decayrec.serve._keyed import OWNER_SHIFT, KeyedSums, lookup
from decayrec.types import FloatArray

__all__ = ["CategoryInterest", "EventArrays", "OnlineProfile", "ScoredItem", "check_servable"]

_SHIFT: Final = OWNER_SHIFT  # key code = (user << 32) | bucket (or item)
_LOW: Final = (1 << _SHIFT) - 1
_NO_CATEGORY: Final = 0  # bucket of items without a category; category k is bucket k + 1


@dataclass(frozen=True)
class EventArrays:
    """A validated batch of events in raw ids, column by column (the store's row order)."""

    user_id: list[str]
    item_id: list[str]
    category_id: list[str | None]
    seconds: FloatArray
    event_type: npt.NDArray[np.uint8]

    def __len__(self) -> int:
        return len(self.user_id)


@dataclass(frozen=True)
class _PopularityAt:
    """Item popularity at an instant, each item's share of its category, a tie-break order."""

    popularity: FloatArray
    within: FloatArray
    order: FloatArray  # any array ordered like ``popularity``


@dataclass(frozen=True)
class _PopularityReference:
    """Popularity and shares at the newest event (exponential kernel: reused until an ingest)."""

    popularity: FloatArray
    within: FloatArray
    at: float
    n_items: int


@dataclass(frozen=True)
class ScoredItem:
    """One recommended item."""

    item_id: str
    score: float
    category_id: str | None


@dataclass(frozen=True)
class CategoryInterest:
    """A user's interest in one category now and at the forecast instant."""

    category_id: str | None
    interest: float  # decayed weight, in units of one event of weight 1
    share: float  # of the user's whole interest now
    forecast_interest: float
    forecast_share: float
    half_life_seconds: float


def check_servable(model_name: object, where: object) -> None:
    """Refuse a model the online state cannot keep current (only DecayedProfile)."""
    if model_name != DecayedProfile.name:
        raise InvalidParameterError(
            f"{where}: holds a {model_name} model; the service keeps decayed-profile models up "
            "to date online (fit one with `decayrec fit --model decayed-profile`)."
        )


class OnlineProfile:
    """DecayedProfile's scores over a growing log (see the module docstring).

    Parameters
    ----------
    model
        A fitted :class:`~decayrec.models.DecayedProfile`; its training events are the
        starting state.
    """

    def __init__(self, model: DecayedProfile) -> None:
        model._check_fitted()
        self.model = model
        if model.kernel == "exponential":
            weights, ratios, self.max_error = np.ones(1), np.ones(1), 0.0
        else:
            from decayrec.decay.mixture import exponential_mixture

            mixture = exponential_mixture(model.kernel)
            weights, ratios = mixture.weights, mixture.half_life_ratios
            self.max_error = mixture.max_error
        self.type_weight = model.weights_.as_array()
        self.repeat_weight = float(model.repeat_weight)
        self.default_half_life = float(model.half_life_seconds_)
        self.popularity_half_life = float(model.popularity_half_life_seconds_)
        events = model.events_
        self.user_ids: list[str] = [str(u) for u in events.users.raw(np.arange(len(events.users)))]
        self.item_ids: list[str] = [str(i) for i in events.items.raw(np.arange(len(events.items)))]
        raw_categories = events.categories.raw(np.arange(len(events.categories)))
        self.category_ids: list[str | None] = [None, *(str(c) for c in raw_categories)]
        self._users = {u: k for k, u in enumerate(self.user_ids)}
        self._items = {i: k for k, i in enumerate(self.item_ids)}
        self._categories = {c: k for k, c in enumerate(self.category_ids) if c is not None}
        table = model.category_half_life_seconds_  # per category index, "none" last
        self.bucket_half_life = np.concatenate([table[-1:], table[:-1]]).astype(np.float64)
        self.item_bucket = (model.item_category_.astype(np.int64) + 1).copy()
        self.user_buckets = KeyedSums(weights, ratios)
        self.user_items = KeyedSums(weights, ratios)
        self.popularity = KeyedSums(weights, ratios, track_owners=False)
        self._reference: _PopularityReference | None = None  # cached between ingests
        self.n_events = 0
        frame = events.frame
        self._apply(
            frame["user_index"].to_numpy().astype(np.int64),
            frame["item_index"].to_numpy().astype(np.int64),
            events.timestamp_seconds,
            frame["event_type"].to_numpy(),
        )

    # ------------------------------------------------------------------ ingestion
    @property
    def latest_seconds(self) -> float:
        """The newest event time the state holds (``-inf`` when it holds none)."""
        return self.popularity.latest

    def category_conflicts(self, events: EventArrays) -> list[tuple[int, str]]:
        """Rows whose ``category_id`` contradicts the item's category, with a message.

        An item keeps the category it was first seen with (in the model or earlier in the
        batch); a row without ``category_id`` never conflicts.
        """
        items = lookup(events.item_id, self._items)
        given = np.array([c is not None for c in events.category_id], dtype=bool)
        given_bucket = lookup([c or "" for c in events.category_id], self._categories)
        known = items >= 0
        known_bucket = self.item_bucket[np.maximum(items, 0)]
        wrong = known & given & (given_bucket != known_bucket)
        first_seen: dict[str, str | None] = {}
        for row in np.flatnonzero(~known & given).tolist():  # new items only: rare
            item = events.item_id[row]
            if first_seen.setdefault(item, events.category_id[row]) != events.category_id[row]:
                wrong[row] = True
        problems: list[tuple[int, str]] = []
        for row in np.flatnonzero(wrong).tolist():
            item, category = events.item_id[row], events.category_id[row]
            held = self.category_ids[int(known_bucket[row])] if known[row] else first_seen[item]
            problems.append((row, f"item {item!r} belongs to category {held!r}, not {category!r}"))
        return problems

    def ingest(self, events: EventArrays) -> None:
        """Fold a batch in (validated beforehand: :meth:`category_conflicts` is empty)."""
        users = self._codes(events.user_id, self._users, self.user_ids)
        items = self._codes(events.item_id, self._items, self.item_ids)
        self._grow_items(items, events.category_id)
        self._apply(users, items, events.seconds, events.event_type)

    def _codes(
        self, raw: Sequence[str], index: dict[str, int], names: list[str]
    ) -> npt.NDArray[np.int64]:
        """Indices of raw ids, adding the ids never seen to ``index`` and ``names``."""
        out = lookup(raw, index).astype(np.int64)
        for row in np.flatnonzero(out < 0).tolist():  # only ids the state has never seen
            value = raw[row]
            code = index.get(value)
            if code is None:
                code = index[value] = len(names)
                names.append(value)
            out[row] = code
        return out

    def _grow_items(self, items: npt.NDArray[np.int64], categories: Sequence[str | None]) -> None:
        n_old = len(self.item_bucket)
        if len(self.item_ids) == n_old:
            return
        grown = np.full(len(self.item_ids), _NO_CATEGORY, dtype=np.int64)
        grown[:n_old] = self.item_bucket
        for row in np.flatnonzero(items >= n_old).tolist():
            category = categories[row]
            if category is None:
                continue
            bucket = self._categories.get(category)
            if bucket is None:
                bucket = self._categories[category] = len(self.category_ids)
                self.category_ids.append(category)
                self.bucket_half_life = np.append(self.bucket_half_life, self.default_half_life)
            grown[items[row]] = bucket
        self.item_bucket = grown

    def _apply(
        self,
        users: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        seconds: FloatArray,
        event_type: npt.NDArray[Any],
    ) -> None:
        weight = self.type_weight[event_type]
        bucket = self.item_bucket[items]
        half_life = self.bucket_half_life[bucket]
        purchase = event_type == EventType.PURCHASE
        self.user_buckets.add((users << _SHIFT) | bucket, seconds, weight, half_life, purchase)
        self.user_items.add((users << _SHIFT) | items, seconds, weight, half_life, purchase)
        self.popularity.add(
            items, seconds, weight, np.full(len(items), self.popularity_half_life), purchase
        )
        self.n_events += len(users)
        self._reference = None

    # ------------------------------------------------------------------ reading
    def check_instant(self, at: float) -> None:
        """Refuse instants before the newest event held (the sums cannot look back)."""
        if at < self.latest_seconds:
            raise InvalidParameterError(
                f"The 'at' parameter must not be before the newest event the service holds "
                f"({self.latest_seconds:.3f} Unix seconds). Got {at:.3f} instead: the online "
                "state has already absorbed later events."
            )

    def item_popularity(self, at: float) -> FloatArray:
        """``P_i(at)``: decayed popularity of every item."""
        return self._popularity(at).popularity

    def _popularity(self, at: float) -> _PopularityAt:
        """Popularity and each item's share of its category at ``at``.

        With the exponential kernel every item decays with the same factor between two
        events, so the shares do not depend on ``at`` and the popularity at ``at`` is the one
        at the newest event times ``2^(-(at - T) / h)``: both are computed once per ingested
        batch. Other kernels decay items by their own ages and are computed per request.
        """
        if len(self.popularity.component_weights) > 1:
            return self._popularity_direct(at)
        reference = self._reference
        if reference is None or reference.n_items != len(self.item_ids):
            now = self.latest_seconds
            direct = self._popularity_direct(now)
            reference = self._reference = _PopularityReference(
                direct.popularity, direct.within, now, len(self.item_ids)
            )
        factor = float(np.exp2(-max(at - reference.at, 0.0) / self.popularity_half_life))
        return _PopularityAt(reference.popularity * factor, reference.within, reference.popularity)

    def _popularity_direct(self, at: float) -> _PopularityAt:
        popularity = np.zeros(len(self.item_ids))
        popularity[self.popularity.codes] = self.popularity.value(slice(None), at)
        n_buckets = len(self.category_ids)
        per_bucket = np.bincount(self.item_bucket, weights=popularity, minlength=n_buckets)
        denominator = per_bucket[self.item_bucket]
        within = np.divide(
            popularity, denominator, out=np.zeros_like(popularity), where=denominator > 0
        )
        return _PopularityAt(popularity, within, popularity)

    def _user_index(self, user_id: str) -> int | None:
        return self._users.get(user_id)

    def _user_buckets(self, user: int, at: float) -> tuple[npt.NDArray[np.int64], FloatArray]:
        rows = self.user_buckets.rows_of_owner(user)
        return self.user_buckets.codes[rows] & _LOW, self.user_buckets.value(rows, at)

    def scores(self, user_id: str, at: float) -> tuple[FloatArray, bool]:
        """Every item's score for ``user_id`` at ``at`` and whether it is the fallback."""
        popularity = self._popularity(at)
        user = self._user_index(user_id)
        if user is None:
            return popularity.popularity.copy(), True
        buckets, interest = self._user_buckets(user, at)
        total = float(interest.sum())
        if total <= 0.0:
            return popularity.popularity.copy(), True
        share = np.zeros(len(self.category_ids))
        share[buckets] = interest / total
        scores = share[self.item_bucket] * popularity.within
        if self.repeat_weight:
            rows = self.user_items.rows_of_owner(user)
            items = self.user_items.codes[rows] & _LOW
            scores[items] += self.repeat_weight * (self.user_items.value(rows, at) / total)
        best = scores.max(initial=0.0)
        if not (best > scores.min(initial=0.0) or best > 0):
            return popularity.popularity.copy(), True
        return scores, False

    def recommend(
        self,
        user_id: str,
        at: float,
        *,
        n: int,
        exclude: str = "purchased",
        categories: Sequence[str] | None = None,
        threshold: float | None = None,
    ) -> tuple[list[ScoredItem], bool]:
        """Top ``n`` items as :meth:`DecayedProfile.recommend` ranks them, and the fallback flag."""
        self.check_instant(at)
        scores, fallback = self.scores(user_id, at)  # a fresh array: free to modify
        self._exclude(scores, user_id, exclude)
        if categories is not None:
            wanted = [self._categories.get(c, -1) for c in categories]
            scores[~np.isin(self.item_bucket, wanted)] = -np.inf
        # Ties go to the more popular item: the order of the popularity at ``at``, which the
        # reference popularity has too (evaluated only when the cut is tied).
        order = self._popularity(at).order

        def prior(rows: npt.NDArray[Any]) -> FloatArray:
            return np.broadcast_to(order, (len(rows), len(order)))

        top, values = top_n(scores[None, :], n, threshold, prior)
        out = [
            ScoredItem(self.item_ids[i], float(v), self.category_ids[int(self.item_bucket[i])])
            for i, v in zip(top[0].tolist(), values[0].tolist(), strict=True)
            if i >= 0
        ]
        return out, fallback

    def _exclude(self, scores: FloatArray, user_id: str, exclude: str) -> None:
        user = self._user_index(user_id)
        if exclude == "none" or user is None:
            return
        rows = self.user_items.rows_of_owner(user)
        items = self.user_items.codes[rows] & _LOW
        if exclude == "seen":
            scores[items] = -np.inf
            return
        bought = items[self.user_items.purchases[rows] > 0]
        if not len(bought):
            return
        bucket_rows = self.user_buckets.rows_of_owner(user)
        rebuy_buckets = (self.user_buckets.codes[bucket_rows] & _LOW)[
            self.user_buckets.purchases[bucket_rows] >= 2
        ]
        bucket = self.item_bucket[bought]
        rebuy = np.isin(bucket, rebuy_buckets) & (bucket != _NO_CATEGORY)
        scores[bought[~rebuy]] = -np.inf

    def score_items(
        self, user_id: str, item_ids: Sequence[str], at: float
    ) -> tuple[FloatArray, bool]:
        """Scores of the given items (unknown items score 0) and the fallback flag."""
        self.check_instant(at)
        scores, fallback = self.scores(user_id, at)
        index = lookup(item_ids, self._items)
        return np.where(index >= 0, scores[np.maximum(index, 0)], 0.0), fallback

    def interests(self, user_id: str, at: float, horizon_seconds: float) -> list[CategoryInterest]:
        """The user's interest per category now and ``horizon_seconds`` later, largest first."""
        self.check_instant(at)
        user = self._user_index(user_id)
        if user is None:
            raise UnknownIdError(f"Unknown user_id {user_id!r}: the service holds no event of it.")
        buckets, now = self._user_buckets(user, at)
        _, later = self._user_buckets(user, at + horizon_seconds)
        total_now, total_later = float(now.sum()), float(later.sum())
        order = np.argsort(-now, kind="stable")
        return [
            CategoryInterest(
                category_id=self.category_ids[int(buckets[k])],
                interest=float(now[k]),
                share=float(now[k] / total_now) if total_now > 0 else 0.0,
                forecast_interest=float(later[k]),
                forecast_share=float(later[k] / total_later) if total_later > 0 else 0.0,
                half_life_seconds=float(self.bucket_half_life[int(buckets[k])]),
            )
            for k in order.tolist()
        ]

    def explain(self, user_id: str, item_id: str, at: float) -> dict[str, float]:
        """The three factors of one item's score (see the module docstring)."""
        self.check_instant(at)
        item = self._items.get(item_id)
        if item is None:
            raise UnknownIdError(f"Unknown item_id {item_id!r}.")
        user = self._user_index(user_id)
        bucket = int(self.item_bucket[item])
        within = float(self._popularity(at).within[item])
        if user is None:
            return {"category_interest": 0.0, "item_popularity": within, "repeat": 0.0}
        buckets, interest = self._user_buckets(user, at)
        total = float(interest.sum())
        share = float(interest[buckets == bucket].sum() / total) if total > 0 else 0.0
        rows, found = self.user_items.rows_of(np.array([(user << _SHIFT) | item]))
        own = float(self.user_items.value(rows, at)[0]) if found[0] and total > 0 else 0.0
        repeat = self.repeat_weight * own / total if total > 0 else 0.0
        return {"category_interest": share, "item_popularity": within, "repeat": repeat}

    # ------------------------------------------------------------------ audiences
    def audience(
        self,
        category_id: str | None,
        at: float,
        *,
        min_share: float,
        limit: int,
        fading_within_seconds: float | None = None,
        fading_below: float = 1.0,
    ) -> list[tuple[str, float, float]]:
        """Users by current share of interest in a category: ``(user_id, share, interest)``.

        With ``fading_within_seconds``, only users whose decayed interest in the category is
        at least ``fading_below`` now and falls below it within that horizon (no new events
        assumed): the moment to win them back.
        """
        self.check_instant(at)
        if category_id is None:
            bucket = _NO_CATEGORY
        elif category_id in self._categories:
            bucket = self._categories[category_id]
        else:
            raise UnknownIdError(f"Unknown category_id {category_id!r}.")
        sums = self.user_buckets
        value = sums.value(slice(None), at)
        owner = sums.codes >> _SHIFT
        totals = np.bincount(owner, weights=value, minlength=len(self.user_ids))
        rows = np.flatnonzero((sums.codes & _LOW) == bucket)
        users = owner[rows]
        interest = value[rows]
        share = np.divide(
            interest, totals[users], out=np.zeros_like(interest), where=totals[users] > 0
        )
        keep = share >= min_share
        if fading_within_seconds is not None:
            later = sums.value(rows, at + fading_within_seconds)
            keep &= (interest >= fading_below) & (later < fading_below)
        users, share, interest = users[keep], share[keep], interest[keep]
        order = np.lexsort((users, -share))[:limit]
        return [
            (self.user_ids[int(users[k])], float(share[k]), float(interest[k]))
            for k in order.tolist()
        ]
