"""Known answers for DecayedProfile: recent categories win with decay, not without."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog, EventType, Vocabulary
from decayrec.models import DecayedProfile

DAY = 86_400.0
P, V, C = int(EventType.PURCHASE), int(EventType.VIEW), int(EventType.CART)


@pytest.fixture
def drifting() -> EventLog:
    """User "me" bought toys (c0) months ago, then looked at books (c1) this week.

    Items: t0..t3 toys, b0..b3 books, g0 gift card (no category). Other users make t1, t2 and
    b1, b2 popular.
    """
    items = ["t0", "t1", "t2", "t3", "b0", "b1", "b2", "b3", "g0"]
    category = [0, 0, 0, 0, 1, 1, 1, 1, -1]
    rows: list[tuple[int, int, float, int]] = []
    for k in range(6):  # me: six toy purchases on days 10..60 (60..110 days before NOW)
        rows.append((0, k % 2 * 3, (10 + 10 * k) * DAY, P))
    rows += [(0, 4, 119 * DAY, V), (0, 7, 119.5 * DAY, V)]  # me: two book views
    for user in range(1, 6):  # others: popular items in both categories
        rows += [(user, 1, 110 * DAY, V), (user, 2, 111 * DAY, V)]
        rows += [(user, 5, 115 * DAY, V), (user, 6, 116 * DAY, C)]
    rows.append((1, 8, 60 * DAY, P))
    users, item_index, seconds, types = map(list, zip(*rows, strict=True))
    return EventLog.from_indices(
        user_index=users,
        item_index=item_index,
        category_index=[category[i] for i in item_index],
        timestamp_seconds=seconds,
        event_type=types,
        users=Vocabulary(pl.Series("id", ["me", "a", "b", "c", "d", "e"])),
        items=Vocabulary(pl.Series("id", items)),
        categories=Vocabulary(pl.Series("id", ["toys", "books"])),
    )


NOW = 120 * DAY


def test_decay_prefers_the_recent_category(drifting: EventLog) -> None:
    decayed = DecayedProfile(half_life=timedelta(days=7)).fit(drifting)
    assert decayed.recommend(["me"], at=NOW, n=2, exclude="seen").item_ids(0) == ["b2", "b1"]
    ranked, vocabulary = decayed.rank_categories(["me"], at=NOW, n=2)
    assert vocabulary.raw(ranked[0]) == ["books", "toys"]


def test_no_decay_prefers_the_old_habit(drifting: EventLog) -> None:
    plain = DecayedProfile(half_life=None).fit(drifting)
    assert plain.recommend(["me"], at=NOW, n=2, exclude="seen").item_ids(0) == ["t1", "t2"]
    ranked, vocabulary = plain.rank_categories(["me"], at=NOW, n=2)
    assert vocabulary.raw(ranked[0]) == ["toys", "books"]


def test_category_half_life_override_keeps_toys_alive(drifting: EventLog) -> None:
    model = DecayedProfile(
        half_life=timedelta(days=7), category_half_lives={"toys": timedelta(days=3650)}
    ).fit(drifting)
    # t2 is the more popular toy lately (viewed a day after t1).
    assert model.recommend(["me"], at=NOW, n=1, exclude="seen").item_ids(0) == ["t2"]
    explanation = model.explain("me", "t1", at=NOW)
    assert explanation.half_life == timedelta(days=3650)
    assert model.explain("me", "b1", at=NOW).half_life == timedelta(days=7)


def test_in_the_past_the_old_habit_wins_even_with_decay(drifting: EventLog) -> None:
    model = DecayedProfile(half_life=timedelta(days=7)).fit(drifting)
    ranked, vocabulary = model.rank_categories(["me"], at=65 * DAY, n=2)
    assert vocabulary.raw(ranked[0]) == ["toys", "books"]
    # Nobody had looked at t1, t2 or any book yet: my own toys are all there is.
    recs = model.recommend(["me"], at=65 * DAY, n=2, exclude="none")
    assert recs.item_ids(0) == ["t3", "t0"]  # t3 was bought last (day 60)


def test_score_is_interest_times_popularity_plus_repeat(drifting: EventLog) -> None:
    half = 7 * DAY
    model = DecayedProfile(half_life=timedelta(days=7), repeat_weight=0.5).fit(drifting)
    explanation = model.explain("me", "b0", at=NOW)
    decay = 2.0 ** (-(NOW - 119 * DAY) / half), 2.0 ** (-(NOW - 119.5 * DAY) / half)
    toys = sum(5.0 * 2.0 ** (-(NOW - (10 + 10 * k) * DAY) / half) for k in range(6))
    total = toys + decay[0] + decay[1]
    interest = (decay[0] + decay[1]) / total
    # b0 has only my view; popularity of books at NOW over all users' events.
    others_b1 = 5 * 2.0 ** (-(NOW - 115 * DAY) / half)
    others_b2 = 5 * 3.0 * 2.0 ** (-(NOW - 116 * DAY) / half)
    books = decay[0] + decay[1] + others_b1 + others_b2
    within = decay[0] / books
    repeat = 0.5 * decay[0] / total
    assert explanation.category_interest == pytest.approx(interest, rel=1e-12)
    assert explanation.components["item_popularity"] == pytest.approx(within, rel=1e-12)
    assert explanation.components["repeat"] == pytest.approx(repeat, rel=1e-12)
    assert explanation.score == pytest.approx(interest * within + repeat, rel=1e-12)
    assert sum(e.contribution for e in explanation.events) == pytest.approx(explanation.score)
    recs = model.recommend(["me"], at=NOW, n=9, exclude="none")
    assert dict(recs.for_user("me"))["b0"] == pytest.approx(explanation.score, rel=1e-12)
    assert explanation.events[0].item_id == "b0"  # the view of b0 counts twice over


def test_repeat_weight_adds_the_users_own_item_interest(drifting: EventLog) -> None:
    with_repeat = DecayedProfile(half_life=None, repeat_weight=2.0).fit(drifting)
    without = DecayedProfile(half_life=None, repeat_weight=0.0).fit(drifting)
    high = dict(with_repeat.recommend(["me"], at=NOW, n=9, exclude="none").for_user("me"))
    low = dict(without.recommend(["me"], at=NOW, n=9, exclude="none").for_user("me"))
    # me: 3 purchases of t0 (weight 5 each) out of 6 purchases and 2 views in all.
    assert high["t0"] - low["t0"] == pytest.approx(2.0 * 15.0 / 32.0)
    assert high["t1"] == low["t1"]
    assert without.explain("me", "t0", at=NOW).components["repeat"] == 0.0
    # "me" bought toys six times: a re-buy category, so bought toys stay listed...
    assert "t0" in with_repeat.recommend(["me"], at=NOW, n=9).item_ids(0)
    # ...while user a bought the gift card once: it is dropped.
    assert "g0" not in with_repeat.recommend(["a"], at=NOW, n=9).item_ids(0)


def test_items_without_category_form_their_own_bucket(drifting: EventLog) -> None:
    model = DecayedProfile(half_life=None).fit(drifting)
    explanation = model.explain("a", "g0", at=NOW)  # user a bought the gift card
    assert explanation.category_id is None
    assert explanation.components["item_popularity"] == 1.0  # alone in its bucket
    # user a: gift card bought (5), three views (1 each), one cart (3)
    assert explanation.category_interest == pytest.approx(5.0 / 11.0)


def test_log_without_categories_is_popularity_plus_repeats() -> None:
    log = EventLog.from_indices(
        user_index=[0, 0, 1, 2], item_index=[0, 1, 1, 2],
        timestamp_seconds=[0.0, 1.0, 2.0, 3.0], event_type=[V, V, V, V],
    )  # fmt: skip
    model = DecayedProfile(half_life=None, repeat_weight=1.0).fit(log)
    scores = dict(model.recommend(["0"], at=10.0, n=3, exclude="none").for_user("0"))
    assert scores == pytest.approx({"0": 0.25 + 0.5, "1": 0.5 + 0.5, "2": 0.25})


def test_popularity_half_life_is_separate(drifting: EventLog) -> None:
    model = DecayedProfile(half_life=timedelta(days=7), popularity_half_life=None).fit(drifting)
    assert model.popularity_half_life_seconds_ == float("inf")
    np.testing.assert_array_equal(
        model.popularity(NOW), DecayedProfile(half_life=None).fit(drifting).popularity(NOW)
    )


def test_unknown_user_ranks_categories_by_popularity(drifting: EventLog) -> None:
    model = DecayedProfile(half_life=timedelta(days=7)).fit(drifting)
    ranked, vocabulary = model.rank_categories(["stranger"], at=NOW, n=5)
    assert ranked.shape == (1, 2)
    assert vocabulary.raw(ranked[0]) == ["books", "toys"]


def test_user_without_live_evidence_falls_back(drifting: EventLog) -> None:
    """With a linear kernel, events older than two half-lives count for nothing."""
    model = DecayedProfile(kernel="linear", half_life=timedelta(days=1)).fit(drifting)
    recs = model.recommend(["me", "me"], at=np.array([NOW, 100 * DAY]), n=3, exclude="none")
    assert recs.fallback.tolist() == [False, True]
    np.testing.assert_allclose(recs.scores[1], np.sort(model.popularity(100 * DAY))[::-1][:3])
    assert model.explain("me", "t0", at=100 * DAY).fallback


def test_short_half_life_long_after_the_last_event_stays_finite(drifting: EventLog) -> None:
    """1,050 half-lives after "me"'s last event every decayed weight is subnormal (~2⁻¹⁰⁵⁰).

    The normalisation divides by the user's total; a reciprocal of that total would overflow
    (an error under this suite's warnings filter). Shares stay finite and rank as usual.
    """
    model = DecayedProfile(half_life=timedelta(hours=1), repeat_weight=0.5).fit(drifting)
    late = 119.5 * DAY + 1_050 * 3_600.0
    recommended = model.recommend(["me"], at=late, n=9)
    assert np.isfinite(recommended.scores).all()
    # The last event (b3, a book view) weighs 2^12 times the one before it: books lead.
    ranked, vocabulary = model.rank_categories(["me"], at=late, n=2)
    assert vocabulary.raw(ranked[0]) == ["books", "toys"]
