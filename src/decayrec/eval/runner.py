"""Fit several models on one split, tune each half-life on validation only, test once.

Why this shape: a decayed model has one important knob, its half-life, and choosing it by the
test score would flatter decay. So each decaying model picks its half-life from a small grid by
NDCG at the first cutoff on the *validation* part (fitted on train), is then refitted on
train + validation with the chosen value, and only that refit is scored on the test part. Each
decaying model is always compared with its ``-no-decay`` variant, fitted and tested the same
way, so the benefit of decay is measured instead of assumed. A model with a parameter grid of
its own (hundreds of choices where a half-life grid has four) picks by the one-standard-error
rule by default (:mod:`decayrec.eval.selection`), so a small validation part does not crown
its luckiest choice.

The JSON document of :meth:`EvaluationResult.to_json_dict`::

    {"dataset": str, "protocol": str, "n_users": int,
     "results": [{"model": str, "params": {...}, "fit_seconds": float,
                  "metrics": {"ndcg@10": float, "recall@10": float, ...},
                  "seeds": [{"seed": int, "fit_seconds": float, "metrics": {...}}]}],
     (``"seeds"`` only for a model refitted with several training seeds: its ``metrics``
     are then their mean),
     ...extra top-level keys: target, repeats, ks, description, n_targets,
     share_absent_from_training, tuning, ...,
     "uncertainty": {"metric": "ndcg@10", "confidence": 0.95, "method": str,
                     "mean": {model: {"estimate", "low", "high", "n_users"}},
                     "reference": best model,
                     "difference_to_reference": {model: {"estimate", "low", "high", ...}}}}
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from decayrec.errors import InvalidParameterError
from decayrec.eval.metrics import metric_key
from decayrec.eval.protocols import EvaluationCase, RepeatPolicy, TargetKind
from decayrec.eval.selection import (
    GridSelection,
    best_choice,
    check_selection,
    gap_standard_errors,
    select_choice,
)
from decayrec.eval.significance import CONFIDENCE, Interval, mean_interval, paired_differences
from decayrec.models._params import to_json
from decayrec.models.base import DECAY_ONLY_PARAMETERS, NO_DECAY_SUFFIX
from decayrec.types import FloatArray

if TYPE_CHECKING:
    from decayrec.data.split import Split
    from decayrec.models.base import Recommender

__all__ = [
    "DEFAULT_HALF_LIFE_GRID",
    "EvaluationResult",
    "ModelResult",
    "ModelSpec",
    "default_model_specs",
    "evaluate_models",
]

#: Half-lives tried on validation, about ×7 apart: from session-like (hours) to seasonal
#: (months), so that one grid serves both clickstreams of a few days and review logs spanning
#: years (the ``-no-decay`` variant covers the infinite end). Four points keep tuning to four
#: fits and four validation rankings per decayed model.
DEFAULT_HALF_LIFE_GRID: tuple[timedelta, ...] = (
    timedelta(hours=6),
    timedelta(days=2),
    timedelta(days=14),
    timedelta(days=90),
)

ModelFactory = Callable[..., "Recommender"]


@dataclass(frozen=True)
class ModelSpec:
    """A model to evaluate: its report name, constructor parameters and (optionally) a factory.

    Parameters
    ----------
    name
        Registry name such as ``"decayed-profile"``; the suffix ``"-no-decay"`` switches decay
        off. With a ``factory``, any label.
    params
        Constructor keyword arguments. A ``half_life`` given here is used as is (not tuned).
    factory
        Builds the model from keyword arguments; ``None`` uses
        :func:`decayrec.models.make_model` with ``name``. Lets any :class:`Recommender`
        (including one defined outside decayrec) run under the same protocol.
    grid
        Parameter sets (each a mapping of constructor overrides) tried on validation; the
        best one by the tuning metric is refitted and tested, like a half-life. ``None``
        (the default) tunes the half-life instead, when the model decays. A grid is the way
        to give a model without decay (a peer, a baseline) the same tuning budget.
    """

    name: str
    params: Mapping[str, Any] = field(default_factory=dict)
    factory: ModelFactory | None = None
    grid: Sequence[Mapping[str, Any]] | None = None

    @property
    def decays(self) -> bool:
        """Whether this model decays (and so has a half-life worth tuning and a ``-no-decay``
        baseline); a model with ablations has those as its baselines instead."""
        if self.name.endswith(NO_DECAY_SUFFIX) or self.ablations:
            return False
        return "half_life" not in self.params or self.params["half_life"] is not None

    @property
    def model_class(self) -> type[Recommender] | None:
        """The registered class the name stands for (``None`` with a factory or unknown)."""
        if self.factory is not None:
            return None
        from decayrec.models import resolve_name

        try:
            return resolve_name(self.name)[0]
        except InvalidParameterError:
            return None

    @property
    def ablations(self) -> list[ModelSpec]:
        """The model's named ablations as specs (only for the model itself, not a variant)."""
        model_cls = self.model_class
        if model_cls is None or model_cls.name != self.name:
            return []
        return [
            ModelSpec(f"{self.name}-{suffix}", {**self.params, **overrides}, None, self.grid)
            for suffix, overrides in model_cls.ablations.items()
        ]

    @property
    def learns_decay(self) -> bool:
        """Whether the model learns its own half-lives (nothing to tune on a grid)."""
        return bool(getattr(self.model_class, "learns_decay", False))

    @property
    def tunes_half_life(self) -> bool:
        """Whether the half-life is chosen on validation (decays, not fixed, no grid, and not
        learned by the model itself)."""
        return (
            self.decays
            and "half_life" not in self.params
            and not self.tunes_grid
            and not self.learns_decay
        )

    @property
    def tunes_grid(self) -> bool:
        """Whether a parameter grid of its own is tuned on validation."""
        return bool(self.grid)

    def no_decay(self) -> ModelSpec:
        """The same model with decay switched off (every half-life parameter dropped)."""
        base = self.name.removesuffix(NO_DECAY_SUFFIX)
        params = {k: v for k, v in self.params.items() if k not in DECAY_ONLY_PARAMETERS}
        grid = _grid_without_decay(self.grid) if self.grid is not None else None
        return ModelSpec(base + NO_DECAY_SUFFIX, params, self.factory, grid)

    def build(self, **overrides: Any) -> Recommender:
        """A fresh, unfitted model with ``params`` updated by ``overrides``."""
        params = {**self.params, **overrides}
        if self.factory is None:
            from decayrec.models import make_model

            model: Recommender = make_model(self.name, **params)
            return model
        if self.name.endswith(NO_DECAY_SUFFIX):
            params["half_life"] = None
        return self.factory(**params)


