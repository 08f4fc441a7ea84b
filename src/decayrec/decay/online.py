"""Exact O(1) online interest for the exponential kernel.

Why: the exponential kernel is the one kernel whose sum over a history collapses to two
numbers per key. With ``h`` the half-life,

    I(t) = Σᵢ wᵢ · 2^(-(t - tᵢ)/h) = S · 2^(-(t - T)/h),   S = I(T),

for any reference time ``T``. Keeping ``T`` as the latest event time of the key (``last_time``)
and ``S`` as the interest at that moment (``score``), a new event costs O(1) and the state
never has to revisit the history: a service absorbs a click in microseconds and still
answers exactly what :func:`decayrec.decay.decayed_interest` would compute from the whole log.

Keys are dense non-negative integers (a category index, an item index, or a flattened
``user * n_categories + category``); the state grows when a larger key arrives. The
half-life is one number, or one per key (e.g. per category: groceries fade faster than
furniture).

Time only moves forward *per key*: an event older than the key's ``last_time`` (late arrival,
out-of-order delivery) is still folded in exactly, as ``w · 2^(-(last_time - t)/h)``, without
moving ``last_time``. Asking for the interest *before* a key's ``last_time`` is refused: the
running sum has already absorbed events after that instant and cannot take them out again,
so any number returned would be wrong (see :meth:`ExponentialDecayState.value`).

Stability: provisional (the array names of :meth:`~ExponentialDecayState.to_arrays` are the
saved format and change only with a format version).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final, Self, TypeGuard, TypeVar

import numpy as np
import numpy.typing as npt

from decayrec.decay.kernels import validate_half_lives
from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray

__all__ = ["ExponentialDecayState"]

_OWNER: Final = "ExponentialDecayState"
_ARRAY_NAMES: Final = ("score", "last_time", "count", "half_life_seconds")
Int64Array = npt.NDArray[np.int64]
_Scalar = TypeVar("_Scalar", bound=np.generic)


class ExponentialDecayState:
    """Running exponential-decay interest per key: ``score`` at ``last_time``, O(1) per event.

    Parameters
    ----------
    half_life_seconds
        One half-life for every key, or an array with one per key (which also fixes the
        number of keys; use :meth:`grow` to add keys with their half-lives). ``inf``
        switches decay off (plain weighted counts).
    n_keys
        Keys to allocate up front (only with a scalar half-life; the state grows on demand).

    Attributes
    ----------
    score : numpy.ndarray
        Interest of each key at its ``last_time`` (read-only view; 0 for untouched keys).
    last_time : numpy.ndarray
        Latest event time of each key in Unix seconds (read-only view; ``nan`` if untouched).
    count : numpy.ndarray
        Events absorbed per key (read-only view). A key with ``count == 0`` was never
        touched; emptiness is this count, never a score of 0.

    Examples
    --------
    Events ``(key, time, weight)``: (0, 0 s, 1), (0, 10 s, 5), (1, 10 s, 1), half-life 10 s:

    >>> state = ExponentialDecayState(half_life_seconds=10.0)
    >>> _ = state.update([0, 0, 1], [0.0, 10.0, 10.0], [1.0, 5.0, 1.0])
    >>> state.value([0, 1, 2], at=10.0).tolist()
    [5.5, 1.0, 0.0]
    >>> state.value([0], at=20.0).tolist()
    [2.75]

    A late event is folded in exactly; one-by-one equals the batch:

    >>> late = ExponentialDecayState(10.0).update(0, 10.0, 5.0).update(0, 0.0, 1.0)
    >>> late.value([0], at=20.0).tolist()
    [2.75]
    """

    def __init__(self, half_life_seconds: float | npt.ArrayLike, *, n_keys: int = 0) -> None:
        half_life = validate_half_lives(half_life_seconds, owner=_OWNER)
        if isinstance(half_life, np.ndarray):
            if half_life.ndim != 1:
                raise InvalidParameterError(
                    f"The 'half_life_seconds' parameter of {_OWNER} must be a number or a "
                    f"1-D array with one half-life per key. Got shape {half_life.shape} instead."
                )
            if n_keys not in (0, len(half_life)):
                raise InvalidParameterError(
                    f"The 'n_keys' parameter of {_OWNER} must match the {len(half_life)} "
                    f"per-key half-lives (or be left out). Got {n_keys!r} instead."
                )
            n_keys = len(half_life)
            half_life = half_life.copy()
        if isinstance(n_keys, bool) or not isinstance(n_keys, int | np.integer) or n_keys < 0:
            raise InvalidParameterError(
                f"The 'n_keys' parameter of {_OWNER} must be an integer >= 0. "
                f"Got {n_keys!r} instead."
            )
        self._half_life: float | FloatArray = half_life
        self._n_keys = int(n_keys)
        self._n_events = 0
        capacity = max(self._n_keys, 8)
        self._score: FloatArray = np.zeros(capacity, dtype=np.float64)
        self._last: FloatArray = np.full(capacity, np.nan, dtype=np.float64)
        self._count: Int64Array = np.zeros(capacity, dtype=np.int64)

    # ------------------------------------------------------------------ views
    @property
    def n_keys(self) -> int:
        """Size of the key space (untouched keys included)."""
        return self._n_keys

    @property
    def n_events(self) -> int:
        """Events absorbed so far (over all keys)."""
        return self._n_events

    @property
    def is_empty(self) -> bool:
        """Whether no event has been absorbed yet (explicit: a count, not a score of 0)."""
        return self._n_events == 0

    @property
    def per_key_half_life(self) -> bool:
        """Whether each key has its own half-life."""
        return isinstance(self._half_life, np.ndarray)

    @property
    def half_life_seconds(self) -> float | FloatArray:
        """The half-life: a float, or a copy of the per-key array."""
        if isinstance(self._half_life, np.ndarray):
            return self._half_life.copy()
        return self._half_life

    @property
    def score(self) -> FloatArray:
        """Interest of each key at its ``last_time`` (read-only)."""
        return _read_only(self._score[: self._n_keys])

    @property
    def last_time(self) -> FloatArray:
        """Latest event time of each key, Unix seconds; ``nan`` where untouched (read-only)."""
        return _read_only(self._last[: self._n_keys])

    @property
    def count(self) -> Int64Array:
        """Events absorbed per key (read-only)."""
        return _read_only(self._count[: self._n_keys])

    def __repr__(self) -> str:
        half_life = "per-key" if self.per_key_half_life else f"{self._half_life!r} s"
        return (
            f"ExponentialDecayState(n_keys={self._n_keys}, n_events={self._n_events}, "
            f"half_life={half_life})"
        )

    # ------------------------------------------------------------------ updates
    def update(
        self,
        keys: npt.ArrayLike,
        times: npt.ArrayLike,
        weights: npt.ArrayLike | None = None,
    ) -> Self:
        """Absorb one event or a batch, in any order; returns ``self`` for chaining.

        Each key ends at ``last_time = max(previous last_time, its newest event)``; its score
        is the previous score decayed to that time plus every new event decayed to it.
        Events may arrive out of order and ties may come in any order: the result is the
        same (up to floating-point summation order) as one batch of the whole stream.

        Parameters
        ----------
        keys
            Non-negative integer key per event (a scalar for one event).
        times
            Event time per event, finite Unix seconds (a scalar is broadcast).
        weights
            Weight per event (a scalar is broadcast; default 1). Any finite number: a
            negative weight (a return, a dislike) subtracts interest.

        Raises
        ------
        InvalidParameterError
            When the batch is malformed (lengths, non-integer or negative keys, a key beyond
            the per-key half-lives, non-finite times or weights). The whole batch is checked
            before any of it is applied, so a rejected batch leaves the state untouched.
        """
        if _is_int(keys) and _is_real(times) and (weights is None or _is_real(weights)):
            # One event given as plain numbers: the serving hot path, a few microseconds.
            return self._update_scalar(
                int(keys), float(times), 1.0 if weights is None else float(weights)
            )
        keys_arr, times_arr, weights_arr = self._validated_batch(keys, times, weights)
        size = len(keys_arr)
        if size == 0:
            return self
        top = int(keys_arr.max())
        if top >= self._n_keys:
            self._ensure_keys(top + 1)
        if size == 1:
            self._update_one(int(keys_arr[0]), float(times_arr[0]), float(weights_arr[0]))
        else:
            self._update_batch(keys_arr, times_arr, weights_arr)
        self._n_events += size
        return self

    def grow(self, n_keys: int, *, half_life_seconds: float | npt.ArrayLike | None = None) -> Self:
        """Enlarge the key space to ``n_keys`` (never shrinks); returns ``self``.

        A scalar-half-life state grows by itself on :meth:`update`; this is for per-key
        half-lives, where the new keys need theirs: ``half_life_seconds`` is one value for all
        new keys or an array with one per new key.

        Raises
        ------
        InvalidParameterError
            When ``n_keys`` is smaller than the current size, or the half-lives are missing,
            not positive, of the wrong length, or given to a scalar-half-life state.
        """
        if isinstance(n_keys, bool) or not isinstance(n_keys, int | np.integer):
            raise InvalidParameterError(
                f"The 'n_keys' parameter of {_OWNER}.grow must be an integer. "
                f"Got {n_keys!r} instead."
            )
        n_keys = int(n_keys)
        if n_keys < self._n_keys:
            raise InvalidParameterError(
                f"The 'n_keys' parameter of {_OWNER}.grow must be >= the current "
                f"{self._n_keys} keys (a state never shrinks). Got {n_keys} instead."
            )
        if not isinstance(self._half_life, np.ndarray):
            if half_life_seconds is not None:
                raise InvalidParameterError(
                    f"This {_OWNER} has one half-life for every key; 'half_life_seconds' must "
                    f"be left out of grow(). Got {half_life_seconds!r} instead."
                )
            self._ensure_keys(n_keys)
            return self
        added = n_keys - self._n_keys
        if half_life_seconds is None:
            if added == 0:
                return self
            raise InvalidParameterError(
                f"This {_OWNER} has a half-life per key; grow() needs 'half_life_seconds' for "
                f"the {added} new keys."
            )
        extra = validate_half_lives(half_life_seconds, owner=_OWNER)
        if np.ndim(extra) != 0 and np.shape(extra) != (added,):
            raise InvalidParameterError(
                f"The 'half_life_seconds' of {_OWNER}.grow must hold one half-life per new key "
                f"({added}). Got shape {np.shape(extra)} instead."
            )
        extra_arr = np.broadcast_to(np.asarray(extra, dtype=np.float64), (added,)).copy()
        self._half_life = np.concatenate([self._half_life, extra_arr])
        self._ensure_keys(n_keys)
        return self

    # ------------------------------------------------------------------ queries
    def value(self, keys: npt.ArrayLike, at: float | npt.ArrayLike) -> FloatArray:
        """Interest of ``keys`` at ``at``: ``score · 2^(-(at - last_time)/h)``.

        Keys never touched (including keys beyond :attr:`n_keys`) have interest 0.

        Parameters
        ----------
        keys
            Non-negative integer keys (any shape).
        at
            Unix seconds: one instant, or one per key (same shape as ``keys``).

        Returns
        -------
        numpy.ndarray
            float64, shaped like ``keys``. Interest far in the future underflows to 0.

        Raises
        ------
        InvalidParameterError
            When ``at`` is earlier than the ``last_time`` of a requested key. The state is a
            running sum that already holds the events up to ``last_time``; decaying it
            "backwards" would count events that had not happened yet at ``at`` (and inflate
            the rest), so no honest answer exists. Replay history with a fresh state, or use
            :func:`decayrec.decay.decayed_interest` on the log, to look into the past.
        """
        return self._value(keys, at, 0.0, name="value")

    def forecast(
        self, keys: npt.ArrayLike, at: float | npt.ArrayLike, horizon_seconds: float
    ) -> FloatArray:
        """Interest expected ``horizon_seconds`` after ``at`` if nothing more happens.

        Equals ``value(keys, at) · 2^(-horizon/h)``; ``at`` is "now" and, as for
        :meth:`value`, must not be before a requested key's ``last_time``.

        Raises
        ------
        InvalidParameterError
            For a negative (or ``nan``) horizon, and as :meth:`value`.

        Examples
        --------
        >>> state = ExponentialDecayState(3600.0).update([0], [0.0], [8.0])
        >>> state.forecast([0], at=3600.0, horizon_seconds=7200.0).tolist()
        [1.0]
        """
        horizon = float(horizon_seconds)
        if not horizon >= 0:
            raise InvalidParameterError(
                f"The 'horizon_seconds' parameter of {_OWNER}.forecast must be >= 0. "
                f"Got {horizon_seconds!r} instead."
            )
        return self._value(keys, at, horizon, name="forecast")

    # ------------------------------------------------------------------ saving
    def to_arrays(self) -> dict[str, npt.NDArray[np.float64] | Int64Array]:
        """The state as plain arrays (copies), for ``np.savez`` or safetensors; no pickle.

        Keys: ``score``, ``last_time`` (``nan`` where untouched), ``count`` (int64) and
        ``half_life_seconds`` (0-d for one half-life, else one per key).

        Examples
        --------
        >>> import io
        >>> state = ExponentialDecayState(60.0).update([2], [5.0], [1.5])
        >>> buffer = io.BytesIO()
        >>> np.savez(buffer, **state.to_arrays())
        >>> _ = buffer.seek(0)
        >>> with np.load(buffer, allow_pickle=False) as saved:
        ...     restored = ExponentialDecayState.from_arrays(saved)
        >>> restored.value([2], at=65.0).tolist()
        [0.75]
        """
        return {
            "score": self._score[: self._n_keys].copy(),
            "last_time": self._last[: self._n_keys].copy(),
            "count": self._count[: self._n_keys].copy(),
            "half_life_seconds": np.array(self._half_life, dtype=np.float64),
        }

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, npt.ArrayLike]) -> Self:
        """Rebuild a state from :meth:`to_arrays` output, checking it is consistent.

        Raises
        ------
        InvalidParameterError
            Naming the missing or inconsistent array: lengths differ, a count is negative, a
            touched key lacks a finite ``last_time`` or score, or an untouched key has one.
        """
        missing = [name for name in _ARRAY_NAMES if name not in arrays]
        if missing:
            raise InvalidParameterError(
                f"{_OWNER}.from_arrays needs the arrays {', '.join(_ARRAY_NAMES)}; "
                f"missing {', '.join(missing)}."
            )
        score = np.asarray(arrays["score"], dtype=np.float64)
        last = np.asarray(arrays["last_time"], dtype=np.float64)
        count_in = np.asarray(arrays["count"])
        half_life = np.asarray(arrays["half_life_seconds"], dtype=np.float64)
        if score.ndim != 1 or last.shape != score.shape or count_in.shape != score.shape:
            raise InvalidParameterError(
                f"{_OWNER}.from_arrays: 'score', 'last_time' and 'count' must be 1-D arrays of "
                f"one length. Got shapes {score.shape}, {last.shape} and {count_in.shape}."
            )
        if half_life.ndim not in (0, 1) or (half_life.ndim == 1 and half_life.shape != score.shape):
            raise InvalidParameterError(
                f"{_OWNER}.from_arrays: 'half_life_seconds' must be 0-d or one per key "
                f"({len(score)}). Got shape {half_life.shape} instead."
            )
        if count_in.size and (count_in.dtype.kind not in "iu" or int(count_in.min()) < 0):
            raise InvalidParameterError(
                f"{_OWNER}.from_arrays: 'count' must hold integers >= 0. "
                f"Got dtype {count_in.dtype} with minimum {count_in.min()!r}."
            )
        count = count_in.astype(np.int64)
        touched = count > 0
        bad = np.flatnonzero(
            (touched & ~(np.isfinite(last) & np.isfinite(score)))
            | (~touched & ~(np.isnan(last) & (score == 0)))
        )
        if bad.size:
            key = int(bad[0])
            raise InvalidParameterError(
                f"{_OWNER}.from_arrays: key {key} has count {int(count[key])}, score "
                f"{float(score[key])!r} and last_time {float(last[key])!r}; a touched key "
                "needs a finite score and last_time, an untouched one score 0 and last_time nan."
            )
        state = cls(half_life if half_life.ndim else float(half_life), n_keys=len(score))
        state._score[: len(score)] = score
        state._last[: len(score)] = last
        state._count[: len(score)] = count
        state._n_events = int(count.sum())
        return state

    def copy(self) -> Self:
        """An independent copy (updates to one do not touch the other)."""
        return type(self).from_arrays(self.to_arrays())

    # ------------------------------------------------------------------ internals
    def _validated_batch(
        self, keys: npt.ArrayLike, times: npt.ArrayLike, weights: npt.ArrayLike | None
    ) -> tuple[Int64Array, FloatArray, FloatArray]:
        keys_in = np.asarray(keys)
        keys_arr = _as_keys(keys_in, "update")
        size = len(keys_arr)
        times_arr = _as_1d(times, size, "times")
        weights_arr = np.ones(size) if weights is None else _as_1d(weights, size, "weights")
        if size == 0:
            return keys_arr, times_arr, weights_arr
        if not np.isfinite(times_arr).all():
            bad = int(np.flatnonzero(~np.isfinite(times_arr))[0])
            raise InvalidParameterError(
                f"The 'times' of {_OWNER}.update must be finite Unix seconds. "
                f"Event {bad} has {float(times_arr[bad])!r}."
            )
        if not np.isfinite(weights_arr).all():
            bad = int(np.flatnonzero(~np.isfinite(weights_arr))[0])
            raise InvalidParameterError(
                f"The 'weights' of {_OWNER}.update must be finite numbers. "
                f"Event {bad} has {float(weights_arr[bad])!r}."
            )
        if isinstance(self._half_life, np.ndarray):
            top = int(keys_arr.max())
            if top >= self._n_keys:
                raise InvalidParameterError(
                    f"Key {top} is beyond the {self._n_keys} per-key half-lives of this "
                    f"{_OWNER}; call grow(n_keys, half_life_seconds=...) first."
                )
        return keys_arr, times_arr, weights_arr

    def _update_scalar(self, key: int, time: float, weight: float) -> Self:
        # Same checks and messages as _validated_batch, without building arrays.
        if key < 0:
            raise InvalidParameterError(
                f"The 'keys' of {_OWNER}.update must be >= 0. Got {key} instead."
            )
        if not math.isfinite(time):
            raise InvalidParameterError(
                f"The 'times' of {_OWNER}.update must be finite Unix seconds. Event 0 has {time!r}."
            )
        if not math.isfinite(weight):
            raise InvalidParameterError(
                f"The 'weights' of {_OWNER}.update must be finite numbers. Event 0 has {weight!r}."
            )
        if key >= self._n_keys:
            if isinstance(self._half_life, np.ndarray):
                raise InvalidParameterError(
                    f"Key {key} is beyond the {self._n_keys} per-key half-lives of this "
                    f"{_OWNER}; call grow(n_keys, half_life_seconds=...) first."
                )
            self._ensure_keys(key + 1)
        self._update_one(key, time, weight)
        self._n_events += 1
        return self

    def _ensure_keys(self, n_keys: int) -> None:
        capacity = len(self._score)
        if n_keys > capacity:
            # Doubling keeps one-by-one growth (keys 0, 1, 2, ...) amortised O(1) per event.
            new_capacity = max(n_keys, 2 * capacity)
            score = np.zeros(new_capacity, dtype=np.float64)
            last = np.full(new_capacity, np.nan, dtype=np.float64)
            count = np.zeros(new_capacity, dtype=np.int64)
            score[: self._n_keys] = self._score[: self._n_keys]
            last[: self._n_keys] = self._last[: self._n_keys]
            count[: self._n_keys] = self._count[: self._n_keys]
            self._score, self._last, self._count = score, last, count
        self._n_keys = max(self._n_keys, n_keys)

    def _update_one(self, key: int, time: float, weight: float) -> None:
        half_life = (
            float(self._half_life[key])
            if isinstance(self._half_life, np.ndarray)
            else self._half_life
        )
        if self._count[key] == 0:
            self._score[key] = weight
            self._last[key] = time
        else:
            last = float(self._last[key])
            if time >= last:
                self._score[key] = float(self._score[key]) * _factor(time - last, half_life)
                self._score[key] += weight
                self._last[key] = time
            else:
                self._score[key] += weight * _factor(last - time, half_life)
        self._count[key] += 1

    def _update_batch(self, keys: Int64Array, times: FloatArray, weights: FloatArray) -> None:
        unique, inverse = _group(keys)
        newest = np.full(len(unique), -np.inf)
        np.maximum.at(newest, inverse, times)
        old_last = self._last[unique]
        touched = self._count[unique] > 0
        new_last = np.where(touched, np.maximum(old_last, newest), newest)
        old_last = np.where(touched, old_last, new_last)  # untouched: score 0, no decay
        half_life: float | FloatArray = (
            self._half_life[unique] if isinstance(self._half_life, np.ndarray) else self._half_life
        )
        carried = self._score[unique] * _factors(new_last - old_last, half_life)
        per_event_half_life = half_life[inverse] if isinstance(half_life, np.ndarray) else half_life
        added = weights * _factors(new_last[inverse] - times, per_event_half_life)
        carried += np.bincount(inverse, weights=added, minlength=len(unique))
        self._score[unique] = carried
        self._last[unique] = new_last
        self._count[unique] += np.bincount(inverse, minlength=len(unique))

    def _value(
        self, keys: npt.ArrayLike, at: float | npt.ArrayLike, horizon: float, *, name: str
    ) -> FloatArray:
        keys_in = np.asarray(keys)
        flat_keys = _as_keys(keys_in.reshape(-1), name)
        at_arr = np.asarray(at, dtype=np.float64)
        if at_arr.ndim != 0 and at_arr.shape != keys_in.shape:
            raise InvalidParameterError(
                f"The 'at' parameter of {_OWNER}.{name} must be one instant or one per key "
                f"(shape {keys_in.shape}). Got shape {at_arr.shape} instead."
            )
        if np.isnan(at_arr).any():
            raise InvalidParameterError(
                f"The 'at' parameter of {_OWNER}.{name} must be Unix seconds. Got nan instead."
            )
        at_flat = np.broadcast_to(at_arr, keys_in.shape).reshape(-1)
        out = np.zeros(len(flat_keys), dtype=np.float64)
        inside = flat_keys < self._n_keys
        positions = np.flatnonzero(inside)
        known_keys = flat_keys[positions]
        touched = self._count[known_keys] > 0
        positions, known_keys = positions[touched], known_keys[touched]
        last = self._last[known_keys]
        at_known = at_flat[positions]
        early = at_known < last
        if early.any():
            first = int(np.flatnonzero(early)[0])
            raise InvalidParameterError(
                f"{_OWNER}.{name}: 'at' = {float(at_known[first])!r} is before the last event "
                f"of key {int(known_keys[first])} ({float(last[first])!r}). The running sum "
                "already holds that event and cannot be decayed backwards; use "
                "decayed_interest on the log to look into the past."
            )
        half_life: float | FloatArray = (
            self._half_life[known_keys]
            if isinstance(self._half_life, np.ndarray)
            else self._half_life
        )
        out[positions] = self._score[known_keys] * _factors((at_known - last) + horizon, half_life)
        return out.reshape(keys_in.shape)


def _is_int(value: object) -> TypeGuard[int | np.integer[Any]]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _is_real(value: object) -> TypeGuard[float | np.integer[Any] | np.floating[Any]]:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


def _read_only(array: npt.NDArray[_Scalar]) -> npt.NDArray[_Scalar]:
    view = array.view()
    view.flags.writeable = False
    return view


def _factor(age: float, half_life: float) -> float:
    """2^(-age/h) for one non-negative age; 1 without decay; 0 after a very long gap."""
    if half_life == math.inf:
        return 1.0
    return math.exp2(-(age / half_life))  # age/h may be inf: exp2(-inf) is 0, no error


def _factors(age: FloatArray, half_life: float | FloatArray) -> FloatArray:
    """Vectorised :func:`_factor` (ages >= 0; ``inf`` ages or half-lives are handled)."""
    with np.errstate(over="ignore", under="ignore", invalid="ignore", divide="ignore"):
        if isinstance(half_life, float):
            if half_life == math.inf:
                return np.ones(age.shape, dtype=np.float64)
            ratio = age / half_life
        else:
            ratio = np.where(np.isinf(half_life), 0.0, age / half_life)
        np.negative(ratio, out=ratio)
        return np.exp2(ratio, out=ratio)


def _group(keys: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Distinct keys (sorted) and each event's position among them.

    Why two ways: ``np.unique`` sorts (O(m log m)); when the key range is small next to the
    batch a presence table over the range is O(m + range) and several times faster.
    """
    top = int(keys.max())
    if top < 4 * len(keys) + 1024:
        present = np.bincount(keys, minlength=top + 1) > 0
        unique = np.flatnonzero(present)
        rank = np.cumsum(present) - 1
        return unique.astype(np.int64), rank[keys].astype(np.int64)
    unique, inverse = np.unique(keys, return_inverse=True)
    return unique.astype(np.int64), inverse.astype(np.int64).reshape(-1)


