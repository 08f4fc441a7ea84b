"""The shared machinery of ``Recommender``: exact top-n, popularity index, registry, save/load."""

from __future__ import annotations

import json
import math
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest

import decayrec.models as models_pkg
from decayrec.data.schema import EventLog
from decayrec.decay.kernels import decay_weights
from decayrec.errors import DataValidationError, InvalidParameterError, NotFittedError
from decayrec.models import (
    MODELS,
    DecayedItemKNN,
    DecayedPopularity,
    DecayedProfile,
    _popularity_index,
    _ranking,
    base,
    load_model,
    make_model,
)
from decayrec.testing.checks import check_estimator
from decayrec.types import FloatArray, IndexArray

DAY = 86_400.0


# ---------------------------------------------------------------------- exact top-n
def reference_top_n(
    scores: FloatArray, n: int, threshold: float | None, prior: FloatArray | None
) -> tuple[IndexArray, FloatArray]:
    """Sort every row in full by (score desc, prior desc, index asc): slow and obvious."""
    n_rows, n_cols = scores.shape
    width = min(n, n_cols)
    top = np.full((n_rows, width), -1, dtype=np.int32)
    values = np.full((n_rows, width), np.nan)
    for row in range(n_rows):
        clean = [(-math.inf if math.isnan(v) else v) for v in scores[row].tolist()]
        key = prior[row].tolist() if prior is not None else [0.0] * n_cols
        order = sorted(range(n_cols), key=lambda j: (-clean[j], -key[j], j))[:width]
        best = clean[order[0]]
        kept = [j for j in order if math.isfinite(clean[j])]
        if threshold is not None:
            kept = [j for j in kept if (clean[j] / best if best > 0 else 0.0) >= threshold]
        top[row, : len(kept)] = kept
        values[row, : len(kept)] = [clean[j] for j in kept]
    return top, values


@pytest.mark.parametrize("n_cols", [7, 300, 5_000])
@pytest.mark.parametrize("n", [1, 5, 12])
@pytest.mark.parametrize("with_prior", [False, True])
def test_top_n_matches_full_sort(n_cols: int, n: int, with_prior: bool) -> None:
    rng = np.random.default_rng(n_cols * 100 + n)
    n_rows = 40
    scores = rng.integers(0, 4, size=(n_rows, n_cols)).astype(np.float64)  # heavy ties
    scores[:10] = rng.random((10, n_cols))  # distinct values
    scores[10:15] = 0.0  # all tied
    scores[15:18, : n_cols - 2] = -np.inf  # fewer than n allowed items
    scores[18, ::3] = np.nan
    scores[19, :] = -np.inf
    scores[20:25] *= rng.random((5, n_cols)) < 0.01  # sparse: mostly zeros
    prior_matrix = rng.integers(0, 3, size=(n_rows, n_cols)).astype(np.float64)
    calls: list[int] = []

    def prior(rows: IndexArray) -> FloatArray:
        calls.append(len(rows))
        return prior_matrix[rows]

    before = scores.copy()
    for threshold in (None, 0.5):
        top, values = _ranking.top_n(scores, n, threshold, prior if with_prior else None)
        expected_top, expected_values = reference_top_n(
            scores, n, threshold, prior_matrix if with_prior else None
        )
        np.testing.assert_array_equal(top, expected_top)
        np.testing.assert_array_equal(values, expected_values)
    np.testing.assert_array_equal(scores, before)  # input untouched
    if with_prior:
        assert calls and sum(calls) <= 2 * n_rows  # lazily, for tied rows only


def test_top_n_prefers_lower_index_on_ties() -> None:
    scores = np.zeros((1, 10))
    scores[0, 7] = 1.0
    top, values = _ranking.top_n(scores, 3, None)
    assert top.tolist() == [[7, 0, 1]]
    assert values.tolist() == [[1.0, 0.0, 0.0]]


# ---------------------------------------------------------------------- popularity index
def big_log(n_events: int = 20_000, n_items: int = 60, span_days: float = 3_000.0) -> EventLog:
    rng = np.random.default_rng(5)
    seconds = np.sort(np.round(rng.uniform(0, span_days * DAY, n_events) / 3600.0) * 3600.0)
    return EventLog.from_indices(
        user_index=rng.integers(0, 500, n_events),
        item_index=rng.integers(0, n_items, n_events),
        timestamp_seconds=seconds,
        event_type=rng.choice([0, 2, 3, 4], n_events),
    )


