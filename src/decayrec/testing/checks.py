"""The estimator contract: checks every decayrec recommender must pass.

Why a reusable suite: the evaluation runner, the service and the CLI rely on the same promises
from every model (batch equals single, honest time, exact save/load and ``partial_fit``,
flagged fallbacks...). Writing them once and running them on every estimator keeps new models
honest, as river's ``check_estimator`` and implicit's ``RecommenderBaseTestMixin`` do.

Use it from a test with any log of a few hundred events (categories, purchases and repeat
purchases make more checks bite)::

    from decayrec.testing.checks import ESTIMATOR_CHECKS, check_estimator

    check_estimator(DecayedProfile, events)            # all checks, stop at the first failure

    @pytest.mark.parametrize("check", ESTIMATOR_CHECKS, ids=lambda c: c.__name__)
    def test_contract(check, events):                  # one test per check
        check(DecayedProfile, events)

``model_factory`` is called with keyword overrides (``model_factory(kernel="bogus")``), so a
class or a ``functools.partial`` of one both work. A failing check raises ``AssertionError``
naming the check and what differed.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np
import polars as pl

from decayrec.data.schema import EventLog, EventType
from decayrec.decay.kernels import decay_weights
from decayrec.errors import InvalidParameterError, NotFittedError, UnknownIdError
from decayrec.models.base import ExcludePolicy, Recommender, load_model
from decayrec.models.results import Recommendations
from decayrec.types import FloatArray

__all__ = [
    "ESTIMATOR_CHECKS",
    "INVALID_PARAMETERS",
    "ModelFactory",
    "check_batch_equals_single",
    "check_categories_filter",
    "check_estimator",
    "check_exclude_policies",
    "check_explain",
    "check_fit_returns_self",
    "check_future_events_ignored",
    "check_inputs_not_mutated",
    "check_invalid_parameters",
    "check_n_larger_than_catalogue",
    "check_not_fitted",
    "check_params_round_trip",
    "check_partial_fit_exact",
    "check_rank_categories",
    "check_save_load",
    "check_threshold",
    "check_unknown_users_fallback",
]

ModelFactory = Callable[..., Recommender]

#: A value each known parameter must reject with :class:`InvalidParameterError` naming it.
INVALID_PARAMETERS: Mapping[str, Any] = {
    "kernel": "gaussian",
    "half_life": timedelta(days=-1),
    "event_weights": {"purchase": -1.0},
    "popularity_half_life": timedelta(0),
    "category_half_lives": {"c0": timedelta(hours=-2)},
    "repeat_weight": -0.5,
    "similarity": "euclid",
    "cooccurrence_by": "basket",
    "max_neighbours": 0,
    "min_cooccurrence": 0,
    "self_weight": float("nan"),
}

_POLICIES: tuple[ExcludePolicy, ...] = ("purchased", "seen", "none")
_RTOL = 1e-9
_ATOL = 1e-12
_UNKNOWN_USER = "__decayrec-unknown-user__"


# ---------------------------------------------------------------------- probes
class _Probe:
    """Users and instants the checks ask about, derived from the log alone."""

    def __init__(self, events: EventLog, n_users: int = 6) -> None:
        frame = events.to_frame().with_columns(
            seconds=pl.col("timestamp").dt.epoch("us").cast(pl.Float64) / 1e6
        )
        stats = (
            frame.group_by("user_id", maintain_order=True)
            .agg(
                n=pl.len(),
                median=pl.col("seconds").median(),
                first=pl.col("seconds").min(),
            )
            .sort(["n", "user_id"], descending=[True, False])
            .head(n_users)
        )
        self.frame = frame
        self.users: list[str] = stats["user_id"].to_list()
        self.median: FloatArray = stats["median"].to_numpy().astype(np.float64)
        self.first: FloatArray = stats["first"].to_numpy().astype(np.float64)
        seconds = frame["seconds"].to_numpy()
        self.end = float(seconds.max()) + 3600.0
        self.middle = float(np.median(seconds))
        self.instants: list[float | FloatArray] = [self.end, self.median]


def _fit(model_factory: ModelFactory, events: EventLog, **params: Any) -> Recommender:
    return model_factory(**params).fit(events)


def _scores_by_item(
    model: Recommender, users: Sequence[str], at: float | FloatArray, **kwargs: Any
) -> list[dict[str, float]]:
    recs = model.recommend(users, at=at, n=model.n_items, exclude="none", **kwargs)
    return [dict(recs.for_user(user)) for user in users]


def _assert_same_scores(
    left: list[dict[str, float]], right: list[dict[str, float]], what: str
) -> None:
    for row, (a, b) in enumerate(zip(left, right, strict=True)):
        if a.keys() != b.keys():
            raise AssertionError(f"{what}: row {row} scores different items.")
        items = sorted(a)
        np.testing.assert_allclose(
            [a[i] for i in items],
            [b[i] for i in items],
            rtol=_RTOL,
            atol=_ATOL,
            err_msg=f"{what}: row {row}",
        )


def _assert_same_recs(left: Recommendations, right: Recommendations, what: str) -> None:
    np.testing.assert_array_equal(left.item_index, right.item_index, err_msg=f"{what}: items")
    np.testing.assert_array_equal(left.scores, right.scores, err_msg=f"{what}: scores")
    np.testing.assert_array_equal(left.fallback, right.fallback, err_msg=f"{what}: fallback")
    if left.items.ids.to_list() != right.items.ids.to_list():
        raise AssertionError(f"{what}: the item vocabularies differ.")


def _expect_raises(
    error: type[BaseException], call: Callable[[], object], what: str, *, mentions: str = ""
) -> None:
    try:
        call()
    except error as raised:
        if mentions and mentions not in str(raised):
            raise AssertionError(
                f"{what}: the {error.__name__} does not name {mentions!r}: {raised}"
            ) from raised
        return
    raise AssertionError(f"{what}: expected {error.__name__}, nothing was raised.")


def _split_by_time(events: EventLog) -> tuple[EventLog, EventLog]:
    seconds = events.timestamp_seconds
    cut = float(np.median(seconds))
    return events.filter(seconds <= cut), events.filter(seconds > cut)


# ---------------------------------------------------------------------- the checks
def check_fit_returns_self(model_factory: ModelFactory, events: EventLog) -> None:
    """``fit`` and ``partial_fit`` return the estimator itself (for chaining)."""
    model = model_factory()
    if model.fit(events) is not model:
        raise AssertionError("fit did not return self.")
    _, later = _split_by_time(events)
    if model.partial_fit(later) is not model:
        raise AssertionError("partial_fit did not return self.")
    fresh = model_factory()
    if fresh.partial_fit(events) is not fresh:
        raise AssertionError("partial_fit on an unfitted model did not return self.")


def check_not_fitted(model_factory: ModelFactory, events: EventLog) -> None:
    """Using a model before ``fit`` raises :class:`NotFittedError` (not an AttributeError)."""
    model = model_factory()
    probe = _Probe(events)
    item = events.items.raw([0])[0]
    calls: dict[str, Callable[[], object]] = {
        "recommend": lambda: model.recommend(probe.users, at=probe.end),
        "rank_categories": lambda: model.rank_categories(probe.users, at=probe.end),
        "explain": lambda: model.explain(probe.users[0], item, at=probe.end),
        "popularity": lambda: model.popularity(probe.end),
    }
    for name, call in calls.items():
        _expect_raises(NotFittedError, call, f"{name} before fit")
    with tempfile.TemporaryDirectory() as folder:
        _expect_raises(NotFittedError, lambda: model.save(folder), "save before fit")


def check_batch_equals_single(model_factory: ModelFactory, events: EventLog) -> None:
    """Each row of a batch equals the single-user call (one instant, and one per user)."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    users = [*probe.users, _UNKNOWN_USER]
    for at in (probe.end, np.append(probe.median, probe.end)):
        at_arr = np.broadcast_to(np.asarray(at, dtype=np.float64), (len(users),))
        for exclude in _POLICIES:
            batch = model.recommend(users, at=at, n=7, exclude=exclude)
            for row, user in enumerate(users):
                single = model.recommend([user], at=float(at_arr[row]), n=7, exclude=exclude)
                what = f"user {user!r} at {at_arr[row]} (exclude={exclude})"
                np.testing.assert_array_equal(
                    batch.item_index[row], single.item_index[0], err_msg=f"{what}: items"
                )
                np.testing.assert_array_equal(
                    batch.scores[row], single.scores[0], err_msg=f"{what}: scores"
                )
                if batch.fallback[row] != single.fallback[0]:
                    raise AssertionError(f"{what}: fallback flag differs.")


