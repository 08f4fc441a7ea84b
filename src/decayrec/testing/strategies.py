"""Hypothesis strategies for decay properties: ages, half-lives and event streams.

Why here and not in ``tests/``: downstream code (a custom kernel, a model built on the online
state) can check the same invariants with the same generators. Needs the ``test`` extra
(``pip install "decayrec[test]"``).

Times are drawn on a microsecond grid near a realistic epoch (what an :class:`EventLog`
stores, so a batch survives the trip through ``EventLog.from_indices`` unchanged), and
half-lives for stream comparisons are at least a minute: at those scales float64 rounding of
``at - t`` is far below the ``rtol=1e-9`` the invariants are checked at.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
from hypothesis import strategies as st

from decayrec.data.schema import (
    DEFAULT_EVENT_WEIGHTS,
    EventLog,
    EventType,
    EventWeights,
    Vocabulary,
)
from decayrec.types import FloatArray

__all__ = [
    "BASE_EPOCHS",
    "EventBatch",
    "ages",
    "event_batches",
    "event_weights",
    "half_lives",
    "per_key_half_lives",
]

#: Reference instants streams start from: 2001-09-09 and 2023-11-14 (Unix seconds).
BASE_EPOCHS: Final = (1_000_000_000.0, 1_700_000_000.0)

_DAY: Final = 86_400.0
_COMMON_HALF_LIVES: Final = (60.0, 3_600.0, _DAY, 7 * _DAY, 30 * _DAY, 365 * _DAY)


def half_lives(
    *,
    min_seconds: float = 60.0,
    max_seconds: float = 10 * 365 * _DAY,
    allow_infinite: bool = True,
) -> st.SearchStrategy[float]:
    """Positive half-lives in seconds: common ones, arbitrary ones, and ``inf`` (no decay)."""
    common = [h for h in _COMMON_HALF_LIVES if min_seconds <= h <= max_seconds]
    options: list[st.SearchStrategy[float]] = [
        st.floats(min_value=min_seconds, max_value=max_seconds, allow_nan=False)
    ]
    if common:
        options.append(st.sampled_from(common))
    if allow_infinite:
        options.append(st.just(float("inf")))
    return st.one_of(*options)


def ages(*, max_seconds: float = 1e12, allow_negative: bool = True) -> st.SearchStrategy[float]:
    """Event ages in seconds (``at - t``), negative for events after ``at`` when allowed."""
    low = -max_seconds if allow_negative else 0.0
    return st.floats(min_value=low, max_value=max_seconds, allow_nan=False)


def per_key_half_lives(
    n_keys: int, *, min_seconds: float = 60.0, allow_infinite: bool = True
) -> st.SearchStrategy[FloatArray]:
    """One half-life per key, as a float64 array (e.g. one per category)."""
    return st.lists(
        half_lives(min_seconds=min_seconds, allow_infinite=allow_infinite),
        min_size=n_keys,
        max_size=n_keys,
    ).map(lambda values: np.asarray(values, dtype=np.float64))


def event_weights() -> st.SearchStrategy[EventWeights]:
    """Event-type weights: any finite non-negative value per type (zero included)."""
    weight = st.floats(min_value=0.0, max_value=100.0, allow_nan=False)
    return st.builds(EventWeights, **{event_type.label: weight for event_type in EventType})


@dataclass(frozen=True, eq=False)
class EventBatch:
    """A stream of events for decay tests: who, which key, when and of which type.

    ``keys`` play the role of categories *and* items (item ``k`` is in category ``k``), so
    one batch checks both profile kinds. Times are Unix seconds on a microsecond grid.
    """

    users: npt.NDArray[np.int64]
    keys: npt.NDArray[np.int64]
    times: FloatArray
    event_types: npt.NDArray[np.uint8]
    n_users: int
    n_keys: int

    def __len__(self) -> int:
        return len(self.keys)

    @property
    def flat_keys(self) -> npt.NDArray[np.int64]:
        """``user * n_keys + key``: one dense key per (user, key) pair for the online state."""
        return self.users * self.n_keys + self.keys

    def weights(self, event_weights: EventWeights = DEFAULT_EVENT_WEIGHTS) -> FloatArray:
        """Type weight per event."""
        return event_weights.as_array()[self.event_types]

    def take(self, rows: npt.ArrayLike) -> EventBatch:
        """The events at ``rows`` (a permutation or a slice of positions), in that order."""
        index = np.asarray(rows, dtype=np.int64)
        return EventBatch(
            users=self.users[index],
            keys=self.keys[index],
            times=self.times[index],
            event_types=self.event_types[index],
            n_users=self.n_users,
            n_keys=self.n_keys,
        )

    def to_log(self) -> EventLog:
        """The batch as an :class:`EventLog` with ``n_users`` users, ``n_keys`` items and
        categories (vocabularies sized so that untouched users and keys still exist)."""
        return EventLog.from_indices(
            user_index=self.users,
            item_index=self.keys,
            category_index=self.keys,
            timestamp_seconds=self.times,
            event_type=self.event_types,
            users=Vocabulary.from_ids(range(self.n_users)),
            items=Vocabulary.from_ids(range(self.n_keys)),
            categories=Vocabulary.from_ids(range(self.n_keys)),
        )


@st.composite
def event_batches(
    draw: st.DrawFn,
    *,
    min_size: int = 0,
    max_size: int = 40,
    max_users: int = 3,
    max_keys: int = 6,
    max_span_seconds: float = 400 * _DAY,
    ties: bool | None = None,
) -> EventBatch:
    """Event streams in arbitrary (not time-sorted) order.

    Parameters
    ----------
    min_size, max_size
        Number of events.
    max_users, max_keys
        Upper bounds of the drawn numbers of users and keys.
    max_span_seconds
        Longest time between the first and the last event (long spans underflow weights).
    ties
        ``True``: times come from a handful of instants, so many events share a timestamp;
        ``False``: arbitrary times; ``None``: either.
    """
    n_users = draw(st.integers(min_value=1, max_value=max_users))
    n_keys = draw(st.integers(min_value=1, max_value=max_keys))
    size = draw(st.integers(min_value=min_size, max_value=max_size))
    base_us = int(draw(st.sampled_from(BASE_EPOCHS)) * 1e6)
    span_us = draw(st.integers(min_value=0, max_value=int(max_span_seconds * 1e6)))
    offset = st.integers(min_value=0, max_value=span_us)
    use_ties = draw(st.booleans()) if ties is None else ties
    if use_ties:
        pool = draw(st.lists(offset, min_size=1, max_size=3))
        offsets = draw(st.lists(st.sampled_from(pool), min_size=size, max_size=size))
    else:
        offsets = draw(st.lists(offset, min_size=size, max_size=size))
    users = draw(st.lists(st.integers(0, n_users - 1), min_size=size, max_size=size))
    keys = draw(st.lists(st.integers(0, n_keys - 1), min_size=size, max_size=size))
    types = draw(st.lists(st.sampled_from(list(EventType)), min_size=size, max_size=size))
    micros = np.asarray(offsets, dtype=np.int64) + base_us
    return EventBatch(
        users=np.asarray(users, dtype=np.int64),
        keys=np.asarray(keys, dtype=np.int64),
        times=micros.astype(np.float64) / 1e6,  # exactly what EventLog.timestamp_seconds gives
        event_types=np.asarray([int(t) for t in types], dtype=np.uint8),
        n_users=n_users,
        n_keys=n_keys,
    )