def default_model_specs() -> list[ModelSpec]:
    """Every registered model, each followed by its ``-no-decay`` variant."""
    from decayrec.models import MODELS

    specs: list[ModelSpec] = []
    for name, model_cls in MODELS.items():
        if not model_cls.in_default_set:
            continue
        spec = ModelSpec(str(name))
        specs.extend([spec, *spec.ablations] if model_cls.ablations else [spec, spec.no_decay()])
    return specs


@dataclass(frozen=True)
class ModelResult:
    """One model's test result, with how it was tuned.

    Attributes
    ----------
    model
        Report name (``decayed-profile``, ``decayed-profile-no-decay``, ...).
    params
        The final model's :meth:`~decayrec.models.base.Recommender.get_params` (JSON-ready;
        durations in seconds, ``None`` = no decay).
    fit_seconds
        Wall time of the final fit on train + validation.
    metrics
        Test metrics (see :meth:`EvaluationCase.evaluate`).
    evaluate_seconds
        Wall time of ranking and scoring the test users.
    tuning
        ``[{"half_life": seconds, "<metric>": value}, ...]`` on validation (for a
        :attr:`ModelSpec.grid`: each grid entry, JSON-ready, with the metric), or ``None``
        when nothing was tuned.
    per_user
        The test metrics per user (:meth:`EvaluationCase.score`), the same users in the same
        order for every model of one evaluation; ``None`` when not kept. Not in the JSON
        document (it would grow with the users); its intervals are.
    seed_runs
        For a model refitted with several training seeds (``evaluate_models(seeds=N)``): one
        ``{"seed", "fit_seconds", "metrics"}`` per fit, in seed order; ``metrics``,
        ``fit_seconds`` and ``per_user`` are then the means over them. ``None``: one fit.
    """

    model: str
    params: dict[str, Any]
    fit_seconds: float
    metrics: dict[str, float]
    evaluate_seconds: float = 0.0
    tuning: list[dict[str, Any]] | None = None
    per_user: Mapping[str, FloatArray] | None = field(default=None, repr=False, compare=False)
    seed_runs: list[dict[str, Any]] | None = None

    def interval(self, metric: str) -> Interval | None:
        """The test mean of ``metric`` with its 95 % interval over users (``None``: unknown)."""
        if self.per_user is None or metric not in self.per_user:
            return None
        return mean_interval(self.per_user[metric])

    def to_json_dict(self) -> dict[str, Any]:
        """``{"model", "params", "fit_seconds", "metrics"}`` (and ``"seeds"`` after several
        training seeds), the JSON shape of one result."""
        return {
            "model": self.model,
            "params": dict(self.params),
            "fit_seconds": self.fit_seconds,
            "metrics": dict(self.metrics),
        } | ({"seeds": [dict(run) for run in self.seed_runs]} if self.seed_runs else {})


