"""Honest evaluation: full-ranking metrics, evaluation cases from splits, a tuning runner.

Why in one package: metrics (:mod:`~decayrec.eval.metrics`), protocols
(:mod:`~decayrec.eval.protocols`) and models stay independent, so any model runs under any
protocol; :func:`evaluate_models` ties them together (tune the half-life on validation only,
refit on train + validation, test once) and :mod:`~decayrec.eval.report` prints the table.
"""

from __future__ import annotations

from decayrec.eval.metrics import (
    RANKING_METRICS,
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

__all__ = [
    "DEFAULT_HALF_LIFE_GRID",
    "DEFAULT_REPORT_METRICS",
    "RANKING_METRICS",
    "CasePart",
    "EvaluationCase",
    "EvaluationResult",
    "ModelResult",
    "ModelSpec",
    "RepeatPolicy",
    "TargetKind",
    "catalogue_coverage",
    "default_model_specs",
    "evaluate_models",
    "hit_matrix",
    "metric_key",
    "per_user_metrics",
    "ranking_metrics",
    "render_markdown",
    "render_table",
    "render_text",
    "report_columns",
]
