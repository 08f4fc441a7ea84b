"""The event log: one columnar table of behaviour events with dense integer indices.

Why: every part of decayrec (cleaning, decay, models, evaluation, the service) reads the same
table, so it is defined once here. Raw ids are kept in :class:`Vocabulary` objects and the
table itself holds dense ``int32`` indices, which is what vectorised code wants.

Columns of :attr:`EventLog.frame` (in file order; ties in time keep that order):

=================  ======================  ==============================================
column             dtype                   meaning
=================  ======================  ==============================================
``user_index``     Int32                   position of the raw user id in ``users``
``item_index``     Int32                   position of the raw item id in ``items``
``category_index`` Int32                   position in ``categories``; -1 when unknown
``timestamp``      Datetime(us, UTC)       when the event happened
``event_type``     UInt8                   an :class:`EventType` code
``value``          Float64 (nullable)      rating, quantity or price
``session_id``     String (nullable)       the shop's session id
``event_id``       String (nullable)       the shop's event id (idempotency key)
=================  ======================  ==============================================
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from decayrec.errors import DataValidationError, InvalidParameterError
from decayrec.types import FloatArray, IndexArray

__all__ = [
    "DEFAULT_EVENT_WEIGHTS",
    "EVENT_TYPE_ALIASES",
    "EventLog",
    "EventType",
    "EventWeights",
    "Vocabulary",
    "parse_event_type",
]


class EventType(IntEnum):
    """Canonical event types, ordered roughly by how much intent they show."""

    VIEW = 0
    CLICK = 1
    FAVOURITE = 2
    CART = 3
    PURCHASE = 4
    RATING = 5
    REVIEW = 6

    @property
    def label(self) -> str:
        """The lower-case canonical name, e.g. ``"purchase"``."""
        return self.name.lower()


#: Names seen in public logs and shop exports, mapped to canonical types. Formats may add more.
EVENT_TYPE_ALIASES: Mapping[str, EventType] = {
    "view": EventType.VIEW,
    "pv": EventType.VIEW,
    "page_view": EventType.VIEW,
    "pageview": EventType.VIEW,
    "detail": EventType.VIEW,
    "click": EventType.CLICK,
    "favourite": EventType.FAVOURITE,
    "favorite": EventType.FAVOURITE,
    "fav": EventType.FAVOURITE,
    "like": EventType.FAVOURITE,
    "wishlist": EventType.FAVOURITE,
    "cart": EventType.CART,
    "addtocart": EventType.CART,
    "add_to_cart": EventType.CART,
    "purchase": EventType.PURCHASE,
    "buy": EventType.PURCHASE,
    "transaction": EventType.PURCHASE,
    "order": EventType.PURCHASE,
    "rating": EventType.RATING,
    "rate": EventType.RATING,
    "review": EventType.REVIEW,
}

_TYPE_NAMES = ", ".join(t.label for t in EventType)


def parse_event_type(name: str | int | EventType) -> EventType:
    """Return the canonical :class:`EventType` for a name, alias or code.

    Examples
    --------
    >>> parse_event_type("addtocart")
    <EventType.CART: 3>
    >>> parse_event_type("PV").label
    'view'
    """
    if isinstance(name, EventType):
        return name
    if isinstance(name, int):
        try:
            return EventType(name)
        except ValueError:
            raise InvalidParameterError(
                f"Event type code {name} is unknown; expected 0..{len(EventType) - 1}."
            ) from None
    key = name.strip().lower()
    if key in EVENT_TYPE_ALIASES:
        return EVENT_TYPE_ALIASES[key]
    raise InvalidParameterError(
        f"Event type {name!r} is unknown; expected one of {_TYPE_NAMES} "
        f"or an alias ({', '.join(sorted(EVENT_TYPE_ALIASES))})."
    )


@dataclass(frozen=True)
class EventWeights:
    """How much one event of each type adds to interest (before decay).

    Defaults follow the purchase funnel: view < favourite < cart < purchase. Any type can be
    overridden, e.g. ``EventWeights.from_mapping({"purchase": 10})``.
    """

    view: float = 1.0
    click: float = 1.0
    favourite: float = 2.0
    cart: float = 3.0
    purchase: float = 5.0
    rating: float = 2.0
    review: float = 2.0

    def __post_init__(self) -> None:
        for event_type in EventType:
            value = getattr(self, event_type.label)
            if not np.isfinite(value) or value < 0:
                raise InvalidParameterError(
                    f"The weight of event type '{event_type.label}' must be a finite number "
                    f">= 0. Got {value!r} instead."
                )

    @classmethod
    def from_mapping(cls, weights: Mapping[str, float] | None) -> EventWeights:
        """Build weights from ``{type name or alias: weight}``, keeping defaults for the rest."""
        if not weights:
            return cls()
        values = {parse_event_type(name).label: float(w) for name, w in weights.items()}
        return cls(**values)

    def as_array(self) -> FloatArray:
        """Weights indexed by :class:`EventType` code (length ``len(EventType)``)."""
        return np.array([getattr(self, t.label) for t in EventType], dtype=np.float64)

    def as_dict(self) -> dict[str, float]:
        """``{canonical type name: weight}``, for manifests and reports."""
        return {t.label: float(getattr(self, t.label)) for t in EventType}


DEFAULT_EVENT_WEIGHTS = EventWeights()


@dataclass(frozen=True, eq=False)
class Vocabulary:
    """Raw ids (as strings) in index order; maps raw ids to dense indices and back.

    Raw ids are kept as strings so that ``"42"`` typed on a command line and ``42`` read from
    a file name the same user.
    """

    ids: pl.Series
    _lookup: dict[str, int] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.ids.dtype != pl.String:
            object.__setattr__(self, "ids", self.ids.cast(pl.String))

    @classmethod
    def from_ids(cls, ids: Iterable[Any]) -> Vocabulary:
        """A vocabulary of the given raw ids, in the given order (they must be unique)."""
        series = pl.Series("id", [str(i) for i in ids], dtype=pl.String)
        if series.n_unique() != len(series):
            raise InvalidParameterError("Vocabulary ids must be unique.")
        return cls(series)

    def __len__(self) -> int:
        return len(self.ids)

    def raw(self, indices: npt.ArrayLike) -> list[str]:
        """Raw ids of the given indices."""
        idx = np.asarray(indices, dtype=np.int64)
        return self.ids.gather(idx).to_list() if idx.size else []

    def index(self, raw_id: Any) -> int | None:
        """The index of one raw id, or ``None`` when unknown."""
        return self._mapping().get(str(raw_id))

    def _mapping(self) -> dict[str, int]:
        """``{raw id: index}``, built on first use (the vocabulary never changes)."""
        if not self._lookup and len(self.ids):
            self._lookup.update(zip(self.ids.to_list(), range(len(self.ids)), strict=True))
        return self._lookup

    def indices(self, raw_ids: Sequence[Any] | pl.Series) -> IndexArray:
        """Indices of many raw ids at once; -1 where an id is unknown.

        A few ids of text or integers (a served request) are looked up in a dictionary; a
        column of them is joined against the vocabulary (vectorised), which costs about a
        millisecond however short the query is.
        """
        if (
            not isinstance(raw_ids, pl.Series)
            and len(raw_ids) <= _DICTIONARY_LOOKUP_MAX
            and all(_is_plain_id(raw_id) for raw_id in raw_ids)
        ):
            mapping = self._mapping()
            return np.array([mapping.get(str(raw_id), -1) for raw_id in raw_ids], np.int32)
        query = pl.Series("id", raw_ids).cast(pl.String)
        table = pl.DataFrame({"id": self.ids, "index": np.arange(len(self.ids), dtype=np.int32)})
        joined = pl.DataFrame({"id": query}).join(table, on="id", how="left", maintain_order="left")
        return joined["index"].fill_null(-1).to_numpy().astype(np.int32, copy=False)

    def extend(self, raw_ids: pl.Series) -> tuple[Vocabulary, IndexArray]:
        """A vocabulary that also holds ``raw_ids``, and the indices of ``raw_ids`` in it."""
        query = raw_ids.cast(pl.String)
        known = self.indices(query)
        missing = known < 0
        if not missing.any():
            return self, known
        new_ids = query.filter(pl.Series(missing)).unique(maintain_order=True)
        grown = Vocabulary(pl.concat([self.ids, new_ids.rename("id")]))
        return grown, grown.indices(query)


#: Queries up to this many ids use the dictionary in :meth:`Vocabulary.indices`.
_DICTIONARY_LOOKUP_MAX: Final = 64


def _is_plain_id(raw_id: Any) -> bool:
    """Text or an integer, whose ``str`` is the text polars' cast to string gives."""
    return isinstance(raw_id, str | int | np.integer) and not isinstance(raw_id, bool)


