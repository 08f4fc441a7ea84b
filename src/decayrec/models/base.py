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

The machinery lives in private modules beside this one, each a pure helper of this class:
``_events`` (training events as arrays, grouped by user), ``_popularity_index`` (decayed
popularity at any instant), ``_ranking`` (exact top-n), ``_params`` (parameter checks and
their JSON form) and ``_persistence`` (the saved files). This module keeps the estimator API
and re-exports the public names (``FORMAT_VERSION`` and ``PriorFn`` among them).
"""

from __future__ import annotations

import copy
import inspect
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Final, Literal, Self

import numpy as np
import numpy.typing as npt

from decayrec._time import duration_seconds, from_seconds, instant_seconds
from decayrec.data.schema import EventLog, EventType, Vocabulary
from decayrec.decay.kernels import decay_weights, validate_kernel
from decayrec.errors import (
    DataValidationError,
    InvalidParameterError,
    NotFittedError,
    UnknownIdError,
)
from decayrec.models._events import Columns, UserEvents
from decayrec.models._params import (
    as_timedelta,
    check_exclude,
    check_n,
    durations_from_json,
    parse_event_weights,
    raw_ids,
    to_json,
)
from decayrec.models._persistence import FORMAT_VERSION as FORMAT_VERSION
from decayrec.models._persistence import read_events, read_manifest, write_model
from decayrec.models._popularity_index import PopularityIndex
from decayrec.models._ranking import PriorFn as PriorFn
from decayrec.models._ranking import top_n
from decayrec.models.results import ContributingEvent, Explanation, Recommendations
from decayrec.types import FloatArray, IndexArray, KernelName, StrPath, UserId

__all__ = ["ExcludePolicy", "Recommender", "load_model"]

#: ``purchased``: drop items the user bought, except in categories the user re-buys;
#: ``seen``: drop every item the user interacted with; ``none``: keep everything (repeats).
ExcludePolicy = Literal["purchased", "seen", "none"]

#: Suffix of the model name when decay is switched off (``half_life=None``).
NO_DECAY_SUFFIX: Final = "-no-decay"

#: Half-life parameters, where ``None`` switches that decay off: the ``-no-decay`` suffix sets
#: each one a model accepts to ``None``.
HALF_LIFE_PARAMETERS: Final = ("half_life", "popularity_half_life", "category_half_lives")
#: Parameters that mean something only with decay: a ``-no-decay`` spec or grid of
#: ``decayrec evaluate`` drops them. Besides the half-lives, LearnedDecay's fixed share of
#: recent popularity, whose ``None`` means "learned" rather than "off" (so the suffix leaves it
#: unset instead of setting it to ``None``).
DECAY_ONLY_PARAMETERS: Final = (*HALF_LIFE_PARAMETERS, "recent_popularity_share")

#: Dense score cells per user batch (8M float64 = 64 MiB); bounds memory on big catalogues.
_CELL_BUDGET: Final = 1 << 23
_MAX_USER_BATCH: Final = 1024


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
    user_events_ : UserEvents
        The training events grouped by user (time order inside a user).
    item_category_ : ndarray of int32
        Each item's latest known category (-1: none).
    popularity_index_ : PopularityIndex
        Decayed popularity at any instant (the cold-start fallback).
    """

    #: Name used on the CLI and in evaluation JSON; subclasses override.
    name: ClassVar[str] = "recommender"
    #: Break exact score ties by decayed popularity (then by item index). Off where the score
    #: already is the popularity.
    _tie_break_by_popularity: ClassVar[bool] = True
    #: The model learns its half-lives from the data (the runner then tunes none on a grid).
    learns_decay: ClassVar[bool] = False
    #: Named ablations, ``<name>-<suffix>`` -> parameter overrides, that ``decayrec evaluate``
    #: reports beside the model instead of ``-no-decay`` (e.g. a sequence model without its
    #: time bias). Empty for the decayed models, whose baseline is ``-no-decay``.
    ablations: ClassVar[Mapping[str, Mapping[str, Any]]] = {}
    #: Whether ``decayrec evaluate`` runs the model when no ``--models`` are given.
    in_default_set: ClassVar[bool] = True
    #: Parameters that change only how a fitted model scores, never what fitting learns: a
    #: fitted model takes new values of them through :meth:`with_scoring`, without a refit.
    scoring_parameters: ClassVar[tuple[str, ...]] = ()
    #: Values of :attr:`scoring_parameters` that ``decayrec evaluate`` tries on validation
    #: with every fit it tunes (the first entry: the defaults, which win ties).
    scoring_grid: ClassVar[tuple[Mapping[str, Any], ...]] = ()
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
        return {key: to_json(value) for key, value in self._params().items()}

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
                value = durations_from_json(value)
            kwargs[key] = value
        return cls(**kwargs)

    def clone(self, **changes: Any) -> Self:
        """An unfitted copy with the same parameters, except ``changes``."""
        params: dict[str, Any] = {**self._params(), **changes}
        return type(self).from_params(params)

    def with_scoring(self, **changes: Any) -> Self:
        """This fitted model with :attr:`scoring_parameters` changed, sharing its fitted state.

        Why: a parameter that only changes scoring can be searched on validation without
        refitting once per value. The copy is shallow (scoring never writes fitted state) and
        validated like a new model; ``self`` is unchanged.
        """
        unknown = sorted(set(changes) - set(self.scoring_parameters))
        if unknown:
            accepted = ", ".join(self.scoring_parameters) or "none"
            raise InvalidParameterError(
                f"{type(self).__name__}.with_scoring got {', '.join(map(repr, unknown))}; "
                f"only scoring parameters change without a refit (accepted: {accepted})."
            )
        self._check_fitted()
        copied = copy.copy(self)
        for key, value in changes.items():
            setattr(copied, key, value)
        copied._validate_params()
        return copied

    def applicable_scoring(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The entries of a scoring grid that can change this fitted model's scores, each once.

        Why: a validation search scores every fit once per entry of
        :attr:`scoring_grid`, and an entry whose parameter has no effect on this fit would
        only repeat another's score. The default keeps every entry.
        """
        return [dict(entry) for entry in entries]

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
        self.weights_ = parse_event_weights(self.event_weights, owner)

    def _duration(self, name: str, value: Any, *, none_means: str | None = "no decay") -> float:
        """Seconds of a duration parameter, or raise naming it.

        ``None`` is infinite, described in the error message by ``none_means``; with
        ``none_means=None`` it is not allowed.
        """
        allowed = f" or None ({none_means})" if none_means is not None else ""
        if (value is None and none_means is None) or (
            value is not None
            and (isinstance(value, bool) or not isinstance(value, timedelta | int | float))
        ):
            raise InvalidParameterError(
                f"The '{name}' parameter of {type(self).__name__} must be a positive timedelta"
                f"{allowed}. Got {value!r} instead."
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
        self.columns_ = Columns.from_log(log, self.weights_)
        self.user_events_ = UserEvents.build(self.columns_, len(log.users))
        self.item_category_ = log.item_categories()
        self.popularity_index_ = PopularityIndex(
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
        raw = raw_ids(user_ids, "user_ids")
        check_n(n)
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidParameterError(
                f"The 'threshold' parameter must be in [0, 1]. Got {threshold!r} instead."
            )
        check_exclude(exclude)
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
            item_index[rows], scores[rows] = top_n(batch, n_out, threshold, prior)
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
        wanted = self.events_.categories.indices(raw_ids(categories, "categories"))
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
        raw = raw_ids(user_ids, "user_ids")
        check_n(n)
        check_exclude(exclude)
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
            out[rows] = top_n(cat_scores, out.shape[1], None, prior)[0]
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
        return self._item_explanation(
            user_id,
            item,
            at,
            score=score,
            fallback=fallback,
            half_life=as_timedelta(half_life),
            components={"item_popularity": score},
            events=self._describe_events(columns, rows, at, decay, contribution, limit=limit),
        )

    def _item_explanation(
        self,
        user_id: str,
        item: int,
        at: float,
        *,
        score: float,
        components: dict[str, float],
        fallback: bool = False,
        half_life: timedelta | None = None,
        events: list[ContributingEvent] | None = None,
    ) -> Explanation:
        """An explanation without a category interest (popularity, baselines, peers)."""
        return Explanation(
            user_id=user_id,
            item_id=self.events_.items.raw([item])[0],
            at=from_seconds(at),
            score=score,
            fallback=fallback,
            category_id=self._category_id(int(self.item_category_[item])),
            category_interest=None,
            half_life=half_life,
            components=components,
            events=[] if events is None else events,
        )

    def _category_id(self, category: int) -> str | None:
        return self.events_.categories.raw([category])[0] if category >= 0 else None

    def _describe_events(
        self,
        columns: Columns,
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
        return as_timedelta(self.half_life_seconds_)

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
        write_model(
            Path(path),
            self.events_,
            self._state_arrays(),
            class_name=type(self).__name__,
            name=self.display_name,
            params=self.get_params(),
        )

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
    manifest, manifest_path = read_manifest(folder)
    class_name = manifest.get("class")
    model_cls = Recommender._registry.get(str(class_name))
    if model_cls is None or inspect.isabstract(model_cls):
        raise DataValidationError(f"{manifest_path}: unknown model class {class_name!r}.")
    model = model_cls.from_params(manifest["params"])
    model._validate_params()
    model.events_, state = read_events(folder)
    model._load_state(state)
    return model