def check_save_load(model_factory: ModelFactory, events: EventLog) -> None:
    """Save then load keeps parameters, recommendations, scores and later ``partial_fit``."""
    early, later = _split_by_time(events)
    model = _fit(model_factory, early)
    probe = _Probe(events)
    with tempfile.TemporaryDirectory() as folder:
        model.save(folder)
        loaded = load_model(folder)
        typed = type(model).load(folder)
    for copy in (loaded, typed):
        if type(copy) is not type(model):
            raise AssertionError(f"load gave a {type(copy).__name__}, not {type(model).__name__}.")
        if copy.get_params() != model.get_params():
            raise AssertionError("load changed the parameters.")
    for at in probe.instants:
        for exclude in _POLICIES:
            _assert_same_recs(
                model.recommend(probe.users, at=at, n=10, exclude=exclude),
                loaded.recommend(probe.users, at=at, n=10, exclude=exclude),
                f"save/load (exclude={exclude})",
            )
    model.partial_fit(later)
    loaded.partial_fit(later)
    _assert_same_recs(
        model.recommend(probe.users, at=probe.end, n=10),
        loaded.recommend(probe.users, at=probe.end, n=10),
        "partial_fit after save/load",
    )


def check_inputs_not_mutated(model_factory: ModelFactory, events: EventLog) -> None:
    """Fitting, recommending and explaining leave the caller's log, ids and instants alone."""
    frame = events.frame.clone()
    vocabularies = [v.ids.to_list() for v in (events.users, events.items, events.categories)]
    probe = _Probe(events)
    users = list(probe.users)
    at = probe.median.copy()
    model = _fit(model_factory, events)
    _, later = _split_by_time(events)
    later_frame = later.frame.clone()
    model.partial_fit(later)
    recs = model.recommend(users, at=at, n=5)
    model.rank_categories(users, at=at, n=3)
    model.explain(users[0], recs.item_ids(0)[0], at=float(at[0]))
    if not events.frame.equals(frame):
        raise AssertionError("The events frame changed.")
    if not later.frame.equals(later_frame):
        raise AssertionError("partial_fit changed its events frame.")
    now = [v.ids.to_list() for v in (events.users, events.items, events.categories)]
    if now != vocabularies:
        raise AssertionError("A vocabulary of the events changed.")
    if users != probe.users or not np.array_equal(at, probe.median):
        raise AssertionError("recommend changed its user_ids or at arguments.")


