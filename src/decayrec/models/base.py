"""The estimator API every decayrec recommender shares, and the machinery behind it.

Why one base class: fallback for unknown users, exclusion policies, thresholds, batching over
users, category rankings and save/load are the same for every model, and getting them right
once keeps the models small (and comparable under evaluation).

A subclass implements:

* ``_fit_state()``: derive its learned state from ``self.events_`` (the compacted training log
  in the model's own index space). ``partial_fit`` appends events and calls it again, so
  ``fit(a).partial_fit(b)`` equals ``fit(a + b)`` exactly.
* ``_score_known(user_index, at)``: dense scores ``(len(user_index), n_items)`` for known users.
* ``_explain_known(user, item, at)``: an :class:`Explanation` for a known user.
* ``_state_arrays()`` / ``_load_state(arrays)``: learned arrays for save/load (optional; the
  default re-derives state from the saved events).
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal, Self

import numpy as np
import polars as pl
import scipy.sparse as sp

from decayrec import __version__
from decayrec._time import duration_seconds, from_seconds, instant_seconds
from decayrec.data.schema import (
    EventLog,
    EventType,
    EventWeights,
    Vocabulary,
)
from decayrec.decay.interest import event_decay_weights, sum_by_key
from decayrec.decay.kernels import validate_kernel
from decayrec.errors import DataValidationError, InvalidParameterError, NotFittedError
from decayrec.models.results import Explanation, Recommendations
from decayrec.types import FloatArray, IndexArray, KernelName, StrPath, UserId

__all__ = ["ExcludePolicy", "Recommender", "load_model"]

#: ``purchased``: drop items the user bought, except in categories the user re-buys;
#: ``seen``: drop every item the user interacted with; ``none``: keep everything (repeats).
ExcludePolicy = Literal["purchased", "seen", "none"]

FORMAT_VERSION = 1
_USER_BATCH = 1024


@dataclass(frozen=True)
class _Columns:
    """The training events as plain arrays in the model's index space (for hot paths)."""

    user: IndexArray
    item: IndexArray
    category: IndexArray
    seconds: FloatArray
    event_type: np.ndarray


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
    """

    #: Name used on the CLI and in evaluation JSON; subclasses override.
    name: ClassVar[str] = "recommender"
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
        self.event_weights = dict(event_weights) if event_weights else None

    # ------------------------------------------------------------------ parameters
    def get_params(self) -> dict[str, Any]:
        """Constructor arguments, JSON-ready (durations in seconds, ``None`` = infinite)."""
        params: dict[str, Any] = {}
        for key, value in vars(self).items():
            if key.endswith("_") or key.startswith("_"):
                continue
            params[key] = value.total_seconds() if isinstance(value, timedelta) else value
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`get_params` (used by :meth:`load` and the evaluation runner)."""
        import inspect

        signature = inspect.signature(cls.__init__)
        kwargs: dict[str, Any] = {}
        for key, value in params.items():
            if key not in signature.parameters:
                raise InvalidParameterError(f"{cls.__name__} has no parameter {key!r}.")
            annotation = str(signature.parameters[key].annotation)
            if "timedelta" in annotation and isinstance(value, int | float):
                value = timedelta(seconds=value)
            kwargs[key] = value
        return cls(**kwargs)

    def _validate_params(self) -> None:
        owner = type(self).__name__
        validate_kernel(self.kernel, owner=owner)
        self.half_life_seconds_ = duration_seconds(self.half_life, name="half_life", owner=owner)
        self.weights_ = EventWeights.from_mapping(self.event_weights)

    # ------------------------------------------------------------------ fitting
    def fit(self, events: EventLog) -> Self:
        """Learn from a whole log, forgetting any earlier fit. Returns ``self``."""
        self._validate_params()
        if events.n_events == 0:
            raise DataValidationError(f"{type(self).__name__}.fit got an empty event log.")
        self.events_ = events.compact()
        self._refresh()
        return self

    def partial_fit(self, events: EventLog) -> Self:
        """Add events (new users and items welcome) without forgetting; exact for these models."""
        if not hasattr(self, "events_"):
            return self.fit(events)
        if events.n_events == 0:
            return self
        self.events_ = self.events_.concat(events.compact())
        self._refresh()
        return self

    def _refresh(self) -> None:
        log = self.events_
        self.columns_ = _Columns(
            user=log.user_index,
            item=log.item_index,
            category=log.category_index,
            seconds=log.timestamp_seconds,
            event_type=log.event_type,
        )
        self.item_category_ = log.item_categories()
        n_users, n_items = len(log.users), len(log.items)
        ones = np.ones(log.n_events)
        self.seen_ = sum_by_key(
            self.columns_.user, self.columns_.item, ones, shape=(n_users, n_items)
        )
        bought = self.columns_.event_type == EventType.PURCHASE
        self.purchased_ = sum_by_key(
            self.columns_.user[bought],
            self.columns_.item[bought],
            ones[bought],
            shape=(n_users, n_items),
        )
        self.rebuy_categories_ = self._rebuy_categories()
        self._fit_state()

    def _rebuy_categories(self) -> sp.csr_matrix:
        """(user, category) pairs where the user bought in the category more than once."""
        log = self.events_
        bought = (self.columns_.event_type == EventType.PURCHASE) & (self.columns_.category >= 0)
        counts = sum_by_key(
            self.columns_.user[bought],
            self.columns_.category[bought],
            np.ones(int(bought.sum())),
            shape=(len(log.users), max(len(log.categories), 1)),
        )
        counts.data = (counts.data >= 2).astype(np.float64)
        counts.eliminate_zeros()
        return counts

    @abstractmethod
    def _fit_state(self) -> None:
        """Derive learned state from ``self.events_`` / ``self.columns_``."""

    @abstractmethod
    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        """Scores ``(len(user_index), n_items)`` for known users at per-user instants ``at``."""

    @abstractmethod
    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        """Explanation for a known user and a known item."""

    # ------------------------------------------------------------------ helpers for subclasses
    def _check_fitted(self) -> None:
        if not hasattr(self, "events_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(events) or load(path)."
            )

    def _decayed(self, rows: np.ndarray | None, at: FloatArray | float) -> FloatArray:
        """w_type · k(at − t) for training events (all, or the given rows); 0 after ``at``."""
        log = self.events_ if rows is None else self.events_.take(rows)
        return event_decay_weights(
            log,
            at=at,
            kernel=self.kernel,
            half_life_seconds=self.half_life_seconds_,
            weights=self.weights_,
        )

    def popularity(self, at: float) -> FloatArray:
        """Decayed popularity of every item at ``at`` (events after ``at`` do not count)."""
        self._check_fitted()
        values = self._decayed(None, at)
        return np.bincount(self.columns_.item, weights=values, minlength=len(self.events_.items))

    @property
    def n_items(self) -> int:
        """Size of the model's catalogue (items seen in training)."""
        self._check_fitted()
        return len(self.events_.items)

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

        Parameters
        ----------
        threshold
            Keep only items whose score, divided by the user's best score, is ≥ θ (θ in [0, 1]).
        exclude
            ``purchased`` (default): drop bought items except in categories the user re-buys;
            ``seen``: drop every item the user interacted with; ``none``: allow repeats.
        categories
            Only recommend items of these raw category ids.
        """
        self._check_fitted()
        if n < 1:
            raise InvalidParameterError(f"The 'n' parameter must be >= 1. Got {n!r} instead.")
        if threshold is not None and not 0.0 <= threshold <= 1.0:
            raise InvalidParameterError(
                f"The 'threshold' parameter must be in [0, 1]. Got {threshold!r} instead."
            )
        if exclude not in ("purchased", "seen", "none"):
            raise InvalidParameterError(
                f"The 'exclude' parameter must be 'purchased', 'seen' or 'none'. "
                f"Got {exclude!r} instead."
            )
        raw = [str(u) for u in user_ids]
        at_seconds = instant_seconds(at, n=len(raw))
        users = self.events_.users.indices(raw) if raw else np.empty(0, dtype=np.int32)
        allowed = self._category_mask(categories)
        n_out = min(n, self.n_items)
        item_index = np.full((len(raw), n_out), -1, dtype=np.int32)
        scores = np.full((len(raw), n_out), np.nan)
        for start in range(0, len(raw), _USER_BATCH):
            stop = min(start + _USER_BATCH, len(raw))
            batch_scores = self._batch_scores(users[start:stop], at_seconds[start:stop])
            self._apply_exclusions(batch_scores, users[start:stop], exclude)
            if allowed is not None:
                batch_scores[:, ~allowed] = -np.inf
            top, top_scores = _top_n(batch_scores, n_out, threshold)
            item_index[start:stop] = top
            scores[start:stop] = top_scores
        return Recommendations(raw, item_index, scores, users < 0, self.events_.items)

    def _batch_scores(self, users: IndexArray, at: FloatArray) -> FloatArray:
        known = users >= 0
        out = np.empty((len(users), self.n_items))
        if known.any():
            out[known] = self._score_known(users[known], at[known])
        if not known.all():
            for instant in np.unique(at[~known]):
                rows = (~known) & (at == instant)
                out[rows] = self.popularity(float(instant))
        return out

    def _apply_exclusions(self, scores: FloatArray, users: IndexArray, exclude: str) -> None:
        known = np.flatnonzero(users >= 0)
        if exclude == "none" or known.size == 0:
            return
        source = self.seen_ if exclude == "seen" else self.purchased_
        sub = source[users[known]].tocoo()
        if exclude == "purchased" and sub.nnz:
            cats = self.item_category_[sub.col]
            rebuy = self.rebuy_categories_[users[known][sub.row], np.maximum(cats, 0)]
            keep_excluding = ~((np.asarray(rebuy).ravel() > 0) & (cats >= 0))
            sub = sp.coo_matrix(
                (sub.data[keep_excluding], (sub.row[keep_excluding], sub.col[keep_excluding])),
                shape=sub.shape,
            )
        scores[known[sub.row], sub.col] = -np.inf

    def _category_mask(self, categories: Sequence[str] | None) -> np.ndarray | None:
        if categories is None:
            return None
        wanted = self.events_.categories.indices([str(c) for c in categories])
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

        The default ranks a category by its best item's score; models with a direct category
        interest (``DecayedProfile``) override it.
        """
        self._check_fitted()
        raw = [str(u) for u in user_ids]
        at_seconds = instant_seconds(at, n=len(raw))
        users = self.events_.users.indices(raw) if raw else np.empty(0, dtype=np.int32)
        n_cats = len(self.events_.categories)
        out = np.full((len(raw), min(n, max(n_cats, 1))), -1, dtype=np.int32)
        if n_cats == 0:
            return out, self.events_.categories
        has_cat = self.item_category_ >= 0
        for start in range(0, len(raw), _USER_BATCH):
            stop = min(start + _USER_BATCH, len(raw))
            scores = self._batch_scores(users[start:stop], at_seconds[start:stop])
            self._apply_exclusions(scores, users[start:stop], exclude)
            cat_scores = np.full((stop - start, n_cats), -np.inf)
            rows = np.arange(stop - start)[:, None]
            np.maximum.at(
                cat_scores,
                (
                    np.broadcast_to(rows, (stop - start, int(has_cat.sum()))),
                    np.broadcast_to(
                        self.item_category_[has_cat], (stop - start, int(has_cat.sum()))
                    ),
                ),
                scores[:, has_cat],
            )
            out[start:stop] = _top_n(cat_scores, out.shape[1], None)[0]
        return out, self.events_.categories

    # ------------------------------------------------------------------ explaining
    def explain(self, user_id: UserId, item_id: Any, *, at: datetime | Any) -> Explanation:
        """Why ``item_id`` is scored as it is for ``user_id`` at ``at`` (largest causes first)."""
        self._check_fitted()
        at_seconds = float(instant_seconds(at)[0])
        item = self.events_.items.index(item_id)
        if item is None:
            from decayrec.errors import UnknownIdError

            raise UnknownIdError(f"Item {item_id!r} is not in the model's catalogue.")
        user = self.events_.users.index(user_id)
        if user is None:
            score = float(self.popularity(at_seconds)[item])
            cat = int(self.item_category_[item])
            return Explanation(
                user_id=str(user_id),
                item_id=str(item_id),
                at=from_seconds(at_seconds),
                score=score,
                fallback=True,
                category_id=self.events_.categories.raw([cat])[0] if cat >= 0 else None,
                category_interest=None,
                half_life=self._half_life_delta(),
                components={"item_popularity": score},
                events=[],
            )
        return self._explain_known(user, item, at_seconds)

    def _half_life_delta(self) -> timedelta | None:
        hl = self.half_life_seconds_
        return None if np.isinf(hl) else timedelta(seconds=hl)

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray]:
        """Learned arrays to save beside the events; default: none (state is re-derived)."""
        return {}

    def _load_state(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Restore what :meth:`_state_arrays` saved; default: re-derive from the events."""
        self._refresh()

    def save(self, path: StrPath) -> None:
        """Write ``manifest.json`` and ``arrays.npz`` into the folder ``path`` (no pickle)."""
        self._check_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        log = self.events_
        arrays: dict[str, np.ndarray] = {
            "events.user_index": log.user_index,
            "events.item_index": log.item_index,
            "events.category_index": log.category_index,
            "events.timestamp_us": log.frame["timestamp"].dt.epoch("us").to_numpy(),
            "events.event_type": log.event_type,
            "vocab.users": log.users.ids.to_numpy().astype(str),
            "vocab.items": log.items.ids.to_numpy().astype(str),
            "vocab.categories": log.categories.ids.to_numpy().astype(str),
        }
        for key, value in self._state_arrays().items():
            arrays[f"state.{key}"] = value
        manifest = {
            "format_version": FORMAT_VERSION,
            "decayrec_version": __version__,
            "class": type(self).__name__,
            "name": self.name,
            "params": self.get_params(),
            "n_events": log.n_events,
        }
        np.savez_compressed(folder / "arrays.npz", **arrays)  # type: ignore[arg-type]
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
    """Load any saved decayrec model from its folder (class read from the manifest)."""
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
    if model_cls is None:
        raise DataValidationError(f"{manifest_path}: unknown model class {class_name!r}.")
    model = model_cls.from_params(manifest["params"])
    model._validate_params()
    with np.load(folder / "arrays.npz", allow_pickle=False) as npz:
        arrays = {key: npz[key] for key in npz.files}
    frame = pl.DataFrame(
        {
            "user_index": arrays["events.user_index"],
            "item_index": arrays["events.item_index"],
            "category_index": arrays["events.category_index"],
            "timestamp": pl.Series(arrays["events.timestamp_us"])
            .cast(pl.Datetime("us"))
            .dt.replace_time_zone("UTC"),
            "event_type": arrays["events.event_type"],
            "value": pl.Series([None] * len(arrays["events.user_index"]), dtype=pl.Float64),
            "session_id": pl.Series([None] * len(arrays["events.user_index"]), dtype=pl.String),
            "event_id": pl.Series([None] * len(arrays["events.user_index"]), dtype=pl.String),
        }
    )

    def vocab(key: str) -> Vocabulary:
        return Vocabulary(pl.Series("id", arrays[key].tolist(), dtype=pl.String))

    model.events_ = EventLog(
        frame, vocab("vocab.users"), vocab("vocab.items"), vocab("vocab.categories")
    )
    state = {k.removeprefix("state."): v for k, v in arrays.items() if k.startswith("state.")}
    model._load_state(state)
    return model


def _top_n(scores: FloatArray, n: int, threshold: float | None) -> tuple[IndexArray, FloatArray]:
    """Indices and scores of the ``n`` best finite entries per row (ties: lower index first)."""
    n_rows, n_cols = scores.shape
    n = min(n, n_cols)
    if n_cols > n:
        part = np.argpartition(-scores, n - 1, axis=1)[:, :n]
    else:
        part = np.broadcast_to(np.arange(n_cols), (n_rows, n_cols)).copy()
    part_scores = np.take_along_axis(scores, part, axis=1)
    order = np.lexsort((part, -part_scores), axis=1)
    top = np.take_along_axis(part, order, axis=1).astype(np.int32)
    top_scores = np.take_along_axis(part_scores, order, axis=1)
    invalid = ~np.isfinite(top_scores)
    if threshold is not None:
        best = top_scores[:, :1]
        with np.errstate(divide="ignore", invalid="ignore"):
            relative = np.where(best > 0, top_scores / best, 0.0)
        invalid |= relative < threshold
    top[invalid] = -1
    top_scores = np.where(invalid, np.nan, top_scores)
    return top, top_scores
