"""``decayrec data inspect|clean``: look at a log and clean it, reporting every dropped row."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import polars as pl
import typer
from rich.table import Table

from decayrec._time import from_seconds
from decayrec.cli._app import app, console
from decayrec.cli._common import BotRateOption, FormatOption, WindowOption, load_with_report
from decayrec.data import EventLog, EventType
from decayrec.errors import InvalidParameterError

__all__ = ["summary_table"]

data_app = typer.Typer(help="Inspect and clean behaviour logs.", no_args_is_help=True)
app.add_typer(data_app, name="data")

PathArgument = Annotated[Path, typer.Argument(help="Event log file or folder.")]


@data_app.command("inspect")
def inspect(
    path: PathArgument,
    fmt: FormatOption = "csv",
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
) -> None:
    """Load a log, print the cleaning report and a summary of what is left."""
    events, _ = load_with_report(
        path, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    console.print(summary_table(events, title=str(path)))


@data_app.command("clean")
def clean(
    path: PathArgument,
    out: Annotated[Path, typer.Option("--out", "-o", help="Cleaned log (.parquet or .csv).")],
    fmt: FormatOption = "csv",
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
    report_json: Annotated[
        Path | None, typer.Option("--report", help="Also write the cleaning report as JSON.")
    ] = None,
) -> None:
    """Clean a log and write it in the canonical columns (readable with ``--format csv``)."""
    if out.suffix not in (".parquet", ".csv"):
        raise InvalidParameterError(
            f"--out must end in .parquet or .csv. Got {str(out)!r} instead."
        )
    events, report = load_with_report(
        path, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    frame = events.to_frame()
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.write_parquet(out)
    else:
        frame.with_columns(pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%S%.fZ")).write_csv(out)
    if report_json is not None:
        report_json.write_text(json.dumps(report.to_dict(), indent=2, default=str) + "\n")
    console.print(f"Wrote {events.n_events:,} events to {out}.")


def summary_table(events: EventLog, *, title: str) -> Table:
    """Counts, time range and per-type totals of a log, as a rich table."""
    table = Table(title=f"Summary of {title}", show_header=False)
    table.add_column("what")
    table.add_column("value", justify="right")
    table.add_row("events", f"{events.n_events:,}")
    table.add_row("users", f"{len(events.users):,}")
    table.add_row("items", f"{len(events.items):,}")
    table.add_row("categories", f"{len(events.categories):,}")
    if events.n_events:
        first, last = events.time_range()
        table.add_row("first event", from_seconds(first).isoformat())
        table.add_row("last event", from_seconds(last).isoformat())
        per_user = np.bincount(events.user_index)
        per_user = per_user[per_user > 0]
        table.add_row(
            "events per user",
            f"median {np.median(per_user):g}, mean {per_user.mean():.1f}, max {per_user.max()}",
        )
        counts = np.bincount(events.event_type, minlength=len(EventType))
        for event_type in EventType:
            if counts[event_type]:
                table.add_row(f"  {event_type.label}", f"{counts[event_type]:,}")
    return table
