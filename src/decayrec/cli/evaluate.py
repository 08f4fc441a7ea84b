"""``decayrec evaluate``: tune on validation, test once, full ranking, decay-off beside decay."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

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
from decayrec.cli._folds import (
    check_fold_options,
    first_model_differences,
    pooled_table,
    search_fixed_models,
    with_tuned_params,
)
from decayrec.data import EventLog, Split, leave_last_out, rolling_temporal_splits, temporal_split
from decayrec.data.split import default_temporal_cutoff
from decayrec.errors import DataValidationError, InvalidParameterError
from decayrec.eval import (
    EvaluationResult,
    ModelSpec,
    TuningResult,
    check_selection,
    evaluate_models,
    pool_folds,
    render_table,
    report_columns,
)
from decayrec.models import MODELS, NO_DECAY_SUFFIX, known_names, make_model, resolve_name

__all__ = [
    "AtOption",
    "HorizonOption",
    "ProtocolOption",
    "RepeatsOption",
    "TargetOption",
    "ValidationOption",
    "check_case_options",
    "parse_ks",
    "parse_models",
    "read_tuned",
    "split_events",
    "tuned_specs",
]


ProtocolOption = Annotated[str, typer.Option(help="loo (leave-last-out) or temporal.")]
TargetOption = Annotated[str, typer.Option(help="item or category.")]
RepeatsOption = Annotated[
    str, typer.Option(help="exclude: only new items; allow: past items stay candidates.")
]
AtOption = Annotated[
    str | None,
    typer.Option(help="temporal: start of the test period (default: last 20% of time)."),
]
HorizonOption = Annotated[
    str | None, typer.Option(help="temporal: length of the test period, e.g. 7d.")
]
ValidationOption = Annotated[
    str | None,
    typer.Option(help="temporal: validation window before --at (default: 10% of time)."),
]


@app.command("evaluate")
def evaluate(
    data: DataOption,
    fmt: FormatOption = "csv",
    protocol: ProtocolOption = "loo",
    target: TargetOption = "item",
    repeats: RepeatsOption = "exclude",
    models: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated model names (default: all, each with its -no-decay variant; "
            "with --tuned: the tuned models)."
        ),
    ] = None,
    k: Annotated[str, typer.Option("--k", help="Comma-separated cutoffs.")] = "10,20",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the results as JSON here.")
    ] = None,
    at: AtOption = None,
    horizon: HorizonOption = None,
    validation: ValidationOption = None,
    half_lives: Annotated[
        str,
        typer.Option(help="Half-life grid tuned on validation, e.g. 6h,2d,14d,90d."),
    ] = "6h,2d,14d,90d",
    tuned: Annotated[
        Path | None,
        typer.Option(
            "--tuned",
            help="JSON written by `decayrec tune`: its models keep the tuned parameters "
            "(not re-tuned); their -no-decay variants keep all but the half-lives.",
        ),
    ] = None,
    seeds: Annotated[
        int,
        typer.Option(
            min=1,
            help="Fit each model that has a training seed (learned-decay, the "
            "transformer) with this many seeds, in tuning and on test, and report the "
            "means; each seed's test figures are printed and kept in the JSON.",
        ),
    ] = 1,
    folds: Annotated[
        int,
        typer.Option(
            min=1,
            help="temporal: evaluate at this many successive cutoffs (rolling origin; the "
            "last fold is the default split, each earlier one the same rule on the log before "
            "the next cutoff), each fold tuned on its own validation window, and pool the "
            "folds into one table with intervals clustered by user.",
        ),
    ] = 1,
    trials: Annotated[
        int,
        typer.Option(
            min=0,
            help="Tune decayed-popularity, decayed-profile and decayed-itemknn (those "
            "evaluated) with this many Optuna trials on the validation part (each fold's), "
            "as `decayrec tune` does, instead of the half-life grid; 0: the grid.",
        ),
    ] = 0,
    selection: Annotated[
        str,
        typer.Option(
            help="How a model's parameter grid (learned-decay's) picks on validation: one-se, "
            "the choice with the fewest changes from the model's defaults within one "
            "standard error of the best; best, the highest score.",
        ),
    ] = "one-se",
    max_events_per_minute: BotRateOption = None,
    window: WindowOption = None,
) -> None:
    """Evaluate models on a log with full-ranking metrics and print a table."""
    check_case_options(protocol, target, repeats)
    check_selection(selection, name="--selection")
    check_fold_options(
        protocol=protocol, folds=folds, trials=trials, at=at, horizon=horizon,
        validation=validation, tuned=tuned,
    )  # fmt: skip
    ks = parse_ks(k)
    names = parse_models(models)
    tuned_doc = read_tuned(tuned) if tuned is not None else None
    specs: list[str | ModelSpec] | None = list(names) if names is not None else None
    if tuned_doc is not None:
        specs = tuned_specs(names, tuned_doc)
    grid = [parse_duration(text, name="--half-lives") for text in half_lives.split(",")]
    if any(value is None for value in grid):
        raise InvalidParameterError(
            "--half-lives must be finite durations (the -no-decay "
            "variants already cover an infinite half-life)."
        )
    events, _ = load_with_report(
        data, fmt, max_events_per_minute=max_events_per_minute, window=window
    )
    if folds > 1:
        with step("Splitting"):
            splits = rolling_temporal_splits(events, folds)
    else:
        splits = [split_events(events, protocol, at=at, horizon=horizon, validation=validation)]
    run = _SplitRun(
        dataset=data.name,
        protocol=protocol,
        target=target,
        repeats=repeats,
        ks=ks,
        grid=[g for g in grid if g is not None],
        seeds=seeds,
        selection=selection,
        trials=trials,
        tuned=tuned,
        tuned_doc=tuned_doc,
    )
    results: list[EvaluationResult] = []
    docs: list[dict[str, Any]] = []
    for number, split in enumerate(splits, start=1):
        result, doc = run.evaluate(
            split, specs, fold=f"fold {number}/{folds}: " if folds > 1 else ""
        )
        results.append(result)
        docs.append(doc)
    out = docs[0] if folds == 1 else _pooled_doc(results, docs, data.name, f"ndcg@{ks[0]}")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(out, indent=2) + "\n")
        console.print(f"wrote {json_out}")


@dataclass(frozen=True)
class _SplitRun:
    """What ``evaluate`` does on one split (the only one, or one fold), with its options."""

    dataset: str
    protocol: str
    target: str
    repeats: str
    ks: tuple[int, ...]
    grid: list[timedelta]
    seeds: int
    selection: str
    trials: int
    tuned: Path | None
    tuned_doc: dict[str, Any] | None

    def evaluate(
        self, split: Split, specs: list[str | ModelSpec] | None, *, fold: str
    ) -> tuple[EvaluationResult, dict[str, Any]]:
        """Tune (``--trials``), evaluate and print one split; its result and JSON document."""
        console.print(f"[bold]{fold}{split.description}[/] — sizes {split.sizes}")
        searched: dict[str, TuningResult] = {}
        if self.trials:
            specs, searched = search_fixed_models(
                split,
                specs,
                trials=self.trials,
                target=self.target,  # type: ignore[arg-type]
                repeats=self.repeats,  # type: ignore[arg-type]
                metric=f"ndcg@{self.ks[0]}",
            )
        result = evaluate_models(
            split,
            specs,
            target=self.target,  # type: ignore[arg-type]
            repeats=self.repeats,  # type: ignore[arg-type]
            ks=self.ks,
            tune_half_lives=self.grid,
            dataset=self.dataset,
            seeds=self.seeds,
            selection=self.selection,  # type: ignore[arg-type]
            progress=True,
        )
        doc = result.to_json_dict()
        suffix = ""
        if self.tuned is not None and self.tuned_doc is not None:
            notes = _tuned_provenance(
                doc, self.tuned, self.tuned_doc, split.description, self.dataset
            )
            for note in notes:
                console.print(f"[yellow]note:[/] {note}")
            tuned_names = [r.model for r in result.results if r.model in self.tuned_doc["models"]]
            suffix = f"; tuned by decayrec tune: {', '.join(tuned_names)}" if tuned_names else ""
        if searched:
            doc["optuna"] = {name: entry.to_json_dict() for name, entry in searched.items()}
            suffix = f"; tuned by {self.trials} Optuna trials: {', '.join(searched)}"
        heading = (
            f"{fold}{self.dataset}: {self.protocol}, target {self.target}, repeats {self.repeats}"
        )
        _print_result(result, doc, heading, suffix, self.ks)
        return result, doc


def _pooled_doc(
    results: list[EvaluationResult], docs: list[dict[str, Any]], dataset: str, metric: str
) -> dict[str, Any]:
    """Print the folds' pooled table; the JSON document of every fold and the pool."""
    pooled = pool_folds(results, metric)
    first = results[0]
    title = (
        f"{dataset}: {len(results)} folds pooled, target {first.target}, repeats "
        f"{first.repeats} — {pooled.n_pairs:,} (fold, user) pairs of {pooled.n_users:,} users"
    )
    console.print(pooled_table(pooled, title))
    if line := first_model_differences(pooled):
        console.print(line)
    return {
        "dataset": dataset,
        "protocol": first.protocol,
        "target": first.target,
        "repeats": first.repeats,
        "folds": docs,
        "pooled": pooled.to_json_dict(),
    }


