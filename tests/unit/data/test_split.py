"""Tests of leave-last-out and temporal splits."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog
from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.data.split import (
    Split,
    default_temporal_cutoff,
    leave_last_out,
    rolling_temporal_splits,
    temporal_split,
)
from decayrec.errors import InvalidParameterError

T0 = datetime(2024, 3, 1, tzinfo=UTC).timestamp()


def _log(users: list[int], times: list[float], items: list[int] | None = None) -> EventLog:
    """A log whose item index is the row number (so rows can be traced through a split)."""
    return EventLog.from_indices(
        user_index=users,
        item_index=list(range(len(users))) if items is None else items,
        timestamp_seconds=[T0 + t for t in times],
        event_type=[0] * len(users),
    )


def _rows(log: EventLog) -> list[int]:
    rows: list[int] = log.item_index.tolist()
    return rows


@pytest.fixture(scope="module")
def simulated() -> EventLog:
    config = ShopConfig(n_users=400, n_items=300, n_categories=8, days=60, seed=3)
    return simulate_shop(config).events


def _assert_partition(split: Split, events: EventLog, *, complete: bool = True) -> None:
    """No event lost (when complete) or duplicated; parts keep the source order and vocabularies."""
    parts = [split.train, split.validation, split.test]
    for part in parts:
        assert part.users is events.users
        assert part.items is events.items
        assert part.categories is events.categories
    combined = pl.concat([p.frame for p in parts])
    assert combined.is_duplicated().sum() == 0 or events.frame.is_duplicated().any()
    if complete:
        assert combined.height == events.n_events
        assert combined.sort(combined.columns).equals(events.frame.sort(events.frame.columns))


# ---------------------------------------------------------------------------- leave-last-out
def test_loo_picks_last_and_second_last_per_user() -> None:
    #          rows: 0  1  2  3  4  5  6  7
    log = _log([0, 1, 0, 1, 0, 0, 1, 2], [1, 1, 2, 5, 3, 4, 3, 9])
    split = leave_last_out(log)
    # user 0: rows 0,2,4,5 by time -> test 5, validation 4; user 1: rows 1,6,3 -> test 3, val 6
    assert _rows(split.test) == [3, 5]
    assert _rows(split.validation) == [4, 6]
    assert _rows(split.train) == [0, 1, 2, 7]  # user 2 has one event: stays in train
    assert split.protocol == "loo"
    assert "2 of 3 users" in split.description
    _assert_partition(split, log)


def test_loo_ties_keep_file_order() -> None:
    # all events of user 0 at the same instant: file order decides, the last row is "last"
    log = _log([0, 0, 0, 0], [5, 5, 5, 5])
    split = leave_last_out(log)
    assert _rows(split.test) == [3]
    assert _rows(split.validation) == [2]
    assert _rows(split.train) == [0, 1]
    # a tie at the end after an earlier event: rows 1 and 2 tie, row 2 comes later in the file
    log = _log([0, 0, 0, 0], [9, 7, 7, 1])
    split = leave_last_out(log)
    assert _rows(split.test) == [0]
    assert _rows(split.validation) == [2]


def test_loo_users_with_fewer_than_three_events_stay_in_train() -> None:
    log = _log([0, 0, 1, 1, 1, 2], [1, 2, 1, 2, 3, 1])
    split = leave_last_out(log)
    assert _rows(split.train) == [0, 1, 2, 5]
    assert _rows(split.validation) == [3]
    assert _rows(split.test) == [4]


def test_loo_without_eligible_user_raises() -> None:
    with pytest.raises(InvalidParameterError, match=r"'events'.*3 or more"):
        leave_last_out(_log([0, 0, 1], [1, 2, 3]))


def test_loo_on_simulated_log(simulated: EventLog) -> None:
    shuffled = simulated.take(np.random.default_rng(0).permutation(simulated.n_events))
    split = leave_last_out(shuffled)
    _assert_partition(split, shuffled)
    counts = np.bincount(shuffled.user_index, minlength=len(shuffled.users))
    eligible = np.flatnonzero(counts >= 3)
    for part in (split.test, split.validation):
        assert sorted(part.user_index.tolist()) == eligible.tolist()
    # test is each user's latest event, validation never after test
    latest = shuffled.frame.group_by("user_index").agg(pl.col("timestamp").max()).sort("user_index")
    test = split.test.frame.sort("user_index")
    assert test["timestamp"].equals(
        latest.filter(pl.col("user_index").is_in(eligible.tolist()))["timestamp"]
    )
    validation = split.validation.frame.sort("user_index")
    assert (validation["timestamp"] <= test["timestamp"]).all()
    train_last = split.train.frame.group_by("user_index").agg(pl.col("timestamp").max())
    joined = train_last.join(validation, on="user_index", suffix="_val")
    assert (joined["timestamp"] <= joined["timestamp_val"]).all()


def test_train_and_validation_is_a_filter_in_file_order(simulated: EventLog) -> None:
    shuffled = simulated.take(np.random.default_rng(1).permutation(simulated.n_events))
    split = leave_last_out(shuffled)
    merged = split.train_and_validation()
    in_test = np.zeros(shuffled.n_events, dtype=bool)
    keyed = shuffled.frame.with_row_index("row")
    key = ["user_index", "item_index", "timestamp", "event_type"]  # unique, never null
    test_rows = keyed.join(split.test.frame, on=key, how="semi")["row"]
    assert len(test_rows) == split.test.n_events
    in_test[test_rows.to_numpy()] = True
    assert merged.frame.equals(shuffled.filter(~in_test).frame)
    assert merged.users is shuffled.users


def test_train_and_validation_without_source_sorts_by_time() -> None:
    log = _log([0, 0, 0, 0], [1, 2, 3, 4])
    split = leave_last_out(log)
    manual = Split(split.train, split.validation, split.test, "loo", "by hand")
    assert _rows(manual.train_and_validation()) == [0, 1, 2]


def test_split_rejects_mixed_vocabularies_and_protocols() -> None:
    log = _log([0, 0, 0], [1, 2, 3])
    other = _log([5, 5, 5], [1, 2, 3])
    with pytest.raises(InvalidParameterError, match="share vocabularies"):
        Split(log, other, log, "loo", "mixed")
    with pytest.raises(InvalidParameterError, match="'protocol'"):
        Split(log, log, log, "random", "bad")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------- temporal
def test_temporal_boundaries() -> None:
    #          rows:  0   1   2   3   4   5   6
    log = _log([0] * 7, [0, 10, 20, 30, 40, 50, 60])
    split = temporal_split(log, at=T0 + 30, validation=timedelta(seconds=10), horizon=20.0)
    assert _rows(split.train) == [0, 1]  # t < at - validation (20 excluded)
    assert _rows(split.validation) == [2]  # [20, 30)
    assert _rows(split.test) == [3, 4]  # [30, 50): at included, at + horizon excluded
    assert split.protocol == "temporal"
    assert "validation [" in split.description
    merged = split.train_and_validation()
    assert _rows(merged) == [0, 1, 2]
    _assert_partition(split, log, complete=False)


def test_temporal_accepts_datetime_iso_and_seconds() -> None:
    log = _log([0, 1, 0, 1], [0, 10, 20, 30])
    at_dt = datetime.fromtimestamp(T0 + 20, tz=UTC)
    by_seconds = temporal_split(log, at=T0 + 20)
    by_datetime = temporal_split(log, at=at_dt)
    by_text = temporal_split(log, at=at_dt.isoformat())
    naive = temporal_split(log, at=at_dt.replace(tzinfo=None))
    for split in (by_datetime, by_text, naive):
        assert _rows(split.train) == _rows(by_seconds.train) == [0, 1]
        assert _rows(split.test) == _rows(by_seconds.test) == [2, 3]
    assert by_seconds.validation.n_events == 0
    _assert_partition(by_seconds, log)


def test_temporal_keeps_file_order_and_vocabularies(simulated: EventLog) -> None:
    shuffled = simulated.take(np.random.default_rng(2).permutation(simulated.n_events))
    first, last = shuffled.time_range()
    at = first + 0.8 * (last - first)
    split = temporal_split(shuffled, at=at, validation=timedelta(days=5))
    _assert_partition(split, shuffled)
    seconds = shuffled.timestamp_seconds
    expected_test = np.flatnonzero(seconds >= at)
    assert split.test.frame.equals(shuffled.take(expected_test).frame)
    assert split.train.timestamp_seconds.max() < at - 5 * 86_400
    assert split.validation.timestamp_seconds.min() >= at - 5 * 86_400


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"at": T0 - 100}, "train part .* empty"),
        ({"at": T0 + 1_000}, "test part .* empty"),
        ({"at": T0 + 25, "validation": 2.0}, "validation part .* empty"),
        ({"at": T0 + 20, "horizon": -5.0}, "'horizon'"),
        ({"at": T0 + 20, "horizon": 0.0}, "'horizon'"),
        ({"at": T0 + 20, "validation": timedelta(days=-1)}, "'validation'"),
        ({"at": T0 + 20, "validation": "1d"}, "'validation'"),
        ({"at": "yesterday"}, "'at'"),
        ({"at": None}, "'at'"),
        ({"at": float("nan")}, "'at'"),
    ],
)
def test_temporal_errors_name_the_parameter(kwargs: dict[str, object], message: str) -> None:
    log = _log([0, 0, 0, 0], [0, 10, 20, 30])
    with pytest.raises(InvalidParameterError, match=message):
        temporal_split(log, **kwargs)  # type: ignore[arg-type]


def test_temporal_zero_validation_means_none() -> None:
    log = _log([0, 0, 0, 0], [0, 10, 20, 30])
    split = temporal_split(log, at=T0 + 20, validation=timedelta(0))
    assert split.validation.n_events == 0
    assert _rows(split.train) == [0, 1]


# ---------------------------------------------------------------------------- default cut-off
def test_default_temporal_cutoff_by_quantiles() -> None:
    log = _log([0] * 100, [float(t) for t in range(100)][::-1])  # reverse file order
    at, validation = default_temporal_cutoff(log)
    assert at == datetime.fromtimestamp(T0 + 80, tz=UTC)
    assert validation == timedelta(seconds=10)
    split = temporal_split(log, at=at, validation=validation)
    assert split.sizes == {"train": 70, "validation": 10, "test": 20}
    at, validation = default_temporal_cutoff(log, test_fraction=0.5, validation_fraction=0)
    assert validation is None
    assert temporal_split(log, at=at, validation=validation).sizes["test"] == 50


def test_default_temporal_cutoff_on_simulated_log(simulated: EventLog) -> None:
    at, validation = default_temporal_cutoff(simulated, test_fraction=0.25)
    split = temporal_split(simulated, at=at, validation=validation)
    shares = {k: v / simulated.n_events for k, v in split.sizes.items()}
    assert shares["test"] == pytest.approx(0.25, abs=0.01)
    assert shares["validation"] == pytest.approx(0.10, abs=0.01)
    _assert_partition(split, simulated)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"test_fraction": 0.0}, "'test_fraction'"),
        ({"test_fraction": 1.0}, "'test_fraction'"),
        ({"validation_fraction": -0.1}, "'validation_fraction'"),
        ({"test_fraction": 0.6, "validation_fraction": 0.5}, "sum to less than 1"),
    ],
)
def test_default_temporal_cutoff_rejects_bad_fractions(
    kwargs: dict[str, float], message: str
) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        default_temporal_cutoff(_log([0, 0, 0], [0, 1, 2]), **kwargs)


def test_default_temporal_cutoff_needs_spread_in_time() -> None:
    with pytest.raises(InvalidParameterError, match="spread"):
        default_temporal_cutoff(_log([0, 0, 0], [5, 5, 5]))
    empty = _log([0], [0]).filter(np.zeros(1, dtype=bool))
    with pytest.raises(InvalidParameterError, match="empty"):
        default_temporal_cutoff(empty)


# ---------------------------------------------------------------------------- rolling origin
def test_rolling_splits_end_with_the_default_split(simulated: EventLog) -> None:
    splits = rolling_temporal_splits(simulated, 3)
    at, validation = default_temporal_cutoff(simulated)
    default = temporal_split(simulated, at=at, validation=validation)
    assert len(splits) == 3
    assert splits[-1].description == default.description
    assert splits[-1].sizes == default.sizes
    for part in ("train", "validation", "test"):
        assert getattr(splits[-1], part).frame.equals(getattr(default, part).frame)


def test_rolling_test_periods_are_disjoint_adjacent_and_after_their_training(
    simulated: EventLog,
) -> None:
    splits = rolling_temporal_splits(simulated, 4)
    for split in splits:
        _assert_partition(split, simulated, complete=False)
        assert split.train.frame["timestamp"].max() < split.validation.frame["timestamp"].min()
        assert split.validation.frame["timestamp"].max() < split.test.frame["timestamp"].min()
    for earlier, later in itertools.pairwise(splits):
        assert earlier.test_start is not None and later.test_start is not None
        assert earlier.test_start < later.test_start
        # the earlier test period ends where the later one starts: nothing between, no overlap
        end = earlier.test.frame["timestamp"].max()
        start = later.test.frame["timestamp"].min()
        assert end < start
        between = simulated.frame.filter(pl.col("timestamp").is_between(end, start, closed="none"))
        assert between.height == 0
    tested = pl.concat([split.test.frame for split in splits])
    assert tested.height == sum(split.sizes["test"] for split in splits)
    assert tested.is_duplicated().sum() == 0 or simulated.frame.is_duplicated().any()


def test_each_rolling_fold_applies_the_default_rule_to_the_log_before_the_next() -> None:
    log = _log([0] * 100, [float(t) for t in range(100)])
    first, second = rolling_temporal_splits(log, 2)
    assert second.sizes == {"train": 70, "validation": 10, "test": 20}
    # the 80 events before the second cutoff: the last 16 test, the 8 before them validate
    assert first.sizes == {"train": 56, "validation": 8, "test": 16}
    assert first.test_start == pytest.approx(T0 + 64)


@pytest.mark.parametrize("folds", [0, -1, 1.5, True, "2"])
def test_rolling_splits_reject_a_bad_number_of_folds(folds: object) -> None:
    with pytest.raises(InvalidParameterError, match="'folds' parameter"):
        rolling_temporal_splits(_log([0] * 10, [float(t) for t in range(10)]), folds)  # type: ignore[arg-type]


def test_rolling_splits_name_the_fold_that_cannot_be_made() -> None:
    log = _log([0] * 10, [float(t) for t in range(10)])
    with pytest.raises(InvalidParameterError, match=r"fold \d+ of 40"):
        rolling_temporal_splits(log, 40)
