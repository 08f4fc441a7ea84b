"""The HTTP service: ``create_app(settings)`` builds the FastAPI app that ``decayrec serve`` runs.

What: event ingestion, recommendations (with explanations), interests and their forecast,
search re-ranking and marketing audiences over the online state of
:class:`~decayrec.serve.state.OnlineProfile`, plus a hot model reload, a health check and
Prometheus metrics. Every path is versioned (``/v1``) and documented in the OpenAPI document
(``/openapi.json``, ``/docs``).

Why one event loop and no thread pool: a request is a millisecond of NumPy, so handlers run on
the loop itself; requests are then applied one after another, and the state needs no lock.
Only a model reload (seconds) runs in a thread while the old state keeps answering.

Why ``gc.freeze()`` once the state is built (at start and after a reload): a full run of the
cyclic garbage collector walks every tracked object the process holds, the libraries' ~80k
included, which stalls the loop for tens of milliseconds; frozen objects are skipped, so
collections only see what requests allocated since. The state itself keeps its per-user data
in NumPy arrays, which the collector never tracks (:mod:`decayrec.serve._keyed`).

Nothing is done at import: the model and the store open in the app's lifespan.
"""

from __future__ import annotations

import asyncio
import gc
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Final, Literal

import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Query, Request, Security
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from fastapi.security import APIKeyHeader
from pydantic import BaseModel

from decayrec import __version__
from decayrec._time import from_seconds, parse_duration, parse_instant
from decayrec.data.schema import EventType
from decayrec.errors import DecayrecError, InvalidParameterError, UnknownIdError
from decayrec.models import DecayedProfile, load_model
from decayrec.serve.schemas import (
    CategoryInterestOut,
    EventsIn,
    EventsOut,
    InterestsOut,
    RecommendationsOut,
    RecommendedItem,
    RerankIn,
    RerankItemOut,
    RerankOut,
    SegmentOut,
    SegmentUser,
)
from decayrec.serve.settings import Scope, ServeSettings
from decayrec.serve.state import EventArrays, OnlineProfile, check_servable
from decayrec.serve.store import EventStore, StoredEvents, open_store

__all__ = ["create_app"]

_REPLAY_CHUNK: Final = 100_000
#: Where clients put their key; scopes: read (GET, rerank), write (events), admin (reload, all).
_API_KEY: Final = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Needed when the service has API keys (DECAYREC_API_KEYS).",
)
_TYPE_CODES: Final = {t.label: int(t) for t in EventType}
#: The longest recommendation list one request may ask for.
MAX_N: Final = 1_000
#: ``at`` query parameter of the read endpoints (module level: FastAPI resolves it by name).
_AtQuery = Annotated[
    str | None,
    Query(description="Instant (ISO-8601 or Unix seconds); default: now.", max_length=64),
]
_LATENCY_BUCKETS: Final = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 1.0, float("inf"))