@dataclass(frozen=True)
class EvaluationResult:
    """All models' results on one split, and what they were evaluated on.

    Attributes
    ----------
    case
        :meth:`EvaluationCase.summary` of the test case (users, targets, repeats, share of
        targets absent from training).
    tuning_metric
        The validation metric half-lives were chosen by (``ndcg@<first K>``).
    notes
        Anything the reader must know, e.g. why half-lives were not tuned.
    tuning_users
        Validation users the half-lives were tuned on (``None``: no tuning happened).
    user_ids
        The test users' raw ids, in the order of every result's ``per_user`` values (empty
        when read back from JSON).
    """

    dataset: str
    protocol: str
    target: TargetKind
    repeats: RepeatPolicy
    ks: tuple[int, ...]
    description: str
    case: dict[str, Any]
    results: list[ModelResult]
    tuning_metric: str
    notes: list[str] = field(default_factory=list)
    tuning_users: int | None = None
    user_ids: tuple[str, ...] = field(default=(), repr=False, compare=False)

    @property
    def n_users(self) -> int:
        """Number of test users every model was scored on."""
        return int(self.case["n_users"])

    def metric_names(self) -> list[str]:
        """Metric keys in report order (those of the first result)."""
        return list(self.results[0].metrics) if self.results else []

    def best_params(self, model: str) -> dict[str, Any]:
        """The parameters ``model`` was tested with (its tuned half-life included).

        They are JSON-ready (durations in seconds) and feed straight back into
        :func:`decayrec.models.make_model`, e.g. to serve the tuned model.
        """
        for result in self.results:
            if result.model == model:
                return dict(result.params)
        known = ", ".join(r.model for r in self.results)
        raise InvalidParameterError(f"No result for model {model!r}; results hold {known}.")

    def best(self, metric: str) -> ModelResult:
        """The result with the highest value of ``metric``."""
        scored = [r for r in self.results if metric in r.metrics]
        if not scored:
            raise InvalidParameterError(f"No result has the metric {metric!r}.")
        return max(scored, key=lambda r: r.metrics[metric])

    def differences(self, metric: str, reference: str | None = None) -> dict[str, Interval]:
        """Each model minus ``reference`` (default: the best by ``metric``), paired over users.

        Every model was scored on the same test users, so the interval of a difference is far
        narrower than the two models' own intervals suggest. Models without per-user values
        (results read back from JSON) are left out; empty when the reference has none.
        """
        base = self.best(metric).model if reference is None else reference
        per_user = {
            r.model: r.per_user[metric]
            for r in self.results
            if r.per_user is not None and metric in r.per_user
        }
        if base not in per_user:
            return {}
        return paired_differences(per_user, base)

    def _uncertainty_json(self) -> dict[str, Any] | None:
        """The ``"uncertainty"`` entry: intervals of the tuning metric, and differences."""
        metric = self.tuning_metric
        intervals = {r.model: r.interval(metric) for r in self.results}
        known = {model: i.to_json() for model, i in intervals.items() if i is not None}
        if not known:
            return None
        reference = self.best(metric).model
        return {
            "metric": metric,
            "confidence": CONFIDENCE,
            "method": "Student t over test users; differences paired by user",
            "mean": known,
            "reference": reference,
            "difference_to_reference": {
                model: interval.to_json()
                for model, interval in self.differences(metric, reference).items()
            },
        }

    def to_json_dict(self) -> dict[str, Any]:
        """The evaluation JSON document (see the module docstring)."""
        tuning = {
            r.model: {"metric": self.tuning_metric, "n_users": self.tuning_users, "grid": r.tuning}
            for r in self.results
            if r.tuning is not None
        }
        uncertainty = self._uncertainty_json()
        return {
            "dataset": self.dataset,
            "protocol": self.protocol,
            "n_users": self.n_users,
            "results": [r.to_json_dict() for r in self.results],
            "target": self.target,
            "repeats": self.repeats,
            "ks": list(self.ks),
            "description": self.description,
            "n_targets": int(self.case["n_targets"]),
            "n_repeat_targets": int(self.case["n_repeat_targets"]),
            "n_new_targets": int(self.case["n_new_targets"]),
            "share_absent_from_training": float(self.case["share_absent_from_training"]),
            "n_users_without_history": int(self.case["n_users_without_history"]),
            "evaluate_seconds": {r.model: r.evaluate_seconds for r in self.results},
            "tuning": tuning,
            "notes": list(self.notes),
        } | ({"uncertainty": uncertainty} if uncertainty is not None else {})


