"""The decayed interest profile: what a user is into *now*, and what is popular there.

Why: in a shop, interest moves between categories (a pram this month, a school bag in a few
years) and fades at a speed that depends on the category. The model keeps, per user, a decayed
interest in every category and in every item they touched, and scores

    score(u, i) = Î_u(cat(i), at) · P̂(i | cat(i), at) + repeat_weight · Î_u(i, at)

* ``Î_u(c, at) = I_u(c, at) / Σ_c' I_u(c', at)``, with ``I_u(c, at) = Σ w_type · k(at − t; h_c)``
  over the user's events in ``c`` up to ``at`` (``h_c``: the category's half-life);
* ``P̂(i | c, at) = P_i(at) / Σ_{j in c} P_j(at)``: the decayed popularity of ``i`` among the
  items of its category (all users' events up to ``at``);
* ``Î_u(i, at)``: the same decayed interest at item level, normalised per user; it lets
  repeat purchases and returns to an item score (the exclusion policy decides whether they
  are shown).

Items without a category form one more category of their own, so the model also runs on logs
without categories (then it is decayed popularity plus the user's own repeats). Category
rankings (:meth:`DecayedProfile.rank_categories`) use ``Î_u(c, at)`` directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec._time import from_seconds
from decayrec.decay.kernels import decay_weights
from decayrec.errors import InvalidParameterError
from decayrec.models._params import as_timedelta, check_non_negative
from decayrec.models._ranking import PriorFn
from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = ["DecayedProfile"]


class DecayedProfile(Recommender):
    """Category interest × popularity within the category, plus the user's own repeats.

    Parameters
    ----------
    kernel
        Decay kernel (``exponential``, ``linear``, ``power``, ``logarithmic``).
    half_life
        Half-life of interest (category and item level); ``None`` switches decay off.
    category_half_lives
        ``{raw category id: half-life}`` overriding ``half_life`` per category (``None`` as a
        value: no decay in that category). Categories not in the log are ignored.
    popularity_half_life
        Half-life of the item popularity inside a category; ``"same"`` (default) uses
        ``half_life``, ``None`` switches popularity decay off.
    repeat_weight
        Weight of the user's own item-level interest (repeat purchases, returns to an item);
        0 turns repeats off.
    event_weights
        ``{event type: weight}`` overrides of the default funnel weights.

    Attributes
    ----------
    category_half_life_seconds_ : ndarray of float64
        Half-life per category index; the last entry is the "no category" bucket.
    item_bucket_ : ndarray of int64
        Each item's category index, with items without a category in the last bucket.

    Notes
    -----
    Stability: stable. Honest in time: a user's interest uses only their events up to their
    ``at``, and popularity only events up to that ``at``.

    Examples
    --------
    >>> from decayrec.data.schema import EventLog
    >>> day = 86_400.0
    >>> log = EventLog.from_indices(  # user 0 bought in category 0 long ago, views 1 lately
    ...     user_index=[0, 0, 0, 1, 1], item_index=[0, 1, 2, 4, 3],
    ...     category_index=[0, 0, 1, 0, 1], event_type=[4, 4, 0, 0, 0],
    ...     timestamp_seconds=[0.0, day, 60 * day, 0.0, 60 * day])
    >>> model = DecayedProfile(half_life=timedelta(days=7)).fit(log)
    >>> model.recommend(["0"], at=61 * day, n=1, exclude="seen").item_ids(0)
    ['3']
    >>> DecayedProfile(half_life=None).fit(log).recommend(
    ...     ["0"], at=61 * day, n=1, exclude="seen").item_ids(0)
    ['4']
    """

    name: ClassVar[str] = "decayed-profile"

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = timedelta(days=7),
        category_half_lives: Mapping[str, timedelta | None] | None = None,
        popularity_half_life: timedelta | Literal["same"] | None = "same",
        repeat_weight: float = 0.5,
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        super().__init__(kernel=kernel, half_life=half_life, event_weights=event_weights)
        self.category_half_lives = (
            dict(category_half_lives)
            if isinstance(category_half_lives, Mapping)
            else category_half_lives
        )
        self.popularity_half_life = popularity_half_life
        self.repeat_weight = repeat_weight

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__
        if isinstance(self.popularity_half_life, str):
            if self.popularity_half_life != "same":
                raise InvalidParameterError(
                    f"The 'popularity_half_life' parameter of {owner} must be a positive "
                    f"timedelta, None or 'same'. Got {self.popularity_half_life!r} instead."
                )
            self.popularity_half_life_seconds_ = self.half_life_seconds_
        else:
            self.popularity_half_life_seconds_ = self._duration(
                "popularity_half_life", self.popularity_half_life, none_means="all-time popularity"
            )
        check_non_negative(self.repeat_weight, "repeat_weight", owner)
        overrides: dict[str, float] = {}
        if self.category_half_lives is not None:
            if not isinstance(self.category_half_lives, Mapping):
                raise InvalidParameterError(
                    f"The 'category_half_lives' parameter of {owner} must be a mapping of "
                    f"category id to half-life, or None. Got {self.category_half_lives!r} instead."
                )
            for category, value in self.category_half_lives.items():
                try:
                    overrides[str(category)] = self._duration("category_half_lives", value)
                except InvalidParameterError:
                    raise InvalidParameterError(
                        f"The 'category_half_lives' parameter of {owner} must map each category "
                        f"to a positive timedelta or None. Got {value!r} for category "
                        f"{category!r} instead."
                    ) from None
        self.category_half_life_overrides_ = overrides

    def _popularity_half_life_seconds(self) -> float:
        return self.popularity_half_life_seconds_

    # ------------------------------------------------------------------ state
    def _fit_state(self) -> None:
        categories = self.events_.categories
        n_buckets = len(categories) + 1
        table = np.full(n_buckets, self.half_life_seconds_)
        for raw, seconds in self.category_half_life_overrides_.items():
            index = categories.index(raw)
            if index is not None:
                table[index] = seconds
        self.category_half_life_seconds_ = table
        none_bucket = n_buckets - 1
        grouped = self.user_events_.columns
        self.event_bucket_ = np.where(grouped.category >= 0, grouped.category, none_bucket)
        self.event_half_life_ = table[self.event_bucket_]
        self.item_bucket_ = np.where(self.item_category_ >= 0, self.item_category_, none_bucket)
        n_items = len(self.item_bucket_)
        self.item_bucket_matrix_ = sp.csr_matrix(
            (np.ones(n_items), (np.arange(n_items), self.item_bucket_)),
            shape=(n_items, n_buckets),
        )

    def _event_weights_at(
        self, users: IndexArray, at: FloatArray
    ) -> tuple[IndexArray, npt.NDArray[np.int64], FloatArray, FloatArray, FloatArray]:
        """Events of ``users`` up to ``at``: rows, positions, ages, kernel decay, w·k / total."""
        rows, positions, ages = self.user_events_.gather(users, at)
        decay = decay_weights(ages, self.event_half_life_[positions], self.kernel)
        weight = decay * self.user_events_.columns.type_weight[positions]
        totals = np.bincount(rows, weights=weight, minlength=len(users))[rows]
        # weight / total, not weight * (1 / total): with a short half-life on a long log a
        # user's total can be subnormal, and its reciprocal overflows to infinity.
        share = np.divide(weight, totals, out=np.zeros_like(weight), where=totals > 0)
        return rows, positions, ages, decay, share

    def _category_interest(
        self, rows: IndexArray, positions: npt.NDArray[np.int64], share: FloatArray, n_rows: int
    ) -> FloatArray:
        """Normalised interest ``(n_rows, n_buckets)`` from per-event shares."""
        n_buckets = len(self.category_half_life_seconds_)
        flat = rows.astype(np.int64) * n_buckets + self.event_bucket_[positions]
        counts = np.bincount(flat, weights=share, minlength=n_rows * n_buckets)
        return counts.astype(np.float64, copy=False).reshape(n_rows, n_buckets)

    def _within_category(self, at: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """``P̂(i | cat(i), at)`` per distinct instant, and the row of each instant."""
        popularity, inverse = self.popularity_index_.many(at)
        totals = np.asarray(self.item_bucket_matrix_.T @ popularity.T).T  # (n_distinct, buckets)
        denominator = totals[:, self.item_bucket_]
        within = np.divide(
            popularity, denominator, out=np.zeros_like(popularity), where=denominator > 0
        )
        return within, inverse

    # ------------------------------------------------------------------ scoring
    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        rows, positions, _, _, share = self._event_weights_at(user_index, at)
        interest = self._category_interest(rows, positions, share, len(user_index))
        within, inverse = self._within_category(at)
        scores = within[inverse]
        if interest.shape[1] == 1:  # no categories: one bucket, a broadcast is enough
            scores *= interest
        else:
            scores *= interest[:, self.item_bucket_]
        if self.repeat_weight:
            items = self.user_events_.columns.item[positions]
            np.add.at(scores, (rows, items), self.repeat_weight * share)
        return scores

    def _category_scores(
        self, users: IndexArray, at: FloatArray, exclude: str
    ) -> tuple[FloatArray, PriorFn | None]:
        """Rank by the normalised category interest itself (``exclude`` does not apply).

        Users without history at ``at`` get the categories' share of decayed popularity; ties
        (e.g. categories the user never touched) go to the more popular category.
        """
        n_cats = len(self.events_.categories)
        known = self._known_at(users, at)
        out = np.empty((len(users), n_cats))
        if known.any():
            rows, positions, _, _, share = self._event_weights_at(users[known], at[known])
            interest = self._category_interest(rows, positions, share, int(known.sum()))
            out[known] = interest[:, :n_cats]
        if not known.all():
            popularity = self._category_popularity(at[~known])
            totals = popularity.sum(axis=1, keepdims=True)
            out[~known] = np.divide(
                popularity, totals, out=np.zeros_like(popularity), where=totals > 0
            )

        def prior(rows: IndexArray) -> FloatArray:
            return self._category_popularity(at[rows])

        return out, prior

    # ------------------------------------------------------------------ explaining
    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        users = np.array([user], dtype=np.int32)
        at_arr = np.array([at])
        _, positions, _, decay, share = self._event_weights_at(users, at_arr)
        bucket = int(self.item_bucket_[item])
        within_rows, _ = self._within_category(at_arr)
        within = float(within_rows[0, item])
        in_category = self.event_bucket_[positions] == bucket
        on_item = self.user_events_.columns.item[positions] == item
        interest = float(share[in_category].sum())
        repeat = float(self.repeat_weight * share[on_item].sum())
        contribution = share * (in_category * within + on_item * self.repeat_weight)
        category = int(self.item_category_[item])
        components = {
            "category_interest": interest,
            "item_popularity": within,
            "repeat": repeat,
        }
        return Explanation(
            user_id=self.events_.users.raw([user])[0],
            item_id=self.events_.items.raw([item])[0],
            at=from_seconds(at),
            score=interest * within + repeat,
            fallback=False,
            category_id=self._category_id(category),
            category_interest=interest,
            half_life=as_timedelta(float(self.category_half_life_seconds_[bucket])),
            components=components,
            events=self._describe_events(
                self.user_events_.columns, positions, at, decay, contribution
            ),
        )
