"""Benchmark: `decayrec serve` over real HTTP against the same calls made in process.

Run ``python benchmarks/bench_serve.py [--users 100k] [--items 50k] [--events 1M] [--rate 500]
[--seconds 20] [--batch 500] [--store sqlite|redis] [--client raw|httpx]`` (about 1.5 minutes
with the defaults on two cores; ``--help`` lists the rest). It

1. builds a synthetic log straight from NumPy arrays (Zipf-skewed users and items, each item in
   one of ``--categories`` categories, mostly views with some carts and purchases, times over
   ``--days``), fits ``DecayedProfile()`` on it and saves the model into a temporary folder;
2. measures the in-process baselines: ``OnlineProfile.recommend`` per call, and
   ``store.append + state.ingest`` per batch of ``--batch`` events (a store of the same kind on
   its own file or key prefix);
3. starts ``decayrec serve`` as a child process on a free loopback port over a fresh SQLite
   file (or Redis database 14, its ``decayrec:*`` keys cleared first), checks that a few
   recommendations agree with the in-process ones, then
4. load-tests ``GET /v1/users/{user}/recommendations`` with an *open-loop* generator: requests
   leave at ``--rate`` per second by the wall clock whether or not earlier ones have been
   answered, and latency counts from each request's *scheduled* send time, so a stalled server
   shows up in the percentiles instead of slowing the generator down (no coordinated
   omission). The generator is a minimal asyncio HTTP/1.1 keep-alive client (``RawPool``);
   ``--client httpx`` uses ``httpx.AsyncClient`` instead, which saturates a core of its own
   below 500 requests/s (see ``RawPool``);
5. POSTs batches of new events to ``/v1/events`` (``httpx.AsyncClient``) as fast as
   ``--concurrency`` requests in flight allow, and reports events/s and batch latency;
6. prints the ratios HTTP / in process, and the targets of issue 5 (recommendations p99 < 20 ms
   at 500 requests/s; ingestion >= 20,000 events/s in batches of 500) with met / NOT met.

The server is stopped (terminate, then kill) and every temporary file removed at the end. The
script exits with status 1 if a request failed or HTTP and in-process answers differ.

Why: the service's budget is a few milliseconds of NumPy per request; this shows how much of
the latency and throughput the HTTP stack (uvicorn, FastAPI, pydantic, JSON) and the store add
on top, on the same machine and data. Client and server share the machine: on a two-core VM
the generator's CPU time (printed) competes with the server's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Any, Final

import httpx
import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import format_rate, parse_count, print_environment
from decayrec.data.schema import EventLog, EventType
from decayrec.models import DecayedProfile, load_model
from decayrec.serve.state import EventArrays, OnlineProfile
from decayrec.serve.store import EventStore, StoredEvents
from decayrec.serve.store.sqlite import SQLiteStore

DAY: Final = 86_400.0
START: Final = 1_700_000_000.0  # 2023-11-14T22:13:20Z
#: Share of each event type (view, click, favourite, cart, purchase, rating, review).
TYPE_SHARES: Final = np.array([0.85, 0.0, 0.0, 0.10, 0.05, 0.0, 0.0])
TYPE_LABELS: Final = [EventType(k).label for k in range(len(EventType))]
TARGET_P99_MS: Final = 20.0
TARGET_RATE: Final = 500.0
TARGET_EVENTS_PER_SECOND: Final = 20_000.0
TARGET_BATCH: Final = 500
RECOMMEND_N: Final = 10
REDIS_PREFIX_INPROCESS: Final = "decayrec-bench-inprocess"
REC_ROUTE: Final = "/v1/users/{user_id}/recommendations"
EVENTS_ROUTE: Final = "/v1/events"


# ---------------------------------------------------------------------- data
def make_log(
    n_events: int, n_users: int, n_items: int, n_categories: int, days: float, seed: int
) -> tuple[EventLog, npt.NDArray[np.int64]]:
    """A synthetic log in time order, and each item index's category index."""
    rng = np.random.default_rng(seed)
    # Zipf-like activity and popularity: a few heavy users and best-selling items.
    user_weight = 1.0 / np.arange(1, n_users + 1) ** 0.6
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users = rng.choice(n_users, size=n_events, p=user_weight / user_weight.sum())
    items = rng.permutation(n_items)[
        rng.choice(n_items, size=n_events, p=item_weight / item_weight.sum())
    ]  # popularity is not ordered by index
    item_category = rng.integers(0, n_categories, size=n_items).astype(np.int64)
    micros = np.sort(rng.integers(0, int(days * DAY * 1e6), size=n_events))
    types = rng.choice(len(TYPE_SHARES), size=n_events, p=TYPE_SHARES / TYPE_SHARES.sum())
    log = EventLog.from_indices(
        user_index=rng.permutation(n_users)[users],
        item_index=items,
        category_index=item_category[items],
        timestamp_seconds=START + micros / 1e6,
        event_type=types,
    )
    return log, item_category