def _as_spec(spec: str | ModelSpec | tuple[str, Mapping[str, Any]]) -> ModelSpec:
    if isinstance(spec, ModelSpec):
        return spec
    if isinstance(spec, str):
        return ModelSpec(spec)
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[0], str):
        return ModelSpec(spec[0], dict(spec[1]))
    raise InvalidParameterError(
        "Each entry of the 'model_specs' parameter must be a model name, a (name, params) pair "
        f"or a ModelSpec. Got {spec!r} instead."
    )


def _with_model_grid(spec: ModelSpec) -> ModelSpec:
    """A registered model's own ``validation_grid``, unless the spec brings a grid or fixes
    one of its parameters (a model that learns its decay tunes what it cannot learn)."""
    if spec.factory is not None or spec.grid is not None:
        return spec
    grid = getattr(spec.model_class, "validation_grid", None)
    if grid and spec.name.endswith(NO_DECAY_SUFFIX):
        grid = _grid_without_decay(grid)
    if not grid or _fixes_a_key(spec, grid):
        return spec
    return replace(spec, grid=tuple(dict(entry) for entry in grid))


def _grid_without_decay(grid: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]] | None:
    """Grid entries less their decay parameters (a ``-no-decay`` variant's grid); entries that
    differed only in those become one. ``None`` where nothing else is left to tune."""
    entries: list[Mapping[str, Any]] = []
    for entry in grid:
        kept = {k: v for k, v in entry.items() if k not in DECAY_ONLY_PARAMETERS}
        if kept not in entries:
            entries.append(kept)
    return entries if any(entries) else None


def _with_baselines(specs: list[ModelSpec]) -> list[ModelSpec]:
    """Each decaying spec followed by its ``-no-decay`` variant, and each model with ablations
    by those, unless already listed."""
    names = {s.name for s in specs}
    out: list[ModelSpec] = []
    for spec in specs:
        out.append(spec)
        baselines = [spec.no_decay()] if spec.decays else spec.ablations
        for baseline in baselines:
            if baseline.name not in names:
                out.append(baseline)
                names.add(baseline.name)
    return out


def _validate_param_grid(spec: ModelSpec) -> None:
    if spec.grid is None:
        return
    if isinstance(spec.grid, Mapping | str) or not all(
        isinstance(entry, Mapping) for entry in spec.grid
    ):
        raise InvalidParameterError(
            f"The 'grid' of ModelSpec {spec.name!r} must be a sequence of parameter mappings. "
            f"Got {spec.grid!r} instead."
        )


def _validate_grid(grid: Sequence[timedelta]) -> tuple[timedelta, ...]:
    values = tuple(grid)
    for value in values:
        if not isinstance(value, timedelta) or value.total_seconds() <= 0:
            raise InvalidParameterError(
                "The 'tune_half_lives' parameter must hold positive timedeltas. "
                f"Got {value!r} instead."
            )
    return values