class _Service:
    """The app's mutable part: model, online state, store and counters."""

    def __init__(self, settings: ServeSettings, store: EventStore | None) -> None:
        self.settings = settings
        self._given_store = store
        self.store: EventStore | None = None
        self.state: OnlineProfile | None = None
        self.offset = 0  # store events folded into the state
        self.reloading = asyncio.Lock()
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.latency: dict[str, list[int]] = {}
        self.latency_sum: dict[str, float] = {}
        self.ingested: Counter[str] = Counter()

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self.store = self._given_store or open_store(self.settings.store)
        self.state, self.offset = self._build()
        gc.collect()
        gc.freeze()  # see the module docstring

    def stop(self) -> None:
        if self.store is not None and self._given_store is None:
            self.store.close()

    def _build(self) -> tuple[OnlineProfile, int]:
        """A fresh state: the model in ``model_dir`` plus every event the store holds."""
        model = load_model(self.settings.model_dir)
        check_servable(model.name, self.settings.model_dir)
        assert isinstance(model, DecayedProfile)
        state = OnlineProfile(model)
        assert self.store is not None
        stored = self.store.read_since(0)
        for start in range(0, len(stored), _REPLAY_CHUNK):
            state.ingest(stored.chunk(start, start + _REPLAY_CHUNK))
        return state, len(stored)

    async def reload(self) -> None:
        """Build the new state in a thread, catch up with events that arrived meanwhile, swap."""
        async with self.reloading:
            state, offset = await asyncio.to_thread(self._build)
            assert self.store is not None
            tail = self.store.read_since(offset)
            if len(tail):
                state.ingest(tail.events)
            self.state, self.offset = state, offset + len(tail)
            gc.freeze()  # see the module docstring

    def live(self) -> OnlineProfile:
        if self.state is None:
            raise HTTPException(503, "No model is loaded yet.")
        return self.state

    def instant(self, at: str | datetime | None) -> float:
        """``at`` in Unix seconds; by default now, or the newest event if the log is newer."""
        state = self.live()
        if at is None:
            return max(time.time(), state.latest_seconds)
        return parse_instant(at, name="at")

    # ------------------------------------------------------------------ metrics
    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        self.requests[(method, route, status)] += 1
        counts = self.latency.setdefault(route, [0] * len(_LATENCY_BUCKETS))
        for k, bound in enumerate(_LATENCY_BUCKETS):
            if seconds <= bound:
                counts[k] += 1
        self.latency_sum[route] = self.latency_sum.get(route, 0.0) + seconds

    def metrics_text(self) -> str:
        lines = [
            "# HELP decayrec_requests_total HTTP requests by method, route and status.",
            "# TYPE decayrec_requests_total counter",
        ]
        for (method, route, status), n in sorted(self.requests.items()):
            labels = f'method="{method}",route="{route}",status="{status}"'
            lines.append(f"decayrec_requests_total{{{labels}}} {n}")
        lines += [
            "# HELP decayrec_request_seconds Request latency by route.",
            "# TYPE decayrec_request_seconds histogram",
        ]
        for route, counts in sorted(self.latency.items()):
            for bound, n in zip(_LATENCY_BUCKETS, counts, strict=True):
                le = "+Inf" if bound == float("inf") else repr(bound)
                lines.append(f'decayrec_request_seconds_bucket{{route="{route}",le="{le}"}} {n}')
            lines.append(
                f'decayrec_request_seconds_sum{{route="{route}"}} {self.latency_sum[route]}'
            )
            lines.append(f'decayrec_request_seconds_count{{route="{route}"}} {counts[-1]}')
        lines += [
            "# HELP decayrec_events_total Ingested events by outcome.",
            "# TYPE decayrec_events_total counter",
        ]
        for outcome in ("accepted", "duplicate"):
            lines.append(f'decayrec_events_total{{outcome="{outcome}"}} {self.ingested[outcome]}')
        state = self.state
        lines += [
            "# HELP decayrec_state_events Events folded into the online state.",
            "# TYPE decayrec_state_events gauge",
            f"decayrec_state_events {state.n_events if state else 0}",
            "# HELP decayrec_state_users Users the online state knows.",
            "# TYPE decayrec_state_users gauge",
            f"decayrec_state_users {len(state.user_ids) if state else 0}",
        ]
        return "\n".join(lines) + "\n"


