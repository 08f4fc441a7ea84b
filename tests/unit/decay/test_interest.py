"""Known-answer tests for batch interest profiles (decayrec.decay.interest)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.sparse as sp

from decayrec.data.schema import EventLog, EventWeights, Vocabulary
from decayrec.decay import interest
from decayrec.decay.interest import (
    decayed_interest,
    event_decay_weights,
    forecast_interest,
    normalize_interest,
    sum_by_key,
)
from decayrec.errors import InvalidParameterError

HOUR = 3600.0
T0 = 1_700_000_000.0  # 2023-11-14, a realistic epoch


@pytest.fixture
def log() -> EventLog:
    """Three users (u2 has no events), four items, three categories (c2 unused).

    ====  ====  ====  ========  =========  ======
    row   user  item  category  time       type
    ====  ====  ====  ========  =========  ======
    0     u0    i0    c0        T0 + 0 h   view (1)
    1     u0    i1    c0        T0 + 1 h   purchase (5)
    2     u0    i2    c1        T0 + 2 h   cart (3)
    3     u1    i2    c1        T0 + 0 h   favourite (2)
    4     u1    i3    none      T0 + 1 h   view (1)
    5     u0    i0    c0        T0 + 5 h   view (1)
    ====  ====  ====  ========  =========  ======
    """
    return EventLog.from_indices(
        user_index=[0, 0, 0, 1, 1, 0],
        item_index=[0, 1, 2, 2, 3, 0],
        category_index=[0, 0, 1, 1, -1, 0],
        timestamp_seconds=T0 + HOUR * np.array([0, 1, 2, 0, 1, 5], dtype=np.float64),
        event_type=[0, 4, 3, 2, 0, 0],
        users=Vocabulary.from_ids(["u0", "u1", "u2"]),
        items=Vocabulary.from_ids(["i0", "i1", "i2", "i3"]),
        categories=Vocabulary.from_ids(["c0", "c1", "c2"]),
    )


def dense(matrix: sp.csr_matrix) -> list[list[float]]:
    return matrix.toarray().tolist()


# ---------------------------------------------------------------------------- decayed_interest
def test_category_profile_with_one_half_life(log):
    # u0/c0 at 2 h: view 2 h old (1/4) + purchase 1 h old (5/2); the 5 h view is in the future.
    result = decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR)
    assert result.shape == (3, 3)
    assert dense(result) == [[2.75, 3.0, 0.0], [0.0, 0.5, 0.0], [0.0, 0.0, 0.0]]


def test_item_profile_keeps_events_without_category(log):
    result = decayed_interest(log, at=T0 + 2 * HOUR, key="item", half_life_seconds=HOUR)
    assert dense(result) == [
        [0.25, 2.5, 3.0, 0.0],
        [0.0, 0.0, 0.5, 0.5],
        [0.0, 0.0, 0.0, 0.0],
    ]


def test_per_category_half_lives(log):
    # c1 fades half as fast: u1's favourite, 2 h old, keeps 2 · 2^-1 = 1.
    half_lives = np.array([HOUR, 2 * HOUR, HOUR])
    result = decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=half_lives)
    assert dense(result) == [[2.75, 3.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


def test_item_profile_with_per_category_half_lives(log):
    # Items decay at their category's rate; i3 has no category and takes the median (1 h).
    half_lives = np.array([HOUR, 2 * HOUR, HOUR])
    result = decayed_interest(
        log,
        at=T0 + 2 * HOUR,
        key="item",
        half_life_seconds=half_lives,
        half_life_by="category",
    )
    assert dense(result) == [
        [0.25, 2.5, 3.0, 0.0],
        [0.0, 0.0, 1.0, 0.5],
        [0.0, 0.0, 0.0, 0.0],
    ]


def test_per_item_half_lives(log):
    half_lives = np.array([HOUR, HOUR, 2 * HOUR, math.inf])
    result = decayed_interest(log, at=T0 + 2 * HOUR, key="item", half_life_seconds=half_lives)
    assert dense(result)[1] == [0.0, 0.0, 1.0, 1.0]


def test_events_after_at_are_ignored(log):
    before = decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR)
    without_future = decayed_interest(
        log.take([0, 1, 2, 3, 4]), at=T0 + 2 * HOUR, half_life_seconds=HOUR
    )
    assert dense(before) == dense(without_future)
    later = decayed_interest(log, at=T0 + 5 * HOUR, half_life_seconds=HOUR)
    assert dense(later)[0][:2] == [1 / 32 + 5 / 16 + 1.0, 3 / 8]


def test_an_event_exactly_at_at_counts_fully(log):
    result = decayed_interest(log, at=T0, half_life_seconds=HOUR)
    assert dense(result) == [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]


def test_one_instant_per_user(log):
    # u1 is asked about at T0: its favourite counts fully and its 1 h view not at all.
    at = np.array([T0 + 2 * HOUR, T0, T0])
    result = decayed_interest(log, at=at, key="item", half_life_seconds=HOUR)
    assert dense(result) == [
        [0.25, 2.5, 3.0, 0.0],
        [0.0, 0.0, 2.0, 0.0],
        [0.0, 0.0, 0.0, 0.0],
    ]


def test_a_single_instant_may_come_as_a_one_element_array(log):
    scalar = decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR)
    wrapped = decayed_interest(log, at=np.array([T0 + 2 * HOUR]), half_life_seconds=HOUR)
    assert dense(scalar) == dense(wrapped)


def test_no_decay_counts_weighted_events(log):
    result = decayed_interest(log, at=T0 + 2 * HOUR)
    assert dense(result) == [[6.0, 3.0, 0.0], [0.0, 2.0, 0.0], [0.0, 0.0, 0.0]]


def test_custom_event_weights(log):
    weights = EventWeights(view=0.0, purchase=1.0, cart=1.0, favourite=1.0)
    result = decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR, weights=weights)
    assert dense(result) == [[0.5, 1.0, 0.0], [0.0, 0.25, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize(
    ("kernel", "u0_c0"),
    [
        ("linear", 0.0 + 5 * 0.5),  # the 2 h-old view is fully forgotten at 2 h = 2·h
        ("power", 1 / 3 + 5 / 2),
        ("logarithmic", 1 - math.log2(3) / 2 + 5 / 2),
    ],
)
def test_other_kernels(log, kernel, u0_c0):
    result = decayed_interest(log, at=T0 + 2 * HOUR, kernel=kernel, half_life_seconds=HOUR)
    assert result[0, 0] == pytest.approx(u0_c0, rel=1e-12)
    assert result[0, 1] == 3.0


def test_cells_that_decay_to_zero_are_not_stored(log):
    # Linear kernel: u1's favourite is 2 h old at 2 h and weighs exactly 0.
    result = decayed_interest(log, at=T0 + 2 * HOUR, kernel="linear", half_life_seconds=HOUR)
    assert result[1, 1] == 0.0
    assert result.has_canonical_format
    assert (result.data != 0).all()


def test_the_log_is_not_modified(log):
    seconds = log.timestamp_seconds.copy()
    decayed_interest(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR)
    decayed_interest(log, at=np.array([T0, T0, T0]), half_life_seconds=HOUR)
    np.testing.assert_array_equal(log.timestamp_seconds, seconds)


def test_a_log_in_several_chunks_gives_the_same_profile(log):
    first, second = log.take([0, 1, 2]), log.take([3, 4, 5])
    chunked = first.concat(second)
    assert chunked.frame["user_index"].n_chunks() > 1
    at = T0 + 2 * HOUR
    assert dense(decayed_interest(chunked, at=at, half_life_seconds=HOUR)) == dense(
        decayed_interest(log, at=at, half_life_seconds=HOUR)
    )


def test_empty_log():
    empty = EventLog.from_indices(
        user_index=[],
        item_index=[],
        timestamp_seconds=[],
        event_type=[],
        users=Vocabulary.from_ids(["a"]),
        items=Vocabulary.from_ids(["x"]),
        categories=Vocabulary.from_ids(["c"]),
    )
    assert dense(decayed_interest(empty, at=T0, half_life_seconds=HOUR)) == [[0.0]]


def test_sparse_and_dense_paths_agree_on_a_profile(log, monkeypatch):
    expected = decayed_interest(log, at=T0 + 2 * HOUR, key="item", half_life_seconds=HOUR)
    monkeypatch.setattr(interest, "_DENSE_CELL_LIMIT", 0)
    result = decayed_interest(log, at=T0 + 2 * HOUR, key="item", half_life_seconds=HOUR)
    assert dense(result) == dense(expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "user"}, "'key' parameter must be 'category' or 'item'"),
        ({"half_life_by": "shop"}, "'half_life_by' parameter"),
        ({"half_life_seconds": 0.0}, "positive duration"),
        ({"half_life_seconds": -HOUR}, "positive duration"),
        ({"half_life_seconds": math.nan}, "positive duration"),
        ({"half_life_seconds": np.array([HOUR, HOUR])}, r"one half-life per category \(3\)"),
        ({"half_life_seconds": np.array([HOUR, 0.0, HOUR])}, "Entry 1 is 0.0"),
        ({"kernel": "gaussian"}, "'kernel' parameter"),
        ({"at": np.array([T0, T0])}, r"one per user \(3\)"),
        ({"at": math.nan}, "got nan|Got nan"),
    ],
)
def test_invalid_arguments_are_named(log, kwargs, message):
    arguments = {"at": T0, "half_life_seconds": HOUR, **kwargs}
    with pytest.raises(InvalidParameterError, match=message):
        decayed_interest(log, **arguments)


# ---------------------------------------------------------------------------- event weights
def test_event_decay_weights_per_event(log):
    weights = event_decay_weights(log, at=T0 + 2 * HOUR, half_life_seconds=HOUR)
    assert weights.tolist() == [0.25, 2.5, 3.0, 0.5, 0.5, 0.0]


def test_event_decay_weights_by_item(log):
    weights = event_decay_weights(
        log,
        at=T0 + 2 * HOUR,
        half_life_seconds=np.array([HOUR, HOUR, 2 * HOUR, 2 * HOUR]),
        half_life_by="item",
    )
    assert weights.tolist() == [0.25, 2.5, 3.0, 1.0, 2**-0.5, 0.0]


# ---------------------------------------------------------------------------- forecast
def test_exponential_forecast_is_interest_times_two_to_minus_horizon(log):
    at, horizon = T0 + 2 * HOUR, 4 * HOUR
    now = decayed_interest(log, at=at, half_life_seconds=HOUR)
    ahead = forecast_interest(log, at=at, horizon_seconds=horizon, half_life_seconds=HOUR)
    # The view at 5 h lies inside the horizon but after `at`: a forecast never sees it.
    np.testing.assert_allclose(ahead.toarray(), now.toarray() * 2.0**-4, rtol=1e-15)


def test_forecast_with_zero_horizon_is_the_interest(log):
    at = T0 + 2 * HOUR
    now = decayed_interest(log, at=at, key="item", half_life_seconds=HOUR)
    ahead = forecast_interest(log, at=at, horizon_seconds=0.0, key="item", half_life_seconds=HOUR)
    assert dense(ahead) == dense(now)


def test_forecast_with_one_instant_per_user(log):
    at = np.array([T0 + 2 * HOUR, T0, T0])
    ahead = forecast_interest(log, at=at, horizon_seconds=HOUR, half_life_seconds=HOUR)
    assert dense(ahead) == [[1.375, 1.5, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 0.0]]


@pytest.mark.parametrize("horizon", [-1.0, math.nan])
def test_forecast_rejects_a_negative_horizon(log, horizon):
    with pytest.raises(InvalidParameterError, match="'horizon'"):
        forecast_interest(log, at=T0, horizon_seconds=horizon, half_life_seconds=HOUR)


# ---------------------------------------------------------------------------- normalize
@pytest.fixture
def profile() -> sp.csr_matrix:
    return sp.csr_matrix(np.array([[1.0, 3.0, 0.0], [0.0, 0.0, 0.0], [2.0, 2.0, 4.0]]))


def test_sum_normalisation_makes_rows_sum_to_one(profile):
    result = normalize_interest(profile)
    assert dense(result) == [[0.25, 0.75, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.5]]
    np.testing.assert_allclose(np.asarray(result.sum(axis=1)).ravel(), [1.0, 0.0, 1.0])


def test_empty_rows_stay_empty(profile):
    for method in ("sum", "softmax"):
        result = normalize_interest(profile, method)
        assert result.getrow(1).nnz == 0
        assert not np.isnan(result.data).any()


def test_softmax_over_touched_keys(profile):
    result = normalize_interest(profile, "softmax")
    e1, e3 = math.exp(1.0), math.exp(3.0)
    np.testing.assert_allclose(result.toarray()[0], [e1 / (e1 + e3), e3 / (e1 + e3), 0.0])
    np.testing.assert_allclose(np.asarray(result.sum(axis=1)).ravel(), [1.0, 0.0, 1.0])


def test_softmax_temperature_sharpens_and_flattens(profile):
    sharp = normalize_interest(profile, "softmax", temperature=0.1).toarray()[2]
    flat = normalize_interest(profile, "softmax", temperature=100.0).toarray()[2]
    assert sharp[2] > 0.999
    np.testing.assert_allclose(flat, [1 / 3] * 3, rtol=0.02)
    e2 = math.exp(2.0 / 2.0)
    e4 = math.exp(4.0 / 2.0)
    np.testing.assert_allclose(
        normalize_interest(profile, "softmax", temperature=2.0).toarray()[2],
        [e2 / (2 * e2 + e4), e2 / (2 * e2 + e4), e4 / (2 * e2 + e4)],
    )


def test_softmax_is_stable_for_large_interest():
    big = sp.csr_matrix(np.array([[1000.0, 1001.0]]))
    result = normalize_interest(big, "softmax").toarray()[0]
    np.testing.assert_allclose(result, [1 / (1 + math.e), math.e / (1 + math.e)])


def test_explicit_zeros_do_not_join_the_softmax():
    matrix = sp.csr_matrix((np.array([0.0, 1.0]), np.array([0, 1]), np.array([0, 2])), shape=(1, 2))
    assert matrix.nnz == 2
    assert dense(normalize_interest(matrix, "softmax")) == [[0.0, 1.0]]


def test_normalisation_does_not_modify_its_input(profile):
    before = profile.toarray().copy()
    normalize_interest(profile, "softmax")
    normalize_interest(profile, "sum")
    np.testing.assert_array_equal(profile.toarray(), before)


@pytest.mark.parametrize(
    ("method", "temperature", "message"),
    [
        ("max", 1.0, "'method'"),
        ("softmax", 0.0, "'temperature'"),
        ("softmax", -1.0, "'temperature'"),
    ],
)
def test_normalisation_rejects_bad_arguments(profile, method, temperature, message):
    with pytest.raises(InvalidParameterError, match=message):
        normalize_interest(profile, method, temperature=temperature)


# ---------------------------------------------------------------------------- sum_by_key
@pytest.fixture(params=["dense", "sparse"])
def path(request, monkeypatch) -> str:
    """Run a test on both code paths; the sparse one is forced by shrinking the size switch."""
    if request.param == "sparse":
        monkeypatch.setattr(interest, "_DENSE_CELL_LIMIT", 0)
    return request.param


def test_sum_by_key_sums_duplicates(path):
    rows = np.array([0, 0, 1, 0, 1], dtype=np.int32)
    cols = np.array([2, 2, 0, 1, 0], dtype=np.int32)
    values = np.array([1.0, 2.0, 0.5, 4.0, 0.25])
    result = sum_by_key(rows, cols, values, shape=(3, 3))
    assert dense(result) == [[0.0, 4.0, 3.0], [0.75, 0.0, 0.0], [0.0, 0.0, 0.0]]
    assert result.has_canonical_format
    assert isinstance(result, sp.csr_matrix)


def test_sum_by_key_drops_negative_columns(path):
    result = sum_by_key(np.array([0, 1]), np.array([-1, 1]), np.array([9.0, 1.0]), shape=(2, 2))
    assert dense(result) == [[0.0, 0.0], [0.0, 1.0]]


def test_sum_by_key_does_not_store_cells_summing_to_zero(path):
    result = sum_by_key(
        np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([1.5, -1.5, 2.0]), shape=(2, 2)
    )
    assert result.nnz == 1
    assert dense(result) == [[0.0, 0.0], [0.0, 2.0]]


def test_sum_by_key_with_no_entries(path):
    empty = np.zeros(0, dtype=np.int32)
    result = sum_by_key(empty, empty, np.zeros(0), shape=(2, 3))
    assert result.shape == (2, 3)
    assert result.nnz == 0


def test_sum_by_key_paths_agree_on_random_data(monkeypatch, rng):
    rows = rng.integers(0, 50, 5_000).astype(np.int32)
    cols = rng.integers(-1, 40, 5_000).astype(np.int32)
    values = rng.random(5_000)
    dense_result = sum_by_key(rows, cols, values, shape=(50, 40))
    monkeypatch.setattr(interest, "_DENSE_CELL_LIMIT", 0)
    sparse_result = sum_by_key(rows, cols, values, shape=(50, 40))
    np.testing.assert_array_equal(dense_result.indptr, sparse_result.indptr)
    np.testing.assert_array_equal(dense_result.indices, sparse_result.indices)
    np.testing.assert_allclose(dense_result.data, sparse_result.data, rtol=1e-13)


@pytest.mark.parametrize(
    ("rows", "cols", "message"),
    [
        ([0, 2], [0, 0], "'rows' of sum_by_key must lie in \\[0, 2\\)"),
        ([0, -1], [0, 0], "'rows'"),
        ([0, 0], [0, 3], "'cols' of sum_by_key must lie in \\[0, 3\\)"),
    ],
)
def test_sum_by_key_rejects_indices_outside_the_shape(path, rows, cols, message):
    with pytest.raises(InvalidParameterError, match=message):
        sum_by_key(np.array(rows), np.array(cols), np.ones(2), shape=(2, 3))


def test_sum_by_key_rejects_arrays_of_different_lengths():
    with pytest.raises(InvalidParameterError, match="one entry per event"):
        sum_by_key(np.array([0]), np.array([0, 1]), np.ones(2), shape=(2, 2))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240601)
