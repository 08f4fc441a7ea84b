"""Tests of Optuna tuning on the validation part (``decayrec.eval.tuning``)."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from typing import Any

import pytest

from decayrec.data.schema import EventLog
from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.data.split import Split, leave_last_out, temporal_split
from decayrec.errors import InvalidParameterError, MissingExtraError
from decayrec.eval.protocols import EvaluationCase
from decayrec.eval.tuning import TUNABLE_MODELS, TuningResult, parse_metric, tune_model
from decayrec.models import MODELS, make_model

from ._helpers import make_log

pytest.importorskip("optuna", reason="tuning needs the 'tune' extra (optuna)")


@pytest.fixture(scope="module")
def shop_events() -> EventLog:
    """A small simulated shop (views, favourites, carts, purchases; real decay)."""
    config = ShopConfig(n_users=300, n_items=200, n_categories=8, days=40, seed=3)
    return simulate_shop(config).events


@pytest.fixture(scope="module")
def loo(shop_events: EventLog) -> Split:
    return leave_last_out(shop_events)


class _Untouchable:
    """A split part that fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the test part was read ({name!r})")


def _without_seconds(result: TuningResult) -> dict[str, Any]:
    doc = result.to_json_dict()
    for trial in doc["trials"]:
        del trial["seconds"]
    return doc


def _validation_value(split: Split, name: str, params: dict[str, Any], **case: Any) -> float:
    validation = EvaluationCase.from_split(split, part="validation", **case).subsample(5000)
    model = make_model(name, **params).fit(validation.fit_events)
    return validation.evaluate(model, (10,))["ndcg@10"]


@pytest.mark.parametrize("name", TUNABLE_MODELS)
def test_best_is_never_below_the_defaults_scored_on_validation(loo: Split, name: str) -> None:
    result = tune_model(loo, name, n_trials=6)
    assert result.model == name and result.metric == "ndcg@10" and result.n_trials == 6
    # the first trial is the defaults, scored exactly as the runner scores validation
    assert result.default_value == pytest.approx(_validation_value(loo, name, {}))
    assert result.trials[0]["value"] == result.default_value
    assert result.best_value >= result.default_value
    assert result.best_value == max(trial["value"] for trial in result.trials)
    assert result.trials[result.best_trial]["value"] == result.best_value


def test_the_search_finds_better_parameters_than_the_defaults(loo: Split) -> None:
    result = tune_model(loo, "decayed-profile", n_trials=10)
    assert result.best_value > result.default_value
    assert result.best_trial > 0


def test_same_seed_same_result_other_seed_other_trials(loo: Split) -> None:
    first = tune_model(loo, "decayed-itemknn", n_trials=5, seed=7)
    again = tune_model(loo, "decayed-itemknn", n_trials=5, seed=7)
    other = tune_model(loo, "decayed-itemknn", n_trials=5, seed=8)
    assert _without_seconds(first) == _without_seconds(again)
    assert [t["params"] for t in first.trials[1:]] != [t["params"] for t in other.trials[1:]]


def test_the_test_part_is_never_read(loo: Split) -> None:
    expected = tune_model(loo, "decayed-profile", n_trials=4, repeats="allow")
    sealed = Split(loo.train, loo.validation, loo.test, loo.protocol, loo.description)
    object.__setattr__(sealed, "test", _Untouchable())
    result = tune_model(sealed, "decayed-profile", n_trials=4, repeats="allow")
    assert _without_seconds(result) == _without_seconds(expected)


def test_temporal_split_tunes_on_the_validation_window(shop_events: EventLog) -> None:
    start = shop_events.timestamp_seconds.min()
    split = temporal_split(shop_events, at=start + 30 * 86400.0, validation=timedelta(days=5))
    sealed = Split(
        split.train,
        split.validation,
        split.test,
        split.protocol,
        split.description,
        test_start=split.test_start,
        validation_start=split.validation_start,
    )
    object.__setattr__(sealed, "test", _Untouchable())
    result = tune_model(sealed, "decayed-popularity", n_trials=3, metric="recall@20")
    assert result.metric == "recall@20"
    assert 0.0 <= result.default_value <= result.best_value <= 1.0


@pytest.mark.parametrize("name", TUNABLE_MODELS)
def test_best_params_round_trip_through_json_and_make_model(loo: Split, name: str) -> None:
    result = tune_model(loo, name, n_trials=4, repeats="allow")
    params = json.loads(json.dumps(result.to_json_dict()))["params"]
    rebuilt = make_model(name, **params)
    assert rebuilt.get_params() == result.params
    assert MODELS[name].from_params(params).get_params() == result.params
    value = _validation_value(loo, name, params, repeats="allow")
    assert value == pytest.approx(result.best_value)


