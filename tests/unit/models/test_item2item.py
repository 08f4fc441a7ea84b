"""Known answers for DecayedItemKNN: similarity measures on a tiny co-occurrence pattern."""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest
import scipy.sparse as sp

from decayrec.data.schema import EventLog, EventType
from decayrec.errors import InvalidParameterError
from decayrec.models import DecayedItemKNN, item_similarity

DAY = 86_400.0
V = int(EventType.VIEW)

#: u0: i0 i1 | u1: i0 i1 i2 | u2: i0 i2 | u3: i3  ->  C00=3 C11=2 C22=2 C33=1, C01=2 C02=2 C12=1
BASKETS = [[0, 1], [0, 1, 2], [0, 2], [3]]


def basket_log() -> EventLog:
    users = [u for u, items in enumerate(BASKETS) for _ in items]
    items = [i for basket in BASKETS for i in basket]
    return EventLog.from_indices(
        user_index=users,
        item_index=items,
        timestamp_seconds=np.arange(len(items), dtype=float),
        event_type=[V] * len(items),
    )


EXPECTED = {
    "cooccurrence": {(0, 1): 2.0, (0, 2): 2.0, (1, 2): 1.0},
    "jaccard": {(0, 1): 2 / 3, (0, 2): 2 / 3, (1, 2): 1 / 3},
    "cosine": {(0, 1): 2 / math.sqrt(6), (0, 2): 2 / math.sqrt(6), (1, 2): 1 / 2},
    "lift": {(0, 1): 2 / 6, (0, 2): 2 / 6, (1, 2): 1 / 4},
    "inclusion": {(0, 1): 1.0, (0, 2): 1.0, (1, 2): 1 / 2},
}


@pytest.mark.parametrize("similarity", list(EXPECTED))
def test_similarity_measures(similarity: str) -> None:
    model = DecayedItemKNN(similarity=similarity).fit(basket_log())  # type: ignore[arg-type]
    expected = np.zeros((4, 4))
    for (a, b), value in EXPECTED[similarity].items():
        expected[a, b] = expected[b, a] = value
    np.testing.assert_allclose(model.similarity_.toarray(), expected, rtol=1e-12)


def test_scores_are_affinity_times_similarity() -> None:
    log = basket_log()
    model = DecayedItemKNN(similarity="cosine", half_life=None, self_weight=0.0).fit(log)
    # u2 viewed i0 and i2 (weight 1 each): scores = S[0] + S[2].
    scores = dict(model.recommend(["2"], at=100.0, n=4, exclude="none").for_user("2"))
    s = model.similarity_.toarray()
    assert scores == pytest.approx({str(i): s[0, i] + s[2, i] for i in range(4)})
    # Without own items, i1 is the only new item; i3 never co-occurs and scores 0.
    assert model.recommend(["2"], at=100.0, n=2, exclude="seen").item_ids(0) == ["1", "3"]


def test_decay_weights_recent_items_more() -> None:
    """A user saw i3 recently and i1 long ago; i4 goes with i3 and i0 with i1."""
    baskets = [[0, 1], [0, 1], [3, 4], [3, 4], [4, 3]]
    users = [u for u, b in enumerate(baskets) for _ in b] + [9, 9]
    items = [i for b in baskets for i in b] + [1, 3]
    seconds = [0.0] * (len(items) - 2) + [0.0, 30 * DAY]
    seconds[4:10] = [29 * DAY] * 6  # the i3/i4 crowd
    log = EventLog.from_indices(
        user_index=users,
        item_index=items,
        timestamp_seconds=seconds,
        event_type=[V] * len(items),
    )
    # Make i0/i1 the stronger pair without decay: a third basket.
    log = log.concat(
        EventLog.from_indices(
            user_index=[0, 0], item_index=[0, 1], timestamp_seconds=[1.0, 2.0], event_type=[V, V]
        )
    )
    decayed = DecayedItemKNN(similarity="cooccurrence", half_life=timedelta(days=1)).fit(log)
    plain = DecayedItemKNN(similarity="cooccurrence", half_life=None).fit(log)
    at = 30 * DAY
    assert decayed.recommend(["9"], at=at, n=1, exclude="seen").item_ids(0) == ["4"]
    assert plain.recommend(["9"], at=at, n=1, exclude="seen").item_ids(0) == ["4"]
    # Before the recent view only the old item counts.
    assert decayed.recommend(["9"], at=29 * DAY, n=1, exclude="seen").item_ids(0) == ["0"]


def test_max_neighbours_keeps_the_best_and_breaks_ties_by_index() -> None:
    counts = sp.csr_matrix(
        np.array([[5, 3, 3, 1], [3, 3, 0, 0], [3, 0, 3, 0], [1, 0, 0, 1]], dtype=float)
    )
    pruned = item_similarity(counts, "cooccurrence", max_neighbours=1).toarray()
    assert pruned.tolist() == [
        [0.0, 3.0, 0.0, 0.0],  # 1 and 2 tie on 3: the lower index stays
        [3.0, 0.0, 0.0, 0.0],
        [3.0, 0.0, 0.0, 0.0],
        [1.0, 0.0, 0.0, 0.0],
    ]
    thresholded = item_similarity(counts, "cooccurrence", min_cooccurrence=2).toarray()
    assert thresholded[0, 3] == 0.0 and thresholded[0, 1] == 3.0