def _factorize(values: pl.Series) -> tuple[Vocabulary, IndexArray]:
    """Dense codes in first-appearance order (-1 where null), and the vocabulary of raw ids.

    Why not ``unique`` plus a join on the text: hashing millions of strings twice is most of
    the time it takes to index a log. The public logs' ids are integers, so a column of
    integer text is factorised as integers (only the distinct values become strings again);
    other text is factorised by a 64-bit hash of each string and checked against the strings,
    so that a hash collision costs time (the exact path), never a wrong id.
    """
    integers = _as_integers(values)
    if integers is not None:
        codes, distinct = _dense_codes(integers)
        ids = distinct.cast(pl.String)
        if values.dtype.is_integer() or _same_lengths(ids, codes, values):
            return Vocabulary(ids.rename("id")), codes
    text = values.cast(pl.String)
    codes, _ = _dense_codes(_text_hashes(text))
    ids = text.gather(_first_rows(codes))
    if not _same_text(ids, codes, text):  # a hash collision: almost never
        ids = text.drop_nulls().unique(maintain_order=True)
        codes = Vocabulary(ids).indices(text)
    return Vocabulary(ids.rename("id")), codes


def _as_integers(values: pl.Series) -> pl.Series | None:
    """``values`` as Int64 when every one is an integer (or integer text); else ``None``.

    Polars reads text as an integer only when it is ``[+-]?[0-9]+`` (ASCII digits), so such
    text is its integer's canonical spelling exactly when it is as long as that spelling
    (``"007"`` and ``"+7"`` are not); :func:`_factorize` checks the lengths.
    """
    dtype = values.dtype
    if not (dtype.is_integer() or dtype == pl.String):
        return None
    integers = values.cast(pl.Int64, strict=False)
    return integers if integers.null_count() == values.null_count() else None


