"""Behaviour and argument checks of the online exponential state (decayrec.decay.online)."""

from __future__ import annotations

import io
import math

import numpy as np
import pytest

from decayrec.decay.online import ExponentialDecayState
from decayrec.errors import InvalidParameterError

H = 10.0


def test_known_values():
    state = ExponentialDecayState(H).update([0, 0, 1], [0.0, 10.0, 10.0], [1.0, 5.0, 1.0])
    assert state.value([0, 1, 2], at=10.0).tolist() == [5.5, 1.0, 0.0]
    assert state.value([0, 1], at=30.0).tolist() == [5.5 / 4, 0.25]
    assert state.score.tolist() == [5.5, 1.0]
    assert state.last_time.tolist() == [10.0, 10.0]
    assert state.count.tolist() == [2, 1]


def test_a_late_event_does_not_move_last_time():
    state = ExponentialDecayState(H).update(0, 20.0, 1.0).update(0, 10.0, 4.0)
    assert state.last_time.tolist() == [20.0]
    assert state.score.tolist() == [1.0 + 4.0 * 0.5]


def test_empty_state_is_explicit():
    state = ExponentialDecayState(H)
    assert state.is_empty
    assert state.n_events == 0
    assert state.n_keys == 0
    assert state.value([0, 7], at=0.0).tolist() == [0.0, 0.0]
    state.update(3, 0.0, 0.0)  # an event of weight 0 is still an event
    assert not state.is_empty
    assert state.value([3], at=5.0).tolist() == [0.0]
    assert state.count.tolist() == [0, 0, 0, 1]
    assert math.isnan(state.last_time[0])


def test_empty_batches_change_nothing():
    state = ExponentialDecayState(H).update([], [], [])
    assert state.is_empty
    assert state.n_keys == 0


def test_the_state_grows_when_a_larger_key_arrives():
    state = ExponentialDecayState(H)
    for key in range(100):
        state.update(key, float(key), 1.0)
    assert state.n_keys == 100
    state.update([1_000_000, 2], [200.0, 200.0])
    assert state.n_keys == 1_000_001
    assert state.value([99, 1_000_000], at=200.0)[1] == 1.0


def test_weights_default_to_one_and_scalars_broadcast():
    state = ExponentialDecayState(H).update([0, 1], 5.0)
    assert state.value([0, 1], at=5.0).tolist() == [1.0, 1.0]
    state.update([0, 1], [5.0, 5.0], 2.0)
    assert state.value([0, 1], at=5.0).tolist() == [3.0, 3.0]


def test_infinite_half_life_counts_weighted_events():
    state = ExponentialDecayState(math.inf).update([0, 0, 1], [0.0, 1e9, 5.0], [1.0, 2.0, 3.0])
    assert state.value([0, 1], at=1e12).tolist() == [3.0, 3.0]
    assert state.forecast([0], at=1e12, horizon_seconds=1e12).tolist() == [3.0]


def test_per_key_half_lives_and_growing_them():
    state = ExponentialDecayState(np.array([H, 2 * H]))
    state.update([0, 1], [0.0, 0.0])
    assert state.value([0, 1], at=20.0).tolist() == [0.25, 0.5]
    with pytest.raises(InvalidParameterError, match="call grow"):
        state.update([2], [0.0])
    state.grow(4, half_life_seconds=np.array([math.inf, H]))
    state.update([2, 3], [0.0, 0.0])
    assert state.value([2, 3], at=20.0).tolist() == [1.0, 0.25]
    assert state.half_life_seconds.tolist() == [H, 2 * H, math.inf, H]


def test_grow_checks_its_arguments():
    per_key = ExponentialDecayState([H])
    with pytest.raises(InvalidParameterError, match="needs 'half_life_seconds'"):
        per_key.grow(3)
    with pytest.raises(InvalidParameterError, match=r"one half-life per new key \(2\)"):
        per_key.grow(3, half_life_seconds=[H])
    with pytest.raises(InvalidParameterError, match="never shrinks"):
        per_key.grow(0)
    scalar = ExponentialDecayState(H)
    with pytest.raises(InvalidParameterError, match="must be left out"):
        scalar.grow(5, half_life_seconds=H)
    assert scalar.grow(5).n_keys == 5


