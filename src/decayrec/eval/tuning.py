"""Tune a fixed-decay model's hyper-parameters with Optuna, on the validation part only.

Why: a model that *learns* its decay must be compared with fixed-decay models at their best,
not at their defaults; the runner's four-point half-life grid (:mod:`decayrec.eval.runner`)
leaves the event weights and every model-specific knob at their defaults. :func:`tune_model`
searches them all with a seeded TPE sampler, scoring each candidate exactly as the runner
tunes a half-life: fitted on ``split.train``, ranked for the same validation
:class:`~decayrec.eval.protocols.EvaluationCase` (the same users, instants, targets and cap
on users). The test part is never read. The best parameters come back in the model's
:meth:`~decayrec.models.base.Recommender.get_params` form, ready for
:func:`decayrec.models.make_model` and for ``decayrec evaluate --tuned``, which refits them on
train + validation and tests them once.

Search space (each dimension only where it can change the ranking that is scored):

* ``half_life``: log-uniform from 1 hour to 365 days. One hour is a single shopping session;
  a year covers seasonal and review logs that span years. Log scale because a change from 2 to
  4 hours matters as much as one from 20 to 40 days. Infinity is the ``-no-decay`` variant,
  which evaluation always shows beside the model.
* ``event_weights`` of ``favourite``, ``cart`` and ``purchase``: log-uniform from 0.25 to 30,
  with ``view`` (and ``click``) fixed at 1. Every model normalises or ranks scores in a way that
  a common factor on all weights cannot change, so only the ratios to a view matter; 0.25 lets
  a funnel step count *less* than a view (bulk carting), 30 lets one purchase outweigh a long
  browsing session. Only the types that occur in the training part are tuned (Amazon reviews
  have none of them); without views, the first of these types present stays at its default as
  the anchor of the ratios. Other types (``rating``, ``review``) keep their defaults.
* :class:`~decayrec.models.DecayedPopularity`: the half-life alone.
* :class:`~decayrec.models.DecayedProfile`: ``popularity_half_life``, one of ``"same"`` (the
  interest half-life), its own value (log-uniform, 1 hour to 365 days) or ``None`` (all-time
  popularity within the category); and ``repeat_weight``, either 0 or log-uniform from 0.01 to
  10. The term it weights is the user's normalised item interest (at most 1) against category
  interest × popularity share (also at most 1), so 0.01 makes repeats a tie-break and 10 puts
  every repeat above every new item. It is tuned only with item targets and
  ``repeats="allow"``: otherwise the repeated items are excluded (or categories are ranked by
  interest alone) and the weight changes nothing.
* :class:`~decayrec.models.DecayedItemKNN`: ``similarity``, one of ``cooccurrence``,
  ``jaccard``, ``cosine``, ``lift``, ``inclusion``; where co-occurrence is counted: anywhere in
  a user's history, or only between events at most 2, 5 or 10 positions apart
  (``sequence_window``, with ``sequence_step_decay`` uniform in [0.3, 1] and
  ``sequence_backward_weight``, how much an item passes to the items met before it rather
  than after it, uniform in [0, 1]); and
  ``self_weight``, either 0 (recommend
  only from similar items) or log-uniform from 0.01 to 10 (1 is SAR's perfect self-similarity).
  ``self_weight`` adds only to the user's own items, so it too is tuned only with
  ``repeats="allow"``.

The first trial is always the model's defaults, so the best value is never below theirs;
ties go to the earlier trial. Kernels, category half-lives and the neighbourhood size keep
their defaults.

Stability: experimental (the search space may widen).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Final

import numpy as np

from decayrec.data.schema import EventLog, EventType
from decayrec.errors import InvalidParameterError, MissingExtraError
from decayrec.eval.metrics import RANKING_METRICS, metric_key
from decayrec.eval.protocols import EvaluationCase, RepeatPolicy, TargetKind, _check_choice
from decayrec.eval.runner import _Reporter, _validation_case
from decayrec.models._params import parse_event_weights, to_json

if TYPE_CHECKING:
    import optuna

    from decayrec.data.split import Split
    from decayrec.models.base import Recommender

__all__ = ["TUNABLE_MODELS", "TuningResult", "parse_metric", "tune_model"]

#: Models with fixed decay that :func:`tune_model` can tune (``learned-decay`` learns its own).
TUNABLE_MODELS: Final = ("decayed-popularity", "decayed-profile", "decayed-itemknn")

#: Half-life range in days: one hour to one year.
_HALF_LIFE_DAYS: Final = (1.0 / 24.0, 365.0)
#: Event weight range, relative to a view (weight 1).
_EVENT_WEIGHT: Final = (0.25, 30.0)
#: Range of the non-zero repeat weights (``repeat_weight``, ``self_weight``).
_REPEAT_WEIGHT: Final = (0.01, 10.0)
#: Funnel types whose weight is tuned (when present in the training part).
_FUNNEL_TYPES: Final = ("favourite", "cart", "purchase")
_SIMILARITIES: Final = ("cooccurrence", "jaccard", "cosine", "lift", "inclusion")
#: DecayedItemKNN's co-occurrence windows (0: the whole history) and their step decay.
_SEQUENCE_WINDOWS: Final = (0, 2, 5, 10)
_SEQUENCE_STEP_DECAY: Final = (0.3, 1.0)
_SEQUENCE_BACKWARD_WEIGHT: Final = (0.0, 1.0)
_POPULARITY_MODES: Final = ("same", "own", "none")
_DAY: Final = 86400.0


@dataclass(frozen=True)
class TuningResult:
    """The best parameters one model reached on validation, and every trial on the way.

    Attributes
    ----------
    model
        Registry name, e.g. ``"decayed-profile"``.
    params
        The best model's :meth:`~decayrec.models.base.Recommender.get_params` (JSON-ready,
        durations in seconds): ``make_model(model, **params)`` rebuilds it.
    best_value
        Its validation value of :attr:`metric`.
    best_trial
        Its trial number (an index into :attr:`trials`).
    default_value
        The validation value of the model's defaults (always the first trial).
    metric
        The validation metric maximised, e.g. ``"ndcg@10"``.
    n_trials
        Trials completed (fewer than asked when the timeout stopped the search).
    n_users
        Validation users every trial was scored on.
    seed
        Seed of the TPE sampler.
    trials
        ``[{"number", "params", "value", "seconds"}, ...]`` in trial order; ``params`` holds
        only the tuned parameters, in the :attr:`params` form.
    """

    model: str
    params: dict[str, Any]
    best_value: float
    best_trial: int
    default_value: float
    metric: str
    n_trials: int
    n_users: int
    seed: int
    trials: list[dict[str, Any]] = field(default_factory=list)

    def to_json_dict(self) -> dict[str, Any]:
        """``{"model", "params", "best_value", "best_trial", "default_value", "metric",
        "n_trials", "n_users", "seed", "trials"}``, the JSON shape ``decayrec evaluate --tuned``
        reads."""
        return {
            "model": self.model,
            "params": dict(self.params),
            "best_value": self.best_value,
            "best_trial": self.best_trial,
            "default_value": self.default_value,
            "metric": self.metric,
            "n_trials": self.n_trials,
            "n_users": self.n_users,
            "seed": self.seed,
            "trials": [dict(trial) for trial in self.trials],
        }


def parse_metric(text: str, *, name: str = "metric") -> tuple[str, int]:
    """``"ndcg@10"`` -> ``("ndcg", 10)``; raises naming ``name`` on anything else.

    Examples
    --------
    >>> parse_metric("recall@20")
    ('recall', 20)
    """
    metric, sep, cutoff = str(text).strip().lower().partition("@")
    if sep and metric in RANKING_METRICS and cutoff.isdigit() and int(cutoff) >= 1:
        return metric, int(cutoff)
    raise InvalidParameterError(
        f"The '{name}' parameter must be a ranking metric at a cutoff such as ndcg@10, with the "
        f"metric one of {', '.join(RANKING_METRICS)}. Got {text!r} instead."
    )


def tune_model(
    split: Split,
    model: str,
    *,
    n_trials: int = 40,
    timeout: float | None = None,
    target: TargetKind = "item",
    repeats: RepeatPolicy = "exclude",
    metric: str = "ndcg@10",
    seed: int = 0,
    progress: bool = False,
    max_users: int | None = 5000,
) -> TuningResult:
    """Search ``model``'s hyper-parameters with Optuna's TPE, scoring on validation only.

    Each trial fits the model on ``split.train`` and scores its ranking of the validation
    case (the one :func:`~decayrec.eval.runner.evaluate_models` tunes half-lives on, capped
    to the same seeded subset of users). The test part is never read. The search space is
    described in the module docstring; the first trial is the model's defaults.

    Parameters
    ----------
    split
        From :func:`~decayrec.data.split.leave_last_out` or
        :func:`~decayrec.data.split.temporal_split`; it needs a validation part.
    model
        One of :data:`TUNABLE_MODELS`.
    n_trials
        Trials to run (the defaults count as one).
    timeout
        Start no new trial after this many seconds (``None``: no limit); the first trial,
        the defaults, always runs.
    target, repeats
        The evaluation case (see :mod:`decayrec.eval.protocols`); they also decide which
        parameters can matter (see the module docstring).
    metric
        Validation metric to maximise, ``<ranking metric>@<K>``.
    seed
        Seed of ``optuna.samplers.TPESampler``: the same seed, split and budget of trials
        give the same trials and result.
    progress
        Show a progress bar over the trials on stderr, with one line per trial.
    max_users
        Score at most this many validation users (a seeded subset, the same for every
        trial); ``None`` uses all.

    Returns
    -------
    TuningResult

    Raises
    ------
    InvalidParameterError
        An unknown model or option, or a split without a usable validation part.
    MissingExtraError
        Optuna is not installed (``pip install 'decayrec[tune]'``).
    """
    if model not in TUNABLE_MODELS:
        why = " (it learns its own half-lives)" if model == "learned-decay" else ""
        raise InvalidParameterError(
            f"The 'model' parameter of tune_model must be one of {', '.join(TUNABLE_MODELS)}"
            f"{why}. Got {model!r} instead."
        )
    if isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 1:
        raise InvalidParameterError(
            f"The 'n_trials' parameter must be an integer >= 1. Got {n_trials!r} instead."
        )
    if timeout is not None and (
        isinstance(timeout, bool)
        or not isinstance(timeout, int | float)
        or not math.isfinite(timeout)
        or timeout <= 0
    ):
        raise InvalidParameterError(
            f"The 'timeout' parameter must be a positive number of seconds or None. "
            f"Got {timeout!r} instead."
        )
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise InvalidParameterError(
            f"The 'seed' parameter must be an integer. Got {seed!r} instead."
        )
    if max_users is not None and (
        isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1
    ):
        raise InvalidParameterError(
            f"The 'max_users' parameter must be an integer >= 1 or None. Got {max_users!r} instead."
        )
    _check_choice("target", target, ("item", "category"))
    _check_choice("repeats", repeats, ("exclude", "allow"))
    metric_name, cutoff = parse_metric(metric)
    metric = metric_key(metric_name, cutoff)
    optuna = _import_optuna()

    case, reason = _validation_case(split, target, repeats)
    if case is None:
        raise InvalidParameterError(f"Cannot tune {model} on validation: {reason}")
    if max_users is not None:
        case = case.subsample(max_users)
    space = _SearchSpace.for_model(model, case.fit_events, target=target, repeats=repeats)
    objective = _Objective(model, space, case, metric, cutoff)

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    reporter = _Reporter(progress, n_trials)
    try:
        study = optuna.create_study(
            direction="maximize", sampler=optuna.samplers.TPESampler(seed=int(seed))
        )
        callbacks = [lambda _study, _trial: reporter.log(objective.last_line)]
        started = time.perf_counter()
        study.enqueue_trial(space.default_trial())
        # The defaults always run (a timeout cannot leave the search without a result).
        study.optimize(objective, n_trials=1, callbacks=callbacks)
        remaining = None if timeout is None else timeout - (time.perf_counter() - started)
        if n_trials > 1 and (remaining is None or remaining > 0):
            study.optimize(objective, n_trials=n_trials - 1, timeout=remaining, callbacks=callbacks)
    finally:
        reporter.close()
        optuna.logging.set_verbosity(verbosity)

    history = objective.history
    best = max(range(len(history)), key=lambda i: (history[i]["value"], -i))
    best_model = space.build(history[best]["overrides"])
    return TuningResult(
        model=model,
        params=best_model.get_params(),
        best_value=float(history[best]["value"]),
        best_trial=int(history[best]["number"]),
        default_value=float(history[0]["value"]),
        metric=metric,
        n_trials=len(history),
        n_users=case.n_users,
        seed=int(seed),
        trials=[
            {
                "number": entry["number"],
                "params": to_json(entry["overrides"]),
                "value": entry["value"],
                "seconds": entry["seconds"],
            }
            for entry in history
        ],
    )


def _import_optuna() -> Any:
    """Optuna, or :class:`MissingExtraError` naming the extra that installs it."""
    try:
        import optuna
    except ImportError as error:
        raise MissingExtraError(
            f"Tuning needs Optuna: pip install 'decayrec[tune]' ({error})."
        ) from error
    return optuna


@dataclass(frozen=True)
class _SearchSpace:
    """Which parameters of one model a study tunes, given the data and evaluation case."""

    model: str
    weight_types: tuple[str, ...]
    repeat_param: str | None  # "repeat_weight" / "self_weight" when it can change a ranking

    @classmethod
    def for_model(
        cls, model: str, train: EventLog, *, target: TargetKind, repeats: RepeatPolicy
    ) -> _SearchSpace:
        codes = np.unique(train.event_type).tolist()
        present = {EventType(int(code)).label for code in codes}
        funnel = [label for label in _FUNNEL_TYPES if label in present]
        if funnel and not present & {"view", "click"}:
            funnel = funnel[1:]  # the first funnel type present anchors the ratios
        repeat_param: str | None = None
        if model == "decayed-profile" and target == "item" and repeats == "allow":
            repeat_param = "repeat_weight"
        elif model == "decayed-itemknn" and repeats == "allow":
            repeat_param = "self_weight"
        return cls(model, tuple(funnel), repeat_param)

    def build(self, overrides: Mapping[str, Any]) -> Recommender:
        """An unfitted model with its defaults updated by ``overrides``."""
        from decayrec.models import make_model

        return make_model(self.model, **overrides)

    def suggest(self, trial: optuna.Trial) -> dict[str, Any]:
        """Constructor overrides for one trial."""
        low, high = _HALF_LIFE_DAYS
        out: dict[str, Any] = {
            "half_life": timedelta(days=trial.suggest_float("half_life_days", low, high, log=True))
        }
        if self.weight_types:
            out["event_weights"] = {
                label: trial.suggest_float(f"weight_{label}", *_EVENT_WEIGHT, log=True)
                for label in self.weight_types
            }
        if self.model == "decayed-profile":
            mode = trial.suggest_categorical("popularity_half_life_mode", _POPULARITY_MODES)
            if mode == "own":
                days = trial.suggest_float("popularity_half_life_days", low, high, log=True)
                out["popularity_half_life"] = timedelta(days=days)
            else:
                out["popularity_half_life"] = None if mode == "none" else "same"
        if self.model == "decayed-itemknn":
            out["similarity"] = trial.suggest_categorical("similarity", _SIMILARITIES)
            window = trial.suggest_categorical("sequence_window", _SEQUENCE_WINDOWS)
            out["sequence_window"] = window or None  # 0: the whole history
            if window:
                out["sequence_step_decay"] = trial.suggest_float(
                    "sequence_step_decay", *_SEQUENCE_STEP_DECAY
                )
                out["sequence_backward_weight"] = trial.suggest_float(
                    "sequence_backward_weight", *_SEQUENCE_BACKWARD_WEIGHT
                )
        if self.repeat_param is not None:
            zero = trial.suggest_categorical(f"{self.repeat_param}_zero", (False, True))
            out[self.repeat_param] = (
                0.0 if zero else trial.suggest_float(self.repeat_param, *_REPEAT_WEIGHT, log=True)
            )
        return out

    def default_trial(self) -> dict[str, Any]:
        """The model's defaults as values of the trial parameters of :meth:`suggest`."""
        model: Any = self.build({})
        trial: dict[str, Any] = {"half_life_days": model.half_life.total_seconds() / _DAY}
        weights = parse_event_weights(model.event_weights, type(model).__name__)
        for label in self.weight_types:
            trial[f"weight_{label}"] = float(getattr(weights, label))
        if self.model == "decayed-profile":
            popularity = model.popularity_half_life
            if isinstance(popularity, timedelta):
                trial["popularity_half_life_mode"] = "own"
                trial["popularity_half_life_days"] = popularity.total_seconds() / _DAY
            else:
                trial["popularity_half_life_mode"] = "none" if popularity is None else "same"
        if self.model == "decayed-itemknn":
            trial["similarity"] = model.similarity
            trial["sequence_window"] = model.sequence_window or 0
            if model.sequence_window:
                trial["sequence_step_decay"] = float(model.sequence_step_decay)
                trial["sequence_backward_weight"] = float(model.sequence_backward_weight)
        if self.repeat_param is not None:
            value = float(getattr(model, self.repeat_param))
            trial[f"{self.repeat_param}_zero"] = value == 0
            if value:
                trial[self.repeat_param] = value
        return trial