def check_unknown_users_fallback(model_factory: ModelFactory, events: EventLog) -> None:
    """Unknown users, and users with no event by their ``at``, get flagged popularity."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    user = probe.users[0]
    early = probe.first[0] - 1.0
    recs = model.recommend(
        [_UNKNOWN_USER, user, user], at=np.array([probe.end, probe.end, early]), n=5
    )
    if recs.fallback.tolist() != [True, False, True]:
        raise AssertionError(
            "fallback should flag the unknown user and the user asked about before their first "
            f"event, not the known one; got {recs.fallback.tolist()}."
        )
    for row, at in ((0, probe.end), (2, early), (1, probe.middle)):
        popularity = model.popularity(at)
        np.testing.assert_allclose(
            popularity,
            _reference_popularity(model, events, at),
            rtol=1e-9,
            atol=1e-12,
            err_msg=f"popularity({at}) differs from Σ w_type · k(at − t) over events up to at",
        )
        if row == 1:
            continue
        expected = np.sort(popularity)[::-1][:5]
        got = recs.scores[row]
        np.testing.assert_allclose(
            got[~np.isnan(got)],
            expected[: int((~np.isnan(got)).sum())],
            rtol=_RTOL,
            atol=_ATOL,
            err_msg=f"fallback row {row} is not decayed popularity",
        )
        who = _UNKNOWN_USER if row == 0 else user
        explanation = model.explain(who, recs.item_ids(row)[0], at=at)
        if not explanation.fallback:
            raise AssertionError(f"explain for fallback row {row} is not flagged as a fallback.")


def _reference_popularity(model: Recommender, events: EventLog, at: float) -> FloatArray:
    """Σ w_type · k(at − t) per model item, straight from the log (no shortcuts)."""
    seconds = events.timestamp_seconds
    past = seconds <= at
    weights = model.weights_.as_array()[events.event_type[past]] * decay_weights(
        at - seconds[past], model._popularity_half_life_seconds(), model.kernel
    )
    raw_items = events.items.ids.gather(pl.Series(events.item_index[past]))
    model_items = model.events_.items.indices(raw_items)
    sums = np.bincount(model_items, weights=weights, minlength=model.n_items)
    return sums.astype(np.float64, copy=False)


def check_n_larger_than_catalogue(model_factory: ModelFactory, events: EventLog) -> None:
    """``n`` beyond the catalogue returns each item at most once, and all of them if allowed."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    recs = model.recommend(
        [*probe.users, _UNKNOWN_USER], at=probe.end, n=model.n_items + 7, exclude="none"
    )
    if recs.item_index.shape[1] != model.n_items:
        raise AssertionError(
            f"width {recs.item_index.shape[1]} for n > catalogue; expected {model.n_items}."
        )
    for row in range(len(recs)):
        items = recs.item_index[row]
        if sorted(items.tolist()) != list(range(model.n_items)):
            raise AssertionError(f"row {row} does not list every item exactly once.")
        scores = recs.scores[row]
        if not np.all(np.isfinite(scores)) or np.any(np.diff(scores) > 0):
            raise AssertionError(f"row {row} scores are not finite and non-increasing.")


