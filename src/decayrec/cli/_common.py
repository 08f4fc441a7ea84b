"""Options and helpers shared by several subcommands."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)

from decayrec._time import from_seconds, parse_instant
from decayrec.cli._app import console
from decayrec.data import CleaningConfig, CleaningReport, EventLog, load_events
from decayrec.errors import InvalidParameterError

__all__ = [
    "BotRateOption",
    "DataOption",
    "FormatOption",
    "WindowOption",
    "load_with_report",
    "parse_window",
    "progress_bar",
    "step",
]

DataOption = Annotated[
    Path, typer.Option("--data", help="Event log file or folder.", show_default=False)
]
FormatOption = Annotated[
    str,
    typer.Option(
        "--format",
        "-f",
        help="csv, parquet, jsonl, taobao, rees46, diginetica, yoochoose, movielens, amazon, "
        "retailrocket.",
    ),
]
BotRateOption = Annotated[
    float | None,
    typer.Option(
        "--max-events-per-minute",
        help="Drop users who exceed this many events in one minute (bots).",
    ),
]
WindowOption = Annotated[
    str | None,
    typer.Option(
        "--window",
        help="Keep events in START..END (ISO-8601; either side may be empty); others are "
        "dropped as out-of-range. Default: the format's own window.",
    ),
]


def parse_window(text: str | None) -> tuple[datetime | None, datetime | None] | None:
    """``"2017-11-25..2017-12-04"`` -> aware datetimes; ``None`` keeps the format's default."""
    if text is None:
        return None
    start, sep, end = text.partition("..")
    if not sep:
        raise InvalidParameterError(
            f"--window must look like START..END (ISO-8601, either side may be empty). "
            f"Got {text!r} instead."
        )
    return tuple(  # type: ignore[return-value]
        from_seconds(parse_instant(side, name="--window")) if side.strip() else None
        for side in (start, end)
    )


def progress_bar() -> Progress:
    """A rich progress bar that writes to stderr (stdout stays for results)."""
    return Progress(
        SpinnerColumn(),
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


@contextmanager
def step(description: str) -> Iterator[None]:
    """Show a spinner while one long step runs."""
    with console.status(description):
        yield


def load_with_report(
    path: Path,
    fmt: str,
    *,
    max_events_per_minute: float | None = None,
    window: str | None = None,
    quiet: bool = False,
) -> tuple[EventLog, CleaningReport]:
    """Load and clean a log, printing the cleaning report (what was dropped and why)."""
    config = CleaningConfig(
        max_events_per_minute=max_events_per_minute, time_window=parse_window(window)
    )
    with step(f"Loading {path} as {fmt}"):
        events, report = load_events(path, fmt, cleaning=config)
    if not quiet:
        console.print(report.to_table())
    return events, report
