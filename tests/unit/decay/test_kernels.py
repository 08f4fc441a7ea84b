"""Known values and argument checks of the decay kernels."""

from __future__ import annotations

import math

import numpy as np
import pytest

from decayrec.decay.kernels import (
    KERNELS,
    decay_weights,
    validate_half_life,
    validate_half_lives,
    validate_kernel,
)
from decayrec.errors import InvalidParameterError

H = 3600.0


@pytest.mark.parametrize(
    ("kernel", "expected"),
    [
        ("exponential", [1.0, 0.5, 0.25, 0.125]),
        ("linear", [1.0, 0.5, 0.0, 0.0]),
        ("power", [1.0, 0.5, 1 / 3, 0.25]),
        ("logarithmic", [1.0, 0.5, 1 - math.log2(3) / 2, 0.0]),
    ],
)
def test_known_values_at_whole_half_lives(kernel, expected):
    result = decay_weights([0.0, H, 2 * H, 3 * H], H, kernel)
    np.testing.assert_allclose(result, expected, rtol=1e-15, atol=0)


def test_exponential_is_exact_at_whole_half_lives():
    assert decay_weights([H, 10 * H], H).tolist() == [0.5, 2.0**-10]


def test_future_events_weigh_nothing_even_without_decay():
    assert decay_weights([-1.0, -1e-300, 0.0], math.inf).tolist() == [0.0, 0.0, 1.0]
    assert decay_weights([-5.0], np.array([math.inf])).tolist() == [0.0]


def test_half_lives_broadcast_against_ages():
    result = decay_weights(np.array([[0.0], [H]]), np.array([H, 2 * H, math.inf]))
    np.testing.assert_allclose(result, [[1.0, 1.0, 1.0], [0.5, 2**-0.5, 1.0]])
    assert decay_weights(-1.0, np.array([H, H])).tolist() == [0.0, 0.0]


def test_very_old_events_underflow_to_zero_silently():
    # filterwarnings = error turns any overflow/underflow warning into a failure here.
    for kernel in KERNELS:
        assert decay_weights([1e308, math.inf], 1e-300, kernel).tolist() == [0.0, 0.0]


def test_ages_are_not_modified():
    ages = np.array([0.0, H, -H])
    decay_weights(ages, H)
    assert ages.tolist() == [0.0, H, -H]


@pytest.mark.parametrize("half_life", [0.0, -1.0, math.nan, -math.inf])
def test_non_positive_half_lives_are_rejected(half_life):
    with pytest.raises(InvalidParameterError, match="positive duration"):
        decay_weights([0.0], half_life)
    with pytest.raises(InvalidParameterError, match="Entry 1"):
        decay_weights([0.0, 0.0], np.array([H, half_life]))


def test_validators():
    assert validate_kernel("power") == "power"
    with pytest.raises(InvalidParameterError, match="exponential, linear, power, logarithmic"):
        validate_kernel("gauss", owner="MyModel")
    assert validate_half_life(math.inf) == math.inf
    with pytest.raises(InvalidParameterError, match="of MyModel"):
        validate_half_life(0, owner="MyModel")
    assert validate_half_lives(5) == 5.0
    assert isinstance(validate_half_lives([5.0]), np.ndarray)