@pytest.mark.parametrize(
    ("kernel", "half_life"),
    [
        ("exponential", timedelta(hours=6)),  # 12,000 half-lives: 2^(+t/h) would overflow
        ("exponential", timedelta(days=30)),
        ("exponential", None),
        ("linear", timedelta(days=3)),
        ("logarithmic", timedelta(days=3)),
        ("power", timedelta(days=3)),
        ("power", None),
    ],
)
def test_popularity_index_equals_direct_sum(kernel: str, half_life: timedelta | None) -> None:
    log = big_log()
    model = DecayedPopularity(kernel=kernel, half_life=half_life).fit(log)  # type: ignore[arg-type]
    index = model.popularity_index_
    if kernel == "exponential" or half_life is None:
        assert len(index.positions) > 5  # checkpoints are in use
    seconds = log.timestamp_seconds
    half = math.inf if half_life is None else half_life.total_seconds()
    weights = model.weights_.as_array()[log.event_type]
    items = model.events_.items.indices(log.items.raw(log.item_index))
    instants = np.concatenate([seconds[[0, 1, 999, 5000, 19_999]], [-1.0, 1e12], seconds[::997]])
    for at in instants:
        past = seconds <= at
        expected = np.bincount(
            items[past],
            weights=weights[past] * decay_weights(at - seconds[past], half, kernel),  # type: ignore[arg-type]
            minlength=model.n_items,
        )
        np.testing.assert_allclose(index.one(float(at)), expected, rtol=1e-9, atol=1e-300)
    many, inverse = index.many(instants)
    for row, at in enumerate(instants):
        np.testing.assert_array_equal(many[inverse[row]], index.one(float(at)))


