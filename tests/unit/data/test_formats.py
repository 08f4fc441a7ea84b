"""load_events on every generic format and preset, on small files written into tmp_path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from decayrec.data import (
    FORMATS,
    CleaningConfig,
    EventLog,
    EventType,
    load_events,
)
from decayrec.errors import DataValidationError, InvalidParameterError


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _column(events: EventLog, name: str) -> list[object]:
    values: list[object] = events.to_frame()[name].to_list()
    return values


def _types(events: EventLog) -> list[str]:
    return [EventType(code).label for code in events.event_type.tolist()]


# ------------------------------------------------------------------------------ generic formats


def test_registry_lists_every_format_with_a_description() -> None:
    expected = {
        "csv",
        "parquet",
        "jsonl",
        "taobao",
        "rees46",
        "diginetica",
        "yoochoose",
        "movielens",
        "amazon",
        "retailrocket",
    }
    assert set(FORMATS) == expected
    for name, spec in FORMATS.items():
        assert spec.name == name
        assert spec.description
    assert {n for n, s in FORMATS.items() if s.accepts_columns} == {"csv", "parquet", "jsonl"}


def test_csv_with_canonical_columns_needs_no_mapping(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.csv",
        "user_id,item_id,timestamp,event_type,value,category_id,session_id,event_id\n"
        "u1,i1,1700000000,view,,c1,s1,e1\n"
        "u1,i2,1700000060,purchase,19.5,c2,s1,e2\n"
        "u2,i1,1700000120,addtocart,,,s2,e3\n",
    )
    events, report = load_events(path)
    assert report.rows_read == 3 and report.rows_kept == 3 and report.rows_dropped == 0
    frame = events.to_frame()
    assert frame["user_id"].to_list() == ["u1", "u1", "u2"]
    assert _types(events) == ["view", "purchase", "cart"]
    assert frame["value"].to_list() == [None, 19.5, None]
    assert frame["category_id"].to_list() == ["c1", "c2", None]
    assert frame["session_id"].to_list() == ["s1", "s1", "s2"]
    assert frame["event_id"].to_list() == ["e1", "e2", "e3"]
    assert frame["timestamp"].to_list()[0] == _utc(2023, 11, 14, 22, 13, 20)


def test_csv_column_mapping_and_default_event_type(tmp_path: Path) -> None:
    path = _write(tmp_path / "shop.csv", "visitor,sku,when,extra\nv1,s1,1700000000,x\n")
    events, _ = load_events(
        path, "csv", columns={"user_id": "visitor", "item_id": "sku", "timestamp": "when"}
    )
    assert _column(events, "user_id") == ["v1"]
    assert _column(events, "item_id") == ["s1"]
    assert _types(events) == ["view"]  # no event type column: every event is a view


def test_csv_iso_and_unix_timestamps_are_detected(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "times.csv",
        "user_id,item_id,timestamp\n"
        "u,a,1700000000\n"  # seconds
        "u,b,1700000000500\n"  # milliseconds
        "u,c,1700000000.25\n"  # fractional seconds
        "u,d,2023-11-14T22:13:20Z\n"
        "u,e,2023-11-15T06:13:20+08:00\n"
        "u,f,2023-11-14 22:13:20 UTC\n"
        "u,g,2023-11-14\n"
        "u,h,2023-11-14 22:13\n",
    )
    events, report = load_events(path)
    assert report.rows_kept == 8
    stamps = _column(events, "timestamp")
    base = _utc(2023, 11, 14, 22, 13, 20)
    assert stamps[0] == base
    assert stamps[1] == base.replace(microsecond=500_000)
    assert stamps[2] == base.replace(microsecond=250_000)
    assert stamps[3] == base and stamps[4] == base and stamps[5] == base
    assert stamps[6] == _utc(2023, 11, 14)
    assert stamps[7] == _utc(2023, 11, 14, 22, 13)


def test_csv_separator_is_sniffed_from_the_header(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.tsv", "user_id\titem_id\ttimestamp\nu\ti\t1700000000\n")
    events, _ = load_events(path, "csv")
    assert _column(events, "item_id") == ["i"]


def test_ties_in_time_keep_file_order(tmp_path: Path) -> None:
    rows = "".join(f"u{i % 2},i{i},1700000000,view\n" for i in range(6))
    path = _write(tmp_path / "ties.csv", "user_id,item_id,timestamp,event_type\n" + rows)
    events, _ = load_events(path)
    assert _column(events, "item_id") == [f"i{i}" for i in range(6)]
    assert events.sort_by_time().to_frame()["item_id"].to_list() == [f"i{i}" for i in range(6)]


def test_parquet_keeps_stored_types_and_maps_columns(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    pl.DataFrame(
        {
            "uid": [1, 2, None],
            "item": ["a", "b", "c"],
            "at": [datetime(2024, 1, 1, 12), datetime(2024, 1, 2), datetime(2024, 1, 3)],
            "kind": [4, 0, 0],
        }
    ).write_parquet(path)
    events, report = load_events(
        path,
        "parquet",
        columns={"user_id": "uid", "item_id": "item", "timestamp": "at", "event_type": "kind"},
    )
    assert report.dropped["missing_user_id"] == 1
    assert _column(events, "user_id") == ["1", "2"]
    assert _column(events, "timestamp")[0] == _utc(2024, 1, 1, 12)
    assert _types(events) == ["purchase", "view"]  # integer event types are EventType codes


def test_jsonl_reads_objects_with_mixed_timestamp_types(tmp_path: Path) -> None:
    lines = [
        {"user_id": "u1", "item_id": 7, "timestamp": 1700000000, "event_type": "fav"},
        {"user_id": "u2", "item_id": 8, "timestamp": "2023-11-14T22:13:20Z", "event_type": "pv"},
        {"user_id": "u3", "item_id": 9, "timestamp": 1700000000},
    ]
    path = _write(tmp_path / "events.jsonl", "\n".join(json.dumps(x) for x in lines) + "\n\n")
    events, report = load_events(path, "jsonl")
    assert report.rows_read == 3 and report.rows_kept == 2
    assert _column(events, "item_id") == ["7", "8"]
    assert _types(events) == ["favourite", "view"]
    assert len(set(_column(events, "timestamp"))) == 1
    # A key missing from one object is a missing value, not a default.
    assert report.examples["unknown_event_type"][0] == {
        "row": 2,
        "user_id": "u3",
        "item_id": 9,
        "timestamp": "1700000000",
        "event_type": None,
    }


def test_event_type_aliases_can_be_added(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "codes.csv",
        "user_id,item_id,timestamp,event_type\nu,a,1700000000,1\nu,b,1700000001,4\n",
    )
    events, _ = load_events(path, event_types={"1": "view", "4": "buy"})
    assert _types(events) == ["view", "purchase"]
    with pytest.raises(InvalidParameterError, match="'bogus' is unknown"):
        load_events(path, event_types={"1": "bogus"})


# ------------------------------------------------------------------------------ presets


def test_taobao_reads_behaviour_types_and_drops_rows_outside_its_window(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "UserBehavior.csv",
        "1,100,10,pv,1511658000\n"
        "1,101,10,cart,1511658060\n"
        "2,102,11,fav,1511658120\n"
        "2,103,11,buy,1511658180\n"
        "3,104,12,pv,1505117799\n"  # 2017-09-11: before the data set's nine days
        "3,105,12,pv,1511539199\n",  # 2017-11-24 15:59:59 UTC = 23:59:59 China time
    )
    events, report = load_events(path, "taobao")
    assert _types(events) == ["view", "cart", "favourite", "purchase"]
    assert _column(events, "category_id") == ["10", "10", "11", "11"]
    assert report.dropped["out_of_range_timestamp"] == 2
    assert [e["row"] for e in report.examples["out_of_range_timestamp"]] == [4, 5]
    assert report.time_window[0] == "2017-11-24T16:00:00+00:00"
    kept_all, _ = load_events(path, "taobao", cleaning=CleaningConfig(time_window=(None, None)))
    assert kept_all.n_events == 6


def test_taobao_skips_a_header_line(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ub.csv",
        "user_id,item_id,category_id,behavior_type,timestamp\n1,100,10,pv,1511658000\n",
    )
    events, report = load_events(path, "taobao")
    assert events.n_events == 1 and report.rows_read == 1


def test_rees46(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "2019-Oct.csv",
        "event_time,event_type,product_id,category_id,category_code,brand,price,user_id,"
        "user_session\n"
        "2019-10-01 00:00:00 UTC,view,44600062,2103807459595387724,,shiseido,35.79,541312140,"
        "72d7\n"
        "2019-10-01 00:00:05 UTC,cart,3900821,2053013552326770905,appliances,aqua,33.20,"
        "554748717,9333\n"
        "2019-10-01 00:00:09 UTC,remove_from_cart,3900821,2053013552326770905,appliances,aqua,"
        "33.20,554748717,9333\n"
        "2019-10-01 00:01:00 UTC,purchase,3900821,2053013552326770905,appliances,aqua,33.20,"
        "554748717,9333\n",
    )
    events, report = load_events(path, "rees46")
    assert _types(events) == ["view", "cart", "purchase"]
    assert report.dropped["unknown_event_type"] == 1
    assert report.examples["unknown_event_type"][0]["event_type"] == "remove_from_cart"
    frame = events.to_frame()
    assert frame["item_id"].to_list()[0] == "44600062"
    assert frame["value"].to_list() == [35.79, 33.2, 33.2]
    assert frame["session_id"].to_list()[1] == "9333"
    assert frame["category_id"].to_list()[0] == "2103807459595387724"
    assert frame["timestamp"].to_list()[2] == _utc(2019, 10, 1, 0, 1)
    mapped, _ = load_events(path, "rees46", event_types={"remove_from_cart": "view"})
    assert mapped.n_events == 4


def _diginetica(folder: Path, *, views: str = "sample_train-item-views.csv") -> Path:
    _write(
        folder / "train-purchases.csv",
        "sessionId;userId;timeframe;eventdate;ordernumber;itemId\n"
        "150;18278;17100868;2016-05-06;16421;25911\n"
        "151;NA;6454547;2016-05-06;16290;175874\n",
    )
    _write(
        folder / views,
        "session_id;user_id;item_id;timeframe;eventdate\n"
        "150;18278;25911;1000;2016-05-06\n"
        "151;NA;175874;6454547;2016-05-06\n"
        "152;NA;999;0;2016-05-05\n",
    )
    _write(folder / "product-categories.csv", "itemId;categoryId\n25911;7\n175874;8\n25911;9\n")
    return folder


def test_diginetica_folder_joins_views_purchases_and_categories(tmp_path: Path) -> None:
    folder = _diginetica(tmp_path / "diginetica")
    events, report = load_events(folder, "diginetica")
    assert report.rows_read == 5 and report.rows_kept == 5
    frame = events.to_frame()
    # Time order; at equal times views come before purchases.
    assert frame["user_id"].to_list() == ["s:152", "18278", "s:151", "s:151", "18278"]
    assert _types(events) == ["view", "view", "view", "purchase", "purchase"]
    assert frame["category_id"].to_list() == [None, "7", "8", "8", "7"]
    assert frame["session_id"].to_list()[0] == "152"
    assert frame["timestamp"].to_list()[1] == _utc(2016, 5, 6, 0, 0, 1)
    assert frame["timestamp"].to_list()[4] == _utc(2016, 5, 6, 4, 45, 0, 868000)
    same, _ = load_events(folder / "train-purchases.csv", "diginetica")
    assert same.n_events == 5


def test_diginetica_examples_name_the_file(tmp_path: Path) -> None:
    folder = _diginetica(tmp_path / "d", views="train-item-views.csv")
    with (folder / "train-item-views.csv").open("a") as handle:
        handle.write("153;NA;5;x;2016-05-05\n")
    _, report = load_events(folder, "diginetica")
    (example,) = report.examples["bad_timestamp"]
    assert example["file"] == "train-item-views.csv" and example["row"] == 3
    assert example["timeframe"] == "x"


def test_diginetica_without_purchases_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "empty"
    folder.mkdir()
    with pytest.raises(DataValidationError, match=r"needs train-purchases\.csv"):
        load_events(folder, "diginetica")


def test_yoochoose_prepared_tsv(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "train.txt",
        "SessionId\tItemId\tTime\n1\t214536502\t1396860669.277\n1\t214536506\t1396860886.998\n",
    )
    events, _ = load_events(path, "yoochoose")
    frame = events.to_frame()
    assert frame["user_id"].to_list() == ["1", "1"] == frame["session_id"].to_list()
    assert _types(events) == ["click", "click"]
    assert frame["timestamp"].to_list()[0] == datetime.fromtimestamp(1396860669.277, tz=UTC)


def test_yoochoose_original_folder(tmp_path: Path) -> None:
    _write(
        tmp_path / "yc" / "yoochoose-clicks.dat",
        "1,2014-04-07T10:51:09.277Z,214536502,0\n1,2014-04-07T10:54:09.868Z,214536500,S\n",
    )
    _write(tmp_path / "yc" / "yoochoose-buys.dat", "1,2014-04-07T10:55:00.000Z,214536500,1046,1\n")
    events, report = load_events(tmp_path / "yc", "yoochoose")
    frame = events.to_frame()
    assert _types(events) == ["click", "click", "purchase"]
    assert frame["category_id"].to_list() == [None, "S", None]
    assert frame["value"].to_list() == [None, None, 1046.0]
    assert report.rows_read == 3


def test_movielens_csv_folder_with_genres(tmp_path: Path) -> None:
    folder = tmp_path / "ml"
    _write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,31,2.5,1260759144\n1,9,4,1260759179\n",
    )
    _write(
        folder / "movies.csv",
        'movieId,title,genres\n31,"Dangerous Minds, The (1995)",Drama|Romance\n'
        "9,Nothing (2000),(no genres listed)\n",
    )
    events, _ = load_events(folder, "movielens")
    frame = events.to_frame()
    assert _types(events) == ["rating", "rating"]
    assert frame["value"].to_list() == [2.5, 4.0]
    assert frame["category_id"].to_list() == ["Drama", None]
    same, _ = load_events(folder / "ratings.csv", "movielens")
    assert same.n_events == 2


def test_movielens_100k_udata_and_1m_dat(tmp_path: Path) -> None:
    flags = ["0"] * 19
    flags[3] = "1"  # Animation
    _write(tmp_path / "100k" / "u.data", "196\t242\t3\t881250949\n186\t302\t3\t891717742\n")
    _write(
        tmp_path / "100k" / "u.item",
        "242|Kolya (1996)|24-Jan-1997||http://x|" + "|".join(flags) + "\n",
    )
    old, _ = load_events(tmp_path / "100k", "movielens")
    assert _column(old, "category_id") == ["Animation", None]
    assert _column(old, "value") == [3.0, 3.0]

    _write(tmp_path / "1m" / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n")
    _write(
        tmp_path / "1m" / "movies.dat",
        "1193::One Flew Over (1975)::Drama\n661::James (1996)::Animation|Children's\n",
    )
    new, _ = load_events(tmp_path / "1m" / "ratings.dat", "movielens")
    assert _column(new, "item_id") == ["1193", "661"]
    assert _column(new, "category_id") == ["Drama", "Animation"]
    assert _column(new, "value") == [5.0, 3.0]


def test_amazon_orders_by_timestamp_then_seq_pos(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "interactions.csv",
        "user_id,item_id,timestamp,seq_pos\n"
        "1,a,1318896000,1\n"
        "1,b,1318896000,0\n"
        "2,c,1300000000,0\n"
        "1,d,1318982400,2\n",
    )
    events, _ = load_events(path, "amazon")
    assert _column(events, "item_id") == ["c", "b", "a", "d"]
    assert _types(events) == ["review"] * 4


def test_amazon_ratings_only_csv_and_json_lines(tmp_path: Path) -> None:
    ratings = _write(
        tmp_path / "ratings_Beauty.csv",
        "A39H,0205616461,5.0,1369699200\nA3JM,0558925278,3.0,1355443200\n",
    )
    events, _ = load_events(ratings, "amazon")
    assert _column(events, "user_id") == ["A3JM", "A39H"]  # ordered by time
    assert _column(events, "value") == [3.0, 5.0]
    review = {"reviewerID": "A1", "asin": "B2", "overall": 4.0, "unixReviewTime": 1369699200}
    lines = _write(tmp_path / "reviews.json", json.dumps(review) + "\n")
    events, _ = load_events(lines, "amazon")
    assert _column(events, "item_id") == ["B2"] and _column(events, "value") == [4.0]


def test_retailrocket_events_with_item_categories(tmp_path: Path) -> None:
    folder = tmp_path / "rr"
    _write(
        folder / "events.csv",
        "timestamp,visitorid,event,itemid,transactionid\n"
        "1433221332117,257597,view,355908,\n"
        "1433224214164,992329,addtocart,248676,\n"
        "1433221999827,111016,transaction,318965,4000\n"
        "1433221955914,483574,remove,253185,\n",
    )
    _write(
        folder / "item_properties_part1.csv",
        "timestamp,itemid,property,value\n"
        "1435460400000,355908,categoryid,1173\n"
        "1431226800000,355908,categoryid,1000\n"
        "1431226800000,248676,available,1\n",
    )
    events, report = load_events(folder, "retailrocket")
    assert _types(events) == ["view", "cart", "purchase"]
    assert report.dropped["unknown_event_type"] == 1
    assert report.examples["unknown_event_type"][0]["event_type"] == "remove"
    assert report.examples["unknown_event_type"][0]["transactionid"] is None
    frame = events.to_frame()
    assert frame["category_id"].to_list() == ["1173", None, None]  # latest categoryid wins
    assert frame["timestamp"].to_list()[0] == _utc(2015, 6, 2, 5, 2, 12, 117000)
    alone, _ = load_events(folder / "events.csv", "retailrocket")
    assert alone.n_events == 3


# ------------------------------------------------------------------------------ whole-file errors


def test_unknown_format_lists_the_formats(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="must be one of amazon, csv, diginetica"):
        load_events(tmp_path / "x.csv", "excel")


def test_columns_only_apply_to_generic_formats(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="format 'taobao' has a fixed layout"):
        load_events(tmp_path / "x.csv", "taobao", columns={"user_id": "u"})


def test_unknown_canonical_name_in_columns(tmp_path: Path) -> None:
    path = _write(tmp_path / "e.csv", "u,i,t\n1,2,3\n")
    with pytest.raises(InvalidParameterError, match="'user' is not one of user_id"):
        load_events(path, columns={"user": "u"})


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match=r"nope\.csv: no such file"):
        load_events(tmp_path / "nope.csv", "taobao")


def test_empty_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.csv", "")
    with pytest.raises(DataValidationError, match="the file is empty"):
        load_events(path)


def test_header_only_file_holds_no_events(tmp_path: Path) -> None:
    path = _write(tmp_path / "head.csv", "user_id,item_id,timestamp\n")
    with pytest.raises(DataValidationError, match="holds no events"):
        load_events(path)


def test_three_columns_given_as_taobao(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "a,b,c\n1,2,3\n")
    with pytest.raises(DataValidationError) as info:
        load_events(path, "taobao")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path} line 1: expected 5 columns for format 'taobao'")
    assert "got 3 ('a,b,c')" in message


def test_header_missing_a_required_column(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "user_id,ts\nu,1\n")
    with pytest.raises(DataValidationError, match="required column 'item_id' is missing"):
        load_events(path)
    rees = _write(tmp_path / "rees.csv", "event_time,event_type,user_id\nx,view,1\n")
    with pytest.raises(
        DataValidationError, match="column 'product_id' required by format 'rees46'"
    ):
        load_events(rees, "rees46")
    with pytest.raises(DataValidationError, match=r"column 'when' .* is not in the file"):
        load_events(path, columns={"item_id": "ts", "timestamp": "when"})


def test_no_parseable_timestamp_names_row_column_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "events.csv", "user_id,item_id,timestamp\nu,a,yesterday\nu,b,soon\n")
    with pytest.raises(DataValidationError) as info:
        load_events(path)
    message = str(info.value)
    assert "\n" not in message
    assert f"{path} row 0: column 'timestamp' is 'yesterday'" in message
    assert "2 bad_timestamp" in message


def test_every_row_bad_names_the_main_reason(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "events.csv", "user_id,item_id,timestamp,event_type\nu,a,1700000000,x\n"
    )
    with pytest.raises(DataValidationError, match="row 0: column 'event_type' is 'x'"):
        load_events(path)


def test_wrong_yoochoose_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "clicks.dat", "1,2,3\n")
    with pytest.raises(DataValidationError, match="format 'yoochoose', got 3 \\('1,2,3'\\)"):
        load_events(path, "yoochoose")


def test_lines_with_too_many_fields_are_counted_as_malformed(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "ub.csv",
        "1,100,10,pv,1511658000\n1,101,10,pv,1511658001,oops\n\n1,102,10,pv,1511658002\n",
    )
    events, report = load_events(path, "taobao")
    assert events.n_events == 2
    assert report.dropped["malformed_row"] == 1
    assert report.examples["malformed_row"][0]["row"] == 1
    assert report.dropped["missing_user_id"] == 1  # the blank line is a row with no data
    assert report.rows_read == report.rows_kept + sum(report.dropped.values())


def test_progress_flag_runs_quietly_enough(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / "e.csv", "user_id,item_id,timestamp\nu,a,1700000000\n")
    events, _ = load_events(path, progress=True)
    assert events.n_events == 1
    assert capsys.readouterr().out == ""
