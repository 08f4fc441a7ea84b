"""Every endpoint over real HTTP (uvicorn in a child process), with both stores."""

from __future__ import annotations

import httpx
import numpy as np
import pytest
from tests.integration.serve.conftest import HALF_LIFE, Server, Shop, as_payload

from decayrec.models import DecayedProfile

pytestmark = pytest.mark.slow


def _ingest(url: str, events: list[dict[str, object]], size: int = 500) -> tuple[int, int]:
    accepted = duplicate = 0
    with httpx.Client(base_url=url, timeout=30) as client:
        for start in range(0, len(events), size):
            reply = client.post("/v1/events", json={"events": events[start : start + size]})
            assert reply.status_code == 200, reply.text
            accepted += reply.json()["accepted"]
            duplicate += reply.json()["duplicate"]
    return accepted, duplicate


def test_ingested_events_move_recommendations_exactly_like_a_refit(
    server: Server, shop: Shop
) -> None:
    events = as_payload(shop.live)
    assert _ingest(server.url, events) == (len(events), 0)
    assert _ingest(server.url, events[:700]) == (0, 700)  # idempotent by event_id
    at = float(shop.live.timestamp_seconds.max()) + 3600.0
    refit = DecayedProfile(half_life=HALF_LIFE).fit(shop.train.concat(shop.live))
    active = np.unique(shop.live.frame["user_index"].to_numpy())[:15]
    users = [str(u) for u in shop.live.users.raw(active)]
    expected = refit.recommend(users, at=at, n=10)
    for row, user in enumerate(users):
        reply = httpx.get(f"{server.url}/v1/users/{user}/recommendations", params={"at": at})
        assert reply.status_code == 200, reply.text
        body = reply.json()
        assert [i["item_id"] for i in body["items"]] == expected.item_ids(row)
        np.testing.assert_allclose(
            [i["score"] for i in body["items"]], expected.scores[row], rtol=1e-9
        )
        assert body["fallback"] == expected.fallback[row]


def test_a_bad_event_rejects_the_whole_batch_naming_field_and_index(
    server: Server, shop: Shop
) -> None:
    events = as_payload(shop.live)[:5]
    events[3] = {**events[3], "timestamp": "yesterday"}
    reply = httpx.post(f"{server.url}/v1/events", json={"events": events})
    assert reply.status_code == 422
    assert reply.json()["detail"][0]["loc"] == ["body", "events", 3, "timestamp"]
    wrong = [{**events[0], "event_type": "clik"}]
    detail = httpx.post(f"{server.url}/v1/events", json={"events": wrong}).json()["detail"]
    assert detail[0]["loc"] == ["body", "events", 0, "event_type"] and "clik" in detail[0]["msg"]
    moved = [{**events[1], "category_id": "not-its-category"}]
    reply = httpx.post(f"{server.url}/v1/events", json={"events": moved})
    assert reply.status_code == 422 and reply.json()["detail"][0]["loc"][2] == 0
    health = httpx.get(f"{server.url}/healthz").json()
    assert health["events"] == len(shop.train)  # nothing of the rejected batches was applied


def test_unknown_users_get_flagged_popularity_and_explanations(server: Server, shop: Shop) -> None:
    at = float(shop.train.timestamp_seconds.max()) + 60.0
    body = httpx.get(
        f"{server.url}/v1/users/nobody/recommendations", params={"at": at, "n": 3}
    ).json()
    assert body["fallback"] is True and len(body["items"]) == 3
    user = str(shop.train.users.raw([0])[0])
    body = httpx.get(
        f"{server.url}/v1/users/{user}/recommendations",
        params={"at": at, "n": 3, "explain": "true"},
    ).json()
    for item in body["items"]:
        parts = item["explanation"]
        total = parts["category_interest"] * parts["item_popularity"] + parts["repeat"]
        assert total == pytest.approx(item["score"])


def test_interests_forecast_and_segments(server: Server, shop: Shop) -> None:
    at = float(shop.train.timestamp_seconds.max()) + 60.0
    user = str(shop.train.users.raw([0])[0])
    body = httpx.get(
        f"{server.url}/v1/users/{user}/interests", params={"at": at, "horizon": "7d"}
    ).json()
    rows = body["categories"]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    for r in rows:  # no new events: every category fades by 2^(-7/5) over 7 days
        assert r["forecast_interest"] == pytest.approx(r["interest"] * 2 ** (-7 / 5))
    # A finite number too large for a duration (found by the schema fuzz test) is the
    # client's error, named, not a server error.
    huge = httpx.get(
        f"{server.url}/v1/users/{user}/interests", params={"at": at, "horizon": "1E100"}
    )
    assert huge.status_code == 422 and "horizon" in huge.text and "1E100" in huge.text
    category = rows[0]["category_id"]
    users = httpx.get(
        f"{server.url}/v1/segments",
        params={"category": category, "at": at, "min_interest": 0.5, "limit": 1000},
    ).json()["users"]
    assert user in {u["user_id"] for u in users} or rows[0]["share"] < 0.5
    assert all(u["share"] >= 0.5 for u in users)
    shares = [u["share"] for u in users]
    assert shares == sorted(shares, reverse=True)
    fading = httpx.get(
        f"{server.url}/v1/segments",
        params={"category": category, "at": at, "min_interest": 0, "fading": "true",
                "within": "7d", "threshold": 1.0, "limit": 1000},
    ).json()["users"]  # fmt: skip
    for u in fading:
        assert 1.0 <= u["interest"] < 2 ** (7 / 5)  # above 1 now, below 1 in 7 days
    assert httpx.get(f"{server.url}/v1/segments", params={"category": "nope"}).status_code == 404


