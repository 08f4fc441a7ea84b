"""``decayrec tune``: search each fixed-decay model's parameters on the validation part.

The JSON it writes feeds ``decayrec evaluate --tuned``, which refits the tuned parameters on
train + validation and tests them once, beside their ``-no-decay`` variants.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from decayrec.cli._app import app, console
from decayrec.cli._common import (
    BotRateOption,
    DataOption,
    FormatOption,
    WindowOption,
    load_with_report,
)
from decayrec.cli.evaluate import (
    AtOption,
    HorizonOption,
    ProtocolOption,
    RepeatsOption,
    TargetOption,
    ValidationOption,
    check_case_options,
    split_events,
)
from decayrec.errors import InvalidParameterError
from decayrec.eval.tuning import TUNABLE_MODELS, TuningResult, parse_metric, tune_model

__all__: list[str] = []


@app.command("tune")
def tune(
    data: DataOption,
    fmt: FormatOption = "csv",
    protocol: ProtocolOption = "loo",
    target: TargetOption = "item",
    repeats: RepeatsOption = "exclude",
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model",
            "-m",
            help=f"Model to tune (repeatable; default: {', '.join(TUNABLE_MODELS)}).",
        ),
    ] = None,
    trials: Annotated[int, typer.Option("--trials", help="Optuna trials per model.")] = 40,
    timeout: Annotated[
        float | None,
        typer.Option(
            "--timeout",
            help="Start no new trial of a model after this many seconds (defaults always run).",
        ),
    ] = None,
    metric: Annotated[
        str, typer.Option("--metric", help="Validation metric to maximise, e.g. ndcg@10.")
    ] = "ndcg@10",
    seed: Annotated[int, typer.Option("--seed", help="Seed of the TPE sampler.")] = 0,
    max_users: Annotated[
        int,
        typer.Option("--max-users", help="Score at most this many validation users per trial."),
    ] = 5000,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write the tuned parameters here (for evaluate --tuned)."),
    ] = None,
    at: AtOption = None,
    horizon: HorizonOption = None,
    validation: ValidationOption = None,
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
) -> None:
    """Tune fixed-decay models with Optuna on the validation part only (the test part unread)."""
    check_case_options(protocol, target, repeats)
    names = _parse_model_names(model)
    if trials < 1:
        raise InvalidParameterError(f"--trials must be a whole number >= 1. Got {trials!r}.")
    if timeout is not None and not (math.isfinite(timeout) and timeout > 0):
        raise InvalidParameterError(
            f"--timeout must be a positive number of seconds. Got {timeout!r}."
        )
    if max_users < 1:
        raise InvalidParameterError(f"--max-users must be a whole number >= 1. Got {max_users!r}.")
    try:
        metric_name, cutoff = parse_metric(metric)
    except InvalidParameterError:
        raise InvalidParameterError(
            f"--metric must be a ranking metric at a cutoff such as ndcg@10 or recall@20. "
            f"Got {metric!r} instead."
        ) from None
    metric = f"{metric_name}@{cutoff}"
    events, _ = load_with_report(
        data, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    split = split_events(events, protocol, at=at, horizon=horizon, validation=validation)
    console.print(f"[bold]{split.description}[/] — sizes {split.sizes}")
    results: dict[str, TuningResult] = {}
    for name in names:
        results[name] = tune_model(
            split,
            name,
            n_trials=trials,
            timeout=timeout,
            target=target,  # type: ignore[arg-type]
            repeats=repeats,  # type: ignore[arg-type]
            metric=metric,
            seed=seed,
            progress=True,
            max_users=max_users,
        )
    title = f"{data.name}: {protocol}, target {target}, repeats {repeats}, validation {metric}"
    console.print(_table(results, title=title))
    n_users = next(iter(results.values())).n_users
    console.print(
        f"Scored on {n_users:,} validation users per trial; the test part was not read. "
        "Test the tuned models with `decayrec evaluate --tuned FILE`."
    )
    if json_out is not None:
        doc = {
            "dataset": data.name,
            "protocol": protocol,
            "target": target,
            "repeats": repeats,
            "metric": metric,
            "description": split.description,
            "models": {name: result.to_json_dict() for name, result in results.items()},
        }
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
        console.print(f"wrote {json_out}")


def _parse_model_names(names: list[str] | None) -> list[str]:
    if not names:
        return list(TUNABLE_MODELS)
    out: list[str] = []
    for name in names:
        if name not in TUNABLE_MODELS:
            why = " (it learns its own half-lives)" if name == "learned-decay" else ""
            raise InvalidParameterError(
                f"--model: {name!r} cannot be tuned{why}; expected one of "
                f"{', '.join(TUNABLE_MODELS)}."
            )
        if name not in out:
            out.append(name)
    return out


def _table(results: dict[str, TuningResult], *, title: str) -> Table:
    """One row per model: trials, validation value of the defaults and of the best trial."""
    table = Table(title=title)
    table.add_column("model")
    table.add_column("trials", justify="right")
    table.add_column("defaults", justify="right")
    table.add_column("best", justify="right")
    table.add_column("best parameters (tuned ones)")
    for name, result in results.items():
        tuned = result.trials[result.best_trial]["params"]
        table.add_row(
            name,
            str(result.n_trials),
            f"{result.default_value:.4f}",
            f"{result.best_value:.4f}",
            _params_text(tuned),
        )
    return table


def _params_text(params: dict[str, Any]) -> str:
    """``half_life 2.3d, purchase 9.1, similarity cosine``: durations read in seconds."""
    parts = []
    for key, value in params.items():
        if key.endswith("half_life"):
            parts.append(f"{key} {_seconds_text(value)}")
        elif isinstance(value, dict):
            parts.extend(f"w_{label} {weight:.3g}" for label, weight in value.items())
        elif isinstance(value, float):
            parts.append(f"{key} {value:.3g}")
        else:
            parts.append(f"{key} {value}")
    return ", ".join(parts)


def _seconds_text(value: Any) -> str:
    if value is None:
        return "inf"
    if isinstance(value, str):
        return value
    seconds = float(value)
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"