def create_app(settings: ServeSettings, *, store: EventStore | None = None) -> FastAPI:
    """The service for ``settings``; ``store`` replaces the one ``settings.store`` names."""
    service = _Service(settings, store)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        service.start()
        try:
            yield
        finally:
            service.stop()

    app = FastAPI(
        title="decayrec",
        version=__version__,
        summary="Time-decayed interest profiles and recommendations, updated per event.",
        lifespan=lifespan,
    )
    app.state.service = service
    _install_middleware(app, service)
    _install_errors(app)

    def scope(required: Scope) -> Callable[..., Awaitable[None]]:
        async def check(x_api_key: Annotated[str | None, Security(_API_KEY)] = None) -> None:
            if settings.open:
                return
            if x_api_key is None or x_api_key not in settings.api_keys:
                raise HTTPException(401, "Missing or unknown X-API-Key.")
            held = settings.api_keys[x_api_key]
            if required not in held and "admin" not in held:
                raise HTTPException(403, f"This API key lacks the '{required}' scope.")

        return check

    read = [Depends(scope("read"))]
    write = [Depends(scope("write"))]
    admin = [Depends(scope("admin"))]

    @app.post("/v1/events", dependencies=write, tags=["events"])
    async def ingest(body: EventsIn) -> EventsOut:
        """Store and apply a batch of events: all or nothing, idempotent by ``event_id``."""
        state = service.live()
        if len(body.events) > settings.max_batch:
            raise HTTPException(
                413, f"A batch holds at most {settings.max_batch} events; got {len(body.events)}."
            )
        batch = _as_stored(body)
        problems = state.category_conflicts(batch.events)
        if problems:
            detail = [
                {"loc": ["body", "events", row, "category_id"], "msg": msg, "type": "value_error"}
                for row, msg in problems[:20]
            ]
            return JSONResponse({"detail": detail}, status_code=422)  # type: ignore[return-value]
        assert service.store is not None
        new = service.store.append(batch)
        if new.any():
            state.ingest(batch.take(np.flatnonzero(new)).events)
        service.offset += int(new.sum())
        service.ingested["accepted"] += int(new.sum())
        service.ingested["duplicate"] += int((~new).sum())
        return EventsOut(
            accepted=int(new.sum()), duplicate=int((~new).sum()), stored=service.offset
        )

    @app.get(
        "/v1/users/{user_id}/recommendations",
        dependencies=read,
        tags=["users"],
        response_model=RecommendationsOut,
    )
    async def recommendations(
        user_id: str,
        at: _AtQuery = None,
        n: Annotated[int, Query(ge=1, le=MAX_N)] = 10,
        category: Annotated[str | None, Query(max_length=256)] = None,
        threshold: Annotated[float | None, Query(ge=0.0, le=1.0)] = None,
        exclude: Literal["purchased", "seen", "none"] = "purchased",
        explain: bool = False,
    ) -> Response:
        """Top ``n`` items now; unknown users get decayed popularity, flagged ``fallback``."""
        state = service.live()
        instant = service.instant(at)
        items, fallback = state.recommend(
            user_id,
            instant,
            n=n,
            exclude=exclude,
            categories=None if category is None else [category],
            threshold=threshold,
        )
        return _reply(
            RecommendationsOut(
                user_id=user_id,
                at=from_seconds(instant),
                fallback=fallback,
                items=[
                    RecommendedItem(
                        item_id=item.item_id,
                        score=item.score,
                        category_id=item.category_id,
                        explanation=(
                            state.explain(user_id, item.item_id, instant) if explain else None
                        ),
                    )
                    for item in items
                ],
            )
        )

    @app.get(
        "/v1/users/{user_id}/interests",
        dependencies=read,
        tags=["users"],
        response_model=InterestsOut,
    )
    async def interests(
        user_id: str,
        at: _AtQuery = None,
        horizon: Annotated[str, Query(max_length=32, description="e.g. 7d, 12h")] = "7d",
    ) -> Response:
        """Interest per category now and its forecast ``horizon`` later (no new events)."""
        state = service.live()
        instant = service.instant(at)
        horizon_seconds = _duration_seconds(horizon, "horizon")
        rows = state.interests(user_id, instant, horizon_seconds)
        return _reply(
            InterestsOut(
                user_id=user_id,
                at=from_seconds(instant),
                horizon_seconds=horizon_seconds,
                categories=[CategoryInterestOut(**row.__dict__) for row in rows],
            )
        )

    @app.post("/v1/rerank", dependencies=read, tags=["search"])
    async def rerank(body: RerankIn) -> RerankOut:
        """Blend search relevance with personal interest: ``(1 - α)·base + α·personal``.

        Both parts are scaled to [0, 1] over the candidates: the base scores min-max (or,
        without scores, by position: the first candidate 1, the last near 0), the personal
        scores by their maximum.
        """
        state = service.live()
        instant = service.instant(body.at)
        given = [item.score is not None for item in body.items]
        if any(given) and not all(given):
            index = given.index(False)
            raise InvalidParameterError(
                f"items[{index}].score is missing: give a score for every candidate or none."
            )
        ids = [item.item_id for item in body.items]
        personal, fallback = state.score_items(body.user_id, ids, instant)
        if all(given):
            raw = np.array([float(item.score) for item in body.items])  # type: ignore[arg-type]
            span = raw.max() - raw.min()
            base = (raw - raw.min()) / span if span > 0 else np.ones(len(raw))
        else:
            base = 1.0 - np.arange(len(ids)) / len(ids)
        top = personal.max(initial=0.0)
        personal_scaled = personal / top if top > 0 else np.zeros(len(ids))
        final = (1.0 - body.alpha) * base + body.alpha * personal_scaled
        order = np.argsort(-final, kind="stable")
        return RerankOut(
            user_id=body.user_id,
            at=from_seconds(instant),
            fallback=fallback,
            items=[
                RerankItemOut(
                    item_id=ids[k],
                    base=float(base[k]),
                    personal=float(personal_scaled[k]),
                    score=float(final[k]),
                )
                for k in order.tolist()
            ],
        )

    @app.get("/v1/segments", dependencies=read, tags=["marketing"])
    async def segments(
        category: Annotated[str, Query(min_length=1, max_length=256)],
        at: _AtQuery = None,
        min_interest: Annotated[float, Query(ge=0.0, le=1.0)] = 0.2,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 100,
        fading: bool = False,
        within: Annotated[str, Query(max_length=32)] = "7d",
        threshold: Annotated[float, Query(gt=0.0, le=1e12)] = 1.0,
    ) -> SegmentOut:
        """Users whose share of interest in ``category`` is at least ``min_interest``.

        ``fading=true``: only those whose decayed interest (in units of one weight-1 event) is
        at least ``threshold`` now and drops below it ``within`` the horizon: win-back timing.
        """
        state = service.live()
        instant = service.instant(at)
        horizon = _duration_seconds(within, "within") if fading else None
        users = state.audience(
            category,
            instant,
            min_share=min_interest,
            limit=limit,
            fading_within_seconds=horizon,
            fading_below=threshold,
        )
        return SegmentOut(
            category_id=category,
            at=from_seconds(instant),
            fading_within_seconds=horizon,
            users=[SegmentUser(user_id=u, share=s, interest=i) for u, s, i in users],
        )

    @app.post("/v1/model/reload", dependencies=admin, tags=["operations"])
    async def reload() -> dict[str, Any]:
        """Reload the model folder and swap it in; requests keep being answered meanwhile."""
        started = time.perf_counter()
        await service.reload()
        state = service.live()
        return {
            "model": state.model.name,
            "events": state.n_events,
            "seconds": time.perf_counter() - started,
        }

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, Any]:
        """Liveness and what is loaded (no key needed)."""
        state = service.live()
        assert service.store is not None
        return {
            "status": "ok",
            "model": state.model.name,
            "events": state.n_events,
            "store": service.store.description,
            "auth": "open (loopback only)" if settings.open else "api keys",
        }

    @app.get("/metrics", response_class=PlainTextResponse, tags=["operations"])
    async def metrics() -> PlainTextResponse:
        """Prometheus text format."""
        return PlainTextResponse(service.metrics_text(), media_type="text/plain; version=0.0.4")

    return app


