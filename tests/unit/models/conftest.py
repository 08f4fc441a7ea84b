"""Small synthetic shop logs for the model tests (no simulator: fixed, readable structure).

Raw ids differ from indices (``u03``, ``i17``, ``c2``) so that a mix-up of the two shows.
"""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog, EventType, Vocabulary

DAY = 86_400.0
N_USERS = 30
N_ITEMS = 48
N_CATEGORIES = 5
#: Items 0..39 fall into 5 categories of 8; items 40..47 have no category.
ITEM_CATEGORY = np.where(np.arange(N_ITEMS) < 40, np.arange(N_ITEMS) // 8, -1)


def synthetic_log(seed: int = 0, *, n_users: int = N_USERS) -> EventLog:
    """Users drift between two favourite categories over 60 days; some re-buy, some repeat.

    Times are rounded to the minute so that equal timestamps occur; sessions group a user's
    events of one day.
    """
    rng = np.random.default_rng(seed)
    users, items, seconds, types, sessions = [], [], [], [], []
    type_choices = np.array(
        [EventType.VIEW, EventType.FAVOURITE, EventType.CART, EventType.PURCHASE, EventType.CLICK]
    )
    for user in range(n_users):
        first, second = rng.choice(N_CATEGORIES, size=2, replace=False)
        n_events = int(rng.integers(4, 26))
        start = rng.uniform(0, 30) * DAY
        times = np.sort(np.round(rng.uniform(start, 60 * DAY, n_events) / 60.0) * 60.0)
        for t in times:
            category = first if t < 30 * DAY else second
            if rng.random() < 0.15:
                item = int(rng.integers(40, N_ITEMS))
            else:
                item = int(category * 8 + rng.integers(0, 8))
            users.append(user)
            items.append(item)
            seconds.append(t)
            types.append(int(rng.choice(type_choices, p=[0.55, 0.1, 0.1, 0.2, 0.05])))
            sessions.append(f"s{user}-{int(t // DAY)}" if rng.random() < 0.9 else None)
        if user % 4 == 0:  # a re-buyer: two purchases in the first category
            for offset in (1.0, 2.0):
                users.append(user)
                items.append(int(first * 8))
                seconds.append(float(times[0]) + offset * 3600.0)
                types.append(int(EventType.PURCHASE))
                sessions.append(None)
    order = np.argsort(np.asarray(seconds), kind="stable")
    item_arr = np.asarray(items)[order]
    return EventLog.from_indices(
        user_index=np.asarray(users)[order],
        item_index=item_arr,
        category_index=ITEM_CATEGORY[item_arr],
        timestamp_seconds=np.asarray(seconds)[order],
        event_type=np.asarray(types)[order],
        session_id=np.array(sessions, dtype=object)[order],
        users=Vocabulary(pl.Series("id", [f"u{u:02d}" for u in range(n_users)])),
        items=Vocabulary(pl.Series("id", [f"i{i:02d}" for i in range(N_ITEMS)])),
        categories=Vocabulary(pl.Series("id", [f"c{c}" for c in range(N_CATEGORIES)])),
    )


@pytest.fixture(scope="session")
def events() -> EventLog:
    return synthetic_log()


@pytest.fixture(scope="session")
def events_without_categories() -> EventLog:
    log = synthetic_log(seed=1)
    frame = log.frame.with_columns(pl.lit(-1, dtype=pl.Int32).alias("category_index"))
    return EventLog(frame, log.users, log.items, Vocabulary(pl.Series("id", [], dtype=pl.String)))