def _print_result(
    result: EvaluationResult, doc: dict[str, Any], heading: str, suffix: str, ks: tuple[int, ...]
) -> None:
    """One split's tables (one per cutoff), its seed lines and its count of users."""
    for cutoff in ks:  # one table per cutoff keeps each table narrow enough to read
        columns = [c for c in report_columns(result) if c.endswith(f"@{cutoff}")]
        title = f"{heading}, @{cutoff}{suffix}"
        console.print(render_table(result, columns=columns, title=title))
    for line in seed_lines(result, f"ndcg@{ks[0]}"):
        console.print(line)
    console.print(
        f"{doc['n_users']:,} users evaluated; "
        f"{result.case.get('share_absent_from_training', 0.0):.1%} of targets are items "
        "absent from training (no model can rank those)."
    )


def seed_lines(result: EvaluationResult, metric: str) -> list[str]:
    """One line per model refitted with several seeds: its mean and every seed's value."""
    lines = []
    for entry in result.results:
        if not entry.seed_runs:
            continue
        values = [run["metrics"][metric] for run in entry.seed_runs]
        seeds = [run["seed"] for run in entry.seed_runs]
        each = ", ".join(f"{value:.4f}" for value in values)
        lines.append(
            f"{entry.model}: {metric} is the mean over training seeds {seeds[0]}-{seeds[-1]} "
            f"({each}; spread {max(values) - min(values):.4f})"
        )
    return lines


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
        try:
            resolve_name(name)
        except InvalidParameterError:
            raise InvalidParameterError(
                f"--models: unknown model {name!r}; expected one of {', '.join(known_names())}."
            ) from None
    return names


