"""RetailRocket e-commerce events (Kaggle), ``format="retailrocket"``.

``events.csv``: header ``timestamp,visitorid,event,itemid,transactionid`` with timestamps in
milliseconds and events ``view``, ``addtocart`` and ``transaction`` (view, cart, purchase).
``transactionid`` is kept as an extra column (examples, duplicate detection). ``path`` is the
file or its folder. When ``item_properties_part*.csv`` (``timestamp,itemid,property,value``)
lie beside it, each item's category is its latest ``categoryid`` property.
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
    join_categories,
    read_failure,
    read_mapped,
    require_file,
)
from decayrec.data.formats.csv import read_header

__all__ = ["FORMAT", "read_retailrocket"]

_COLUMNS: Final = {
    "timestamp": "timestamp",
    "user_id": "visitorid",
    "event_type": "event",
    "item_id": "itemid",
}


def _categories(folder: Path) -> pl.DataFrame | None:
    """Every ``categoryid`` property of the items, oldest first (the latest one counts)."""
    parts = sorted(folder.glob("item_properties*.csv"))
    if not parts:
        return None
    try:
        table = pl.concat(
            [
                pl.scan_csv(p, infer_schema=False).filter(pl.col("property") == "categoryid")
                for p in parts
            ]
        ).collect()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(str(parts[0]), "retailrocket", error) from None
    return (
        table.with_columns(pl.col("timestamp").cast(pl.Int64, strict=False).alias("__t"))
        .sort("__t", maintain_order=True, nulls_last=False)
        .select(
            pl.col("itemid").alias("item_id"),
            pl.col("value").str.strip_chars().alias("category_id"),
        )
    )


def read_retailrocket(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read RetailRocket ``events.csv`` (see the module docstring)."""
    require_file(path, "retailrocket", folder_ok=True)
    if path.is_dir():
        path = path / "events.csv"
        require_file(path, "retailrocket")
    source = str(path)
    header, _ = read_header(path, source, ",")
    check_header(header, list(_COLUMNS.values()), source=source, fmt="retailrocket")
    mapping = dict(_COLUMNS)
    if "transactionid" in header:
        mapping["transactionid"] = "transactionid"
    frame = read_mapped(path, mapping, header=header, source=source, fmt="retailrocket")
    frame = frame.with_columns(pl.col("item_id").str.strip_chars())
    categories = _categories(path.parent)
    if categories is not None:
        frame = join_categories(frame, categories, keep="last")
    return RawEvents(frame, source)


FORMAT = FormatSpec(
    name="retailrocket",
    description="RetailRocket events.csv (ms timestamps; view/addtocart/transaction); "
    "categories from item_properties when present.",
    read=read_retailrocket,
)
