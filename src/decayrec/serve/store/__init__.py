"""Where the service keeps every acknowledged event: the embedded SQLite file or Redis.

What: one interface, :class:`~decayrec.serve.store.base.EventStore`, with two implementations:
:class:`~decayrec.serve.store.sqlite.SQLiteStore` (the embedded default, WAL mode, fsync per
batch: an acknowledged event survives ``kill -9`` and a power cut) and
:class:`~decayrec.serve.store.redis.RedisStore` (one Lua script per batch: atomic and shared by
every service instance). :func:`open_store` picks one from a URL.

Why the store keeps events, not the decayed sums: the sums are derived, O(1) per event, and
rebuilt from the model plus the store's events at start-up; keeping the events makes the store
the single source of truth (a restart, a model reload or a second instance replays it) and
makes idempotency by ``event_id`` a set-membership test.
"""

from __future__ import annotations

from decayrec.errors import InvalidParameterError
from decayrec.serve.store.base import EventStore, StoredEvents

__all__ = ["EventStore", "StoredEvents", "open_store"]


def open_store(url: str) -> EventStore:
    """``sqlite:///path.db`` (embedded) or ``redis://host:port/db[?prefix=NAME]`` (Redis)."""
    if url.startswith("sqlite:///"):
        from decayrec.serve.store.sqlite import SQLiteStore

        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("redis://", "rediss://", "unix://")):
        from decayrec.serve.store.redis import RedisStore

        return RedisStore(url)
    raise InvalidParameterError(
        f"The 'store' setting must be sqlite:///PATH or redis://HOST:PORT/DB. Got {url!r} instead."
    )