def test_search_space_follows_the_case_and_the_event_types(loo: Split) -> None:
    excluded = tune_model(loo, "decayed-profile", n_trials=3, repeats="exclude")
    allowed = tune_model(loo, "decayed-profile", n_trials=3, repeats="allow")
    # repeats are excluded from the ranking: their weight cannot matter and is not tuned
    assert all("repeat_weight" not in t["params"] for t in excluded.trials)
    assert all("repeat_weight" in t["params"] for t in allowed.trials)
    assert set(allowed.trials[0]["params"]["event_weights"]) == {"favourite", "cart", "purchase"}
    knn = tune_model(loo, "decayed-itemknn", n_trials=8, repeats="allow")
    assert {"similarity", "self_weight", "half_life"} <= set(knn.trials[0]["params"])
    assert set(knn.trials[0]["params"]) & {"popularity_half_life", "repeat_weight"} == set()
    # A sequence window brings its step decay and direction; the whole history neither.
    windowed = [t["params"] for t in knn.trials if t["params"].get("sequence_window")]
    assert windowed, "the seeded search should try a sequence window in 8 trials"
    for params in windowed:
        assert 0.0 <= params["sequence_backward_weight"] <= 1.0
    for trial in knn.trials:
        if not trial["params"].get("sequence_window"):
            assert "sequence_backward_weight" not in trial["params"]
    for trial in allowed.trials:
        assert 3600.0 <= trial["params"]["half_life"] <= 365 * 86400.0
        for weight in trial["params"]["event_weights"].values():
            assert 0.25 <= weight <= 30.0


def test_views_only_log_tunes_no_event_weights() -> None:
    users = [u for u in range(12) for _ in range(4)]
    items = [(u + d) % 7 for u in range(12) for d in range(4)]
    days = [float(d + u % 3) for u in range(12) for d in range(4)]
    split = leave_last_out(make_log(users, items, days))
    result = tune_model(split, "decayed-popularity", n_trials=3, repeats="allow")
    assert all(set(t["params"]) == {"half_life"} for t in result.trials)
    assert result.params["event_weights"] is None


def test_a_timeout_stops_the_search_after_the_first_trial(loo: Split) -> None:
    result = tune_model(loo, "decayed-popularity", n_trials=50, timeout=1e-9)
    assert result.n_trials == 1
    assert result.best_value == result.default_value


def test_max_users_caps_the_validation_users(loo: Split) -> None:
    result = tune_model(loo, "decayed-popularity", n_trials=2, max_users=20)
    assert result.n_users == 20


def test_missing_optuna_names_the_extra(monkeypatch: pytest.MonkeyPatch, loo: Split) -> None:
    monkeypatch.setitem(sys.modules, "optuna", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'decayrec\[tune\]'"):
        tune_model(loo, "decayed-profile", n_trials=2)


def test_optuna_logging_is_silenced_then_restored(
    loo: Split, monkeypatch: pytest.MonkeyPatch
) -> None:
    import optuna

    before = optuna.logging.get_verbosity()
    calls: list[int] = []
    original = optuna.logging.set_verbosity

    def record(level: int) -> None:
        calls.append(level)
        original(level)

    monkeypatch.setattr(optuna.logging, "set_verbosity", record)
    tune_model(loo, "decayed-popularity", n_trials=2)
    assert calls == [optuna.logging.WARNING, before]
    assert optuna.logging.get_verbosity() == before


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"model": "learned-decay"}, "'model'"),
        ({"model": "decayed-profile-no-decay"}, "'model'"),
        ({"n_trials": 0}, "'n_trials'"),
        ({"timeout": -1.0}, "'timeout'"),
        ({"metric": "ndcg"}, "'metric'"),
        ({"metric": "coverage@10"}, "'metric'"),
        ({"target": "brand"}, "'target'"),
        ({"repeats": "sometimes"}, "'repeats'"),
        ({"max_users": 0}, "'max_users'"),
    ],
)
def test_bad_arguments_name_the_parameter(loo: Split, kwargs: dict[str, Any], named: str) -> None:
    args: dict[str, Any] = {"model": "decayed-profile", **kwargs}
    with pytest.raises(InvalidParameterError, match=named):
        tune_model(loo, **args)


def test_a_split_without_validation_cannot_be_tuned(shop_events: EventLog) -> None:
    start = shop_events.timestamp_seconds.min()
    split = temporal_split(shop_events, at=start + 30 * 86400.0)
    with pytest.raises(InvalidParameterError, match="no validation part"):
        tune_model(split, "decayed-profile", n_trials=2)


def test_parse_metric() -> None:
    assert parse_metric("NDCG@10") == ("ndcg", 10)
    with pytest.raises(InvalidParameterError, match="'--metric'"):
        parse_metric("ndcg@0", name="--metric")
