"""Decayed running sums per integer key, updated a whole batch at a time (the online core).

What: for every key (a flattened ``(user, category)`` pair, an item, ...) ``J`` running sums
``S_j`` at a reference time ``T`` (the key's latest event), so that the decayed interest at any
``at >= T`` is ``Σ_j a_j · S_j · 2^(-(at - T) / (b_j · h))`` with the key's half-life ``h``.
With one component (``a = b = 1``) that is the exponential kernel exactly; other kernels use
the mixture of exponentials of :func:`decayrec.decay.exponential_mixture`.

Why this layout: rows are kept in the order keys first appear (arrays that grow by doubling),
with a hash map from key to row and, per owner (the key's high 32 bits: the user), the list
of its rows (in a shared pool, below). A batch of events costs one ``np.unique`` over its
keys, one hash lookup per *distinct* key and a few array operations, whatever the number of
keys held, and a new key never moves the others (a sorted layout would copy every array on
each insertion).

Why the owners' rows live in one NumPy pool and not in a list per owner: a list is an object
the cyclic garbage collector tracks, and with one per user (100k users: 200k lists) a full
collection walked them all and stalled the event loop for about 100 ms, the service's p99.
The pool gives each owner a block of ``capacity`` slots; an owner whose block fills up moves
to a block twice the size at the pool's end, so appends are amortised O(1), a batch of new
keys is a few vectorised operations, and the abandoned blocks (a geometric series) keep the
pool within a small multiple of the rows it holds.

An event older than its key's ``T`` (out-of-order delivery) is folded in exactly, as
``w · 2^(-(T - t) / h)``, without moving ``T``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final, TypeVar

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray

__all__ = ["OWNER_SHIFT", "KeyedSums", "lookup"]

Int64Array = npt.NDArray[np.int64]
IntpArray = npt.NDArray[np.intp]
K = TypeVar("K")
#: A key's owner is ``code >> OWNER_SHIFT`` (the user of a (user, category) key).
OWNER_SHIFT: Final = 32
_EMPTY: Final = -np.inf  # reference time of a key that has no event yet
_MIN_CAPACITY: Final = 1024


class KeyedSums:
    """Running decayed sums per int64 key, with event and purchase counts per key.

    Parameters
    ----------
    component_weights, component_ratios
        ``a_j`` and ``b_j`` of the kernel's mixture of exponentials (one each: exponential).
    """

    def __init__(
        self,
        component_weights: FloatArray,
        component_ratios: FloatArray,
        *,
        track_owners: bool = True,
    ) -> None:
        self.component_weights = np.asarray(component_weights, dtype=np.float64)
        self.component_ratios = np.asarray(component_ratios, dtype=np.float64)
        self.track_owners = track_owners
        self._n = 0
        self._latest = -np.inf
        self._index: dict[int, int] = {}
        # Owner o's rows are _pool[_start[o] : _start[o] + _count[o]], in order of insertion.
        self._pool: IntpArray = np.zeros(0, dtype=np.intp)
        self._pool_end = 0
        self._start: IntpArray = np.zeros(0, dtype=np.intp)
        self._count: IntpArray = np.zeros(0, dtype=np.intp)
        self._capacity: IntpArray = np.zeros(0, dtype=np.intp)
        n_components = len(self.component_weights)
        self._codes: Int64Array = np.zeros(0, dtype=np.int64)
        self._sums: FloatArray = np.zeros((0, n_components))
        self._last: FloatArray = np.zeros(0)
        self._half_life: FloatArray = np.zeros(0)
        self._purchases: Int64Array = np.zeros(0, dtype=np.int64)
        self._allocate(_MIN_CAPACITY)

    def _allocate(self, capacity: int) -> None:
        """Grow every array to ``capacity`` rows, keeping the rows held."""
        n = self._n

        def resized(array: npt.NDArray[Any], fill: float) -> npt.NDArray[Any]:
            out = np.full((capacity, *array.shape[1:]), fill, dtype=array.dtype)
            out[:n] = array[:n]
            return out

        self._codes = resized(self._codes, 0)
        self._sums = resized(self._sums, 0.0)
        self._last = resized(self._last, _EMPTY)
        self._half_life = resized(self._half_life, 1.0)
        self._purchases = resized(self._purchases, 0)

    def __len__(self) -> int:
        return self._n

    # ------------------------------------------------------------------ views
    @property
    def codes(self) -> Int64Array:
        """Key of each row (rows in order of first appearance)."""
        return self._codes[: self._n]

    @property
    def purchases(self) -> Int64Array:
        """Purchase events folded into each row."""
        return self._purchases[: self._n]

    # ------------------------------------------------------------------ updates
    def add(
        self,
        codes: Int64Array,
        seconds: FloatArray,
        weights: FloatArray,
        half_life: FloatArray,
        purchase: npt.NDArray[np.bool_],
    ) -> None:
        """Fold a batch of events in; ``half_life`` is the key's (used when the key is new)."""
        if not len(codes):
            return
        keys, first, inverse = np.unique(codes, return_index=True, return_inverse=True)
        inverse = inverse.reshape(-1)
        rows = self._rows_adding(keys, half_life[first])
        newest = np.full(len(keys), -np.inf)
        np.maximum.at(newest, inverse, seconds)
        last = self._last[rows]
        reference = np.maximum(last, newest)
        scale = self._half_life[rows][:, None] * self.component_ratios[None, :]
        # Old sums move from their reference time to the new one; a key without events has
        # sums of 0 and a reference of -inf, so its factor is taken as 1.
        elapsed = np.where(np.isfinite(last), reference - last, 0.0)
        carried = self._sums[rows] * _decay(elapsed[:, None], scale)
        age = reference[inverse] - seconds
        contribution = weights[:, None] * _decay(age[:, None], scale[inverse])
        for j in range(carried.shape[1]):  # J components, not events
            carried[:, j] += np.bincount(inverse, weights=contribution[:, j], minlength=len(keys))
        self._sums[rows] = carried
        self._last[rows] = reference
        self._purchases[rows] += np.bincount(inverse, weights=purchase, minlength=len(keys)).astype(
            np.int64
        )
        self._latest = max(self._latest, float(newest.max()))

    def _rows_adding(self, keys: Int64Array, half_life: FloatArray) -> IntpArray:
        """Row of each (distinct) key, appending the keys not held yet."""
        index = self._index
        rows = lookup(keys.tolist(), index)
        missing = np.flatnonzero(rows < 0)
        if len(missing):
            start = self._n
            if start + len(missing) > len(self._codes):
                self._allocate(max(2 * len(self._codes), start + len(missing)))
            new_rows = np.arange(start, start + len(missing))
            new_keys = keys[missing]
            self._codes[new_rows] = new_keys
            self._half_life[new_rows] = half_life[missing]
            self._n = start + len(missing)
            index.update(zip(new_keys.tolist(), new_rows.tolist(), strict=True))
            if self.track_owners:
                self._add_owners(new_keys >> OWNER_SHIFT, new_rows)
            rows[missing] = new_rows
        return rows

    def _add_owners(self, owners: Int64Array, rows: IntpArray) -> None:
        """Append new rows to their owners' blocks, moving full blocks to the pool's end."""
        if owners.min() < 0:
            raise ValueError(f"Owners must be non-negative; got {int(owners.min())}.")
        order = np.argsort(owners, kind="stable")  # keeps each owner's rows in batch order
        owners, rows = owners[order], rows[order]
        distinct, first, added = np.unique(owners, return_index=True, return_counts=True)
        if distinct[-1] >= len(self._start):
            size = max(2 * len(self._start), int(distinct[-1]) + 1, _MIN_CAPACITY)
            self._start = _grown(self._start, size)
            self._count = _grown(self._count, size)
            self._capacity = _grown(self._capacity, size)
        held = self._count[distinct]
        moving = held + added > self._capacity[distinct]
        if moving.any():
            self._move(distinct[moving], held[moving] + added[moving])
        rank = np.arange(len(owners)) - np.repeat(first, added)
        slots = np.repeat(self._start[distinct] + held, added) + rank
        self._pool[slots] = rows
        self._count[distinct] = held + added

    def _move(self, owners: IntpArray, needed: IntpArray) -> None:
        """Give ``owners`` blocks of at least ``needed`` slots at the pool's end."""
        capacity = np.maximum(np.maximum(2 * self._capacity[owners], needed), 4)
        starts = self._pool_end + np.cumsum(capacity) - capacity
        end = self._pool_end + int(capacity.sum())
        if end > len(self._pool):
            self._pool = _grown(self._pool, max(2 * len(self._pool), end))
        counts = self._count[owners]
        offsets = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        old_slots = np.repeat(self._start[owners], counts) + offsets
        self._pool[np.repeat(starts, counts) + offsets] = self._pool[old_slots]
        self._start[owners] = starts
        self._capacity[owners] = capacity
        self._pool_end = end

    # ------------------------------------------------------------------ queries
    def rows_of_owner(self, owner: int) -> IntpArray:
        """Rows of the keys whose high bits are ``owner`` (e.g. one user's categories)."""
        if not self.track_owners:
            raise ValueError("This KeyedSums does not track owners (track_owners=False).")
        if not 0 <= owner < len(self._start):
            return np.zeros(0, dtype=np.intp)
        start = int(self._start[owner])
        return self._pool[start : start + int(self._count[owner])].copy()

    def rows_of(self, codes: Int64Array) -> tuple[IntpArray, npt.NDArray[np.bool_]]:
        """Row of each code and whether it exists."""
        found = lookup(codes.tolist(), self._index)
        return np.maximum(found, 0), found >= 0

    def value(self, rows: slice | IntpArray, at: float) -> FloatArray:
        """Decayed interest of the keys at ``rows`` at instant ``at`` (``at >= T``)."""
        if isinstance(rows, slice):
            rows = np.arange(self._n)[rows]
        scale = self._half_life[rows][:, None] * self.component_ratios[None, :]
        age = np.maximum(at - self._last[rows], 0.0)[:, None]
        out: FloatArray = (self._sums[rows] * _decay(age, scale)) @ self.component_weights
        return out

    @property
    def latest(self) -> float:
        """The newest event time of any key (``-inf`` when empty)."""
        return self._latest


def lookup(keys: Sequence[K], index: Mapping[K, int]) -> IntpArray:
    """``index[key]`` for every key, -1 where absent: one hash lookup per key, in C."""
    return np.fromiter(map(index.get, keys, [-1] * len(keys)), dtype=np.intp, count=len(keys))


def _grown(array: IntpArray, size: int) -> IntpArray:
    """``array`` zero-padded to ``size`` entries."""
    out = np.zeros(size, dtype=array.dtype)
    out[: len(array)] = array
    return out


def _decay(age: FloatArray, half_life: FloatArray) -> FloatArray:
    """``2^(-age / h)``, with ``h = inf`` (no decay) giving 1."""
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isinf(half_life), 0.0, age / half_life)
    out: FloatArray = np.exp2(-ratio)
    return out