def test_asking_about_the_past_is_refused():
    state = ExponentialDecayState(H).update([0, 1], [10.0, 0.0])
    assert state.value([1], at=5.0).tolist() == [0.5**0.5]
    with pytest.raises(InvalidParameterError, match="before the last event of key 0"):
        state.value([0, 1], at=5.0)
    # one instant per key: key 0 is asked about after its last event, key 1 too
    assert state.value([0, 1], at=np.array([10.0, 10.0])).tolist() == [1.0, 0.25**0.5]


def test_value_keeps_the_shape_of_keys():
    state = ExponentialDecayState(H).update([0, 1], [0.0, 0.0])
    assert state.value(np.array([[0, 1], [1, 5]]), at=0.0).shape == (2, 2)
    assert state.value(1, at=0.0).shape == ()


def test_forecast():
    state = ExponentialDecayState(3600.0).update([0], [0.0], [8.0])
    assert state.forecast([0], at=3600.0, horizon_seconds=7200.0).tolist() == [1.0]
    with pytest.raises(InvalidParameterError, match="'horizon_seconds'"):
        state.forecast([0], at=3600.0, horizon_seconds=-1.0)
    with pytest.raises(InvalidParameterError, match="before the last event"):
        state.forecast([0], at=-1.0, horizon_seconds=10.0)


def test_long_gaps_underflow_without_warnings():
    # filterwarnings = error: an overflow or underflow warning would fail this test.
    state = ExponentialDecayState(1e-300).update([0, 0], [0.0, 1e300], [1.0, 1.0])
    assert state.value([0], at=1e308).tolist() == [0.0]
    state = ExponentialDecayState(1.0).update([0], [0.0]).update([0], [1e300])
    assert state.score.tolist() == [1.0]
    state.update([0, 0], [-1e300, 1e300], [1.0, 1.0])
    assert state.score.tolist() == [2.0]


@pytest.mark.parametrize(
    ("keys", "times", "weights", "message"),
    [
        ([0.5], [0.0], None, "must be integers"),
        ([-1], [0.0], None, "must be >= 0"),
        ([[0, 1]], [0.0, 0.0], None, "scalar or 1-D"),
        ([0, 1], [0.0, 1.0, 2.0], None, r"one entry per key \(2\)"),
        ([0, 1], [0.0, math.nan], None, "Event 1 has nan"),
        ([0, 1], [0.0, math.inf], None, "finite Unix seconds"),
        ([0, 1], [0.0, 1.0], [1.0, math.inf], "'weights'"),
        ([0], ["noon"], None, "must be numbers"),
    ],
)
def test_a_rejected_batch_leaves_the_state_untouched(keys, times, weights, message):
    state = ExponentialDecayState(H).update([0, 1], [0.0, 0.0], [1.0, 2.0])
    before = state.to_arrays()
    with pytest.raises(InvalidParameterError, match=message):
        state.update(keys, times, weights)
    after = state.to_arrays()
    for name, array in before.items():
        np.testing.assert_array_equal(after[name], array)
    assert state.n_events == 2


def test_arrays_are_read_only_views():
    state = ExponentialDecayState(H).update([0], [0.0])
    with pytest.raises(ValueError, match="read-only"):
        state.score[0] = 5.0


def test_save_and_load_without_pickle(tmp_path):
    state = ExponentialDecayState(np.array([H, math.inf, H])).update([0, 1], [3.0, 4.0], 2.0)
    path = tmp_path / "state.npz"
    np.savez(path, **state.to_arrays())
    with np.load(path, allow_pickle=False) as saved:
        restored = ExponentialDecayState.from_arrays(saved)
    assert restored.value([0, 1, 2], at=13.0).tolist() == state.value([0, 1, 2], at=13.0).tolist()
    assert restored.per_key_half_life
    assert restored.n_events == 2