def evaluate_models(
    split: Split,
    model_specs: Sequence[str | ModelSpec | tuple[str, Mapping[str, Any]]] | None = None,
    *,
    target: TargetKind = "item",
    repeats: RepeatPolicy = "exclude",
    ks: Sequence[int] = (10, 20),
    tune_half_lives: Sequence[timedelta] = DEFAULT_HALF_LIFE_GRID,
    tune_max_users: int | None = 5000,
    add_no_decay_baselines: bool = True,
    dataset: str = "events",
    seeds: int = 1,
    selection: GridSelection = "one-se",
    progress: bool = False,
) -> EvaluationResult:
    """Tune, refit and test several models on one split under one protocol.

    For every model: if it decays and its ``half_life`` is not fixed in its params, fit it on
    ``split.train`` once per half-life in ``tune_half_lives`` and keep the one with the best
    ``ndcg@ks[0]`` on the validation part (at most ``tune_max_users`` users; ties: the earlier
    grid entry); a spec with its own :attr:`ModelSpec.grid` tunes that grid instead, picked
    by ``selection``; then fit on train + validation with that half-life, timing the fit, and score
    it on the test part. Models without decay skip the tuning. Every model sees the same test
    users, instants and targets (one :class:`~decayrec.eval.protocols.EvaluationCase`).

    Parameters
    ----------
    split
        From :func:`~decayrec.data.split.leave_last_out` or
        :func:`~decayrec.data.split.temporal_split`.
    model_specs
        Names (``"decayed-profile"``, ``"decayed-itemknn-no-decay"``), ``(name, params)``
        pairs or :class:`ModelSpec` objects; ``None`` evaluates every registered model and
        its ``-no-decay`` variant.
    target, repeats
        The evaluation case (see :mod:`decayrec.eval.protocols`).
    ks
        Cutoffs; the first one is the tuning cutoff.
    tune_half_lives
        The half-life grid; empty disables tuning (each model keeps its default).
    tune_max_users
        Tune on at most this many validation users (a seeded random subset, the same for
        every model and half-life); ``None`` uses all. The test part always uses every user.
    add_no_decay_baselines
        Add the ``-no-decay`` variant of every decaying model that lacks one, so that the
        effect of decay is always measured.
    dataset
        Name recorded in the result.
    seeds
        How many training seeds every fit of a model with a ``seed`` parameter is made with
        (its own seed and the next ``seeds - 1``). Tuning scores each grid entry (or
        half-life) by its mean validation metric over the seeds; the test metrics, fit time
        and per-user figures (so the intervals) are the means over the final fits, each of
        which is kept (:attr:`ModelResult.seed_runs`). Why: a trained model's figures move
        with its seed (batch order, initialisation, where early stopping ends), on a small
        log by as much as the differences between models, so one seed both flatters the
        entry tuning picks (the best of many noisy scores) and misstates its test figure.
    selection
        How a parameter grid's choice is picked on validation (half-life grids always keep
        the best): ``"one-se"`` (default), the choice with the fewest parameters away from
        the model's defaults among those within one standard error of the best (the error
        of the paired per-user gap), or ``"best"``, the highest score. Why: a model's grid
        times its scoring grid is hundreds of choices, and on a validation part of a few
        dozen shoppers the best of them is mostly luck (see :mod:`decayrec.eval.selection`).
    progress
        Print one line per fit to stderr.

    Returns
    -------
    EvaluationResult

    Raises
    ------
    InvalidParameterError
        On bad arguments or when the test part has no user to evaluate.
    """
    cutoffs = tuple(ks)
    if not cutoffs or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 1 for k in cutoffs
    ):
        raise InvalidParameterError(
            f"The 'ks' parameter must hold integers >= 1. Got {cutoffs!r} instead."
        )
    cutoffs = tuple(int(k) for k in cutoffs)
    if isinstance(seeds, bool) or not isinstance(seeds, int | np.integer) or seeds < 1:
        raise InvalidParameterError(
            f"The 'seeds' parameter must be an integer >= 1. Got {seeds!r} instead."
        )
    seeds = int(seeds)
    check_selection(selection)
    if tune_max_users is not None and (
        isinstance(tune_max_users, bool)
        or not isinstance(tune_max_users, int)
        or tune_max_users < 1
    ):
        raise InvalidParameterError(
            "The 'tune_max_users' parameter must be an integer >= 1 or None. "
            f"Got {tune_max_users!r} instead."
        )
    grid = _validate_grid(tune_half_lives)
    specs = default_model_specs() if model_specs is None else [_as_spec(s) for s in model_specs]
    if not specs:
        raise InvalidParameterError("The 'model_specs' parameter must name at least one model.")
    for spec in specs:
        _validate_param_grid(spec)
    if add_no_decay_baselines:
        specs = _with_baselines(specs)
    specs = [_with_model_grid(spec) for spec in specs]

    test_case = EvaluationCase.from_split(split, part="test", target=target, repeats=repeats)
    notes: list[str] = []
    validation_case: EvaluationCase | None = None
    if (grid and any(s.tunes_half_life for s in specs)) or any(s.tunes_grid for s in specs):
        validation_case, reason = _validation_case(split, target, repeats)
        if validation_case is None:
            grids = any(s.tunes_grid for s in specs)
            what = "half-lives and parameter grids" if grids else "half-lives"
            notes.append(f"{what} not tuned: {reason}")
        elif tune_max_users is not None:
            validation_case = validation_case.subsample(tune_max_users)
    tuning_metric = metric_key("ndcg", cutoffs[0])

    n_steps = sum(
        _n_final_fits(spec, seeds) + _n_tuning_steps(spec, grid, validation_case) for spec in specs
    )
    reporter = _Reporter(progress, n_steps)
    try:
        results = [
            _run_spec(
                spec,
                grid,
                validation_case,
                test_case,
                cutoffs,
                tuning_metric,
                reporter,
                seeds,
                selection,
            )
            for spec in specs
        ]
    finally:
        reporter.close()
    return EvaluationResult(
        dataset=dataset,
        protocol=split.protocol,
        target=target,
        repeats=repeats,
        ks=cutoffs,
        description=split.description,
        case=test_case.summary(),
        results=results,
        tuning_metric=tuning_metric,
        notes=notes,
        tuning_users=None if validation_case is None else validation_case.n_users,
        user_ids=tuple(test_case.user_ids),
    )


