"""Decay kernels: how much an event of a given age still counts.

Every kernel is parameterised by a half-life ``h`` and satisfies ``k(0) = 1``,
``k(h) = 1/2`` and is non-increasing in the age. A half-life of ``inf`` switches decay off
(``k = 1`` for every non-negative age), which is how the ``-no-decay`` baselines are made.

==============  ======================================  ==========================================
kernel          k(t; h)                                 shape
==============  ======================================  ==========================================
exponential     2^(-t/h)                                constant rate; exact O(1) online updates
linear          max(0, 1 - t/(2h))                      forgets completely after 2h
power           (1 + t/h)^-1                            hyperbolic: a long tail
logarithmic     max(0, 1 - log2(1 + t/h) / 2)           slow start, forgets completely after 3h
==============  ======================================  ==========================================

Ages are in seconds; negative ages (events after the instant asked about) get weight 0, also
when decay is switched off: an event that has not happened yet never counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, get_args

import numpy as np
import numpy.typing as npt

from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, KernelName

__all__ = [
    "KERNELS",
    "decay_weights",
    "validate_half_life",
    "validate_half_lives",
    "validate_kernel",
]


def _exponential(ratio: FloatArray) -> FloatArray:
    # 2**-r: exp2 is exact at whole half-lives (k(h) is exactly 1/2) and, with NumPy >= 2,
    # as fast as exp. Overwrites ``ratio`` to save a 10M-element temporary on large logs.
    np.negative(ratio, out=ratio)
    return np.exp2(ratio, out=ratio)


def _linear(ratio: FloatArray) -> FloatArray:
    return np.maximum(0.0, 1.0 - ratio / 2.0)


def _power(ratio: FloatArray) -> FloatArray:
    return 1.0 / (1.0 + ratio)


def _logarithmic(ratio: FloatArray) -> FloatArray:
    return np.maximum(0.0, 1.0 - np.log2(1.0 + ratio) / 2.0)


#: Kernel functions of ``age / half_life`` (a non-negative ratio; they may overwrite it).
KERNELS: Final[dict[str, Callable[[FloatArray], FloatArray]]] = {
    "exponential": _exponential,
    "linear": _linear,
    "power": _power,
    "logarithmic": _logarithmic,
}


def validate_kernel(kernel: str, *, owner: str = "decay") -> KernelName:
    """Return ``kernel`` if it names a known kernel, else raise naming the choices."""
    if kernel not in KERNELS:
        raise InvalidParameterError(
            f"The 'kernel' parameter of {owner} must be one of "
            f"{', '.join(get_args(KernelName))}. Got {kernel!r} instead."
        )
    return kernel  # type: ignore[return-value]


def validate_half_life(half_life_seconds: float, *, owner: str = "decay") -> float:
    """Return the half-life in seconds if it is positive (``inf`` allowed), else raise."""
    value = float(half_life_seconds)
    if not value > 0 or np.isnan(value):
        raise InvalidParameterError(
            f"The 'half_life' parameter of {owner} must be a positive duration (or infinite to "
            f"switch decay off). Got {value!r} seconds instead."
        )
    return value


def validate_half_lives(
    half_life_seconds: float | npt.ArrayLike, *, owner: str = "decay"
) -> float | FloatArray:
    """A validated half-life: a float for a scalar, else a float64 array of positive values.

    Why: per-key half-lives (one per category, say) are checked once, on the small table,
    before being gathered per event, so the per-event hot path needs no checks.

    Raises
    ------
    InvalidParameterError
        Naming the first entry that is not positive (``nan`` and ``0`` included).

    Examples
    --------
    >>> validate_half_lives(60.0)
    60.0
    >>> validate_half_lives([60.0, float("inf")]).tolist()
    [60.0, inf]
    """
    array = np.asarray(half_life_seconds, dtype=np.float64)
    if array.ndim == 0:
        return validate_half_life(float(array), owner=owner)
    bad = ~(array > 0)  # also catches nan
    if bad.any():
        position = int(np.flatnonzero(bad.ravel())[0])
        raise InvalidParameterError(
            f"The 'half_life' parameter of {owner} must hold positive durations (or infinite to "
            f"switch decay off). Entry {position} is {float(array.ravel()[position])!r} "
            "seconds instead."
        )
    return array


def decay_weights(
    age_seconds: npt.ArrayLike,
    half_life_seconds: float | npt.ArrayLike,
    kernel: KernelName = "exponential",
) -> FloatArray:
    """Kernel weight of events of the given ages (vectorised, broadcasting).

    Parameters
    ----------
    age_seconds
        ``at - event_time`` in seconds; negative ages (future events) get weight 0.
    half_life_seconds
        A scalar or an array broadcastable to ``age_seconds`` (e.g. per-category half-lives
        gathered per event); ``inf`` means no decay.
    kernel
        One of ``exponential``, ``linear``, ``power``, ``logarithmic``.

    Returns
    -------
    numpy.ndarray
        float64 weights in ``[0, 1]``, shaped like the broadcast of the two inputs. Very old
        events underflow to exactly 0; nothing overflows or warns.

    Raises
    ------
    InvalidParameterError
        For an unknown kernel or a half-life that is not positive.

    Examples
    --------
    >>> decay_weights([0.0, 3600.0, 7200.0], 3600.0).tolist()
    [1.0, 0.5, 0.25]
    >>> decay_weights([3600.0], 3600.0, "linear").tolist()
    [0.5]
    >>> decay_weights([1e9, -1.0], float("inf")).tolist()
    [1.0, 0.0]
    """
    func = KERNELS[validate_kernel(kernel)]
    half_life = validate_half_lives(half_life_seconds)
    age = np.array(age_seconds, dtype=np.float64)  # a private copy: the kernels overwrite it
    return _weights_inplace(age, half_life, func)


def _weights_inplace(
    age: FloatArray,
    half_life: float | FloatArray,
    func: Callable[[FloatArray], FloatArray],
) -> FloatArray:
    """Kernel weights, overwriting ``age`` where shapes allow (no validation; internal).

    Why: on a 10M-event log every temporary costs tens of milliseconds, so the batch interest
    code hands over an array it owns and the ages become the weights in place.
    """
    # Future events are found from the age itself: with an infinite half-life the ratio is 0
    # (or -0.0) for every age, and a tiny negative age can underflow to -0.0 after division.
    future = age < 0
    has_future = bool(future.any())
    with np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore"):
        if isinstance(half_life, float):
            if half_life == np.inf:
                ratio = np.zeros(age.shape, dtype=np.float64)
            else:
                ratio = np.divide(age, half_life, out=age)  # exactly 1.0 at one half-life
        else:
            ratio = np.where(np.isinf(half_life), 0.0, age / half_life)
        if has_future:
            future = np.broadcast_to(future, ratio.shape)
            ratio[future] = 0.0
        weights = func(ratio)
    if has_future:
        weights[future] = 0.0
    return weights
