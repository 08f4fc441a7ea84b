"""YooChoose (RecSys Challenge 2015) click and buy logs, ``format="yoochoose"``.

Three layouts are recognised from the first line:

* the prepared split files of session-rec/GRU4Rec: tab-separated with a header
  ``SessionId ItemId Time`` (Unix seconds, fractional), read as clicks;
* the original ``yoochoose-clicks.dat``: no header, ``session,timestamp,item,category`` with
  ISO-8601 times, read as clicks; category ``0`` (unknown) reads as no category;
* the original ``yoochoose-buys.dat``: no header, ``session,timestamp,item,price,quantity``,
  read as purchases with value = price.

A folder reads ``yoochoose-clicks.dat`` and, when present, ``yoochoose-buys.dat`` (``_file``
names each row's file). The log has no user ids: the user is the session.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

import polars as pl

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    check_header,
    first_line,
    quote,
    read_delimited,
    require_file,
    split_line,
)
from decayrec.data.formats.csv import read_header
from decayrec.errors import DataValidationError

__all__ = ["FORMAT", "read_yoochoose"]

_CLICKS: Final = ("session_id", "timestamp", "item_id", "category_id")
_BUYS: Final = ("session_id", "timestamp", "item_id", "value", "quantity")
_FOLDER_FILES: Final = ("yoochoose-clicks.dat", "yoochoose-buys.dat")


def _read_file(path: Path, source: str) -> pl.DataFrame:
    line = first_line(path, source)
    if "\t" in line:
        header, _ = read_header(path, source, "\t")
        check_header(header, ("SessionId", "ItemId", "Time"), source=source, fmt="yoochoose")
        frame = read_delimited(
            path,
            source=source,
            fmt="yoochoose",
            names=header,
            select=["SessionId", "ItemId", "Time"],
            separator="\t",
            has_header=True,
        )
        return frame.select(
            "_row",
            "_malformed",
            pl.col("SessionId").alias("user_id"),
            pl.col("ItemId").alias("item_id"),
            pl.col("Time").alias("timestamp"),
            pl.lit("click").alias("event_type"),
            pl.col("SessionId").alias("session_id"),
        )
    fields = split_line(line, ",")
    if len(fields) not in (len(_CLICKS), len(_BUYS)):
        raise DataValidationError(
            f"{source} line 1: expected a tab-separated 'SessionId ItemId Time' header, or "
            f"{len(_CLICKS)} (clicks) or {len(_BUYS)} (buys) comma-separated columns for "
            f"format 'yoochoose', got {len(fields)} ({quote(line)})."
        )
    clicks = len(fields) == len(_CLICKS)
    names = _CLICKS if clicks else _BUYS
    frame = read_delimited(
        path, source=source, fmt="yoochoose", names=names, select=names, has_header=False
    )
    if clicks:
        frame = frame.with_columns(
            pl.when(pl.col("category_id").str.strip_chars() != "0")
            .then(pl.col("category_id"))
            .alias("category_id"),
            pl.lit("click").alias("event_type"),
        )
    else:
        frame = frame.with_columns(pl.lit("purchase").alias("event_type"))
    return frame.with_columns(pl.col("session_id").alias("user_id"))


def read_yoochoose(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a YooChoose file or the folder of the original files (see the module docstring)."""
    source = str(path)
    require_file(path, "yoochoose", folder_ok=True)
    if path.is_file():
        return RawEvents(_read_file(path, source), source)
    files = [path / name for name in _FOLDER_FILES if (path / name).is_file()]
    if not files or files[0].name != _FOLDER_FILES[0]:
        raise DataValidationError(
            f"{path}: format 'yoochoose' needs {_FOLDER_FILES[0]} in the folder (or name one file)."
        )
    parts = [
        _read_file(file, source).with_columns(pl.lit(file.name).alias("_file")) for file in files
    ]
    return RawEvents(pl.concat(parts, how="diagonal_relaxed"), source)


FORMAT = FormatSpec(
    name="yoochoose",
    description="YooChoose: 'SessionId ItemId Time' TSV, or the original clicks/buys .dat "
    "files or their folder; user = session.",
    read=read_yoochoose,
)
