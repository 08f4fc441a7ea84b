"""Fixtures of the service tests: a saved model, and `decayrec serve` running on a free port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx
import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog, EventType
from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.models import DecayedProfile
from decayrec.serve.store.redis import split_prefix

REDIS_URL = os.environ.get("DECAYREC_REDIS_URL", "redis://127.0.0.1:6379/15")
#: The server and database of :data:`REDIS_URL` without a key prefix: each test brings its own.
REDIS_SERVER = split_prefix(REDIS_URL)[0]
HALF_LIFE = timedelta(days=5)


@dataclass
class Shop:
    """The simulated log split in two: the model is fitted on ``train``, ``live`` is ingested."""

    train: EventLog
    live: EventLog
    model_dir: Path


@pytest.fixture(scope="session")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Shop:
    log = simulate_shop(
        ShopConfig(n_users=400, n_items=300, n_categories=8, days=60, seed=5)
    ).events
    seconds = log.timestamp_seconds
    cut = float(np.quantile(seconds, 0.8))
    train, live = log.filter(pl.Series(seconds <= cut)), log.filter(pl.Series(seconds > cut))
    folder = tmp_path_factory.mktemp("served") / "model"
    DecayedProfile(half_life=HALF_LIFE).fit(train).save(folder)
    return Shop(train, live, folder)


def as_payload(log: EventLog, prefix: str = "e") -> list[dict[str, object]]:
    """The log as ``POST /v1/events`` bodies' events (ids ``prefix0``, ``prefix1``, ...)."""
    frame = log.frame
    users = log.users.raw(frame["user_index"].to_numpy())
    items = log.items.raw(frame["item_index"].to_numpy())
    codes = frame["category_index"].to_numpy()
    categories = [
        str(c) if k >= 0 else None
        for c, k in zip(log.categories.raw(np.maximum(codes, 0)), codes, strict=True)
    ]
    kinds = frame["event_type"].to_numpy()
    return [
        {
            "event_id": f"{prefix}{k}",
            "user_id": str(u),
            "item_id": str(i),
            "category_id": c,
            "event_type": EventType(int(t)).label,
            "timestamp": float(s),
        }
        for k, (u, i, c, t, s) in enumerate(
            zip(users, items, categories, kinds, log.timestamp_seconds, strict=True)
        )
    ]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """`decayrec serve` as a child process (real uvicorn, real HTTP)."""

    def __init__(self, model_dir: Path, store: str, env: dict[str, str] | None = None) -> None:
        self.model_dir, self.store = model_dir, store
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("DECAYREC_")}
        self.env = {**inherited, **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.log = model_dir.parent / f"serve-{id(self)}.log"

    def start(self) -> Server:
        port = free_port()
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "decayrec", "serve", "--model", str(self.model_dir),
                   "--store", self.store, "--port", str(port)]  # fmt: skip
        with open(self.log, "ab") as output:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"decayrec serve exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("decayrec serve did not answer /healthz within 60 s")

    def kill(self) -> None:
        """``kill -9``: no shutdown handler runs."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.kill()


def redis_available() -> bool:
    try:
        import redis

        redis.Redis.from_url(REDIS_SERVER, socket_connect_timeout=1).ping()
    except Exception:
        return False
    return True


def redis_url_of_this_test() -> str:
    """:data:`REDIS_URL` with a key prefix of its own, so test runs sharing the database (two
    checkouts, CI beside a session) never read or clear each other's events."""
    separator = "&" if "?" in REDIS_SERVER else "?"
    return f"{REDIS_SERVER}{separator}prefix=decayrec-test-{uuid.uuid4().hex}"


@pytest.fixture(params=["sqlite", "redis"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """Each store in turn: a fresh SQLite file, or Redis under a fresh key prefix (its keys
    deleted afterwards)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'state.db'}"
        return
    if not redis_available():
        pytest.skip(f"no Redis server answers at {REDIS_URL} (set DECAYREC_REDIS_URL)")
    from decayrec.serve.store.redis import RedisStore

    url = redis_url_of_this_test()
    yield url
    store = RedisStore(url)
    store.clear()
    store.close()


@pytest.fixture
def server(shop: Shop, store_url: str) -> Iterator[Server]:
    running = Server(shop.model_dir, store_url).start()
    yield running
    running.stop()
