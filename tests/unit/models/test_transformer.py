"""TimeAwareTransformer: the estimator contract, causality, the time bias, determinism."""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import pytest

from decayrec.data.schema import EventLog
from decayrec.errors import DataValidationError, InvalidParameterError
from decayrec.models import TimeAwareTransformer, load_model, make_model
from decayrec.testing import checks

torch = pytest.importorskip("torch", reason="TimeAwareTransformer needs PyTorch (the torch extra)")

FAST = partial(
    TimeAwareTransformer,
    max_epochs=2,
    dim=16,
    heads=2,
    layers=1,
    max_length=20,
    batch_size=64,
    decay_params={"max_epochs": 2, "batch_size": 256},
)
#: Not for a trained model: partial_fit retrains, and a user's events after ``at`` are more
#: training data, which moves the weights. That no event after ``at`` reaches a score is
#: tested on the network's inputs below.
_NOT_FOR_TRAINED = (checks.check_partial_fit_exact, checks.check_future_events_ignored)
HOUR, DAY = 3_600.0, 86_400.0


@pytest.mark.parametrize(
    "check",
    [c for c in checks.ESTIMATOR_CHECKS if c not in _NOT_FOR_TRAINED],
    ids=lambda c: c.__name__,
)
@pytest.mark.parametrize(
    "factory",
    [FAST, partial(FAST, time_bias=False), partial(FAST, hybrid=False)],
    ids=["hybrid", "no-time", "no-hybrid"],
)
def test_contract(factory: checks.ModelFactory, check: object, events: EventLog) -> None:
    check(factory, events)  # type: ignore[operator]


def _log(users: list[int], items: list[int], seconds: list[float]) -> EventLog:
    return EventLog.from_indices(
        user_index=np.array(users),
        item_index=np.array(items),
        timestamp_seconds=1.7e9 + np.array(seconds),
        event_type=np.zeros(len(users), dtype=np.int64),
    )


def test_learns_an_order_that_popularity_cannot_give() -> None:
    """Shoppers walk a cycle of 8 items from random starts: the next item is the successor."""
    rng = np.random.default_rng(0)
    users, items, seconds = [], [], []
    for user in range(300):
        start = int(rng.integers(8))
        for step in range(6):
            users.append(user)
            items.append((start + step) % 8)
            seconds.append(user * 10.0 + step * HOUR)
    log = _log(users, items, seconds)
    model = TimeAwareTransformer(
        max_epochs=30, dim=32, layers=1, validation_users=50, hybrid=False
    ).fit(log)
    ids = log.users.raw(np.arange(300))
    at = 1.7e9 + 300 * 10.0 + 6 * HOUR
    recs = model.recommend(ids, at=at, n=1, exclude="none")
    last = np.array(items).reshape(300, 6)[:, -1]
    predicted = np.array([int(recs.item_ids(row)[0]) for row in range(300)])
    assert np.mean(predicted == (last + 1) % 8) > 0.9


def test_the_time_bias_tells_apart_what_order_alone_cannot() -> None:
    """Every sequence is ``a, b``: the next item is 2 when ``a`` was an hour before ``b`` and
    3 when it was 30 days before. Without time the two look the same."""
    rng = np.random.default_rng(1)
    users, items, seconds = [], [], []
    for user in range(400):
        long_gap = bool(rng.integers(2))
        gap = 30 * DAY if long_gap else HOUR
        base = user * 60.0
        users += [user] * 3
        items += [0, 1, 3 if long_gap else 2]
        seconds += [base, base + gap, base + gap + HOUR]
    log = _log(users, items, seconds)

    def accuracy(time_bias: bool) -> float:
        model = TimeAwareTransformer(
            max_epochs=40, dim=16, layers=1, dropout=0.0, time_bias=time_bias,
            learning_rate=0.01, batch_size=32, validation_users=0, seed=3, hybrid=False,
        ).fit(log)  # fmt: skip
        users_ = np.arange(400)
        # Score each shopper just before their third event: the newest event read is ``b``.
        second = 1.7e9 + np.array(seconds).reshape(400, 3)[:, 1] + HOUR - 1.0
        scores, _ = model._batch_scores(users_.astype(np.int32), second)
        truth = np.array(items).reshape(400, 3)[:, 2]
        return float(np.mean(np.where(scores[:, 3] > scores[:, 2], 3, 2) == truth))

    assert accuracy(time_bias=True) > 0.9
    assert accuracy(time_bias=False) < 0.7


def test_the_gate_follows_the_model_that_knows_per_user_state() -> None:
    """Rows with a long gap since the newest event: the decay log-probabilities point at the
    target and the logits are noise; short gaps: the other way round."""
    from decayrec.models._transformer_hybrid import fit_gate, gate_features, gate_values

    rng = np.random.default_rng(4)
    n, items = 600, 50
    targets = rng.integers(items, size=n)
    hours = np.where(np.arange(n) % 2 == 0, 200.0, 0.1)
    long_gap = (hours > 1)[:, None]
    informed = np.full((n, items), np.log(0.5 / (items - 1)))
    informed[np.arange(n), targets] = np.log(0.5)
    noise = np.log(rng.dirichlet(np.ones(items), size=n))
    log_decay = np.where(long_gap, informed, noise)
    logits = np.where(long_gap, noise, informed)
    features = gate_features(np.full(n, 5), hours)
    a, g = gate_values(fit_gate(logits, log_decay, targets, features), features)
    assert np.all(g[hours > 1] > 3 * a[hours > 1])
    assert np.all(a[hours < 1] > 3 * g[hours < 1])