def check_threshold(model_factory: ModelFactory, events: EventLog) -> None:
    """With θ, every returned score / the row's best is ≥ θ, and nothing ≥ θ is dropped."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    full = model.recommend(probe.users, at=probe.median, n=model.n_items, exclude="none")
    for theta in (0.0, 0.3, 0.8, 1.0):
        recs = model.recommend(
            probe.users, at=probe.median, n=model.n_items, threshold=theta, exclude="none"
        )
        for row in range(len(recs)):
            kept = recs.item_index[row] >= 0
            scores = recs.scores[row][kept]
            best = full.scores[row][0]
            relative = scores / best if best > 0 else np.zeros_like(scores)
            if np.any(relative < theta):
                raise AssertionError(f"θ={theta}: row {row} keeps a score below θ x best.")
            full_relative = full.scores[row] / best if best > 0 else np.zeros(model.n_items)
            expected = int((full_relative >= theta).sum())
            if kept.sum() != expected or not np.array_equal(
                recs.item_index[row][kept], full.item_index[row][:expected]
            ):
                raise AssertionError(
                    f"θ={theta}: row {row} is not the prefix of the full list scoring ≥ θ x best."
                )
            if np.any(recs.item_index[row][kept.sum() :] != -1):
                raise AssertionError(f"θ={theta}: row {row} is not padded with -1 at the end.")
    _expect_raises(
        InvalidParameterError,
        lambda: model.recommend(probe.users, at=probe.end, threshold=1.5),
        "threshold=1.5",
        mentions="threshold",
    )


def _reference_exclusions(
    events: EventLog, probe: _Probe, at: FloatArray
) -> tuple[list[set[str]], list[set[str]]]:
    """(seen, purchased-but-not-re-bought) raw items per probe user, from the log alone."""
    item_category = dict(
        zip(
            events.items.raw(np.arange(len(events.items))),
            [
                events.categories.raw([c])[0] if c >= 0 else None
                for c in events.item_categories().tolist()
            ],
            strict=True,
        )
    )
    seen_sets: list[set[str]] = []
    purchased_sets: list[set[str]] = []
    frame = probe.frame
    purchase = EventType.PURCHASE.label
    for user, instant in zip(probe.users, at.tolist(), strict=True):
        mine = frame.filter((pl.col("user_id") == user) & (pl.col("seconds") <= instant))
        seen_sets.append(set(mine["item_id"].to_list()))
        bought = mine.filter(pl.col("event_type") == purchase)["item_id"].to_list()
        per_category: dict[str, int] = {}
        for item in bought:
            category = item_category[item]
            if category is not None:
                per_category[category] = per_category.get(category, 0) + 1
        kept: set[str] = set()
        for item in bought:
            category = item_category[item]
            if category is None or per_category[category] < 2:
                kept.add(item)
        purchased_sets.append(kept)
    return seen_sets, purchased_sets


def check_exclude_policies(model_factory: ModelFactory, events: EventLog) -> None:
    """``seen``, ``purchased`` (except re-buy categories) and ``none``, at each user's ``at``."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    catalogue = set(model.events_.items.ids.to_list())
    for at in probe.instants:
        at_arr = np.broadcast_to(np.asarray(at, dtype=np.float64), (len(probe.users),))
        seen, purchased = _reference_exclusions(events, probe, at_arr)
        expectations: dict[ExcludePolicy, list[set[str]]] = {
            "seen": seen,
            "purchased": purchased,
            "none": [set() for _ in seen],
        }
        for policy, expected in expectations.items():
            recs = model.recommend(probe.users, at=at, n=model.n_items, exclude=policy)
            for row, user in enumerate(probe.users):
                got = set(recs.item_ids(row))
                if got != catalogue - expected[row]:
                    raise AssertionError(
                        f"exclude={policy!r}, user {user!r} at {at_arr[row]}: "
                        f"wrongly excluded {sorted(catalogue - expected[row] - got)[:5]}, "
                        f"wrongly kept {sorted(got & expected[row])[:5]}."
                    )
    _expect_raises(
        InvalidParameterError,
        lambda: model.recommend(probe.users, at=probe.end, exclude="bought"),  # type: ignore[arg-type]
        "exclude='bought'",
        mentions="exclude",
    )