def _text_hashes(text: pl.Series) -> pl.Series:
    """A 64-bit hash of each string (null stays null)."""
    hashed = text.hash()
    if not text.null_count():
        return hashed
    return pl.select(pl.when(text.is_not_null()).then(hashed)).to_series()


#: Integer keys spanning at most this many values per row are coded through a lookup table.
_TABLE_SPAN_PER_ROW: Final = 4


def _dense_codes(keys: pl.Series) -> tuple[IndexArray, pl.Series]:
    """Codes of integer ``keys`` in first-appearance order (-1 where null), and the keys.

    The distinct keys (in that order) come from one hash pass; the codes then come from a
    lookup table indexed by the key when the keys span a small range (ids numbered by the
    shop), else from a join.
    """
    distinct = keys.drop_nulls().unique(maintain_order=True)
    if not len(distinct):
        return np.full(len(keys), -1, dtype=np.int32), distinct
    low, high = distinct.min(), distinct.max()
    if (
        keys.dtype == pl.Int64
        and isinstance(low, int)
        and isinstance(high, int)
        and high - low < _TABLE_SPAN_PER_ROW * len(keys) + 1024
    ):
        table = np.empty(high - low + 1, dtype=np.int32)
        table[distinct.to_numpy() - low] = np.arange(len(distinct), dtype=np.int32)
        codes = table[keys.fill_null(low).to_numpy() - low]
        if keys.null_count():
            codes[keys.is_null().to_numpy()] = -1
        return codes, distinct
    lookup = pl.DataFrame(
        {"key": distinct, "code": pl.int_range(len(distinct), dtype=pl.Int32, eager=True)}
    )
    joined = keys.to_frame("key").join(lookup, on="key", how="left", maintain_order="left")
    return joined["code"].fill_null(-1).to_numpy().astype(np.int32, copy=False), distinct


