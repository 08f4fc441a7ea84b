"""REES46 Open CDP e-commerce logs (``format="rees46"``).

Layout: a header ``event_time,event_type,product_id,category_id,category_code,brand,price,
user_id,user_session`` with ``event_time`` like ``2019-10-01 00:00:00 UTC``. Read as: item =
``product_id``, category = ``category_id``, value = ``price``, session = ``user_session``.
Event types ``view``, ``cart`` and ``purchase`` are known; ``remove_from_cart`` (in some
months' files) has no canonical type and is dropped as ``unknown_event_type`` (counted), unless
mapped with ``event_types={"remove_from_cart": ...}``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Final

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    check_header,
    read_mapped,
    require_file,
)
from decayrec.data.formats.csv import read_header

__all__ = ["FORMAT", "read_rees46"]

_COLUMNS: Final = {
    "user_id": "user_id",
    "item_id": "product_id",
    "timestamp": "event_time",
    "event_type": "event_type",
    "category_id": "category_id",
    "value": "price",
    "session_id": "user_session",
}
_REQUIRED: Final = ("event_time", "event_type", "product_id", "user_id")


def read_rees46(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a REES46 monthly file (see the module docstring)."""
    source = str(path)
    require_file(path, "rees46")
    header, _ = read_header(path, source, ",")
    check_header(header, _REQUIRED, source=source, fmt="rees46")
    mapping = {name: column for name, column in _COLUMNS.items() if column in header}
    frame = read_mapped(path, mapping, header=header, source=source, fmt="rees46")
    return RawEvents(frame, source)


FORMAT = FormatSpec(
    name="rees46",
    description="REES46 Open CDP: event_time,event_type,product_id,category_id,...,price,"
    "user_id,user_session.",
    read=read_rees46,
)
