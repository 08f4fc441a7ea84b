"""Invariants every decay kernel must satisfy, for any age and half-life."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from decayrec.decay.kernels import KERNELS, decay_weights
from decayrec.testing.strategies import ages, half_lives

KERNEL_NAMES = sorted(KERNELS)
kernels = pytest.mark.parametrize("kernel", KERNEL_NAMES)
finite_half_lives = half_lives(min_seconds=1e-3, max_seconds=1e12, allow_infinite=False)
any_half_lives = half_lives(min_seconds=1e-3, max_seconds=1e12)


@kernels
@given(half_life=any_half_lives)
def test_weight_at_age_zero_is_one(kernel, half_life):
    assert decay_weights([0.0], half_life, kernel).tolist() == [1.0]


@kernels
@given(half_life=finite_half_lives)
def test_weight_halves_at_the_half_life(kernel, half_life):
    (weight,) = decay_weights([half_life], half_life, kernel).tolist()
    assert math.isclose(weight, 0.5, rel_tol=1e-12)


@kernels
@given(
    values=st.lists(ages(allow_negative=False), min_size=2, max_size=30), half_life=any_half_lives
)
def test_weights_do_not_increase_with_age(kernel, values, half_life):
    weights = decay_weights(np.sort(values), half_life, kernel)
    assert (np.diff(weights) <= 0).all()


@kernels
@given(values=st.lists(ages(), max_size=30), half_life=any_half_lives)
def test_weights_lie_in_the_unit_interval(kernel, values, half_life):
    weights = decay_weights(values, half_life, kernel)
    assert ((weights >= 0) & (weights <= 1)).all()


@kernels
@given(
    values=st.lists(st.floats(max_value=-1e-300, min_value=-1e15), min_size=1, max_size=20),
    half_life=any_half_lives,
)
def test_future_events_weigh_nothing(kernel, values, half_life):
    assert (decay_weights(values, half_life, kernel) == 0).all()


@kernels
@given(values=st.lists(ages(allow_negative=False), max_size=20))
def test_infinite_half_life_switches_decay_off(kernel, values):
    assert (decay_weights(values, math.inf, kernel) == 1).all()


@kernels
@given(values=st.lists(ages(), min_size=1, max_size=20), half_life=any_half_lives)
def test_per_event_half_life_array_matches_the_scalar(kernel, values, half_life):
    scalar = decay_weights(values, half_life, kernel)
    per_event = decay_weights(values, np.full(len(values), half_life), kernel)
    np.testing.assert_array_equal(scalar, per_event)


@given(age=ages(allow_negative=False), half_life=finite_half_lives)
def test_exponential_kernel_is_two_to_minus_age_over_half_life(age, half_life):
    (weight,) = decay_weights([age], half_life, "exponential").tolist()
    assert math.isclose(weight, 2.0 ** -(age / half_life), rel_tol=1e-12, abs_tol=1e-300)


@given(
    first=ages(allow_negative=False, max_seconds=1e6),
    second=ages(allow_negative=False, max_seconds=1e6),
    half_life=half_lives(min_seconds=1.0, allow_infinite=False),
)
def test_exponential_kernel_composes_over_consecutive_gaps(first, second, half_life):
    # The identity the O(1) online state rests on: k(a + b) = k(a) · k(b).
    together, a, b = decay_weights([first + second, first, second], half_life).tolist()
    assert math.isclose(together, a * b, rel_tol=1e-9, abs_tol=1e-300)