def _first_rows(codes: IndexArray) -> npt.NDArray[np.intp]:
    """Row of the first appearance of each code, in code order (codes in first-appearance order).

    Row ``i`` is a first appearance exactly when its code exceeds every earlier code.
    """
    if not len(codes):
        return np.zeros(0, dtype=np.intp)
    highest = np.maximum.accumulate(codes)
    first = np.empty(len(codes), dtype=bool)
    first[0] = codes[0] >= 0
    np.greater(codes[1:], highest[:-1], out=first[1:])
    return np.flatnonzero(first)


def _valid(codes: IndexArray, values: pl.Series) -> tuple[IndexArray, pl.Series]:
    """Codes and values of the rows that are not null."""
    if not values.null_count():
        return codes, values
    known = codes >= 0
    return codes[known], values.filter(pl.Series(known))


def _same_lengths(ids: pl.Series, codes: IndexArray, text: pl.Series) -> bool:
    """Whether each text has the length of its id (integer text: then it *is* its id)."""
    codes, text = _valid(codes, text)
    lengths = ids.str.len_bytes().to_numpy()
    return bool(np.array_equal(lengths[codes], text.str.len_bytes().to_numpy()))


def _same_text(ids: pl.Series, codes: IndexArray, text: pl.Series) -> bool:
    """Whether each text equals the id of its code."""
    codes, text = _valid(codes, text)
    return bool((ids.gather(codes) == text).all())


_TIMESTAMP = pl.Datetime("us", "UTC")


