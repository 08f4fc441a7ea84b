"""The RecBole SASRec peer (benchmarks/peers/recbole_sasrec.py) against its own venv.

Tests that train are skipped, naming the missing venv, when ``.peers/recbole-venv`` (or
``$DECAYREC_RECBOLE_PYTHON``) is absent. They train on a tiny log of "next item" chains (each
item is always followed by the next one), which SASRec learns in a few seconds, so a wrong
sequence (order, truncation, time cut) or a wrong column mapping makes them fail.
"""

from __future__ import annotations

import gc
import importlib
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from decayrec.data.schema import EventLog
from decayrec.errors import InvalidParameterError, MissingExtraError
from decayrec.models.base import load_model

_ROOT = Path(__file__).resolve().parents[2]


def _peer_module() -> ModuleType:
    if str(_ROOT) not in sys.path:  # benchmarks/ is not an installed package
        sys.path.insert(0, str(_ROOT))
    return importlib.import_module("benchmarks.peers.recbole_sasrec")


recbole_sasrec = _peer_module()
_AVAILABLE, _WHY = recbole_sasrec.is_available()
needs_recbole = pytest.mark.skipif(not _AVAILABLE, reason=f"RecBole venv: {_WHY}")

N_USERS, N_ITEMS, LENGTH = 300, 40, 6
#: Small and quick to learn (~3 s of training); the pattern is learned exactly.
CHAIN_PARAMS: dict[str, Any] = {
    "embedding_size": 16,
    "n_layers": 1,
    "n_heads": 1,
    "dropout": 0.1,
    "max_seq_length": 5,
    "learning_rate": 0.01,
    "epochs": 20,
    "batch_size": 256,
}


def _chains() -> tuple[EventLog, np.ndarray, np.ndarray]:
    """Each user walks ``LENGTH`` steps of the cycle ``i -> i + 1 (mod N_ITEMS)``, a day apart.

    Returns the log, the raw item of each step ``(N_USERS, LENGTH)`` and its instants.
    """
    rng = np.random.default_rng(0)
    start = rng.integers(0, N_ITEMS, N_USERS)
    items = (start[:, None] + np.arange(LENGTH)) % N_ITEMS
    seconds = np.arange(N_USERS)[:, None] * 10.0 + np.arange(LENGTH) * 86_400.0
    log = EventLog.from_indices(
        user_index=np.repeat(np.arange(N_USERS), LENGTH),
        item_index=items.reshape(-1),
        timestamp_seconds=seconds.reshape(-1),
        event_type=np.zeros(N_USERS * LENGTH, dtype=np.int8),
    )
    return log, items, seconds


@pytest.fixture(scope="module")
def chains() -> tuple[EventLog, np.ndarray, np.ndarray]:
    return _chains()


@pytest.fixture(scope="module")
def chain_model(chains: tuple[EventLog, np.ndarray, np.ndarray]) -> Any:
    return recbole_sasrec.SASRecPeer(**CHAIN_PARAMS).fit(chains[0])


def _user_ids() -> list[str]:
    return [str(user) for user in range(N_USERS)]


def _top_items(model: Any, at: Any) -> np.ndarray:
    recs = model.recommend(_user_ids(), at=at, n=1, exclude="none")
    assert not recs.fallback.any()
    return np.array([int(recs.item_ids(row)[0]) for row in range(N_USERS)])


def test_parameters_are_checked_before_anything_runs(
    chains: tuple[EventLog, np.ndarray, np.ndarray],
) -> None:
    log = chains[0]
    peer = recbole_sasrec.SASRecPeer
    bad: list[tuple[dict[str, Any], str]] = [
        ({"half_life": timedelta(days=7)}, "'half_life'"),
        ({"embedding_size": 0}, "'embedding_size'"),
        ({"embedding_size": 30, "n_heads": 4}, "multiple of 'n_heads'"),
        ({"n_layers": 1.5}, "'n_layers'"),
        ({"max_seq_length": True}, "'max_seq_length'"),
        ({"epochs": -1}, "'epochs'"),
        ({"dropout": 1.0}, "'dropout'"),
        ({"dropout": "0.1"}, "'dropout'"),
        ({"learning_rate": 0.0}, "'learning_rate'"),
        ({"random_state": -2}, "'random_state'"),
    ]
    for params, message in bad:
        with pytest.raises(InvalidParameterError, match=message):
            peer(**params).fit(log)
    model = peer(**CHAIN_PARAMS)
    assert model.display_name == "recbole-sasrec"
    assert peer.from_params(model.get_params()).get_params() == model.get_params()