def test_rerank_blends_base_order_and_interest(server: Server, shop: Shop) -> None:
    at = float(shop.train.timestamp_seconds.max()) + 60.0
    user = str(shop.train.users.raw([0])[0])
    items = [str(i) for i in shop.train.items.raw(np.arange(20))]
    candidates = [{"item_id": i, "score": float(20 - k)} for k, i in enumerate(items)]
    keep = httpx.post(
        f"{server.url}/v1/rerank",
        json={"user_id": user, "items": candidates, "alpha": 0.0, "at": at},
    ).json()
    assert [i["item_id"] for i in keep["items"]] == items
    personal = httpx.post(
        f"{server.url}/v1/rerank",
        json={"user_id": user, "items": candidates, "alpha": 1.0, "at": at},
    ).json()["items"]
    values = [i["personal"] for i in personal]
    assert values == sorted(values, reverse=True) and values[0] == 1.0
    mixed = [*candidates[:2], {"item_id": items[2]}]
    reply = httpx.post(f"{server.url}/v1/rerank", json={"user_id": user, "items": mixed})
    assert reply.status_code == 422 and "items[2]" in reply.text


def test_reload_health_metrics_and_limits(server: Server, shop: Shop) -> None:
    _ingest(server.url, as_payload(shop.live)[:1000])
    reply = httpx.post(f"{server.url}/v1/model/reload", timeout=60)
    assert reply.status_code == 200, reply.text
    assert reply.json()["events"] == len(shop.train) + 1000  # the store is replayed
    metrics = httpx.get(f"{server.url}/metrics").text
    assert 'decayrec_events_total{outcome="accepted"} 1000' in metrics
    assert "decayrec_request_seconds_bucket" in metrics
    huge = httpx.post(
        f"{server.url}/v1/events",
        content=b" " * (9 * 1024 * 1024),  # over the 8 MiB default
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413 and "8388608 bytes" in huge.text
    too_many = httpx.get(f"{server.url}/v1/users/u1/recommendations", params={"n": 10**6})
    assert too_many.status_code == 422 and too_many.json()["detail"][0]["loc"] == ["query", "n"]
    past = httpx.get(f"{server.url}/v1/users/u1/recommendations", params={"at": 0})
    assert past.status_code == 422 and "at" in past.text
    # Seconds no date can show (found by the schema fuzz test) are the client's error, named;
    # the last representable days still answer.
    for unshowable in ("1E100", "nan", "-inf"):
        reply = httpx.get(f"{server.url}/v1/users/u1/recommendations", params={"at": unshowable})
        assert reply.status_code == 422, reply.text
        assert "'at'" in reply.text and unshowable in reply.text
    far = httpx.get(f"{server.url}/v1/users/u1/recommendations", params={"at": "9999-12-29"})
    assert far.status_code == 200, far.text


def test_api_keys_and_scopes(shop: Shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    keys = "reader:read,writer:write+read,boss:admin"
    server = Server(
        shop.model_dir, f"sqlite:///{tmp_path / 's.db'}", {"DECAYREC_API_KEYS": keys}
    ).start()
    try:
        event = as_payload(shop.live)[:1]
        url = f"{server.url}/v1/events"
        assert httpx.post(url, json={"events": event}).status_code == 401
        assert (
            httpx.post(url, json={"events": event}, headers={"X-API-Key": "x"}).status_code == 401
        )
        reader = {"X-API-Key": "reader"}
        assert httpx.post(url, json={"events": event}, headers=reader).status_code == 403
        writer = {"X-API-Key": "writer"}
        assert httpx.post(url, json={"events": event}, headers=writer).status_code == 200
        recs = f"{server.url}/v1/users/u1/recommendations"
        assert httpx.get(recs, headers=reader).status_code == 200
        reload = f"{server.url}/v1/model/reload"
        assert httpx.post(reload, headers=writer).status_code == 403
        assert httpx.post(reload, headers={"X-API-Key": "boss"}, timeout=60).status_code == 200
    finally:
        server.stop()


def test_reload_swaps_the_model_without_dropping_requests(server: Server, shop: Shop) -> None:
    import threading

    statuses: list[int] = []
    done = threading.Event()

    def read_while_reloading() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            while not done.is_set():
                statuses.append(client.get("/v1/users/u1/recommendations").status_code)

    reader = threading.Thread(target=read_while_reloading)
    reader.start()
    try:
        for _ in range(3):
            assert httpx.post(f"{server.url}/v1/model/reload", timeout=60).status_code == 200
    finally:
        done.set()
        reader.join()
    assert len(statuses) > 10 and set(statuses) == {200}


def test_unknown_user_interests_are_404(server: Server) -> None:
    reply = httpx.get(f"{server.url}/v1/users/nobody/interests")
    assert reply.status_code == 404 and "nobody" in reply.text


def test_the_service_refuses_a_model_it_cannot_update(shop: Shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from decayrec.models import DecayedItemKNN

    folder = tmp_path / "knn"
    DecayedItemKNN().fit(shop.train).save(folder)
    with pytest.raises(RuntimeError, match="decayed-profile"):  # the CLI refuses it
        Server(folder, f"sqlite:///{tmp_path / 's.db'}").start()