@dataclass(frozen=True)
class Batch:
    """One ingestion batch, column by column (raw ids as the service sees them)."""

    event_id: list[str]
    user_id: list[str]
    item_id: list[str]
    category_id: list[str | None]
    seconds: npt.NDArray[np.float64]
    event_type: npt.NDArray[np.uint8]

    def as_json(self) -> bytes:
        """The ``POST /v1/events`` body."""
        events = [
            {
                "event_id": e,
                "user_id": u,
                "item_id": i,
                "category_id": c,
                "event_type": TYPE_LABELS[t],
                "timestamp": s,
            }
            for e, u, i, c, t, s in zip(
                self.event_id,
                self.user_id,
                self.item_id,
                self.category_id,
                self.event_type.tolist(),
                self.seconds.tolist(),
                strict=True,
            )
        ]
        return json.dumps({"events": events}).encode()

    def as_stored(self) -> StoredEvents:
        """What the service hands its store and state (``_as_stored`` of ``app.py``)."""
        return StoredEvents(
            list(self.event_id),
            EventArrays(
                user_id=list(self.user_id),
                item_id=list(self.item_id),
                category_id=list(self.category_id),
                seconds=self.seconds,
                event_type=self.event_type,
            ),
        )


class BatchMaker:
    """Batches of new events after the log's end: known users and items drawn like the log's
    events (so as skewed), plus a share of new users and new items (each new item keeps one
    category), unique event ids, times increasing batch after batch."""

    def __init__(
        self,
        log: EventLog,
        item_category: npt.NDArray[np.int64],
        *,
        size: int,
        prefix: str,
        seed: int,
        new_user_share: float = 0.10,
        new_item_share: float = 0.05,
    ) -> None:
        self.rng = np.random.default_rng(seed)
        self.size, self.prefix = size, prefix
        self.users = log.user_index.astype(np.int64)
        self.items = log.item_index.astype(np.int64)
        self.item_category = item_category
        self.n_categories = int(item_category.max()) + 1
        self.new_user_share, self.new_item_share = new_user_share, new_item_share
        self.clock = float(log.timestamp_seconds.max()) + 1.0
        self.count = 0

    def __iter__(self) -> Iterator[Batch]:
        return self

    def __next__(self) -> Batch:
        n, rng = self.size, self.rng
        rows = rng.integers(0, len(self.users), size=n)  # random events: activity-weighted
        users: list[str] = [str(u) for u in self.users[rows].tolist()]
        items_idx = self.items[rng.integers(0, len(self.items), size=n)]
        items: list[str] = [str(i) for i in items_idx.tolist()]
        categories: list[str | None] = [str(c) for c in self.item_category[items_idx].tolist()]
        for r in np.flatnonzero(rng.random(n) < self.new_user_share).tolist():
            users[r] = f"new-u{int(rng.integers(0, 20_000))}"
        for r in np.flatnonzero(rng.random(n) < self.new_item_share).tolist():
            k = int(rng.integers(0, 5_000))
            items[r], categories[r] = f"new-i{k}", str(k % self.n_categories)
        seconds = (self.clock + np.arange(n) * 0.01).astype(np.float64)
        self.clock += n * 0.01 + 1.0
        types = rng.choice(len(TYPE_SHARES), size=n, p=TYPE_SHARES / TYPE_SHARES.sum())
        ids = [f"{self.prefix}{k}" for k in range(self.count, self.count + n)]
        self.count += n
        return Batch(ids, users, items, categories, seconds, types.astype(np.uint8))