def _as_keys(keys: npt.NDArray[np.generic], name: str) -> Int64Array:
    """Keys as a 1-D int64 array (a scalar is one key); rejects non-integers and negatives."""
    flat = keys.reshape(-1)
    if flat.size == 0:
        return np.zeros(0, dtype=np.int64)
    if keys.dtype.kind not in "iu":
        raise InvalidParameterError(
            f"The 'keys' of {_OWNER}.{name} must be integers (dense key indices). "
            f"Got dtype {keys.dtype} instead."
        )
    if keys.ndim > 1 and name == "update":
        raise InvalidParameterError(
            f"The 'keys' of {_OWNER}.update must be a scalar or 1-D. "
            f"Got shape {keys.shape} instead."
        )
    low = int(flat.min())
    if low < 0:
        raise InvalidParameterError(
            f"The 'keys' of {_OWNER}.{name} must be >= 0. Got {low} instead."
        )
    return flat.astype(np.int64, copy=False)


def _as_1d(values: npt.ArrayLike, size: int, name: str) -> FloatArray:
    """A float64 array of ``size`` entries; a scalar is broadcast."""
    try:
        array = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise InvalidParameterError(
            f"The '{name}' of {_OWNER}.update must be numbers. Got {values!r} instead."
        ) from None
    if array.ndim == 0:
        return np.full(size, float(array))
    if array.shape != (size,):
        raise InvalidParameterError(
            f"The '{name}' of {_OWNER}.update must be a scalar or hold one entry per key "
            f"({size}). Got shape {array.shape} instead."
        )
    return array
