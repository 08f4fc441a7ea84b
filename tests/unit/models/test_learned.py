"""LearnedDecay: the estimator contract, exact probabilities, recovery of true half-lives."""

from __future__ import annotations

import dataclasses
import sys
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog, EventType
from decayrec.data.simulate import ShopConfig, SimulatedShop, simulate_shop
from decayrec.errors import DataValidationError, InvalidParameterError, MissingExtraError
from decayrec.models import LearnedDecay, load_model, make_model
from decayrec.models._params import to_json
from decayrec.testing import checks

pytest.importorskip("torch", reason="LearnedDecay trains with PyTorch (the 'torch' extra)")

FAST = partial(LearnedDecay, max_epochs=3, batch_size=64, session_gap=timedelta(hours=6))


@pytest.fixture(scope="module")
def shop() -> SimulatedShop:
    return simulate_shop(ShopConfig(n_users=400, n_items=150, n_categories=6, days=60, seed=5))


@pytest.fixture(scope="module")
def fitted(shop: SimulatedShop) -> LearnedDecay:
    return LearnedDecay(max_epochs=4).fit(shop.events)


#: Not for a trained model: partial_fit warm-starts (not exact), and repeating a user's events
#: after ``at`` is more training data, which moves the learned parameters. What the latter
#: protects (no event after ``at`` reaches a score) is tested on the history windows below.
_NOT_FOR_TRAINED = (checks.check_partial_fit_exact, checks.check_future_events_ignored)


