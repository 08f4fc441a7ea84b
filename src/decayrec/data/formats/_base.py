"""The reader contract shared by every format, and helpers for reading delimited text.

A *reader* turns one file (or folder) into a :class:`RawEvents`: a Polars frame of raw values
in the canonical column names of :mod:`decayrec.data.clean` plus ``_row`` (0-based data row
in the file), and ``_file`` / ``_malformed`` where they apply. Readers never drop rows: that is
the cleaner's job, which counts each one. They raise :class:`DataValidationError` only when the
file cannot be read as the format at all (missing, empty, wrong column count on the first line,
a required header column missing).
"""

from __future__ import annotations

import csv
import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal, Protocol

import polars as pl

from decayrec.data.clean import CANONICAL_COLUMNS, TimeWindow
from decayrec.errors import DataValidationError, InvalidParameterError

__all__ = [
    "FormatSpec",
    "RawEvents",
    "Reader",
    "check_header",
    "first_line",
    "join_categories",
    "map_columns",
    "quote",
    "read_delimited",
    "read_failure",
    "read_mapped",
    "renamed",
    "require_file",
    "split_line",
]

_EXTRA: Final = "__extra_field__"
#: Polars 2 wants to be told that a schema column absent from a file's first line is fine;
#: Polars 1 accepts it silently and lacks the option.
_INSERT_MISSING: Final[dict[str, str]] = (
    {"missing_columns": "insert"}
    if "missing_columns" in inspect.signature(pl.scan_csv).parameters
    else {}
)


@dataclass(frozen=True, eq=False)
class RawEvents:
    """Rows read by a format reader, not yet cleaned.

    Parameters
    ----------
    frame
        Raw values in canonical column names (``user_id``, ``item_id``, ``timestamp`` at least)
        plus ``_row`` and optionally ``_file``, ``_malformed`` and extra columns (kept for
        examples and duplicate detection).
    source
        The name used in reports and messages (the path as given).
    time_window
        The format's default ``[start, end)`` (used when the cleaning config has none).
    sort_by
        ``None`` keeps file order. Otherwise the cleaned rows are sorted by ``timestamp`` and
        then these extra columns, stably (ties keep file order).
    """

    frame: pl.DataFrame
    source: str
    time_window: TimeWindow | None = None
    sort_by: tuple[str, ...] | None = None


class Reader(Protocol):
    """Reads one file or folder of a format (``columns`` only for the generic formats)."""

    def __call__(self, path: Path, *, columns: Mapping[str, str] | None) -> RawEvents: ...


@dataclass(frozen=True)
class FormatSpec:
    """One entry of :data:`decayrec.data.formats.FORMATS`.

    Parameters
    ----------
    name
        What ``load_events(..., format=name)`` and ``--format`` accept.
    description
        One line for help texts: the layout read and its quirks.
    read
        The reader function.
    accepts_columns
        Whether ``columns=`` (canonical name -> file column) applies (generic formats only).
    """

    name: str
    description: str
    read: Reader
    accepts_columns: bool = False


# ------------------------------------------------------------------------------ helpers


def require_file(path: Path, fmt: str, *, folder_ok: bool = False) -> None:
    """Raise a one-line :class:`DataValidationError` unless ``path`` is a readable file."""
    if not path.exists():
        raise DataValidationError(f"{path}: no such file (format '{fmt}').")
    if path.is_dir() and not folder_ok:
        raise DataValidationError(f"{path}: is a folder; format '{fmt}' reads one file.")


def first_line(path: Path, source: str) -> str:
    """The first line of a text file, without its line break; raises when the file is empty."""
    with path.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        line = handle.readline()
    line = line.rstrip("\r\n")
    if not line.strip():
        raise DataValidationError(f"{source}: the file is empty (no header and no rows).")
    return line


def split_line(line: str, separator: str) -> list[str]:
    """Fields of one delimited line (quotes understood), stripped."""
    fields = next(csv.reader([line], delimiter=separator), [])
    return [f.strip() for f in fields]


def quote(text: str, limit: int = 80) -> str:
    """``repr`` of text, shortened for one-line messages."""
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")


def read_failure(source: str, fmt: str, error: Exception) -> DataValidationError:
    """A one-line error for a file Polars cannot parse at all."""
    reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return DataValidationError(f"{source}: cannot be read as format '{fmt}': {reason}")


def check_header(
    header: Sequence[str],
    required: Sequence[str],
    *,
    source: str,
    fmt: str,
    hint: str = "",
) -> None:
    """Raise naming the first required column the header lacks."""
    for column in required:
        if column not in header:
            raise DataValidationError(
                f"{source} line 1: column '{column}' required by format '{fmt}' is missing from "
                f"the header ({', '.join(header)}){hint}."
            )