# ---------------------------------------------------------------------- statistics
def percentiles_ms(seconds: npt.ArrayLike) -> dict[str, float]:
    """p50/p95/p99/max of durations in seconds, as milliseconds (NaN when empty)."""
    values = np.asarray(seconds, dtype=np.float64) * 1e3
    if not values.size:
        return {"p50": float("nan"), "p95": float("nan"), "p99": float("nan"), "max": float("nan")}
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": float(values.max())}


def format_ms(stats: dict[str, float]) -> str:
    return "  ".join(f"{key} {value:8.2f}" for key, value in stats.items())


class CpuMeter:
    """CPU seconds of this process and of the server process, and the machine's steal time.

    Steal time (``/proc/stat``) is CPU time the hypervisor gave to other guests while this
    VM had work to run: on a shared cloud VM it stalls client and server alike and shows up
    in the tail, whatever the service does. Linux only; elsewhere it reads n/a.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

    def _steal(self) -> float | None:
        try:
            fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        except OSError:
            return None
        return int(fields[8]) / self.tick if len(fields) > 8 else None  # cpu ... steal

    def _server(self) -> float | None:
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / self.tick  # utime + stime

    def snapshot(self) -> tuple[float, float | None, float, float | None]:
        return time.process_time(), self._server(), time.perf_counter(), self._steal()

    def describe(self, before: tuple[float, float | None, float, float | None]) -> str:
        client, server, wall, steal = self.snapshot()
        elapsed = max(wall - before[2], 1e-9)
        client_share = 100 * (client - before[0]) / elapsed
        stolen = (
            "n/a" if steal is None or before[3] is None else f"{(steal - before[3]) * 1e3:.0f} ms"
        )
        server_share = (
            "n/a"
            if server is None or before[1] is None
            else f"{100 * (server - before[1]) / elapsed:.0f} %"
        )
        return (
            f"CPU: server {server_share} of one core, client {client_share:.0f} %; "
            f"steal (CPU time the hypervisor gave other guests) {stolen} over all cores"
        )


# ---------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """``decayrec serve`` as a child process."""

    def __init__(self, model_dir: Path, store: str, log_path: Path) -> None:
        self.model_dir, self.store, self.log_path = model_dir, store, log_path
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 300.0) -> float:
        """Start and wait for ``/healthz``; returns the seconds it took."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("DECAYREC_")}
        command = [
            sys.executable, "-m", "decayrec", "serve", "--model", str(self.model_dir),
            "--store", self.store, "--port", str(self.port),
        ]  # fmt: skip
        started = time.perf_counter()
        with open(self.log_path, "ab") as output:
            self.process = subprocess.Popen(
                command, env=env, stdout=output, stderr=subprocess.STDOUT
            )
        while time.perf_counter() - started < timeout:
            if self.process.poll() is not None:
                raise RuntimeError(f"decayrec serve exited:\n{self.log_text()}")
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - started
            time.sleep(0.1)
        raise RuntimeError(f"decayrec serve did not answer /healthz within {timeout:g} s")

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


#: The service's histogram bucket (seconds) that the p99 target is read against.
SLOW_BUCKET: Final = "0.02"


def server_seconds(client: httpx.Client, route: str) -> tuple[float, int, int]:
    """``(sum, count, count within 20 ms)`` of the service's latency histogram for ``route``."""
    total, count, fast = 0.0, 0, 0
    for line in client.get("/metrics").text.splitlines():
        if f'route="{route}"' not in line:
            continue
        if line.startswith("decayrec_request_seconds_sum"):
            total = float(line.rsplit(" ", 1)[1])
        elif line.startswith("decayrec_request_seconds_count"):
            count = int(line.rsplit(" ", 1)[1])
        elif f'le="{SLOW_BUCKET}"' in line:
            fast = int(line.rsplit(" ", 1)[1])
    return total, count, fast


def server_side_mean(before: tuple[float, int, int], after: tuple[float, int, int]) -> str:
    """Mean time inside the app, and how many requests took over 20 ms there."""
    n = after[1] - before[1]
    if n <= 0:
        return "n/a"
    slow = n - (after[2] - before[2])
    return (
        f"{(after[0] - before[0]) / n * 1e3:.2f} ms over {n:,} requests, "
        f"{slow:,} of them over {float(SLOW_BUCKET) * 1e3:g} ms inside the app"
    )


