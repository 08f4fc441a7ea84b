"""The estimator API every decayrec recommender shares, and the machinery behind it.

Why one base class: fallback for unknown users, exclusion policies, thresholds, batching over
users, category rankings and save/load are the same for every model, and getting them right
once keeps the models small (and comparable under evaluation).

A subclass implements:

* ``_fit_state()``: derive its learned state from ``self.events_`` (the compacted training log
  in the model's own index space) and the arrays the base class prepares (``user_events_``,
  ``item_category_``, ``popularity_index_``). ``partial_fit`` appends events and calls it
  again, so ``fit(a).partial_fit(b)`` equals ``fit(a + b)`` exactly.
* ``_score_known(user_index, at)``: dense scores ``(len(user_index), n_items)`` for users that
  have at least one training event at or before their ``at``.
* ``_explain_known(user, item, at)``: an :class:`Explanation` for such a user.
* ``_state_arrays()`` / ``_load_state(arrays)``: learned arrays for save/load (optional; the
  default re-derives state from the saved events, which are stored completely).

Time is honest everywhere: an event counts for a user's request only if it happened at or
before that user's ``at`` (``at`` may differ per user, as in leave-last-out evaluation). This
holds for the personal part of every score, for the decayed popularity (all users' events up to
``at``) and for the exclusion policies. Each model documents any learned state that is not
time-sliced (e.g. the item-item similarity of :class:`~decayrec.models.DecayedItemKNN`).
"""

from __future__ import annotations

import inspect
import json
import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self

import numpy as np
import numpy.typing as npt
import polars as pl

from decayrec import __version__
from decayrec._time import duration_seconds, from_seconds, instant_seconds
from decayrec.data.schema import EventLog, EventType, EventWeights, Vocabulary
from decayrec.decay.kernels import decay_weights, validate_kernel
from decayrec.errors import (
    DataValidationError,
    InvalidParameterError,
    NotFittedError,
    UnknownIdError,
)
from decayrec.models.results import ContributingEvent, Explanation, Recommendations
from decayrec.types import FloatArray, IndexArray, KernelName, StrPath, UserId

__all__ = ["ExcludePolicy", "Recommender", "load_model"]

#: ``purchased``: drop items the user bought, except in categories the user re-buys;
#: ``seen``: drop every item the user interacted with; ``none``: keep everything (repeats).
ExcludePolicy = Literal["purchased", "seen", "none"]

FORMAT_VERSION: Final = 1
#: Suffix of the model name when decay is switched off (``half_life=None``).
NO_DECAY_SUFFIX: Final = "-no-decay"

#: Dense score cells per user batch (8M float64 = 64 MiB); bounds memory on big catalogues.
_CELL_BUDGET: Final = 1 << 23
_MAX_USER_BATCH: Final = 1024
#: Float64 cells spent on popularity checkpoints (see :class:`_PopularityIndex`).
_CHECKPOINT_CELLS: Final = 1 << 23
#: Events between two popularity checkpoints, at least.
_MIN_CHECKPOINT_EVENTS: Final = 2048
#: Where a kernel reaches zero, in half-lives (``inf``: never).
_KERNEL_SUPPORT: Final[dict[str, float]] = {
    "exponential": math.inf,
    "linear": 2.0,
    "power": math.inf,
    "logarithmic": 3.0,
}

#: Per-row secondary ranking key, computed lazily for the rows that need it.
PriorFn = Callable[[IndexArray], FloatArray]


# ---------------------------------------------------------------------- event arrays
@dataclass(frozen=True)
class _Columns:
    """Training events as plain arrays in the model's index space (for hot paths)."""

    user: IndexArray
    item: IndexArray
    category: IndexArray
    seconds: FloatArray
    event_type: npt.NDArray[np.uint8]
    type_weight: FloatArray  # w_type of each event

    @classmethod
    def from_log(cls, log: EventLog, weights: EventWeights) -> _Columns:
        event_type = log.event_type
        return cls(
            user=log.user_index,
            item=log.item_index,
            category=log.category_index,
            seconds=log.timestamp_seconds,
            event_type=event_type,
            type_weight=weights.as_array()[event_type],
        )

    def take(self, rows: npt.NDArray[np.intp]) -> _Columns:
        return _Columns(
            user=self.user[rows],
            item=self.item[rows],
            category=self.category[rows],
            seconds=self.seconds[rows],
            event_type=self.event_type[rows],
            type_weight=self.type_weight[rows],
        )


@dataclass(frozen=True)
class _UserEvents:
    """Training events grouped by user, in time order inside a user (file order on ties).

    Why: per-user scoring at per-user instants only touches the requested users' events;
    grouping once at fit time turns that into a vectorised gather of contiguous ranges.
    """

    columns: _Columns
    order: npt.NDArray[np.intp]  # position of each grouped event in the training log
    indptr: npt.NDArray[np.int64]  # (n_users + 1,)
    first_seconds: FloatArray  # (n_users,) time of each user's first event (inf: none)

    @classmethod
    def build(cls, columns: _Columns, n_users: int) -> _UserEvents:
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