class _Objective:
    """Fit on train, score validation; keeps the history in the model's parameter form."""

    def __init__(
        self, model: str, space: _SearchSpace, case: EvaluationCase, metric: str, cutoff: int
    ) -> None:
        self.model = model
        self.space = space
        self.case = case
        self.metric = metric
        self.cutoff = cutoff
        self.history: list[dict[str, Any]] = []
        self.last_line = ""

    def __call__(self, trial: optuna.Trial) -> float:
        start = time.perf_counter()
        overrides = self.space.suggest(trial)
        fitted = self.space.build(overrides).fit(self.case.fit_events)
        value = float(self.case.evaluate(fitted, (self.cutoff,))[self.metric])
        seconds = time.perf_counter() - start
        self.history.append(
            {"number": trial.number, "overrides": overrides, "value": value, "seconds": seconds}
        )
        best = max(entry["value"] for entry in self.history)
        self.last_line = (
            f"{self.model} trial {trial.number}: validation {self.metric} {value:.4f} "
            f"(best {best:.4f}; {_describe(overrides)}; {seconds:.1f}s)"
        )
        return value


def _describe(overrides: Mapping[str, Any]) -> str:
    """``half_life=2.3d, cart=4.1, similarity=cosine``: short enough for progress lines."""
    parts = []
    for key, value in overrides.items():
        if isinstance(value, timedelta):
            parts.append(f"{key}={_duration_text(value)}")
        elif isinstance(value, Mapping):
            parts.extend(f"{label}={weight:.3g}" for label, weight in value.items())
        elif isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


def _duration_text(value: timedelta) -> str:
    seconds = value.total_seconds()
    for unit, size in (("d", _DAY), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.3g}{unit}"
    return f"{seconds:.3g}s"
