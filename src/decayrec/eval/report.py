"""Result tables for people: a rich table for the terminal and a Markdown table for documents.

Why: an evaluation is read as a comparison, so models are rows, metrics are columns and the
best value of each column is marked (bold, with a ``*`` that survives plain text). Both
renderers take an :class:`~decayrec.eval.runner.EvaluationResult` or its JSON document, so the
CLI can re-render a saved ``results.json``.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from decayrec.eval.metrics import metric_key
from decayrec.eval.runner import EvaluationResult

__all__ = [
    "DEFAULT_REPORT_METRICS",
    "render_markdown",
    "render_table",
    "render_text",
    "report_columns",
]

#: Metrics shown by default, at every cutoff (all metrics stay in the JSON document).
DEFAULT_REPORT_METRICS: tuple[str, ...] = ("ndcg", "recall", "hit_rate", "mrr", "map", "coverage")

ResultLike = EvaluationResult | Mapping[str, Any]


@dataclass(frozen=True)
class _Rows:
    """The parts of a result a table needs, from either input form."""

    header: str
    models: list[str]
    fit_seconds: list[float]
    metrics: list[dict[str, float]]
    ks: list[int]
    #: Seconds spent scoring each model's test users, when the document records them.
    score_seconds: list[float] | None = None
    #: The paired-difference column, when the document has uncertainty: its metric (the
    #: column shows only beside that metric), title and cells.
    difference_metric: str | None = None
    difference_column: str | None = None
    differences: list[str] | None = None

    @property
    def time_columns(self) -> list[str]:
        return ["fit s", "score s"] if self.score_seconds is not None else ["fit s"]

    def extra_columns(self, shown: Sequence[str]) -> list[str]:
        """The difference column, where its metric is among the ``shown`` columns."""
        if self.difference_column is None or self.difference_metric not in shown:
            return []
        return [self.difference_column]


def _rows(result: ResultLike) -> _Rows:
    doc = result.to_json_dict() if isinstance(result, EvaluationResult) else result
    results = list(doc.get("results", []))
    metrics = [dict(r.get("metrics", {})) for r in results]
    ks = [int(k) for k in doc.get("ks", [])]
    if not ks:  # a document without "ks": read the cutoffs from the metric keys
        found = {key.split("@", 1)[1].split(".", 1)[0] for m in metrics for key in m if "@" in key}
        ks = sorted(int(k) for k in found if k.isdigit())
    parts = [str(doc.get("dataset", "")), str(doc.get("protocol", ""))]
    if "target" in doc:
        parts.append(f"target={doc['target']}")
    if "repeats" in doc:
        parts.append(f"repeats={doc['repeats']}")
    parts.append(f"{int(doc.get('n_users', 0))} users")
    if "share_absent_from_training" in doc:
        share = float(doc["share_absent_from_training"])
        parts.append(f"{100 * share:.1f}% of targets absent from training")
    return _Rows(
        header=" · ".join(p for p in parts if p),
        models=[str(r.get("model", "")) for r in results],
        fit_seconds=[float(r.get("fit_seconds", float("nan"))) for r in results],
        score_seconds=[float(r["score_seconds"]) for r in results]
        if results and all("score_seconds" in r for r in results)
        else None,
        metrics=metrics,
        ks=ks,
        **_difference_cells(doc.get("uncertainty"), [str(r.get("model", "")) for r in results]),
    )


def _difference_cells(uncertainty: Any, models: list[str]) -> dict[str, Any]:
    """The column "Δ ndcg@10 vs BEST (95 % CI)": each model's paired difference to the best.

    Why in the table: on a few dozen test users a gap of several points can be noise; the
    interval says which gaps the users support (one that excludes 0 does).
    """
    if not isinstance(uncertainty, Mapping):
        return {}
    differences = uncertainty.get("difference_to_reference")
    if not isinstance(differences, Mapping) or not differences:
        return {}
    reference = str(uncertainty.get("reference", ""))
    cells = []
    for model in models:
        entry = differences.get(model)
        if model == reference:
            cells.append("best")
        elif not isinstance(entry, Mapping):
            cells.append("–")
        elif entry.get("low") is None or entry.get("high") is None:
            cells.append(f"{entry['estimate']:+.4f}")
        else:
            cells.append(f"{entry['estimate']:+.4f} [{entry['low']:+.4f}, {entry['high']:+.4f}]")
    level = round(100 * float(uncertainty.get("confidence", 0.95)))
    metric = str(uncertainty.get("metric", ""))
    return {
        "difference_metric": metric,
        "difference_column": f"Δ {metric} vs best [{level}% CI]",
        "differences": cells,
    }


def report_columns(
    result: ResultLike,
    *,
    metrics: Sequence[str] = DEFAULT_REPORT_METRICS,
    breakdown: bool = False,
) -> list[str]:
    """Metric keys to show: ``metrics`` at every cutoff, then (optionally) the breakdowns.

    Keys that no result holds are left out, so the list fits the result at hand.
    """
    rows = _rows(result)
    present = {key for m in rows.metrics for key in m}
    columns = [metric_key(name, k) for k in rows.ks for name in metrics]
    if breakdown:
        columns += [
            f"{metric_key(name, k)}.{subset}"
            for subset in ("repeat", "new")
            for k in rows.ks
            for name in metrics
        ]
    return [c for c in columns if c in present]


#: Decimals shown; "best" is judged at this precision, so equal-looking cells are marked alike.
_DECIMALS = 4


def _best(rows: _Rows, column: str) -> float | None:
    values = [round(m[column], _DECIMALS) for m in rows.metrics if column in m]
    return max(values) if values else None


def _cells(rows: _Rows, columns: Sequence[str]) -> list[list[tuple[str, bool]]]:
    """``(text, is_best)`` per row and column (model name and times first)."""
    best = {c: _best(rows, c) for c in columns}
    table: list[list[tuple[str, bool]]] = []
    scoring: list[float | None] = (
        list(rows.score_seconds) if rows.score_seconds else [None] * len(rows.models)
    )
    differences: list[str | None] = (
        list(rows.differences)
        if rows.differences and rows.extra_columns(columns)
        else [None] * len(rows.models)
    )
    for model, seconds, score_s, metrics, difference in zip(
        rows.models, rows.fit_seconds, scoring, rows.metrics, differences, strict=True
    ):
        line = [(model, False), (f"{seconds:.2f}", False)]
        if score_s is not None:
            line.append((f"{score_s:.2f}", False))
        for column in columns:
            if column not in metrics:
                line.append(("–", False))
                continue
            value = round(metrics[column], _DECIMALS)
            line.append((f"{value:.{_DECIMALS}f}", value == best[column]))
        if difference is not None:
            line.append((difference, False))
        table.append(line)
    return table


def render_table(
    result: ResultLike,
    *,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> Table:
    """A rich :class:`~rich.table.Table`: models as rows, metrics as columns, best marked.

    Parameters
    ----------
    columns
        Metric keys to show; default :func:`report_columns`.
    title
        Table title; default a line naming dataset, protocol, users and absent targets.
    """
    rows = _rows(result)
    shown = report_columns(result) if columns is None else list(columns)
    table = Table(
        title=rows.header if title is None else title,
        caption="* best in column",
        show_lines=False,
    )
    # Minimum widths keep numbers readable on narrow terminals (rich would otherwise squeeze
    # them to an ellipsis); the table then grows past the terminal and wraps instead.
    table.add_column("model", no_wrap=True, min_width=max(map(len, rows.models), default=5))
    for name in rows.time_columns:
        table.add_column(name, justify="right", no_wrap=True, min_width=5)
    for column in shown:
        table.add_column(column, justify="right", no_wrap=True, min_width=max(len(column), 7))
    for column in rows.extra_columns(shown):
        table.add_column(column, justify="right", no_wrap=True)
    for line in _cells(rows, shown):
        table.add_row(
            *(f"[bold green]{text}*[/]" if is_best else text for text, is_best in line),
        )
    return table


def render_text(
    result: ResultLike,
    *,
    columns: Sequence[str] | None = None,
    width: int | None = None,
) -> str:
    """The :func:`render_table` as plain text (no colour codes).

    ``width`` caps the line length (rich then squeezes columns); ``None`` gives the table the
    width it needs, so that no header is cut.
    """
    buffer = io.StringIO()
    console = Console(file=buffer, width=width or 10_000, force_terminal=False, color_system=None)
    console.print(render_table(result, columns=columns))
    return buffer.getvalue()


def render_markdown(result: ResultLike, *, columns: Sequence[str] | None = None) -> str:
    """A GitHub-flavoured Markdown table, best value of each column in bold.

    Examples
    --------
    >>> doc = {"dataset": "shop", "protocol": "loo", "n_users": 2, "ks": [10], "results": [
    ...     {"model": "a", "params": {}, "fit_seconds": 0.5, "metrics": {"ndcg@10": 0.2}},
    ...     {"model": "b", "params": {}, "fit_seconds": 0.1, "metrics": {"ndcg@10": 0.3}}]}
    >>> print(render_markdown(doc, columns=["ndcg@10"]), end="")
    shop · loo · 2 users
    <BLANKLINE>
    | model | fit s | ndcg@10 |
    |:--|--:|--:|
    | a | 0.50 | 0.2000 |
    | b | 0.10 | **0.3000** |
    """
    rows = _rows(result)
    shown = report_columns(result) if columns is None else list(columns)
    extra = rows.extra_columns(shown)
    lines = [
        rows.header,
        "",
        "| " + " | ".join(["model", *rows.time_columns, *shown, *extra]) + " |",
        "|:--|" + "--:|" * (len(shown) + len(rows.time_columns) + len(extra)),
    ]
    for line in _cells(rows, shown):
        texts = [f"**{text}**" if is_best else text for text, is_best in line]
        texts[0] = texts[0].replace("|", "\\|")
        lines.append("| " + " | ".join(texts) + " |")
    return "\n".join(lines) + "\n"
