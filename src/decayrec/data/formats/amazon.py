"""Amazon review logs (McAuley, UCSD), ``format="amazon"``; every event is a ``review``.

Recognised from the first line:

* the prepared 5-core interaction CSV (e.g. Beauty): header ``user_id,item_id,timestamp,
  seq_pos`` with day-resolution Unix seconds; ``seq_pos`` orders a user's same-day events;
* the ratings-only CSV: no header, ``user,item,rating,timestamp``; value = rating;
* review JSON lines (``reviewerID``, ``asin``, ``overall``, ``unixReviewTime``); value =
  ``overall``.

Rows are ordered by timestamp, then ``seq_pos`` when there is one; ties keep file order.
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
    read_mapped,
    require_file,
    split_line,
)
from decayrec.data.formats.csv import read_header
from decayrec.data.formats.jsonl import scan_jsonl
from decayrec.errors import DataValidationError

__all__ = ["FORMAT", "read_amazon"]

_JSON_KEYS: Final = {
    "user_id": "reviewerID",
    "item_id": "asin",
    "timestamp": "unixReviewTime",
    "value": "overall",
}
_RATINGS: Final = ("user_id", "item_id", "value", "timestamp")


def read_amazon(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read an Amazon review log (see the module docstring)."""
    source = str(path)
    require_file(path, "amazon")
    line = first_line(path, source)
    sort_by: tuple[str, ...] = ()
    if line.lstrip().startswith("{"):
        frame, keys = scan_jsonl(path, source, "amazon")
        check_header(keys, list(_JSON_KEYS.values())[:3], source=source, fmt="amazon")
        frame = frame.select(
            "_row", *(pl.col(k).alias(n) for n, k in _JSON_KEYS.items() if k in keys)
        )
    else:
        fields = split_line(line, ",")
        if "user_id" in fields:
            header, _ = read_header(path, source, ",")
            check_header(header, ("user_id", "item_id", "timestamp"), source=source, fmt="amazon")
            names = ("user_id", "item_id", "timestamp", "seq_pos")
            mapping = {name: name for name in names if name in header}
            frame = read_mapped(path, mapping, header=header, source=source, fmt="amazon")
            if "seq_pos" in header:
                frame = frame.with_columns(pl.col("seq_pos").cast(pl.Int64, strict=False))
                sort_by = ("seq_pos",)
        elif len(fields) == len(_RATINGS):
            frame = read_delimited(
                path, source=source, fmt="amazon", names=_RATINGS, select=_RATINGS, has_header=False
            )
        else:
            raise DataValidationError(
                f"{source} line 1: expected a 'user_id,item_id,timestamp[,seq_pos]' header, "
                f"{len(_RATINGS)} columns (user,item,rating,timestamp) or a JSON object for "
                f"format 'amazon', got {len(fields)} columns ({quote(line)})."
            )
    frame = frame.with_columns(pl.lit("review").alias("event_type"))
    return RawEvents(frame, source, sort_by=sort_by)


FORMAT = FormatSpec(
    name="amazon",
    description="Amazon reviews: user_id,item_id,timestamp,seq_pos (5-core), ratings-only CSV "
    "or review JSON lines; ordered by time.",
    read=read_amazon,
)
