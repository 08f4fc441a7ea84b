"""``decayrec evaluate --folds`` and ``--trials``: rolling-origin folds and Optuna per split.

Why here: ``evaluate`` runs the same steps once per split; these helpers check the flags
(:func:`check_fold_options`), replace the fixed-decay models by their Optuna-tuned versions
on a split's validation part (:func:`search_fixed_models`, as ``decayrec tune`` does; like
``--tuned``, through :func:`with_tuned_params`), and print the pooled comparison of several
folds (:func:`pooled_table`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.table import Table

from decayrec.data import Split
from decayrec.errors import InvalidParameterError
from decayrec.eval import TUNABLE_MODELS, ModelSpec, PooledComparison, TuningResult, tune_model
from decayrec.eval.protocols import RepeatPolicy, TargetKind
from decayrec.eval.runner import default_model_specs
from decayrec.models import NO_DECAY_SUFFIX

__all__ = [
    "check_fold_options",
    "first_model_differences",
    "pooled_table",
    "search_fixed_models",
    "with_tuned_params",
]


def check_fold_options(
    *,
    protocol: str,
    folds: int,
    trials: int,
    at: str | None,
    horizon: str | None,
    validation: str | None,
    tuned: Path | None,
) -> None:
    """Raise naming the flags that cannot go together with ``--folds`` or ``--trials``."""
    if trials and tuned is not None:
        raise InvalidParameterError(
            "--trials tunes the fixed-decay models here; --tuned brings parameters tuned "
            "before: give one of them."
        )
    if folds == 1:
        return
    if protocol != "temporal":
        raise InvalidParameterError(
            f"--folds needs --protocol temporal (successive cutoffs in time). Got {protocol!r}."
        )
    flags = (("--at", at), ("--horizon", horizon), ("--validation", validation))
    given = [flag for flag, value in flags if value]
    if given:
        raise InvalidParameterError(
            f"--folds places every fold's cutoff and validation window itself (the last fold "
            f"is the default split); drop {', '.join(given)}."
        )
    if tuned is not None:
        raise InvalidParameterError(
            "--folds tunes every fold on its own validation window; --tuned holds parameters "
            "tuned on one split. Use --trials N to tune the fixed-decay models per fold."
        )


def search_fixed_models(
    split: Split,
    specs: Sequence[str | ModelSpec] | None,
    *,
    trials: int,
    target: TargetKind,
    repeats: RepeatPolicy,
    metric: str,
) -> tuple[list[str | ModelSpec], dict[str, TuningResult]]:
    """``specs`` with every tunable fixed-decay model tuned by Optuna on ``split``'s validation.

    Each of :data:`~decayrec.eval.TUNABLE_MODELS` among ``specs`` (``None``: the default set)
    gets ``trials`` trials of :func:`~decayrec.eval.tune_model`; its ``-no-decay`` variant keeps
    the tuned parameters but the half-lives, as with ``--tuned``. Returns the new specs and
    the tuning results by model.
    """
    listed: list[str | ModelSpec] = list(default_model_specs() if specs is None else specs)
    names = (spec if isinstance(spec, str) else spec.name for spec in listed)
    bases = dict.fromkeys(name.removesuffix(NO_DECAY_SUFFIX) for name in names)
    searched: dict[str, TuningResult] = {}
    for name in bases:
        if name in TUNABLE_MODELS:
            searched[name] = tune_model(
                split, name, n_trials=trials, target=target, repeats=repeats, metric=metric,
                progress=True,
            )  # fmt: skip
    tuned = with_tuned_params(listed, {name: result.params for name, result in searched.items()})
    return tuned, searched


def with_tuned_params(
    specs: Sequence[str | ModelSpec], params: Mapping[str, Mapping[str, Any]]
) -> list[str | ModelSpec]:
    """``specs`` with every model named in ``params`` built with those parameters.

    A ``-no-decay`` name whose base model is in ``params`` keeps them but the half-lives
    (:meth:`~decayrec.eval.ModelSpec.no_decay`); the other specs stay as they are. Both
    ``--tuned`` (parameters from a file) and ``--trials`` (from the search here) use it.
    """
    out: list[str | ModelSpec] = []
    for spec in specs:
        name = spec if isinstance(spec, str) else spec.name
        base = name.removesuffix(NO_DECAY_SUFFIX)
        if base not in params:
            out.append(spec)
            continue
        tuned = ModelSpec(base, dict(params[base]))
        out.append(tuned if name == base else tuned.no_decay())
    return out


def pooled_table(pooled: PooledComparison, title: str) -> Table:
    """The pooled comparison: mean with interval, each fold's mean, difference to the best."""
    table = Table(title=title, caption="95 % intervals clustered by user")
    table.add_column("model", no_wrap=True)
    table.add_column(f"{pooled.metric} [95 % CI]", justify="right", no_wrap=True)
    table.add_column("per fold", justify="right")
    table.add_column(f"Δ vs {pooled.reference} [95 % CI]", justify="right", no_wrap=True)
    for model in pooled.models:
        mean, difference = pooled.mean[model], pooled.difference[model]
        table.add_row(
            model,
            f"{mean.estimate:.4f} [{mean.low:.4f}, {mean.high:.4f}]",
            ", ".join(f"{value:.4f}" for value in pooled.per_fold[model]),
            f"{difference.estimate:+.4f} [{difference.low:+.4f}, {difference.high:+.4f}]",
        )
    return table


def first_model_differences(pooled: PooledComparison) -> str:
    """One line: the first model listed (the one a run is about) minus each other model,
    pooled, with its clustered interval; ``""`` with a single model."""
    first = pooled.models[0]
    parts = []
    for model in pooled.models[1:]:
        gap = pooled.pairwise[model][first]  # first − model
        parts.append(f"{model} {gap.estimate:+.4f} [{gap.low:+.4f}, {gap.high:+.4f}]")
    return f"{first} minus each model, {pooled.metric}: " + "; ".join(parts) if parts else ""
