"""Taobao UserBehavior (Alibaba Tianchi data set 649), ``format="taobao"``.

Layout: no header; ``user_id,item_id,category_id,behavior_type,timestamp`` with behavior_type
in ``pv``, ``buy``, ``cart``, ``fav`` (views, purchases, carts, favourites) and Unix seconds.
A first line that starts with ``user_id`` (or ``userid``/``user``) is taken as a header and
skipped.

The official range is 2017-11-25 to 2017-12-03 in China time (UTC+8); the full file has a
few rows outside it, which are dropped as ``out_of_range_timestamp`` by default
(:data:`TAOBAO_WINDOW`; pass ``CleaningConfig(time_window=(None, None))`` to keep them).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Final

from decayrec.data.clean import TimeWindow
from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    first_line,
    quote,
    read_delimited,
    require_file,
    split_line,
)
from decayrec.errors import DataValidationError

__all__ = ["CHINA_TIME", "FORMAT", "TAOBAO_WINDOW", "read_taobao"]

CHINA_TIME: Final = timezone(timedelta(hours=8), "UTC+08:00")
#: 2017-11-25 00:00 to 2017-12-04 00:00 China time: the nine days the data set covers.
TAOBAO_WINDOW: Final[TimeWindow] = (
    datetime(2017, 11, 25, tzinfo=CHINA_TIME),
    datetime(2017, 12, 4, tzinfo=CHINA_TIME),
)
_NAMES: Final = ("user_id", "item_id", "category_id", "event_type", "timestamp")
_HEADER_WORDS: Final = frozenset({"user_id", "userid", "user"})


def read_taobao(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a Taobao UserBehavior file (see the module docstring)."""
    source = str(path)
    require_file(path, "taobao")
    line = first_line(path, source)
    fields = split_line(line, ",")
    if len(fields) != len(_NAMES):
        raise DataValidationError(
            f"{source} line 1: expected {len(_NAMES)} columns for format 'taobao' "
            f"(user_id,item_id,category_id,behavior_type,timestamp), got {len(fields)} "
            f"({quote(line)})."
        )
    frame = read_delimited(
        path,
        source=source,
        fmt="taobao",
        names=_NAMES,
        select=_NAMES,
        has_header=fields[0].lower() in _HEADER_WORDS,
    )
    return RawEvents(frame, source, time_window=TAOBAO_WINDOW)


FORMAT = FormatSpec(
    name="taobao",
    description="Taobao UserBehavior: no header, user,item,category,pv|buy|cart|fav,Unix s; "
    "keeps 2017-11-25..12-03 China time.",
    read=read_taobao,
)
