"""Tests of the paired confidence intervals over users."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from decayrec.eval.significance import (
    Interval,
    clustered_mean_interval,
    mean_interval,
    paired_differences,
)


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


# ---------------------------------------------------------------------------- clustered
def test_one_value_per_cluster_is_the_plain_interval(rng: np.random.Generator) -> None:
    values = rng.random(40)
    clustered = clustered_mean_interval(values, np.arange(40))
    plain = mean_interval(values)
    assert clustered.n_users == plain.n_users == 40
    assert clustered.estimate == pytest.approx(plain.estimate)
    assert (clustered.low, clustered.high) == pytest.approx((plain.low, plain.high))


def test_a_user_repeated_in_every_period_adds_no_information(rng: np.random.Generator) -> None:
    """The same 30 users' values scored in three periods: counted as 90 independent values
    the interval would shrink by √3; clustered by user it stays the one-period interval."""
    values = rng.random(30)
    users = np.arange(30)
    repeated = clustered_mean_interval(np.tile(values, 3), np.tile(users, 3))
    once = mean_interval(values)
    naive = mean_interval(np.tile(values, 3))
    assert repeated.n_users == 30
    assert (repeated.low, repeated.high) == pytest.approx((once.low, once.high))
    assert naive.high - naive.low < 0.65 * (once.high - once.low)


def test_about_95_percent_of_clustered_intervals_cover_the_true_mean(
    rng: np.random.Generator,
) -> None:
    """40 users in 3 periods, each user with a level of their own (correlated values)."""
    hits = 0
    for _ in range(1000):
        level = rng.random(40) * 0.4  # true mean 0.2
        values = level[None, :] + rng.normal(0.0, 0.1, (3, 40))
        interval = clustered_mean_interval(values.ravel(), np.tile(np.arange(40), 3))
        hits += interval.low <= 0.2 <= interval.high
    assert 0.92 <= hits / 1000 <= 0.98


def test_clustered_interval_edge_cases() -> None:
    assert clustered_mean_interval(np.array([np.nan, np.nan]), ["a", "b"]).n_users == 0
    lonely = clustered_mean_interval(np.array([0.2, 0.4, np.nan]), ["a", "a", "b"])
    assert lonely.n_users == 1
    assert lonely.estimate == pytest.approx(0.3)
    assert np.isnan(lonely.low)
    with pytest.raises(ValueError, match="one cluster per value"):
        clustered_mean_interval(np.zeros(3), ["a", "b"])


def test_paired_differences_clustered_by_user(rng: np.random.Generator) -> None:
    base = rng.random(20)
    better = base + 0.05 + rng.normal(0, 0.01, 20)
    users = np.tile(np.arange(10), 2)
    out = paired_differences({"a": better, "b": base}, "b", clusters=users)
    assert out["a"].n_users == 10
    assert out["a"].estimate == pytest.approx(float((better - base).mean()))
    assert out["a"] == clustered_mean_interval(better - base, users)