# ---------------------------------------------------------------------- load generators
@dataclass(frozen=True)
class LoadResult:
    due: npt.NDArray[np.float64]  # scheduled send times (loop clock)
    sent: npt.NDArray[np.float64]  # when the request task started
    done: npt.NDArray[np.float64]
    ok: npt.NDArray[np.bool_]
    start: float
    errors: list[str]


def async_client(url: str, connections: int) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, limits=limits, timeout=httpx.Timeout(30.0))


#: One GET: path -> (status, body text for error messages).
Fetch = Callable[[str], Awaitable[tuple[int, str]]]


class RawPool:
    """A minimal HTTP/1.1 keep-alive GET client over ``size`` asyncio stream connections.

    Why not httpx here: on the two-core reference VM ``httpx.AsyncClient`` costs ~3 ms of CPU
    per request (62 % of a core at 200 requests/s), so the generator itself saturates a core
    below 500 requests/s; once it falls behind, requests queue in httpcore's pool, whose
    bookkeeping grows with the queue, and it collapses (81 requests/s achieved at a target of
    500, latencies of minutes, client at 100 % and server at 28 % of a core). This client
    costs ~0.3 ms per request. It expects ``Content-Length`` bodies (what uvicorn sends for
    JSON) and reconnects once when the server has closed an idle connection (GET is
    idempotent).
    """

    def __init__(self, host: str, port: int, size: int) -> None:
        self.host, self.port, self.size = host, port, size
        self.idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None]
        self.idle = asyncio.Queue()

    async def __aenter__(self) -> RawPool:
        for _ in range(self.size):
            self.idle.put_nowait(await asyncio.open_connection(self.host, self.port))
        return self

    async def __aexit__(self, *_: object) -> None:
        while not self.idle.empty():
            connection = self.idle.get_nowait()
            if connection is not None:
                connection[1].close()

    async def get(self, path: str) -> tuple[int, str]:
        connection = await self.idle.get()
        request = f"GET {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n\r\n".encode()
        try:
            for attempt in (0, 1):
                try:
                    if connection is None:
                        connection = await asyncio.open_connection(self.host, self.port)
                    reader, writer = connection
                    writer.write(request)
                    head = await reader.readuntil(b"\r\n\r\n")
                    lower = head.lower()
                    start = lower.index(b"content-length:") + len(b"content-length:")
                    length = int(lower[start : lower.index(b"\r\n", start)])
                    body = await reader.readexactly(length)
                    if b"connection: close" in lower:
                        writer.close()
                        connection = None
                    return int(head[9:12]), body.decode(errors="replace")
                except (OSError, asyncio.IncompleteReadError):
                    if connection is not None:
                        connection[1].close()
                    connection = None
                    if attempt:
                        raise
            raise AssertionError("unreachable")
        finally:
            self.idle.put_nowait(connection)


def httpx_fetch(client: httpx.AsyncClient) -> Fetch:
    async def fetch(path: str) -> tuple[int, str]:
        response = await client.get(path)
        return response.status_code, response.text

    return fetch


async def open_loop(fetch: Fetch, paths: list[str], rate: float) -> LoadResult:
    """GET ``paths[k]`` at ``start + k / rate`` by the wall clock, never waiting for replies."""
    loop = asyncio.get_running_loop()
    n = len(paths)
    due, sent, done = np.empty(n), np.empty(n), np.empty(n)
    ok = np.zeros(n, dtype=bool)
    errors: list[str] = []

    async def one(k: int) -> None:
        sent[k] = loop.time()
        try:
            status, text = await fetch(paths[k])
            ok[k] = status == 200
            if not ok[k]:
                errors.append(f"HTTP {status}: {text[:200]}")
        except (httpx.HTTPError, OSError, asyncio.IncompleteReadError, ValueError) as error:
            errors.append(f"{type(error).__name__}: {error}")
        done[k] = loop.time()

    start = loop.time() + 0.05
    tasks: list[asyncio.Task[None]] = []
    for k in range(n):
        due[k] = start + k / rate
        delay = due[k] - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(k)))
    await asyncio.gather(*tasks)
    return LoadResult(due, sent, done, ok, start, errors)


@dataclass(frozen=True)
class IngestResult:
    latency: npt.NDArray[np.float64]
    accepted: int
    duplicate: int
    seconds: float
    errors: list[str]