def read_delimited(
    path: Path,
    *,
    source: str,
    fmt: str,
    names: Sequence[str],
    select: Sequence[str],
    separator: str = ",",
    has_header: bool,
    cast: Mapping[str, pl.DataType] | None = None,
) -> pl.DataFrame:
    """Read delimited text as String columns, with ``_row`` and ``_malformed``.

    ``names`` are all the columns of a line, in order (the header, or the format's layout for a
    headerless file); only ``select`` are kept. Lines with more fields than ``names`` are marked
    ``_malformed`` (read with one spare column, so Polars does not fail on them); short lines
    read as nulls. Blank lines are rows of nulls, so ``_row`` counts lines after the header.
    """
    if has_header and _only_header(path):  # Polars 1 reads a phantom row of nulls here
        columns: dict[str, pl.DataType] = {"_row": pl.UInt32()}
        columns.update({name: pl.String() for name in select})
        columns["_malformed"] = pl.Boolean()
        return pl.DataFrame(schema=columns)
    schema = {name: pl.String for name in names}
    schema[_EXTRA] = pl.String
    try:
        frame = (
            pl.scan_csv(
                path,
                has_header=False,
                skip_rows=1 if has_header else 0,
                separator=separator,
                schema=schema,
                truncate_ragged_lines=True,
                encoding="utf8-lossy",
                raise_if_empty=False,
                **_INSERT_MISSING,  # type: ignore[arg-type]
            )
            .with_row_index("_row")
            .select(
                "_row",
                *select,
                pl.col(_EXTRA).is_not_null().alias("_malformed"),
            )
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(source, fmt, error) from None
    if cast:
        frame = frame.with_columns(pl.col(c).cast(t, strict=False) for c, t in cast.items())
    return frame


def read_mapped(
    path: Path,
    mapping: Mapping[str, str],
    *,
    header: Sequence[str],
    source: str,
    fmt: str,
    separator: str = ",",
) -> pl.DataFrame:
    """The columns of ``mapping`` (canonical name -> header column) of a file with a header.

    Each mapped file column is read once, however many names map to it; the frame holds the
    bookkeeping columns and then the canonical names in ``mapping`` order (see :func:`renamed`).
    """
    return renamed(
        read_delimited(
            path,
            source=source,
            fmt=fmt,
            names=header,
            select=sorted(set(mapping.values()), key=header.index),
            separator=separator,
            has_header=True,
        ),
        mapping,
    )


def _only_header(path: Path) -> bool:
    """Whether nothing but blank space follows the first line."""
    with path.open("rb") as handle:
        handle.readline()
        return not handle.read(4096).strip()


def map_columns(
    available: Sequence[str],
    columns: Mapping[str, str] | None,
    *,
    source: str,
    fmt: str,
) -> dict[str, str]:
    """``{canonical name: file column}`` for a generic file.

    Columns already named canonically need no mapping; ``columns`` adds or overrides entries.
    ``user_id``, ``item_id`` and ``timestamp`` are required.
    """
    mapping = {name: name for name in CANONICAL_COLUMNS if name in available}
    for canonical, column in (columns or {}).items():
        if canonical not in CANONICAL_COLUMNS:
            raise InvalidParameterError(
                f"The 'columns' parameter of load_events maps canonical names to file columns; "
                f"{canonical!r} is not one of {', '.join(CANONICAL_COLUMNS)}."
            )
        if column not in available:
            raise DataValidationError(
                f"{source} line 1: column {column!r} (given for '{canonical}') is not in the "
                f"file; it has {', '.join(available)}."
            )
        mapping[canonical] = column
    for canonical in ("user_id", "item_id", "timestamp"):
        if canonical not in mapping:
            raise DataValidationError(
                f"{source} line 1: required column '{canonical}' is missing (the file has "
                f"{', '.join(available)}); name it with columns={{'{canonical}': ...}} or "
                f"use a preset format instead of '{fmt}'."
            )
    return mapping


def renamed(frame: pl.DataFrame, mapping: Mapping[str, str]) -> pl.DataFrame:
    """Select the mapped file columns under their canonical names (keeping bookkeeping)."""
    keep = [c for c in ("_row", "_file", "_malformed") if c in frame.columns]
    return frame.select(*keep, *(pl.col(column).alias(name) for name, column in mapping.items()))


def join_categories(
    frame: pl.DataFrame, categories: pl.DataFrame, *, keep: Literal["first", "last"] = "first"
) -> pl.DataFrame:
    """``frame`` with the ``category_id`` of its ``item_id`` from a side table, rows in order.

    ``categories`` holds ``item_id`` and ``category_id`` text (a catalogue file beside the
    events); item ids are stripped, and of several rows for one item the first (or last) one
    counts. Items the table lacks get a null category.
    """
    table = (
        categories.select("item_id", "category_id")
        .with_columns(pl.col("item_id").str.strip_chars())
        .drop_nulls("item_id")
        .unique("item_id", keep=keep, maintain_order=True)
    )
    return frame.join(table, on="item_id", how="left", maintain_order="left")
