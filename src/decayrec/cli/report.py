"""``decayrec report decay``: what a fitted LearnedDecay learned, as tables and a plot."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from decayrec.cli._app import app, console
from decayrec.errors import InvalidParameterError
from decayrec.eval.plots import plot_learned_half_lives
from decayrec.models import LearnedDecay, load_model

__all__: list[str] = []

report_app = typer.Typer(help="Read what a fitted model learned.", no_args_is_help=True)
app.add_typer(report_app, name="report")


@report_app.command("decay")
def decay(
    model_dir: Annotated[
        Path, typer.Option("--model", "-m", help="A folder written by `decayrec fit`.")
    ],
    png: Annotated[
        Path | None, typer.Option(help="Write the learned kernels as a PNG here.")
    ] = None,
    top: Annotated[int, typer.Option(help="Categories to list (most events first).")] = 20,
) -> None:
    """Learned half-lives (95 % intervals), event weights and re-purchase cycles."""
    if top < 1:
        raise InvalidParameterError(f"--top must be at least 1. Got {top} instead.")
    model = load_model(model_dir)
    if not isinstance(model, LearnedDecay):
        raise InvalidParameterError(
            f"{model_dir}: holds a {type(model).__name__}; `report decay` reads a learned-decay "
            "model (fit one with `decayrec fit --model learned-decay`)."
        )
    table = model.half_lives_
    params = model.parameters_
    overall = table.filter(table["level"] == "global").row(0, named=True)
    console.print(
        f"global half-life {_days(overall['half_life_days'])} "
        f"[{_days(overall['lower_days'])}, {_days(overall['upper_days'])}]; "
        f"session share {params.session_share:.2f}; "
        "evidence mix " + _mix(params.sources) + "; within a visit " + _mix(params.session_sources)
    )
    console.print(
        f"new interests (weight {params.exploration:.2f}): {params.familiar_share:.0%} start in "
        "the shopper's own categories, the rest where the shop's do"
    )
    categories = table.filter(table["level"] == "category").sort("events", descending=True)
    reference = model.reference_event_type_.label
    console.print(_table(
        f"Half-life per category (top {top} by events)",
        categories.head(top),
        caption=f"of {reference} events",
    ))  # fmt: skip
    console.print(_table(
        "Per event type",
        table.filter(table["level"] == "event_type"),
        caption=f"in the average category; weight relative to {reference}",
        weights=True,
    ))  # fmt: skip
    cycles = model.repeat_cycles_.sort("purchases", descending=True).head(top)
    if len(cycles) and params.decays:
        grid = Table(title="Re-purchase cycles (top by purchases)")
        for name in ("category", "purchases", "cycle (days)", "rate"):
            grid.add_column(name, justify="left" if name == "category" else "right")
        for row in cycles.iter_rows(named=True):
            grid.add_row(
                row["category"], f"{row['purchases']:,}", f"{row['cycle_days']:.1f}",
                f"{row['rate']:.3g}",
            )  # fmt: skip
        console.print(grid)
    if model.ordering_scale != 1.0:
        console.print(
            f"ranking weighs a shopper's events with {model.ordering_scale:g} x these half-lives "
            "(ordering_scale; each shopper's total evidence as learned)"
        )
    if model.familiar_share is not None:
        console.print(
            f"ranking starts {model.familiar_share:.0%} of new interests in the shopper's own "
            "categories (familiar_share)"
        )
    if model.newcomer_after is not None:
        console.print(
            f"shoppers last seen more than {_days(model.newcomer_after.total_seconds() / 86_400)}"
            " before a request get the popularity fallback (newcomer_after)"
        )
    if model.training_:
        training = model.training_
        seconds = training["epoch_seconds"]
        console.print(
            f"trained {len(seconds)} epochs (best {training['best_epoch']}), "
            f"{sum(seconds) / max(len(seconds), 1):.1f}s per epoch{_stopping(training)}"
        )
    if png is not None:
        plot_learned_half_lives(png, table, top=min(top, 12))
        console.print(f"wrote {png}")


def _stopping(training: dict[str, Any]) -> str:
    """What early stopping watched, where the model recorded it."""
    if "holdout_targets" not in training:
        return ""
    if not training["holdout_targets"]:
        return "; stopped on the training loss (too few targets to hold any out)"
    return (
        f"; early stopping on {training['holdout_targets']:,} targets of "
        f"{training['holdout_shoppers']:,} held-out shoppers"
    )


def _days(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.2f}d"


def _table(title: str, frame: object, *, caption: str, weights: bool = False) -> Table:
    grid = Table(title=title, caption=caption)
    columns = ["key", "events", "half-life", "95% interval"] + (["weight"] if weights else [])
    for name in columns:
        grid.add_column(name, justify="left" if name == "key" else "right")
    for row in frame.iter_rows(named=True):  # type: ignore[attr-defined]
        cells = [
            str(row["key"]),
            f"{row['events']:,}",
            _days(row["half_life_days"]),
            f"{_days(row['lower_days'])} .. {_days(row['upper_days'])}",
        ]
        if weights:
            cells.append(f"{row['weight']:.2f}")
        grid.add_row(*cells)
    return grid


def _mix(shares: dict[str, float]) -> str:
    """``category 0.10, item 0.84, similar_items 0.06``: shares of the evidence routes."""
    return ", ".join(f"{name} {share:.2f}" for name, share in shares.items())
