"""Honest evaluation: full-ranking metrics, evaluation cases from splits, a tuning runner.

Why in one package: metrics (:mod:`~decayrec.eval.metrics`), protocols
(:mod:`~decayrec.eval.protocols`) and models stay independent, so any model runs under any
protocol; :func:`evaluate_models` ties them together (tune the half-life on validation only,
refit on train + validation, test once), :func:`tune_model` searches a fixed-decay model's
parameters with Optuna on validation only, :func:`pool_folds` pools evaluations at successive
cutoffs (rolling origin) into one comparison, and :mod:`~decayrec.eval.report` prints the table.
"""

from __future__ import annotations

from decayrec.eval.folds import PooledComparison, pool_folds
from decayrec.eval.metrics import (
    RANKING_METRICS,
    average_metrics,
    catalogue_coverage,
    hit_matrix,
    metric_key,
    per_user_metrics,
    ranking_metrics,
)
from decayrec.eval.protocols import CasePart, EvaluationCase, RepeatPolicy, TargetKind
from decayrec.eval.report import (
    DEFAULT_REPORT_METRICS,
    render_markdown,
    render_table,
    render_text,
    report_columns,
)
from decayrec.eval.runner import (
    DEFAULT_HALF_LIFE_GRID,
    EvaluationResult,
    ModelResult,
    ModelSpec,
    default_model_specs,
    evaluate_models,
)
from decayrec.eval.selection import GRID_SELECTIONS, GridSelection, check_selection, select_choice
from decayrec.eval.tuning import TUNABLE_MODELS, TuningResult, parse_metric, tune_model

__all__ = [
    "DEFAULT_HALF_LIFE_GRID",
    "DEFAULT_REPORT_METRICS",
    "GRID_SELECTIONS",
    "RANKING_METRICS",
    "TUNABLE_MODELS",
    "CasePart",
    "EvaluationCase",
    "EvaluationResult",
    "GridSelection",
    "ModelResult",
    "ModelSpec",
    "PooledComparison",
    "RepeatPolicy",
    "TargetKind",
    "TuningResult",
    "average_metrics",
    "catalogue_coverage",
    "check_selection",
    "default_model_specs",
    "evaluate_models",
    "hit_matrix",
    "metric_key",
    "parse_metric",
    "per_user_metrics",
    "pool_folds",
    "ranking_metrics",
    "render_markdown",
    "render_table",
    "render_text",
    "report_columns",
    "select_choice",
    "tune_model",
]