def test_copy_is_independent():
    state = ExponentialDecayState(H).update([0], [0.0])
    copy = state.copy()
    copy.update([0], [0.0])
    assert state.score.tolist() == [1.0]
    assert copy.score.tolist() == [2.0]


def test_from_arrays_rejects_inconsistent_arrays():
    good = ExponentialDecayState(H).update([0, 2], [0.0, 1.0]).to_arrays()
    with pytest.raises(InvalidParameterError, match="missing count"):
        ExponentialDecayState.from_arrays({k: v for k, v in good.items() if k != "count"})
    with pytest.raises(InvalidParameterError, match="one length"):
        ExponentialDecayState.from_arrays({**good, "score": np.zeros(2)})
    with pytest.raises(InvalidParameterError, match="key 1 has count 0"):
        ExponentialDecayState.from_arrays({**good, "score": np.array([1.0, 3.0, 1.0])})
    with pytest.raises(InvalidParameterError, match="integers >= 0"):
        ExponentialDecayState.from_arrays({**good, "count": np.array([1, 0, -1])})
    with pytest.raises(InvalidParameterError, match="positive"):
        ExponentialDecayState.from_arrays({**good, "half_life_seconds": np.array(-1.0)})
    with pytest.raises(InvalidParameterError, match="0-d or one per key"):
        ExponentialDecayState.from_arrays({**good, "half_life_seconds": np.ones(2)})


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"half_life_seconds": 0.0}, "positive"),
        ({"half_life_seconds": [H, -H]}, "Entry 1"),
        ({"half_life_seconds": [[H]]}, "1-D array"),
        ({"half_life_seconds": [H, H], "n_keys": 3}, "must match the 2"),
        ({"half_life_seconds": H, "n_keys": -1}, "'n_keys'"),
    ],
)
def test_constructor_checks_its_arguments(arguments, message):
    with pytest.raises(InvalidParameterError, match=message):
        ExponentialDecayState(**arguments)


def test_repr_names_the_size():
    assert repr(ExponentialDecayState(H).update([1], [0.0])) == (
        "ExponentialDecayState(n_keys=2, n_events=1, half_life=10.0 s)"
    )


def test_bytes_roundtrip_via_buffer():
    buffer = io.BytesIO()
    np.savez(buffer, **ExponentialDecayState(H).to_arrays())
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as saved:
        assert ExponentialDecayState.from_arrays(saved).is_empty


def test_large_batches_use_the_same_arithmetic_as_small_ones():
    # A key range far larger than the batch takes the np.unique grouping path.
    keys = np.array([10_000_000, 3, 10_000_000, 3])
    times = np.array([0.0, 1.0, 10.0, 11.0])
    sparse_keys = ExponentialDecayState(H).update(keys, times)
    one_by_one = ExponentialDecayState(H)
    for key, time in zip(keys, times, strict=True):
        one_by_one.update(int(key), float(time))
    assert sparse_keys.value([3, 10_000_000], at=20.0).tolist() == pytest.approx(
        one_by_one.value([3, 10_000_000], at=20.0).tolist(), rel=1e-15
    )


@pytest.mark.parametrize(
    ("key", "time", "weight", "message"),
    [
        (-1, 0.0, 1.0, "must be >= 0"),
        (0, math.nan, 1.0, "finite Unix seconds"),
        (0, 0.0, -math.inf, "'weights'"),
        (True, 0.0, 1.0, "must be integers"),
    ],
)
def test_single_events_are_checked_like_batches(key, time, weight, message):
    state = ExponentialDecayState(H).update(0, 0.0, 1.0)
    with pytest.raises(InvalidParameterError, match=message):
        state.update(key, time, weight)
    assert state.n_events == 1
    assert state.score.tolist() == [1.0]


def test_single_events_respect_per_key_half_lives():
    state = ExponentialDecayState([H, H])
    with pytest.raises(InvalidParameterError, match="call grow"):
        state.update(2, 0.0)
    state.update(np.int64(1), np.float64(0.0), np.float32(2.0))
    assert state.value([1], at=H).tolist() == [1.0]
