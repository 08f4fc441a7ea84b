"""Tests of the synthetic shop: determinism, shape of the log, and that its decay is real.

The statistical tests recompute the interest model of the module docstring from the *log alone*
(plus the returned ground truth), independently of the simulator's internals, so they check that
the documented process is the one that runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from decayrec.data.schema import EventType, EventWeights
from decayrec.data.simulate import ShopConfig, SimulatedShop, simulate_events, simulate_shop
from decayrec.errors import InvalidParameterError

DAY = 86_400.0
SMALL = ShopConfig(n_users=300, n_items=200, n_categories=8, days=40, seed=11)


@pytest.fixture(scope="module")
def shop() -> SimulatedShop:
    config = ShopConfig(n_users=3_000, n_items=1_500, n_categories=16, days=150, seed=7)
    return simulate_shop(config)


@dataclass(frozen=True)
class Choices:
    """Interest-driven session starts and the true interest at each (recomputed from the log)."""

    rows: npt.NDArray[np.int64]  # row of the session's first event
    user: npt.NDArray[np.int64]
    chosen: npt.NDArray[np.int64]  # category of the session
    interest: npt.NDArray[np.float64]  # (n_starts, n_categories) I_uc(s)
    last_touch: npt.NDArray[np.float64]  # (n_starts, n_categories) seconds since last event


def _choices(shop: SimulatedShop, half_life: npt.NDArray[np.float64]) -> Choices:
    """I_uc(s) at every interest-driven session start, from the log and I_uc(start) only.

    At most one session per user per day and every session ends within its day, so the
    interest at a start on day k is the state at the day boundary decayed to the start.
    """
    events = shop.events
    start = shop.config.start_seconds
    times = events.timestamp_seconds
    users = events.user_index.astype(np.int64)
    cats = events.category_index.astype(np.int64)
    weight = shop.event_type_weights.as_array()[events.event_type]
    day = np.floor((times - start) / DAY).astype(np.int64)
    first = (
        events.frame.with_row_index("row")
        .group_by("session_id")
        .agg(pl.col("row").min())["row"]
        .to_numpy()
    )
    is_first = np.zeros(events.n_events, dtype=bool)
    is_first[first] = True
    rows = np.flatnonzero(is_first & shop.interest_driven)

    n_users, n_cat = len(events.users), len(half_life)
    state = shop.initial_interest.toarray()
    touched = np.full((n_users, n_cat), -np.inf)
    interest = np.zeros((len(rows), n_cat))
    last_touch = np.zeros((len(rows), n_cat))
    start_day = day[rows]
    for k in range(shop.config.days):
        boundary = start + k * DAY
        here = np.flatnonzero(start_day == k)
        at = times[rows[here]]
        who = users[rows[here]]
        interest[here] = state[who] * np.exp2(-(at - boundary)[:, None] / half_life[None, :])
        last_touch[here] = at[:, None] - touched[who]
        today = np.flatnonzero(day == k)
        state *= np.exp2(-DAY / half_life)[None, :]
        added = weight[today] * np.exp2(-(boundary + DAY - times[today]) / half_life[cats[today]])
        np.add.at(state, (users[today], cats[today]), added)
        np.maximum.at(touched, (users[today], cats[today]), times[today])
    return Choices(rows, users[rows], cats[rows], interest, last_touch)


def _log_likelihood(shop: SimulatedShop, half_life: npt.NDArray[np.float64]) -> float:
    choices = _choices(shop, half_life)
    score = choices.interest + shop.exploration * shop.category_popularity[None, :]
    chosen = score[np.arange(len(score)), choices.chosen]
    return float(np.log(chosen / score.sum(axis=1)).sum())


# ---------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_shop() -> None:
    first, second = simulate_shop(SMALL), simulate_shop(SMALL)
    assert first.events.frame.equals(second.events.frame)
    assert first.events.users.ids.equals(second.events.users.ids)
    np.testing.assert_array_equal(
        first.category_half_life_seconds, second.category_half_life_seconds
    )
    np.testing.assert_array_equal(first.item_category, second.item_category)
    np.testing.assert_array_equal(first.interest_driven, second.interest_driven)
    assert (first.initial_interest != second.initial_interest).nnz == 0


def test_different_seed_gives_different_shop() -> None:
    other = simulate_shop(ShopConfig(**{**SMALL.__dict__, "seed": 12}))
    assert not simulate_shop(SMALL).events.frame.equals(other.events.frame)


def test_no_global_random_state_is_used() -> None:
    np.random.seed(0)
    before = np.random.random()
    np.random.seed(0)
    simulate_shop(SMALL)
    assert np.random.random() == before


# ---------------------------------------------------------------------------- shape of the log
def test_sizes_and_vocabularies(shop: SimulatedShop) -> None:
    cfg = shop.config
    events = shop.events
    assert len(events.users) == cfg.n_users
    assert len(events.items) == cfg.n_items
    assert len(events.categories) == cfg.n_categories
    assert events.users.raw([0, 5]) == ["u0", "u5"]
    assert events.items.raw([3]) == ["i3"]
    assert events.categories.raw([2]) == ["c2"]
    assert shop.category_half_life_seconds.shape == (cfg.n_categories,)
    assert shop.consumable.shape == shop.repurchase_cycle_seconds.shape == (cfg.n_categories,)
    assert shop.item_category.shape == shop.item_price.shape == (cfg.n_items,)
    assert shop.user_activity.shape == (cfg.n_users,)
    assert shop.initial_interest.shape == (cfg.n_users, cfg.n_categories)
    assert shop.interest_driven.shape == (events.n_events,)
    assert np.isclose(shop.category_popularity.sum(), 1.0)
    assert 50_000 < events.n_events < 400_000
    # every category has items, item popularity sums to one within each category
    assert set(np.unique(shop.item_category)) == set(range(cfg.n_categories))
    sums = np.bincount(shop.item_category, weights=shop.item_popularity)
    np.testing.assert_allclose(sums, 1.0)


def test_events_are_consistent_with_the_truth(shop: SimulatedShop) -> None:
    events = shop.events
    cfg = shop.config
    seconds = events.timestamp_seconds
    assert np.all(np.diff(seconds) >= 0), "the log is sorted by time"
    start = datetime(2024, 1, 1, tzinfo=UTC).timestamp()
    assert seconds.min() >= start
    assert seconds.max() < start + cfg.days * DAY
    np.testing.assert_array_equal(seconds, np.round(seconds))
    np.testing.assert_array_equal(events.category_index, shop.item_category[events.item_index])
    assert set(np.unique(events.event_type)) == {
        EventType.VIEW,
        EventType.FAVOURITE,
        EventType.CART,
        EventType.PURCHASE,
    }
    purchase = events.event_type == EventType.PURCHASE
    value = events.frame["value"]
    assert value.is_null().to_numpy().tolist() == (~purchase).tolist()
    np.testing.assert_allclose(
        value.drop_nulls().to_numpy(), shop.item_price[events.item_index[purchase]]
    )
    assert shop.event_type_weights == cfg.event_weights


def test_sessions(shop: SimulatedShop) -> None:
    frame = shop.events.frame.with_columns(pl.Series("driven", shop.interest_driven))
    per_session = frame.group_by("session_id").agg(
        pl.col("user_index").n_unique().alias("users"),
        pl.col("category_index").n_unique().alias("categories"),
        pl.col("driven").first(),
        pl.col("driven").n_unique().alias("kinds"),
        (pl.col("timestamp").max() - pl.col("timestamp").min()).alias("span"),
        pl.col("timestamp").min().dt.date().alias("day"),
        pl.col("user_index").first().alias("user"),
    )
    assert (per_session["users"] == 1).all()
    assert (per_session["kinds"] == 1).all()
    driven = per_session.filter(pl.col("driven"))
    assert (driven["categories"] == 1).all(), "an interest-driven session has one category"
    assert per_session["span"].max() < timedelta(hours=1)  # type: ignore[operator]
    # at most one session per user per day
    assert per_session.select("user", "day").is_duplicated().sum() == 0
    # ids are s0, s1, ... in order of first appearance
    firsts = shop.events.frame["session_id"].unique(maintain_order=True).to_list()
    assert firsts[:3] == ["s0", "s1", "s2"]
    assert len(firsts) == per_session.height


# ---------------------------------------------------------------------------- behaviour
def test_funnel_order(shop: SimulatedShop) -> None:
    counts = np.bincount(shop.events.event_type, minlength=len(EventType))
    views, favourites = counts[EventType.VIEW], counts[EventType.FAVOURITE]
    carts, purchases = counts[EventType.CART], counts[EventType.PURCHASE]
    assert views > carts > purchases > 0
    assert views > favourites > 0
    # each cart and purchase follows a view of the same item in the same session
    frame = shop.events.frame
    viewed = frame.filter(pl.col("event_type") == EventType.VIEW).select(
        "session_id", "item_index", pl.col("timestamp").alias("viewed_at")
    )
    for kind in (EventType.CART, EventType.PURCHASE, EventType.FAVOURITE):
        later = frame.filter(pl.col("event_type") == kind).with_row_index("k")
        joined = later.join(viewed, on=["session_id", "item_index"], how="left").filter(
            pl.col("viewed_at") < pl.col("timestamp")
        )
        assert joined["k"].n_unique() == later.height, kind


def test_item_popularity_is_heavy_tailed(shop: SimulatedShop) -> None:
    events = shop.events
    views = np.bincount(
        events.item_index[events.event_type == EventType.VIEW], minlength=len(events.items)
    )
    ranked = np.sort(views)[::-1]
    top_share = ranked[: len(ranked) // 10].sum() / ranked.sum()
    assert top_share > 0.4, top_share
    assert ranked[0] > 20 * np.median(ranked)
    # within a category, items that are truly more popular are viewed more
    frame = pl.DataFrame(
        {"views": views, "truth": shop.item_popularity, "category": shop.item_category}
    )
    corr = frame.group_by("category").agg(
        pl.corr("views", "truth", method="spearman").alias("rho"), pl.len()
    )
    assert corr.filter(pl.col("len") >= 10)["rho"].min() > 0.5  # type: ignore[operator]


def test_repeat_purchases_in_consumable_categories(shop: SimulatedShop) -> None:
    events = shop.events
    purchases = events.frame.filter(pl.col("event_type") == EventType.PURCHASE).sort(
        "user_index", "item_index", "timestamp", maintain_order=True
    )
    gaps = (
        purchases.with_columns(
            (pl.col("timestamp").diff().over("user_index", "item_index"))
            .dt.total_seconds()
            .alias("gap")
        )
        .drop_nulls("gap")
        .with_columns(pl.col("category_index").alias("category"))
    )
    consumable = shop.consumable[gaps["category"].to_numpy()]
    assert len(gaps) > 100
    # only consumables are bought again (an owned sofa is not bought twice)
    assert consumable.all()
    # and they come back after about one cycle
    cycle = shop.repurchase_cycle_seconds[gaps["category"].to_numpy()[consumable]]
    ratio = gaps["gap"].to_numpy()[consumable] / cycle
    assert 0.85 < np.median(ratio) < 1.15, np.median(ratio)
    # need-driven (repurchase) sessions only exist in consumable categories
    need = ~shop.interest_driven
    assert need.any()
    assert shop.consumable[events.category_index[need]].all()
    # consumables are the categories with the shortest half-lives
    h = shop.category_half_life_seconds
    assert h[shop.consumable].max() <= h[~shop.consumable].min()
    assert np.isinf(shop.repurchase_cycle_seconds[~shop.consumable]).all()


def test_half_lives_spread_log_evenly_by_default(shop: SimulatedShop) -> None:
    days = np.sort(shop.category_half_life_seconds) / DAY
    np.testing.assert_allclose(days, np.geomspace(1.0, 90.0, len(days)))


def test_explicit_half_lives_are_used() -> None:
    given = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)
    shop = simulate_shop(ShopConfig(**{**SMALL.__dict__, "category_half_life_days": given}))
    np.testing.assert_allclose(shop.category_half_life_seconds, np.array(given) * DAY)


# ---------------------------------------------------------------------------- decay is real
def test_short_half_life_categories_are_revisited_less_after_long_gaps(
    shop: SimulatedShop,
) -> None:
    h = shop.category_half_life_seconds
    choices = _choices(shop, h)
    gap = choices.last_touch
    chosen = np.zeros_like(gap, dtype=bool)
    chosen[np.arange(len(gap)), choices.chosen] = True
    short = h <= 3 * DAY
    long = h >= 20 * DAY

    def revisit_rate(columns: npt.NDArray[np.bool_], low: float, high: float) -> float:
        cell = (gap >= low * DAY) & (gap < high * DAY) & columns[None, :]
        return float(chosen[cell].mean())

    recent_short, old_short = revisit_rate(short, 0, 2), revisit_rate(short, 10, 40)
    recent_long, old_long = revisit_rate(long, 0, 2), revisit_rate(long, 10, 40)
    # after a long gap a short-half-life interest is (almost) dead, a long one is still alive
    assert old_short < 0.5 * old_long
    # decay relative to a recent touch is much steeper for short half-lives
    assert old_short / recent_short < 0.5 * (old_long / recent_long)
    # and even long-half-life interests fade
    assert old_long < recent_long


def test_true_half_lives_maximise_the_choice_likelihood(shop: SimulatedShop) -> None:
    h = shop.category_half_life_seconds
    truth = _log_likelihood(shop, h)
    for factor in (0.7, 1.4):
        assert truth > _log_likelihood(shop, h * factor) + 50, factor
    shuffled = np.random.default_rng(0).permutation(h)
    assert truth > _log_likelihood(shop, shuffled) + 1_000
    no_decay = np.full_like(h, np.inf)
    assert truth > _log_likelihood(shop, no_decay) + 1_000


def test_choice_probabilities_are_calibrated(shop: SimulatedShop) -> None:
    choices = _choices(shop, shop.category_half_life_seconds)
    score = choices.interest + shop.exploration * shop.category_popularity[None, :]
    probability = score / score.sum(axis=1, keepdims=True)
    expected = probability.sum(axis=0)
    observed = np.bincount(choices.chosen, minlength=len(expected))
    sd = np.sqrt((probability * (1 - probability)).sum(axis=0))
    z = (observed - expected) / sd
    assert np.abs(z).max() < 4.5, z


def test_true_interest_matches_the_log(shop: SimulatedShop) -> None:
    at = shop.config.start_seconds + 60 * DAY
    matrix = shop.true_interest(at).toarray()
    events = shop.events
    before = events.timestamp_seconds < at
    h = shop.category_half_life_seconds
    cats = events.category_index[before]
    expected = shop.initial_interest.toarray() * np.exp2(-60 * DAY / h)[None, :]
    np.add.at(
        expected,
        (events.user_index[before], cats),
        shop.event_type_weights.as_array()[events.event_type[before]]
        * np.exp2(-(at - events.timestamp_seconds[before]) / h[cats]),
    )
    np.testing.assert_allclose(matrix, expected, rtol=1e-9, atol=1e-12)
    with pytest.raises(InvalidParameterError, match="'at'"):
        shop.true_interest("2023-01-01")


def test_event_weights_change_the_interest() -> None:
    weights = EventWeights(view=1.0, favourite=4.0, cart=8.0, purchase=20.0)
    shop = simulate_shop(ShopConfig(**{**SMALL.__dict__, "event_weights": weights}))
    assert shop.event_type_weights == weights


# ---------------------------------------------------------------------------- configuration
@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("n_users", 0),
        ("n_items", 3),  # fewer items than categories
        ("days", 1.5),
        ("view_to_cart", 1.5),
        ("exploration", 0.0),
        ("half_life_range_days", (10.0, 1.0)),
        ("category_half_life_days", (1.0, 2.0)),
        ("repurchase_probability", 1.0),
        ("mean_views_per_session", 0.5),
        ("seed", "x"),
    ],
)
def test_bad_configuration_names_the_parameter(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=f"'{field}'"):
        ShopConfig(**{**SMALL.__dict__, field: value})


def test_for_events_and_simulate_events() -> None:
    log = simulate_events(40_000, seed=5)
    assert 30_000 < log.n_events < 50_000
    assert log.users.raw([0]) == ["u0"]
    assert simulate_events(40_000, seed=5).frame.equals(log.frame)
    with pytest.raises(InvalidParameterError, match="'n_events'"):
        ShopConfig.for_events(0)
    with pytest.raises(InvalidParameterError, match="unknown field"):
        ShopConfig.for_events(1_000, n_user=5)
    assert ShopConfig.for_events(10_000, days=30).days == 30


@pytest.mark.slow
def test_one_million_events_in_seconds() -> None:
    config = ShopConfig.for_events(1_000_000, seed=1)
    began = time.perf_counter()
    shop = simulate_shop(config)
    elapsed = time.perf_counter() - began
    assert 800_000 < shop.events.n_events < 1_200_000
    assert elapsed < 10.0, elapsed


def test_a_day_without_interest_driven_sessions_does_not_crash() -> None:
    """Regression: small shops have quiet days; simulate_events(2000) raised IndexError."""
    events = simulate_events(2000, seed=0)
    assert events.n_events > 0
