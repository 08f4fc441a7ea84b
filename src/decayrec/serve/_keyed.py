"""Decayed running sums per integer key, updated a whole batch at a time (the online core).

What: for every key (a flattened ``(user, category)`` pair, an item, ...) ``J`` running sums
``S_j`` at a reference time ``T`` (the key's latest event), so that the decayed interest at any
``at >= T`` is ``Σ_j a_j · S_j · 2^(-(at - T) / (b_j · h))`` with the key's half-life ``h``.
With one component (``a = b = 1``) that is the exponential kernel exactly; other kernels use
the mixture of exponentials of :func:`decayrec.decay.exponential_mixture`.

Why batches: an ingestion request carries hundreds of events; grouping them by key with NumPy
(``np.unique`` + ``bincount``) keeps the per-event cost at a few array operations, and each key
is still updated in O(1) of its history.

An event older than its key's ``T`` (out-of-order delivery) is folded in exactly, as
``w · 2^(-(T - t) / h)``, without moving ``T``.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray

__all__ = ["KeyedSums"]

Int64Array = npt.NDArray[np.int64]
_EMPTY: Final = -np.inf  # reference time of a key that has no event yet


class KeyedSums:
    """Running decayed sums per int64 key, with a purchase count per key.

    Parameters
    ----------
    component_weights, component_ratios
        ``a_j`` and ``b_j`` of the kernel's mixture of exponentials (one each: exponential).
    """

    def __init__(self, component_weights: FloatArray, component_ratios: FloatArray) -> None:
        self.component_weights = np.asarray(component_weights, dtype=np.float64)
        self.component_ratios = np.asarray(component_ratios, dtype=np.float64)
        n_components = len(self.component_weights)
        self.codes: Int64Array = np.empty(0, dtype=np.int64)  # sorted, unique
        self.sums: FloatArray = np.empty((0, n_components))
        self.last: FloatArray = np.empty(0)
        self.half_life: FloatArray = np.empty(0)
        self.purchases: Int64Array = np.empty(0, dtype=np.int64)
        self.events: Int64Array = np.empty(0, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.codes)

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
        self._insert_missing(keys, half_life[first])
        rows = np.searchsorted(self.codes, keys)
        newest = np.full(len(keys), -np.inf)
        np.maximum.at(newest, inverse, seconds)
        reference = np.maximum(self.last[rows], newest)
        scale = self.half_life[rows][:, None] * self.component_ratios[None, :]
        # Old sums move from their reference time to the new one; a key without events has
        # sums of 0 and a reference of -inf, so its factor is taken as 1.
        elapsed = np.where(np.isfinite(self.last[rows]), reference - self.last[rows], 0.0)
        carried = self.sums[rows] * _decay(elapsed[:, None], scale)
        age = reference[inverse] - seconds
        contribution = weights[:, None] * _decay(age[:, None], scale[inverse])
        for j in range(self.sums.shape[1]):  # J components, not events
            carried[:, j] += np.bincount(inverse, weights=contribution[:, j], minlength=len(keys))
        self.sums[rows] = carried
        self.last[rows] = reference
        self.purchases[rows] += np.bincount(inverse, weights=purchase, minlength=len(keys)).astype(
            np.int64
        )
        self.events[rows] += np.bincount(inverse, minlength=len(keys))

    def _insert_missing(self, keys: Int64Array, half_life: FloatArray) -> None:
        """Add the keys not held yet (empty sums), keeping the codes sorted."""
        _, present = self.rows_of(keys)
        if present.all():
            return
        missing = np.flatnonzero(~present)
        at = np.searchsorted(self.codes, keys[missing])
        self.codes = np.insert(self.codes, at, keys[missing])
        self.sums = np.insert(self.sums, at, 0.0, axis=0)
        self.last = np.insert(self.last, at, _EMPTY)
        self.half_life = np.insert(self.half_life, at, half_life[missing])
        self.purchases = np.insert(self.purchases, at, 0)
        self.events = np.insert(self.events, at, 0)

    # ------------------------------------------------------------------ queries
    def rows_between(self, low: int, high: int) -> slice:
        """Rows of the keys in ``[low, high)`` (contiguous: the codes are sorted)."""
        start = int(np.searchsorted(self.codes, low))
        stop = int(np.searchsorted(self.codes, high))
        return slice(start, stop)

    def rows_of(self, codes: Int64Array) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.bool_]]:
        """Row of each code and whether it exists."""
        where = np.searchsorted(self.codes, codes)
        found = where < len(self.codes)
        found[found] = self.codes[where[found]] == codes[found]
        return np.where(found, where, 0), found

    def value(self, rows: slice | npt.NDArray[np.intp], at: float) -> FloatArray:
        """Decayed interest of the keys at ``rows`` at instant ``at`` (``at >= T``)."""
        scale = self.half_life[rows][:, None] * self.component_ratios[None, :]
        age = np.maximum(at - self.last[rows], 0.0)[:, None]
        out: FloatArray = (self.sums[rows] * _decay(age, scale)) @ self.component_weights
        return out

    @property
    def latest(self) -> float:
        """The newest reference time of any key (``-inf`` when empty)."""
        return float(self.last.max()) if len(self.last) else -np.inf


def _decay(age: FloatArray, half_life: FloatArray) -> FloatArray:
    """``2^(-age / h)``, with ``h = inf`` (no decay) giving 1."""
    with np.errstate(invalid="ignore"):
        ratio = np.where(np.isinf(half_life), 0.0, age / half_life)
    out: FloatArray = np.exp2(-ratio)
    return out
