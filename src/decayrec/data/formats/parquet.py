"""Generic Parquet files (``format="parquet"``).

Columns are matched as for :mod:`~decayrec.data.formats.csv` (canonical names, or a
``columns=`` mapping); their stored types are kept, so ``timestamp`` may be a Datetime, a Date,
Unix time or text. ``_row`` is the row number in the file.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    map_columns,
    read_failure,
    require_file,
)

__all__ = ["FORMAT", "read_parquet_events"]


def read_parquet_events(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a Parquet event file (see the module docstring)."""
    source = str(path)
    require_file(path, "parquet")
    try:
        scan = pl.scan_parquet(path)
        available = scan.collect_schema().names()
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(source, "parquet", error) from None
    mapping = map_columns(available, columns, source=source, fmt="parquet")
    try:
        frame = (
            scan.with_row_index("_row")
            .select("_row", *(pl.col(column).alias(name) for name, column in mapping.items()))
            .collect()
        )
    except (pl.exceptions.PolarsError, OSError) as error:
        raise read_failure(source, "parquet", error) from None
    return RawEvents(frame, source)


FORMAT = FormatSpec(
    name="parquet",
    description="Parquet; canonical column names or columns= mapping; stored types kept.",
    read=read_parquet_events,
    accepts_columns=True,
)