def test_hold_out_asks_at_one_instant_for_each_shoppers_first_later_event(
    events: EventLog,
) -> None:
    """The hold-out has a temporal split's shape, and its later events never reach training."""
    model = FAST(validation_users=10).fit(events)
    train, holdout = model._training_sequences()
    assert train is not None and holdout is not None
    columns, instant = model.user_events_.columns, holdout.instant
    assert 0 < len(holdout.targets) <= 10
    assert np.all(holdout.sequences.next_seconds[:, -1].numpy() == instant)
    assert np.all(holdout.sequences.seconds[:, -1].numpy() <= instant)
    assert np.all(columns.seconds[holdout.targets] > instant)
    assert np.all(columns.seconds[holdout.targets - 1] <= instant)
    np.testing.assert_array_equal(
        columns.user[holdout.targets - 1], columns.user[holdout.targets]
    )  # each target is the first event after the instant of a shopper with an earlier one
    np.testing.assert_array_equal(
        holdout.sequences.target[:, -1].numpy(), columns.item[holdout.targets]
    )
    held = np.isin(columns.user, columns.user[holdout.targets])
    np.testing.assert_array_equal(
        holdout.dropped, np.flatnonzero(held & (columns.seconds > instant))
    )
    # Training predicts every kept event after a shopper's first one (up to max_length each).
    kept = np.bincount(columns.user[~np.isin(np.arange(len(held)), holdout.dropped)])
    expected = np.minimum(kept[kept >= 2] - 1, model.max_length).sum()
    assert int((train.target >= 0).sum()) == expected


def test_with_few_held_out_events_the_gate_has_constants_only_and_with_fewer_none() -> None:
    from decayrec.models._transformer_hybrid import (
        LEAD_WEIGHT,
        MIN_ROWS_FOR_GATE,
        MIN_ROWS_FOR_STATE,
        fit_gate,
        gate_features,
        gate_values,
    )

    rng = np.random.default_rng(5)
    n = (MIN_ROWS_FOR_STATE + MIN_ROWS_FOR_GATE) // 2
    features = gate_features(rng.integers(1, 9, size=n), rng.exponential(10.0, size=n))
    weights = fit_gate(
        rng.normal(size=(n, 20)), rng.normal(size=(n, 20)), np.zeros(n, np.int64), features
    )
    assert np.all(weights[:, 1:] == 0.0)
    few = MIN_ROWS_FOR_GATE - 1
    weights = fit_gate(
        rng.normal(size=(few, 20)), rng.normal(size=(few, 20)), np.zeros(few, np.int64),
        features[:few],
    )  # fmt: skip
    a, g = gate_values(weights, features[:few])
    np.testing.assert_allclose(a, LEAD_WEIGHT, rtol=1e-6)
    np.testing.assert_allclose(g, 1.0)


def test_hybrid_score_blends_the_logit_and_the_decay_log_probability(events: EventLog) -> None:
    model = FAST().fit(events)
    user = events.users.raw([0])[0]
    at = float(events.timestamp_seconds.max())
    item, score = model.recommend([user], at=at, n=1).for_user(user)[0]
    parts = model.explain(user, item, at=at).components
    assert parts["sequence_weight"] >= 0 and parts["decay_weight"] >= 0
    expected = (
        parts["sequence_weight"] * parts["sequence_logit"]
        + parts["decay_weight"] * parts["decay_log_probability"]
    )
    assert score == pytest.approx(expected, rel=1e-12)


def test_positions_only_see_the_past() -> None:
    """Changing a later event leaves every earlier position's hidden state unchanged."""
    from decayrec.models._transformer_torch import NetworkConfig, Sequences, TimeAwareNetwork

    torch.manual_seed(0)
    config = NetworkConfig(10, 3, 7, 6, 16, 2, 2, 0.0, True)
    network = TimeAwareNetwork(config).eval()
    arrays = {
        "item": np.array([[0, 1, 2, 3, 4, 5]]),
        "category": np.array([[0, 1, 1, 2, 2, 3]]),
        "event_type": np.array([[0, 1, 1, 1, 4, 1]]),
        "seconds": np.array([[0.0, 0.0, 10.0, 20.0, 30.0, 40.0]]),
        "next_seconds": np.array([[0.0, 10.0, 20.0, 30.0, 40.0, 50.0]]),
        "target": np.full((1, 6), -1),
    }
    changed = {name: value.copy() for name, value in arrays.items()}
    changed["item"][0, 4] = 9
    changed["seconds"][0, 4] = 35.0
    with torch.no_grad():
        before, _ = network.encode(Sequences.from_arrays(arrays))
        after, _ = network.encode(Sequences.from_arrays(changed))
    torch.testing.assert_close(before[0, :4], after[0, :4])
    assert not torch.allclose(before[0, 4:], after[0, 4:])