async def closed_loop_ingest(
    client: httpx.AsyncClient, batches: Iterator[Batch], seconds: float, concurrency: int
) -> IngestResult:
    """``concurrency`` workers POST one batch after another until ``seconds`` have passed."""
    loop = asyncio.get_running_loop()
    latency: list[float] = []
    errors: list[str] = []
    counts = {"accepted": 0, "duplicate": 0}
    headers = {"content-type": "application/json"}
    start = loop.time()
    deadline = start + seconds
    finished = [start]

    async def worker() -> None:
        while loop.time() < deadline:
            body = next(batches).as_json()
            sent = loop.time()
            try:
                response = await client.post(EVENTS_ROUTE, content=body, headers=headers)
            except httpx.HTTPError as error:
                errors.append(f"{type(error).__name__}: {error}")
                continue
            now = loop.time()
            finished[0] = max(finished[0], now)
            if response.status_code != 200:
                errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                continue
            latency.append(now - sent)
            reply = response.json()
            counts["accepted"] += int(reply["accepted"])
            counts["duplicate"] += int(reply["duplicate"])

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return IngestResult(
        np.asarray(latency),
        counts["accepted"],
        counts["duplicate"],
        finished[0] - start,
        errors,
    )


def run_async(make: Callable[[], Any]) -> Any:
    """``asyncio.run`` (with uvloop when it is installed)."""
    if find_spec("uvloop") is not None:
        import uvloop

        return uvloop.run(make())
    return asyncio.run(make())


# ---------------------------------------------------------------------- in process
@dataclass(frozen=True)
class InProcess:
    recommend: npt.NDArray[np.float64]  # seconds per call
    batch: npt.NDArray[np.float64]  # append + ingest, seconds per batch
    append: npt.NDArray[np.float64]
    ingest: npt.NDArray[np.float64]
    batch_size: int

    @property
    def events_per_second(self) -> float:
        return self.batch_size * len(self.batch) / float(self.batch.sum())


def time_recommend(state: OnlineProfile, users: list[str], at: float) -> npt.NDArray[np.float64]:
    """Seconds per ``state.recommend`` call, one call per user (after 50 warm-up calls)."""
    for user in users[:50]:
        state.recommend(user, at, n=RECOMMEND_N)
    out = np.empty(len(users))
    for k, user in enumerate(users):
        started = time.perf_counter()
        state.recommend(user, at, n=RECOMMEND_N)
        out[k] = time.perf_counter() - started
    return out


def time_ingest(
    state: OnlineProfile, store: EventStore, batches: Iterator[Batch], n_batches: int
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], int]:
    """Seconds of ``store.append`` and of ``state.ingest`` per batch, and the batch size."""
    appended, ingested = np.empty(n_batches), np.empty(n_batches)
    size = 0
    for k in range(n_batches):
        stored = next(batches).as_stored()  # built outside the timing, as the request parses
        size = len(stored)
        started = time.perf_counter()
        new = store.append(stored)
        middle = time.perf_counter()
        state.ingest(stored.take(np.flatnonzero(new)).events)
        appended[k], ingested[k] = middle - started, time.perf_counter() - middle
    return appended, ingested, size


def expected_items(state: OnlineProfile, users: list[str], at: float) -> dict[str, list[str]]:
    """In-process top item ids per user (to compare the server's answers with)."""
    return {u: [item.item_id for item in state.recommend(u, at, n=RECOMMEND_N)[0]] for u in users}


def recommendation_path(user: str, at: float) -> str:
    return f"/v1/users/{user}/recommendations?n={RECOMMEND_N}&at={at!r}"


def check_agrees(
    client: httpx.Client, expected_ids: dict[str, list[str]], at: float
) -> tuple[bool, str]:
    """Same item ids over HTTP as in process, for each user of ``expected_ids``."""
    for user, expected in expected_ids.items():
        response = client.get(recommendation_path(user, at))
        if response.status_code != 200:
            return False, f"user {user}: HTTP {response.status_code} {response.text[:200]}"
        got = [item["item_id"] for item in response.json()["items"]]
        if got != expected:
            return False, f"user {user}: HTTP {got} vs in process {expected}"
    return True, f"{len(expected_ids)} users, top {RECOMMEND_N} item ids identical"


