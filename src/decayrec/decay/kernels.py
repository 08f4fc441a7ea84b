"""Decay kernels: how much an event of a given age still counts.

Every kernel is parameterised by a half-life ``h`` and satisfies ``k(0) = 1``,
``k(h) = 1/2`` and is non-increasing in the age. A half-life of ``inf`` switches decay off
(``k = 1`` for every age), which is how the ``-no-decay`` baselines are made.

==============  ======================================  ==========================================
kernel          k(t; h)                                 shape
==============  ======================================  ==========================================
exponential     2^(-t/h)                                constant rate; exact O(1) online updates
linear          max(0, 1 - t/(2h))                      forgets completely after 2h
power           (1 + t/h)^-1                            hyperbolic: a long tail
logarithmic     max(0, 1 - log2(1 + t/h) / 2)           slow start, forgets completely after 3h
==============  ======================================  ==========================================

Ages are in seconds; negative ages (events after the instant asked about) get weight 0.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, get_args

import numpy as np
import numpy.typing as npt

from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, KernelName

__all__ = ["KERNELS", "decay_weights", "validate_half_life", "validate_kernel"]


_LN2: Final = float(np.log(2.0))


def _exponential(ratio: FloatArray) -> FloatArray:
    # exp(-ln2 * r) is the same number as 2**-r and about 3x faster than np.exp2 here.
    ratio *= -_LN2
    return np.exp(ratio, out=ratio)


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

    Examples
    --------
    >>> decay_weights([0.0, 3600.0, 7200.0], 3600.0).tolist()
    [1.0, 0.5, 0.25]
    >>> decay_weights([3600.0], 3600.0, "linear").tolist()
    [0.5]
    >>> decay_weights([1e9], float("inf")).tolist()
    [1.0]
    """
    func = KERNELS[validate_kernel(kernel)]
    age = np.asarray(age_seconds, dtype=np.float64)
    half_life = np.asarray(half_life_seconds, dtype=np.float64)
    if half_life.ndim == 0:
        if np.isinf(half_life):
            ratio = np.zeros(age.shape, dtype=np.float64)
        else:
            ratio = age * (1.0 / float(half_life))
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(np.isinf(half_life), 0.0, age / half_life)
    future = ratio < 0
    has_future = bool(future.any())
    if has_future:
        ratio[future] = 0.0
    weights = func(ratio)
    if has_future:
        weights[future] = 0.0
    return weights