class _PopularityIndex:
    """Decayed item popularity ``P_i(a) = Σ w_type · k(a − t)`` over events with ``t <= a``.

    Why: evaluation asks for popularity at thousands of distinct instants (one per test user),
    and a pass over the whole log per instant is too slow. Events are sorted by time once.

    * Exponential kernel or no decay: ``k(a − t) = k(a − r) · k(r − t)`` exactly, so the
      popularity is checkpointed at fixed event positions ``p_c`` (state at time ``r_c``, the
      time of event ``p_c − 1``) and a query adds only the events since the nearest checkpoint:
      ``P(a) = S_c · k(a − r_c) + Σ_{p_c <= j < end(a)} w_j k(a − t_j)``. The state is built by
      the same recursion, never from ``2^(+t/h)`` factors, so nothing overflows on long logs.
    * Kernels with finite support (linear, logarithmic) only read events in the window
      ``(a − support, a]``; the power kernel reads every event up to ``a``.

    Each instant is computed on its own from the training data alone, so a user's scores do
    not depend on which other users share the request.
    """

    def __init__(
        self,
        columns: _Columns,
        n_items: int,
        kernel: KernelName,
        half_life_seconds: float,
    ) -> None:
        order = np.argsort(columns.seconds, kind="stable")
        self.seconds = columns.seconds[order]
        self.item = columns.item[order]
        self.weight = columns.type_weight[order]
        self.n_items = n_items
        self.kernel: KernelName = kernel
        self.half_life = half_life_seconds
        self.factorises = math.isinf(half_life_seconds) or kernel == "exponential"
        self.support = _KERNEL_SUPPORT[kernel] * half_life_seconds
        n_events = len(self.seconds)
        n_checkpoints = 0
        if self.factorises and n_items:
            n_checkpoints = min(n_events // _MIN_CHECKPOINT_EVENTS, _CHECKPOINT_CELLS // n_items)
        self.positions = np.linspace(0, n_events, n_checkpoints + 1, endpoint=False).astype(
            np.int64
        )
        self.states = np.zeros((n_checkpoints + 1, n_items))
        self.times = np.full(n_checkpoints + 1, -np.inf)
        for c in range(1, n_checkpoints + 1):
            lo, hi = int(self.positions[c - 1]), int(self.positions[c])
            now = float(self.seconds[hi - 1])
            state = self._window(lo, hi, now)
            if c > 1:
                state += self.states[c - 1] * self._decay(now - float(self.times[c - 1]))
            self.states[c] = state
            self.times[c] = now

    def _decay(self, age: float | FloatArray) -> Any:
        if math.isinf(self.half_life):
            return np.ones_like(age) if isinstance(age, np.ndarray) else 1.0
        return decay_weights(age, self.half_life, self.kernel)

    def _window(self, lo: int, hi: int, at: float) -> FloatArray:
        weights = self.weight[lo:hi] * self._decay(at - self.seconds[lo:hi])
        return np.bincount(self.item[lo:hi], weights=weights, minlength=self.n_items).astype(
            np.float64, copy=False
        )

    def one(self, at: float) -> FloatArray:
        """Popularity of every item at one instant."""
        end = int(np.searchsorted(self.seconds, at, side="right"))
        if self.factorises:
            c = int(np.searchsorted(self.positions, end, side="right")) - 1
            out = self._window(int(self.positions[c]), end, at)
            if c > 0:
                out += self.states[c] * self._decay(at - float(self.times[c]))
            return out
        start = 0
        if math.isfinite(self.support):
            start = int(np.searchsorted(self.seconds, at - self.support, side="left"))
        return self._window(start, end, at)

    def many(self, at: FloatArray) -> tuple[FloatArray, npt.NDArray[np.intp]]:
        """Popularity at each distinct instant ``(n_distinct, n_items)`` and the row of each."""
        distinct, inverse = np.unique(at, return_inverse=True)
        out = np.empty((len(distinct), self.n_items))
        for row, instant in enumerate(distinct):
            out[row] = self.one(float(instant))
        return out, inverse.reshape(-1)


# ---------------------------------------------------------------------- the estimator
class Recommender(ABC):
    """Base class: ``fit / partial_fit / recommend / explain / save / load``.

    Parameters common to every model (subclasses add their own keyword-only ones):

    kernel
        Decay kernel name (``exponential``, ``linear``, ``power``, ``logarithmic``).
    half_life
        How long until an event counts half; ``None`` switches decay off (the ``-no-decay``
        variant).
    event_weights
        ``{event type: weight}`` overrides of :class:`EventWeights`.

    Attributes
    ----------
    events_ : EventLog
        The training log, compacted into the model's own index space.
    user_events_ : _UserEvents
        The training events grouped by user (time order inside a user).
    item_category_ : ndarray of int32
        Each item's latest known category (-1: none).
    popularity_index_ : _PopularityIndex
        Decayed popularity at any instant (the cold-start fallback).
    """

    #: Name used on the CLI and in evaluation JSON; subclasses override.
    name: ClassVar[str] = "recommender"
    #: Break exact score ties by decayed popularity (then by item index). Off where the score
    #: already is the popularity.
    _tie_break_by_popularity: ClassVar[bool] = True
    _registry: ClassVar[dict[str, type[Recommender]]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        Recommender._registry[cls.__name__] = cls

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = timedelta(days=7),
        event_weights: Mapping[str, float] | None = None,
    ) -> None:
        self.kernel = kernel
        self.half_life = half_life
        # Copied so that the caller's mapping can change later; validated in fit.
        self.event_weights = (
            dict(event_weights) if isinstance(event_weights, Mapping) else event_weights
        )

    def __repr__(self) -> str:
        args = ", ".join(f"{key}={value!r}" for key, value in self._params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ parameters
    def _params(self) -> dict[str, Any]:
        return {
            key: value
            for key, value in vars(self).items()
            if not key.endswith("_") and not key.startswith("_")
        }

    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready (durations in seconds, ``None`` = infinite)."""
        return {key: _to_json(value) for key, value in self._params().items()}

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`get_params` (used by :meth:`load` and the evaluation runner).

        Numbers given for duration parameters are read as seconds (also inside mappings).
        """
        signature = inspect.signature(cls.__init__)
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            parameter = signature.parameters.get(key)
            if parameter is None or parameter.kind is not inspect.Parameter.KEYWORD_ONLY:
                accepted = ", ".join(
                    name
                    for name, p in signature.parameters.items()
                    if p.kind is inspect.Parameter.KEYWORD_ONLY
                )
                raise InvalidParameterError(
                    f"{cls.__name__} has no parameter {key!r}; it accepts {accepted}."
                )
            if "timedelta" in str(parameter.annotation):
                value = _durations_from_json(value)
            kwargs[key] = value
        return cls(**kwargs)

    def clone(self, **changes: Any) -> Self:
        """An unfitted copy with the same parameters, except ``changes``."""
        params: dict[str, Any] = {**self._params(), **changes}
        return type(self).from_params(params)

    @property
    def display_name(self) -> str:
        """:attr:`name`, with ``-no-decay`` appended when ``half_life`` is ``None``."""
        return self.name + (NO_DECAY_SUFFIX if self.half_life is None else "")

    def _validate_params(self) -> None:
        """Check every parameter; raise :class:`InvalidParameterError` naming the first bad one.

        Subclasses extend this (calling ``super()``) and derive their ``*_seconds_`` values
        here, so that a rejected model keeps no half-validated state.
        """
        owner = type(self).__name__
        validate_kernel(self.kernel, owner=owner)
        self.half_life_seconds_ = self._duration("half_life", self.half_life)
        self.weights_ = _event_weights(self.event_weights, owner)

    def _duration(self, name: str, value: Any) -> float:
        """Seconds of a duration parameter (``None`` = infinite), or raise naming it."""
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, timedelta | int | float)
        ):
            raise InvalidParameterError(
                f"The '{name}' parameter of {type(self).__name__} must be a positive timedelta "
                f"or None (no decay). Got {value!r} instead."
            )
        return duration_seconds(value, name=name, owner=type(self).__name__)

    def _popularity_half_life_seconds(self) -> float:
        """Half-life of the popularity fallback; models with their own override this."""
        return self.half_life_seconds_

    # ------------------------------------------------------------------ fitting
    def fit(self, events: EventLog) -> Self:
        """Learn from a whole log, forgetting any earlier fit. Returns ``self``.

        Raises
        ------
        InvalidParameterError
            A constructor parameter is out of range (named in the message).
        DataValidationError
            The log is empty.
        """
        self._validate_params()
        if events.n_events == 0:
            raise DataValidationError(f"{type(self).__name__}.fit got an empty event log.")
        self.events_ = events.compact()
        self._refresh()
        return self

    def partial_fit(self, events: EventLog) -> Self:
        """Add events (new users and items welcome) without forgetting; exact for these models.

        All three decayed models derive their state from the events alone, so appending the
        events and re-deriving gives exactly ``fit(a.concat(b))``.
        """
        if not hasattr(self, "events_"):
            return self.fit(events)
        if events.n_events == 0:
            return self
        self.events_ = self.events_.concat(events.compact())
        self._refresh()
        return self

    def _refresh(self) -> None:
        log = self.events_
        self.columns_ = _Columns.from_log(log, self.weights_)
        self.user_events_ = _UserEvents.build(self.columns_, len(log.users))
        self.item_category_ = log.item_categories()
        self.popularity_index_ = _PopularityIndex(
            self.columns_, len(log.items), self.kernel, self._popularity_half_life_seconds()
        )
        self._fit_state()

    @abstractmethod
    def _fit_state(self) -> None:
        """Derive learned state from ``self.events_`` / ``self.columns_``."""

    @abstractmethod
    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        """Scores ``(len(user_index), n_items)`` for known users at per-user instants ``at``."""

    @abstractmethod
    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        """Explanation for a user with events at or before ``at`` and a known item."""

    # ------------------------------------------------------------------ helpers for subclasses
    def _check_fitted(self) -> None:
        if not hasattr(self, "events_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(events) or load(path)."
            )

    def popularity(self, at: datetime | Any) -> FloatArray:
        """Decayed popularity of every item at one instant ``at`` (later events do not count)."""
        self._check_fitted()
        return self.popularity_index_.one(float(instant_seconds(at)[0]))

    def _popularity_at(self, at: FloatArray) -> FloatArray:
        """Popularity rows ``(len(at), n_items)``, one per instant."""
        distinct, inverse = self.popularity_index_.many(at)
        return distinct[inverse]

    def _category_popularity(self, at: FloatArray) -> FloatArray:
        """Decayed popularity summed per category ``(len(at), n_categories)``."""
        n_cats = len(self.events_.categories)
        distinct, inverse = self.popularity_index_.many(at)
        has = self.item_category_ >= 0
        out = np.zeros((len(distinct), n_cats))
        for row in range(len(distinct)):
            out[row] = np.bincount(
                self.item_category_[has], weights=distinct[row, has], minlength=n_cats
            )
        return out[inverse]

    @property
    def n_items(self) -> int:
        """Size of the model's catalogue (items seen in training)."""
        self._check_fitted()
        return len(self.events_.items)

    def _batches(self, n_rows: int) -> Iterator[slice]:
        size = max(1, min(_MAX_USER_BATCH, _CELL_BUDGET // max(self.n_items, 1)))
        for start in range(0, n_rows, size):
            yield slice(start, min(start + size, n_rows))

    def _known_at(self, users: IndexArray, at: FloatArray) -> npt.NDArray[np.bool_]:
        """Users known to the model *at their instant* (one training event at or before it)."""
        known = users >= 0
        known[known] = self.user_events_.first_seconds[users[known]] <= at[known]
        return known

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        user_ids: Sequence[UserId],
        *,
        at: datetime | Any,
        n: int = 10,
        threshold: float | None = None,
        exclude: ExcludePolicy = "purchased",
        categories: Sequence[str] | None = None,
    ) -> Recommendations:
        """Top-``n`` items for each user at instant ``at`` (one, or one per user).

        Users unknown to the model, without any training event at or before their ``at``, or
        without live evidence then (all personal scores equal and not positive, e.g. 0), get
        decayed popularity at ``at`` instead, flagged in ``Recommendations.fallback``.
        Ties in score go to the more popular item at ``at``, then to the lower item index.

        Parameters
        ----------
        user_ids
            Raw user ids (a sequence; a single string is rejected).
        at
            One instant for everyone or one per user: datetime, ISO text, Unix seconds, or an
            array of ``datetime64`` / seconds.
        n
            List length; capped at the catalogue size.
        threshold
            Keep only items whose score, divided by the user's best score, is ≥ θ (θ in
            [0, 1]); rows are padded with -1 / NaN after the last kept item.
        exclude
            ``purchased`` (default): drop items bought at or before ``at``, except in
            categories where the user bought at least twice by then; ``seen``: drop every item
            the user interacted with by ``at``; ``none``: allow repeats.
        categories
            Only recommend items of these raw category ids.

        Returns
        -------
        Recommendations
            One row per requested user, in request order.

        Raises
        ------
        NotFittedError
            Before :meth:`fit` or :meth:`load`.
        InvalidParameterError
            ``n``, ``threshold``, ``exclude``, ``categories``, ``user_ids`` or ``at`` is
            malformed (the message names which).
        """
        self._check_fitted()
        raw = _raw_ids(user_ids, "user_ids")
        _check_n(n)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidParameterError(
                f"The 'threshold' parameter must be in [0, 1]. Got {threshold!r} instead."
            )
        _check_exclude(exclude)
        at_seconds = instant_seconds(at, n=len(raw))
        users = self.events_.users.indices(raw) if raw else np.empty(0, dtype=np.int32)
        allowed = self._category_mask(categories)
        n_out = min(n, self.n_items)
        item_index = np.full((len(raw), n_out), -1, dtype=np.int32)
        scores = np.full((len(raw), n_out), np.nan)
        fallback = np.zeros(len(raw), dtype=bool)
        # Requests are processed in time order: neighbouring users share instants, so each
        # batch needs fewer popularity snapshots. Rows never depend on their batch-mates.
        order = np.argsort(at_seconds, kind="stable")
        for part in self._batches(len(raw)):
            rows = order[part]
            batch_users, batch_at = users[rows], at_seconds[rows]
            batch, batch_fallback = self._batch_scores(batch_users, batch_at)
            self._apply_exclusions(batch, batch_users, batch_at, exclude)
            if allowed is not None:
                batch[:, ~allowed] = -np.inf
            prior = self._popularity_prior(batch_at) if self._tie_break_by_popularity else None
            item_index[rows], scores[rows] = _top_n(batch, n_out, threshold, prior)
            fallback[rows] = batch_fallback
        return Recommendations(raw, item_index, scores, fallback, self.events_.items)

    def _popularity_prior(self, at: FloatArray) -> PriorFn:
        def prior(rows: IndexArray) -> FloatArray:
            return self._popularity_at(at[rows])

        return prior

    def _batch_scores(
        self, users: IndexArray, at: FloatArray
    ) -> tuple[FloatArray, npt.NDArray[np.bool_]]:
        """Scores for one batch and which rows fell back to popularity.

        A row falls back when the user is unknown, has no training event by their ``at``, or
        has no live evidence: every personal score is the same and not positive (e.g. 0
        because all their events lie beyond a finite kernel's support). Such a row would rank
        by ties alone.
        """
        known = self._known_at(users, at)
        if not known.any():
            return self._popularity_at(at), ~known
        if known.all():  # the common case: no copy of a batch-sized matrix
            out = self._score_known(users, at)
        else:
            out = np.empty((len(users), self.n_items))
            out[known] = self._score_known(users[known], at[known])
        best = out.max(axis=1)
        live = (best > out.min(axis=1)) | (best > 0)
        fallback = ~(known & live)
        if fallback.any():
            out[fallback] = self._popularity_at(at[fallback])
        return out, fallback

    def _apply_exclusions(
        self, scores: FloatArray, users: IndexArray, at: FloatArray, exclude: str
    ) -> None:
        """Set excluded items to ``-inf``, using only events at or before each user's ``at``."""
        if exclude == "none":
            return
        rows, positions, _ = self.user_events_.gather(users, at)
        columns = self.user_events_.columns
        items = columns.item[positions]
        if exclude == "seen":
            scores[rows, items] = -np.inf
            return
        bought = columns.event_type[positions] == EventType.PURCHASE
        rows, items = rows[bought], items[bought]
        if not rows.size:
            return
        category = self.item_category_[items].astype(np.int64)
        key = rows.astype(np.int64) * (len(self.events_.categories) + 1) + category + 1
        _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
        rebuy = (counts[inverse.reshape(-1)] >= 2) & (category >= 0)
        scores[rows[~rebuy], items[~rebuy]] = -np.inf

    def _category_mask(self, categories: Sequence[str] | None) -> npt.NDArray[np.bool_] | None:
        if categories is None:
            return None
        wanted = self.events_.categories.indices(_raw_ids(categories, "categories"))
        return np.isin(self.item_category_, wanted[wanted >= 0])

    def rank_categories(
        self,
        user_ids: Sequence[UserId],
        *,
        at: datetime | Any,
        n: int = 10,
        exclude: ExcludePolicy = "none",
    ) -> tuple[IndexArray, Vocabulary]:
        """Top-``n`` category indices per user (-1 padded) and the category vocabulary.

        The default ranks a category by its best item's score (after ``exclude``); models with
        a direct category interest (``DecayedProfile``) rank by that instead. The width is
        ``min(n, n_categories)`` (at least 1; all -1 when the log has no categories).
        """
        self._check_fitted()
        raw = _raw_ids(user_ids, "user_ids")
        _check_n(n)
        _check_exclude(exclude)
        at_seconds = instant_seconds(at, n=len(raw))
        users = self.events_.users.indices(raw) if raw else np.empty(0, dtype=np.int32)
        n_cats = len(self.events_.categories)
        out = np.full((len(raw), min(n, max(n_cats, 1))), -1, dtype=np.int32)
        if n_cats == 0:
            return out, self.events_.categories
        order = np.argsort(at_seconds, kind="stable")
        for part in self._batches(len(raw)):
            rows = order[part]
            cat_scores, prior = self._category_scores(users[rows], at_seconds[rows], exclude)
            out[rows] = _top_n(cat_scores, out.shape[1], None, prior)[0]
        return out, self.events_.categories

    def _category_scores(
        self, users: IndexArray, at: FloatArray, exclude: str
    ) -> tuple[FloatArray, PriorFn | None]:
        """Category scores ``(len(users), n_categories)`` and an optional tie-break key."""
        scores, _ = self._batch_scores(users, at)
        self._apply_exclusions(scores, users, at, exclude)
        n_cats = len(self.events_.categories)
        has = np.flatnonzero(self.item_category_ >= 0)
        by_cat = has[np.argsort(self.item_category_[has], kind="stable")]
        cats = self.item_category_[by_cat]
        present, starts = np.unique(cats, return_index=True)
        out = np.full((len(users), n_cats), -np.inf)
        if by_cat.size:
            out[:, present] = np.maximum.reduceat(scores[:, by_cat], starts, axis=1)
        return out, None

    # ------------------------------------------------------------------ explaining
    def explain(self, user_id: UserId, item_id: Any, *, at: datetime | Any) -> Explanation:
        """Why ``item_id`` is scored as it is for ``user_id`` at ``at`` (largest causes first).

        The score equals the one :meth:`recommend` gives (before exclusions). A user unknown
        at ``at`` gets the popularity fallback's explanation.

        Raises
        ------
        UnknownIdError
            ``item_id`` is not in the model's catalogue.
        """
        self._check_fitted()
        at_seconds = float(instant_seconds(at)[0])
        item = self.events_.items.index(item_id)
        if item is None:
            raise UnknownIdError(f"Item {item_id!r} is not in the model's catalogue.")
        user = self.events_.users.index(user_id)
        user_arr = np.array([-1 if user is None else user], dtype=np.int32)
        _, fallback = self._batch_scores(user_arr, np.array([at_seconds]))
        if user is None or fallback[0]:
            return self._explain_popularity(str(user_id), item, at_seconds, fallback=True)
        return self._explain_known(user, item, at_seconds)

    def _explain_popularity(
        self, user_id: str, item: int, at: float, *, fallback: bool, limit: int = 100
    ) -> Explanation:
        """Popularity of ``item`` at ``at`` and the (at most ``limit``) largest events in it."""
        columns = self.columns_
        rows = np.flatnonzero((columns.item == item) & (columns.seconds <= at))
        half_life = self._popularity_half_life_seconds()
        decay = decay_weights(at - columns.seconds[rows], half_life, self.kernel)
        contribution = decay * columns.type_weight[rows]
        score = float(self.popularity_index_.one(at)[item])
        return Explanation(
            user_id=user_id,
            item_id=self.events_.items.raw([item])[0],
            at=from_seconds(at),
            score=score,
            fallback=fallback,
            category_id=self._category_id(int(self.item_category_[item])),
            category_interest=None,
            half_life=_as_timedelta(half_life),
            components={"item_popularity": score},
            events=self._describe_events(columns, rows, at, decay, contribution, limit=limit),
        )

    def _category_id(self, category: int) -> str | None:
        return self.events_.categories.raw([category])[0] if category >= 0 else None

    def _describe_events(
        self,
        columns: _Columns,
        rows: npt.NDArray[np.integer[Any]],
        at: float,
        decay: FloatArray,
        contribution: FloatArray,
        *,
        limit: int | None = None,
    ) -> list[ContributingEvent]:
        """Contributing events, largest contribution first (then the most recent first)."""
        keep = contribution != 0
        rows, decay, contribution = rows[keep], decay[keep], contribution[keep]
        order = np.lexsort((-columns.seconds[rows], -contribution))
        if limit is not None:
            order = order[:limit]
        rows, decay, contribution = rows[order], decay[order], contribution[order]
        item_ids = self.events_.items.raw(columns.item[rows])
        out = []
        for k, row in enumerate(rows.tolist()):
            seconds = float(columns.seconds[row])
            out.append(
                ContributingEvent(
                    item_id=item_ids[k],
                    category_id=self._category_id(int(columns.category[row])),
                    event_type=EventType(int(columns.event_type[row])).label,
                    timestamp=from_seconds(seconds),
                    age=timedelta(seconds=at - seconds),
                    type_weight=float(columns.type_weight[row]),
                    decay=float(decay[k]),
                    contribution=float(contribution[k]),
                )
            )
        return out

    def _half_life_delta(self) -> timedelta | None:
        return _as_timedelta(self.half_life_seconds_)

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        """Learned arrays to save beside the events; default: none (state is re-derived)."""
        return {}

    def _load_state(self, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
        """Restore what :meth:`_state_arrays` saved; default: re-derive from the events."""
        self._refresh()

    def save(self, path: StrPath) -> None:
        """Write ``manifest.json`` and ``arrays.npz`` into the folder ``path`` (no pickle).

        The whole training log is stored (every column, strings as codes plus a vocabulary),
        so a loaded model recommends, explains and ``partial_fit``\\ s exactly like this one.
        """
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        log = self.events_
        arrays: dict[str, np.ndarray[Any, Any]] = {
            "events.user_index": log.user_index,
            "events.item_index": log.item_index,
            "events.category_index": log.category_index,
            "events.timestamp_us": log.frame["timestamp"].dt.epoch("us").to_numpy(),
            "events.event_type": log.event_type,
            "events.value": log.frame["value"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
            "vocab.users": _strings(log.users.ids),
            "vocab.items": _strings(log.items.ids),
            "vocab.categories": _strings(log.categories.ids),
        }
        for column in ("session_id", "event_id"):
            codes, vocab = _encode_strings(log.frame[column])
            arrays[f"events.{column}"] = codes
            arrays[f"vocab.{column}"] = vocab
        for key, value in self._state_arrays().items():
            arrays[f"state.{key}"] = value
        manifest = {
            "format_version": FORMAT_VERSION,
            "decayrec_version": __version__,
            "class": type(self).__name__,
            "name": self.display_name,
            "params": self.get_params(),
            "n_events": log.n_events,
        }
        np.savez_compressed(folder / "arrays.npz", allow_pickle=False, **arrays)
        (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")

    @classmethod
    def load(cls, path: StrPath) -> Self:
        """Read a model written by :meth:`save`; checks the class and format version."""
        model = load_model(path)
        if not isinstance(model, cls):
            raise DataValidationError(
                f"{path}: holds a {type(model).__name__}, not a {cls.__name__}."
            )
        return model


def load_model(path: StrPath) -> Recommender:
    """Load any saved decayrec model from its folder (class read from the manifest).

    Raises
    ------
    DataValidationError
        No manifest, another format version, an unknown class or missing arrays.
    """
    folder = Path(path)
    manifest_path = folder / "manifest.json"
    if not manifest_path.is_file():
        raise DataValidationError(f"{folder}: no manifest.json; not a saved decayrec model.")
    manifest = json.loads(manifest_path.read_text())
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise DataValidationError(
            f"{manifest_path}: format_version is {version!r}; this decayrec reads {FORMAT_VERSION}."
        )
    class_name = manifest.get("class")
    model_cls = Recommender._registry.get(str(class_name))
    if model_cls is None or inspect.isabstract(model_cls):
        raise DataValidationError(f"{manifest_path}: unknown model class {class_name!r}.")
    model = model_cls.from_params(manifest["params"])
    model._validate_params()
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    try:
        n = len(arrays["events.user_index"])
        frame = pl.DataFrame(
            {
                "user_index": arrays["events.user_index"].astype(np.int32),
                "item_index": arrays["events.item_index"].astype(np.int32),
                "category_index": arrays["events.category_index"].astype(np.int32),
                "timestamp": pl.Series(arrays["events.timestamp_us"].astype(np.int64))
                .cast(pl.Datetime("us"))
                .dt.replace_time_zone("UTC"),
                "event_type": arrays["events.event_type"].astype(np.uint8),
                "value": pl.Series(arrays["events.value"], dtype=pl.Float64, nan_to_null=True),
                "session_id": _decode_strings(
                    arrays["events.session_id"], arrays["vocab.session_id"], n
                ),
                "event_id": _decode_strings(arrays["events.event_id"], arrays["vocab.event_id"], n),
            }
        )
    except KeyError as missing:
        raise DataValidationError(
            f"{folder / 'arrays.npz'}: array {missing} is missing; the file is damaged."
        ) from None

    def vocab(key: str) -> Vocabulary:
        return Vocabulary(pl.Series("id", arrays[key].tolist(), dtype=pl.String))

    model.events_ = EventLog(
        frame, vocab("vocab.users"), vocab("vocab.items"), vocab("vocab.categories")
    )
    state = {k.removeprefix("state."): v for k, v in arrays.items() if k.startswith("state.")}
    model._load_state(state)
    return model


# ---------------------------------------------------------------------- ranking
def _top_n(
    scores: FloatArray,
    n: int,
    threshold: float | None,
    prior: PriorFn | None = None,
) -> tuple[IndexArray, FloatArray]:
    """The ``n`` best columns per row by (score desc, prior desc, index asc), exactly.

    Why not ``argpartition`` alone: it breaks ties at the cut arbitrarily, so equal scores
    (say, every unseen item at 0) would come back in an unspecified order. Rows whose cut is
    tied are resolved by the secondary keys; ``prior`` (``rows -> (len(rows), n_cols)``, e.g.
    popularity) is evaluated only for rows with ties. ``-inf`` marks excluded entries and NaN
    ranks below everything; they and entries under ``threshold`` (relative to the row's best
    score) come back as -1 / NaN padding at the end of the row. ``scores`` is not modified.

    Speed: a selection over whole rows costs about 10 ns per cell, more than computing most
    scores. For short lists the row is first cut into blocks of :data:`_BLOCK` columns; the
    n-th largest block maximum ``L`` is a lower bound of the n-th largest score, so every
    entry that can make the list (ties included) lies in a block whose maximum is ``>= L``.
    Only those blocks are searched exactly; rows with too many such blocks (heavy ties) take
    the full path. Both paths apply the same total order, so the result does not depend on
    the path.
    """
    n_rows, n_cols = scores.shape
    n = min(n, n_cols)
    top = np.full((n_rows, n), -1, dtype=np.int32)
    top_scores = np.full((n_rows, n), np.nan)
    if n == 0 or n_rows == 0:
        return top, top_scores
    if np.isnan(scores).any():
        scores = np.where(np.isnan(scores), -np.inf, scores)
    get_prior = _cached_prior(prior) if prior is not None else None
    cols = np.empty((n_rows, n), dtype=np.int64)
    full_rows = np.arange(n_rows)
    n_blocks = n_cols // _BLOCK
    width = 2 * n + 4  # candidate blocks kept per row on the fast path
    if n_blocks >= 4 * width:
        body = scores[:, : n_blocks * _BLOCK].reshape(n_rows, n_blocks, _BLOCK)
        block_max = np.fmax.reduce(body, axis=2)
        if n_cols > n_blocks * _BLOCK:
            tail = np.fmax.reduce(scores[:, n_blocks * _BLOCK :], axis=1)
            block_max = np.concatenate([block_max, tail[:, None]], axis=1)
        total_blocks = block_max.shape[1]
        bound = np.partition(block_max, total_blocks - n, axis=1)[:, total_blocks - n]
        n_candidates = (block_max >= bound[:, None]).sum(axis=1)
        fast = np.isfinite(bound) & (n_candidates <= width)
        fast_rows = np.flatnonzero(fast)
        full_rows = np.flatnonzero(~fast)
        if fast_rows.size:
            blocks = np.argpartition(-block_max[fast_rows], width - 1, axis=1)[:, :width]
            blocks.sort(axis=1)  # ids must increase along the row for _select
            ids = (blocks[:, :, None] * _BLOCK + np.arange(_BLOCK)).reshape(fast_rows.size, -1)
            outside = ids >= n_cols  # the tail block is shorter
            ids[outside] = n_cols - 1
            values = scores[fast_rows[:, None], ids]  # gathers only the candidates
            values[outside] = -np.inf
            cols[fast_rows] = _select(values, ids, n, fast_rows, get_prior)
    if full_rows.size:
        values = scores[full_rows] if full_rows.size < n_rows else scores
        cols[full_rows] = _select(values, None, n, full_rows, get_prior)
    chosen = np.take_along_axis(scores, cols, axis=1)
    order = np.lexsort((cols, -chosen), axis=1)
    cols = np.take_along_axis(cols, order, axis=1)
    chosen = np.take_along_axis(chosen, order, axis=1)
    if get_prior is not None:
        tied = np.flatnonzero(
            (np.isfinite(chosen[:, 1:]) & (chosen[:, 1:] == chosen[:, :-1])).any(axis=1)
        )
        if tied.size:
            sub_cols = cols[tied]
            sub_prior = np.take_along_axis(get_prior(tied), sub_cols, axis=1)
            sub_order = np.lexsort((sub_cols, -sub_prior, -chosen[tied]), axis=1)
            cols[tied] = np.take_along_axis(sub_cols, sub_order, axis=1)
            chosen[tied] = np.take_along_axis(chosen[tied], sub_order, axis=1)
    invalid = ~np.isfinite(chosen)
    if threshold is not None:
        best = chosen[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(best > 0, chosen / best, 0.0)
        invalid |= relative < threshold
    top[~invalid] = cols[~invalid]
    top_scores[~invalid] = chosen[~invalid]
    return top, top_scores


def _cached_prior(prior: PriorFn) -> Callable[[npt.NDArray[np.intp]], FloatArray]:
    """``prior`` evaluated at most once per row (tie resolution and ordering may both ask)."""
    cache: dict[int, FloatArray] = {}

    def rows_of(rows: npt.NDArray[np.intp]) -> FloatArray:
        missing = [r for r in rows.tolist() if r not in cache]
        if missing:
            cache.update(zip(missing, prior(np.array(missing, dtype=np.int32)), strict=True))
        return np.stack([cache[r] for r in rows.tolist()])

    return rows_of


#: Columns per block in the pre-selection of :func:`_top_n`.
_BLOCK: Final = 64


def _select(
    values: FloatArray,
    ids: npt.NDArray[np.int64] | None,
    n: int,
    rows: npt.NDArray[np.intp],
    prior: Callable[[npt.NDArray[np.intp]], FloatArray] | None,
) -> npt.NDArray[np.int64]:
    """Column ids of the ``n`` best entries per row of ``values`` (any order inside).

    ``ids[r, j]`` is the true column of ``values[r, j]`` and must increase along each row
    (``None``: ``j`` itself); ``rows`` are the batch rows, passed to ``prior``. Exact on ties:
    (score desc, prior desc, id asc). No NaN in ``values``.

    Works by value rather than by ``argpartition``: the n-th largest value is the cut,
    everything above it is in, and of the entries equal to it the row takes those with the
    largest prior, then the lowest ids (a running count along the row, as ids increase).
    """
    n_rows, width = values.shape
    if n >= width:
        local = np.broadcast_to(np.arange(width), (n_rows, width))
    else:
        cut = -np.partition(-values, n - 1, axis=1)[:, n - 1 : n]
        above = values > cut
        tied = values == cut
        n_above = above.sum(axis=1)
        ambiguous = np.flatnonzero(n_above + tied.sum(axis=1) > n)
        if ambiguous.size:
            sub_above, sub_tied = above[ambiguous], tied[ambiguous]
            # Below a cut of -inf everything is padding; the prior is not worth computing.
            with_prior = np.flatnonzero(np.isfinite(cut[ambiguous, 0]))
            if prior is not None and with_prior.size:
                sub_ids = (
                    np.broadcast_to(np.arange(width), (with_prior.size, width))
                    if ids is None
                    else ids[ambiguous[with_prior]]
                )
                key = np.take_along_axis(prior(rows[ambiguous[with_prior]]), sub_ids, axis=1)
                a, t = sub_above[with_prior], sub_tied[with_prior]
                masked = np.where(a, np.inf, np.where(t, key, -np.inf))
                key_cut = -np.partition(-masked, n - 1, axis=1)[:, n - 1 : n]
                sub_above[with_prior] = a | (t & (key > key_cut))
                sub_tied[with_prior] = t & (key == key_cut)
            need = n - sub_above.sum(axis=1, keepdims=True)
            first = np.cumsum(sub_tied, axis=1, dtype=np.int32) <= need
            above[ambiguous] = sub_above | (sub_tied & first)
            tied[ambiguous] = False
        local = np.nonzero(above | tied)[1].reshape(n_rows, n)
    if ids is None:
        return np.asarray(local, dtype=np.int64)
    return np.take_along_axis(ids, local, axis=1)


# ---------------------------------------------------------------------- small helpers
def _raw_ids(ids: Sequence[Any] | Any, name: str) -> list[str]:
    """Raw ids as strings; a bare string (a sequence of characters) is refused."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray | pl.Series):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a sequence of ids (e.g. a list). Got {ids!r} instead."
        )
    return [str(value) for value in ids]


def _check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(
            f"The 'n' parameter must be an integer >= 1. Got {n!r} instead."
        )


def _check_exclude(exclude: Any) -> None:
    if exclude not in ("purchased", "seen", "none"):
        raise InvalidParameterError(
            f"The 'exclude' parameter must be 'purchased', 'seen' or 'none'. "
            f"Got {exclude!r} instead."
        )


def _event_weights(weights: Mapping[str, float] | None, owner: str) -> EventWeights:
    if weights is not None and not isinstance(weights, Mapping):
        raise InvalidParameterError(
            f"The 'event_weights' parameter of {owner} must be a mapping of event type to "
            f"weight, or None. Got {weights!r} instead."
        )
    try:
        return EventWeights.from_mapping(weights)
    except (InvalidParameterError, TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"The 'event_weights' parameter of {owner} is invalid: {error}"
        ) from None


def _as_timedelta(seconds: float) -> timedelta | None:
    return None if math.isinf(seconds) else timedelta(seconds=seconds)


def _to_json(value: Any) -> Any:
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): _to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_to_json(item) for item in value]
    return value


def _durations_from_json(value: Any) -> Any:
    """Numbers become ``timedelta`` seconds (also as mapping values); the rest is kept."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, Mapping):
        return {key: _durations_from_json(item) for key, item in value.items()}
    return value


def _strings(series: pl.Series) -> npt.NDArray[np.str_]:
    values = series.to_list()
    return np.array(values, dtype=np.str_) if values else np.empty(0, dtype="<U1")


def _encode_strings(column: pl.Series) -> tuple[IndexArray, npt.NDArray[np.str_]]:
    """Codes (-1 for null) and the distinct strings, so no object array reaches ``.npz``."""
    text = column.cast(pl.String)
    distinct = text.drop_nulls().unique(maintain_order=True)
    table = pl.DataFrame({"v": distinct, "code": np.arange(len(distinct), dtype=np.int32)})
    codes = (
        pl.DataFrame({"v": text})
        .join(table, on="v", how="left", maintain_order="left")["code"]
        .fill_null(-1)
        .to_numpy()
        .astype(np.int32)
    )
    return codes, _strings(distinct)


def _decode_strings(codes: np.ndarray[Any, Any], vocab: np.ndarray[Any, Any], n: int) -> pl.Series:
    values = pl.Series(vocab.tolist(), dtype=pl.String)
    if not len(values):
        return pl.Series([None] * n, dtype=pl.String)
    codes_series = pl.Series(codes.astype(np.int64))
    out = values.gather(codes_series.clip(0, None))
    return out.zip_with(codes_series >= 0, pl.Series([None] * n, dtype=pl.String))
