"""Durability of the embedded store: acknowledged events survive ``kill -9``."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest
from tests.integration.serve.conftest import HALF_LIFE, Server, Shop, as_payload

from decayrec.data.schema import EventLog, EventType
from decayrec.models import DecayedProfile
from decayrec.serve.store.sqlite import SQLiteStore

pytestmark = pytest.mark.slow


def test_every_acknowledged_event_survives_kill_9(shop: Shop, tmp_path: Path) -> None:
    store_path = tmp_path / "state.db"
    store_url = f"sqlite:///{store_path}"
    events = as_payload(shop.live, prefix="crash-")
    batches = [events[k : k + 50] for k in range(0, len(events), 50)]
    acknowledged: list[str] = []
    server = Server(shop.model_dir, store_url).start()

    def ingest_until_killed() -> None:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for batch in batches:
                try:
                    reply = client.post("/v1/events", json={"events": batch})
                except httpx.TransportError:
                    return  # the server died mid-request: that batch was never acknowledged
                assert reply.status_code == 200, reply.text
                acknowledged.extend(e["event_id"] for e in batch)  # type: ignore[misc]

    writer = threading.Thread(target=ingest_until_killed)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 10 * 50 and time.monotonic() < deadline:
        time.sleep(0.01)
    server.kill()  # SIGKILL while batches are in flight
    writer.join()
    assert 0 < len(acknowledged) < len(events), "the kill must land mid-stream"

    restarted = Server(shop.model_dir, store_url).start()
    try:
        store = SQLiteStore(store_path)
        stored = store.read_since(0)
        store.close()
        assert set(acknowledged) <= set(stored.event_id)  # nothing acknowledged is lost
        health = httpx.get(f"{restarted.url}/healthz").json()
        assert health["events"] == len(shop.train) + len(stored)
        # The restarted state is a replay of the model's events plus the store's.
        e = stored.events
        replay = shop.train.concat(
            EventLog.from_frame(
                pl.DataFrame(
                    {
                        "user_id": e.user_id,
                        "item_id": e.item_id,
                        "category_id": e.category_id,
                        "timestamp": [datetime.fromtimestamp(s, UTC) for s in e.seconds],
                        "event_type": [EventType(int(t)).label for t in e.event_type],
                    }
                )
            )
        )
        refit = DecayedProfile(half_life=HALF_LIFE).fit(replay)
        at = float(replay.timestamp_seconds.max()) + 60.0
        users = sorted(set(e.user_id))[:10]
        expected = refit.recommend(users, at=at, n=10)
        for row, user in enumerate(users):
            body = httpx.get(
                f"{restarted.url}/v1/users/{user}/recommendations", params={"at": at}
            ).json()
            assert [i["item_id"] for i in body["items"]] == expected.item_ids(row)
            np.testing.assert_allclose(
                [i["score"] for i in body["items"]], expected.scores[row], rtol=1e-9
            )
    finally:
        restarted.stop()
