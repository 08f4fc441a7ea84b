"""Load each public data set in ../shared/data and compare with the counts in its README.

The folder is ``$DECAYREC_SHARED_DATA`` (the name the benchmarks read too) or, by default,
``shared/data`` beside the repository.
A test whose file is absent is skipped, naming the file.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from decayrec.data import CleaningReport, EventLog, EventType, load_events

pytestmark = pytest.mark.dataset

_REPO = Path(__file__).resolve().parents[2]
DATA_DIR = Path(os.environ.get("DECAYREC_SHARED_DATA", _REPO.parent / "shared" / "data"))


@dataclass(frozen=True)
class Expected:
    """README numbers for one data set (rows read, events kept, users, items, categories)."""

    path: str
    format: str
    rows: int
    users: int
    items: int | None = None
    categories: int | None = None
    types: Mapping[str, int] = field(default_factory=dict)
    needs: tuple[str, ...] = ()


CASES = [
    Expected("amazon_beauty_5core/interactions.csv", "amazon", 198_502, 22_363, 12_101),
    Expected(
        "taobao_userbehavior/UserBehavior_window_2017-11-26_01-03h.csv",
        "taobao",
        110_300,
        66_454,
        84_793,
        3_913,
        {"view": 98_361, "cart": 6_063, "favourite": 3_383, "purchase": 2_493},
    ),
    Expected("taobao_userbehavior/UserBehavior_head_users.csv", "taobao", 4_321, 43, 3_276, 567),
    Expected(
        "diginetica",
        "diginetica",
        18_025 + 12_391,
        0,  # checked separately: named users plus one "s:" user per anonymous session
        types={"purchase": 18_025, "view": 12_391},
        needs=("train-purchases.csv", "sample_train-item-views.csv", "product-categories.csv"),
    ),
    Expected("yoochoose/yoochoose-clicks-100k_train_full.txt", "yoochoose", 70_278, 17_794, 2_933),
    Expected("yoochoose/yoochoose-clicks-100k_test.txt", "yoochoose", 13_568, 3_416),
    Expected("rees46/2019-Oct_head.csv", "rees46", 17_435, 4_505, 6_493, 434),
    Expected(
        "ml-latest-small",
        "movielens",
        100_004,
        671,
        9_066,
        needs=("ratings.csv", "movies.csv"),
    ),
]


def _require(case: Expected) -> Path:
    path = DATA_DIR / case.path
    needed = [path / name for name in case.needs] if case.needs else [path]
    for file in needed:
        if not file.exists():
            pytest.skip(f"data file {file} is absent (set DECAYREC_SHARED_DATA to its folder)")
    return path


def _close(actual: int, expected: int) -> bool:
    """Within 1 %: the README rounds nothing, but cleaning may drop a few rows."""
    return abs(actual - expected) <= max(5, 0.01 * expected)


def _type_counts(events: EventLog) -> dict[str, int]:
    counts = np.bincount(events.event_type, minlength=len(EventType))
    return {t.label: int(counts[t]) for t in EventType if counts[t]}


def _check_report(report: CleaningReport, case: Expected) -> None:
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert report.rows_read == case.rows, report.to_dict()
    assert report.rows_dropped <= 0.01 * case.rows, report.to_dict()


@pytest.mark.parametrize("case", CASES, ids=[c.path.split("/")[-1] for c in CASES])
def test_dataset_loads_and_matches_its_readme(case: Expected) -> None:
    path = _require(case)
    events, report = load_events(path, case.format)
    _check_report(report, case)
    assert events.n_events == report.rows_kept
    if case.users:
        assert _close(len(events.users), case.users), len(events.users)
    if case.items is not None:
        assert _close(len(events.items), case.items), len(events.items)
    if case.categories is not None:
        assert _close(len(events.categories), case.categories), len(events.categories)
    counts = _type_counts(events)
    for label, expected in case.types.items():
        assert _close(counts.get(label, 0), expected), counts
    first, last = events.time_range()
    assert first < last
    if case.format in ("amazon", "diginetica"):  # these readers order rows by time
        assert (np.diff(events.timestamp_seconds) >= 0).all()


def test_taobao_head_file_drops_its_one_outlier() -> None:
    case = next(c for c in CASES if c.path.endswith("head_users.csv"))
    _, report = load_events(_require(case), "taobao")
    assert report.dropped["out_of_range_timestamp"] == 1
    assert report.rows_kept == 4_320


def test_diginetica_users_with_an_id_and_anonymous_sessions() -> None:
    case = next(c for c in CASES if c.format == "diginetica")
    events, _ = load_events(_require(case), "diginetica")
    frame = events.to_frame()
    named = frame.filter(~frame["user_id"].str.starts_with("s:"))
    purchases = named.filter(named["event_type"] == "purchase")
    views = named.filter(named["event_type"] == "view")
    assert _close(purchases["user_id"].n_unique(), 4_425)
    assert _close(views["user_id"].n_unique(), 1_270)
    anonymous = frame.filter(frame["user_id"].str.starts_with("s:"))
    assert (anonymous["user_id"].str.slice(2) == anonymous["session_id"]).all()
    assert events.has_categories


def test_yoochoose_sessions_add_up_across_the_split() -> None:
    train = next(c for c in CASES if c.path.endswith("train_full.txt"))
    test = next(c for c in CASES if c.path.endswith("_test.txt"))
    first, _ = load_events(_require(train), "yoochoose")
    second, _ = load_events(_require(test), "yoochoose")
    assert len(first.users) + len(second.users) == 21_210
    assert first.n_events + second.n_events + 1 == 83_846  # one duplicate row in train
