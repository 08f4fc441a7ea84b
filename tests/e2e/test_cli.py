"""The ``decayrec`` command end to end: real files, real subprocesses, real exit codes."""

from __future__ import annotations

import json
import re
from pathlib import Path

import polars as pl
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop

EXIT_USAGE = 2
EXIT_FAILURE = 3


@pytest.fixture
def shop_csv(tmp_path: Path) -> Path:
    """A small simulated shop written as a canonical CSV (ISO timestamps)."""
    shop = simulate_shop(ShopConfig(n_users=300, n_items=200, n_categories=8, days=40, seed=3))
    frame = shop.events.to_frame().with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    path = tmp_path / "events.csv"
    frame.write_csv(path)
    return path


def test_help_lists_every_subcommand(run_cli) -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("demo", "data", "evaluate", "fit", "recommend", "report"):
        assert command in result.stdout


def test_data_inspect_prints_report_and_summary(run_cli, shop_csv: Path) -> None:
    with shop_csv.open("a") as handle:
        handle.write("u1,i1,c0,2024-01-02T00:00:00Z,clik,,,\n")
    result = run_cli("data", "inspect", str(shop_csv), "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert "unknown_event_type" in result.stdout
    assert "'clik'" in result.stdout
    assert "Summary of" in result.stdout


def test_data_clean_writes_a_log_that_reads_back(run_cli, shop_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "clean.parquet"
    report = tmp_path / "report.json"
    result = run_cli(
        "data",
        "clean",
        str(shop_csv),
        "--format",
        "csv",
        "--out",
        str(out),
        "--report",
        str(report),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(report.read_text())
    assert doc["rows_read"] == doc["rows_kept"] + sum(doc["dropped"].values())
    again = run_cli("data", "inspect", str(out), "--format", "parquet")
    assert again.returncode == 0, again.stderr
    assert f"{doc['rows_kept']:,}" in again.stdout


def test_fit_then_recommend_with_explanations(run_cli, shop_csv: Path, tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    fitted = run_cli(
        "fit",
        "--data",
        str(shop_csv),
        "--format",
        "csv",
        "--model",
        "decayed-profile",
        "--half-life",
        "7d",
        "--out",
        str(model_dir),
    )
    assert fitted.returncode == 0, fitted.stderr
    assert (model_dir / "manifest.json").is_file()
    manifest = json.loads((model_dir / "manifest.json").read_text())
    assert manifest["params"]["half_life"] == 7 * 86400
    recs = run_cli(
        "recommend",
        "--model",
        str(model_dir),
        "--user",
        "u5",
        "--user",
        "nobody",
        "--n",
        "3",
        "--explain",
    )
    assert recs.returncode == 0, recs.stderr
    assert "User u5" in recs.stdout
    assert "unknown user" in recs.stdout
    assert "category_interest" in recs.stdout
    assert recs.stdout.count("for user u5: score") == 3


def test_evaluate_writes_json_of_the_documented_shape(
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:
    out = tmp_path / "results.json"
    result = run_cli(
        "evaluate",
        "--data",
        str(shop_csv),
        "--format",
        "csv",
        "--protocol",
        "temporal",
        "--repeats",
        "allow",
        "--models",
        "decayed-popularity,decayed-profile",
        "--k",
        "5,10",
        "--half-lives",
        "1d,7d",
        "--json",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["dataset"] == "events.csv"
    assert doc["protocol"] == "temporal"
    assert isinstance(doc["n_users"], int) and doc["n_users"] > 0
    names = [entry["model"] for entry in doc["results"]]
    assert names == [
        "decayed-popularity",
        "decayed-popularity-no-decay",
        "decayed-profile",
        "decayed-profile-no-decay",
    ]
    for entry in doc["results"]:
        assert set(entry) >= {"model", "params", "fit_seconds", "metrics"}
        assert {
            "ndcg@5",
            "ndcg@10",
            "recall@10",
            "precision@10",
            "f1@10",
            "mrr@10",
            "hit_rate@10",
            "map@10",
            "coverage@10",
        } <= set(entry["metrics"])
    assert "absent from training" in result.stdout


def test_bad_format_is_one_line_with_exit_3(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "three_columns.csv"
    path.write_text("1,2,3\n4,5,6\n")
    result = run_cli("data", "inspect", str(path), "--format", "taobao")
    assert result.returncode == EXIT_FAILURE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "three_columns.csv" in lines[0]
    assert "Traceback" not in result.stderr


def test_verbose_shows_the_traceback(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "three_columns.csv"
    path.write_text("1,2,3\n")
    result = run_cli("-v", "data", "inspect", str(path), "--format", "taobao")
    assert result.returncode == EXIT_FAILURE
    assert "Traceback" in result.stderr


def test_missing_file_and_bad_arguments(run_cli, tmp_path: Path) -> None:
    missing = run_cli("data", "inspect", str(tmp_path / "nope.csv"))
    assert missing.returncode == EXIT_FAILURE
    assert "nope.csv" in missing.stderr
    bad_k = run_cli("evaluate", "--data", "x.csv", "--k", "ten")
    assert bad_k.returncode == EXIT_USAGE
    assert "--k" in bad_k.stderr and "'ten'" in bad_k.stderr
    bad_model = run_cli("evaluate", "--data", "x.csv", "--models", "magic")
    assert bad_model.returncode == EXIT_USAGE
    assert "magic" in bad_model.stderr
    no_seeds = run_cli("evaluate", "--data", "x.csv", "--seeds", "0")
    assert no_seeds.returncode == EXIT_USAGE
    assert "--seeds" in no_seeds.stderr
    bad_selection = run_cli("evaluate", "--data", "x.csv", "--selection", "luck")
    assert bad_selection.returncode == EXIT_USAGE
    assert "--selection" in bad_selection.stderr and "'luck'" in bad_selection.stderr
    unknown_flag = run_cli("fit", "--bogus")
    assert unknown_flag.returncode == EXIT_USAGE
    bad_format = run_cli("data", "inspect", "x.csv", "--format", "excel")
    assert bad_format.returncode == EXIT_USAGE
    assert "excel" in bad_format.stderr


def test_recommend_rejects_a_folder_that_is_not_a_model(run_cli, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    result = run_cli("recommend", "--model", str(tmp_path / "empty"), "--user", "u1")
    assert result.returncode == EXIT_FAILURE
    assert "manifest.json" in result.stderr


@pytest.mark.slow
def test_demo_runs_end_to_end_and_decay_wins(run_cli, tmp_path: Path) -> None:
    out = tmp_path / "demo"
    result = run_cli("demo", "--out", str(out), timeout=240)
    assert result.returncode == 0, result.stderr
    for name in ("decay_curves.png", "interest_trajectories.png", "metrics.png"):
        png = out / name
        assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    doc = json.loads((out / "results_item.json").read_text())
    ndcg = {entry["model"]: entry["metrics"]["ndcg@10"] for entry in doc["results"]}
    for name in ("decayed-profile", "decayed-itemknn"):
        assert ndcg[name] > ndcg[f"{name}-no-decay"]
        assert ndcg[name] > ndcg["decayed-popularity"]
    assert result.stdout.count("for user") >= 3


def test_window_drops_events_outside_it_as_out_of_range(run_cli, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "user_id,item_id,timestamp,event_type\n"
        "u1,i1,2024-01-01T10:00:00Z,view\n"
        "u1,i2,2024-02-01T10:00:00Z,view\n"
        "u2,i1,2024-03-01T10:00:00Z,purchase\n"
    )
    result = run_cli("data", "inspect", str(path), "--window", "2024-01-15..2024-02-15")
    assert result.returncode == 0, result.stderr
    assert "out_of_range_timestamp" in result.stdout
    assert "2024-01-01T10:00:00Z" in result.stdout  # an example row is shown
    bad = run_cli("data", "inspect", str(path), "--window", "yesterday")
    assert bad.returncode == EXIT_USAGE
    assert "--window" in bad.stderr and "'yesterday'" in bad.stderr


def test_fit_learned_decay_then_report_decay(run_cli, shop_csv: Path, tmp_path: Path) -> None:
    model_dir, png = tmp_path / "learned", tmp_path / "kernels.png"
    fitted = run_cli(
        "fit", "--data", str(shop_csv), "--model", "learned-decay", "--out", str(model_dir),
        "--params", '{"ordering_scale": 0.3, "newcomer_after": 31536000, "familiar_share": 0.75}',
    )  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    assert "learned-decay epochs" in fitted.stderr  # the per-epoch progress bar
    report = run_cli("report", "decay", "--model", str(model_dir), "--png", str(png), "--top", "3")
    assert report.returncode == 0, report.stderr
    assert "Half-life per category (top 3 by events)" in report.stdout
    assert "of view events" in report.stdout  # the reference the rows are quoted for
    assert "favourite" in report.stdout and "95% interval" in report.stdout
    assert "evidence mix category" in report.stdout and "within a visit category" in report.stdout
    assert "ranking weighs a shopper's events with 0.3 x these half-lives" in report.stdout
    assert "last seen more than 365.00d before a request" in report.stdout  # JSON seconds
    new_interests = r"new interests \(weight [\d.]+\): \d+% start in the shopper's own"
    assert re.search(new_interests, report.stdout)
    assert "ranking starts 75% of new interests in the shopper's own categories" in report.stdout
    # what early stopping watched, read back from the saved model
    assert re.search(r"early stopping on [\d,]+ targets of \d+ held-out shoppers", report.stdout)
    assert png.stat().st_size > 10_000
    other = tmp_path / "profile"
    run_cli("fit", "--data", str(shop_csv), "--model", "decayed-profile", "--out", str(other))
    wrong = run_cli("report", "decay", "--model", str(other))
    assert wrong.returncode == 2 and "learned-decay" in wrong.stderr


def test_serve_refuses_what_it_cannot_serve_before_binding(
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    knn = tmp_path / "knn"
    run_cli("fit", "--data", str(shop_csv), "--model", "decayed-itemknn", "--out", str(knn))
    wrong = run_cli("serve", "--model", str(knn))
    assert wrong.returncode == 2 and "decayed-profile" in wrong.stderr
    profile = tmp_path / "profile"
    run_cli("fit", "--data", str(shop_csv), "--out", str(profile))
    exposed = run_cli("serve", "--model", str(profile), "--host", "0.0.0.0")
    assert exposed.returncode == 2 and "DECAYREC_API_KEYS" in exposed.stderr
    document = tmp_path / "openapi.json"
    assert run_cli("serve", "--openapi", str(document)).returncode == 0
    assert "/v1/events" in document.read_text()


def test_fit_takes_model_parameters_as_json(  # type: ignore[no-untyped-def]
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:
    import json

    folder = tmp_path / "knn"
    params = '{"similarity": "cosine", "half_life": 3600}'
    fitted = run_cli("fit", "--data", str(shop_csv), "--model", "decayed-itemknn",
                     "--params", params, "--out", str(folder))  # fmt: skip
    assert fitted.returncode == 0, fitted.stderr
    saved = json.loads((folder / "manifest.json").read_text())["params"]
    assert saved["similarity"] == "cosine" and saved["half_life"] == 3600
    wrong = run_cli("fit", "--data", str(shop_csv), "--model", "decayed-itemknn",
                    "--params", '{"simlarity": "cosine"}', "--out", str(folder))  # fmt: skip
    assert wrong.returncode == 2 and "simlarity" in wrong.stderr
    bad = run_cli("fit", "--data", str(shop_csv), "--params", "[1]", "--out", str(folder))
    assert bad.returncode == 2 and "JSON object" in bad.stderr