def check_case_options(protocol: str, target: str, repeats: str) -> None:
    """Raise naming the flag unless ``--protocol``, ``--target`` and ``--repeats`` are known."""
    if protocol not in ("loo", "temporal"):
        raise InvalidParameterError(
            f"--protocol must be loo or temporal. Got {protocol!r} instead."
        )
    if target not in ("item", "category"):
        raise InvalidParameterError(f"--target must be item or category. Got {target!r} instead.")
    if repeats not in ("exclude", "allow"):
        raise InvalidParameterError(f"--repeats must be exclude or allow. Got {repeats!r} instead.")


def split_events(
    events: EventLog,
    protocol: str,
    *,
    at: str | None,
    horizon: str | None,
    validation: str | None,
) -> Split:
    """The split ``evaluate`` (and ``tune``) use: leave-last-out, or temporal with defaults."""
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


def read_tuned(path: Path) -> dict[str, Any]:
    """The document ``decayrec tune --json`` wrote, checked model by model.

    Raises
    ------
    DataValidationError
        The file cannot be read, is not JSON, has no ``models`` mapping, or a model's
        ``params`` do not build that model (the message names the file and the model).
    """
    try:
        doc = json.loads(path.read_text())
    except OSError as error:
        raise DataValidationError(f"{path}: cannot read the --tuned file ({error}).") from error
    except ValueError as error:
        raise DataValidationError(f"{path}: the --tuned file is not JSON ({error}).") from error
    tuned = doc.get("models") if isinstance(doc, dict) else None
    if not isinstance(tuned, dict) or not tuned:
        raise DataValidationError(
            f"{path}: not a file written by `decayrec tune --json` (no non-empty 'models' "
            "mapping of model name to tuning result)."
        )
    for name, entry in tuned.items():
        params = entry.get("params") if isinstance(entry, dict) else None
        if not isinstance(params, dict):
            raise DataValidationError(f"{path}: model {name!r} has no 'params' mapping.")
        if name not in MODELS:
            raise DataValidationError(
                f"{path}: unknown model {name!r}; expected one of {', '.join(sorted(MODELS))}."
            )
        try:  # values are checked at fit; check them now, before any data is loaded
            make_model(name, **params)._validate_params()
        except InvalidParameterError as error:
            raise DataValidationError(f"{path}: model {name!r}: {error}") from error
    return dict(doc)


