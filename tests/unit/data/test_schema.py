"""EventLog.from_frame: raw ids become dense indices in order of first appearance, and back."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from decayrec.data import EventLog
from decayrec.data import schema as schema_module
from decayrec.data.schema import Vocabulary

T0 = 1_700_000_000


def _log(
    users: list[object] | pl.Series,
    items: list[object] | pl.Series | None = None,
    categories: list[object] | pl.Series | None = None,
) -> EventLog:
    n = len(users)
    columns: dict[str, object] = {
        "user_id": users,
        "item_id": items if items is not None else ["i"] * n,
        "timestamp": [T0 + k for k in range(n)],
        "event_type": ["view"] * n,
    }
    if categories is not None:
        columns["category_id"] = categories
    return EventLog.from_frame(pl.DataFrame(columns, strict=False))


def _first_appearance(values: list[str | None]) -> tuple[list[str], list[int]]:
    """The reference numbering: a dict in insertion order; -1 for None."""
    ids: dict[str, int] = {}
    codes = [-1 if value is None else ids.setdefault(value, len(ids)) for value in values]
    return list(ids), codes


def test_ids_are_numbered_in_order_of_first_appearance() -> None:
    log = _log(["b", "a", "b", "c", "a"], items=["x1", "x2", "x2", "x1", "x3"])
    assert log.users.ids.to_list() == ["b", "a", "c"]
    assert log.user_index.tolist() == [0, 1, 0, 2, 1]
    assert log.items.ids.to_list() == ["x1", "x2", "x3"]
    assert log.item_index.tolist() == [0, 1, 1, 0, 2]
    assert log.user_index.dtype == np.int32 and log.item_index.dtype == np.int32
    assert log.users.ids.dtype == pl.String


def test_integer_ids_are_numbered_like_text() -> None:
    log = _log(["42", "7", "42", "100000000000", "7"])
    assert log.users.ids.to_list() == ["42", "7", "100000000000"]
    assert log.user_index.tolist() == [0, 1, 0, 2, 1]


def test_integer_text_keeps_its_exact_spelling() -> None:
    # Each reads as an integer, yet "007", "+7" and "7" are three different ids.
    users = ["7", "007", "+7", "-0", "0", "7", "9223372036854775807", "-9223372036854775808"]
    log = _log(users)
    assert log.users.ids.to_list() == users[:5] + users[6:]
    assert log.user_index.tolist() == [0, 1, 2, 3, 4, 0, 5, 6]
    assert log.to_frame()["user_id"].to_list() == users


def test_polars_reads_only_plain_integer_text_as_integers() -> None:
    # from_frame relies on this: text read as an integer is [+-]?[0-9]+ (ASCII), so text of
    # the same length as its integer written back is that integer's canonical spelling.
    text = pl.Series(["7", "+7", "007", " 7", "7 ", "1e3", "100e2", "7.0", "0x7", "١", "1_000"])
    read = text.cast(pl.Int64, strict=False).to_list()
    assert read == [7, 7, 7, None, None, None, None, None, None, None, None]


def test_typed_id_columns_read_as_their_text() -> None:
    log = _log(
        pl.Series([5, -3, 5, 2**62], dtype=pl.Int64),
        items=pl.Series([2**64 - 1, 1, 2**64 - 1, 0], dtype=pl.UInt64),
        categories=pl.Series([1.0, None, 2.5, 1.0]),
    )
    assert log.users.ids.to_list() == ["5", "-3", str(2**62)]
    assert log.user_index.tolist() == [0, 1, 0, 2]
    assert log.items.ids.to_list() == [str(2**64 - 1), "1", "0"]
    assert log.item_index.tolist() == [0, 1, 0, 2]
    assert log.categories.ids.to_list() == ["1.0", "2.5"]
    assert log.category_index.tolist() == [0, -1, 1, 0]


def test_ids_far_apart_are_numbered_like_close_ones() -> None:
    users = [10**15, 3, 10**15, -(10**17), 3]
    log = _log([str(u) for u in users])
    assert log.users.ids.to_list() == ["1000000000000000", "3", "-100000000000000000"]
    assert log.user_index.tolist() == [0, 1, 0, 2, 1]


def test_missing_categories_are_minus_one() -> None:
    log = _log(["u"] * 5, categories=["10", None, "20", "10", None])
    assert log.categories.ids.to_list() == ["10", "20"]
    assert log.category_index.tolist() == [0, -1, 1, 0, -1]
    empty = _log(["u", "v"], categories=pl.Series([None, None], dtype=pl.String))
    assert len(empty.categories) == 0 and empty.category_index.tolist() == [-1, -1]
    assert not empty.has_categories


def test_a_hash_collision_costs_time_not_correctness(monkeypatch: pytest.MonkeyPatch) -> None:
    def colliding(text: pl.Series) -> pl.Series:  # every string gets the same hash
        return pl.select(pl.when(text.is_not_null()).then(pl.lit(1, dtype=pl.UInt64))).to_series()

    monkeypatch.setattr(schema_module, "_text_hashes", colliding)
    log = _log(["b", "a", "b", "c"], categories=["k", None, "m", "k"])
    assert log.users.ids.to_list() == ["b", "a", "c"]
    assert log.user_index.tolist() == [0, 1, 0, 2]
    assert log.categories.ids.to_list() == ["k", "m"]
    assert log.category_index.tolist() == [0, -1, 1, 0]


_id = st.one_of(
    st.integers(0, 30).map(str),  # close integers: a lookup table
    st.sampled_from(["007", "+3", "-0", "-4", str(2**63 - 1), str(-(2**63))]),
    st.integers(-(2**63), 2**63 - 1).map(str),  # far apart: a join
    st.text(max_size=4),
)


@settings(max_examples=80, deadline=None)
@given(users=st.lists(_id, min_size=1, max_size=30), data=st.data())
def test_numbering_matches_first_appearance(users: list[str], data: st.DataObject) -> None:
    n = len(users)
    categories = data.draw(st.lists(st.one_of(st.none(), _id), min_size=n, max_size=n))
    log = _log(pl.Series(users, dtype=pl.String), categories=pl.Series(categories, dtype=pl.String))
    ids, codes = _first_appearance(list(users))
    assert log.users.ids.to_list() == ids
    assert log.user_index.tolist() == codes
    ids, codes = _first_appearance(categories)
    assert log.categories.ids.to_list() == ids
    assert log.category_index.tolist() == codes
    assert log.to_frame()["user_id"].to_list() == users


def test_vocabulary_indices_agree_for_short_and_long_queries() -> None:
    """A request's few ids take a dictionary, a column the join: the answers are the same."""
    vocabulary = Vocabulary.from_ids(["7", "a", "42", "None", "3.0"])
    for query, expected in (
        (["42", "a", "missing", None, "None"], [2, 1, -1, -1, 3]),  # None never names "None"
        ([42, np.int64(7), 5], [2, 0, -1]),
        ([3.0, 7.5], [4, -1]),  # not an integer: always the join (polars' text of a float)
    ):
        short = vocabulary.indices(query)
        assert short.dtype == np.int32 and short.tolist() == expected
        np.testing.assert_array_equal(vocabulary.indices(query * 30), np.tile(short, 30))
        np.testing.assert_array_equal(vocabulary.indices(pl.Series(query)), short)
