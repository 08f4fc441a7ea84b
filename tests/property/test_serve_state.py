"""The service's online state answers what a DecayedProfile refitted on every event answers."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
from hypothesis import given, note, settings
from hypothesis import strategies as st

from decayrec.data.schema import EventLog, EventType
from decayrec.models import DecayedProfile
from decayrec.serve.state import EventArrays, OnlineProfile

DAY = 86_400.0
N_ITEMS = 9


def _category(item: int) -> int:
    return -1 if item == N_ITEMS - 1 else item % 4  # the last item has no category


@st.composite
def split_logs(draw: st.DrawFn) -> tuple[EventLog, list[list[int]], np.ndarray]:
    """A log, the rows the model is fitted on (the first batch) and the batches ingested later.

    Later batches arrive in any order (late and out-of-order deliveries) and bring new users,
    items and categories.
    """
    n = draw(st.integers(2, 40))
    users = draw(st.lists(st.integers(0, 5), min_size=n, max_size=n))
    items = draw(st.lists(st.integers(0, N_ITEMS - 1), min_size=n, max_size=n))
    times = draw(st.lists(st.floats(0, 30 * DAY), min_size=n, max_size=n))
    kinds = draw(st.lists(st.sampled_from(list(EventType)), min_size=n, max_size=n))
    log = EventLog.from_indices(
        user_index=users,
        item_index=items,
        category_index=[_category(i) for i in items],
        event_type=kinds,
        timestamp_seconds=times,
    )
    order = draw(st.permutations(range(n)))
    cuts = sorted(draw(st.lists(st.integers(1, n - 1), min_size=1, max_size=3, unique=True)))
    parts = [list(order[a:b]) for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    return log, parts, np.asarray(times)


def _arrays(log: EventLog, rows: list[int]) -> EventArrays:
    frame = log.frame[rows]
    codes = frame["category_index"].to_numpy()
    categories = log.categories.raw(np.maximum(codes, 0))
    return EventArrays(
        user_id=[str(u) for u in log.users.raw(frame["user_index"].to_numpy())],
        item_id=[str(i) for i in log.items.raw(frame["item_index"].to_numpy())],
        category_id=[str(c) if k >= 0 else None for c, k in zip(categories, codes, strict=True)],
        seconds=log.timestamp_seconds[rows],
        event_type=frame["event_type"].to_numpy().astype(np.uint8),
    )


@settings(deadline=None, max_examples=60)
@given(
    data=split_logs(),
    half_life_days=st.floats(0.5, 20),
    repeat_weight=st.sampled_from([0.0, 0.5, 2.0]),
    gap=st.floats(0, 10 * DAY),
)
def test_online_scores_equal_a_refit_on_all_events(
    data: tuple[EventLog, list[list[int]], np.ndarray],
    half_life_days: float,
    repeat_weight: float,
    gap: float,
) -> None:
    log, parts, times = data
    note(f"{log.frame} parts={parts}")
    params = {"half_life": timedelta(days=half_life_days), "repeat_weight": repeat_weight}
    first = log.filter(_mask(len(times), parts[0]))
    state = OnlineProfile(DecayedProfile(**params).fit(first))
    for rows in parts[1:]:
        batch = _arrays(log, rows)
        assert state.category_conflicts(batch) == []
        state.ingest(batch)
    refit = DecayedProfile(**params).fit(log)
    at = float(log.timestamp_seconds.max()) + gap  # the log keeps whole microseconds
    items = [str(i) for i in refit.events_.items.raw(np.arange(refit.n_items))]
    users = [str(u) for u in refit.events_.users.raw(np.arange(len(refit.events_.users)))]
    expected = refit._batch_scores(np.arange(len(users), dtype=np.int32), np.full(len(users), at))
    for row, user in enumerate(users):
        scores, fallback = state.scores(user, at)
        assert fallback == bool(expected[1][row])
        online = scores[[state._items[i] for i in items]]
        np.testing.assert_allclose(online, expected[0][row], rtol=1e-9, atol=1e-300)
        # The same lists up to the order of exact ties (the last tie-break is the item's
        # index, which a refit numbers afresh).
        recommended, _ = state.recommend(user, at, n=4, exclude="purchased")
        batch = refit.recommend([user], at=at, n=4, exclude="purchased")
        kept = batch.scores[0][np.isfinite(batch.scores[0])]
        np.testing.assert_allclose([r.score for r in recommended], kept, rtol=1e-9, atol=1e-300)


def _mask(n: int, rows: list[int]) -> object:
    import polars as pl

    keep = np.zeros(n, dtype=bool)
    keep[rows] = True
    return pl.Series(keep)
