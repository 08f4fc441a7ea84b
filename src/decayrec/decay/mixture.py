"""Mixtures of exponentials that stand in for every decay kernel in O(1) online updates.

Why: only the exponential kernel collapses a history to one running sum per key (see
:mod:`decayrec.decay.online`). Every kernel of :mod:`decayrec.decay.kernels` is a scale
family ``k(t; h) = f(t / h)``, so a fit of the shape ``f`` once, as a function of the ratio
``r = t / h``,

    f(r) ≈ g(r) = Σⱼ aⱼ · 2^(-r / bⱼ),   aⱼ ≥ 0,  bⱼ > 0,

serves every half-life: the interest ``Σᵢ wᵢ f(tᵢ / h)`` becomes ``Σⱼ aⱼ Sⱼ`` where ``Sⱼ`` is
an exact exponential running sum with half-life ``bⱼ · h`` (one
:class:`~decayrec.decay.online.ExponentialDecayState` per component, or one state over
``key * n_components + j``). Each update stays O(1) and the only error is the fit's, which
is measured and stored with it: ``|Σᵢ wᵢ f(tᵢ/h) - Σᵢ wᵢ g(tᵢ/h)| ≤ max_error · Σᵢ |wᵢ|``
for ages within the horizon.

How: the ``bⱼ`` are fixed on a log-spaced grid from 0.02 to ``2 · horizon_ratio``; the
``aⱼ`` solve a non-negative least-squares problem (:func:`scipy.optimize.nnls`) on about
3,000 ratios in ``[0, horizon_ratio]`` (log-spaced, dense near 0, plus a uniform grid and
the kinks), re-weighted for 100 rounds by Lawson's rule (weight times error) so that the fit
approaches the minimax fit on that grid. Components with ``aⱼ = 0`` are dropped.
``max_error`` is then measured on an independent grid of about 20,000 ratios that includes
``r = 0``, the horizon and the kinks (``r = 2`` for ``linear``, ``r = 3`` for
``logarithmic``), re-sampled finely around its highest peaks so that it also holds between
the grid points. Construction takes a few hundredths of a second and is cached.

Measured with the defaults (``n_components=12``, ``horizon_ratio=64``):

==============  =================  ==========  ==================================
kernel          max_error          kept        note
==============  =================  ==========  ==================================
exponential     0 (exact)          1           ``a = 1, b = 1``
power           about 0.00002      11          smooth and completely monotone
logarithmic     about 0.086        2           floor ≥ 0.068 for any aⱼ ≥ 0
linear          about 0.14         2           floor ≥ 1/8 for any aⱼ ≥ 0
==============  =================  ==========  ==================================

Limits of non-negative mixtures: a sum of exponentials with ``aⱼ ≥ 0`` is log-convex, so
``g(x + d)² ≤ g(x) · g(x + 2d)``. A kernel that reaches 0 at a finite ratio cannot satisfy
this closely: for ``linear`` (``f = 1, 1/2, 0`` at ``r = 0, 1, 2``) any such mixture has
``max_error ≥ 1/8``, whatever the number of components or their half-lives; for
``logarithmic`` (``r = 0, 1.5, 3``) ``max_error ≥ 0.068``. The fits above sit close to these
floors (``n_components=48`` reaches about 0.129 and 0.071), so for these two kernels the
mixture is a rough stand-in, not a faithful one. Only ``power`` (itself a mixture of
exponentials) is approximated closely.

Beyond the horizon: ``f`` and ``g`` are both non-negative and non-increasing, so for
``r > horizon_ratio`` both lie in ``[0, max(f(H), g(H))]`` with ``H = horizon_ratio`` and

    |f(r) - g(r)| ≤ max(f(H), g(H)) ≤ f(H) + max_error.

For ``linear`` and ``logarithmic`` ``f(H) = 0``, so the bound is ``g(H) ≤ max_error``; for
``power`` it is ``f(64) = 1/65``, about 0.015, unless a longer horizon is fitted.

Negative ratios (events after the instant asked about) weigh 0, as in
:mod:`decayrec.decay.kernels`.

Stability: provisional (the keys of :meth:`ExponentialMixture.to_dict` are the saved format).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

import numpy as np
import numpy.typing as npt
from scipy.optimize import nnls

from decayrec.decay.kernels import KERNELS, validate_half_lives, validate_kernel
from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, KernelName

__all__ = ["ExponentialMixture", "exponential_mixture"]

_OWNER: Final = "exponential_mixture"
_CLASS: Final = "ExponentialMixture"
_FIELDS: Final = ("kernel", "weights", "half_life_ratios", "max_error", "horizon_ratio")
#: Kinks of the kernels (ratios where the derivative jumps); both grids include them.
_KINKS: Final[dict[str, tuple[float, ...]]] = {"linear": (2.0,), "logarithmic": (3.0,)}
_SMALLEST_RATIO: Final = 0.02
_FIT_LOG_POINTS: Final = 2_500
_FIT_UNIFORM_POINTS: Final = 500
_CHECK_LOG_POINTS: Final = 15_000
_CHECK_UNIFORM_POINTS: Final = 5_001
_LAWSON_ROUNDS: Final = 100
_REFINED_PEAKS: Final = 64
_REFINE_POINTS: Final = 201


@dataclass(frozen=True, eq=False)
class ExponentialMixture:
    """``g(r) = Σⱼ aⱼ · 2^(-r / bⱼ)``: a fit of a kernel's shape ``f(r)``, ``r = age / h``.

    Build one with :func:`exponential_mixture`; the arrays are stored as read-only float64
    copies, and instances compare equal when every field is equal.

    Attributes
    ----------
    weights : numpy.ndarray
        ``aⱼ ≥ 0``, one per component.
    half_life_ratios : numpy.ndarray
        ``bⱼ > 0``: each component's half-life as a multiple of the kernel's half-life.
    kernel : str
        The kernel approximated.
    max_error : float
        ``max |f(r) - g(r)|`` over ``r in [0, horizon_ratio]``, measured on a dense grid
        (about 20,000 ratios, the kinks included, refined around the peaks).
    horizon_ratio : float
        The ratio up to which the fit was made and measured. Beyond it the error is at most
        ``max(f(horizon_ratio), g(horizon_ratio))`` (see the module docstring).

    Raises
    ------
    InvalidParameterError
        Naming the first field that is malformed (empty, of different lengths, negative
        weights, non-positive ratios, a non-finite or negative ``max_error``...).
    """

    weights: FloatArray
    half_life_ratios: FloatArray
    kernel: KernelName
    max_error: float
    horizon_ratio: float

    def __post_init__(self) -> None:
        weights = _float_vector(self.weights, "weights")
        ratios = _float_vector(self.half_life_ratios, "half_life_ratios")
        if not (weights >= 0).all():
            raise InvalidParameterError(
                f"The 'weights' field of {_CLASS} must hold non-negative numbers. "
                f"Got {weights.tolist()!r} instead."
            )
        if not (ratios > 0).all():
            raise InvalidParameterError(
                f"The 'half_life_ratios' field of {_CLASS} must hold positive numbers. "
                f"Got {ratios.tolist()!r} instead."
            )
        if len(ratios) != len(weights):
            raise InvalidParameterError(
                f"The 'half_life_ratios' field of {_CLASS} must have one entry per weight "
                f"({len(weights)}). Got {len(ratios)} instead."
            )
        if not isinstance(self.kernel, str) or self.kernel not in KERNELS:
            raise InvalidParameterError(
                f"The 'kernel' field of {_CLASS} must be one of {', '.join(KERNELS)}. "
                f"Got {self.kernel!r} instead."
            )
        kernel = validate_kernel(self.kernel, owner=_CLASS)
        max_error = _real(self.max_error, "max_error")
        if not (math.isfinite(max_error) and max_error >= 0):
            raise InvalidParameterError(
                f"The 'max_error' field of {_CLASS} must be a finite number >= 0. "
                f"Got {max_error!r} instead."
            )
        horizon = _real(self.horizon_ratio, "horizon_ratio")
        if not (math.isfinite(horizon) and horizon > 0):
            raise InvalidParameterError(
                f"The 'horizon_ratio' field of {_CLASS} must be a finite number > 0. "
                f"Got {horizon!r} instead."
            )
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "half_life_ratios", ratios)
        object.__setattr__(self, "kernel", kernel)
        object.__setattr__(self, "max_error", max_error)
        object.__setattr__(self, "horizon_ratio", horizon)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ExponentialMixture):
            return NotImplemented
        return (
            self.kernel == other.kernel
            and self.max_error == other.max_error
            and self.horizon_ratio == other.horizon_ratio
            and np.array_equal(self.weights, other.weights)
            and np.array_equal(self.half_life_ratios, other.half_life_ratios)
        )

    def __hash__(self) -> int:
        return hash(
            (
                self.kernel,
                tuple(self.weights.tolist()),
                tuple(self.half_life_ratios.tolist()),
                self.max_error,
                self.horizon_ratio,
            )
        )

    @property
    def n_components(self) -> int:
        """Number of exponential components (running sums per key online)."""
        return len(self.weights)

    def value(self, ratio: npt.ArrayLike) -> FloatArray:
        """``g`` at the given ratios ``age / half_life`` (same shape; ``nan`` stays ``nan``).

        Negative ratios (future events) give 0; ``inf`` gives 0.

        Examples
        --------
        >>> exponential_mixture("exponential").value([-1.0, 0.0, 1.0, 2.0]).tolist()
        [0.0, 1.0, 0.5, 0.25]
        """
        r = np.asarray(ratio, dtype=np.float64)
        clipped = np.maximum(r, 0.0)  # keeps nan; no overflow for negative ratios
        total = np.zeros(r.shape, dtype=np.float64)
        with np.errstate(under="ignore"):
            for weight, half_life_ratio in zip(
                self.weights.tolist(), self.half_life_ratios.tolist(), strict=True
            ):
                total += weight * np.exp2(-clipped / half_life_ratio)
        total[r < 0] = 0.0
        return total

    def component_half_lives(self, half_life_seconds: float | FloatArray) -> FloatArray:
        """Half-life in seconds of each component: ``bⱼ · h`` (``inf`` stays ``inf``).

        A scalar ``h`` gives shape ``(n_components,)``; an array of shape ``S`` (one
        half-life per key, say) gives ``S + (n_components,)``.

        Raises
        ------
        InvalidParameterError
            When a half-life is not positive.

        Examples
        --------
        >>> exponential_mixture("exponential").component_half_lives(60.0).tolist()
        [60.0]
        """
        half_life = validate_half_lives(half_life_seconds, owner=f"{_CLASS}.component_half_lives")
        return np.asarray(np.multiply.outer(half_life, self.half_life_ratios), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        """The mixture as plain JSON-ready data (floats and lists of floats)."""
        return {
            "kernel": self.kernel,
            "weights": self.weights.tolist(),
            "half_life_ratios": self.half_life_ratios.tolist(),
            "max_error": self.max_error,
            "horizon_ratio": self.horizon_ratio,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExponentialMixture:
        """A mixture from :meth:`to_dict`'s data, validated (``max_error`` is taken as stored).

        Raises
        ------
        InvalidParameterError
            Naming the field that is missing, unknown or malformed.
        """
        if not isinstance(data, Mapping):
            raise InvalidParameterError(
                f"The 'data' parameter of {_CLASS}.from_dict must be a mapping with keys "
                f"{', '.join(_FIELDS)}. Got {type(data).__name__} instead."
            )
        for name in _FIELDS:
            if name not in data:
                raise InvalidParameterError(
                    f"The '{name}' field of {_CLASS} is missing from the data given to "
                    f"from_dict (got keys {', '.join(map(repr, data))})."
                )
        unknown = [key for key in data if key not in _FIELDS]
        if unknown:
            raise InvalidParameterError(
                f"The {', '.join(repr(key) for key in unknown)} field(s) given to "
                f"{_CLASS}.from_dict are unknown; expected {', '.join(_FIELDS)}."
            )
        for name in ("weights", "half_life_ratios"):
            value = data[name]
            if not isinstance(value, list | tuple) or not all(_is_real(x) for x in value):
                raise InvalidParameterError(
                    f"The '{name}' field of {_CLASS} must be a list of numbers. "
                    f"Got {value!r} instead."
                )
        return cls(
            weights=np.asarray(data["weights"], dtype=np.float64),
            half_life_ratios=np.asarray(data["half_life_ratios"], dtype=np.float64),
            kernel=data["kernel"],
            max_error=data["max_error"],
            horizon_ratio=data["horizon_ratio"],
        )


def exponential_mixture(
    kernel: KernelName, *, n_components: int = 12, horizon_ratio: float = 64.0
) -> ExponentialMixture:
    """The non-negative mixture of exponentials that approximates ``kernel`` (cached).

    Parameters
    ----------
    kernel
        One of ``exponential``, ``linear``, ``power``, ``logarithmic``. ``exponential`` is
        returned exactly, as one component with ``a = 1, b = 1`` and ``max_error = 0``.
    n_components
        Size of the log-spaced grid of component half-life ratios (0.02 to
        ``2 * horizon_ratio``); components whose fitted weight is 0 are dropped, so at most
        this many are kept.
    horizon_ratio
        Ratios ``age / half_life`` in ``[0, horizon_ratio]`` are fitted and measured.

    Returns
    -------
    ExponentialMixture
        With its measured ``max_error`` (see the module docstring for the values and the
        bound beyond the horizon). The same arguments return the same (immutable) object.

    Raises
    ------
    InvalidParameterError
        For an unknown kernel, ``n_components`` that is not an integer >= 1, or
        ``horizon_ratio`` that is not a finite number > 0.

    Examples
    --------
    >>> len(exponential_mixture("exponential").weights)
    1
    >>> mixture = exponential_mixture("power")
    >>> mixture.max_error < 0.01
    True
    >>> bool(abs(mixture.value(1.0) - 0.5) <= mixture.max_error)
    True
    """
    name = validate_kernel(kernel, owner=_OWNER)
    if (
        isinstance(n_components, bool)
        or not isinstance(n_components, int | np.integer)
        or n_components < 1
    ):
        raise InvalidParameterError(
            f"The 'n_components' parameter of {_OWNER} must be an integer >= 1. "
            f"Got {n_components!r} instead."
        )
    if not _is_real(horizon_ratio) or not (
        math.isfinite(float(horizon_ratio)) and float(horizon_ratio) > 0
    ):
        raise InvalidParameterError(
            f"The 'horizon_ratio' parameter of {_OWNER} must be a finite number > 0. "
            f"Got {horizon_ratio!r} instead."
        )
    return _fit(name, int(n_components), float(horizon_ratio))


@lru_cache(maxsize=64)
def _fit(kernel: KernelName, n_components: int, horizon_ratio: float) -> ExponentialMixture:
    if kernel == "exponential":
        one = np.ones(1, dtype=np.float64)
        return ExponentialMixture(one, one, kernel, 0.0, horizon_ratio)
    ratios = _half_life_ratio_grid(n_components, horizon_ratio)
    fit_grid = _ratio_grid(kernel, horizon_ratio, _FIT_LOG_POINTS, _FIT_UNIFORM_POINTS, 1e-4)
    weights = _minimax_nnls(_design(fit_grid, ratios), _shape(kernel, fit_grid))
    keep = weights > 0
    weights, ratios = weights[keep], ratios[keep]
    max_error = _measure_max_error(kernel, weights, ratios, horizon_ratio)
    return ExponentialMixture(weights, ratios, kernel, max_error, horizon_ratio)


def _measure_max_error(
    kernel: str, weights: FloatArray, ratios: FloatArray, horizon_ratio: float
) -> float:
    """``max |f - g|`` on a dense grid independent of the fit's, refined at its peaks.

    Why the refinement: between grid points the error can rise a little above the grid's
    maximum (by about 1e-8 at 20,000 points); re-sampling finely between the neighbours of
    the highest local maxima makes the stored value hold on any other grid too.
    """
    grid = _ratio_grid(kernel, horizon_ratio, _CHECK_LOG_POINTS, _CHECK_UNIFORM_POINTS, 1e-6)
    error = np.abs(_design(grid, ratios) @ weights - _shape(kernel, grid))
    padded = np.concatenate([[-np.inf], error, [-np.inf]])
    peaks = np.flatnonzero((padded[1:-1] >= padded[:-2]) & (padded[1:-1] >= padded[2:]))
    peaks = peaks[np.argsort(error[peaks])[::-1][:_REFINED_PEAKS]]
    low = grid[np.maximum(peaks - 1, 0)]
    high = grid[np.minimum(peaks + 1, len(grid) - 1)]
    fine = np.linspace(low, high, _REFINE_POINTS).ravel()
    fine_error = np.abs(_design(fine, ratios) @ weights - _shape(kernel, fine))
    return float(max(error.max(), fine_error.max()))


def _half_life_ratio_grid(n_components: int, horizon_ratio: float) -> FloatArray:
    """``bⱼ``: log-spaced from 0.02 (or ``horizon / 100`` if smaller) to ``2 · horizon``."""
    if n_components == 1:
        return np.ones(1, dtype=np.float64)
    smallest = min(_SMALLEST_RATIO, horizon_ratio / 100.0)
    return np.geomspace(smallest, 2.0 * horizon_ratio, n_components)


def _ratio_grid(
    kernel: str, horizon_ratio: float, n_log: int, n_uniform: int, smallest: float
) -> FloatArray:
    """Ratios in ``[0, horizon]``: log-spaced (dense near 0), uniform, 0, horizon, kinks."""
    start = smallest * min(1.0, horizon_ratio)
    kinks = [kink for kink in _KINKS.get(kernel, ()) if kink <= horizon_ratio]
    return np.unique(
        np.concatenate(
            [
                [0.0, horizon_ratio, *kinks],
                np.geomspace(start, horizon_ratio, n_log),
                np.linspace(0.0, horizon_ratio, n_uniform),
            ]
        )
    )


def _design(ratio: FloatArray, half_life_ratios: FloatArray) -> FloatArray:
    with np.errstate(under="ignore"):
        return np.exp2(-ratio[:, None] / half_life_ratios[None, :])


def _shape(kernel: str, ratio: FloatArray) -> FloatArray:
    return KERNELS[kernel](ratio.copy())  # the kernels may overwrite their argument


def _minimax_nnls(design: FloatArray, target: FloatArray) -> FloatArray:
    """Non-negative weights that approximately minimise the max error on the grid.

    Lawson's iteration: weighted least squares (here non-negative, by NNLS) whose point
    weights are multiplied by the current absolute error each round; it converges towards
    the minimax solution. The best iterate (smallest max error) is returned.
    """
    n_points, n_columns = design.shape
    point_weight = np.ones(n_points, dtype=np.float64)
    best: FloatArray = np.zeros(n_columns, dtype=np.float64)
    best_error = math.inf
    for _ in range(_LAWSON_ROUNDS):
        scale = np.sqrt(point_weight)
        solution, _ = nnls(design * scale[:, None], target * scale, maxiter=50 * n_columns)
        error = np.abs(design @ solution - target)
        worst = float(error.max())
        if worst < best_error:
            best, best_error = solution, worst
        if worst == 0.0:
            break
        point_weight = point_weight * error
        point_weight /= point_weight.max()
        np.maximum(point_weight, 1e-15, out=point_weight)  # a point never drops out for good
    return np.asarray(best, dtype=np.float64)


def _is_real(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.integer | np.floating)


def _real(value: object, name: str) -> float:
    if not _is_real(value):
        raise InvalidParameterError(
            f"The '{name}' field of {_CLASS} must be a number. Got {value!r} instead."
        )
    return float(value)  # type: ignore[arg-type]


def _float_vector(value: object, name: str) -> FloatArray:
    """A read-only float64 copy of a non-empty 1-D array of finite real numbers."""
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):  # ragged nested lists
        array = np.empty(0)
    if array.dtype.kind not in "iuf" or array.ndim != 1 or len(array) == 0:
        raise InvalidParameterError(
            f"The '{name}' field of {_CLASS} must be a non-empty 1-D array of numbers. "
            f"Got {value.tolist() if isinstance(value, np.ndarray) else value!r} instead."
        )
    result = np.array(array, dtype=np.float64)
    if not np.isfinite(result).all():
        raise InvalidParameterError(
            f"The '{name}' field of {_CLASS} must hold finite numbers. "
            f"Got {result.tolist()!r} instead."
        )
    result.flags.writeable = False
    return result
