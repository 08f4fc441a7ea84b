"""The Redis event store: one Lua script per batch, shared by every service instance.

Keys (under ``prefix``, ``decayrec`` unless the URL says ``?prefix=NAME``): ``{prefix}:ids``,
the set of stored event ids, and ``{prefix}:log``, the list of stored events in acknowledgement
order (one JSON array per event). Services with different prefixes (two shops, staging beside
production, concurrent test runs) share one Redis database without seeing each other's
events. The script adds an event to both only when ``SADD`` says its id is new, so a batch is
applied atomically and idempotently even when several instances ingest at once (each
instance's online state takes in the others' events when it next starts or reloads). How
durable an acknowledged event is depends on the server's persistence settings (``appendonly
yes`` and ``appendfsync always`` for the embedded store's guarantee).
"""

from __future__ import annotations

import json
import re
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import numpy as np
import numpy.typing as npt

from decayrec.errors import InvalidParameterError, MissingExtraError
from decayrec.serve.store.base import StoredEvents, first_occurrence

__all__ = ["RedisStore"]

_APPEND: Final = """
local added = {}
for i = 1, #ARGV, 2 do
    if redis.call('SADD', KEYS[1], ARGV[i]) == 1 then
        redis.call('RPUSH', KEYS[2], ARGV[i + 1])
        added[#added + 1] = 1
    else
        added[#added + 1] = 0
    end
end
return added
"""
_READ_CHUNK: Final = 50_000
#: What a key prefix may hold: it names keys, so no spaces, and no ``:`` (the separator).
_PREFIX: Final = re.compile(r"[A-Za-z0-9_.\-]+")


class RedisStore:
    """Events in the Redis server at ``url`` (``redis://host:port/db``, optionally
    ``?prefix=NAME`` for the keys' prefix, by default ``decayrec``)."""

    def __init__(self, url: str) -> None:
        try:
            import redis
        except ImportError as exc:
            raise MissingExtraError(
                f"The Redis store needs the redis client: pip install 'decayrec[redis]' ({exc})."
            ) from exc
        self.description = url
        server_url, prefix = split_prefix(url)
        self._client: Any = redis.Redis.from_url(server_url)
        self._client.ping()
        self._ids, self._log = f"{prefix}:ids", f"{prefix}:log"
        self._append = self._client.register_script(_APPEND)

    def append(self, batch: StoredEvents) -> npt.NDArray[np.bool_]:
        first = first_occurrence(batch.event_id)
        rows = np.flatnonzero(first)
        arguments: list[str] = []
        for row in batch.rows(rows):
            arguments += [row[0], json.dumps(row)]
        added = self._append(keys=[self._ids, self._log], args=arguments) if rows.size else []
        out = np.zeros(len(batch), dtype=bool)
        out[rows] = np.asarray(added, dtype=bool)
        return out

    def read_since(self, offset: int) -> StoredEvents:
        rows: list[list[Any]] = []
        while True:
            chunk = self._client.lrange(self._log, offset, offset + _READ_CHUNK - 1)
            rows.extend(json.loads(raw) for raw in chunk)
            offset += len(chunk)
            if len(chunk) < _READ_CHUNK:
                break
        return StoredEvents.from_rows(rows)

    def count(self) -> int:
        return int(self._client.llen(self._log))

    def clear(self) -> None:
        """Delete this store's keys (tests and fresh starts)."""
        self._client.delete(self._ids, self._log)

    def close(self) -> None:
        self._client.close()


def split_prefix(url: str) -> tuple[str, str]:
    """``url`` without its ``prefix`` query parameter, and that prefix (``decayrec`` when
    absent): redis-py refuses query parameters it does not know."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    prefixes = [value for key, value in query if key == "prefix"]
    if len(prefixes) > 1 or (prefixes and not _PREFIX.fullmatch(prefixes[0])):
        # The message leaves the URL out: it may hold a password.
        raise InvalidParameterError(
            "The Redis store's 'prefix' (in the URL's query) must be given once and hold only "
            f"letters, digits, '_', '.' or '-'. Got {prefixes!r}."
        )
    rest = urlencode([(key, value) for key, value in query if key != "prefix"])
    return urlunsplit(parts._replace(query=rest)), prefixes[0] if prefixes else "decayrec"