def test_session_units_count_within_sessions() -> None:
    log = EventLog.from_indices(
        user_index=[0, 0, 0, 0],
        item_index=[0, 1, 2, 3],
        timestamp_seconds=[0.0, 1.0, DAY, DAY + 1],
        event_type=[V] * 4,
        session_id=np.array(["a", "a", "b", "b"], dtype=object),
    )
    by_user = DecayedItemKNN(similarity="cooccurrence").fit(log).similarity_.toarray()
    by_session = (
        DecayedItemKNN(similarity="cooccurrence", cooccurrence_by="session")
        .fit(log)
        .similarity_.toarray()
    )
    assert by_user[0, 2] == 1.0 and by_session[0, 2] == 0.0
    assert by_session[0, 1] == 1.0 and by_session[2, 3] == 1.0


def test_self_weight_scores_own_items() -> None:
    log = basket_log()
    plain = DecayedItemKNN(similarity="cosine", half_life=None, self_weight=0.0).fit(log)
    own = DecayedItemKNN(similarity="cosine", half_life=None, self_weight=3.0).fit(log)
    # u3's only item has no neighbours: without self_weight no live score, so popularity.
    before = plain.recommend(["3"], at=100.0, n=4, exclude="none")
    assert before.fallback.tolist() == [True]
    after = own.recommend(["3"], at=100.0, n=4, exclude="none")
    assert after.fallback.tolist() == [False]
    assert after.for_user("3")[0] == ("3", 3.0)
    explanation = own.explain("3", "3", at=100.0)
    assert explanation.components == {"similarity": 0.0, "repeat": 3.0}
    assert explanation.score == 3.0


def test_explain_sums_the_contributions() -> None:
    model = DecayedItemKNN(similarity="jaccard", half_life=timedelta(seconds=2)).fit(basket_log())
    explanation = model.explain("1", "2", at=10.0)
    assert explanation.score == pytest.approx(sum(e.contribution for e in explanation.events))
    # u1's own event on i2 comes first (self_weight 1), then i0, which is closer to i2 than i1.
    assert [e.item_id for e in explanation.events] == ["2", "0", "1"]
    assert explanation.category_interest is None


def test_sequence_window_links_only_nearby_events() -> None:
    # One user sees 0, 1, 2, 3 in that order (file order shuffled): with a window of 1 only
    # neighbours in time pair up; with 2, items two apart pair with half the weight.
    log = EventLog.from_indices(
        user_index=[0, 0, 0, 0],
        item_index=[3, 1, 0, 2],
        timestamp_seconds=[3.0, 1.0, 0.0, 2.0],
        event_type=[0, 0, 0, 0],
    )
    near = DecayedItemKNN(similarity="cooccurrence", sequence_window=1).fit(log).similarity_
    assert near.toarray()[0].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert near.toarray()[1].tolist() == [1.0, 0.0, 1.0, 0.0]
    wider = (
        DecayedItemKNN(similarity="cooccurrence", sequence_window=2, sequence_step_decay=0.5)
        .fit(log)
        .similarity_
    )
    assert wider.toarray()[0].tolist() == [0.0, 1.0, 0.5, 0.0]
    whole = DecayedItemKNN(similarity="cooccurrence").fit(log).similarity_
    assert whole.toarray()[0].tolist() == [0.0, 1.0, 1.0, 1.0]


def test_backward_weight_favours_what_came_next() -> None:
    # Shoppers 0 and 1 see item 0, then 1, then 2 (a day apart); shopper 2 sees 3 and 4 at
    # the same instant; shopper 3 has seen item 1 alone. Backward pairs weigh 0.25, pairs at
    # one instant count fully both ways.
    day = 86_400.0
    log = EventLog.from_indices(
        user_index=[0, 0, 0, 1, 1, 1, 2, 2, 3],
        item_index=[0, 1, 2, 0, 1, 2, 4, 3, 1],
        timestamp_seconds=[0.0, day, 2 * day, 0.0, day, 2 * day, 5.0, 5.0, day],
        event_type=[0] * 9,
    )
    params = {"similarity": "cooccurrence", "sequence_window": 1}
    directed = DecayedItemKNN(**params, sequence_backward_weight=0.25).fit(log).similarity_
    assert directed[0, 1] == 2.0 and directed[1, 0] == 0.5
    assert directed[1, 2] == 2.0 and directed[2, 1] == 0.5
    assert directed[3, 4] == directed[4, 3] == 1.0
    symmetric = DecayedItemKNN(**params).fit(log).similarity_
    assert (symmetric != symmetric.T).nnz == 0 and symmetric[1, 0] == 2.0
    forward_only = DecayedItemKNN(**params, sequence_backward_weight=0.0).fit(log).similarity_
    assert forward_only[1, 0] == 0.0 and forward_only[0, 1] == 2.0
    # Shopper 3 is shown item 2 (what followed item 1 for others) before item 0.
    model = DecayedItemKNN(**params, sequence_backward_weight=0.25, self_weight=0.0).fit(log)
    assert model.recommend(["3"], at=3 * day, n=2).item_ids(0) == ["2", "0"]


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sequence_window": 0}, "sequence_window"),
        ({"sequence_window": 2, "sequence_step_decay": 0.0}, "sequence_step_decay"),
        ({"sequence_window": 2, "sequence_backward_weight": -0.1}, "sequence_backward_weight"),
        ({"sequence_window": 2, "sequence_backward_weight": 1.5}, "sequence_backward_weight"),
        ({"sequence_window": 2, "sequence_backward_weight": True}, "sequence_backward_weight"),
        ({"sequence_window": 2, "cooccurrence_by": "session"}, "sequence_window"),
    ],
)
def test_sequence_window_parameters_are_checked(params: dict[str, object], name: str) -> None:
    log = EventLog.from_indices(
        user_index=[0, 0], item_index=[0, 1], timestamp_seconds=[0.0, 1.0], event_type=[0, 0]
    )
    with pytest.raises(InvalidParameterError, match=f"'{name}'"):
        DecayedItemKNN(**params).fit(log)  # type: ignore[arg-type]