def test_same_seed_same_model_and_save_load_round_trips(events: EventLog, tmp_path: Path) -> None:
    first = FAST(seed=7).fit(events)
    second = FAST(seed=7).fit(events)
    users = events.users.raw(np.arange(10))
    at = float(events.timestamp_seconds.max())
    a = first.recommend(users, at=at, n=5).scores
    np.testing.assert_array_equal(a, second.recommend(users, at=at, n=5).scores)
    first.save(tmp_path / "model")
    loaded = load_model(tmp_path / "model")
    assert isinstance(loaded, TimeAwareTransformer)
    np.testing.assert_array_equal(a, loaded.recommend(users, at=at, n=5).scores)
    np.testing.assert_array_equal(first.decay_rates_, loaded.decay_rates_)
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    load_model(tmp_path / "model")
    torch.testing.assert_close(torch.rand(3), expected)  # loading leaves torch's RNG alone
    assert loaded.training_ == first.training_
    with np.load(tmp_path / "model" / "arrays.npz", allow_pickle=False) as arrays:
        assert any(name.startswith("state.transformer.") for name in arrays.files)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch sees none)")
def test_training_on_a_gpu_gives_the_cpu_result_up_to_float_tolerance(events: EventLog) -> None:
    """Without dropout every random draw (initial weights, batch order) is made on the CPU,
    so the two devices differ only in float rounding; the fitted model scores on the CPU."""
    settings = {"seed": 3, "dropout": 0.0, "hybrid": False}
    cpu = FAST(device="cpu", **settings).fit(events)
    gpu = FAST(device="cuda", **settings).fit(events)
    users = events.users.raw(np.arange(20))
    at = float(events.timestamp_seconds.max())
    np.testing.assert_allclose(
        gpu._batch_scores(gpu.events_.users.indices(users), np.full(20, at))[0],
        cpu._batch_scores(cpu.events_.users.indices(users), np.full(20, at))[0],
        rtol=1e-3,
        atol=1e-3,
    )


def test_explanation_lists_attention_over_the_users_events(events: EventLog) -> None:
    model = FAST(hybrid=False).fit(events)
    user = events.users.raw([0])[0]
    at = float(events.timestamp_seconds.max())
    item = model.recommend([user], at=at, n=1).item_ids(0)[0]
    explanation = model.explain(user, item, at=at)
    assert explanation.events
    assert sum(e.contribution for e in explanation.events) == pytest.approx(1.0)
    assert explanation.components == {"sequence_logit": explanation.score}


def test_rates_stay_zero_without_the_time_bias(events: EventLog) -> None:
    model = FAST(time_bias=False).fit(events)
    assert np.all(model.decay_rates_ == 0.0)
    timed = FAST().fit(events).decay_rates_
    assert timed.shape == (1, 2) and np.all(timed > 0)


def test_registered_under_its_cli_name() -> None:
    assert isinstance(make_model("time-aware-transformer"), TimeAwareTransformer)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"dim": 10, "heads": 3}, "dim"),
        ({"dropout": 1.0}, "dropout"),
        ({"device": "tpu"}, "device"),
        ({"max_length": 0}, "max_length"),
        ({"validation_users": -1}, "validation_users"),
        ({"time_bias": "yes"}, "time_bias"),
    ],
)
def test_bad_parameters_are_named(params: dict[str, object], field: str, events: EventLog) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        TimeAwareTransformer(**params).fit(events)  # type: ignore[arg-type]


def test_a_resumed_checkpoint_gives_the_uninterrupted_result(
    events: EventLog, tmp_path: Path
) -> None:
    straight = FAST(max_epochs=4, patience=10, hybrid=False).fit(events)
    path = tmp_path / "train.ckpt"
    FAST(max_epochs=2, patience=10, hybrid=False, checkpoint=path).fit(events)  # "interrupted"
    resumed = FAST(max_epochs=4, patience=10, hybrid=False, checkpoint=path).fit(events)
    users = events.users.raw(np.arange(8))
    at = float(events.timestamp_seconds.max())
    np.testing.assert_array_equal(
        straight.recommend(users, at=at, n=5).scores, resumed.recommend(users, at=at, n=5).scores
    )
    assert resumed.training_["train_loss"] == straight.training_["train_loss"]
    with pytest.raises(DataValidationError, match="checkpoint"):
        FAST(max_epochs=4, dim=8, hybrid=False, checkpoint=path).fit(events)


def test_sampled_softmax_trains_against_drawn_negatives(events: EventLog) -> None:
    full = FAST(hybrid=False).fit(events)
    sampled = FAST(hybrid=False, negatives=10).fit(events)
    assert sampled.training_["train_loss"][0] < full.training_["train_loss"][0]  # 11 classes
    assert np.isfinite(sampled.training_["train_loss"]).all()
