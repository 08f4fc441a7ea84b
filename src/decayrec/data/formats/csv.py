"""Generic delimited text with a header (``format="csv"``).

The header names the columns. Columns already named canonically (``user_id``, ``item_id``,
``timestamp``, ``event_type``, ``value``, ``category_id``, ``session_id``, ``event_id``) need no
mapping; ``columns={"user_id": "visitor"}`` maps others. Other columns are not read. The
separator is sniffed from the header: the most frequent of ``,``, tab, ``;`` and ``|``.
Without an ``event_type`` column every event is a view.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from decayrec.data.formats._base import (
    FormatSpec,
    RawEvents,
    first_line,
    map_columns,
    read_mapped,
    require_file,
    split_line,
)
from decayrec.errors import DataValidationError

__all__ = ["FORMAT", "read_csv_events", "read_header", "sniff_separator"]

_SEPARATORS = (",", "\t", ";", "|")


def sniff_separator(line: str) -> str:
    """The most frequent of ``, \\t ; |`` in a header line (comma on a tie or when none occurs).

    >>> sniff_separator("user;item;ts")
    ';'
    """
    counts = {sep: line.count(sep) for sep in _SEPARATORS}
    best = max(_SEPARATORS, key=lambda sep: counts[sep])
    return best if counts[best] > 0 else ","


def read_header(path: Path, source: str, separator: str | None = None) -> tuple[list[str], str]:
    """The header fields of a delimited file and its separator; raises on duplicate names."""
    line = first_line(path, source)
    separator = sniff_separator(line) if separator is None else separator
    header = [name or f"column_{i + 1}" for i, name in enumerate(split_line(line, separator))]
    seen: set[str] = set()
    for name in header:
        if name in seen:
            raise DataValidationError(
                f"{source} line 1: column {name!r} appears twice in the header."
            )
        seen.add(name)
    return header, separator


def read_csv_events(path: Path, *, columns: Mapping[str, str] | None = None) -> RawEvents:
    """Read a generic CSV/TSV event file (see the module docstring)."""
    source = str(path)
    require_file(path, "csv")
    header, separator = read_header(path, source)
    mapping = map_columns(header, columns, source=source, fmt="csv")
    frame = read_mapped(path, mapping, header=header, source=source, fmt="csv", separator=separator)
    return RawEvents(frame, source)


FORMAT = FormatSpec(
    name="csv",
    description="Delimited text with a header; canonical column names or columns= mapping.",
    read=read_csv_events,
    accepts_columns=True,
)