def check_categories_filter(model_factory: ModelFactory, events: EventLog) -> None:
    """``categories=`` keeps exactly the items of those categories (none for unknown ones)."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    if not len(model.events_.categories):
        return
    wanted = model.events_.categories.ids.to_list()[:2]
    item_category = model.item_category_
    allowed_index = np.flatnonzero(np.isin(item_category, [0, 1][: len(wanted)]))
    allowed = set(model.events_.items.raw(allowed_index))
    recs = model.recommend(
        probe.users, at=probe.median, n=model.n_items, exclude="none", categories=wanted
    )
    for row in range(len(recs)):
        if set(recs.item_ids(row)) != allowed:
            raise AssertionError(f"categories={wanted}: row {row} has other items.")
    none = model.recommend(probe.users, at=probe.end, categories=["__no-such-category__"])
    if np.any(none.item_index >= 0):
        raise AssertionError("An unknown category should leave the lists empty.")
    _expect_raises(
        InvalidParameterError,
        lambda: model.recommend(probe.users, at=probe.end, categories=wanted[0]),
        "categories given as one string",
        mentions="categories",
    )


def check_partial_fit_exact(model_factory: ModelFactory, events: EventLog) -> None:
    """``fit(a).partial_fit(b)`` scores like ``fit(a.concat(b))`` (new users and items too)."""
    early, later = _split_by_time(events)
    probe = _Probe(events)
    incremental = _fit(model_factory, early).partial_fit(later)
    batch = _fit(model_factory, early.concat(later))
    for at in probe.instants:
        _assert_same_scores(
            _scores_by_item(incremental, probe.users, at),
            _scores_by_item(batch, probe.users, at),
            "partial_fit vs fit",
        )
    thirds = np.array_split(np.arange(events.n_events), 3)
    stepwise = _fit(model_factory, events.take(thirds[0]))
    for rows in thirds[1:]:
        stepwise.partial_fit(events.take(rows))
    _assert_same_scores(
        _scores_by_item(stepwise, probe.users, probe.end),
        _scores_by_item(_fit(model_factory, events), probe.users, probe.end),
        "three partial_fit steps vs fit",
    )


def check_explain(model_factory: ModelFactory, events: EventLog) -> None:
    """``explain``: the score ``recommend`` gives, past events only, largest first."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    recs = model.recommend(probe.users, at=probe.median, n=4, exclude="none")
    for row, user in enumerate(probe.users):
        at = float(probe.median[row])
        for item, score in recs.for_user(user):
            explanation = model.explain(user, item, at=at)
            what = f"explain({user!r}, {item!r})"
            if explanation.item_id != item or explanation.user_id != user:
                raise AssertionError(f"{what} names another user or item.")
            if explanation.fallback != bool(recs.fallback[row]):
                raise AssertionError(f"{what}: fallback flag differs from recommend's.")
            if not math.isclose(explanation.score, score, rel_tol=1e-9, abs_tol=1e-12):
                raise AssertionError(f"{what}: score {explanation.score} != recommend's {score}.")
            contributions = [e.contribution for e in explanation.events]
            if any(b > a for a, b in itertools.pairwise(contributions)):
                raise AssertionError(f"{what}: events are not sorted by contribution, desc.")
            for event in explanation.events:
                if event.age < timedelta(0) or event.timestamp.timestamp() > at + 1e-6:
                    raise AssertionError(f"{what}: lists an event after 'at'.")
                if not 0.0 <= event.decay <= 1.0:
                    raise AssertionError(f"{what}: decay {event.decay} outside [0, 1].")
    _expect_raises(
        UnknownIdError,
        lambda: model.explain(probe.users[0], "__no-such-item__", at=probe.end),
        "explain of an unknown item",
    )


