"""How sure a metric difference is: paired confidence intervals over the evaluated users.

Why: every model in one evaluation is scored on the same users, so two models' averages differ
by the average of their per-user differences, and the spread of those differences says how
far the average could move on another draw of users. On a sample of a few dozen users (the
Taobao and Diginetica samples in ``../shared/data``) a gap of 0.04 NDCG can be noise; on tens
of thousands it rarely is. A table without that information invites reading noise as a win.

What: :func:`mean_interval` (a model's mean with its 95 % interval) and
:func:`paired_differences` (each model minus a reference, with the 95 % interval of the
difference), both Student-t intervals over users; :func:`clustered_mean_interval` and the
``clusters`` argument of :func:`paired_differences` for values that are not one per user (a
user scored in several test periods of a rolling-origin evaluation), whose spread is measured
between users, not between values. The t interval is exact for normal per-user
values and, by the central limit theorem, close for the bounded ranking metrics at the user
counts evaluations have; it is deterministic (no resampling seed) and costs one pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray

__all__ = [
    "Interval",
    "clustered_mean_interval",
    "mean_interval",
    "paired_differences",
]

#: Confidence level of every interval reported.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval and the users it rests on.

    ``low`` and ``high`` are NaN when fewer than two users have a value (no spread to
    measure).
    """

    estimate: float
    low: float
    high: float
    n_users: int

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely above or below zero (a clear difference)."""
        return bool(self.low > 0 or self.high < 0)

    def to_json(self) -> dict[str, float | int | None]:
        """``{"estimate", "low", "high", "n_users"}``; NaN bounds become ``None``."""

        def finite(value: float) -> float | None:
            return value if np.isfinite(value) else None

        return {
            "estimate": self.estimate,
            "low": finite(self.low),
            "high": finite(self.high),
            "n_users": self.n_users,
        }


def mean_interval(values: FloatArray) -> Interval:
    """Mean of the per-user ``values`` (NaN: user without a value) and its 95 % t interval."""
    finite = np.asarray(values, dtype=np.float64)
    finite = finite[~np.isnan(finite)]
    n = len(finite)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    mean = float(finite.mean())
    if n < 2:
        return Interval(mean, float("nan"), float("nan"), n)
    from scipy import stats  # deferred: scipy.stats adds ~0.3 s to every CLI start

    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(finite.std(ddof=1)) / n**0.5
    return Interval(mean, mean - half, mean + half, n)


def clustered_mean_interval(values: FloatArray, clusters: npt.ArrayLike) -> Interval:
    """Mean of ``values`` and its 95 % interval when values of one cluster are not independent.

    Why: a shopper evaluated in several test periods contributes several values that move
    together (a shopper easy to predict is easy in every period), so treating them as
    independent would narrow the interval with no new information. The variance of the mean
    is the cluster-robust (sandwich) estimate ``G / (G - 1) · Σ_g r_g² / n²``, with ``r_g`` the
    sum of cluster ``g``'s deviations from the mean, and the interval uses Student's t with
    ``G - 1`` degrees of freedom. With one value per cluster it is :func:`mean_interval`.

    Parameters
    ----------
    values
        One value per evaluated unit (NaN: left out).
    clusters
        The unit's cluster (e.g. its user id), as long as ``values``.

    Returns
    -------
    Interval
        ``n_users`` counts the clusters with a value (NaN bounds below two of them).

    Examples
    --------
    >>> one_each = clustered_mean_interval(np.array([0.0, 1.0, 0.5]), ["a", "b", "c"])
    >>> plain = mean_interval(np.array([0.0, 1.0, 0.5]))
    >>> bool(np.isclose(one_each.high, plain.high))
    True
    >>> clustered_mean_interval(np.array([0.0, 0.0, 1.0, 1.0]), ["a", "a", "b", "b"]).n_users
    2
    """
    array = np.asarray(values, dtype=np.float64)
    labels = np.asarray(clusters)
    if labels.shape != array.shape:
        raise ValueError(
            f"clusters has {labels.shape[0] if labels.ndim else 0} entries for "
            f"{array.shape[0]} values: give one cluster per value."
        )
    keep = ~np.isnan(array)
    array, labels = array[keep], labels[keep]
    n = len(array)
    if n == 0:
        return Interval(float("nan"), float("nan"), float("nan"), 0)
    _, group = np.unique(labels, return_inverse=True)
    n_groups = int(group.max()) + 1
    mean = float(array.mean())
    if n_groups < 2:
        return Interval(mean, float("nan"), float("nan"), n_groups)
    from scipy import stats  # deferred: scipy.stats adds ~0.3 s to every CLI start

    residual = np.bincount(group.reshape(-1), weights=array - mean, minlength=n_groups)
    variance = n_groups / (n_groups - 1) * float((residual**2).sum()) / n**2
    critical = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n_groups - 1))
    half = critical * variance**0.5
    return Interval(mean, mean - half, mean + half, n_groups)


def paired_differences(
    per_user: Mapping[str, FloatArray],
    reference: str,
    *,
    clusters: npt.ArrayLike | None = None,
) -> dict[str, Interval]:
    """Each model's mean per-user difference to ``reference``, with its 95 % t interval.

    Parameters
    ----------
    per_user
        Model name to one value per evaluated user, the same users in the same order for
        every model (NaN: a user without a value, left out of that pair).
    reference
        The model the others are compared with (its own entry is a zero difference).
    clusters
        ``None``: one value per user. Otherwise each value's user (or other cluster), and
        the intervals are :func:`clustered_mean_interval`'s.

    Raises
    ------
    KeyError
        When ``reference`` is not in ``per_user``.
    ValueError
        When the arrays differ in length (they were not scored on the same users).
    """
    base = np.asarray(per_user[reference], dtype=np.float64)
    out: dict[str, Interval] = {}
    for model, values in per_user.items():
        array = np.asarray(values, dtype=np.float64)
        if array.shape != base.shape:
            raise ValueError(
                f"Per-user values of {model!r} ({array.shape[0]} users) and {reference!r} "
                f"({base.shape[0]} users) do not pair up: they must be scored on the same users."
            )
        difference = array - base
        out[model] = (
            mean_interval(difference)
            if clusters is None
            else clustered_mean_interval(difference, clusters)
        )
    return out