def test_missing_venv_names_the_command(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    chains: tuple[EventLog, np.ndarray, np.ndarray],
) -> None:
    monkeypatch.setenv("DECAYREC_RECBOLE_PYTHON", str(tmp_path / "nowhere" / "python"))
    ok, why = recbole_sasrec.is_available()
    assert not ok
    assert "recbole_env.sh" in why
    with pytest.raises(MissingExtraError, match=r"recbole_env\.sh"):
        recbole_sasrec.SASRecPeer(**CHAIN_PARAMS).fit(chains[0])


def test_registry_grid_fits_the_budget() -> None:
    registry = importlib.import_module("benchmarks.peers.registry")
    entry = registry.PEERS["recbole-sasrec"]
    assert entry.grid is not None and len(entry.grid) <= registry.TUNING_BUDGET
    for params in entry.grid:  # every setting is valid (checked without training)
        entry.factory(**params)._validate_params()
    assert entry.availability is recbole_sasrec.is_available


@needs_recbole
@pytest.mark.slow
def test_learns_which_item_follows_which(
    chain_model: Any, chains: tuple[EventLog, np.ndarray, np.ndarray]
) -> None:
    _, items, seconds = chains
    # After everything: the item after each user's last one.
    top = _top_items(chain_model, seconds.max() + 1.0)
    np.testing.assert_array_equal(top, (items[:, -1] + 1) % N_ITEMS)
    # Mid-way (each user's own instant): only events up to then form the sequence.
    top = _top_items(chain_model, seconds[:, 2])
    np.testing.assert_array_equal(top, (items[:, 2] + 1) % N_ITEMS)
    report = chain_model.train_report_
    assert len(report["epoch_loss"]) == CHAIN_PARAMS["epochs"]
    assert report["n_sequences"] == N_USERS * (LENGTH - 1)


@needs_recbole
@pytest.mark.slow
def test_batch_rows_equal_single_calls_and_fallbacks(
    chain_model: Any, chains: tuple[EventLog, np.ndarray, np.ndarray]
) -> None:
    _, _, seconds = chains
    users = _user_ids()[:12]
    at = np.append(seconds[:11, 3], seconds.max() + 1.0)
    batch = chain_model.recommend(users, at=at, n=N_ITEMS, exclude="none")
    assert np.isfinite(batch.scores).all() and not batch.fallback.any()
    for row, user in enumerate(users):
        single = chain_model.recommend([user], at=at[row], n=N_ITEMS, exclude="none")
        np.testing.assert_array_equal(batch.item_index[row], single.item_index[0])
        np.testing.assert_array_equal(batch.scores[row], single.scores[0])
    # Before a user's first event, and an unknown user: decayrec's popularity fallback.
    early = chain_model.recommend(["0", "nobody"], at=seconds[0, 0] - 1.0, n=3)
    assert early.fallback.all()
    item = batch.item_ids(0)[0]
    explanation = chain_model.explain(users[0], item, at=at[0])
    assert explanation.score == pytest.approx(float(batch.scores[0, 0]))
    assert explanation.components == {"sasrec": explanation.score}


@needs_recbole
@pytest.mark.slow
def test_save_load_keeps_scores_without_retraining_and_cleans_up(
    chain_model: Any, chains: tuple[EventLog, np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    _, _, seconds = chains
    at = seconds.max() + 1.0
    chain_model.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, recbole_sasrec.SASRecPeer)
    assert loaded.get_params() == chain_model.get_params()
    assert loaded.train_report_ == chain_model.train_report_
    assert not (loaded._session.folder / "train.log").exists()  # no training on load
    before = chain_model.recommend(_user_ids(), at=at, n=10, exclude="none")
    after = loaded.recommend(_user_ids(), at=at, n=10, exclude="none")
    np.testing.assert_array_equal(after.item_index, before.item_index)
    np.testing.assert_array_equal(after.scores, before.scores)
    # The instance owns its folder and warm worker; both go away with it.
    folder, process = loaded._session.folder, loaded._session.process
    assert folder.is_dir() and process is not None and process.poll() is None
    del loaded, after
    gc.collect()
    assert not folder.exists()
    assert process.poll() is not None


@needs_recbole
@pytest.mark.slow
def test_same_seed_gives_the_same_model(
    chain_model: Any, chains: tuple[EventLog, np.ndarray, np.ndarray]
) -> None:
    log, _, seconds = chains
    again = recbole_sasrec.SASRecPeer(**CHAIN_PARAMS).fit(log)
    assert again.train_report_["epoch_loss"] == chain_model.train_report_["epoch_loss"]
    users = _user_ids()[:50]
    first = chain_model.recommend(users, at=seconds.max(), n=5, exclude="none")
    second = again.recommend(users, at=seconds.max(), n=5, exclude="none")
    np.testing.assert_array_equal(second.scores, first.scores)