def clear_redis(url: str, prefix: str) -> None:
    from decayrec.serve.store.redis import RedisStore

    store = RedisStore(url, prefix=prefix)
    store.clear()
    store.close()


def folder_mib(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


# ---------------------------------------------------------------------- main
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=parse_count, default=1_000_000, help="default 1M")
    parser.add_argument("--users", type=parse_count, default=100_000, help="default 100k")
    parser.add_argument("--items", type=parse_count, default=50_000, help="default 50k")
    parser.add_argument("--categories", type=parse_count, default=500, help="default 500")
    parser.add_argument("--days", type=float, default=60.0, help="time span (default 60)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s (default 500)")
    parser.add_argument("--seconds", type=float, default=20.0, help="per test (default 20)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds (default 2)")
    parser.add_argument("--connections", type=int, default=64, help="pool size (default 64)")
    parser.add_argument(
        "--client",
        choices=["raw", "httpx"],
        default="raw",
        help="recommendation load generator: a minimal asyncio HTTP/1.1 client (default) or "
        "httpx.AsyncClient (CPU-bound below 500 req/s on two cores)",
    )
    parser.add_argument("--batch", type=parse_count, default=500, help="events (default 500)")
    parser.add_argument("--concurrency", type=int, default=4, help="POSTs in flight (default 4)")
    parser.add_argument("--calls", type=parse_count, default=2_000, help="in-process recommend")
    parser.add_argument("--batches", type=parse_count, default=200, help="in-process batches")
    parser.add_argument("--store", choices=["sqlite", "redis"], default="sqlite")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    print("bench_serve: `decayrec serve` over HTTP vs the same calls in process")
    print_environment(
        ["decayrec", "numpy", "fastapi", "starlette", "pydantic", "uvicorn", "h11", "httptools",
         "uvloop", "httpx", "redis"]
    )  # fmt: skip
    loop_name = "uvloop" if find_spec("uvloop") else "asyncio (uvloop not installed)"
    http_name = "httptools" if find_spec("httptools") else "h11 (httptools not installed)"
    print(f"server: uvicorn, 1 worker, loop {loop_name}, http {http_name}")
    print(
        f"data: {args.events:,} events, {args.users:,} users, {args.items:,} items, "
        f"{args.categories:,} categories over {args.days:g} days"
    )

    started = time.perf_counter()
    log, item_category = make_log(
        args.events, args.users, args.items, args.categories, args.days, args.seed
    )
    generation = time.perf_counter() - started
    known_users = np.unique(log.user_index)
    end = float(log.timestamp_seconds.max())
    at = end + 3_600.0  # an hour after the last event (before any ingested one)
    rng = np.random.default_rng(args.seed + 1)

    def random_users(n: int) -> list[str]:  # uniform over the users with events
        return [str(u) for u in rng.choice(known_users, size=n).tolist()]

    workdir = Path(tempfile.mkdtemp(prefix="bench_serve-"))
    server: Server | None = None
    failures: list[str] = []
    try:
        started = time.perf_counter()
        model = DecayedProfile().fit(log)
        fit = time.perf_counter() - started
        model_dir = workdir / "model"
        started = time.perf_counter()
        model.save(model_dir)
        save = time.perf_counter() - started
        del model
        print(
            f"data generation {generation:.1f} s ({len(known_users):,} users with events); "
            f"fit DecayedProfile() {fit:.1f} s; save {save:.1f} s "
            f"({folder_mib(model_dir):.0f} MiB)"
        )

        # ---- in-process baselines
        started = time.perf_counter()
        loaded = load_model(model_dir)
        assert isinstance(loaded, DecayedProfile)
        state = OnlineProfile(loaded)
        build = time.perf_counter() - started
        if args.store == "sqlite":
            store: EventStore = SQLiteStore(workdir / "inprocess.db")
        else:
            from decayrec.serve.store.redis import RedisStore

            clear_redis(args.redis_url, REDIS_PREFIX_INPROCESS)
            store = RedisStore(args.redis_url, prefix=REDIS_PREFIX_INPROCESS)
        print(
            f"in process: load model + build OnlineProfile {build:.1f} s; store {store.description}"
        )
        baseline_batches = BatchMaker(
            log, item_category, size=args.batch, prefix="inproc-", seed=args.seed + 2
        )
        recommend = time_recommend(state, random_users(args.calls), at)
        expected_ids = expected_items(state, random_users(20), at)  # before any ingestion
        appended, ingested, size = time_ingest(state, store, baseline_batches, args.batches)
        ours = InProcess(recommend, appended + ingested, appended, ingested, size)
        store.close()
        del state
        rec = percentiles_ms(ours.recommend)
        print(f"  recommend(n={RECOMMEND_N}), {len(ours.recommend):,} calls (ms): {format_ms(rec)}")
        print(
            f"  append + ingest, {len(ours.batch)} batches of {ours.batch_size}: "
            f"{format_rate(ours.events_per_second)}; per batch (ms) "
            f"{format_ms(percentiles_ms(ours.batch))}"
        )
        print(
            f"    of which append p50 {np.median(ours.append) * 1e3:.2f} ms, "
            f"ingest p50 {np.median(ours.ingest) * 1e3:.2f} ms"
        )

        # ---- the server
        if args.store == "sqlite":
            store_url = f"sqlite:///{workdir / 'server.db'}"
        else:
            clear_redis(args.redis_url, "decayrec")
            store_url = args.redis_url
        server = Server(model_dir, store_url, workdir / "serve.log")
        startup = server.start()
        print(f"server: {server.url}, store {store_url}; answered /healthz after {startup:.1f} s")
        sync = httpx.Client(base_url=server.url, timeout=30.0)
        agrees, detail = check_agrees(sync, expected_ids, at)
        print(f"check HTTP recommendations vs in process: {'agrees' if agrees else 'DIFFERS'}")
        print(f"  ({detail})")
        if not agrees:
            failures.append("recommendations differ")

        # ---- recommendations, open loop
        print(
            f"recommendations: open loop at {args.rate:g} req/s for {args.seconds:g} s after "
            f"{args.warmup:g} s warm-up; HTTP/1.1 keep-alive, pool of {args.connections}, "
            f"client {args.client}"
        )
        warm_paths = [
            recommendation_path(u, at) for u in random_users(int(args.rate * args.warmup))
        ]
        paths = [recommendation_path(u, at) for u in random_users(int(args.rate * args.seconds))]
        meter = CpuMeter(server.process.pid if server.process else -1)

        async def recommendations() -> tuple[LoadResult, str, tuple[float, int, int]]:
            async with contextlib.AsyncExitStack() as stack:
                if args.client == "raw":
                    pool = RawPool("127.0.0.1", server.port, args.connections)
                    fetch: Fetch = (await stack.enter_async_context(pool)).get
                else:
                    client = async_client(server.url, args.connections)
                    fetch = httpx_fetch(await stack.enter_async_context(client))
                if warm_paths:
                    await open_loop(fetch, warm_paths, args.rate)
                before_server = server_seconds(sync, REC_ROUTE)
                cpu = meter.snapshot()
                result = await open_loop(fetch, paths, args.rate)
                return result, meter.describe(cpu), before_server

        load, cpu_text, before_server = run_async(recommendations)
        n_ok = int(load.ok.sum())
        span = float(load.done.max() - load.start) if len(load.done) else float("nan")
        print(
            f"  sent {len(paths):,}, ok {n_ok:,}, errors {len(paths) - n_ok:,}; "
            f"achieved {n_ok / span:.1f} req/s (answers / time from first send to last answer)"
        )
        from_due = percentiles_ms(load.done[load.ok] - load.due[load.ok])
        from_sent = percentiles_ms(load.done[load.ok] - load.sent[load.ok])
        print(f"  latency from scheduled send (ms): {format_ms(from_due)}")
        print(f"  latency from actual send (ms):    {format_ms(from_sent)}")
        lag = percentiles_ms(load.sent - load.due)
        print(f"  generator lag, actual - scheduled send (ms): {format_ms(lag)}")
        inside = server_side_mean(before_server, server_seconds(sync, REC_ROUTE))
        print(f"  server-side mean (its own histogram, queueing on its loop included): {inside}")
        print(f"  {cpu_text}")
        if n_ok / span < 0.95 * args.rate:
            print(
                f"  note: the server answered {n_ok / span:.0f} of the {args.rate:g} req/s "
                "offered: it is saturated, and the latencies measure its backlog"
            )
        for error in sorted(set(load.errors))[:5]:
            print(f"  error: {error}")
        if load.errors:
            failures.append(f"{len(load.errors)} recommendation requests failed")

        # ---- ingestion, closed loop
        print(
            f"ingestion: {args.concurrency} concurrent POSTs of {args.batch} new events for "
            f"{args.seconds:g} s (10 % new users, 5 % new items)"
        )
        batches = BatchMaker(
            log, item_category, size=args.batch, prefix="http-", seed=args.seed + 3
        )

        async def ingestion() -> tuple[IngestResult, str, tuple[float, int, int]]:
            async with async_client(server.url, args.concurrency) as client:
                await closed_loop_ingest(client, batches, 0.5, args.concurrency)  # warm-up
                before_server = server_seconds(sync, EVENTS_ROUTE)
                cpu = meter.snapshot()
                result = await closed_loop_ingest(client, batches, args.seconds, args.concurrency)
                return result, meter.describe(cpu), before_server

        ingest, cpu_text, before_server = run_async(ingestion)
        http_rate = ingest.accepted / ingest.seconds if ingest.seconds > 0 else 0.0
        print(
            f"  batches {len(ingest.latency):,}, events accepted {ingest.accepted:,}, duplicate "
            f"{ingest.duplicate:,}, errors {len(ingest.errors):,}; {format_rate(http_rate)}"
        )
        print(f"  batch latency (ms): {format_ms(percentiles_ms(ingest.latency))}")
        inside = server_side_mean(before_server, server_seconds(sync, EVENTS_ROUTE))
        print(f"  server-side mean (its own histogram, queueing on its loop included): {inside}")
        print(f"  {cpu_text}")
        for error in sorted(set(ingest.errors))[:5]:
            print(f"  error: {error}")
        if ingest.errors or ingest.duplicate:
            failures.append(f"{len(ingest.errors)} ingestion requests failed")
        health = sync.get("/healthz").json()
        held, expected_events = int(health["events"]), args.events + batches.count
        print(
            f"  check the server's event count: {held:,} "
            f"({'agrees' if held == expected_events else 'DIFFERS'}: log {args.events:,} "
            f"+ posted {batches.count:,})"
        )
        if held != expected_events:
            failures.append("the server holds a different number of events")
        sync.close()

        # ---- ratios and targets
        print("ratios (HTTP / in process):")
        http_p50, own_p50 = from_due["p50"], rec["p50"]
        print(
            f"  recommendations p50: {http_p50:.2f} ms / {own_p50:.2f} ms = "
            f"{http_p50 / own_p50:.2f}x the in-process time"
        )
        print(
            f"  ingestion: {format_rate(http_rate)} / {format_rate(ours.events_per_second)} = "
            f"{http_rate / ours.events_per_second:.2f}x the in-process rate"
        )
        print("targets (issue 5):")
        achieved = n_ok / span
        rec_met = from_due["p99"] < TARGET_P99_MS and not load.errors
        rec_verdict = "met" if rec_met else "NOT met"
        if args.rate != TARGET_RATE:
            rec_verdict = f"not measured (this run's rate is {args.rate:g} req/s)"
        print(
            f"  recommendations p99 < {TARGET_P99_MS:g} ms at {TARGET_RATE:g} req/s: "
            f"{rec_verdict} (p99 {from_due['p99']:.2f} ms, {achieved:.1f} req/s achieved)"
        )
        ingest_met = http_rate >= TARGET_EVENTS_PER_SECOND and not ingest.errors
        ingest_verdict = "met" if ingest_met else "NOT met"
        if args.batch != TARGET_BATCH:
            ingest_verdict = f"not measured (this run's batches hold {args.batch} events)"
        print(
            f"  ingestion >= {format_rate(TARGET_EVENTS_PER_SECOND)} in batches of "
            f"{TARGET_BATCH}: {ingest_verdict} ({format_rate(http_rate)})"
        )
    finally:
        if server is not None:
            server.stop()
            if failures:
                print(f"server log (tail):\n{server.log_text()}")
        if args.store == "redis":
            with contextlib.suppress(Exception):
                clear_redis(args.redis_url, "decayrec")
                clear_redis(args.redis_url, REDIS_PREFIX_INPROCESS)
        shutil.rmtree(workdir, ignore_errors=True)
    for failure in failures:
        print(f"FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
