"""Generic JSON lines, one object per line (``format="jsonl"``).

Keys are matched as for :mod:`~decayrec.data.formats.csv` (canonical names, or a ``columns=``
mapping); a key missing from an object reads as null. Blank lines are skipped, so ``_row`` is
the number of the object in the file (0-based). The whole file is used to infer types, so a
key that holds numbers in some lines and text in others is read as text.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import polars as pl

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    first_line,
    map_columns,
    read_failure,
    renamed,
    require_file,
)

__all__ = ["FORMAT", "read_jsonl_events", "scan_jsonl"]


def scan_jsonl(path: Path, source: str, fmt: str) -> tuple[pl.DataFrame, list[str]]:
    """All objects of a JSON-lines file with ``_row``, and the keys seen."""
    first_line(path, source)  # raises on an empty file
    try:
        frame = pl.read_ndjson(path, infer_schema_length=None).with_row_index("_row")
    except (pl.exceptions.PolarsError, OSError, ValueError) as error:
        raise read_failure(source, fmt, error) from None
    return frame, [c for c in frame.columns if c != "_row"]


def read_jsonl_events(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a JSON-lines event file (see the module docstring)."""
    source = str(path)
    require_file(path, "jsonl")
    frame, available = scan_jsonl(path, source, "jsonl")
    mapping = map_columns(available, columns, source=source, fmt="jsonl")
    return RawEvents(renamed(frame, mapping), source)


FORMAT = FormatSpec(
    name="jsonl",
    description="JSON lines (one object per line); canonical keys or columns= mapping.",
    read=read_jsonl_events,
    accepts_columns=True,
)
