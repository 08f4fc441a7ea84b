"""``decayrec tune`` then ``decayrec evaluate --tuned``, as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.models import make_model

pytest.importorskip("optuna", reason="decayrec tune needs the 'tune' extra (optuna)")

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


def test_tune_then_evaluate_with_the_tuned_parameters(
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:
    tuned, results = tmp_path / "tuned.json", tmp_path / "results.json"
    common = ("--data", str(shop_csv), "--protocol", "temporal", "--repeats", "allow")
    tuning = run_cli(
        "tune",
        *common,
        "--model",
        "decayed-profile",
        "--model",
        "decayed-itemknn",
        "--trials",
        "3",
        "--json",
        str(tuned),
    )
    assert tuning.returncode == 0, tuning.stderr
    assert "decayed-itemknn trial 2" in tuning.stderr  # the per-trial progress lines
    assert "the test part was not read" in tuning.stdout
    doc = json.loads(tuned.read_text())
    assert {k: doc[k] for k in ("dataset", "protocol", "target", "repeats", "metric")} == {
        "dataset": "events.csv",
        "protocol": "temporal",
        "target": "item",
        "repeats": "allow",
        "metric": "ndcg@10",
    }
    assert list(doc["models"]) == ["decayed-profile", "decayed-itemknn"]
    for name, entry in doc["models"].items():
        assert entry["model"] == name and entry["n_trials"] == len(entry["trials"]) == 3
        assert entry["best_value"] >= entry["default_value"]
        assert make_model(name, **entry["params"]).get_params() == entry["params"]

    evaluated = run_cli(
        *("evaluate", *common, "--k", "10", "--tuned", str(tuned), "--json", str(results))
    )
    assert evaluated.returncode == 0, evaluated.stderr
    title = " ".join(evaluated.stdout.split())  # the table title may wrap
    assert "tuned by decayrec tune: decayed-profile, decayed-itemknn" in title
    out = json.loads(results.read_text())
    by_name = {entry["model"]: entry for entry in out["results"]}
    assert list(by_name) == [
        "decayed-profile",
        "decayed-profile-no-decay",
        "decayed-itemknn",
        "decayed-itemknn-no-decay",
    ]
    for name in ("decayed-profile", "decayed-itemknn"):
        tuned_params = doc["models"][name]["params"]
        assert by_name[name]["params"] == tuned_params  # fixed, not re-tuned
        baseline = by_name[f"{name}-no-decay"]["params"]
        assert baseline["half_life"] is None
        assert baseline["event_weights"] == tuned_params["event_weights"]
        record = out["tuning"][name]
        assert record["source"] == "decayrec tune" and record["n_trials"] == 3
        assert record["summary"].startswith("tuned by decayrec tune, 3 trials, validation ndcg@10")
        assert "grid" not in record
        assert out["tuning"][f"{name}-no-decay"]["from_model"] == name
    assert by_name["decayed-profile-no-decay"]["params"]["popularity_half_life"] is None
    assert out["tuned_from"] == str(tuned) and out["notes"] == []

    # tuned for another question: the results say so
    other = run_cli(
        "evaluate",
        "--data",
        str(shop_csv),
        "--protocol",
        "temporal",
        "--models",
        "decayed-profile",
        "--k",
        "10",
        "--tuned",
        str(tuned),
        "--json",
        str(results),
    )
    assert other.returncode == 0, other.stderr
    notes = json.loads(results.read_text())["notes"]
    assert any("repeats 'allow' (here 'exclude')" in note for note in notes)


def test_tune_and_tuned_errors_are_one_line_with_exit_codes(
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:
    assert "tune" in run_cli("--help").stdout
    learned = run_cli("tune", "--data", str(shop_csv), "--model", "learned-decay")
    assert learned.returncode == EXIT_USAGE
    assert "learned-decay" in learned.stderr and "learns its own" in learned.stderr
    metric = run_cli("tune", "--data", str(shop_csv), "--metric", "ndcg")
    assert metric.returncode == EXIT_USAGE and "--metric" in metric.stderr
    trials = run_cli("tune", "--data", str(shop_csv), "--trials", "0")
    assert trials.returncode == EXIT_USAGE and "--trials" in trials.stderr
    bad = tmp_path / "bad.json"
    bad.write_text('{"models": {"decayed-profile": {"params": {"half_life": -5}}}}')
    result = run_cli("evaluate", "--data", str(shop_csv), "--tuned", str(bad))
    assert result.returncode == EXIT_FAILURE
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.json" in lines[0] and "half_life" in lines[0]
    not_json = tmp_path / "plain.txt"
    not_json.write_text("half_life = 7d\n")
    result = run_cli("evaluate", "--data", str(shop_csv), "--tuned", str(not_json))
    assert result.returncode == EXIT_FAILURE and "not JSON" in result.stderr


def test_rolling_origin_folds_tuned_by_optuna_per_fold(
    run_cli, shop_csv: Path, tmp_path: Path
) -> None:
    """`evaluate --folds 2 --trials 2`: each fold tunes on its own validation window, the last
    fold is the default split, and the pooled table counts users once."""
    results, single = tmp_path / "folds.json", tmp_path / "single.json"
    common = ("--data", str(shop_csv), "--protocol", "temporal", "--repeats", "allow")
    common += ("--models", "decayed-profile", "--k", "10")
    run = run_cli("evaluate", *common, "--folds", "2", "--trials", "2", "--json", str(results))
    assert run.returncode == 0, run.stderr
    stdout = " ".join(run.stdout.split())
    assert "fold 1/2" in stdout and "fold 2/2" in stdout
    assert "2 folds pooled" in stdout and "clustered by user" in stdout
    assert "decayed-profile minus each model, ndcg@10: decayed-profile-no-decay " in stdout
    doc = json.loads(results.read_text())
    assert len(doc["folds"]) == 2
    for fold in doc["folds"]:
        search = fold["optuna"]["decayed-profile"]
        assert search["n_trials"] == 2
        by_name = {entry["model"]: entry for entry in fold["results"]}
        assert by_name["decayed-profile"]["params"] == search["params"]  # tuned on this fold
        assert by_name["decayed-profile-no-decay"]["params"]["half_life"] is None
    first, last = doc["folds"]
    assert first["description"] != last["description"]
    plain = run_cli("evaluate", *common, "--json", str(single))
    assert plain.returncode == 0, plain.stderr
    assert json.loads(single.read_text())["description"] == last["description"]
    pooled = doc["pooled"]
    assert pooled["metric"] == "ndcg@10"
    assert pooled["fold_users"] == [fold["n_users"] for fold in doc["folds"]]
    assert pooled["n_pairs"] == sum(pooled["fold_users"])
    assert pooled["n_users"] <= pooled["n_pairs"]
    assert set(pooled["mean"]) == {"decayed-profile", "decayed-profile-no-decay"}
    assert set(pooled["pairwise_differences"]) == set(pooled["mean"])


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--folds", "2", "--protocol", "loo"), "--folds needs --protocol temporal"),
        (("--folds", "2", "--protocol", "temporal", "--at", "2024-01-01"), "drop --at"),
        (("--folds", "2", "--protocol", "temporal", "--validation", "2d"), "drop --validation"),
        (("--trials", "2", "--tuned", "tuned.json"), "give one of them"),
        (("--folds", "2", "--protocol", "temporal", "--tuned", "tuned.json"), "--trials N"),
        (
            (
                "--folds",
                "0",
            ),
            "--folds",
        ),
    ],
)
def test_fold_and_trial_flags_that_cannot_go_together(
    run_cli, shop_csv: Path, extra: tuple[str, ...], message: str
) -> None:
    result = run_cli("evaluate", "--data", str(shop_csv), *extra)
    assert result.returncode == EXIT_USAGE, result.stderr
    assert message in result.stderr
