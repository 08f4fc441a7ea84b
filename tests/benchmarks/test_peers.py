"""The peer comparison (benchmarks/peers): baselines, implicit adapters, the command line.

The baselines must honour decayrec's estimator contract, so that the runner scores them
exactly like decayrec's own models; the implicit adapters pass the parts of it that a
factor model can (see ``FACTOR_MODEL_EXEMPTIONS``).
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import polars as pl
import pytest

from decayrec.data.schema import EventLog
from decayrec.data.simulate import ShopConfig, simulate_events, simulate_shop
from decayrec.data.split import leave_last_out
from decayrec.eval.runner import ModelSpec, evaluate_models
from decayrec.testing.checks import (
    ESTIMATOR_CHECKS,
    check_estimator,
    check_future_events_ignored,
    check_partial_fit_exact,
)
from decayrec.types import FloatArray, IndexArray

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a package at the repository root
    sys.path.insert(0, str(ROOT))

baselines = importlib.import_module("benchmarks.peers.baselines")
registry = importlib.import_module("benchmarks.peers.registry")
implicit_peers = importlib.import_module("benchmarks.peers.implicit_peers")

#: Checks a factor model cannot pass, and why.
FACTOR_MODEL_EXEMPTIONS: dict[str, tuple[Callable[..., None], ...]] = {
    # Factors are learned from the whole training log, not sliced at each user's ``at`` (BPR
    # happens to pass: it reads only which pairs occur, and the check repeats known pairs).
    "implicit-als": (check_future_events_ignored, check_partial_fit_exact),
    # An iterative fit from a random start: partial_fit refits on the log in another index
    # order, which changes the initialisation, so it is not exactly fit(a + b).
    "implicit-bpr": (check_partial_fit_exact,),
}


@pytest.fixture(scope="module")
def log() -> EventLog:
    return simulate_events(5_000, seed=3)


@pytest.mark.parametrize(
    "factory",
    [baselines.Popularity, baselines.PersonalTopFrequency, baselines.ItemKNN],
    ids=lambda factory: factory.name,
)
def test_baselines_pass_the_estimator_contract(factory: Any, log: EventLog) -> None:
    check_estimator(factory, log)


def test_baselines_do_not_decay(log: EventLog) -> None:
    from datetime import timedelta

    from decayrec.errors import InvalidParameterError

    model = baselines.ItemKNN(half_life=timedelta(days=1))
    with pytest.raises(InvalidParameterError, match="'half_life' parameter of ItemKNN"):
        model.fit(log)
    assert baselines.Popularity().fit(log).display_name == "popularity"


def test_personal_top_frequency_ranks_counts_then_recency_then_popularity() -> None:
    # user 0: item 1 twice, item 2 twice (item 2 later), item 3 once; item 4 is more popular
    # than item 5, and user 0 touched neither
    log = EventLog.from_indices(
        user_index=[0, 0, 0, 0, 0, 1, 2, 3, 1],
        item_index=[1, 1, 2, 2, 3, 4, 4, 4, 5],
        timestamp_seconds=[0.0, 1.0, 2.0, 3.0, 4.0, 0.0, 0.0, 0.0, 0.0],
        event_type=[0] * 9,
    )
    model = baselines.PersonalTopFrequency().fit(log)
    ranked = model.recommend(["0"], at=10.0, exclude="none", n=5).item_ids(0)
    assert ranked == ["2", "1", "3", "4", "5"]


def test_registry_gives_every_peer_the_same_tuning_budget() -> None:
    assert registry.TUNING_BUDGET == 4
    for name, entry in registry.PEERS.items():
        assert entry.factory().name == name
        assert entry.grid is None or len(entry.grid) == registry.TUNING_BUDGET
        spec = entry.spec(name)
        if spec.decays:  # a peer with its own decay (SAR) tunes it on decayrec's half-life grid
            assert entry.grid is None and spec.tunes_half_life
        else:
            assert spec.tunes_grid == (entry.grid is not None)


def test_a_peer_without_its_package_is_skipped_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = importlib.import_module("benchmarks.peers.__main__")
    entry = registry.PeerEntry(baselines.Popularity, requires="no_such_package_for_decayrec")
    monkeypatch.setitem(registry.PEERS, "ghost", entry)
    specs = cli.model_specs(["ghost", "itemknn"], with_decayrec=False)
    assert [spec.name for spec in specs] == ["itemknn"]
    assert "skipping peer ghost: the package 'no_such_package_for_decayrec'" in (
        capsys.readouterr().out
    )


class RandomScores(baselines.NoDecayBaseline):
    """Seeded random scores: the floor every peer must clear."""

    name: ClassVar[str] = "random"

    def _fit_state(self) -> None:
        return None

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        return np.random.default_rng(7).random((len(user_index), self.n_items))

    def _explain_known(self, user: int, item: int, at: float) -> Any:  # pragma: no cover
        raise NotImplementedError


@pytest.mark.parametrize("name", ["implicit-als", "implicit-bpr"])
def test_implicit_adapters_pass_the_contract_where_they_can(name: str, log: EventLog) -> None:
    pytest.importorskip("implicit", reason="the implicit package is not installed")
    factory = registry.PEERS[name].factory
    for check in ESTIMATOR_CHECKS:
        if check not in FACTOR_MODEL_EXEMPTIONS[name]:
            check(factory, log)


@pytest.mark.parametrize("name", ["implicit-als", "implicit-bpr"])
def test_implicit_adapters_beat_random(name: str) -> None:
    pytest.importorskip("implicit", reason="the implicit package is not installed")
    shop = simulate_shop(ShopConfig(n_users=300, n_items=200, n_categories=8, days=40, seed=3))
    split = leave_last_out(shop.events)
    specs = [
        registry.PEERS[name].spec(name),
        ModelSpec("random", {"half_life": None}, RandomScores),
    ]
    result = evaluate_models(split, specs, repeats="allow", ks=(20,), tune_max_users=200)
    scores = {r.model: r.metrics["ndcg@20"] for r in result.results}
    assert scores[name] > 1.5 * scores["random"], scores


def test_command_line_end_to_end(tmp_path: Path) -> None:
    shop = simulate_shop(ShopConfig(n_users=120, n_items=80, n_categories=5, days=30, seed=5))
    frame = shop.events.to_frame().with_columns(
        pl.col("timestamp").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    data, out, png = tmp_path / "events.csv", tmp_path / "peers.json", tmp_path / "peers.png"
    frame.write_csv(data)
    completed = subprocess.run(
        [
            *(sys.executable, "-m", "benchmarks.peers", "--data", str(data), "--format", "csv"),
            *("--protocol", "temporal", "--repeats", "allow", "--k", "5,10"),
            # SASRec has its own test (it trains for minutes); every other peer runs here.
            *("--peers", ",".join(name for name in registry.PEERS if name != "recbole-sasrec")),
            *("--json", str(out), "--png", str(png)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        # A guard against a hang, not a speed test: with every decayrec model's validation grid
        # (learned-decay fits 14 settings) the run takes about 2 minutes on 2 cores.
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "| model | fit s |" in completed.stdout
    doc = json.loads(out.read_text())
    assert {"dataset", "protocol", "n_users", "results", "ks", "tuning"} <= set(doc)
    assert doc["protocol"] == "temporal" and doc["ks"] == [5, 10]
    models = [entry["model"] for entry in doc["results"]]
    expected = {"decayed-profile", "decayed-profile-no-decay", "popularity", "itemknn"}
    assert expected <= set(models)
    for entry in doc["results"]:
        assert {"model", "params", "fit_seconds", "score_seconds", "metrics"} <= set(entry)
        assert entry["fit_seconds"] >= 0 and entry["score_seconds"] >= 0
        assert "ndcg@5" in entry["metrics"] and "recall@10" in entry["metrics"]
    if "implicit-als" in models:
        assert len(doc["tuning"]["implicit-als"]["grid"]) == registry.TUNING_BUDGET
    else:
        assert "skipping peer implicit-als: the package 'implicit'" in completed.stdout
    assert png.stat().st_size > 0