def _reply(body: BaseModel) -> Response:
    """``body`` as JSON, serialised by pydantic-core in one call.

    Why not return the model: FastAPI would validate it again against the response model and
    then encode it through ``jsonable_encoder``, a third of a recommendation's time on the
    server. The route's ``response_model`` still documents the body.
    """
    return Response(body.model_dump_json(), media_type="application/json")


def _as_stored(body: EventsIn) -> StoredEvents:
    """The batch as columns (event types are canonical labels after validation)."""
    events = body.events
    return StoredEvents(
        [e.event_id for e in events],
        EventArrays(
            user_id=[e.user_id for e in events],
            item_id=[e.item_id for e in events],
            category_id=[e.category_id for e in events],
            seconds=np.array([e.timestamp.timestamp() for e in events]),
            event_type=np.array([_TYPE_CODES[e.event_type] for e in events], np.uint8),
        ),
    )


def _duration_seconds(text: str, name: str) -> float:
    value = parse_duration(text, name=name)
    if value is None:
        raise InvalidParameterError(f"The '{name}' parameter must be a finite duration.")
    seconds = value.total_seconds()
    if not 0 <= seconds <= 100 * 365 * 86_400:
        raise InvalidParameterError(
            f"The '{name}' parameter must be between 0 and 100 years. Got {text!r} instead."
        )
    return seconds


def _install_middleware(app: FastAPI, service: _Service) -> None:
    """Body-size limit and per-route metrics, as a plain ASGI middleware.

    Plain ASGI, not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` adds a
    task and a stream per request, a tenth of a millisecond that a recommendation cannot
    spare.
    """
    app.add_middleware(_Measure, service=service)


class _Measure:
    """Rejects declared bodies over the limit (413) and records each request's route."""

    def __init__(self, app: Any, service: _Service) -> None:
        self.app, self.service = app, service
        self.limit = service.settings.max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def send_and_record(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.limit):
            response = JSONResponse(
                {"detail": f"Request bodies are limited to {self.limit} bytes."}, status_code=413
            )
            await response(scope, receive, send_and_record)
        else:
            await self.app(scope, receive, send_and_record)
        route = getattr(scope.get("route"), "path", "unmatched")
        self.service.observe(scope["method"], route, status[0], time.perf_counter() - started)


def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(InvalidParameterError)
    async def invalid(_: Request, error: InvalidParameterError) -> JSONResponse:
        return JSONResponse({"detail": [{"msg": str(error), "type": "value_error"}]}, 422)

    @app.exception_handler(UnknownIdError)
    async def unknown(_: Request, error: UnknownIdError) -> JSONResponse:
        return JSONResponse({"detail": str(error.args[0] if error.args else error)}, 404)

    @app.exception_handler(DecayrecError)
    async def failed(_: Request, error: DecayrecError) -> JSONResponse:
        return JSONResponse({"detail": str(error)}, 422)
