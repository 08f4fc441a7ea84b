"""Rolling-origin evaluation: one comparison pooled over several successive test periods.

Why: on a small temporal log one test period holds a few dozen shoppers, and most of them
score 0 for every model (their next items never occurred in training), so a gap between two
models is the ranks of a handful of shoppers. :func:`~decayrec.data.split.rolling_temporal_splits`
cuts the log at several successive instants; each fold is evaluated as usual (every model
tuned on that fold's validation window only, refitted on everything before its test period,
scored on it); this module pools the folds' per-user figures into one table.

What: :func:`pool_folds` takes the folds' :class:`~decayrec.eval.runner.EvaluationResult`
objects (with their per-user values, i.e. not read back from JSON) and returns, per model, the
mean over every (test period, shopper) pair with its 95 % interval, and its paired difference
to the best model and to every other. A shopper tested in several periods is one cluster
(:func:`~decayrec.eval.significance.clustered_mean_interval`): their figures move together, so
the intervals count shoppers, not pairs, as the independent draws.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from decayrec.errors import InvalidParameterError
from decayrec.eval.runner import EvaluationResult
from decayrec.eval.significance import (
    CONFIDENCE,
    Interval,
    clustered_mean_interval,
    paired_differences,
)
from decayrec.types import FloatArray

__all__ = ["PooledComparison", "pool_folds"]


@dataclass(frozen=True)
class PooledComparison:
    """Every model's ``metric`` over all folds' (test period, shopper) pairs.

    Attributes
    ----------
    metric
        The pooled metric, e.g. ``"ndcg@10"``.
    models
        Model names, in the order of the first fold's results.
    mean
        Per model, the mean over the pairs with its user-clustered 95 % interval
        (``n_users``: distinct shoppers).
    per_fold
        Per model, its mean in each fold (oldest first).
    reference
        The model with the highest pooled mean (ties: the earlier one).
    pairwise
        ``pairwise[other][model]``: ``model``'s mean paired difference to ``other``, for
        every pair (:attr:`difference` is ``pairwise[reference]``). Why: the question a run is
        about is often one model against another that is not the best (a learned model
        against the tuned fixed ones when its own decay-off variant leads), and the JSON,
        without per-user values, cannot answer it afterwards.
    n_pairs
        (test period, shopper) pairs pooled.
    fold_users
        Test shoppers per fold.
    """

    metric: str
    models: list[str]
    mean: dict[str, Interval]
    per_fold: dict[str, list[float]]
    reference: str
    pairwise: dict[str, dict[str, Interval]]
    n_pairs: int
    fold_users: list[int]

    @property
    def difference(self) -> dict[str, Interval]:
        """Per model, the mean paired difference to :attr:`reference` with its user-clustered
        interval (``pairwise[reference]``)."""
        return self.pairwise[self.reference]

    @property
    def n_users(self) -> int:
        """Distinct shoppers over all folds."""
        return self.mean[self.reference].n_users

    def to_json_dict(self) -> dict[str, Any]:
        """The JSON shape (intervals as ``{"estimate", "low", "high", "n_users"}``)."""
        return {
            "metric": self.metric,
            "confidence": CONFIDENCE,
            "method": "mean over (test period, user) pairs; Student t, clustered by user",
            "n_pairs": self.n_pairs,
            "n_users": self.n_users,
            "fold_users": list(self.fold_users),
            "reference": self.reference,
            "mean": {model: interval.to_json() for model, interval in self.mean.items()},
            "per_fold": {model: list(values) for model, values in self.per_fold.items()},
            "difference_to_reference": {
                model: interval.to_json() for model, interval in self.difference.items()
            },
            "pairwise_differences": {
                other: {model: interval.to_json() for model, interval in differences.items()}
                for other, differences in self.pairwise.items()
            },
        }


def pool_folds(folds: Sequence[EvaluationResult], metric: str) -> PooledComparison:
    """Pool the per-user ``metric`` of every fold into one comparison (see the module doc).

    Raises
    ------
    InvalidParameterError
        No folds, a fold without per-user values of a model (results read back from JSON),
        or folds that did not evaluate the same models.
    """
    if not folds:
        raise InvalidParameterError("pool_folds needs at least one fold.")
    models = [result.model for result in folds[0].results]
    values: dict[str, list[FloatArray]] = {model: [] for model in models}
    users: list[str] = []
    for number, fold in enumerate(folds, start=1):
        found = {result.model: result for result in fold.results}
        if sorted(found) != sorted(models):
            raise InvalidParameterError(
                f"Fold {number} evaluated {sorted(found)}, fold 1 {sorted(models)}: "
                "pooled folds must evaluate the same models."
            )
        for model in models:
            per_user = found[model].per_user
            if per_user is None or metric not in per_user:
                raise InvalidParameterError(
                    f"Fold {number} has no per-user {metric!r} of {model!r} (results read "
                    "back from JSON keep only averages): pool the folds as evaluated."
                )
            if len(per_user[metric]) != len(fold.user_ids):
                raise InvalidParameterError(
                    f"Fold {number}: {len(per_user[metric])} per-user values of {model!r} "
                    f"for {len(fold.user_ids)} test users."
                )
            values[model].append(np.asarray(per_user[metric], dtype=np.float64))
        users.extend(fold.user_ids)
    pooled = {model: np.concatenate(parts) for model, parts in values.items()}
    clusters = np.asarray(users, dtype=object)
    mean = {model: clustered_mean_interval(pooled[model], clusters) for model in models}
    reference = max(models, key=lambda model: (mean[model].estimate, -models.index(model)))
    pairwise = {other: paired_differences(pooled, other, clusters=clusters) for other in models}
    return PooledComparison(
        metric=metric,
        models=models,
        mean=mean,
        per_fold={
            model: [float(np.nanmean(part)) if len(part) else float("nan") for part in parts]
            for model, parts in values.items()
        },
        reference=reference,
        pairwise=pairwise,
        n_pairs=len(users),
        fold_users=[len(fold.user_ids) for fold in folds],
    )
