"""Tests of the paired confidence intervals over users."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from decayrec.eval.significance import Interval, mean_interval, paired_differences


def test_mean_interval_matches_the_student_t_formula(rng: np.random.Generator) -> None:
    values = rng.random(40)
    interval = mean_interval(values)
    half = stats.t.ppf(0.975, 39) * values.std(ddof=1) / np.sqrt(40)
    assert interval.estimate == pytest.approx(values.mean())
    assert interval.low == pytest.approx(values.mean() - half)
    assert interval.high == pytest.approx(values.mean() + half)
    assert interval.n_users == 40


def test_users_without_a_value_are_left_out() -> None:
    interval = mean_interval(np.array([1.0, np.nan, 0.0, 0.5]))
    assert interval.n_users == 3
    assert interval.estimate == pytest.approx(0.5)


def test_too_few_users_give_no_bounds() -> None:
    assert mean_interval(np.array([0.3])).to_json() == {
        "estimate": 0.3, "low": None, "high": None, "n_users": 1,
    }  # fmt: skip
    assert mean_interval(np.array([np.nan])).n_users == 0


def test_about_95_percent_of_intervals_cover_the_true_mean(rng: np.random.Generator) -> None:
    """Coverage on skewed 0/1-heavy values like per-user NDCG (mean 0.2, 50 users)."""
    covered = 0
    for _ in range(2000):
        values = np.where(rng.random(50) < 0.3, rng.random(50) * 0.67, 0.0)  # mean 0.1
        interval = mean_interval(values)
        covered += interval.low <= 0.1 <= interval.high
    assert 0.92 <= covered / 2000 <= 0.97


def test_pairing_removes_the_spread_users_share(rng: np.random.Generator) -> None:
    """Two models that agree on hard and easy users: the difference is clear although each
    model's own interval overlaps the other's."""
    difficulty = rng.random(60)
    a = difficulty
    b = difficulty + 0.02 + rng.normal(0, 0.01, 60)
    own_a, own_b = mean_interval(a), mean_interval(b)
    assert own_a.high > own_b.low  # the unpaired intervals overlap
    differences = paired_differences({"a": a, "b": b}, reference="b")
    assert differences["b"] == Interval(0.0, 0.0, 0.0, 60)
    assert differences["a"].high < 0
    assert differences["a"].excludes_zero


def test_no_difference_keeps_zero_inside(rng: np.random.Generator) -> None:
    a = rng.random(80)
    b = a[rng.permutation(80)]  # same distribution, unrelated per user
    assert not paired_differences({"a": a, "b": b}, "b")["a"].excludes_zero


def test_models_must_be_scored_on_the_same_users() -> None:
    with pytest.raises(ValueError, match="do not pair up"):
        paired_differences({"a": np.zeros(3), "b": np.zeros(4)}, "b")