def tuned_specs(names: list[str] | None, tuned_doc: dict[str, Any]) -> list[str | ModelSpec]:
    """Model specs with the tuned parameters fixed (so the runner does not re-tune them).

    ``names`` (from ``--models``) chooses the models; ``None`` takes every tuned one. A name
    whose base model was tuned gets its tuned parameters (a ``-no-decay`` name: all but the
    half-lives); the others stay names, tuned on the half-life grid as usual. The runner adds
    each decaying model's ``-no-decay`` variant, which keeps the tuned event weights and other
    non-decay parameters.
    """
    tuned = {name: entry["params"] for name, entry in tuned_doc["models"].items()}
    return with_tuned_params(list(tuned) if names is None else names, tuned)


def _tuned_provenance(
    doc: dict[str, Any], path: Path, tuned_doc: dict[str, Any], description: str, dataset: str
) -> list[str]:
    """Record in ``doc`` which results use parameters from ``decayrec tune``; return notes.

    The notes flag a tuning made on another data set, split or evaluation case: its validation
    part may then overlap this test part, or its parameters may suit another question.
    """
    tuned: dict[str, Any] = tuned_doc["models"]
    tuning: dict[str, Any] = doc.setdefault("tuning", {})
    for result in doc["results"]:
        name = result["model"]
        base = name.removesuffix(NO_DECAY_SUFFIX)
        if base not in tuned:
            continue
        entry = tuned[base]
        record: dict[str, Any] = {"source": "decayrec tune", "file": str(path), "from_model": base}
        if name == base:
            record["summary"] = (
                f"tuned by decayrec tune, {entry.get('n_trials')} trials, validation "
                f"{entry.get('metric')} {float(entry.get('best_value', float('nan'))):.4f}"
            )
            keys = ("metric", "n_trials", "best_value", "default_value", "n_users", "seed")
            record.update({key: entry[key] for key in keys if key in entry})
        else:
            record["summary"] = (
                f"{base}'s parameters tuned by decayrec tune, with every half-life off"
            )
        tuning[name] = record
    doc["tuned_from"] = str(path)
    notes: list[str] = []
    current = {
        "dataset": dataset,
        "protocol": doc["protocol"],
        "target": doc["target"],
        "repeats": doc["repeats"],
        "description": description,
    }
    differ = [
        f"{key} {tuned_doc.get(key)!r} (here {value!r})"
        for key, value in current.items()
        if key in tuned_doc and tuned_doc[key] != value
    ]
    if differ:
        notes.append(f"{path} was tuned with another setting: " + "; ".join(differ) + ".")
    doc.setdefault("notes", []).extend(notes)
    return notes