@pytest.mark.parametrize(
    "check",
    [c for c in checks.ESTIMATOR_CHECKS if c not in _NOT_FOR_TRAINED],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize(
    "factory", [FAST, partial(FAST, half_life=None)], ids=["learned", "learned-no-decay"]
)
def test_contract(factory: checks.ModelFactory, check: object, events: EventLog) -> None:
    check(factory, events)  # type: ignore[operator]


def test_scores_are_next_event_probabilities(fitted: LearnedDecay, shop: SimulatedShop) -> None:
    """The closed-form normaliser is exact: each known user's scores sum to 1."""
    users = shop.events.users.raw(np.arange(20))
    at = shop.events.timestamp_seconds.max()
    recs = fitted.recommend(users, at=at, n=fitted.n_items, exclude="none")
    live = ~recs.fallback
    assert live.any()
    np.testing.assert_allclose(recs.scores[live].sum(axis=1), 1.0, rtol=1e-9)
    assert (recs.scores[live] > 0).all()


def test_scoring_reads_no_event_after_at(fitted: LearnedDecay) -> None:
    """The history window of a request holds the user's latest events at or before ``at``."""
    from decayrec.models._learned_history import request_windows

    grouped = fitted.user_events_
    users = np.arange(10, dtype=np.int32)
    firsts, lasts = grouped.indptr[users], grouped.indptr[users + 1] - 1
    at = (grouped.columns.seconds[firsts] + grouped.columns.seconds[lasts]) / 2
    window = request_windows(grouped, users, at, max_history=5, session_gap=1800.0)
    seconds = grouped.columns.seconds[window.positions]
    assert (np.where(window.valid, seconds, -np.inf) <= at[:, None]).all()
    for row, user in enumerate(users.tolist()):
        own = grouped.columns.seconds[grouped.indptr[user] : grouped.indptr[user + 1]]
        expected = np.flatnonzero(own <= at[row])[-5:] + grouped.indptr[user]
        np.testing.assert_array_equal(window.positions[row][window.valid[row]], expected)


@pytest.fixture(scope="module")
def fitted_reading_visits(shop: SimulatedShop) -> LearnedDecay:
    """A fit whose long-term part reads the visit under way too (``separate_visit=False``)."""
    return LearnedDecay(max_epochs=4, separate_visit=False).fit(shop.events)


@pytest.mark.parametrize("model_name", ["fitted", "fitted_reading_visits"])
def test_numpy_scores_match_the_training_likelihood(
    model_name: str, request: pytest.FixtureRequest
) -> None:
    """The torch twin and the NumPy scorer give the same P(target) for training targets."""
    import torch

    from decayrec.models._learned_tables import PairLookup
    from decayrec.models._learned_torch import _LearnedDecayModule, _make_batch

    model = request.getfixturevalue(model_name)
    assert model.parameters_.separate_visit is model.separate_visit
    data = model._training_data(model._build_tables())
    params = model.parameters_
    columns = model.user_events_.columns
    # Training reads its tables with each target's user left out; the formula is the same
    # with the tables scoring reads, which is what this test compares.
    data = dataclasses.replace(
        data,
        feature_mean=params.feature_mean,
        feature_scale=params.feature_scale,
        similarity=PairLookup(model.similarity_, model.similarity_row_sum_),
        within_share=model.within_category_share_[columns.item[data.predictions.position]],
    )
    module = _LearnedDecayModule(
        model.no_category_ + 1, len(data.feature_mean), _config(model), data.slot_share
    )
    module.load_parameters(params)
    predictions = data.predictions
    # Targets whose previous event is strictly earlier (no tie at the target's instant), some
    # opening a visit and some inside one.
    earlier = columns.seconds[predictions.position - 1] < predictions.seconds - 1e-3
    rows = np.flatnonzero(earlier)[:: max(1, int(earlier.sum()) // 60)][:60]
    assert predictions.opens_visit[rows].any() and (~predictions.opens_visit[rows]).any()
    expected = 0.0
    for row in rows.tolist():
        position = int(predictions.position[row])
        scores = model._score_known(
            np.array([columns.user[position]], dtype=np.int32),
            np.array([predictions.seconds[row] - 1e-3]),
        )[0]
        expected -= predictions.weight[row] * np.log(scores[columns.item[position]])
    batch = _make_batch(data, rows, data.similarity)
    with torch.no_grad():
        nll = float(module.negative_log_likelihood(batch))
    assert nll == pytest.approx(expected, rel=1e-4)


def _config(model: LearnedDecay) -> object:
    from decayrec.models._learned_torch import TrainingConfig

    return TrainingConfig(
        decays=True,
        repeats=True,
        recent_popularity=True,
        init_half_life_days=7.0,
        init_type_weight=model.weights_.as_array(),
        hidden_units=model.hidden_units,
        max_log_adjust=float(np.log(model.max_user_factor)),
        separate_visit=model.separate_visit,
        prior_scale=1.0,
        learning_rate=0.01,
        batch_size=64,
        max_epochs=1,
        patience=1,
        seed=0,
    )


def test_same_seed_same_model(shop: SimulatedShop) -> None:
    a = LearnedDecay(max_epochs=2, seed=3).fit(shop.events)
    b = LearnedDecay(max_epochs=2, seed=3).fit(shop.events)
    for key, value in a.parameters_.to_arrays("").items():
        np.testing.assert_array_equal(value, b.parameters_.to_arrays("")[key], err_msg=key)


def test_save_load_round_trips_exactly_without_torch(
    fitted: LearnedDecay, shop: SimulatedShop, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fitted.save(tmp_path / "model")
    monkeypatch.setitem(sys.modules, "torch", None)  # loading and scoring need no torch
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, LearnedDecay)
    users = shop.events.users.raw(np.arange(30))
    at = shop.events.timestamp_seconds.max()
    a = fitted.recommend(users, at=at, n=20)
    b = loaded.recommend(users, at=at, n=20)
    np.testing.assert_array_equal(a.item_index, b.item_index)
    np.testing.assert_array_equal(a.scores, b.scores)
    assert loaded.half_lives_.equals(fitted.half_lives_)
    assert loaded.training_ == fitted.training_
    with np.load(tmp_path / "model" / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[key].dtype != object for key in arrays.files)


def test_a_model_saved_before_visits_had_their_own_routing_loads(
    fitted: LearnedDecay, tmp_path: Path
) -> None:
    """Arrays without ``session_mixture`` (saved before it existed) route visits like the rest."""
    loaded = _saved_without(fitted, "session_mixture", tmp_path)
    np.testing.assert_array_equal(loaded.parameters_.session_mixture, fitted.parameters_.mixture)


def test_a_model_saved_before_separate_visits_reads_the_visit_in_the_long_term_part(
    fitted: LearnedDecay, tmp_path: Path
) -> None:
    """Fitted parameters without ``separate_visit`` were learned with the visit read by both
    parts, and are scored that way (whatever the constructor's default now says)."""
    loaded = _saved_without(fitted, "separate_visit", tmp_path)
    assert fitted.parameters_.separate_visit is True
    assert loaded.parameters_.separate_visit is False
    assert loaded.get_params()["separate_visit"] is False  # a partial_fit goes on the same way
    fitted.save(tmp_path / "now")
    assert load_model(tmp_path / "now").get_params()["separate_visit"] is True


def _saved_without(model: LearnedDecay, field: str, directory: Path) -> LearnedDecay:
    """``model`` saved, its parameter ``field`` deleted from the arrays, and loaded again."""
    model.save(directory / "model")
    path = directory / "model" / "arrays.npz"
    with np.load(path, allow_pickle=False) as stored:
        arrays = {key: stored[key] for key in stored.files if not key.endswith(field)}
        assert len(arrays) == len(stored.files) - 1
    np.savez(path, **arrays)
    loaded = load_model(directory / "model")
    assert isinstance(loaded, LearnedDecay)
    return loaded


def test_fit_without_torch_names_the_extra(
    shop: SimulatedShop, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"decayrec\[torch\]"):
        LearnedDecay(max_epochs=1).fit(shop.events)


def test_half_life_table_and_user_factors(fitted: LearnedDecay, shop: SimulatedShop) -> None:
    table = fitted.half_lives_
    assert table.columns == [
        "level", "key", "events", "half_life_days", "lower_days", "upper_days", "weight",
        "reference",
    ]  # fmt: skip
    assert set(table["level"]) == {"global", "category", "event_type"}
    ok = table.filter(table["events"] > 0)
    assert (ok["lower_days"] <= ok["half_life_days"]).all()
    assert (ok["half_life_days"] <= ok["upper_days"]).all()
    # The reference is the log's most frequent event type; weights are relative to it.
    types = table.filter(level="event_type")
    reference = types.filter(pl.col("reference"))
    assert reference["key"].item() == types.sort("events")["key"][-1] == "view"
    assert reference["weight"].item() == pytest.approx(1.0)
    # The rows quote one model at one reference point: the global row is a typical event's
    # half-life, i.e. the reference type's row and the event-weighted geometric mean of the
    # category rows.
    overall = table.filter(level="global")["half_life_days"].item()
    assert reference["half_life_days"].item() == pytest.approx(overall)
    categories = table.filter(level="category")
    mean_log = np.average(
        np.log(categories["half_life_days"].to_numpy()), weights=categories["events"].to_numpy()
    )
    assert np.exp(mean_log) == pytest.approx(overall)
    factors = fitted.user_half_life_factors(
        ["u0", "u1", "nobody"], at=shop.events.timestamp_seconds.max()
    )
    assert factors[2] == 1.0
    assert ((factors >= 1 / fitted.max_user_factor) & (factors <= fitted.max_user_factor)).all()
    assert set(fitted.repeat_cycles_.columns) == {"category", "purchases", "cycle_days", "rate"}


def test_no_decay_variant_learns_weights_but_no_half_lives(shop: SimulatedShop) -> None:
    model = make_model("learned-decay-no-decay", max_epochs=2).fit(shop.events)
    assert model.display_name == "learned-decay-no-decay"
    with pytest.raises(InvalidParameterError, match="decay switched off"):
        _ = model.half_lives_  # type: ignore[attr-defined]


def test_partial_fit_warm_starts_and_accepts_new_categories(shop: SimulatedShop) -> None:
    events = shop.events
    seconds = events.timestamp_seconds
    cut = np.quantile(seconds, 0.8)
    early = events.take(np.flatnonzero(seconds < cut))
    later = events.take(np.flatnonzero(seconds >= cut))
    model = LearnedDecay(max_epochs=2).fit(early)
    before = model.parameters_
    model.partial_fit(later)
    assert model.events_.n_events == events.n_events
    assert not np.array_equal(before.category_offset, model.parameters_.category_offset)
    recs = model.recommend(["u1"], at=seconds.max(), n=5)
    assert recs.item_index.shape == (1, 5)


def test_invalid_parameters_name_the_parameter(shop: SimulatedShop) -> None:
    for name, value in [
        ("kernel", "linear"),
        ("max_user_factor", 0.5),
        ("validation_share", 1.0),
        ("learning_rate", 0.0),
        ("session_gap", None),
        ("seed", -1),
        ("repeat_cycles", "yes"),
        ("separate_visit", 1),
        ("self_weight", -1.0),
        ("sequence_window", 0),
        ("sequence_step_decay", 1.5),
        ("sequence_backward_weight", -0.5),
        ("ordering_scale", 0.0),
    ]:
        with pytest.raises(InvalidParameterError, match=f"'{name}'"):
            LearnedDecay(**{name: value}).fit(shop.events)


def test_duration_errors_say_what_none_means(shop: SimulatedShop) -> None:
    """Each duration's message says what None stands for there, or that it is not allowed."""
    with pytest.raises(InvalidParameterError, match=r"None \(nobody is served as a newcomer\)"):
        LearnedDecay(newcomer_after="soon").fit(shop.events)
    with pytest.raises(InvalidParameterError, match=r"None \(all-time popularity\)"):
        LearnedDecay(popularity_half_life="soon").fit(shop.events)
    with pytest.raises(InvalidParameterError, match=r"positive timedelta\. Got None"):
        LearnedDecay(session_gap=None).fit(shop.events)
    with pytest.raises(InvalidParameterError, match=r"'half_life'.*None \(no decay\)"):
        LearnedDecay(half_life="soon").fit(shop.events)


def test_a_log_without_returning_users_is_rejected() -> None:
    log = EventLog.from_indices(
        user_index=[0, 1, 2],
        item_index=[0, 1, 0],
        timestamp_seconds=[0.0, 10.0, 20.0],
        event_type=[EventType.VIEW] * 3,
    )
    with pytest.raises(DataValidationError, match="come back"):
        LearnedDecay().fit(log)


@pytest.mark.slow
def test_recovers_true_half_lives_and_weight_order() -> None:
    """Categories with >= 1,000 events: learned half-life within 15 % of the truth."""
    # Recoverable by the simulator's own account: active users (so that they come back
    # within the shortest half-life), a window five times the longest half-life, and little
    # unlogged pre-history.
    config = ShopConfig(
        n_users=1_200,
        n_items=600,
        n_categories=6,
        days=150,
        half_life_range_days=(2.0, 30.0),
        initial_interest_weight=0.5,
        mean_sessions_per_day=0.6,
        seed=3,
    )
    shop = simulate_shop(config)
    # patience=3: the simulator's fit settles by its sixth epoch; the default patience (10)
    # would train it for the whole epoch limit, four times as long, to the same test.
    model = LearnedDecay(patience=3).fit(shop.events)
    table = model.half_lives_
    categories = table.filter(pl.col("level") == "category", pl.col("key") != "(none)")
    truth = shop.category_half_life_seconds / 86_400.0
    index = shop.events.categories.indices(categories["key"].to_list())
    ratio = categories["half_life_days"].to_numpy() / truth[index]
    enough = categories["events"].to_numpy() >= 1_000
    assert enough.sum() >= 4
    assert np.all(np.abs(ratio[enough] - 1.0) <= 0.15), dict(
        zip(categories["key"].to_list(), ratio.round(3), strict=True)
    )
    weights = table.filter(level="event_type").select("key", "weight").rows()
    learned = dict(weights)
    order = ["view", "favourite", "cart", "purchase"]
    assert [learned[k] for k in order] == sorted(learned[k] for k in order), learned


@pytest.mark.parametrize("span_half_lives", [25, 5_000])
@pytest.mark.parametrize("with_users", [False, True])
def test_decayed_count_before_matches_a_loop(span_half_lives: int, with_users: bool) -> None:
    """Exact for any span: a ten-year review log is ~500 one-week half-lives, and an earlier
    cumulative-sum version returned 0 for nearly every event past a few hundred. With users,
    other users' events at the same instant count too, the event's own user's later ones not
    (Taobao logs a view and a cart of one item in the same second)."""
    from decayrec.models._learned_history import decayed_count_before

    rng = np.random.default_rng(0)
    keys, users = rng.integers(0, 5, 300), rng.integers(0, 4, 300)
    half_life = 2 * 86_400.0
    # Day-rounded instants, so that events of a key share an instant now and then.
    seconds = np.round(rng.uniform(0, span_half_lives * half_life, 300) / 86_400) * 86_400
    weights = rng.uniform(0.5, 3.0, 300)
    got = decayed_count_before(
        keys, seconds, weights, half_life, users=users if with_users else None
    )
    order = np.lexsort((seconds, keys))
    rank = np.empty(300, dtype=int)
    rank[order] = np.arange(300)
    for e in range(300):
        earlier = (keys == keys[e]) & (rank < rank[e])
        if with_users:
            earlier |= (keys == keys[e]) & (seconds == seconds[e]) & (users != users[e])
        expected = (weights[earlier] * np.exp2(-(seconds[e] - seconds[earlier]) / half_life)).sum()
        assert got[e] == pytest.approx(expected, rel=1e-9, abs=1e-12)


def test_recent_popularity_share_is_learned_fixed_or_off(shop: SimulatedShop) -> None:
    learned = FAST().fit(shop.events).parameters_.recent_share
    fixed = FAST(recent_popularity_share=0.01).fit(shop.events).parameters_.recent_share
    all_time = FAST(popularity_half_life=None).fit(shop.events).parameters_.recent_share
    assert 0 < learned < 1 and learned != pytest.approx(0.01)
    assert fixed == pytest.approx(0.01) and all_time == 0.0
    for bad in (-0.1, 1.5, True, "0.1"):
        with pytest.raises(InvalidParameterError, match="'recent_popularity_share'"):
            LearnedDecay(recent_popularity_share=bad)._validate_params()


def test_self_weight_keeps_part_of_the_evidence_on_the_item(shop: SimulatedShop) -> None:
    model = FAST(self_weight=1.0).fit(shop.events)
    similarity = model.similarity_.toarray()
    plain = FAST().fit(shop.events).similarity_.toarray()
    has_neighbours = plain.sum(axis=1) > 0
    assert np.allclose(similarity.sum(axis=1), 1.0)
    # (S + I) / 2 where an item has neighbours; all on itself where it has none.
    assert np.allclose(similarity[has_neighbours], (plain + np.eye(len(plain)))[has_neighbours] / 2)
    assert np.allclose(np.diag(similarity)[~has_neighbours], 1.0)
    # Still next-event probabilities: the closed-form normaliser follows the new rows.
    users = shop.events.users.raw(np.arange(10))
    recs = model.recommend(users, at=shop.events.timestamp_seconds.max(), n=model.n_items,
                           exclude="none")  # fmt: skip
    assert np.allclose(recs.scores[~recs.fallback].sum(axis=1), 1.0)


def test_raw_similarity_keeps_each_rows_mass(shop: SimulatedShop) -> None:
    from decayrec.models.item2item import cooccurrence_counts, item_similarity

    model = FAST(similarity="cooccurrence", normalise_similarity=False).fit(shop.events)
    columns, n_users = model.columns_, len(model.events_.users)
    raw = item_similarity(
        cooccurrence_counts(columns.user, columns.item, n_users, model.n_items),
        "cooccurrence", max_neighbours=model.max_neighbours,
    ).toarray()  # fmt: skip
    row_sum = raw.sum(axis=1)
    # One global scale (the mean row is 1), so rows keep their relative mass.
    assert np.allclose(model.similarity_.toarray(), raw / row_sum[row_sum > 0].mean())
    log = shop.events
    users = log.users.raw(np.arange(10))
    recs = model.recommend(users, at=log.timestamp_seconds.max(), n=model.n_items, exclude="none")
    assert np.allclose(recs.scores[~recs.fallback].sum(axis=1), 1.0)


def test_evaluate_picks_the_similarity_and_ordering_scale_on_validation(
    shop: SimulatedShop,
) -> None:
    from decayrec.data.split import temporal_split
    from decayrec.eval.runner import ModelSpec, evaluate_models

    split = temporal_split(shop.events, at=shop.events.timestamp_seconds.max() - 10 * 86_400,
                           validation=timedelta(days=10))  # fmt: skip
    fast = {"max_epochs": 1, "batch_size": 256}
    result = evaluate_models(split, [ModelSpec("learned-decay", fast)], repeats="allow", ks=(10,))
    grid = [dict(entry) for entry in LearnedDecay.validation_grid]
    scoring = [dict(entry) for entry in LearnedDecay.scoring_grid]
    # Similarity measure x mass and two sequence windows (one of them also directional), each
    # with the share of recent popularity learned or fixed small.
    assert len(grid) == 14
    assert sum(entry.get("recent_popularity_share") == 0.01 for entry in grid) == 7
    assert sum(entry.get("sequence_backward_weight") == 0.3 for entry in grid) == 2
    assert scoring[0] == {"ordering_scale": 1.0, "newcomer_after": None, "familiar_share": None}
    assert len(scoring) == 16 and sum(e["familiar_share"] == 0.75 for e in scoring) == 8
    # Every fit is scored at every scoring entry; without decay there is nothing to rescale,
    # and the entries that differ only in popularity decay are one fit.
    crossed = {
        "learned-decay": [to_json({**entry, **scale}) for entry in grid for scale in scoring],
        "learned-decay-no-decay": [e for e in grid if "recent_popularity_share" not in e],
    }
    for model, expected in crossed.items():
        result_of_model = next(r for r in result.results if r.model == model)
        tuning = result_of_model.tuning
        assert tuning is not None
        tried = [{key: row[key] for key in choice} for row, choice in zip(
            tuning, expected, strict=True)]  # fmt: skip
        assert tried == expected
        # the one-standard-error rule: the fewest departures from the defaults within one
        # standard error of the best, then the higher score
        defaults = to_json(LearnedDecay(**fast).get_params())
        assert [row["departures"] for row in tuning] == [
            sum(defaults[key] != value for key, value in choice.items()) for choice in tried
        ]
        top = max(row["ndcg@10"] for row in tuning)
        close = [i for i, row in enumerate(tuning) if top - row["ndcg@10"] <= row["gap_se"]]
        fewest = min(tuning[i]["departures"] for i in close)
        kept = max((i for i in close if tuning[i]["departures"] == fewest),
                   key=lambda i: (tuning[i]["ndcg@10"], -i))  # fmt: skip
        assert to_json({key: result_of_model.params[key] for key in tried[kept]}) == tried[kept]
    fixed = evaluate_models(
        split, [ModelSpec("learned-decay", {**fast, "similarity": "cosine"})],
        repeats="allow", ks=(10,), add_no_decay_baselines=False,
    )  # fmt: skip
    assert fixed.results[0].tuning is None
    assert fixed.results[0].params["similarity"] == "cosine"


def test_early_stopping_holds_out_whole_shoppers(fitted: LearnedDecay) -> None:
    """A random tenth of the shoppers (seeded), every target of theirs: a time tail would also
    measure how the newest shoppers differ, and its minimum falls at a random epoch."""
    from decayrec.models._learned_history import find_predictions

    predictions = find_predictions(
        fitted.user_events_, fitted.session_gap_seconds_, fitted.max_history, 20
    )
    train, held = fitted._split_targets(predictions)
    assert len(held) >= 200 and len(train) + len(held) == len(predictions)
    users = fitted.user_events_.columns.user[predictions.position]
    # training_ records the hold-out the fit used (report decay prints it)
    assert fitted.training_["holdout_targets"] == len(held)
    assert fitted.training_["holdout_shoppers"] == len(np.unique(users[held]))
    assert not set(users[train].tolist()) & set(users[held].tolist())
    assert 0.05 < len(np.unique(users[held])) / len(np.unique(users)) < 0.15
    # Not the latest targets: held-out targets span the log's time like the others.
    assert predictions.seconds[held].min() < np.median(predictions.seconds[train])
    np.testing.assert_array_equal(fitted._split_targets(predictions)[1], held)
    without = FAST(validation_share=0.0, max_epochs=1).fit(fitted.events_)
    assert (without.training_["holdout_targets"], without.training_["holdout_shoppers"]) == (0, 0)
    other = fitted.clone(seed=1)
    other.user_events_, other.events_ = fitted.user_events_, fitted.events_
    assert not np.array_equal(other._split_targets(predictions)[1], held)


def test_newcomer_after_serves_long_absent_shoppers_as_newcomers(
    fitted: LearnedDecay, shop: SimulatedShop, tmp_path: Path
) -> None:
    """A shopper last seen longer ago than ``newcomer_after`` gets what a shopper never seen
    gets (decayed popularity, flagged); everyone else keeps their scores, without a refit."""
    log = shop.events
    at = log.timestamp_seconds.max()
    latest = np.full(len(log.users), -np.inf)
    np.maximum.at(latest, log.frame["user_index"].to_numpy(), log.timestamp_seconds)
    seen = np.flatnonzero(np.isfinite(latest))[:60]  # the vocabulary also holds idle shoppers
    users = log.users.raw(seen)
    stale = (at - latest[seen]) / 86_400 > 10
    assert stale.any() and (~stale).any()

    newcomers = fitted.with_scoring(newcomer_after=timedelta(days=10))
    assert newcomers.parameters_ is fitted.parameters_ and fitted.newcomer_after is None
    base = fitted.recommend(users, at=at, n=20, exclude="none")
    served = newcomers.recommend(users, at=at, n=20, exclude="none")
    np.testing.assert_array_equal(served.fallback, stale | base.fallback)
    np.testing.assert_array_equal(served.scores[~stale], base.scores[~stale])
    stranger = fitted.recommend(["never-seen"], at=at, n=20, exclude="none")
    for row in np.flatnonzero(stale):
        assert served.item_ids(row) == stranger.item_ids(0)
    row = int(np.flatnonzero(stale)[0])
    assert newcomers.explain(users[row], served.item_ids(row)[0], at=at).fallback
    assert not fitted.explain(users[row], served.item_ids(row)[0], at=at).fallback

    newcomers.save(tmp_path / "newcomers")
    loaded = load_model(tmp_path / "newcomers")
    assert isinstance(loaded, LearnedDecay) and loaded.newcomer_after == timedelta(days=10)
    np.testing.assert_array_equal(
        loaded.recommend(users, at=at, n=20, exclude="none").fallback, served.fallback
    )
    with pytest.raises(InvalidParameterError, match="'newcomer_after'"):
        fitted.with_scoring(newcomer_after=timedelta(days=-1))


def test_sequence_local_similarity_fits_saves_and_loads(
    shop: SimulatedShop, tmp_path: Path
) -> None:
    """Pairs near each other in a shopper's sequence: another similarity, the same API."""
    model = LearnedDecay(
        max_epochs=2, similarity="cooccurrence", sequence_window=3, sequence_backward_weight=0.3
    ).fit(shop.events)
    user_level = LearnedDecay(max_epochs=2, similarity="cooccurrence").fit(shop.events)
    assert model.similarity_.nnz > 0
    assert (model.similarity_ != user_level.similarity_).nnz > 0
    both_ways = LearnedDecay(max_epochs=1, similarity="cooccurrence", sequence_window=3)
    assert (model.similarity_ != both_ways.fit(shop.events).similarity_).nnz > 0
    model.save(tmp_path / "m")
    loaded = LearnedDecay.load(tmp_path / "m")
    assert loaded.sequence_backward_weight == 0.3
    assert (loaded.similarity_ != model.similarity_).nnz == 0
    at = float(shop.events.timestamp_seconds.max())
    users = np.arange(20, dtype=np.int32)
    np.testing.assert_array_equal(
        loaded._score_known(users, np.full(20, at)), model._score_known(users, np.full(20, at))
    )


def test_ordering_scale_reweighs_a_shoppers_events_but_keeps_their_total(
    fitted: LearnedDecay,
) -> None:
    """``f · h`` orders the events; the total evidence (reliance on history) is the fit's."""
    from decayrec.models._learned_history import history_features, request_windows

    grouped = fitted.user_events_
    users = np.arange(40, dtype=np.int32)
    at = np.full(len(users), grouped.columns.seconds.max() + 86_400.0)
    window = request_windows(grouped, users, at, fitted.max_history, 1800.0)
    features = history_features(window, grouped.columns)
    params, no_category = fitted.parameters_, fitted.no_category_
    decay, evidence, repeat = params.evidence(window, grouped.columns, features, no_category)
    short_decay, short, short_repeat = params.evidence(
        window, grouped.columns, features, no_category, ordering_scale=0.1
    )
    np.testing.assert_allclose(short.sum(axis=1), evidence.sum(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(short_repeat, repeat)
    assert (short_decay <= decay + 1e-15).all()  # a shorter kernel
    # Within each row, the event the fewest half-lives back gains share at the shorter scale.
    newest = np.argmax(decay, axis=1)
    rows = np.arange(len(users))
    several = window.valid.sum(axis=1) > 1
    total = evidence.sum(axis=1)
    assert (short[rows, newest] / total >= evidence[rows, newest] / total - 1e-12)[several].all()
    assert (short[rows, newest] > evidence[rows, newest] * (1 + 1e-9))[several].any()


def test_with_scoring_rescores_without_refitting(
    fitted: LearnedDecay, shop: SimulatedShop, tmp_path: Path
) -> None:
    users = shop.events.users.raw(np.arange(30))
    at = shop.events.timestamp_seconds.max()
    same = fitted.with_scoring(ordering_scale=1.0)
    shorter = fitted.with_scoring(ordering_scale=0.1)
    assert shorter.parameters_ is fitted.parameters_ and fitted.ordering_scale == 1.0
    base = fitted.recommend(users, at=at, n=fitted.n_items, exclude="none")
    unchanged = same.recommend(users, at=at, n=fitted.n_items, exclude="none")
    np.testing.assert_array_equal(unchanged.scores, base.scores)
    rescored = shorter.recommend(users, at=at, n=fitted.n_items, exclude="none")
    assert not np.array_equal(rescored.item_index, base.item_index)
    live = ~rescored.fallback
    np.testing.assert_allclose(rescored.scores[live].sum(axis=1), 1.0, rtol=1e-9)
    shorter.save(tmp_path / "short")
    loaded = load_model(tmp_path / "short")
    assert isinstance(loaded, LearnedDecay) and loaded.ordering_scale == 0.1
    np.testing.assert_array_equal(loaded.recommend(users, at=at, n=20).scores,
                                  shorter.recommend(users, at=at, n=20).scores)  # fmt: skip
    row = int(np.flatnonzero(live)[0])
    top = rescored.item_ids(row)[0]
    explained, learned = (m.explain(users[row], top, at=at) for m in (shorter, fitted))
    assert not explained.fallback and explained.half_life and learned.half_life
    assert explained.half_life / learned.half_life == pytest.approx(0.1)
    assert explained.score == pytest.approx(float(rescored.scores[row, 0]), rel=1e-9)
    with pytest.raises(InvalidParameterError, match="'ordering_scale'"):
        fitted.with_scoring(ordering_scale=-1.0)
    with pytest.raises(InvalidParameterError, match=r"'max_neighbours'.*ordering_scale"):
        fitted.with_scoring(max_neighbours=10)


def test_new_interests_start_in_the_shoppers_own_categories_by_a_share(
    fitted: LearnedDecay,
) -> None:
    """``(1 - κ) π + κ m_u``, with ``m_u`` the window's category mix by event-type weight."""
    from decayrec.models._learned_history import request_windows

    grouped, params, no_category = fitted.user_events_, fitted.parameters_, fitted.no_category_
    assert 0.0 < params.familiar_share < 1.0  # learned
    users = np.arange(30, dtype=np.int32)
    at = np.full(len(users), grouped.columns.seconds.max() + 86_400.0)
    at[0] = grouped.columns.seconds.min() - 1.0  # no history yet: the shop's starts alone
    window = request_windows(grouped, users, at, fitted.max_history, 1800.0)
    starts = params.start_shares(window, grouped.columns, no_category, familiar_share=0.3)
    for row in range(len(users)):
        mix = np.zeros(no_category + 1)
        for position in window.positions[row][window.valid[row]]:
            category = grouped.columns.category[position]
            slot = category if category >= 0 else no_category
            mix[slot] += params.type_weight[grouped.columns.event_type[position]]
        own = mix / mix.sum() if mix.sum() else params.exploration_share
        expected = 0.7 * params.exploration_share + 0.3 * own
        np.testing.assert_allclose(starts[row], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(starts.sum(axis=1), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(starts[0], params.exploration_share)
    shop_only = params.start_shares(window, grouped.columns, no_category, familiar_share=0.0)
    np.testing.assert_array_equal(shop_only, np.tile(params.exploration_share, (len(users), 1)))
    learned = params.start_shares(window, grouped.columns, no_category)
    np.testing.assert_allclose(
        learned - params.exploration_share,
        (starts - params.exploration_share) * params.familiar_share / 0.3,
        atol=1e-12,
    )


def test_familiar_share_rescores_categories_without_refitting(
    fitted: LearnedDecay, shop: SimulatedShop
) -> None:
    users = shop.events.users.raw(np.arange(60))
    at = shop.events.timestamp_seconds.max() + 30 * 86_400.0  # a month away: evidence faded
    familiar = fitted.with_scoring(familiar_share=0.75)
    assert familiar.parameters_ is fitted.parameters_ and fitted.familiar_share is None
    base = fitted.recommend(users, at=at, n=fitted.n_items, exclude="none")
    rescored = familiar.recommend(users, at=at, n=fitted.n_items, exclude="none")
    live = ~rescored.fallback
    np.testing.assert_allclose(rescored.scores[live].sum(axis=1), 1.0, rtol=1e-9)
    assert not np.array_equal(rescored.item_index, base.item_index)
    categories, _ = familiar.rank_categories(users, at=at, n=3)
    assert not np.array_equal(categories, fitted.rank_categories(users, at=at, n=3)[0])
    row = int(np.flatnonzero(live)[0])
    top = rescored.item_ids(row)[0]
    explained = familiar.explain(users[row], top, at=at)
    assert explained.score == pytest.approx(float(rescored.scores[row, 0]), rel=1e-9)
    assert explained.components["familiar_category"] > 0
    for bad in (-0.1, 1.5, True, "all"):
        with pytest.raises(InvalidParameterError, match="'familiar_share'"):
            fitted.with_scoring(familiar_share=bad)


def test_a_log_without_categories_has_no_use_for_familiar_share(
    events_without_categories: EventLog, fitted: LearnedDecay
) -> None:
    """Every shopper's mix is the shop's: κ gets no gradient, the grid drops it."""
    model = FAST().fit(events_without_categories)
    assert model.parameters_.familiar_share == pytest.approx(1.0 / (1.0 + np.exp(4.0)), rel=1e-6)
    users = events_without_categories.users.raw(np.arange(10))
    at = events_without_categories.timestamp_seconds.max()
    np.testing.assert_array_equal(
        model.recommend(users, at=at, n=20).scores,
        model.with_scoring(familiar_share=1.0).recommend(users, at=at, n=20).scores,
    )
    grid = LearnedDecay.scoring_grid
    assert len(fitted.applicable_scoring(grid)) == len(grid) == 16
    kept = model.applicable_scoring(grid)
    assert len(kept) == 8 and all("familiar_share" not in entry for entry in kept)
    # evaluate scores each fit at the 8 entries that can differ (progress counts the rest).
    from decayrec.data.split import temporal_split
    from decayrec.eval.runner import ModelSpec, evaluate_models

    log = events_without_categories
    split = temporal_split(log, at=log.timestamp_seconds.max() - 5 * 86_400,
                           validation=timedelta(days=5))  # fmt: skip
    spec = ModelSpec("learned-decay", {"max_epochs": 1, "batch_size": 256})
    result = evaluate_models(
        split, [spec], repeats="allow", ks=(10,), add_no_decay_baselines=False, progress=True
    )
    tuning = result.results[0].tuning
    assert tuning is not None and len(tuning) == len(LearnedDecay.validation_grid) * 8
    assert all("familiar_share" not in row for row in tuning)


def test_a_model_saved_before_familiar_share_loads_with_the_shops_starts(
    fitted: LearnedDecay, tmp_path: Path
) -> None:
    loaded = _saved_without(fitted, "familiar_share", tmp_path)
    assert loaded.parameters_.familiar_share == 0.0


def _inside_a_second_visit(model: LearnedDecay) -> int:
    """A position (in ``user_events_``) whose event follows another of its visit, in a visit
    after the shopper's first: a request just after it has both a visit under way and
    earlier visits."""
    columns = model.user_events_.columns
    same_user = np.r_[False, columns.user[1:] == columns.user[:-1]]
    gap = np.r_[np.inf, np.diff(columns.seconds)]
    linked = same_user & (gap <= model.session_gap_seconds_) & (gap > 0)
    visit = np.cumsum(~same_user | (gap > model.session_gap_seconds_))
    later_visit = visit > visit[model.user_events_.indptr[columns.user]]
    candidates = np.flatnonzero(linked & later_visit)
    assert candidates.size
    return int(candidates[len(candidates) // 2])


@pytest.mark.parametrize("separate", [True, False])
def test_the_visit_under_way_reaches_the_score_through_the_session_part_only(
    separate: bool, request: pytest.FixtureRequest
) -> None:
    """``separate_visit``: an explanation's long-term parts come from the earlier visits and
    the visit under way gives its session part alone (its events read undecayed); reading
    the visit in both parts, its events give more than the session part."""
    model: LearnedDecay = request.getfixturevalue("fitted" if separate else "fitted_reading_visits")
    columns = model.user_events_.columns
    position = _inside_a_second_visit(model)
    user = model.events_.users.raw([int(columns.user[position])])[0]
    item = model.events_.items.raw([int(columns.item[position])])[0]
    at = float(columns.seconds[position]) + 1.0
    start = position  # the first event of the visit under way
    while columns.seconds[start] - columns.seconds[start - 1] <= model.session_gap_seconds_:
        start -= 1
    visit_start = float(columns.seconds[start])

    explained = model.explain(user, item, at=at)
    in_visit = [e for e in explained.events if e.timestamp.timestamp() >= visit_start]
    earlier = [e for e in explained.events if e.timestamp.timestamp() < visit_start]
    assert in_visit and earlier
    long_term = sum(explained.components[k] for k in ("category", "item", "similar_items"))
    long_term += explained.components["repeat"]
    from_visit = sum(e.contribution for e in in_visit)
    if separate:
        assert from_visit == pytest.approx(explained.components["session"], rel=1e-9)
        assert sum(e.contribution for e in earlier) == pytest.approx(long_term, rel=1e-9)
        assert all(e.decay == 1.0 for e in in_visit)
    else:
        assert from_visit > explained.components["session"] * (1 + 1e-6)


@pytest.mark.parametrize("separate", [True, False])
def test_every_event_of_a_visit_trains_the_decay_only_with_separate_visit(
    separate: bool, request: pytest.FixtureRequest
) -> None:
    """Targets inside a visit move the half-lives when the long-term part reads the visits
    before theirs, and not when it would read their own visit (then only the first event of
    a visit, predicted across a gap, trains the decay)."""
    import torch

    from decayrec.models._learned_torch import _LearnedDecayModule, _make_batch

    model: LearnedDecay = request.getfixturevalue("fitted" if separate else "fitted_reading_visits")
    data = model._training_data(model._build_tables())
    inside = np.flatnonzero(~data.predictions.opens_visit)[:64]
    module = _LearnedDecayModule(
        model.no_category_ + 1, len(data.feature_mean), _config(model), data.slot_share
    )
    module.load_parameters(model.parameters_)
    nll = module.negative_log_likelihood(_make_batch(data, inside, data.similarity))
    (gradient,) = torch.autograd.grad(nll, module.global_log_half_life)
    assert (float(gradient) != 0.0) is separate
