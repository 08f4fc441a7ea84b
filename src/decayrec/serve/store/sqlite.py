"""The embedded event store: one SQLite file in WAL mode, fsync'd before acknowledging."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt

from decayrec.serve.store.base import StoredEvents, first_occurrence

__all__ = ["SQLiteStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    item_id TEXT NOT NULL,
    category_id TEXT,
    seconds REAL NOT NULL,
    event_type INTEGER NOT NULL
)
"""
_CHUNK: Final = 500  # ids per IN (...) query, under SQLite's variable limit


class SQLiteStore:
    """Events in ``path`` (created if missing).

    ``journal_mode=WAL`` lets readers run beside the writer; ``synchronous=FULL`` fsyncs the
    log on every commit, so a batch is on disk when :meth:`append` returns: it survives the
    process being killed (``kill -9``) and the machine losing power.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.description = f"sqlite:///{self.path}"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def append(self, batch: StoredEvents) -> npt.NDArray[np.bool_]:
        new = first_occurrence(batch.event_id)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                held = self._existing(batch.event_id)
                new &= np.array([i not in held for i in batch.event_id], dtype=bool)
                self._db.executemany(
                    "INSERT INTO events (event_id, user_id, item_id, category_id, seconds, "
                    "event_type) VALUES (?, ?, ?, ?, ?, ?)",
                    batch.rows(np.flatnonzero(new)),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return new

    def _existing(self, ids: list[str]) -> set[str]:
        held: set[str] = set()
        for start in range(0, len(ids), _CHUNK):
            part = ids[start : start + _CHUNK]
            marks = ",".join("?" * len(part))
            query = f"SELECT event_id FROM events WHERE event_id IN ({marks})"
            held.update(row[0] for row in self._db.execute(query, part))
        return held

    def read_since(self, offset: int) -> StoredEvents:
        with self._lock:
            rows = self._db.execute(
                "SELECT event_id, user_id, item_id, category_id, seconds, event_type "
                "FROM events ORDER BY seq LIMIT -1 OFFSET ?",
                (offset,),
            ).fetchall()
        return StoredEvents.from_rows(rows)

    def count(self) -> int:
        with self._lock:
            (n,) = self._db.execute("SELECT COUNT(*) FROM events").fetchone()
        return int(n)

    def close(self) -> None:
        with self._lock:
            self._db.close()
