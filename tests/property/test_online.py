"""The O(1) online exponential state equals the batch computation, however events arrive."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decayrec.data.schema import DEFAULT_EVENT_WEIGHTS
from decayrec.decay.interest import decayed_interest
from decayrec.decay.online import ExponentialDecayState
from decayrec.errors import InvalidParameterError
from decayrec.testing.strategies import (
    EventBatch,
    event_batches,
    event_weights,
    half_lives,
    per_key_half_lives,
)

RTOL = 1e-9
ATOL = 1e-290  # below this, float64 subnormals have too few bits for a relative comparison
slow_settings = settings(deadline=None, max_examples=60)


def one_by_one(state: ExponentialDecayState, batch: EventBatch, weights) -> ExponentialDecayState:
    for key, time, weight in zip(batch.flat_keys, batch.times, weights, strict=True):
        state.update(int(key), float(time), float(weight))
    return state


def batch_values(
    batch: EventBatch, at: float, half_life, event_weights=DEFAULT_EVENT_WEIGHTS
) -> np.ndarray:
    """Interest of every (user, key) pair from the whole log, flattened like ``flat_keys``."""
    matrix = decayed_interest(
        batch.to_log(),
        at=at,
        key="item",
        half_life_seconds=half_life,
        weights=event_weights,
    )
    return matrix.toarray().reshape(-1)


def all_keys(batch: EventBatch) -> np.ndarray:
    return np.arange(batch.n_users * batch.n_keys)


def assert_close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=RTOL, atol=ATOL)


@slow_settings
@given(
    batch=event_batches(min_size=1),
    half_life=half_lives(),
    weights=event_weights(),
    later=st.floats(min_value=0, max_value=1e8),
)
def test_one_by_one_equals_one_batch_equals_decayed_interest(batch, half_life, weights, later):
    at = float(batch.times.max()) + later
    event_w = batch.weights(weights)
    single = one_by_one(ExponentialDecayState(half_life), batch, event_w)
    whole = ExponentialDecayState(half_life).update(batch.flat_keys, batch.times, event_w)
    expected = batch_values(batch, at, half_life, weights)
    assert_close(single.value(all_keys(batch), at), expected)
    assert_close(whole.value(all_keys(batch), at), expected)
    assert single.n_events == whole.n_events == len(batch)
    np.testing.assert_array_equal(single.count, whole.count)
    np.testing.assert_array_equal(single.last_time, whole.last_time)


@slow_settings
@given(batch=event_batches(min_size=1), half_life=half_lives(), data=st.data())
def test_arrival_order_does_not_matter(batch, half_life, data):
    # Out-of-order arrival: the same events in any permutation, one by one or as a batch.
    order = data.draw(st.permutations(range(len(batch))))
    shuffled = batch.take(order)
    at = float(batch.times.max())
    reference = ExponentialDecayState(half_life).update(
        batch.flat_keys, batch.times, batch.weights()
    )
    late = one_by_one(ExponentialDecayState(half_life), shuffled, shuffled.weights())
    batched = ExponentialDecayState(half_life).update(
        shuffled.flat_keys, shuffled.times, shuffled.weights()
    )
    for state in (late, batched):
        assert_close(state.value(all_keys(batch), at), reference.value(all_keys(batch), at))


@slow_settings
@given(batch=event_batches(min_size=2, ties=True), half_life=half_lives(), data=st.data())
def test_equal_timestamps_in_any_order(batch, half_life, data):
    order = data.draw(st.permutations(range(len(batch))))
    at = float(batch.times.max())
    expected = batch_values(batch, at, half_life)
    shuffled = batch.take(order)
    state = one_by_one(ExponentialDecayState(half_life), shuffled, shuffled.weights())
    assert_close(state.value(all_keys(batch), at), expected)


@slow_settings
@given(batch=event_batches(min_size=1), half_life=half_lives(), data=st.data())
def test_splitting_the_stream_anywhere_gives_the_same_state(batch, half_life, data):
    cut = data.draw(st.integers(min_value=0, max_value=len(batch)))
    first, second = batch.take(range(cut)), batch.take(range(cut, len(batch)))
    split = ExponentialDecayState(half_life)
    split.update(first.flat_keys, first.times, first.weights())
    split.update(second.flat_keys, second.times, second.weights())
    whole = ExponentialDecayState(half_life).update(batch.flat_keys, batch.times, batch.weights())
    at = float(batch.times.max())
    assert_close(split.value(all_keys(batch), at), whole.value(all_keys(batch), at))
    np.testing.assert_array_equal(split.count, whole.count)
    np.testing.assert_array_equal(split.last_time, whole.last_time)


@slow_settings
@given(batch=event_batches(min_size=1, max_users=1), data=st.data())
def test_per_key_half_lives_match_the_batch(batch, data):
    half_life = data.draw(per_key_half_lives(batch.n_keys))
    at = float(batch.times.max()) + data.draw(st.floats(min_value=0, max_value=1e7))
    state = ExponentialDecayState(half_life)
    one_by_one(state, batch, batch.weights())
    assert_close(state.value(all_keys(batch), at), batch_values(batch, at, half_life))
    batched = ExponentialDecayState(half_life).update(batch.keys, batch.times, batch.weights())
    assert_close(batched.value(all_keys(batch), at), state.value(all_keys(batch), at))


@slow_settings
@given(
    batch=event_batches(min_size=1),
    half_life=half_lives(),
    horizon=st.floats(min_value=0, max_value=1e9),
)
def test_forecast_is_the_value_decayed_over_the_horizon(batch, half_life, horizon):
    state = ExponentialDecayState(half_life).update(batch.flat_keys, batch.times, batch.weights())
    at = float(batch.times.max())
    now = state.value(all_keys(batch), at)
    factor = 1.0 if math.isinf(half_life) else 2.0 ** -(horizon / half_life)
    assert_close(state.forecast(all_keys(batch), at, horizon), now * factor)


@slow_settings
@given(batch=event_batches(min_size=1), half_life=half_lives())
def test_saved_arrays_restore_the_same_state(batch, half_life):
    state = ExponentialDecayState(half_life).update(batch.flat_keys, batch.times, batch.weights())
    restored = ExponentialDecayState.from_arrays(state.to_arrays())
    at = float(batch.times.max())
    np.testing.assert_array_equal(
        restored.value(all_keys(batch), at), state.value(all_keys(batch), at)
    )
    assert restored.n_events == state.n_events


@slow_settings
@given(batch=event_batches(min_size=1), half_life=half_lives())
def test_asking_before_a_keys_last_event_is_refused(batch, half_life):
    state = ExponentialDecayState(half_life).update(batch.flat_keys, batch.times, batch.weights())
    key = int(batch.flat_keys[0])
    with pytest.raises(InvalidParameterError, match="before the last event"):
        state.value([key], float(state.last_time[key]) - 1.0)