def check_invalid_parameters(
    model_factory: ModelFactory,
    events: EventLog,
    *,
    invalid_params: Mapping[str, Any] | None = None,
) -> None:
    """Each bad parameter raises :class:`InvalidParameterError` naming it (at ``fit``)."""
    bad_values = {**INVALID_PARAMETERS, **(invalid_params or {})}
    accepted = set(model_factory().get_params())
    tried = 0
    for name, value in bad_values.items():
        if name not in accepted:
            continue
        tried += 1
        _expect_raises(
            InvalidParameterError,
            partial(_fit, model_factory, events, **{name: value}),
            f"{name}={value!r}",
            mentions=f"'{name}'",
        )
    if not tried:
        raise AssertionError("No parameter of the model has a known invalid value to try.")
    model = _fit(model_factory, events)
    probe = _Probe(events)
    for name, call in {
        "n": lambda: model.recommend(probe.users, at=probe.end, n=0),
        "user_ids": lambda: model.recommend(probe.users[0], at=probe.end),
        "at": lambda: model.recommend(probe.users, at=np.zeros(len(probe.users) + 1)),
    }.items():
        _expect_raises(InvalidParameterError, call, f"recommend with a bad {name}", mentions=name)
    _expect_raises(
        InvalidParameterError,
        lambda: type(model).from_params({"no_such_parameter": 1}),
        "from_params with an unknown parameter",
        mentions="no_such_parameter",
    )


def check_future_events_ignored(model_factory: ModelFactory, events: EventLog) -> None:
    """Events after a user's ``at`` change nothing for that request (honest leave-last-out).

    The user's own past events are repeated a minute after ``at`` (same items, sessions,
    categories and types, same spacing), so state that is legitimately learned from the whole
    log, such as co-occurrence, stays the same, while decayed interest, popularity and the
    exclusions would change if they peeked into the future.
    """
    probe = _Probe(events)
    user, at = probe.users[0], float(probe.median[0])
    user_index = events.users.index(user)
    seconds = events.timestamp_seconds
    latest = events.item_categories()[events.item_index]
    rows = np.flatnonzero(
        (events.user_index == user_index) & (seconds <= at) & (events.category_index == latest)
    )
    if not rows.size:
        raise AssertionError(f"The log gives user {user!r} no past event to repeat.")
    shift = at - float(seconds[rows].min()) + 60.0  # just after 'at': peeking shows at once
    frame = events.frame[rows].with_columns(
        pl.col("timestamp") + pl.duration(microseconds=int(shift * 1e6))
    )
    future = EventLog(frame, events.users, events.items, events.categories)
    model = _fit(model_factory, events)
    peeking = _fit(model_factory, events.concat(future))
    _assert_same_scores(
        _scores_by_item(model, [user], np.array([at])),
        _scores_by_item(peeking, [user], np.array([at])),
        "future events",
    )
    for exclude in _POLICIES:
        left = model.recommend([user], at=at, n=model.n_items, exclude=exclude)
        right = peeking.recommend([user], at=at, n=model.n_items, exclude=exclude)
        if set(left.item_ids(0)) != set(right.item_ids(0)):
            raise AssertionError(f"future events change what exclude={exclude!r} drops.")