@dataclass(frozen=True, eq=False)
class EventLog:
    """A validated log of behaviour events: a Polars frame of indices plus vocabularies.

    Build one with :meth:`from_frame` (raw ids) or a loader in :mod:`decayrec.data`; subsets
    made by :meth:`filter` share the vocabularies, so indices stay comparable across splits.
    """

    frame: pl.DataFrame
    users: Vocabulary
    items: Vocabulary
    categories: Vocabulary

    COLUMNS = (
        "user_index",
        "item_index",
        "category_index",
        "timestamp",
        "event_type",
        "value",
        "session_id",
        "event_id",
    )

    # ---------------------------------------------------------------- construction
    @classmethod
    def from_frame(cls, frame: pl.DataFrame, *, source: str = "events") -> EventLog:
        """Build a log from raw columns, checking every row.

        ``frame`` needs ``user_id``, ``item_id``, ``timestamp`` (Datetime, or Unix seconds) and
        ``event_type`` (canonical name, alias or code); ``category_id``, ``value``,
        ``session_id`` and ``event_id`` are optional. Rows are kept in the given order.

        Raises
        ------
        DataValidationError
            Naming the first offending row, column and value. Use
            :func:`decayrec.data.clean_events` first to drop bad rows with a report instead.
        """
        for column in ("user_id", "item_id", "timestamp", "event_type"):
            if column not in frame.columns:
                raise DataValidationError(
                    f"{source}: required column '{column}' is missing; got columns "
                    f"{', '.join(frame.columns)}."
                )
        for column in ("user_id", "item_id"):
            nulls = frame[column].is_null()
            if nulls.any():
                row = int(nulls.arg_max() or 0)
                raise DataValidationError(f"{source} row {row}: column '{column}' is empty.")
        timestamps = _as_timestamps(frame["timestamp"], source)
        event_types = _as_event_types(frame["event_type"], source)
        users, user_index = _factorize(frame["user_id"])
        items, item_index = _factorize(frame["item_id"])
        if "category_id" in frame.columns:
            categories, category_index = _factorize(frame["category_id"])
        else:
            categories = Vocabulary(pl.Series("id", [], dtype=pl.String))
            category_index = np.full(frame.height, -1, dtype=np.int32)
        n = frame.height
        out = pl.DataFrame(
            {
                "user_index": user_index,
                "item_index": item_index,
                "category_index": category_index,
                "timestamp": timestamps,
                "event_type": event_types,
                "value": _optional(frame, "value", pl.Float64, n),
                "session_id": _optional(frame, "session_id", pl.String, n),
                "event_id": _optional(frame, "event_id", pl.String, n),
            }
        )
        return cls(out, users, items, categories)

    @classmethod
    def from_indices(
        cls,
        *,
        user_index: npt.ArrayLike,
        item_index: npt.ArrayLike,
        timestamp_seconds: npt.ArrayLike,
        event_type: npt.ArrayLike,
        category_index: npt.ArrayLike | None = None,
        value: npt.ArrayLike | None = None,
        session_id: npt.ArrayLike | None = None,
        users: Vocabulary | None = None,
        items: Vocabulary | None = None,
        categories: Vocabulary | None = None,
    ) -> EventLog:
        """Build a log straight from index arrays (fast path for simulators and tests).

        Missing vocabularies become ``"0", "1", ...`` of the needed size.
        """
        user_arr = np.asarray(user_index, dtype=np.int32)
        item_arr = np.asarray(item_index, dtype=np.int32)
        n = len(user_arr)
        cat_arr = (
            np.full(n, -1, dtype=np.int32)
            if category_index is None
            else np.asarray(category_index, dtype=np.int32)
        )
        micros = np.round(np.asarray(timestamp_seconds, dtype=np.float64) * 1e6).astype(np.int64)

        def numbered(vocab: Vocabulary | None, codes: IndexArray) -> Vocabulary:
            if vocab is not None:
                return vocab
            size = int(codes.max()) + 1 if codes.size else 0
            return Vocabulary(pl.Series("id", np.arange(size)).cast(pl.String))

        frame = pl.DataFrame(
            {
                "user_index": user_arr,
                "item_index": item_arr,
                "category_index": cat_arr,
                "timestamp": pl.Series(micros).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
                "event_type": np.asarray(event_type, dtype=np.uint8),
                "value": (
                    pl.Series([None] * n, dtype=pl.Float64)
                    if value is None
                    else pl.Series(np.asarray(value, dtype=np.float64))
                ),
                "session_id": (
                    pl.Series([None] * n, dtype=pl.String)
                    if session_id is None
                    else pl.Series(np.asarray(session_id)).cast(pl.String)
                ),
                "event_id": pl.Series([None] * n, dtype=pl.String),
            }
        )
        return cls(
            frame,
            numbered(users, user_arr),
            numbered(items, item_arr),
            numbered(categories, cat_arr),
        )

    # ---------------------------------------------------------------- views
    def __len__(self) -> int:
        return self.frame.height

    @property
    def n_events(self) -> int:
        """Number of events (rows)."""
        return self.frame.height

    @property
    def user_index(self) -> IndexArray:
        """User index per event."""
        return self.frame["user_index"].to_numpy()

    @property
    def item_index(self) -> IndexArray:
        """Item index per event."""
        return self.frame["item_index"].to_numpy()

    @property
    def category_index(self) -> IndexArray:
        """Category index per event (-1 when unknown)."""
        return self.frame["category_index"].to_numpy()

    @property
    def event_type(self) -> npt.NDArray[np.uint8]:
        """Event type code per event."""
        return self.frame["event_type"].to_numpy()

    @property
    def timestamp_seconds(self) -> FloatArray:
        """Unix seconds (float64) per event."""
        micros = self.frame["timestamp"].dt.epoch("us").to_numpy()
        return micros.astype(np.float64) / 1e6

    @property
    def has_categories(self) -> bool:
        """Whether any event carries a category."""
        return len(self.categories) > 0 and bool((self.category_index >= 0).any())

    def time_range(self) -> tuple[float, float]:
        """(first, last) event time in Unix seconds; raises on an empty log."""
        if not self.n_events:
            raise DataValidationError("The event log is empty.")
        seconds = self.timestamp_seconds
        return float(seconds.min()), float(seconds.max())

    def item_categories(self) -> IndexArray:
        """Category index of every item in ``items`` (its latest known category; -1 if none)."""
        result = np.full(len(self.items), -1, dtype=np.int32)
        cats = self.category_index
        known = cats >= 0
        # Later rows overwrite earlier ones: NumPy fancy assignment keeps the last write.
        result[self.item_index[known]] = cats[known]
        return result

    # ---------------------------------------------------------------- subsets
    def filter(self, mask: npt.ArrayLike | pl.Series | pl.Expr) -> EventLog:
        """Rows where ``mask`` holds (same vocabularies, order kept)."""
        if isinstance(mask, pl.Expr):
            frame = self.frame.filter(mask)
        else:
            frame = self.frame.filter(pl.Series(np.asarray(mask, dtype=bool)))
        return EventLog(frame, self.users, self.items, self.categories)

    def take(self, rows: npt.ArrayLike) -> EventLog:
        """Rows at the given positions, in the given order."""
        frame = self.frame[np.asarray(rows, dtype=np.int64)]
        return EventLog(frame, self.users, self.items, self.categories)

    def compact(self) -> EventLog:
        """The same events with vocabularies cut down to the ids that occur, re-indexed.

        Splits share the full vocabularies; a model fitted on a training split compacts it so
        that its catalogue holds only items seen in training.
        """
        frame = self.frame
        new_users, user_index = _recode(frame["user_index"].to_numpy(), self.users)
        new_items, item_index = _recode(frame["item_index"].to_numpy(), self.items)
        new_cats, cat_index = _recode(frame["category_index"].to_numpy(), self.categories)
        frame = frame.with_columns(
            pl.Series("user_index", user_index),
            pl.Series("item_index", item_index),
            pl.Series("category_index", cat_index),
        )
        return EventLog(frame, new_users, new_items, new_cats)

    def sort_by_time(self) -> EventLog:
        """Rows sorted by timestamp; ties keep their current (file) order."""
        return EventLog(
            self.frame.sort("timestamp", maintain_order=True),
            self.users,
            self.items,
            self.categories,
        )

    def concat(self, other: EventLog) -> EventLog:
        """This log followed by ``other``, with vocabularies merged by raw id."""
        users, user_index = self.users.extend(other.users.ids.gather(other.frame["user_index"]))
        items, item_index = self.items.extend(other.items.ids.gather(other.frame["item_index"]))
        other_cats = other.category_index
        cat_index = np.full(other.n_events, -1, dtype=np.int32)
        categories = self.categories
        if len(other.categories):
            known = other_cats >= 0
            categories, mapped = self.categories.extend(
                other.categories.ids.gather(other_cats[known])
            )
            cat_index[known] = mapped
        other_frame = other.frame.with_columns(
            pl.Series("user_index", user_index),
            pl.Series("item_index", item_index),
            pl.Series("category_index", cat_index),
        )
        return EventLog(pl.concat([self.frame, other_frame]), users, items, categories)

    # ---------------------------------------------------------------- export
    def to_frame(self) -> pl.DataFrame:
        """The log with raw ids and type names, in the canonical column names."""
        cats = self.frame["category_index"]
        names = pl.Series([t.label for t in EventType], dtype=pl.String)
        return pl.DataFrame(
            {
                "user_id": self.users.ids.gather(self.frame["user_index"]),
                "item_id": self.items.ids.gather(self.frame["item_index"]),
                "category_id": (
                    self.categories.ids.gather(cats.clip(0, None))
                    if len(self.categories)
                    else pl.Series([None] * self.n_events, dtype=pl.String)
                ),
                "timestamp": self.frame["timestamp"],
                "event_type": names.gather(self.frame["event_type"]),
                "value": self.frame["value"],
                "session_id": self.frame["session_id"],
                "event_id": self.frame["event_id"],
            }
        ).with_columns(
            pl.when(cats.ge(0)).then(pl.col("category_id")).otherwise(None).alias("category_id")
        )


