"""Fit quality, bounds and argument checks of the exponential mixtures (decayrec.decay.mixture)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from decayrec.decay.kernels import KERNELS
from decayrec.decay.mixture import ExponentialMixture, exponential_mixture
from decayrec.decay.online import ExponentialDecayState
from decayrec.errors import InvalidParameterError

APPROXIMATED = ["linear", "power", "logarithmic"]
KINKS = {"linear": [2.0], "power": [], "logarithmic": [3.0]}
#: Rounding slack: the stored bound is a measured maximum of floating-point differences.
SLACK = 1e-12


def f(kernel: str, ratio: np.ndarray) -> np.ndarray:
    return KERNELS[kernel](np.array(ratio, dtype=np.float64))


def test_exponential_is_exact():
    mixture = exponential_mixture("exponential")
    assert mixture.weights.tolist() == [1.0]
    assert mixture.half_life_ratios.tolist() == [1.0]
    assert mixture.max_error == 0.0
    assert mixture.n_components == 1
    ratio = np.concatenate([[0.0, 1.0, 2.0, 10.0], np.random.default_rng(0).uniform(0, 64, 1000)])
    assert mixture.value(ratio).tolist() == f("exponential", ratio).tolist()
    assert mixture.value([1.0, 10.0]).tolist() == [0.5, 2.0**-10]


@pytest.mark.parametrize("kernel", APPROXIMATED)
def test_the_measured_bound_holds_on_a_fresh_grid_and_at_the_kinks(kernel):
    mixture = exponential_mixture(kernel)
    horizon = mixture.horizon_ratio
    rng = np.random.default_rng(0)
    ratio = np.concatenate(
        [
            [0.0, horizon, *KINKS[kernel]],
            rng.uniform(0.0, horizon, 100_000),
            rng.uniform(0.0, 4.0, 100_000),  # where the kernels bend most
            np.geomspace(1e-9, horizon, 10_000),
        ]
    )
    error = np.abs(mixture.value(ratio) - f(kernel, ratio))
    assert error.max() <= mixture.max_error + SLACK
    for kink in KINKS[kernel]:
        near = kink + np.linspace(-1e-3, 1e-3, 2001)
        assert np.abs(mixture.value(near) - f(kernel, near)).max() <= mixture.max_error + SLACK


@pytest.mark.parametrize(
    ("kernel", "low", "high"),
    [("power", 0.0, 1e-4), ("logarithmic", 0.08, 0.09), ("linear", 0.13, 0.15)],
)
def test_default_errors_are_the_documented_ones(kernel, low, high):
    # The module docstring states about 0.00002, 0.086 and 0.14.
    assert low <= exponential_mixture(kernel).max_error <= high


@pytest.mark.parametrize("n_components", [12, 48])
def test_compact_kernels_cannot_beat_the_log_convexity_floor(n_components):
    # Non-negative mixtures are log-convex: g(1)² <= g(0) g(2) forces an error >= 1/8 for the
    # linear kernel, and g(1.5)² <= g(0) g(3) an error >= 0.0685 for the logarithmic one.
    f_mid = 1.0 - math.log2(2.5) / 2.0
    floors = {"linear": 0.125, "logarithmic": f_mid**2 / (1.0 + 2.0 * f_mid)}
    for kernel, floor in floors.items():
        mixture = exponential_mixture(kernel, n_components=n_components)
        assert mixture.max_error >= floor - SLACK
        g0, g_mid, g_end = mixture.value([0.0, 1.0, 2.0] if kernel == "linear" else [0, 1.5, 3])
        assert g_mid**2 <= g0 * g_end * (1 + 1e-12)


@pytest.mark.parametrize("kernel", [*APPROXIMATED, "exponential"])
def test_value_at_zero_is_within_the_bound_of_one(kernel):
    mixture = exponential_mixture(kernel)
    assert abs(float(mixture.value(0.0)) - 1.0) <= mixture.max_error + SLACK


@pytest.mark.parametrize("kernel", APPROXIMATED)
def test_components_are_non_negative_positive_and_read_only(kernel):
    mixture = exponential_mixture(kernel)
    assert 1 <= mixture.n_components <= 12
    assert len(mixture.weights) == len(mixture.half_life_ratios) == mixture.n_components
    assert (mixture.weights > 0).all()  # zero weights are dropped
    assert (mixture.half_life_ratios > 0).all()
    assert mixture.weights.dtype == mixture.half_life_ratios.dtype == np.float64
    assert not mixture.weights.flags.writeable
    assert not mixture.half_life_ratios.flags.writeable
    with pytest.raises(dataclasses.FrozenInstanceError):
        mixture.max_error = 0.0  # type: ignore[misc]


@pytest.mark.parametrize("kernel", APPROXIMATED)
def test_tail_beyond_the_horizon_is_bounded_by_the_values_at_the_horizon(kernel):
    mixture = exponential_mixture(kernel)
    horizon = mixture.horizon_ratio
    g_h, f_h = float(mixture.value(horizon)), float(f(kernel, [horizon])[0])
    ratio = np.concatenate([np.geomspace(horizon, 1e6 * horizon, 10_000), [np.inf]])
    g = mixture.value(ratio)
    assert (np.diff(g) <= 0).all()
    assert np.abs(g - f(kernel, ratio)).max() <= max(f_h, g_h) + SLACK
    assert max(f_h, g_h) <= f_h + mixture.max_error + SLACK
    if kernel != "power":
        assert g_h <= mixture.max_error  # f(horizon) = 0: the bound is the max error itself


def test_value_handles_future_events_nan_inf_and_shapes():
    mixture = exponential_mixture("power")
    assert mixture.value([-1.0, -1e300, -np.inf]).tolist() == [0.0, 0.0, 0.0]
    assert mixture.value(np.inf).tolist() == 0.0
    assert math.isnan(float(mixture.value(np.nan)))
    assert mixture.value(1.0).shape == ()
    ratio = np.arange(6.0).reshape(2, 3)
    assert mixture.value(ratio).shape == (2, 3)
    np.testing.assert_array_equal(mixture.value(ratio).ravel(), mixture.value(ratio.ravel()))
    assert mixture.value([]).shape == (0,)


def test_component_half_lives_broadcast():
    mixture = exponential_mixture("power")
    n = mixture.n_components
    scalar = mixture.component_half_lives(3600.0)
    assert scalar.shape == (n,)
    np.testing.assert_array_equal(scalar, 3600.0 * mixture.half_life_ratios)
    per_key = mixture.component_half_lives(np.array([60.0, 3600.0, np.inf]))
    assert per_key.shape == (3, n)
    np.testing.assert_array_equal(per_key[1], scalar)
    assert np.isinf(per_key[2]).all()
    assert mixture.component_half_lives(np.ones((2, 5))).shape == (2, 5, n)
    with pytest.raises(InvalidParameterError, match="'half_life'"):
        mixture.component_half_lives(0.0)
    with pytest.raises(InvalidParameterError, match="Entry 1"):
        mixture.component_half_lives(np.array([1.0, -1.0]))


@pytest.mark.parametrize("kernel", [*APPROXIMATED, "exponential"])
def test_to_dict_from_dict_round_trip_through_json(kernel):
    mixture = exponential_mixture(kernel)
    data = mixture.to_dict()
    assert set(data) == {"kernel", "weights", "half_life_ratios", "max_error", "horizon_ratio"}
    assert all(type(x) is float for x in data["weights"] + data["half_life_ratios"])
    assert type(data["max_error"]) is float and type(data["horizon_ratio"]) is float
    loaded = ExponentialMixture.from_dict(json.loads(json.dumps(data)))
    assert loaded == mixture
    assert hash(loaded) == hash(mixture)
    assert loaded.to_dict() == data
    ratio = np.linspace(0.0, 10.0, 101)
    np.testing.assert_array_equal(loaded.value(ratio), mixture.value(ratio))


def test_mixtures_of_different_kernels_differ():
    assert exponential_mixture("linear") != exponential_mixture("power")
    assert exponential_mixture("linear") != "linear"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weights": None}, "weights"),  # None marks a missing field
        ({"extra": 1.0}, "extra"),
        ({"weights": [-0.1, 0.5]}, "weights"),
        ({"weights": []}, "weights"),
        ({"weights": "0.5"}, "weights"),
        ({"weights": [0.5, "0.5"]}, "weights"),
        ({"weights": [0.5, math.nan]}, "weights"),
        ({"half_life_ratios": [1.0, 0.0]}, "half_life_ratios"),
        ({"half_life_ratios": [1.0]}, "half_life_ratios"),
        ({"half_life_ratios": [1.0, math.inf]}, "half_life_ratios"),
        ({"kernel": "cubic"}, "kernel"),
        ({"kernel": 3}, "kernel"),
        ({"max_error": -0.1}, "max_error"),
        ({"max_error": "0.1"}, "max_error"),
        ({"max_error": math.nan}, "max_error"),
        ({"horizon_ratio": 0.0}, "horizon_ratio"),
        ({"horizon_ratio": math.inf}, "horizon_ratio"),
        ({"horizon_ratio": True}, "horizon_ratio"),
    ],
)
def test_a_bad_dict_raises_naming_the_field(change, field):
    data = {
        "kernel": "linear",
        "weights": [0.5, 0.5],
        "half_life_ratios": [0.5, 1.0],
        "max_error": 0.1,
        "horizon_ratio": 64.0,
    }
    for key, value in change.items():
        if value is None:
            del data[key]
        else:
            data[key] = value
    with pytest.raises(InvalidParameterError, match=f"'{field}'"):
        ExponentialMixture.from_dict(data)


def test_from_dict_wants_a_mapping():
    with pytest.raises(InvalidParameterError, match="'data'"):
        ExponentialMixture.from_dict([1.0])  # type: ignore[arg-type]


def test_the_constructor_validates_arrays():
    with pytest.raises(InvalidParameterError, match="'weights'"):
        ExponentialMixture(np.ones((2, 2)), np.ones(2), "linear", 0.1, 64.0)
    with pytest.raises(InvalidParameterError, match="'half_life_ratios'"):
        ExponentialMixture(np.ones(2), np.array([True, True]), "linear", 0.1, 64.0)
    with pytest.raises(InvalidParameterError, match="'weights'"):
        ExponentialMixture([[1.0], [1.0, 2.0]], np.ones(2), "linear", 0.1, 64.0)  # type: ignore[arg-type]


def test_invalid_arguments_raise_with_the_parameter_name():
    with pytest.raises(InvalidParameterError) as info:
        exponential_mixture("linear", n_components=0)
    assert str(info.value) == (
        "The 'n_components' parameter of exponential_mixture must be an integer >= 1. "
        "Got 0 instead."
    )
    for bad in (-1, 1.5, 12.0, True, "12", None):
        with pytest.raises(InvalidParameterError, match="'n_components' parameter"):
            exponential_mixture("linear", n_components=bad)  # type: ignore[arg-type]
    for bad in (0.0, -1.0, math.inf, math.nan, "64", True, None):
        with pytest.raises(InvalidParameterError, match="'horizon_ratio' parameter"):
            exponential_mixture("linear", horizon_ratio=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'kernel' parameter of exponential_mixture"):
        exponential_mixture("cubic")  # type: ignore[arg-type]


def test_results_are_cached_and_deterministic():
    first = exponential_mixture("logarithmic", n_components=6, horizon_ratio=16.0)
    assert exponential_mixture("logarithmic", n_components=np.int64(6), horizon_ratio=16) is first
    assert exponential_mixture("logarithmic") is exponential_mixture("logarithmic")
    assert exponential_mixture("logarithmic") is not first


@pytest.mark.parametrize("kernel", APPROXIMATED)
@pytest.mark.parametrize(("n_components", "horizon_ratio"), [(1, 64.0), (4, 8.0), (24, 1000.0)])
def test_other_settings_keep_their_measured_bound(kernel, n_components, horizon_ratio):
    mixture = exponential_mixture(kernel, n_components=n_components, horizon_ratio=horizon_ratio)
    assert mixture.n_components <= n_components
    assert mixture.horizon_ratio == horizon_ratio
    ratio = np.random.default_rng(0).uniform(0.0, horizon_ratio, 50_000)
    assert np.abs(mixture.value(ratio) - f(kernel, ratio)).max() <= mixture.max_error + SLACK


@pytest.mark.parametrize("kernel", APPROXIMATED)
def test_online_running_sums_match_the_mixture_and_stay_within_the_bound(kernel):
    mixture = exponential_mixture(kernel)
    half_life = 3600.0
    rng = np.random.default_rng(0)
    ages = rng.uniform(0.0, mixture.horizon_ratio * half_life, 2000)
    ages[:20] = 0.0
    weights = rng.uniform(0.1, 5.0, ages.size)
    # One exponential running sum per component, with half-life b_j * h.
    component_half_lives = mixture.component_half_lives(half_life)
    sums = (weights[:, None] * np.exp2(-ages[:, None] / component_half_lives)).sum(axis=0)
    online = float(mixture.weights @ sums)
    batch_mixture = float(weights @ mixture.value(ages / half_life))
    batch_kernel = float(weights @ f(kernel, ages / half_life))
    assert online == pytest.approx(batch_mixture, rel=1e-12)
    assert abs(online - batch_kernel) <= weights.sum() * mixture.max_error + 1e-9


def test_one_exponential_state_per_component_serves_the_kernel_online():
    mixture = exponential_mixture("power")
    half_life = 60.0
    n = mixture.n_components
    rng = np.random.default_rng(0)
    times = np.sort(rng.uniform(0.0, 3600.0, 300))
    weights = rng.uniform(0.5, 2.0, times.size)
    state = ExponentialDecayState(mixture.component_half_lives(half_life))  # key j = component j
    for time, weight in zip(times.tolist(), weights.tolist(), strict=True):
        state.update(np.arange(n), time, weight)
    at = 4000.0
    online = float(mixture.weights @ state.value(np.arange(n), at=at))
    exact = float(weights @ f("power", (at - times) / half_life))
    assert online == pytest.approx(float(weights @ mixture.value((at - times) / half_life)))
    assert abs(online - exact) <= weights.sum() * mixture.max_error + 1e-9
