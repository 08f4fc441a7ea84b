"""``load_events``: read a behaviour log in a named format, clean it, build an :class:`EventLog`.

Why one entry point: the CLI, the benchmarks and users' notebooks all need "this file, in this
layout, as a clean event log, and tell me what was thrown away". Reading is vectorised Polars
(no Python loop over rows), cleaning is :func:`~decayrec.data.clean.clean_events`, and indexing
is :meth:`EventLog.from_frame`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from decayrec.data.clean import (
    REASON_COLUMNS,
    CleaningConfig,
    CleaningReport,
    clean_events,
)
from decayrec.data.formats import get_format
from decayrec.data.schema import EventLog, EventType
from decayrec.errors import DataValidationError, InvalidParameterError
from decayrec.types import StrPath

__all__ = ["load_events"]


def load_events(
    path: StrPath,
    format: str = "csv",
    *,
    columns: Mapping[str, str] | None = None,
    event_types: Mapping[str, str] | None = None,
    cleaning: CleaningConfig | None = None,
    progress: bool = False,
) -> tuple[EventLog, CleaningReport]:
    """Read, clean and index a behaviour log.

    Parameters
    ----------
    path
        The file (or, for ``diginetica``, ``movielens``, ``yoochoose`` and ``retailrocket``,
        the folder) to read.
    format
        A name in :data:`decayrec.data.formats.FORMATS`: ``csv``, ``parquet``, ``jsonl``
        (generic) or a preset: ``taobao``, ``rees46``, ``diginetica``, ``yoochoose``,
        ``movielens``, ``amazon``, ``retailrocket``. Each preset's module docstring describes
        the layout it reads.
    columns
        Generic formats only: ``{canonical name: file column}`` for columns not already named
        ``user_id``, ``item_id``, ``timestamp``, ``event_type``, ``value``, ``category_id``,
        ``session_id`` or ``event_id``. Without an event type column every event is a view.
    event_types
        Extra ``{name in the file: canonical type or alias}``, e.g. ``{"1": "view"}``; these
        override the built-in aliases.
    cleaning
        What to drop (duplicates, a time window, bots); defaults to ``CleaningConfig()``. With
        ``time_window=None`` the format's own window applies (Taobao: its nine days).
    progress
        Show what is being done on stderr (for long loads from a terminal).

    Returns
    -------
    (EventLog, CleaningReport)
        The log in file order (``diginetica`` and ``amazon`` in time order; ties always keep
        file order) and the report of every dropped row.

    Raises
    ------
    InvalidParameterError
        For an unknown format, ``columns`` with a preset, or a bad ``event_types`` target.
    DataValidationError
        When the file cannot be read as the format at all: missing or empty file, wrong column
        count on the first line, a required column missing from the header, or no usable row.
        The one-line message names the file, row or line, column and value.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> _ = (folder / "events.csv").write_text(
    ...     "user_id,item_id,timestamp,event_type\\n"
    ...     "u1,i1,2024-03-01T10:00:00Z,view\\n"
    ...     "u1,i2,1709287300,purchase\\n"
    ...     ",i3,1709287400,view\\n"
    ... )
    >>> events, report = load_events(folder / "events.csv")
    >>> events.n_events, report.rows_read, report.dropped["missing_user_id"]
    (2, 3, 1)
    """
    spec = get_format(format)
    if columns and not spec.accepts_columns:
        raise InvalidParameterError(
            f"The 'columns' parameter of load_events applies to the csv, parquet and jsonl "
            f"formats only; format '{spec.name}' has a fixed layout. Got {dict(columns)!r}."
        )
    config = CleaningConfig() if cleaning is None else cleaning
    with _status(progress, f"Reading {path} as {spec.name}") as say:
        raw = spec.read(Path(path), columns=columns)
        if config.time_window is None and raw.time_window is not None:
            config = replace(config, time_window=raw.time_window)
        say(f"Cleaning {raw.frame.height:,} rows of {raw.source}")
        frame, report = clean_events(raw.frame, config, source=raw.source, event_types=event_types)
        if report.rows_read == 0:
            raise DataValidationError(f"{raw.source}: the file holds no events (no data rows).")
        if report.rows_kept == 0:
            raise DataValidationError(_nothing_usable(report, spec.name))
        if raw.sort_by is not None:
            frame = frame.sort(["timestamp", *raw.sort_by], maintain_order=True, nulls_last=True)
        say(f"Indexing {report.rows_kept:,} events")
        events = EventLog.from_frame(frame, source=raw.source)
    return events, report


def _nothing_usable(report: CleaningReport, fmt: str) -> str:
    """One line saying why no row could be used, naming the first row of the main reason."""
    reason = max(report.dropped, key=lambda r: report.dropped[r])
    example: Mapping[str, Any] = report.examples[reason][0]
    where = f"{report.source}"
    if "file" in example:
        where += f" ({example['file']})"
    where += f" row {example['row']}"
    column = REASON_COLUMNS[reason]
    value = example.get(column)
    detail = {
        "malformed_row": f"the line has more fields than format '{fmt}' has columns",
        "missing_user_id": "column 'user_id' is empty",
        "missing_item_id": "column 'item_id' is empty",
        "bad_timestamp": f"column 'timestamp' is {value!r}; expected Unix time or ISO-8601 text",
        "out_of_range_timestamp": (
            f"column 'timestamp' is {value!r}, outside {report.time_window[0]} .. "
            f"{report.time_window[1]}"
        ),
        "unknown_event_type": (
            f"column 'event_type' is {value!r}; expected one of "
            f"{', '.join(t.label for t in EventType)} (or map it with event_types=)"
        ),
        "bad_value": f"column 'value' is {value!r}; expected a number",
        "duplicate": "the row repeats an earlier one",
        "bot_user": f"user {value!r} exceeds max_events_per_minute",
    }[reason]
    counts = ", ".join(f"{n:,} {r}" for r, n in report.dropped.items() if n)
    return (
        f"{where}: {detail}. No row of {report.rows_read:,} could be used ({counts}); "
        f"is this a '{fmt}' file?"
    )


class _Say:
    """Updates a rich status line, or does nothing when progress is off."""

    def __init__(self, status: Any | None) -> None:
        self._status = status

    def __call__(self, text: str) -> None:
        if self._status is not None:
            self._status.update(text)


@contextlib.contextmanager
def _status(enabled: bool, first: str) -> Iterator[_Say]:
    if not enabled:
        yield _Say(None)
        return
    from rich.console import Console

    with Console(stderr=True).status(first) as status:
        yield _Say(status)