def _recode(codes: IndexArray, vocab: Vocabulary) -> tuple[Vocabulary, IndexArray]:
    """Keep only the used codes of ``vocab`` (in index order); -1 stays -1."""
    used = np.zeros(len(vocab) + 1, dtype=bool)
    used[codes + 1] = True  # shift by one so that -1 lands in slot 0
    used_codes = np.flatnonzero(used[1:])
    mapping = np.full(len(vocab) + 1, -1, dtype=np.int32)
    mapping[used_codes + 1] = np.arange(len(used_codes), dtype=np.int32)
    return Vocabulary(vocab.ids.gather(used_codes)), mapping[codes + 1]


def _optional(
    frame: pl.DataFrame, column: str, dtype: pl.DataType | type[pl.DataType], n: int
) -> pl.Series:
    if column in frame.columns:
        return frame[column].cast(dtype)
    return pl.repeat(None, n, dtype=dtype, eager=True).alias(column)


def _as_timestamps(column: pl.Series, source: str) -> pl.Series:
    """Timestamps as Datetime(us, UTC); numbers are Unix seconds; naive datetimes are UTC."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        out = column if dtype.time_zone else column.dt.replace_time_zone("UTC")
        out = out.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    elif dtype.is_numeric():
        micros = (column.cast(pl.Float64) * 1e6).round().cast(pl.Int64)
        out = micros.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    elif dtype == pl.Date:
        out = column.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
    else:
        raise DataValidationError(
            f"{source}: column 'timestamp' has type {dtype}; expected datetimes or Unix seconds."
        )
    nulls = out.is_null()
    if nulls.any():
        row = int(nulls.arg_max() or 0)
        raise DataValidationError(
            f"{source} row {row}: column 'timestamp' is {column[row]!r}; expected a time."
        )
    return out.cast(_TIMESTAMP).rename("timestamp")


def _as_event_types(column: pl.Series, source: str) -> pl.Series:
    """Event type codes (UInt8) from names, aliases or codes."""
    if column.dtype.is_integer():
        codes = column.cast(pl.Int64)
        bad = codes.is_null() | (codes < 0) | (codes >= len(EventType))
    else:
        table = pl.DataFrame(
            {
                "key": list(EVENT_TYPE_ALIASES),
                "code": [int(v) for v in EVENT_TYPE_ALIASES.values()],
            }
        )
        keys = pl.DataFrame({"key": column.cast(pl.String).str.strip_chars().str.to_lowercase()})
        codes = keys.join(table, on="key", how="left", maintain_order="left")["code"]
        bad = codes.is_null()
    if bad.any():
        row = int(bad.arg_max() or 0)
        raise DataValidationError(
            f"{source} row {row}: column 'event_type' is {column[row]!r}; "
            f"expected one of {_TYPE_NAMES}."
        )
    return codes.cast(pl.UInt8).rename("event_type")
