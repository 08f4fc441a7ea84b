"""The event store interface of the service."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from decayrec.serve.state import EventArrays

__all__ = ["EventStore", "Row", "StoredEvents"]

#: One stored event: ``(event_id, user_id, item_id, category_id, seconds, event_type)``.
Row = tuple[str, str, str, str | None, float, int]


@dataclass(frozen=True)
class StoredEvents:
    """Events with their ids, in the order the store acknowledged them."""

    event_id: list[str]
    events: EventArrays

    def __len__(self) -> int:
        return len(self.event_id)

    @classmethod
    def from_rows(cls, rows: Sequence[Sequence[Any]]) -> StoredEvents:
        """From ``(event_id, user_id, item_id, category_id, seconds, event_type)`` rows."""
        columns: list[Any] = list(zip(*rows, strict=True)) if rows else [[] for _ in range(6)]
        ids, users, items, categories, seconds, kinds = columns
        return cls(
            list(ids),
            EventArrays(
                user_id=list(users),
                item_id=list(items),
                category_id=list(categories),
                seconds=np.asarray(seconds, dtype=np.float64),
                event_type=np.asarray(kinds, dtype=np.uint8),
            ),
        )

    def rows(
        self, rows: npt.NDArray[np.intp]
    ) -> list[tuple[str, str, str, str | None, float, int]]:
        """The given rows as ``from_rows`` reads them (what the stores write)."""
        e = self.events
        return [
            (
                self.event_id[r],
                e.user_id[r],
                e.item_id[r],
                e.category_id[r],
                float(e.seconds[r]),
                int(e.event_type[r]),
            )
            for r in rows.tolist()
        ]

    def chunk(self, start: int, stop: int) -> EventArrays:
        """The events of rows ``start:stop`` (list slices, no per-row work)."""
        e = self.events
        return EventArrays(
            user_id=e.user_id[start:stop],
            item_id=e.item_id[start:stop],
            category_id=e.category_id[start:stop],
            seconds=e.seconds[start:stop],
            event_type=e.event_type[start:stop],
        )

    def take(self, rows: npt.NDArray[np.intp]) -> StoredEvents:
        """The given rows, in that order."""
        picked = rows.tolist()
        e = self.events
        return StoredEvents(
            [self.event_id[r] for r in picked],
            EventArrays(
                user_id=[e.user_id[r] for r in picked],
                item_id=[e.item_id[r] for r in picked],
                category_id=[e.category_id[r] for r in picked],
                seconds=e.seconds[rows],
                event_type=e.event_type[rows],
            ),
        )


class EventStore(Protocol):
    """Durable, idempotent log of ingested events.

    ``append`` is atomic: either every new event of the batch is stored or none is; when it
    returns, the stored events are durable (as durable as the backend: SQLite fsyncs).
    """

    description: str

    def append(self, batch: StoredEvents) -> npt.NDArray[np.bool_]:
        """Store the events whose ``event_id`` is new; returns which rows were new.

        A repeated id within the batch counts once (its first row).
        """
        ...

    def read_since(self, offset: int) -> StoredEvents:
        """Every event after the first ``offset`` ones, in acknowledgement order."""
        ...

    def count(self) -> int:
        """Events stored."""
        ...

    def close(self) -> None:
        """Release the connection."""
        ...


def first_occurrence(ids: list[str]) -> npt.NDArray[np.bool_]:
    """Which rows hold the first occurrence of their id within the batch."""
    _, first = np.unique(np.array(ids, dtype=object), return_index=True)
    out = np.zeros(len(ids), dtype=bool)
    out[first] = True
    return out