@pytest.mark.parametrize("model_cls", [DecayedPopularity, DecayedProfile, DecayedItemKNN])
def test_contract_with_popularity_checkpoints_and_small_batches(
    model_cls: type[base.Recommender], events: EventLog, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contract holds on the paths big logs take: checkpoints and many user batches."""
    monkeypatch.setattr(_popularity_index, "_MIN_CHECKPOINT_EVENTS", 16)
    monkeypatch.setattr(base, "_CELL_BUDGET", 3 * 48)  # three users per batch
    model = model_cls().fit(events)
    assert len(model.popularity_index_.positions) > 3
    check_estimator(model_cls, events)


def test_batches_do_not_change_results(events: EventLog, monkeypatch: pytest.MonkeyPatch) -> None:
    users = events.users.ids.to_list()
    at = np.linspace(events.time_range()[0], events.time_range()[1], len(users))
    model = DecayedItemKNN().fit(events)
    whole = model.recommend(users, at=at, n=8)
    monkeypatch.setattr(base, "_CELL_BUDGET", 2 * model.n_items)
    split = model.recommend(users, at=at, n=8)
    np.testing.assert_array_equal(whole.item_index, split.item_index)
    np.testing.assert_array_equal(whole.scores, split.scores)


# ---------------------------------------------------------------------- registry
def _isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then the rest (ruff's RUF022 order)."""
    kind = 0 if name.isupper() else 1 if name[0].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete() -> None:
    assert models_pkg.__all__ == sorted(models_pkg.__all__, key=_isort_key)
    for name in models_pkg.__all__:
        assert hasattr(models_pkg, name)


def test_base_keeps_its_public_names() -> None:
    """``base`` still offers every public name after its machinery moved to private modules."""
    assert base.__all__ == ["ExcludePolicy", "Recommender", "load_model"]
    for name in (
        "ExcludePolicy",
        "FORMAT_VERSION",
        "NO_DECAY_SUFFIX",
        "PriorFn",
        "Recommender",
        "load_model",
    ):
        assert hasattr(base, name), name
    assert base.FORMAT_VERSION == 1
    assert base.NO_DECAY_SUFFIX == "-no-decay"


def test_models_registry_names() -> None:
    assert sorted(MODELS) == [
        "decayed-itemknn",
        "decayed-popularity",
        "decayed-profile",
        "learned-decay",
        "time-aware-transformer",
    ]
    for name, cls in MODELS.items():
        assert cls.name == name
        assert isinstance(make_model(name), cls)


def test_make_model_no_decay_suffix() -> None:
    profile = make_model("decayed-profile-no-decay", repeat_weight=0.1)
    assert isinstance(profile, DecayedProfile)
    assert profile.half_life is None
    assert profile.popularity_half_life is None
    assert profile.category_half_lives is None
    assert profile.repeat_weight == 0.1
    assert profile.display_name == "decayed-profile-no-decay"
    assert make_model("decayed-itemknn").display_name == "decayed-itemknn"
    knn = make_model("decayed-itemknn", half_life=3600.0)  # seconds, as from JSON
    assert knn.half_life == timedelta(hours=1)


def test_no_decay_suffix_leaves_the_learned_popularity_share_unset() -> None:
    """``recent_popularity_share=None`` means "learned", not "off": the suffix sets only the
    half-lives to ``None``, and ``decayrec evaluate``'s ``-no-decay`` spec drops the share."""
    from decayrec.eval.runner import ModelSpec
    from decayrec.models.base import DECAY_ONLY_PARAMETERS, HALF_LIFE_PARAMETERS

    assert set(HALF_LIFE_PARAMETERS) < set(DECAY_ONLY_PARAMETERS)
    learned = make_model("learned-decay-no-decay", recent_popularity_share=0.01)
    assert learned.half_life is None and learned.popularity_half_life is None
    assert learned.recent_popularity_share == 0.01  # kept: None would mean "learned"
    spec = ModelSpec(
        "learned-decay",
        {"recent_popularity_share": 0.01, "max_epochs": 2},
        grid=({"recent_popularity_share": 0.01, "similarity": "jaccard"},),
    ).no_decay()
    assert spec.name == "learned-decay-no-decay"
    assert spec.params == {"max_epochs": 2}
    assert spec.grid == [{"similarity": "jaccard"}]


def test_make_model_errors() -> None:
    with pytest.raises(InvalidParameterError, match="decayed-itemknn, decayed-itemknn-no-decay"):
        make_model("decayed-nonsense")
    with pytest.raises(InvalidParameterError, match="time-aware-transformer-no-time"):
        make_model("time-aware-transformer-no-decay")  # its baselines are its ablations
    with pytest.raises(InvalidParameterError, match="time_bias"):
        make_model("time-aware-transformer-no-time", time_bias=True)
    with pytest.raises(InvalidParameterError, match="'half_life'"):
        make_model("decayed-popularity-no-decay", half_life=timedelta(days=1))
    with pytest.raises(InvalidParameterError, match="no_such"):
        make_model("decayed-popularity", no_such=1)


def test_params_json_round_trip_with_nested_durations() -> None:
    model = DecayedProfile(
        category_half_lives={"c1": timedelta(hours=5), "c2": None},
        popularity_half_life=timedelta(days=2),
        event_weights={"purchase": 9.0},
    )
    params = json.loads(json.dumps(model.get_params()))
    assert params["category_half_lives"] == {"c1": 18_000.0, "c2": None}
    rebuilt = DecayedProfile.from_params(params)
    assert rebuilt.category_half_lives == {"c1": timedelta(hours=5), "c2": None}
    assert rebuilt.popularity_half_life == timedelta(days=2)
    assert rebuilt.get_params() == model.get_params()
    assert "DecayedProfile(" in repr(model)


# ---------------------------------------------------------------------- errors and persistence
def test_not_fitted_message_names_the_class() -> None:
    with pytest.raises(NotFittedError, match="DecayedItemKNN is not fitted"):
        DecayedItemKNN().recommend(["u"], at=0.0)


def test_with_scoring_accepts_only_scoring_parameters(events: EventLog) -> None:
    with pytest.raises(NotFittedError):
        DecayedProfile().with_scoring()
    model = DecayedProfile().fit(events)
    assert DecayedProfile.scoring_parameters == ()
    with pytest.raises(InvalidParameterError, match=r"'half_life'.*accepted: none"):
        model.with_scoring(half_life=timedelta(days=1))
    copied = model.with_scoring()
    assert copied is not model and copied.get_params() == model.get_params()


def test_empty_log_is_rejected(events: EventLog) -> None:
    with pytest.raises(DataValidationError, match="empty"):
        DecayedPopularity().fit(events.filter(np.zeros(events.n_events, dtype=bool)))


def test_load_model_errors(events: EventLog, tmp_path: Path) -> None:
    with pytest.raises(DataValidationError, match="no manifest"):
        load_model(tmp_path / "missing")
    DecayedPopularity().fit(events).save(tmp_path / "model")
    manifest_path = tmp_path / "model" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    with pytest.raises(DataValidationError, match="not a DecayedProfile"):
        DecayedProfile.load(tmp_path / "model")
    manifest_path.write_text(json.dumps({**manifest, "format_version": 99}))
    with pytest.raises(DataValidationError, match="format_version"):
        load_model(tmp_path / "model")
    manifest_path.write_text(json.dumps({**manifest, "class": "Nonsense"}))
    with pytest.raises(DataValidationError, match="unknown model class"):
        load_model(tmp_path / "model")


def test_save_keeps_every_column(events: EventLog, tmp_path: Path) -> None:
    """Sessions and values survive save/load: session co-occurrence needs them on partial_fit."""
    model = DecayedItemKNN(cooccurrence_by="session").fit(events)
    model.save(tmp_path)
    with np.load(tmp_path / "arrays.npz", allow_pickle=False) as arrays:
        assert all(arrays[key].dtype != object for key in arrays.files)
    loaded = load_model(tmp_path)
    assert loaded.events_.frame.equals(model.events_.frame)
    assert (loaded.similarity_ != model.similarity_).nnz == 0  # type: ignore[attr-defined]


def test_bare_string_user_ids_are_rejected(events: EventLog) -> None:
    model = DecayedPopularity().fit(events)
    with pytest.raises(InvalidParameterError, match="'user_ids'"):
        model.recommend("u01", at=0.0)
