"""Known answers for DecayedPopularity: trending beats all-time, honest per-user instants."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from decayrec.data.schema import EventLog, EventType
from decayrec.models import DecayedPopularity

DAY = 86_400.0
P, V = int(EventType.PURCHASE), int(EventType.VIEW)


@pytest.fixture
def trending() -> EventLog:
    """Item 0 was bought (weight 5) on day 0; item 1 was viewed (weight 1) on days 9 and 10."""
    return EventLog.from_indices(
        user_index=[0, 1, 2],
        item_index=[0, 1, 1],
        timestamp_seconds=[0.0, 9 * DAY, 10 * DAY],
        event_type=[P, V, V],
    )


def test_scores_are_decayed_weighted_sums(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=timedelta(days=1)).fit(trending)
    recs = model.recommend(["0"], at=10 * DAY, n=2, exclude="none")
    assert recs.item_ids(0) == ["1", "0"]
    np.testing.assert_allclose(recs.scores[0], [1.0 + 0.5, 5.0 * 2.0**-10], rtol=1e-12)


def test_no_decay_is_all_time_popularity(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=None).fit(trending)
    recs = model.recommend(["0"], at=10 * DAY, n=2, exclude="none")
    assert recs.item_ids(0) == ["0", "1"]
    np.testing.assert_array_equal(recs.scores[0], [5.0, 2.0])
    assert model.display_name == "decayed-popularity-no-decay"


def test_per_user_instants_see_only_the_past(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=timedelta(days=1)).fit(trending)
    recs = model.recommend(["0", "2"], at=np.array([1 * DAY, 10 * DAY]), n=2, exclude="none")
    # On day 1 nobody had viewed item 1 yet.
    assert recs.for_user("0") == [("0", 2.5), ("1", 0.0)]
    assert recs.item_ids(1) == ["1", "0"]
    # User 2's only event is on day 10: at day 10 they are known.
    assert recs.fallback.tolist() == [False, False]
    early = model.recommend(["2"], at=5 * DAY, n=2, exclude="none")
    assert early.fallback.tolist() == [True]


def test_exclusion_personalises_the_list(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=timedelta(days=1)).fit(trending)
    assert model.recommend(["0"], at=10 * DAY, n=2).item_ids(0) == ["1"]  # bought item 0
    assert model.recommend(["1"], at=10 * DAY, n=2, exclude="seen").item_ids(0) == ["0"]


def test_event_weights_override(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=None, event_weights={"buy": 0.0}).fit(trending)
    assert model.popularity(10 * DAY).tolist() == [0.0, 2.0]


def test_linear_kernel_forgets_after_two_half_lives(trending: EventLog) -> None:
    model = DecayedPopularity(kernel="linear", half_life=timedelta(hours=12)).fit(trending)
    np.testing.assert_allclose(model.popularity(10 * DAY), [0.0, 1.0])  # day 9 is 2h old
    np.testing.assert_allclose(model.popularity(9.5 * DAY), [0.0, 0.5])


def test_explain_lists_the_item_events(trending: EventLog) -> None:
    model = DecayedPopularity(half_life=timedelta(days=1)).fit(trending)
    explanation = model.explain("0", "1", at=10 * DAY)
    assert explanation.score == pytest.approx(1.5)
    assert explanation.components == {"item_popularity": pytest.approx(1.5)}
    assert [e.contribution for e in explanation.events] == pytest.approx([1.0, 0.5])
    assert [e.age for e in explanation.events] == [timedelta(0), timedelta(days=1)]
    assert explanation.events[1].decay == pytest.approx(0.5)
    assert explanation.half_life == timedelta(days=1)
    assert "score 1.5" in explanation.to_text()


def test_explain_caps_the_event_list() -> None:
    n = 250
    log = EventLog.from_indices(
        user_index=np.arange(n),
        item_index=np.zeros(n, dtype=int),
        timestamp_seconds=np.arange(n, dtype=float) * 60.0,
        event_type=np.full(n, V),
    )
    model = DecayedPopularity(half_life=None).fit(log)
    explanation = model.explain("0", "0", at=n * 60.0)
    assert explanation.score == n
    assert len(explanation.events) == 100
    assert explanation.events[0].age == timedelta(minutes=1)  # ties: most recent first
