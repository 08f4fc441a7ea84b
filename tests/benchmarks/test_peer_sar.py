"""The SAR peer (benchmarks/peers/sar.py) against its own venv; skipped when that is absent."""

from __future__ import annotations

import importlib
import sys
from datetime import timedelta
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from decayrec.data.schema import EventLog
from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.errors import InvalidParameterError

_ROOT = Path(__file__).resolve().parents[2]


def _sar_module() -> ModuleType:
    if str(_ROOT) not in sys.path:  # benchmarks/ is not an installed package
        sys.path.insert(0, str(_ROOT))
    return importlib.import_module("benchmarks.peers.sar")


sar = _sar_module()
_AVAILABLE, _WHY = sar.is_available()
needs_sar = pytest.mark.skipif(not _AVAILABLE, reason=f"recommenders (SAR) venv: {_WHY}")


@pytest.fixture(scope="module")
def log() -> EventLog:
    config = ShopConfig(n_users=300, n_items=200, n_categories=8, days=60, seed=7)
    return simulate_shop(config).events


def _scores(model: object, user_ids: list[str], at: object) -> np.ndarray:
    """Every item's score per user (columns = item index), via the public API."""
    n_items = model.n_items  # type: ignore[attr-defined]
    recs = model.recommend(user_ids, at=at, n=n_items, exclude="none")  # type: ignore[attr-defined]
    out = np.full((len(user_ids), n_items), np.nan)
    rows = np.repeat(np.arange(len(user_ids)), n_items)
    out[rows, recs.item_index.reshape(-1)] = recs.scores.reshape(-1)
    return out


def test_parameters_are_checked_before_anything_runs(log: EventLog) -> None:
    with pytest.raises(InvalidParameterError, match="'similarity'"):
        sar.SARPeer(similarity="cosine").fit(log)
    with pytest.raises(InvalidParameterError, match="'half_life'"):
        sar.SARPeer(half_life=timedelta(0)).fit(log)
    model = sar.SARPeer(similarity="lift", half_life=None)
    assert model.display_name == "sar-no-decay"
    assert sar.SARPeer.from_params(model.get_params()).get_params() == model.get_params()


def test_missing_venv_names_the_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DECAYREC_SAR_PYTHON", str(tmp_path / "nowhere" / "python"))
    ok, why = sar.is_available()
    assert not ok
    assert "sar_env.sh" in why


@needs_sar
@pytest.mark.slow
@pytest.mark.parametrize("similarity", ["jaccard", "lift", "cooccurrence"])
@pytest.mark.parametrize("time_decay_days", [7.0, None])
def test_recommends_known_users(
    log: EventLog, similarity: str, time_decay_days: float | None
) -> None:
    half_life = None if time_decay_days is None else timedelta(days=time_decay_days)
    model = sar.SARPeer(similarity=similarity, half_life=half_life).fit(log)
    users = model.events_.users.raw(np.arange(len(model.events_.users)))[:40]
    recs = model.recommend(users, at=log.time_range()[1] + 1.0, n=10)
    assert recs.item_index.shape == (len(users), 10)
    assert not recs.fallback.any()
    assert np.isfinite(recs.scores).all()
    assert (recs.item_index >= 0).all()


@needs_sar
@pytest.mark.slow
def test_co_occurring_items_outrank_unrelated_ones(log: EventLog) -> None:
    model = sar.SARPeer(similarity="jaccard", half_life=timedelta(days=30.0)).fit(log)
    at = log.time_range()[1] + 1.0
    columns = model.columns_
    n_users, n_items = len(model.events_.users), model.n_items
    hits = np.zeros((n_users, n_items), dtype=np.int64)
    hits[columns.user, columns.item] = 1
    cooccurrence = hits.T @ hits  # independent of SAR: users who touched both items
    affinity = np.zeros((n_users, n_items))
    np.add.at(affinity, (columns.user, columns.item), columns.type_weight)
    candidates = np.flatnonzero(hits.sum(axis=1) >= 3)[:30]
    scores = _scores(model, model.events_.users.raw(candidates), at)
    checked = 0
    for row, user in enumerate(candidates.tolist()):
        heavy = int(np.argmax(affinity[user]))
        partners = np.flatnonzero(cooccurrence[heavy] >= 2)
        partners = partners[partners != heavy]
        unrelated = np.flatnonzero(cooccurrence[hits[user] == 1].sum(axis=0) == 0)
        if not partners.size or not unrelated.size:
            continue
        assert scores[row, partners].min() > scores[row, unrelated].max()
        checked += 1
    assert checked >= 10


@needs_sar
@pytest.mark.slow
def test_events_after_at_are_not_used(log: EventLog) -> None:
    start, end = log.time_range()
    at = start + 0.6 * (end - start)
    model = sar.SARPeer(half_life=timedelta(days=14.0)).fit(log)
    earlier = sar.SARPeer(half_life=timedelta(days=14.0)).fit(
        log.filter(log.timestamp_seconds <= at)
    )
    users = earlier.events_.users.raw(np.arange(len(earlier.events_.users)))[:25]
    full = _scores(model, users, at)
    truncated = _scores(earlier, users, at)
    # Same raw item ids in the same column order for both models.
    order = model.events_.items.indices(earlier.events_.items.raw(np.arange(earlier.n_items)))
    np.testing.assert_allclose(full[:, order], truncated, rtol=1e-9)


@needs_sar
@pytest.mark.slow
def test_decay_is_exact_per_user_at(log: EventLog) -> None:
    # All events precede ``at``, so a user's row must not change when another row of the
    # batch asks for a later instant (SAR then decays to that one; the worker divides it out).
    start, end = log.time_range()
    at = start + 0.6 * (end - start)
    model = sar.SARPeer(half_life=timedelta(days=3.0)).fit(log.filter(log.timestamp_seconds <= at))
    users = model.events_.users.raw(np.arange(len(model.events_.users)))[:2]
    alone = _scores(model, users[:1], at)
    batch = _scores(model, users, np.array([at, at + 20 * 86_400.0]))
    np.testing.assert_allclose(batch[:1], alone, rtol=1e-9)
