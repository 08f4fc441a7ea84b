"""clean_events: every drop reason counted with examples, parsing rules, the report."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta, timezone

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decayrec.data import DROP_REASONS, CleaningConfig, CleaningReport, EventType, clean_events
from decayrec.errors import DataValidationError, InvalidParameterError

T0 = 1_700_000_000  # 2023-11-14 22:13:20 UTC


def _frame(rows: list[tuple[object, ...]], columns: tuple[str, ...] | None = None) -> pl.DataFrame:
    names = columns or ("user_id", "item_id", "timestamp", "event_type")
    return pl.DataFrame(rows, schema=list(names), orient="row")


def _check_adds_up(report: CleaningReport) -> None:
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())
    assert list(report.dropped) == list(DROP_REASONS)


# ------------------------------------------------------------------------------ every reason


def test_every_reason_is_counted_with_examples_of_raw_rows() -> None:
    raw = pl.DataFrame(
        {
            "user_id": ["u1", "u1", None, "", "u2", "u2", "u2", "u2", "u3", "u1", "u4"],
            "item_id": ["a", "a", "b", "c", None, "d", "e", "f", "g", "a", "h"],
            "timestamp": [
                str(T0),
                str(T0),
                str(T0),
                str(T0),
                str(T0),
                "not a time",
                "12",  # 1970: outside the valid range
                str(T0),
                str(T0),
                str(T0),
                str(T0),
            ],
            "event_type": ["pv", "pv", "pv", "pv", "pv", "pv", "pv", "teleport", "pv", "pv", "buy"],
            "value": ["1", "1", None, None, None, None, None, None, "abc", "1", None],
            "_malformed": [False] * 10 + [True],
        }
    )
    cleaned, report = clean_events(raw, source="shop.csv")
    _check_adds_up(report)
    assert report.source == "shop.csv"
    assert report.rows_read == 11 and report.rows_kept == 1
    assert report.dropped == {
        "malformed_row": 1,
        "missing_user_id": 2,
        "missing_item_id": 1,
        "bad_timestamp": 1,
        "out_of_range_timestamp": 1,
        "unknown_event_type": 1,
        "bad_value": 1,
        "duplicate": 2,
        "bot_user": 0,
    }
    assert [e["row"] for e in report.examples["missing_user_id"]] == [2, 3]
    assert report.examples["missing_user_id"][1]["user_id"] == ""  # the raw value, not null
    assert report.examples["bad_timestamp"][0] == {
        "row": 5,
        "user_id": "u2",
        "item_id": "d",
        "timestamp": "not a time",
        "event_type": "pv",
        "value": None,
    }
    assert report.examples["out_of_range_timestamp"][0]["timestamp"] == "12"
    assert report.examples["unknown_event_type"][0]["event_type"] == "teleport"
    assert report.examples["bad_value"][0]["value"] == "abc"
    assert [e["row"] for e in report.examples["duplicate"]] == [1, 9]
    assert report.examples["malformed_row"][0]["row"] == 10
    assert "bot_user" not in report.examples
    assert cleaned["_row"].to_list() == [0]


def test_at_most_three_examples_per_reason() -> None:
    raw = _frame([(None, "a", T0, "pv")] * 5)
    _, report = clean_events(raw)
    assert report.dropped["missing_user_id"] == 5
    assert [e["row"] for e in report.examples["missing_user_id"]] == [0, 1, 2]


def test_a_row_is_counted_under_its_first_reason_only() -> None:
    raw = _frame([(None, None, "bad", "nonsense"), ("u", "i", T0, "pv")])
    _, report = clean_events(raw)
    assert report.dropped["missing_user_id"] == 1
    assert sum(report.dropped.values()) == 1


def test_duplicates_keep_the_first_row_and_can_be_kept() -> None:
    raw = _frame([("u", "a", T0, "pv"), ("u", "a", T0, "pv"), ("u", "a", T0, "buy")])
    cleaned, report = clean_events(raw)
    assert cleaned["_row"].to_list() == [0, 2]  # a different event type is another event
    assert report.dropped["duplicate"] == 1
    kept, report = clean_events(raw, CleaningConfig(drop_duplicates=False))
    assert kept.height == 3 and report.dropped["duplicate"] == 0


def test_a_bad_row_does_not_make_its_twin_a_duplicate() -> None:
    raw = _frame([("u", "a", "x", "pv"), ("u", "a", "x", "pv"), ("u", "a", T0, "pv")])
    _, report = clean_events(raw)
    assert report.dropped["bad_timestamp"] == 2 and report.dropped["duplicate"] == 0


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(
        st.tuples(
            st.sampled_from(["u1", "u2"]),
            st.sampled_from(["a", "b"]),
            st.sampled_from([str(T0), str(T0 + 1)]),
            st.sampled_from(["pv", "buy"]),
            st.sampled_from(["x", "y"]),
        ),
        max_size=30,
    )
)
def test_duplicates_are_rows_seen_before_in_every_column(rows: list[tuple[str, ...]]) -> None:
    # Many rows share (user, item, timestamp) and differ in event type or an extra column.
    names = ("user_id", "item_id", "timestamp", "event_type", "extra")
    raw = pl.DataFrame(rows, schema=dict.fromkeys(names, pl.String), orient="row")
    first_rows = {row: k for k, row in reversed(list(enumerate(rows)))}
    cleaned, report = clean_events(raw)
    assert cleaned["_row"].to_list() == sorted(first_rows.values())
    assert report.dropped["duplicate"] == len(rows) - len(first_rows)


# ------------------------------------------------------------------------------ bots


def test_bot_users_are_dropped_entirely() -> None:
    bot = [("bot", f"i{k}", T0 + 10 * k, "pv") for k in range(6)]  # 6 events in 50 s
    human = [("human", f"i{k}", T0 + 20 * k, "pv") for k in range(6)]  # at most 3 per minute
    later = [("bot", "late", T0 + 10_000, "pv")]
    cleaned, report = clean_events(
        _frame(bot + human + later), CleaningConfig(max_events_per_minute=5)
    )
    assert set(cleaned["user_id"]) == {"human"}
    assert report.dropped["bot_user"] == 7
    assert report.examples["bot_user"][0]["user_id"] == "bot"
    _check_adds_up(report)


def test_bot_window_is_sixty_seconds_half_open() -> None:
    # Three events exactly 30 s apart: t, t+30, t+60. The window [t, t+60 s) holds two.
    rows = [("u", "a", T0, "pv"), ("u", "b", T0 + 30, "pv"), ("u", "c", T0 + 60, "pv")]
    _, report = clean_events(_frame(rows), CleaningConfig(max_events_per_minute=2))
    assert report.dropped["bot_user"] == 0
    tighter = [("u", "a", T0, "pv"), ("u", "b", T0 + 30, "pv"), ("u", "c", T0 + 59.9, "pv")]
    _, report = clean_events(_frame(tighter), CleaningConfig(max_events_per_minute=2))
    assert report.dropped["bot_user"] == 3


def test_bot_filter_ignores_rows_dropped_for_other_reasons() -> None:
    rows = [("u", "a", T0, "pv")] * 5 + [("u", "b", T0 + 1, "pv")]
    _, report = clean_events(_frame(rows), CleaningConfig(max_events_per_minute=2))
    assert report.dropped["duplicate"] == 4 and report.dropped["bot_user"] == 0


@pytest.mark.parametrize("rate", [0.5, 0, -1, float("nan"), float("inf")])
def test_bot_rate_must_be_at_least_one(rate: float) -> None:
    with pytest.raises(InvalidParameterError, match="max_events_per_minute"):
        CleaningConfig(max_events_per_minute=rate)


# ------------------------------------------------------------------------------ time


def test_time_window_is_half_open_and_naive_bounds_are_utc() -> None:
    rows = [("u", str(k), T0 + 3600 * k, "pv") for k in range(4)]
    start = datetime(2023, 11, 14, 23, 13, 20)  # naive: UTC, = T0 + 1 h
    end = datetime(2023, 11, 15, 1, 13, 20, tzinfo=UTC)  # T0 + 3 h
    cleaned, report = clean_events(_frame(rows), CleaningConfig(time_window=(start, end)))
    assert cleaned["item_id"].to_list() == ["1", "2"]
    assert report.dropped["out_of_range_timestamp"] == 2
    assert report.time_window == ("2023-11-14T23:13:20+00:00", "2023-11-15T01:13:20+00:00")
    open_end, _ = clean_events(_frame(rows), CleaningConfig(time_window=(start, None)))
    assert open_end["item_id"].to_list() == ["1", "2", "3"]


def test_time_window_in_another_zone() -> None:
    china = timezone(timedelta(hours=8))
    window = (datetime(2023, 11, 15, 6, 13, 20, tzinfo=china), None)  # = T0
    cleaned, _ = clean_events(
        _frame([("u", "a", T0 - 1, "pv"), ("u", "b", T0, "pv")]),
        CleaningConfig(time_window=window),
    )
    assert cleaned["item_id"].to_list() == ["b"]


def test_default_valid_range_drops_implausible_times() -> None:
    rows = [
        ("u", "a", "1994-12-31T23:59:59Z", "pv"),
        ("u", "b", "1995-01-01", "pv"),
        ("u", "c", "2100-01-01", "pv"),
        ("u", "d", "0", "pv"),
        ("u", "e", "1e30", "pv"),
    ]
    cleaned, report = clean_events(_frame(rows))
    assert cleaned["item_id"].to_list() == ["b"]
    assert report.dropped["out_of_range_timestamp"] == 4


@pytest.mark.parametrize(
    "window",
    [
        (datetime(2024, 1, 2, tzinfo=UTC), datetime(2024, 1, 1, tzinfo=UTC)),
        ("2024-01-01", None),
        (None,),
    ],
)
def test_bad_time_window(window: object) -> None:
    with pytest.raises(InvalidParameterError, match="time_window"):
        CleaningConfig(time_window=window)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1700000000", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("1700000000123", datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)),
        ("1700000000123456", datetime(2023, 11, 14, 22, 13, 20, 123456, tzinfo=UTC)),
        ("1700000000123456789", datetime(2023, 11, 14, 22, 13, 20, 123457, tzinfo=UTC)),
        (" 1700000000.5 ", datetime(2023, 11, 14, 22, 13, 20, 500000, tzinfo=UTC)),
        ("2023-11-14T22:13:20Z", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14T22:13:20.25", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
        ("2023-11-15T06:13:20+08:00", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-15T06:13:20+0800", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14 17:13:20-05", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14 22:13:20 UTC", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14 22:13:20 GMT", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2023-11-14 22:13", datetime(2023, 11, 14, 22, 13, tzinfo=UTC)),
        ("2023-11-14T22:13+01:00", datetime(2023, 11, 14, 21, 13, tzinfo=UTC)),
        ("2023-11-14", datetime(2023, 11, 14, tzinfo=UTC)),
    ],
)
def test_timestamp_text_layouts(text: str, expected: datetime) -> None:
    cleaned, report = clean_events(_frame([("u", "a", text, "pv")]))
    assert report.rows_kept == 1, report.examples
    assert cleaned["timestamp"].to_list() == [expected]
    assert cleaned["timestamp"].dtype == pl.Datetime("us", "UTC")


@pytest.mark.parametrize(
    "text", ["2023-13-01", "yesterday", "", "nan", "14/11/2023", "2023-11-14 EST"]
)
def test_unreadable_timestamps(text: str) -> None:
    _, report = clean_events(_frame([("u", "a", text, "pv"), ("u", "b", T0, "pv")]))
    assert report.dropped["bad_timestamp"] == 1
    assert report.examples["bad_timestamp"][0]["timestamp"] == text


def test_typed_timestamp_columns() -> None:
    naive = pl.DataFrame(
        {"user_id": ["u"], "item_id": ["a"], "timestamp": [datetime(2024, 1, 1, 12)]}
    )
    aware = naive.with_columns(pl.col("timestamp").dt.replace_time_zone("Asia/Shanghai"))
    days = naive.with_columns(pl.Series("timestamp", [date(2024, 1, 1)]))
    floats = naive.with_columns(pl.Series("timestamp", [1704110400.0]))
    expected = {
        "naive": datetime(2024, 1, 1, 12, tzinfo=UTC),
        "aware": datetime(2024, 1, 1, 4, tzinfo=UTC),
        "days": datetime(2024, 1, 1, tzinfo=UTC),
        "floats": datetime(2024, 1, 1, 12, tzinfo=UTC),
    }
    for name, frame in {"naive": naive, "aware": aware, "days": days, "floats": floats}.items():
        cleaned, _ = clean_events(frame)
        assert cleaned["timestamp"].to_list() == [expected[name]], name
        assert cleaned["event_type"].to_list() == [int(EventType.VIEW)]  # no type column


def test_whole_seconds_are_exact_up_to_where_milliseconds_begin() -> None:
    texts = ["0", "-0", "+1700000000", "0001700000000", "-62135596800", "99999999999"]
    texts.append("100000000000")  # from 1e11 on: milliseconds
    wide = CleaningConfig(
        valid_range=(datetime(1, 1, 1, tzinfo=UTC), datetime(9999, 12, 31, tzinfo=UTC))
    )
    rows = [("u", f"i{k}", text, "pv") for k, text in enumerate(texts)]
    cleaned, report = clean_events(_frame(rows), wide)
    assert report.rows_kept == len(texts), report.examples
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    seconds = [0, 0, 1_700_000_000, 1_700_000_000, -62_135_596_800, 99_999_999_999, 100_000_000]
    assert cleaned["timestamp"].to_list() == [epoch + timedelta(seconds=s) for s in seconds]


def test_timestamp_of_an_unusable_type() -> None:
    frame = pl.DataFrame({"user_id": ["u"], "item_id": ["a"], "timestamp": [True]})
    with pytest.raises(DataValidationError, match="column 'timestamp' has type Boolean"):
        clean_events(frame, source="x.parquet")


# ------------------------------------------------------------------------------ other columns


def test_required_columns() -> None:
    with pytest.raises(DataValidationError, match=r"x\.csv: required column 'item_id' is missing"):
        clean_events(pl.DataFrame({"user_id": ["u"], "timestamp": [T0]}), source="x.csv")


def test_event_types_by_alias_code_and_custom_name() -> None:
    names = _frame(
        [("u", str(k), T0 + k, name) for k, name in enumerate(["PV ", "AddToCart", "like", "x"])]
    )
    cleaned, report = clean_events(names, event_types={"x": "purchase", "like": "view"})
    assert cleaned["event_type"].to_list() == [0, 3, 0, 4]
    assert report.rows_kept == 4
    codes = _frame([("u", "a", T0, 4), ("u", "b", T0, 9)])
    cleaned, report = clean_events(codes)
    assert cleaned["event_type"].to_list() == [4]
    assert report.examples["unknown_event_type"][0]["event_type"] == 9


def test_ids_are_text_and_integral_floats_lose_their_point() -> None:
    frame = pl.DataFrame(
        {"user_id": [12.0, 3.5, None], "item_id": [" a ", "b", "c"], "timestamp": [T0] * 3}
    )
    cleaned, report = clean_events(frame)
    assert cleaned["user_id"].to_list() == ["12", "3.5"]
    assert cleaned["item_id"].to_list() == ["a", "b"]
    assert report.dropped["missing_user_id"] == 1


def test_optional_columns_are_parsed() -> None:
    frame = pl.DataFrame(
        {
            "user_id": ["u", "u"],
            "item_id": ["a", "b"],
            "timestamp": [T0, T0],
            "value": ["4.5", ""],
            "category_id": ["c", " "],
            "session_id": [1, 2],
            "event_id": ["e1", None],
            "brand": ["x", "y"],
        }
    )
    cleaned, _ = clean_events(frame)
    assert cleaned["value"].to_list() == [4.5, None]
    assert cleaned["category_id"].to_list() == ["c", None]
    assert cleaned["session_id"].to_list() == ["1", "2"]
    assert cleaned["event_id"].to_list() == ["e1", None]
    assert cleaned["brand"].to_list() == ["x", "y"]  # extra columns pass through


# ------------------------------------------------------------------------------ the report


def test_report_to_dict_is_json_and_the_table_names_reasons() -> None:
    raw = pl.DataFrame(
        {
            "user_id": ["u", None, "u"],
            "item_id": ["a", "b", "c"],
            "timestamp": [datetime(2024, 1, 1), datetime(2024, 1, 1), None],
        }
    )
    _, report = clean_events(raw, source="log.parquet")
    document = report.to_dict()
    assert json.loads(json.dumps(document)) == document
    assert document["rows_dropped"] == 2
    assert document["examples"]["missing_user_id"][0]["timestamp"] == "2024-01-01T00:00:00"
    text = str(report)
    assert "log.parquet" in text and "missing_user_id" in text and "bad_timestamp" in text
    assert "duplicate" not in text  # only reasons that dropped rows are listed
    assert report.to_table().row_count == 4  # read, two reasons, kept


def test_report_of_a_clean_frame() -> None:
    _, report = clean_events(_frame([("u", "a", T0, "pv")]))
    assert report.rows_dropped == 0 and report.examples == {}
    assert "nothing to drop" in str(report)


def test_report_must_add_up() -> None:
    with pytest.raises(InvalidParameterError, match="must equal rows_read"):
        CleaningReport(source="x", rows_read=3, rows_kept=1, dropped={"duplicate": 1})


_cell = st.one_of(st.none(), st.sampled_from(["", " ", "u1", "u2", "a", "b"]))
_time = st.one_of(
    st.none(),
    st.sampled_from(["", "x", "0", str(T0), str(T0 + 1), "2023-11-14", "2200-01-01", "1e30"]),
)
_type = st.one_of(st.none(), st.sampled_from(["pv", "buy", "?", "3", "CART"]))


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.tuples(_cell, _cell, _time, _type), max_size=25),
    dedupe=st.booleans(),
    rate=st.sampled_from([None, 1.0, 2.5]),
)
def test_nothing_is_dropped_without_being_counted(
    rows: list[tuple[str | None, ...]], dedupe: bool, rate: float | None
) -> None:
    frame = pl.DataFrame(
        rows, schema=["user_id", "item_id", "timestamp", "event_type"], orient="row"
    ).cast(pl.String)
    config = CleaningConfig(drop_duplicates=dedupe, max_events_per_minute=rate)
    cleaned, report = clean_events(frame, config)
    _check_adds_up(report)
    assert cleaned.height == report.rows_kept
    assert cleaned["_row"].is_sorted()  # file order kept
    for reason, count in report.dropped.items():
        assert len(report.examples.get(reason, ())) == min(count, 3)