def check_rank_categories(model_factory: ModelFactory, events: EventLog) -> None:
    """Category rankings: right shape, valid distinct indices, batch equals single."""
    model = _fit(model_factory, events)
    probe = _Probe(events)
    users = [*probe.users, _UNKNOWN_USER]
    at = np.append(probe.median, probe.end)
    ranked, vocabulary = model.rank_categories(users, at=at, n=3)
    n_cats = len(vocabulary)
    if ranked.shape != (len(users), min(3, max(n_cats, 1))):
        raise AssertionError(f"rank_categories has shape {ranked.shape}.")
    for row, user in enumerate(users):
        valid = ranked[row][ranked[row] >= 0]
        if np.any(valid >= n_cats) or len(set(valid.tolist())) != valid.size:
            raise AssertionError(f"rank_categories row {row} has invalid or repeated indices.")
        single, _ = model.rank_categories([user], at=float(at[row]), n=3)
        np.testing.assert_array_equal(ranked[row], single[0], err_msg=f"rank_categories {user}")


def check_params_round_trip(model_factory: ModelFactory, events: EventLog) -> None:
    """``from_params(get_params())`` and ``clone()`` rebuild the same, unfitted model."""
    import json

    model = _fit(model_factory, events)
    params = model.get_params()
    json.dumps(params)  # JSON-ready
    rebuilt = type(model).from_params(params)
    if rebuilt.get_params() != params:
        raise AssertionError("from_params(get_params()) changed the parameters.")
    clone = model.clone()
    if clone.get_params() != params or hasattr(clone, "events_"):
        raise AssertionError("clone() should copy the parameters and nothing learned.")
    if not model.display_name.startswith(model.name):
        raise AssertionError("display_name should start with the model's name.")


#: Every check, in a sensible order (cheap ones first).
ESTIMATOR_CHECKS: tuple[Callable[[ModelFactory, EventLog], None], ...] = (
    check_fit_returns_self,
    check_not_fitted,
    check_params_round_trip,
    check_invalid_parameters,
    check_batch_equals_single,
    check_unknown_users_fallback,
    check_n_larger_than_catalogue,
    check_threshold,
    check_exclude_policies,
    check_categories_filter,
    check_rank_categories,
    check_inputs_not_mutated,
    check_future_events_ignored,
    check_explain,
    check_partial_fit_exact,
    check_save_load,
)


def check_estimator(
    model_factory: ModelFactory,
    events: EventLog,
    *,
    invalid_params: Mapping[str, Any] | None = None,
) -> None:
    """Run every check of :data:`ESTIMATOR_CHECKS`; raise on the first failure.

    Parameters
    ----------
    model_factory
        Builds an unfitted model from keyword overrides (a class, or a ``partial``).
    events
        A log with several users of a few events each; categories and purchases let the
        category and exclusion checks bite.
    invalid_params
        ``{parameter: bad value}`` for parameters :data:`INVALID_PARAMETERS` does not know.

    Raises
    ------
    AssertionError
        Naming the failed check and what differed.
    """
    for check in ESTIMATOR_CHECKS:
        try:
            if check is check_invalid_parameters:
                check_invalid_parameters(model_factory, events, invalid_params=invalid_params)
            else:
                check(model_factory, events)
        except AssertionError as failure:
            raise AssertionError(f"{check.__name__}: {failure}") from failure
