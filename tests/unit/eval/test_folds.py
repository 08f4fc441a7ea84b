"""Tests of the rolling-origin pooling (:mod:`decayrec.eval.folds`)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import numpy as np
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.data.split import rolling_temporal_splits
from decayrec.errors import InvalidParameterError
from decayrec.eval.folds import pool_folds
from decayrec.eval.runner import EvaluationResult, ModelResult, ModelSpec, evaluate_models
from decayrec.eval.significance import clustered_mean_interval

from ._helpers import RecentItems

METRIC = "ndcg@10"


def _fold(users: list[str], per_model: dict[str, list[float]], *, per_user: bool = True) -> Any:
    results = [
        ModelResult(
            model=model,
            params={},
            fit_seconds=0.0,
            metrics={METRIC: float(np.mean(values))},
            per_user={METRIC: np.asarray(values, dtype=float)} if per_user else None,
        )
        for model, values in per_model.items()
    ]
    return EvaluationResult(
        dataset="events", protocol="temporal", target="item", repeats="allow", ks=(10,),
        description="", case={"n_users": len(users)}, results=results, tuning_metric=METRIC,
        user_ids=tuple(users),
    )  # fmt: skip


def test_pools_every_period_and_user_pair_and_clusters_by_user() -> None:
    first = _fold(["u1", "u2", "u3"], {"a": [1.0, 0.0, 0.5], "b": [0.5, 0.0, 0.5]})
    second = _fold(["u2", "u4"], {"a": [0.0, 1.0], "b": [0.5, 0.5]})
    pooled = pool_folds([first, second], METRIC)
    assert pooled.models == ["a", "b"]
    assert pooled.n_pairs == 5
    assert pooled.fold_users == [3, 2]
    assert pooled.n_users == 4  # u2 is tested in both periods
    assert pooled.mean["a"].estimate == pytest.approx(2.5 / 5)
    assert pooled.mean["b"].estimate == pytest.approx(2.0 / 5)
    assert pooled.per_fold["a"] == pytest.approx([0.5, 0.5])
    assert pooled.per_fold["b"] == pytest.approx([1.0 / 3, 0.5])
    assert pooled.reference == "a"
    users = ["u1", "u2", "u3", "u2", "u4"]
    b_minus_a = np.array([-0.5, 0.0, 0.0, 0.5, -0.5])
    assert pooled.difference["b"] == clustered_mean_interval(b_minus_a, users)
    assert pooled.difference["a"].estimate == 0.0
    doc = json.loads(json.dumps(pooled.to_json_dict(), allow_nan=False))
    assert doc["reference"] == "a"
    assert doc["n_users"] == 4
    assert doc["difference_to_reference"]["b"]["n_users"] == 4
    # every pair, not only against the best: a minus b, here b is not the best
    assert pooled.pairwise["a"] == pooled.difference
    assert pooled.pairwise["b"]["a"] == clustered_mean_interval(-b_minus_a, users)
    assert doc["pairwise_differences"]["b"]["a"]["estimate"] == pytest.approx(0.1)


def test_the_first_model_is_compared_with_each_other_model_when_it_is_not_the_best() -> None:
    from decayrec.cli._folds import first_model_differences

    fold = _fold(["u1", "u2", "u3"], {"a": [0.5, 0.5, 0.2], "b": [1.0, 1.0, 0.0], "c": [0.0] * 3})
    pooled = pool_folds([fold], METRIC)
    assert pooled.reference == "b"
    line = first_model_differences(pooled)
    a_minus_b = clustered_mean_interval(np.array([-0.5, -0.5, 0.2]), ["u1", "u2", "u3"])
    assert line.startswith("a minus each model, ndcg@10: b -0.2667 [")
    assert f"[{a_minus_b.low:+.4f}, {a_minus_b.high:+.4f}]" in line
    assert "; c +0.4000 [" in line
    assert first_model_differences(pool_folds([_fold(["u1"], {"a": [1.0]})], METRIC)) == ""


def test_ties_go_to_the_model_listed_first() -> None:
    fold = _fold(["u1", "u2"], {"a": [1.0, 0.0], "b": [0.0, 1.0]})
    assert pool_folds([fold], METRIC).reference == "a"


@pytest.mark.parametrize(
    ("folds", "match"),
    [
        ([], "at least one fold"),
        (
            [_fold(["u1"], {"a": [1.0], "b": [0.0]}), _fold(["u1"], {"a": [1.0]})],
            "must evaluate the same models",
        ),
        ([_fold(["u1"], {"a": [1.0]}, per_user=False)], "read back from JSON"),
        ([_fold(["u1", "u2"], {"a": [1.0]})], "1 per-user values of 'a' for 2 test users"),
    ],
)
def test_folds_that_cannot_be_pooled_say_why(folds: list[Any], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        pool_folds(folds, METRIC)


def test_rolling_origin_evaluation_end_to_end() -> None:
    """Each fold evaluated by the runner on its own split; the pool agrees with every fold."""
    log = simulate_shop(ShopConfig(n_users=150, n_items=80, n_categories=5, days=40, seed=5)).events
    spec = ModelSpec("recent", {}, factory=RecentItems)
    grid = (timedelta(days=1), timedelta(days=30))
    folds = [
        evaluate_models(split, [spec], repeats="allow", ks=(10,), tune_half_lives=grid)
        for split in rolling_temporal_splits(log, 3)
    ]
    pooled = pool_folds(folds, METRIC)
    assert pooled.fold_users == [fold.n_users for fold in folds]
    assert all(len(fold.user_ids) == fold.n_users for fold in folds)
    for j, fold in enumerate(folds):
        for result in fold.results:
            assert pooled.per_fold[result.model][j] == pytest.approx(result.metrics[METRIC])
    every_user = {user for fold in folds for user in fold.user_ids}
    assert pooled.n_users == len(every_user) < pooled.n_pairs
    total = sum(fold.n_users * fold.results[0].metrics[METRIC] for fold in folds)
    assert pooled.mean["recent"].estimate == pytest.approx(total / pooled.n_pairs)
