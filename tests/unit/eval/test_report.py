"""Tests of the text and Markdown result tables."""

from __future__ import annotations

from typing import Any

import pytest

from decayrec.eval.report import render_markdown, render_table, render_text, report_columns


@pytest.fixture
def doc() -> dict[str, Any]:
    def metrics(ndcg: float, recall: float) -> dict[str, float]:
        return {
            "ndcg@10": ndcg,
            "recall@10": recall,
            "coverage@10": 0.5,
            "ndcg@10.repeat": ndcg / 2,
            "ndcg@10.new": ndcg * 2,
        }

    return {
        "dataset": "shop",
        "protocol": "loo",
        "n_users": 1234,
        "target": "item",
        "repeats": "allow",
        "ks": [10],
        "share_absent_from_training": 0.125,
        "results": [
            {"model": "a|b", "params": {}, "fit_seconds": 1.5, "metrics": metrics(0.25, 0.5)},
            {"model": "c", "params": {}, "fit_seconds": 0.25, "metrics": metrics(0.5, 0.25)},
        ],
    }


def test_columns_follow_the_metrics_present(doc: dict[str, Any]) -> None:
    assert report_columns(doc) == ["ndcg@10", "recall@10", "coverage@10"]
    assert report_columns(doc, breakdown=True) == [
        "ndcg@10",
        "recall@10",
        "coverage@10",
        "ndcg@10.repeat",
        "ndcg@10.new",
    ]


def test_markdown_marks_the_best_of_each_column(doc: dict[str, Any]) -> None:
    text = render_markdown(doc)
    lines = text.splitlines()
    assert lines[0] == (
        "shop · loo · target=item · repeats=allow · 1234 users · "
        "12.5% of targets absent from training"
    )
    assert lines[2] == "| model | fit s | ndcg@10 | recall@10 | coverage@10 |"
    assert lines[4] == "| a\\|b | 1.50 | 0.2500 | **0.5000** | **0.5000** |"
    assert lines[5] == "| c | 0.25 | **0.5000** | 0.2500 | **0.5000** |"


def test_text_table_marks_best_with_a_star(doc: dict[str, Any]) -> None:
    text = render_text(doc)
    assert "0.5000*" in text
    assert "0.2500*" not in text
    assert "\x1b[" not in text  # no colour codes in plain text
    assert "best in column" in text


def test_missing_metric_is_shown_as_dash(doc: dict[str, Any]) -> None:
    del doc["results"][1]["metrics"]["recall@10"]
    table = render_table(doc, columns=["recall@10"])
    assert table.row_count == 2
    assert "–" in render_markdown(doc, columns=["recall@10"])


def test_cutoffs_are_read_from_metric_keys_without_ks(doc: dict[str, Any]) -> None:
    del doc["ks"]
    assert report_columns(doc) == ["ndcg@10", "recall@10", "coverage@10"]


def test_values_equal_at_the_shown_precision_are_both_best(doc: dict[str, Any]) -> None:
    doc["results"][0]["metrics"]["ndcg@10"] = 0.50000001
    lines = render_markdown(doc, columns=["ndcg@10"]).splitlines()
    assert lines[4].endswith("| **0.5000** |")
    assert lines[5].endswith("| **0.5000** |")


def test_markdown_shows_scoring_time_when_recorded() -> None:
    from decayrec.eval import render_markdown

    doc = {
        "dataset": "shop",
        "protocol": "loo",
        "n_users": 2,
        "ks": [10],
        "results": [
            {"model": "a", "fit_seconds": 0.5, "score_seconds": 1.25, "metrics": {"ndcg@10": 0.2}},
            {"model": "b", "fit_seconds": 0.1, "score_seconds": 0.5, "metrics": {"ndcg@10": 0.3}},
        ],
    }
    text = render_markdown(doc)
    assert "| model | fit s | score s | ndcg@10 |" in text
    assert "| a | 0.50 | 1.25 | 0.2000 |" in text
    assert "|:--|--:|--:|--:|" in text


def test_difference_column_beside_its_metric_only(doc: dict[str, Any]) -> None:
    doc["ks"] = [10, 20]
    doc["uncertainty"] = {
        "metric": "ndcg@10",
        "confidence": 0.95,
        "reference": "c",
        "difference_to_reference": {
            "a|b": {"estimate": -0.25, "low": -0.375, "high": -0.125, "n_users": 1234},
            "c": {"estimate": 0.0, "low": 0.0, "high": 0.0, "n_users": 1234},
        },
    }
    lines = render_markdown(doc, columns=["ndcg@10"]).splitlines()
    assert lines[2].endswith("| ndcg@10 | Δ ndcg@10 vs best [95% CI] |")
    assert lines[4].endswith("| 0.2500 | -0.2500 [-0.3750, -0.1250] |")
    assert lines[5].endswith("| **0.5000** | best |")
    assert "Δ" not in render_markdown(doc, columns=["recall@10"])
    assert "-0.2500 [-0.3750, -0.1250]" in render_text(doc, columns=["ndcg@10"])
