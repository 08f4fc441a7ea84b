"""``decayrec fit`` (train and save a model) and ``decayrec recommend`` (use a saved one)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from decayrec._time import from_seconds, parse_duration, parse_instant
from decayrec.cli._app import app, console
from decayrec.cli._common import (
    BotRateOption,
    DataOption,
    FormatOption,
    WindowOption,
    load_with_report,
    step,
)
from decayrec.errors import InvalidParameterError
from decayrec.models import MODELS, load_model, make_model

__all__: list[str] = []


@app.command("fit")
def fit(
    data: DataOption,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder to save the model into.")],
    fmt: FormatOption = "csv",
    model: Annotated[
        str, typer.Option("--model", "-m", help="Model name (see `decayrec evaluate`).")
    ] = "decayed-profile",
    half_life: Annotated[
        str | None, typer.Option(help="Half-life such as 12h, 7d or inf (model default).")
    ] = None,
    kernel: Annotated[
        str | None, typer.Option(help="exponential, linear, power or logarithmic.")
    ] = None,
    params_json: Annotated[
        str | None,
        typer.Option(
            "--params",
            help='Model parameters as a JSON object, e.g. \'{"similarity": "cooccurrence"}\' '
            "(durations in seconds); they win over --half-life and --kernel.",
        ),
    ] = None,
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
) -> None:
    """Fit a model on a whole log and save it (manifest + arrays; loaded by recommend/serve)."""
    params: dict[str, Any] = {}
    if half_life is not None:
        params["half_life"] = parse_duration(half_life, name="--half-life")
    if kernel is not None:
        params["kernel"] = kernel
    if model.removesuffix("-no-decay") == "learned-decay":
        params["progress"] = True  # a bar per epoch: training takes a while
    estimator = make_model(model, **params)
    if params_json is not None:
        extra = _json_object(params_json)
        typed = type(estimator).from_params(extra)  # checks names; reads durations as seconds
        estimator = estimator.clone(**{key: getattr(typed, key) for key in extra})
    events, _ = load_with_report(
        data, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    started = time.perf_counter()
    if params.get("progress"):  # its own progress bar (rich allows one live display)
        estimator.fit(events)
        estimator.save(out)
    else:
        with step(f"Fitting {model} on {events.n_events:,} events"):
            estimator.fit(events)
            estimator.save(out)
    console.print(
        f"Fitted {model} on {events.n_events:,} events in "
        f"{time.perf_counter() - started:.1f}s; saved to {out}."
    )


@app.command("recommend")
def recommend(
    model_dir: Annotated[Path, typer.Option("--model", "-m", help="A folder written by fit.")],
    user: Annotated[list[str], typer.Option("--user", "-u", help="Raw user id (repeatable).")],
    at: Annotated[
        str | None,
        typer.Option(help="Instant (ISO-8601 or Unix seconds); default: the last fitted event."),
    ] = None,
    n: Annotated[int, typer.Option("--n", "-n", help="How many items.")] = 10,
    threshold: Annotated[
        float | None, typer.Option(help="Only items scoring ≥ θ × the user's best (0..1).")
    ] = None,
    exclude: Annotated[str, typer.Option(help="purchased, seen or none.")] = "purchased",
    explain: Annotated[bool, typer.Option(help="Explain each recommendation.")] = False,
) -> None:
    """Print recommendations (and explanations) for users of a saved model."""
    if exclude not in ("purchased", "seen", "none"):
        raise InvalidParameterError(
            f"--exclude must be purchased, seen or none. Got {exclude!r} instead."
        )
    with step(f"Loading model from {model_dir}"):
        estimator = load_model(model_dir)
    instant = (
        parse_instant(at, name="--at") if at is not None else estimator.events_.time_range()[1]
    )
    recs = estimator.recommend(
        user,
        at=instant,
        n=n,
        threshold=threshold,
        exclude=exclude,  # type: ignore[arg-type]
    )
    for row, user_id in enumerate(recs.user_ids):
        title = f"User {user_id} at {from_seconds(instant).isoformat()}"
        if recs.fallback[row]:
            title += " (unknown user: trending items)"
        table = Table(title=title)
        table.add_column("rank", justify="right")
        table.add_column("item")
        table.add_column("score", justify="right")
        for rank, (item_id, score) in enumerate(recs.for_user(user_id), start=1):
            table.add_row(str(rank), item_id, f"{score:.4g}")
        console.print(table)
        if explain:
            for item_id, _ in recs.for_user(user_id):
                console.print(estimator.explain(user_id, item_id, at=instant).to_text())


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidParameterError(f"--params is not valid JSON: {error}.") from None
    if not isinstance(value, dict):
        raise InvalidParameterError(f"--params must be a JSON object. Got {text!r} instead.")
    return value


def model_names() -> list[str]:
    """Model names the CLI accepts (each also with a ``-no-decay`` suffix)."""
    return sorted(MODELS)
