"""The Redis store against a real server: key prefixes keep services sharing a database apart."""

from __future__ import annotations

import pytest

from decayrec.serve.store import StoredEvents, open_store

from .conftest import REDIS_URL, redis_available, redis_url_of_this_test

pytestmark = pytest.mark.skipif(
    not redis_available(), reason=f"no Redis server answers at {REDIS_URL} (set DECAYREC_REDIS_URL)"
)


def _events(ids: list[str]) -> StoredEvents:
    rows = [[event_id, "u1", f"item-{event_id}", "c1", 1_700_000_000.0, 0] for event_id in ids]
    return StoredEvents.from_rows(rows)


def test_stores_under_two_prefixes_see_only_their_own_events() -> None:
    shop_a, shop_b = open_store(redis_url_of_this_test()), open_store(redis_url_of_this_test())
    try:
        assert shop_a.append(_events(["e1", "e2"])).tolist() == [True, True]
        # The same event id is new to the other prefix: ids are deduplicated per store.
        assert shop_b.append(_events(["e2", "e3"])).tolist() == [True, True]
        assert shop_a.count() == 2 and shop_b.count() == 2
        assert list(shop_a.read_since(0).event_id) == ["e1", "e2"]
        assert list(shop_b.read_since(0).event_id) == ["e2", "e3"]
        shop_a.clear()
        assert shop_a.count() == 0
        assert list(shop_b.read_since(0).event_id) == ["e2", "e3"]  # untouched
    finally:
        for store in (shop_a, shop_b):
            store.clear()
            store.close()


def test_a_store_opened_again_under_its_prefix_reads_what_was_stored() -> None:
    url = redis_url_of_this_test()
    first = open_store(url)
    try:
        first.append(_events(["x1"]))
        again = open_store(url)
        assert again.append(_events(["x1", "x2"])).tolist() == [False, True]
        assert again.read_since(0).event_id == ["x1", "x2"]
        again.close()
    finally:
        first.clear()
        first.close()