def _n_tuning_steps(
    spec: ModelSpec, grid: Sequence[timedelta], validation_case: EvaluationCase | None
) -> int:
    """Validation scores of one spec's tuning (a grid fit is scored once per scoring entry)."""
    if validation_case is None:
        return 0
    if spec.tunes_grid:
        return len(spec.grid or ()) * len(_scoring_entries(spec))
    return len(grid) if spec.tunes_half_life else 0


def _n_final_fits(spec: ModelSpec, seeds: int) -> int:
    """Fits on train + validation: one per training seed for a model that has a seed."""
    return len(_seeded(spec, seeds, {}))


def _tune_param_grid(
    spec: ModelSpec,
    validation_case: EvaluationCase,
    tuning_metric: str,
    cutoff: int,
    reporter: _Reporter,
    seeds: int = 1,
    selection: GridSelection = "one-se",
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Fit one model per grid entry on train, score it on validation; ``selection`` picks.

    Each fit is scored once per entry of the model's :attr:`~Recommender.scoring_grid`
    (values that change scoring only, applied without a refit), so a choice is a grid entry
    and a scoring entry together. A model with a training seed is fitted with ``seeds`` seeds
    per entry and scored by the mean over them. Each tuning row records how many parameters
    the choice sets away from the model's defaults (``departures``) and the standard error of
    its per-user gap to the best (``gap_se``), which :func:`~decayrec.eval.selection.select_choice`
    reads.
    """
    choices, scores, per_user = _score_grid(
        spec, validation_case, tuning_metric, cutoff, reporter, seeds
    )
    departures = _departures(spec, choices)
    picked = select_choice(scores, per_user, departures, selection)
    best = best_choice(scores)
    errors = gap_standard_errors(per_user, best)
    tuning = [
        {
            **{k: to_json(v) for k, v in choice.items()},
            tuning_metric: score,
            "departures": departure,
            "gap_se": float(error),
        }
        for choice, score, departure, error in zip(choices, scores, departures, errors, strict=True)
    ]
    if picked != best:
        reporter.log(
            f"{spec.name}: kept {choices[picked]} ({departures[picked]} departures from the "
            f"defaults, validation {scores[picked]:.4f}): within one standard error "
            f"({errors[picked]:.4f}) of the best, {choices[best]} ({scores[best]:.4f})",
            advance=False,
        )
    return choices[picked], tuning


def _score_grid(
    spec: ModelSpec,
    validation_case: EvaluationCase,
    tuning_metric: str,
    cutoff: int,
    reporter: _Reporter,
    seeds: int,
) -> tuple[list[dict[str, Any]], list[float], list[FloatArray]]:
    """Every choice of ``spec``'s grid (entry and applicable scoring entry), its validation
    score and its per-user values, each the mean over the training seeds."""
    choices: list[dict[str, Any]] = []
    scores: list[float] = []
    per_user: list[FloatArray] = []
    entries = _scoring_entries(spec)
    for entry in (dict(entry) for entry in spec.grid or ()):
        start = time.perf_counter()
        models = [m.fit(validation_case.fit_events) for m in _seeded(spec, seeds, entry)]
        applicable = models[0].applicable_scoring(entries)
        reporter.skip(len(entries) - len(applicable))
        for scoring in applicable:
            score, values = _mean_score(models, validation_case, tuning_metric, cutoff, scoring)
            choices.append({**entry, **scoring})
            scores.append(score)
            per_user.append(values)
            reporter.log(
                f"{spec.name}: {choices[-1]} -> validation {tuning_metric} {score:.4f} "
                f"({time.perf_counter() - start:.1f}s)"
            )
    return choices, scores, per_user


def _departures(spec: ModelSpec, choices: Sequence[Mapping[str, Any]]) -> list[int]:
    """How many parameters each choice sets to another value than ``spec`` builds with
    (compared in their JSON form, so a duration and its seconds are one value)."""
    defaults = spec.build().get_params()
    return [
        sum(to_json(defaults.get(key)) != to_json(value) for key, value in choice.items())
        for choice in choices
    ]


def _mean_score(
    models: Sequence[Recommender],
    case: EvaluationCase,
    metric: str,
    cutoff: int,
    scoring: Mapping[str, Any] | None = None,
) -> tuple[float, FloatArray]:
    """``metric`` on ``case`` averaged over fitted models (one per training seed), each
    rescored with the ``scoring`` parameters first when given; and its per-user values
    averaged the same way (NaN for a user without a target)."""
    scored = [model.with_scoring(**scoring) if scoring else model for model in models]
    runs = [case.score(model, (cutoff,)) for model in scored]
    score = float(np.mean([metrics[metric] for metrics, _ in runs]))
    return score, np.mean([values[metric] for _, values in runs], axis=0)


def _scoring_entries(spec: ModelSpec) -> list[dict[str, Any]]:
    """The model's scoring grid, or one empty entry: for a ``-no-decay`` variant (the scoring
    parameters rescale decay) or where the spec fixes one of the grid's parameters."""
    grid = getattr(spec.model_class, "scoring_grid", ())
    if not grid or not spec.decays or _fixes_a_key(spec, grid):
        return [{}]
    return [dict(entry) for entry in grid]


