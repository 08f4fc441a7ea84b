"""Cleaning raw behaviour events, counting every dropped row under a reason.

Why: public logs and shop exports hold rows without a user, timestamps from 1970, event types
nobody knows, doubled rows and crawlers. A model fitted on them learns the noise; a loader that
silently drops them hides how much of the log was thrown away. :func:`clean_events` drops such
rows and returns a :class:`CleaningReport` saying how many rows went under which reason, with
examples of each, so that ``rows_read == rows_kept + sum(dropped.values())`` always holds.

Input columns (raw values, any dtype Polars reads):

=================  ============================================================================
column             read as
=================  ============================================================================
``user_id``        text id, required (blank or missing: ``missing_user_id``)
``item_id``        text id, required (blank or missing: ``missing_item_id``)
``timestamp``      required: datetimes, dates, Unix time or ISO-8601 text (see below)
``event_type``     a canonical name, an alias, a name in ``event_types=`` or (integer column)
                   an :class:`~decayrec.data.schema.EventType` code; missing column: all views
``value``          optional number (rating, quantity or price)
``category_id``    optional text id (blank: no category)
``session_id``     optional text
``event_id``       optional text
=================  ============================================================================

Bookkeeping columns: ``_row`` (the 0-based data row number in the source file; added when
absent), ``_file`` (which file of a multi-file source a row came from) and ``_malformed``
(the line had more fields than the format has columns). Any other column is an *extra*: it is
kept as it is, takes part in duplicate detection and shows in the examples.

Numbers in ``timestamp`` are read by magnitude: below 1e11 as seconds, below 1e14 as
milliseconds, below 1e17 as microseconds, else nanoseconds. For any instant in the default
``valid_range`` (1995–2100) the four units cannot be confused. Text is read as a number when it
is one, else as ISO-8601 (``2017-11-25``, ``2017-11-25 08:00``, ``2017-11-25T08:00:00.5``,
with or without ``Z``, ``+08:00``, ``+0800`` or a trailing ``UTC``); text without an offset is UTC.

Each dropped row is counted once, under the first reason that applies, in this order:

==========================  =====================================================================
reason                      the row
==========================  =====================================================================
``malformed_row``           had more fields than the format has columns
``missing_user_id``         has no user id
``missing_item_id``         has no item id
``bad_timestamp``           has a timestamp that is missing or cannot be read
``out_of_range_timestamp``  happened outside ``valid_range`` or ``time_window``
``unknown_event_type``      has an event type that is not known (or is missing)
``bad_value``               has a ``value`` that is not a finite number
``duplicate``               equals an earlier kept row in every column (the first is kept)
``bot_user``                belongs to a user with more than ``max_events_per_minute`` events in
                            some 60-second window (all of that user's remaining rows go)
==========================  =====================================================================

Examples
--------
>>> import polars as pl
>>> raw = pl.DataFrame({
...     "user_id": ["u1", "u1", None, "u2"],
...     "item_id": ["a", "a", "b", "c"],
...     "timestamp": ["1511658000", "1511658000", "1511658001", "2017-11-26T01:00:02Z"],
...     "event_type": ["pv", "pv", "buy", "cart"],
... })
>>> clean, report = clean_events(raw, source="demo")
>>> clean.height, report.rows_read, report.dropped["duplicate"], report.dropped["missing_user_id"]
(2, 4, 1, 1)
>>> report.examples["duplicate"][0]["row"]
1
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final, TypeAlias

import polars as pl
from rich import box
from rich.console import Console
from rich.table import Table

from decayrec.data.schema import EVENT_TYPE_ALIASES, EventType, parse_event_type
from decayrec.errors import DataValidationError, InvalidParameterError

__all__ = [
    "CANONICAL_COLUMNS",
    "DROP_REASONS",
    "REASON_DESCRIPTIONS",
    "CleaningConfig",
    "CleaningReport",
    "TimeWindow",
    "clean_events",
]

#: The column names :func:`clean_events` and :meth:`EventLog.from_frame` understand.
CANONICAL_COLUMNS: Final = (
    "user_id",
    "item_id",
    "timestamp",
    "event_type",
    "value",
    "category_id",
    "session_id",
    "event_id",
)
_REQUIRED: Final = ("user_id", "item_id", "timestamp")
_INTERNAL: Final = frozenset({"_row", "_file", "_malformed"})

#: Every reason a row can be dropped for, in the order they are checked.
DROP_REASONS: Final = (
    "malformed_row",
    "missing_user_id",
    "missing_item_id",
    "bad_timestamp",
    "out_of_range_timestamp",
    "unknown_event_type",
    "bad_value",
    "duplicate",
    "bot_user",
)

#: One line per reason, for reports and the CLI.
REASON_DESCRIPTIONS: Final[Mapping[str, str]] = {
    "malformed_row": "more fields than the format has columns",
    "missing_user_id": "no user id",
    "missing_item_id": "no item id",
    "bad_timestamp": "timestamp missing or unreadable",
    "out_of_range_timestamp": "timestamp outside the valid range or time window",
    "unknown_event_type": "event type unknown or missing",
    "bad_value": "value is not a finite number",
    "duplicate": "same as an earlier row in every column",
    "bot_user": "user exceeds max_events_per_minute",
}

#: The raw column shown first in an example of each reason (for one-line error messages).
REASON_COLUMNS: Final[Mapping[str, str]] = {
    "malformed_row": "",
    "missing_user_id": "user_id",
    "missing_item_id": "item_id",
    "bad_timestamp": "timestamp",
    "out_of_range_timestamp": "timestamp",
    "unknown_event_type": "event_type",
    "bad_value": "value",
    "duplicate": "",
    "bot_user": "user_id",
}

_N_EXAMPLES: Final = 3
_MINUTE_US: Final = 60_000_000

#: ``(start, end)``: keep ``start <= t < end``; ``None`` leaves that side open.
TimeWindow: TypeAlias = tuple[datetime | None, datetime | None]

DEFAULT_VALID_RANGE: Final = (datetime(1995, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))


def _aware(value: datetime, name: str) -> datetime:
    if not isinstance(value, datetime):
        raise InvalidParameterError(
            f"The '{name}' parameter of CleaningConfig must hold datetimes or None. "
            f"Got {value!r} instead."
        )
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


@dataclass(frozen=True)
class CleaningConfig:
    """What :func:`clean_events` drops besides rows that cannot be read.

    Parameters
    ----------
    drop_duplicates
        Drop rows equal to an earlier row in every column read (the first one stays).
    time_window
        ``(start, end)``: keep events with ``start <= t < end``; either side may be ``None``
        (open). ``None`` (the default) means the format's own window when
        :func:`~decayrec.data.load_events` loads a preset that has one (Taobao: its official
        9 days), else no window; ``(None, None)`` means no window even there.
    max_events_per_minute
        Bot filter, off when ``None``. A user with more than this many events inside some
        60-second window ``[t, t + 60 s)`` is a bot, and all their rows are dropped. Must be
        at least 1. Mind day-resolution logs (Amazon): there, a busy day looks like a burst.
    valid_range
        Timestamps outside ``[start, end)`` are never plausible and are always dropped
        (default 1995-01-01 to 2100-01-01 UTC).

    Naive datetimes are read as UTC.

    Examples
    --------
    >>> CleaningConfig(max_events_per_minute=60).drop_duplicates
    True
    """

    drop_duplicates: bool = True
    time_window: TimeWindow | None = None
    max_events_per_minute: float | None = None
    valid_range: tuple[datetime, datetime] = DEFAULT_VALID_RANGE

    def __post_init__(self) -> None:
        if self.time_window is not None:
            if len(self.time_window) != 2:
                raise InvalidParameterError(
                    "The 'time_window' parameter of CleaningConfig must be (start, end). "
                    f"Got {self.time_window!r} instead."
                )
            start, end = (
                None if side is None else _aware(side, "time_window") for side in self.time_window
            )
            if start is not None and end is not None and not start < end:
                raise InvalidParameterError(
                    "The 'time_window' parameter of CleaningConfig must have start < end. "
                    f"Got {start.isoformat()} .. {end.isoformat()} instead."
                )
            object.__setattr__(self, "time_window", (start, end))
        lo, hi = (_aware(side, "valid_range") for side in self.valid_range)
        if not lo < hi:
            raise InvalidParameterError(
                "The 'valid_range' parameter of CleaningConfig must have start < end. "
                f"Got {lo.isoformat()} .. {hi.isoformat()} instead."
            )
        object.__setattr__(self, "valid_range", (lo, hi))
        rate = self.max_events_per_minute
        if rate is not None and not (isinstance(rate, int | float) and math.isfinite(rate)):
            raise InvalidParameterError(
                "The 'max_events_per_minute' parameter of CleaningConfig must be a finite "
                f"number >= 1 or None. Got {rate!r} instead."
            )
        if rate is not None and rate < 1:
            raise InvalidParameterError(
                "The 'max_events_per_minute' parameter of CleaningConfig must be >= 1 (below "
                f"that every user is a bot) or None. Got {rate!r} instead."
            )

    def bounds(self) -> tuple[datetime, datetime]:
        """The instants kept, ``[start, end)``: ``valid_range`` narrowed by ``time_window``."""
        lo, hi = self.valid_range
        if self.time_window is not None:
            start, end = self.time_window
            lo = max(lo, start) if start is not None else lo
            hi = min(hi, end) if end is not None else hi
        return lo, hi


def _jsonable(value: Any) -> Any:
    """A value as JSON can hold it (examples are shown and written as JSON)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return str(value)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class CleaningReport:
    """What :func:`clean_events` dropped, why, and an example or three of each reason.

    Attributes
    ----------
    source
        The file (or frame) cleaned, as named in messages.
    rows_read, rows_kept
        Data rows read and kept; ``rows_read == rows_kept + sum(dropped.values())``.
    dropped
        ``{reason: rows}`` for every reason in :data:`DROP_REASONS` (zeros included), in
        check order.
    examples
        ``{reason: (row, ...)}``: up to three dropped rows per reason, each a dict of the raw
        values as read plus ``"row"`` (0-based data row in the file) and, for multi-file
        sources, ``"file"``. Values are JSON-ready.
    time_window
        The ``[start, end)`` kept, as ISO-8601 text in UTC.

    Raises
    ------
    InvalidParameterError
        When the counts do not add up.
    """

    source: str
    rows_read: int
    rows_kept: int
    dropped: Mapping[str, int]
    examples: Mapping[str, tuple[Mapping[str, Any], ...]] = field(default_factory=dict)
    time_window: tuple[str | None, str | None] = (None, None)

    def __post_init__(self) -> None:
        total = self.rows_kept + sum(self.dropped.values())
        if total != self.rows_read:
            raise InvalidParameterError(
                f"CleaningReport for {self.source}: rows_kept ({self.rows_kept}) plus dropped "
                f"rows ({total - self.rows_kept}) must equal rows_read ({self.rows_read})."
            )

    @property
    def rows_dropped(self) -> int:
        """Rows dropped, all reasons together."""
        return self.rows_read - self.rows_kept

    def to_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data (for ``--report`` files and manifests)."""
        return {
            "source": self.source,
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "rows_dropped": self.rows_dropped,
            "dropped": dict(self.dropped),
            "examples": {
                reason: [dict(row) for row in rows] for reason, rows in self.examples.items()
            },
            "time_window": list(self.time_window),
        }

    def to_table(self) -> Table:
        """The report as a rich table: one line per reason that dropped rows, with an example."""
        table = Table(title=f"Cleaning report: {self.source}")
        table.add_column("rows")
        table.add_column("count", justify="right")
        table.add_column("example (row: raw values)", overflow="fold")
        table.add_row("read", f"{self.rows_read:,}", "")
        for reason, count in self.dropped.items():
            if count:
                rows = self.examples.get(reason, ())
                table.add_row(
                    f"dropped: {reason}",
                    f"{count:,}",
                    _describe_example(rows[0]) if rows else REASON_DESCRIPTIONS[reason],
                )
        if not self.rows_dropped:
            table.add_row("dropped", "0", "nothing to drop")
        table.add_row("kept", f"{self.rows_kept:,}", "")
        return table

    def __str__(self) -> str:
        buffer = io.StringIO()
        console = Console(file=buffer, width=110, color_system=None, force_terminal=False)
        table = self.to_table()
        table.box = box.ASCII  # plain text for logs and files
        console.print(table)
        return buffer.getvalue().rstrip()


def _describe_example(row: Mapping[str, Any]) -> str:
    where = f"{row['file']} row {row['row']}" if "file" in row else f"row {row['row']}"
    values = ", ".join(f"{k}={v!r}" for k, v in row.items() if k not in ("row", "file"))
    return f"{where}: {values}"


# ------------------------------------------------------------------------------ parsing


def _clean_text(column: pl.Series) -> pl.Series:
    """Text ids: stripped, blank -> null; integral floats lose their ``.0`` (pandas ids)."""
    expr: pl.Expr
    if column.dtype.is_float():
        finite = column.is_finite().fill_null(False)
        integral = finite & (column == column.floor()).fill_null(False)
        expr = (
            pl.when(integral)
            .then(column.cast(pl.Int64, strict=False).cast(pl.String))
            .when(finite)
            .then(column.cast(pl.String))
        )
    else:
        text = column.cast(pl.String).str.strip_chars()
        expr = pl.when(text.str.len_bytes() > 0).then(text)
    return pl.select(expr.alias(column.name)).to_series()


#: Unix time below this (in absolute value) is in seconds; see the module docstring.
_SECONDS_BELOW: Final = 100_000_000_000


def _numeric_micros(seconds_or_more: pl.Expr) -> pl.Expr:
    """Unix time read by magnitude (s, ms, us or ns) to Int64 microseconds; null if not finite."""
    size = seconds_or_more.abs()
    factor = (
        pl.when(size < _SECONDS_BELOW)
        .then(1e6)
        .when(size < 1e14)
        .then(1e3)
        .when(size < 1e17)
        .then(1.0)
        .otherwise(1e-3)
    )
    micros = (seconds_or_more * factor).round().clip(-9e18, 9e18).cast(pl.Int64, strict=False)
    return pl.when(seconds_or_more.is_finite()).then(micros)


def _seconds_to_micros(numbers: pl.Series) -> pl.Series:
    return pl.DataFrame({"n": numbers}).select(_numeric_micros(pl.col("n")))["n"]


def _integer_seconds_micros(text: pl.Series) -> pl.Series | None:
    """Microseconds of text that is all whole Unix seconds (as in most logs); else ``None``.

    The fast path of :func:`_timestamp_micros`, with the same result: below 1e11 a number is
    read as seconds, and a whole number of seconds times 1e6 is exact in float64 too.
    """
    integers = text.cast(pl.Int64, strict=False)
    if integers.null_count() != text.null_count():
        return None
    if not ((integers > -_SECONDS_BELOW) & (integers < _SECONDS_BELOW)).all():
        return None
    return integers * 1_000_000


# Tried in order on text that is not a number, after "YYYY-MM-DDT..." became "YYYY-MM-DD ...".
_ISO_FORMATS: Final = (
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S%.f%#z",
    "%Y-%m-%d %H:%M:%S%.f UTC",
    "%Y-%m-%d %H:%M:%S%.f GMT",
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%d %H:%M%#z",
)


def _iso_micros(text: pl.Series) -> pl.Series:
    """ISO-8601 text to Int64 microseconds (UTC); null where no known layout fits."""
    frame = pl.DataFrame({"text": text}).with_columns(
        pl.when(pl.col("text").str.slice(10, 1) == "T")
        .then(pl.col("text").str.slice(0, 10) + " " + pl.col("text").str.slice(11))
        .otherwise(pl.col("text"))
        .alias("text"),
        pl.lit(None, dtype=pl.Int64).alias("us"),
    )
    for layout in _ISO_FORMATS:
        todo = frame["us"].is_null() & frame["text"].is_not_null()
        if not todo.any():
            break
        frame = frame.with_columns(
            pl.col("us").fill_null(
                pl.when(todo)
                .then(pl.col("text"))
                .str.to_datetime(layout, strict=False, time_unit="us")
                .dt.epoch("us")
            )
        )
    return frame["us"]


def _timestamp_micros(column: pl.Series, source: str) -> pl.Series:
    """Any supported timestamp column to Int64 Unix microseconds; null where unreadable."""
    dtype = column.dtype
    if isinstance(dtype, pl.Datetime):
        return column.dt.epoch("us")
    if dtype == pl.Date:
        return column.cast(pl.Datetime("us")).dt.epoch("us")
    if dtype.is_numeric():
        return _seconds_to_micros(column.cast(pl.Float64))
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        seconds = _integer_seconds_micros(column.cast(pl.String))
        if seconds is not None:
            return seconds
        text = column.cast(pl.String).str.strip_chars()
        numbers = text.cast(pl.Float64, strict=False)
        micros = _seconds_to_micros(numbers)
        todo = micros.is_null() & text.is_not_null()
        if todo.any():
            micros = micros.fill_null(_iso_micros(pl.select(pl.when(todo).then(text)).to_series()))
        return micros
    raise DataValidationError(
        f"{source}: column 'timestamp' has type {dtype}; expected datetimes, Unix time or "
        "ISO-8601 text."
    )


def _alias_table(event_types: Mapping[str, str | int | EventType] | None) -> dict[str, int]:
    table = {key: int(code) for key, code in EVENT_TYPE_ALIASES.items()}
    for raw, target in (event_types or {}).items():
        table[str(raw).strip().lower()] = int(parse_event_type(target))
    return table


def _event_codes(column: pl.Series, table: Mapping[str, int]) -> pl.Series:
    """Event type codes (UInt8) by a join on the lower-cased name; null where unknown.

    Names are normalised once per distinct value, then joined back on the raw text: a log has
    a handful of distinct types, so this costs one cheap join however long the log is.
    """
    lookup = dict(table)
    if column.dtype.is_integer():
        for code in EventType:
            lookup.setdefault(str(int(code)), int(code))
    raw = column.cast(pl.String)
    distinct = raw.unique().drop_nulls()
    names = pl.DataFrame({"raw": distinct, "key": distinct.str.strip_chars().str.to_lowercase()})
    codes = pl.DataFrame(
        {"key": list(lookup), "code": list(lookup.values())},
        schema={"key": pl.String, "code": pl.UInt8},
    )
    mapping = names.join(codes, on="key", how="inner").select("raw", "code")
    return raw.to_frame("raw").join(mapping, on="raw", how="left", maintain_order="left")["code"]


def _values(column: pl.Series) -> tuple[pl.Series, pl.Series]:
    """``value`` as Float64 (null when absent) and the mask of present but unreadable values."""
    if column.dtype.is_numeric():
        numbers = column.cast(pl.Float64)
        present = numbers.is_not_null()
    else:
        text = column.cast(pl.String).str.strip_chars()
        numbers = text.cast(pl.Float64, strict=False)
        present = text.is_not_null() & (text.str.len_bytes() > 0)
    bad = present & ~(numbers.is_not_null() & numbers.is_finite()).fill_null(False)
    return numbers, bad


# ------------------------------------------------------------------------------ cleaning


def clean_events(
    frame: pl.DataFrame,
    config: CleaningConfig | None = None,
    *,
    source: str = "events",
    event_types: Mapping[str, str | int | EventType] | None = None,
) -> tuple[pl.DataFrame, CleaningReport]:
    """Drop unusable rows of a raw event frame, counting each under a reason.

    Everything is vectorised (Polars expressions, joins, and one sort each for the duplicate
    and bot filters), so 5M rows take about a second on two cores.

    Parameters
    ----------
    frame
        Raw rows in the canonical column names (see the module docstring); values may be text.
    config
        What to drop besides unreadable rows; defaults to :class:`CleaningConfig()`.
        ``time_window=None`` means no window here.
    source
        The name used in the report and in messages (usually the file).
    event_types
        Extra ``{raw name: canonical name or alias}``; they override the built-in aliases.

    Returns
    -------
    (pl.DataFrame, CleaningReport)
        The kept rows in their original order, parsed: ``user_id``/``item_id`` (String),
        ``timestamp`` (Datetime us UTC), ``event_type`` (UInt8 code) and, when present,
        ``value`` (Float64), ``category_id``, ``session_id``, ``event_id`` (String); plus
        ``_row`` (and ``_file``) and any extra columns unchanged. And the report.

    Raises
    ------
    DataValidationError
        When ``user_id``, ``item_id`` or ``timestamp`` is missing, or ``timestamp`` has a type
        that cannot hold times.
    InvalidParameterError
        When ``event_types`` maps to an unknown type.
    """
    config = CleaningConfig() if config is None else config
    for column in _REQUIRED:
        if column not in frame.columns:
            raise DataValidationError(
                f"{source}: required column '{column}' is missing; got columns "
                f"{', '.join(frame.columns) or '(none)'}."
            )
    aliases = _alias_table(event_types)
    if "_row" not in frame.columns:
        frame = frame.with_row_index("_row")
    if "event_type" not in frame.columns:
        frame = frame.with_columns(pl.lit("view", dtype=pl.String).alias("event_type"))
    raw_columns = [c for c in frame.columns if c not in _INTERNAL]
    # One chunk per column (a file reader returns many): every column derived below then has
    # one too, so the expressions that combine them need not re-chunk their inputs each time.
    frame = frame.rechunk()

    micros = _timestamp_micros(frame["timestamp"], source)
    lo, hi = config.bounds()
    lo_us, hi_us = _micros(lo), _micros(hi)
    parsed: dict[str, pl.Series] = {
        "__user": _clean_text(frame["user_id"]),
        "__item": _clean_text(frame["item_id"]),
        "__us": micros,
        "__code": _event_codes(frame["event_type"], aliases),
    }
    bad_value = pl.repeat(False, frame.height, eager=True)
    if "value" in frame.columns:
        parsed["__value"], bad_value = _values(frame["value"])
    for column in ("category_id", "session_id", "event_id"):
        if column in frame.columns:
            parsed[f"__{column}"] = _clean_text(frame[column])
    malformed = (
        frame["_malformed"].fill_null(False)
        if "_malformed" in frame.columns
        else pl.repeat(False, frame.height, eager=True)
    )
    work = frame.with_columns(
        *(series.rename(name) for name, series in parsed.items()),
        malformed.rename("__malformed"),
        bad_value.rename("__bad_value"),
    )
    code = {reason: i for i, reason in enumerate(DROP_REASONS)}
    us = pl.col("__us")
    work = work.with_columns(
        pl.when(pl.col("__malformed"))
        .then(code["malformed_row"])
        .when(pl.col("__user").is_null())
        .then(code["missing_user_id"])
        .when(pl.col("__item").is_null())
        .then(code["missing_item_id"])
        .when(us.is_null())
        .then(code["bad_timestamp"])
        .when((us < lo_us) | (us >= hi_us))
        .then(code["out_of_range_timestamp"])
        .when(pl.col("__code").is_null())
        .then(code["unknown_event_type"])
        .when(pl.col("__bad_value"))
        .then(code["bad_value"])
        .otherwise(None)
        .cast(pl.UInt8)
        .alias("__reason")
    )
    if config.drop_duplicates:
        work = _mark_duplicates(work, raw_columns, code["duplicate"])
    if config.max_events_per_minute is not None:
        bots = _bot_users(work, config.max_events_per_minute)
        if len(bots):
            work = work.with_columns(
                pl.when(pl.col("__reason").is_null() & pl.col("__user").is_in(bots.implode()))
                .then(pl.lit(code["bot_user"], dtype=pl.UInt8))
                .otherwise(pl.col("__reason"))
                .alias("__reason")
            )

    counts = dict.fromkeys(DROP_REASONS, 0)
    for reason_code, count in work.group_by("__reason").len().drop_nulls().iter_rows():
        counts[DROP_REASONS[reason_code]] = int(count)
    shown = ["_row", *(["_file"] if "_file" in work.columns else []), *raw_columns]
    examples: dict[str, tuple[Mapping[str, Any], ...]] = {}
    for reason, count in counts.items():
        if count:
            rows = work.filter(pl.col("__reason") == code[reason]).head(_N_EXAMPLES)
            examples[reason] = tuple(
                _example(row) for row in rows.select(shown).iter_rows(named=True)
            )

    out_columns: list[pl.Expr] = [
        pl.col("__user").alias("user_id"),
        pl.col("__item").alias("item_id"),
        pl.col("__us").cast(pl.Datetime("us")).dt.replace_time_zone("UTC").alias("timestamp"),
        pl.col("__code").alias("event_type"),
    ]
    if "__value" in work.columns:
        out_columns.append(pl.col("__value").alias("value"))
    for column in ("category_id", "session_id", "event_id"):
        if f"__{column}" in work.columns:
            out_columns.append(pl.col(f"__{column}").alias(column))
    extras = [c for c in raw_columns if c not in CANONICAL_COLUMNS]
    internal = [c for c in ("_row", "_file") if c in work.columns]
    # Select before filtering: the raw text columns that are not kept are never copied.
    cleaned = (
        work.lazy()
        .filter(pl.col("__reason").is_null())
        .select(*out_columns, *(pl.col(c) for c in internal + extras))
        .collect()
    )
    report = CleaningReport(
        source=source,
        rows_read=frame.height,
        rows_kept=cleaned.height,
        dropped=counts,
        examples=examples,
        time_window=(_iso(lo), _iso(hi)),
    )
    return cleaned, report


def _micros(moment: datetime) -> int:
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _example(row: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"row": int(row["_row"])}
    if "_file" in row:
        out["file"] = _jsonable(row["_file"])
    out.update((key, _jsonable(value)) for key, value in row.items() if key not in _INTERNAL)
    return out


def _mark_duplicates(work: pl.DataFrame, raw_columns: list[str], reason: int) -> pl.DataFrame:
    """Mark kept rows equal in every raw column to an earlier kept row.

    A 64-bit hash of (user, item, timestamp) first narrows the rows to those that might repeat
    (one sort of the hashes finds the hashes that occur twice); the exact comparison of every
    column then runs on that (usually tiny) subset only.
    """
    key = [c for c in ("user_id", "item_id", "timestamp") if c in raw_columns]
    kept = work["__reason"].is_null()
    hashes = work.select(pl.struct(*key).hash()).to_series()
    ordered = hashes.filter(kept).sort().to_numpy()
    repeated = ordered[1:][ordered[1:] == ordered[:-1]]
    if not len(repeated):
        return work
    maybe = (
        work.select(*raw_columns)
        .with_row_index("__i")
        .filter(kept & hashes.is_in(pl.Series(repeated).unique().implode()))
    )
    repeats = maybe.filter(~pl.struct(*raw_columns).is_first_distinct())["__i"]
    if not len(repeats):
        return work
    reasons = work["__reason"].scatter(repeats, reason)
    return work.with_columns(reasons)


def _bot_users(work: pl.DataFrame, max_events_per_minute: float) -> pl.Series:
    """Users with more than ``max_events_per_minute`` kept events in some 60-second window.

    With the rows of each user sorted by time, a user has ``k = floor(rate) + 1`` events inside
    one window ``[t, t + 60 s)`` exactly when some event and the one ``k - 1`` places later
    (same user) are less than 60 s apart: one sort and one shift, no per-user loop.
    """
    lag = math.floor(max_events_per_minute)  # k - 1
    ordered = (
        work.filter(pl.col("__reason").is_null()).select("__user", "__us").sort("__user", "__us")
    )
    later_user = pl.col("__user").shift(-lag)
    later_us = pl.col("__us").shift(-lag)
    burst = (later_user == pl.col("__user")) & (later_us - pl.col("__us") < _MINUTE_US)
    return ordered.filter(burst.fill_null(False))["__user"].unique()
