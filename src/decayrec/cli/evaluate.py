"""``decayrec evaluate``: tune on validation, test once, full ranking, decay-off beside decay."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from decayrec._time import parse_duration
from decayrec.cli._app import app, console
from decayrec.cli._common import (
    BotRateOption,
    DataOption,
    FormatOption,
    WindowOption,
    load_with_report,
    step,
)
from decayrec.data import Split, leave_last_out, temporal_split
from decayrec.data.split import default_temporal_cutoff
from decayrec.errors import InvalidParameterError
from decayrec.eval import evaluate_models, render_table, report_columns
from decayrec.models import MODELS, NO_DECAY_SUFFIX

__all__ = ["parse_ks", "parse_models"]


@app.command("evaluate")
def evaluate(
    data: DataOption,
    fmt: FormatOption = "csv",
    protocol: Annotated[str, typer.Option(help="loo (leave-last-out) or temporal.")] = "loo",
    target: Annotated[str, typer.Option(help="item or category.")] = "item",
    repeats: Annotated[
        str, typer.Option(help="exclude: only new items; allow: past items stay candidates.")
    ] = "exclude",
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated model names (default: all, each with its -no-decay variant)."
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Comma-separated cutoffs.")] = "10,20",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option(help="temporal: start of the test period (default: last 20% of time)."),
    ] = None,
    horizon: Annotated[
        str | None, typer.Option(help="temporal: length of the test period, e.g. 7d.")
    ] = None,
    validation: Annotated[
        str | None,
        typer.Option(help="temporal: validation window before --at (default: 10% of time)."),
    ] = None,
    half_lives: Annotated[
        str,
        typer.Option(help="Half-life grid tuned on validation, e.g. 6h,2d,14d,90d."),
    ] = "6h,2d,14d,90d",
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
) -> None:
    """Evaluate models on a log with full-ranking metrics and print a table."""
    if target not in ("item", "category"):
        raise InvalidParameterError(f"--target must be item or category. Got {target!r} instead.")
    if repeats not in ("exclude", "allow"):
        raise InvalidParameterError(f"--repeats must be exclude or allow. Got {repeats!r} instead.")
    ks = parse_ks(k)
    specs = parse_models(models)
    grid = [parse_duration(text, name="--half-lives") for text in half_lives.split(",")]
    if any(value is None for value in grid):
        raise InvalidParameterError(
            "--half-lives must be finite durations (the -no-decay "
            "variants already cover an infinite half-life)."
        )
    events, _ = load_with_report(
        data, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    split = _split(events, protocol, at=at, horizon=horizon, validation=validation)
    console.print(f"[bold]{split.description}[/] — sizes {split.sizes}")
    result = evaluate_models(
        split,
        specs,
        target=target,  # type: ignore[arg-type]
        repeats=repeats,  # type: ignore[arg-type]
        ks=ks,
        tune_half_lives=[g for g in grid if g is not None],
        dataset=data.name,
        progress=True,
    )
    for cutoff in ks:  # one table per cutoff keeps each table narrow enough to read
        columns = [c for c in report_columns(result) if c.endswith(f"@{cutoff}")]
        title = f"{data.name}: {protocol}, target {target}, repeats {repeats}, @{cutoff}"
        console.print(render_table(result, columns=columns, title=title))
    doc = result.to_json_dict()
    console.print(
        f"{doc['n_users']:,} users evaluated; "
        f"{result.case.get('share_absent_from_training', 0.0):.1%} of targets are items "
        "absent from training (no model can rank those)."
    )
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"wrote {json_out}")


def parse_ks(text: str) -> tuple[int, ...]:
    """``"10,20"`` -> ``(10, 20)``; raises naming the flag on anything else."""
    try:
        ks = tuple(int(part) for part in text.split(",") if part.strip())
    except ValueError:
        ks = ()
    if not ks or any(value < 1 for value in ks):
        raise InvalidParameterError(
            f"--k must be comma-separated whole numbers >= 1, e.g. 10,20. Got {text!r} instead."
        )
    return ks


def parse_models(text: str | None) -> list[str] | None:
    """Model names from ``--models``; ``None`` means every registered model."""
    if text is None:
        return None
    names = [part.strip() for part in text.split(",") if part.strip()]
    for name in names:
        if name.removesuffix(NO_DECAY_SUFFIX) not in MODELS:
            raise InvalidParameterError(
                f"--models: unknown model {name!r}; expected one of "
                f"{', '.join(sorted(MODELS))} (each also with {NO_DECAY_SUFFIX})."
            )
    return names


def _split(
    events: object,
    protocol: str,
    *,
    at: str | None,
    horizon: str | None,
    validation: str | None,
) -> Split:
    from decayrec.data import EventLog

    assert isinstance(events, EventLog)
    with step("Splitting"):
        if protocol == "loo":
            return leave_last_out(events)
        if protocol != "temporal":
            raise InvalidParameterError(
                f"--protocol must be loo or temporal. Got {protocol!r} instead."
            )
        default_at, default_validation = default_temporal_cutoff(events)
        return temporal_split(
            events,
            at=at if at is not None else default_at,
            horizon=parse_duration(horizon, name="--horizon") if horizon else None,
            validation=(
                parse_duration(validation, name="--validation")
                if validation
                else default_validation
            ),
        )