def _fixes_a_key(spec: ModelSpec, grid: Sequence[Mapping[str, Any]]) -> bool:
    """Whether the spec's own params fix a parameter the grid would vary."""
    return any(key in spec.params for entry in grid for key in entry)


def _run_spec(
    spec: ModelSpec,
    grid: Sequence[timedelta],
    validation_case: EvaluationCase | None,
    test_case: EvaluationCase,
    cutoffs: tuple[int, ...],
    tuning_metric: str,
    reporter: _Reporter,
    seeds: int = 1,
    selection: GridSelection = "one-se",
) -> ModelResult:
    """Tune one model's half-life or grid on validation, refit (once per training seed), and
    score it on test."""
    overrides: dict[str, Any] = {}
    tuning: list[dict[str, Any]] | None = None
    if spec.tunes_grid and validation_case is not None:
        overrides, tuning = _tune_param_grid(
            spec, validation_case, tuning_metric, cutoffs[0], reporter, seeds, selection
        )
    elif spec.tunes_half_life and validation_case is not None:
        tuning = []
        for half_life in grid:
            start = time.perf_counter()
            models = [
                m.fit(validation_case.fit_events)
                for m in _seeded(spec, seeds, {"half_life": half_life})
            ]
            score, _ = _mean_score(models, validation_case, tuning_metric, cutoffs[0])
            tuning.append({"half_life": half_life.total_seconds(), tuning_metric: score})
            reporter.log(
                f"{spec.name}: half-life {_duration_text(half_life)} -> validation "
                f"{tuning_metric} {score:.4f} ({time.perf_counter() - start:.1f}s)"
            )
        best = max(range(len(grid)), key=lambda i: (tuning[i][tuning_metric], -i))
        overrides["half_life"] = grid[best]
    runs = [
        _fit_and_test(spec, model, test_case, cutoffs, reporter)
        for model in _seeded(spec, seeds, overrides)
    ]
    # One run per training seed (one in all for a model without a seed): report the means.
    metrics = {key: float(np.mean([run.metrics[key] for run in runs])) for key in runs[0].metrics}
    seed_runs = None
    if len(runs) > 1:
        seed_runs = [
            {
                "seed": int(run.model.get_params()["seed"]),
                "fit_seconds": run.fit_seconds,
                "metrics": run.metrics,
            }
            for run in runs
        ]
        headline = metric_key("ndcg", cutoffs[0])
        reporter.log(
            f"{spec.name}: mean test {headline} over seeds {seed_runs[0]['seed']}-"
            f"{seed_runs[-1]['seed']}: {metrics[headline]:.4f}",
            advance=False,
        )
    return ModelResult(
        model=spec.name,
        params=runs[0].model.get_params(),
        fit_seconds=float(np.mean([run.fit_seconds for run in runs])),
        metrics=metrics,
        evaluate_seconds=float(sum(run.evaluate_seconds for run in runs)),
        tuning=tuning,
        per_user={
            key: np.mean([run.per_user[key] for run in runs], axis=0) for key in runs[0].per_user
        },
        seed_runs=seed_runs,
    )


def _seeded(spec: ModelSpec, seeds: int, overrides: Mapping[str, Any]) -> list[Recommender]:
    """Unfitted models of ``spec`` with ``overrides``: one per training seed (the spec's own
    seed and the next ``seeds - 1``) for a model that has a seed, else just one."""
    first = spec.build(**overrides)
    seed = first.get_params().get("seed")
    if seeds == 1 or isinstance(seed, bool) or not isinstance(seed, int):
        return [first]
    return [first, *(spec.build(**overrides, seed=seed + k) for k in range(1, seeds))]


class _TestRun(NamedTuple):
    """One final fit on train + validation and its test scores."""

    model: Recommender
    fit_seconds: float
    metrics: dict[str, float]
    per_user: Mapping[str, FloatArray]
    evaluate_seconds: float


def _fit_and_test(
    spec: ModelSpec,
    model: Recommender,
    test_case: EvaluationCase,
    cutoffs: tuple[int, ...],
    reporter: _Reporter,
) -> _TestRun:
    """Fit on train + validation and score on test."""
    start = time.perf_counter()
    model.fit(test_case.fit_events)
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    metrics, per_user = test_case.score(model, cutoffs)
    evaluate_seconds = time.perf_counter() - start
    headline = metric_key("ndcg", cutoffs[0])
    seed = model.get_params().get("seed")
    label = f"{spec.name} (seed {seed})" if isinstance(seed, int) else spec.name
    reporter.log(
        f"{label}: fit {fit_seconds:.1f}s, test {headline} {metrics[headline]:.4f} "
        f"({evaluate_seconds:.1f}s)"
    )
    return _TestRun(model, fit_seconds, metrics, per_user, evaluate_seconds)


def _validation_case(
    split: Split, target: TargetKind, repeats: RepeatPolicy
) -> tuple[EvaluationCase | None, str]:
    """The validation case, or ``None`` and why there is none."""
    if split.validation.n_events == 0:
        return None, "the split has no validation part"
    try:
        case = EvaluationCase.from_split(split, part="validation", target=target, repeats=repeats)
    except InvalidParameterError as error:
        return None, str(error)
    return case, ""


class _Reporter:
    """A rich progress bar over all fits of a run (on stderr), with one log line per fit.

    Does nothing when progress is off, so the runner stays quiet inside tests and libraries.
    """

    def __init__(self, enabled: bool, total: int) -> None:
        self._bar: Any = None
        if not enabled:
            return
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self._bar = Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=Console(stderr=True, log_path=False, highlight=False),
            transient=True,
        )
        self._task = self._bar.add_task("fitting and scoring", total=total)
        self._bar.start()

    def log(self, message: str, *, advance: bool = True) -> None:
        """Print a line above the bar and (unless ``advance`` is false) advance it by one
        step: a validation score or a final fit."""
        if self._bar is not None:
            self._bar.console.log(message)
            if advance:
                self._bar.advance(self._task)

    def skip(self, steps: int) -> None:
        """Advance the bar by ``steps`` counted but not run (a scoring entry that changes
        nothing for a fit)."""
        if self._bar is not None and steps:
            self._bar.advance(self._task, steps)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _duration_text(value: timedelta) -> str:
    """``6h``, ``14d``, ``90s``: short enough for progress lines."""
    seconds = value.total_seconds()
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"
