"""Tests of the tuning and testing runner, with stand-in models."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Self

import numpy as np
import pytest

from decayrec.data.schema import EventLog
from decayrec.data.split import leave_last_out, temporal_split
from decayrec.errors import InvalidParameterError
from decayrec.eval.protocols import EvaluationCase
from decayrec.eval.runner import ModelSpec, evaluate_models

from ._helpers import DAY, T0, RecentItems, make_log

GRID = (timedelta(hours=6), timedelta(days=1), timedelta(days=30))

#: ``(half_life, n_events)`` of every fit made by :class:`SpyRecent`.
fit_log: list[tuple[timedelta | None, int]] = []


class SpyRecent(RecentItems):
    """RecentItems that records what it is fitted on."""

    name = "spy-recent"

    def fit(self, events: EventLog) -> Self:
        fit_log.append((self.half_life, events.n_events))
        return super().fit(events)


@pytest.fixture(autouse=True)
def _clear_fits() -> None:
    fit_log.clear()


@pytest.fixture
def recency_log() -> EventLog:
    """Each user viewed an old item 5 times long ago and a recent item on days 20, 21, 22.

    Leave-last-out: day 22 tests, day 21 validates. With a short half-life the recent item
    ranks first (right); without decay the old one does (5 views against 1 or 2).
    """
    users, items, days = [], [], []
    for user in range(20):
        for day in range(5):
            users.append(user)
            items.append(2 * user)
            days.append(float(day))
        for day in (20.0, 21.0, 22.0):
            users.append(user)
            items.append(2 * user + 1)
            days.append(day)
    return make_log(users, items, days)


def _spec(**params: Any) -> ModelSpec:
    return ModelSpec("recent", params, factory=SpyRecent)


def test_tunes_on_validation_refits_on_train_and_validation(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    result = evaluate_models(
        split, [_spec()], repeats="allow", ks=(1, 5), tune_half_lives=GRID, dataset="toy"
    )
    n_train, n_both = split.train.n_events, split.train.n_events + split.validation.n_events
    # three tuning fits on train, then the final fit on train + validation; the baseline
    # (added automatically) fits once, without decay
    assert fit_log == [
        (GRID[0], n_train),
        (GRID[1], n_train),
        (GRID[2], n_train),
        (GRID[0], n_both),
        (None, n_both),
    ]
    decayed, baseline = result.results
    assert decayed.model == "recent"
    assert baseline.model == "recent-no-decay"
    assert decayed.params["half_life"] == GRID[0].total_seconds()  # 6h and 1d tie: first wins
    assert baseline.params["half_life"] is None
    assert decayed.tuning is not None
    assert [row["ndcg@1"] for row in decayed.tuning] == [1.0, 1.0, 0.0]
    assert baseline.tuning is None
    assert decayed.metrics["recall@1"] == 1.0
    assert baseline.metrics["recall@1"] == 0.0
    assert decayed.metrics["recall@1.repeat"] == 1.0
    assert result.best("ndcg@5").model == "recent"
    assert result.best_params("recent") == decayed.params
    with pytest.raises(InvalidParameterError, match="No result for model 'other'"):
        result.best_params("other")


def test_json_document_shape(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    result = evaluate_models(split, [_spec()], repeats="allow", ks=(1, 5), tune_half_lives=GRID)
    doc = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    assert doc["dataset"] == "events"
    assert doc["protocol"] == "loo"
    assert doc["n_users"] == 20
    assert doc["target"] == "item"
    assert doc["repeats"] == "allow"
    assert doc["share_absent_from_training"] == 0.0
    assert [r["model"] for r in doc["results"]] == ["recent", "recent-no-decay"]
    for entry in doc["results"]:
        assert set(entry) == {"model", "params", "fit_seconds", "metrics"}
        assert isinstance(entry["fit_seconds"], float)
        assert all(isinstance(v, float) for v in entry["metrics"].values())
        for key in entry["metrics"]:
            name, _, rest = key.partition("@")
            assert name == name.lower()
            assert rest.split(".")[0] in ("1", "5")
    assert doc["tuning"]["recent"]["metric"] == "ndcg@1"
    assert len(doc["tuning"]["recent"]["grid"]) == len(GRID)


def test_uncertainty_pairs_every_model_with_the_best(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    result = evaluate_models(split, [_spec()], repeats="allow", ks=(1, 5), tune_half_lives=GRID)
    doc = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    uncertainty = doc["uncertainty"]
    assert uncertainty["metric"] == "ndcg@1"
    assert uncertainty["confidence"] == 0.95
    best = result.best("ndcg@1")
    assert uncertainty["reference"] == best.model
    for r in result.results:
        mean = uncertainty["mean"][r.model]
        assert mean["estimate"] == pytest.approx(r.metrics["ndcg@1"])
        assert mean["n_users"] == 20
        difference = uncertainty["difference_to_reference"][r.model]
        assert difference["estimate"] == pytest.approx(r.metrics["ndcg@1"] - best.metrics["ndcg@1"])
    # Decay ranks each user's recent item first (NDCG@1 = 1 for all 20 users) and no decay
    # never does: a difference of exactly -1 with no spread.
    assert uncertainty["difference_to_reference"]["recent-no-decay"] == {
        "estimate": -1.0, "low": -1.0, "high": -1.0, "n_users": 20,
    }  # fmt: skip


def test_tuning_on_a_subset_of_validation_users(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    result = evaluate_models(
        split, [_spec()], repeats="allow", ks=(1,), tune_half_lives=GRID, tune_max_users=5
    )
    doc = result.to_json_dict()
    assert doc["tuning"]["recent"]["n_users"] == 5
    assert doc["n_users"] == 20  # the test part always uses everyone


def test_fixed_half_life_is_not_tuned(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    result = evaluate_models(
        split,
        [_spec(half_life=timedelta(days=30))],
        repeats="allow",
        add_no_decay_baselines=False,
        tune_half_lives=GRID,
    )
    assert fit_log == [(timedelta(days=30), split.train.n_events + split.validation.n_events)]
    assert [r.model for r in result.results] == ["recent"]
    assert result.results[0].tuning is None


def test_explicit_no_decay_spec_is_not_duplicated(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    specs = [_spec(), ModelSpec("recent-no-decay", factory=SpyRecent)]
    result = evaluate_models(split, specs, repeats="allow", tune_half_lives=())
    assert [r.model for r in result.results] == ["recent", "recent-no-decay"]
    assert [half_life for half_life, _ in fit_log] == [timedelta(days=7), None]


def test_without_validation_part_keeps_defaults_and_says_so() -> None:
    log = make_log([0, 0, 1, 1, 0, 1], [0, 1, 2, 0, 2, 1], [0.0, 1.0, 0.0, 1.0, 3.0, 3.0])
    split = temporal_split(log, at=T0 + 2 * DAY)
    result = evaluate_models(split, [_spec()], ks=(2,), tune_half_lives=GRID)
    assert result.notes == ["half-lives not tuned: the split has no validation part"]
    assert result.results[0].params["half_life"] == timedelta(days=7).total_seconds()
    assert result.to_json_dict()["protocol"] == "temporal"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"ks": ()}, "'ks'"),
        ({"ks": (0,)}, "'ks'"),
        ({"ks": (2.5,)}, "'ks'"),
        ({"tune_max_users": 0}, "'tune_max_users'"),
        ({"tune_half_lives": (timedelta(0),)}, "'tune_half_lives'"),
        ({"model_specs": []}, "at least one model"),
        ({"model_specs": [3]}, "'model_specs'"),
        ({"seeds": 0}, "'seeds'"),
        ({"seeds": True}, "'seeds'"),
    ],
)
def test_rejects_bad_arguments(recency_log: EventLog, kwargs: dict[str, Any], match: str) -> None:
    split = leave_last_out(recency_log)
    arguments: dict[str, Any] = {"model_specs": [_spec()], **kwargs}
    with pytest.raises(InvalidParameterError, match=match):
        evaluate_models(split, **arguments)


def test_progress_lines_go_to_stderr(
    recency_log: EventLog, capsys: pytest.CaptureFixture[str]
) -> None:
    evaluate_models(
        leave_last_out(recency_log),
        [_spec()],
        repeats="allow",
        tune_half_lives=GRID[:1],
        progress=True,
    )
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "recent-no-decay" in captured.err


class NoisyRecent(RecentItems):
    """RecentItems plus score noise drawn from its ``seed``: a stand-in for a trained model
    whose test figure moves with the seed."""

    name = "noisy-recent"

    def __init__(self, *, half_life: timedelta | None = timedelta(days=7), seed: int = 0) -> None:
        super().__init__(half_life=half_life)
        self.seed = seed

    def fit(self, events: EventLog) -> Self:
        fit_log.append((self.half_life, self.seed))
        return super().fit(events)

    def _score_known(self, user_index: Any, at: Any) -> Any:
        scores = super()._score_known(user_index, at)
        noise = np.random.default_rng(self.seed).random(scores.shape[1])
        return scores + 2.0 * noise[None, :]  # outweighs a single view, so rankings move


def test_a_seeded_model_is_refitted_per_seed_and_its_means_reported(
    recency_log: EventLog,
) -> None:
    split = leave_last_out(recency_log)
    specs = [
        ModelSpec("noisy", {"seed": 3}, factory=NoisyRecent),
        _spec(),  # no seed parameter: one fit, whatever ``seeds`` says
    ]
    result = evaluate_models(
        split,
        specs,
        repeats="allow",
        ks=(1, 5),
        tune_half_lives=GRID[:2],
        add_no_decay_baselines=False,
        seeds=3,
    )
    noisy, plain = result.results
    # every fit is made with seeds 3, 4 and 5: each tuned half-life, then the final fit
    chosen = timedelta(seconds=noisy.params["half_life"])
    assert fit_log[:9] == [(h, seed) for h in (*GRID[:2], chosen) for seed in (3, 4, 5)]
    assert fit_log[9:] == [
        (GRID[0], split.train.n_events),
        (GRID[1], split.train.n_events),
        (GRID[0], split.train.n_events + split.validation.n_events),
    ]
    # each tuning row is the mean validation score over the three seeds
    validation = EvaluationCase.from_split(split, part="validation", repeats="allow")
    by_seed = [
        validation.evaluate(NoisyRecent(half_life=GRID[0], seed=s).fit(split.train), (1,))["ndcg@1"]
        for s in (3, 4, 5)
    ]
    assert noisy.tuning is not None
    assert noisy.tuning[0]["ndcg@1"] == pytest.approx(np.mean(by_seed))
    assert plain.seed_runs is None
    assert noisy.seed_runs is not None
    assert [run["seed"] for run in noisy.seed_runs] == [3, 4, 5]
    values = [run["metrics"]["ndcg@5"] for run in noisy.seed_runs]
    assert len(set(values)) > 1  # the noise does move the figure between seeds
    assert noisy.metrics["ndcg@5"] == pytest.approx(np.mean(values))
    assert noisy.fit_seconds == pytest.approx(np.mean([r["fit_seconds"] for r in noisy.seed_runs]))
    assert noisy.per_user is not None
    assert np.nanmean(noisy.per_user["ndcg@5"]) == pytest.approx(noisy.metrics["ndcg@5"])
    assert noisy.params["seed"] == 3
    doc = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
    entries = {entry["model"]: entry for entry in doc["results"]}
    assert [run["seed"] for run in entries["noisy"]["seeds"]] == [3, 4, 5]
    assert "seeds" not in entries["recent"]
    # what `decayrec evaluate --seeds` prints under its tables
    from decayrec.cli.evaluate import seed_lines

    (line,) = seed_lines(result, "ndcg@5")
    each = ", ".join(f"{value:.4f}" for value in values)
    assert line == (
        f"noisy: ndcg@5 is the mean over training seeds 3-5 ({each}; "
        f"spread {max(values) - min(values):.4f})"
    )
    # the intervals are those of the per-user means over the seeds
    assert doc["uncertainty"]["mean"]["noisy"]["estimate"] == pytest.approx(noisy.metrics["ndcg@1"])


@pytest.fixture(scope="module")
def shop_log() -> EventLog:
    from decayrec.data.simulate import ShopConfig, simulate_shop

    config = ShopConfig(n_users=300, n_items=200, n_categories=8, days=40, seed=5)
    return simulate_shop(config).events


def test_a_model_with_ablations_is_reported_beside_them_not_beside_no_decay(
    shop_log: EventLog,
) -> None:
    pytest.importorskip("torch", reason="the transformer needs PyTorch (the torch extra)")
    fast = {"max_epochs": 1, "dim": 8, "layers": 1, "decay_params": {"max_epochs": 1}}
    result = evaluate_models(
        leave_last_out(shop_log),
        [ModelSpec("time-aware-transformer", fast)],
        dataset="simulated",
    )
    names = [r.model for r in result.results]
    assert names == [
        "time-aware-transformer",
        "time-aware-transformer-no-time",
        "time-aware-transformer-no-hybrid",
    ]
    params = {r.model: r.params for r in result.results}
    assert params["time-aware-transformer-no-time"]["time_bias"] is False
    assert params["time-aware-transformer-no-hybrid"]["hybrid"] is False


@pytest.mark.parametrize(
    ("target", "repeats"), [("item", "allow"), ("item", "exclude"), ("category", "allow")]
)
def test_real_models_under_both_protocols(shop_log: EventLog, target: str, repeats: str) -> None:
    """Every registered model and its -no-decay variant, end to end, on a simulated shop."""
    from decayrec.data.split import default_temporal_cutoff
    from decayrec.eval.runner import default_model_specs
    from decayrec.models import MODELS, make_model

    # The default set with its grids, learned-decay trained for 2 epochs a fit: its 14-entry
    # grid (and 7 without decay) at 30 epochs made this test take ~170 s per parameter.
    specs = [
        ModelSpec(spec.name, {"max_epochs": 2}) if spec.learns_decay else spec
        for spec in default_model_specs()
    ]
    at, validation = default_temporal_cutoff(shop_log)
    for split in (leave_last_out(shop_log), temporal_split(shop_log, at=at, validation=validation)):
        result = evaluate_models(
            split,
            specs,
            target=target,  # type: ignore[arg-type]
            repeats=repeats,  # type: ignore[arg-type]
            tune_half_lives=(timedelta(days=1), timedelta(days=14)),
            dataset="simulated",
        )
        names = [r.model for r in result.results]
        defaults = [n for n, cls in MODELS.items() if cls.in_default_set]
        assert names == [n + suffix for n in defaults for suffix in ("", "-no-decay")]
        doc = json.loads(json.dumps(result.to_json_dict(), allow_nan=False))
        assert doc["n_users"] > 0
        for entry in doc["results"]:
            assert 0.0 <= entry["metrics"]["ndcg@10"] <= 1.0
            assert 0.0 <= entry["metrics"]["recall@20"] <= 1.0
            decays = not entry["model"].endswith("-no-decay")
            assert (entry["params"]["half_life"] is not None) == decays
            if decays and entry["model"] != "learned-decay":  # it learns its own
                assert entry["params"]["half_life"] in (86400.0, 14 * 86400.0)
        # the tuned parameters rebuild the same model
        name = result.results[0].model
        rebuilt = make_model(name, **result.best_params(name))
        assert rebuilt.get_params() == result.results[0].params


# ---------------------------------------------------------------------- parameter grids
def test_parameter_grid_is_tuned_on_validation_like_a_half_life(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    long, short = timedelta(days=30), timedelta(hours=6)
    spec = ModelSpec("recent", {}, SpyRecent, grid=[{"half_life": long}, {"half_life": short}])
    assert spec.tunes_grid and not spec.tunes_half_life
    result = evaluate_models(
        split, [spec], repeats="allow", ks=(1,), tune_half_lives=GRID, dataset="toy"
    )
    n_train, n_both = split.train.n_events, split.train.n_events + split.validation.n_events
    # the grid replaces the half-life grid; the -no-decay variant's grid loses its half-lives
    # (nothing left to tune), so it fits once
    assert fit_log == [(long, n_train), (short, n_train), (short, n_both), (None, n_both)]
    tuned, baseline = result.results
    # every user gains the same: the gap has no noise, so one-se keeps the best
    assert tuned.tuning == [
        {"half_life": long.total_seconds(), "ndcg@1": 0.0, "departures": 1, "gap_se": 0.0},
        {"half_life": short.total_seconds(), "ndcg@1": 1.0, "departures": 1, "gap_se": 0.0},
    ]
    assert tuned.params["half_life"] == short.total_seconds()
    assert baseline.model == "recent-no-decay" and baseline.tuning is None
    doc = json.loads(json.dumps(result.to_json_dict()))
    assert doc["tuning"]["recent"]["grid"] == tuned.tuning


def _mixed_recency_log(n_for_short: int, n_for_long: int, n_alike: int) -> EventLog:
    """Leave-last-out (day 22 tests, day 21 validates) where a 6-hour half-life is right for
    ``n_for_short`` users, the default 7 days for ``n_for_long`` and both for ``n_alike``.

    For short: an old item 5 times on days 10-14, a new one on days 20, 21, 22 (7 days still
    ranks the old one first). For long: an item 5 times on days 15-19, another on day 20, the
    first again on days 21 and 22 (6 hours ranks the day-20 item first). Alike: one item.
    """
    users: list[int] = []
    items: list[int] = []
    days: list[float] = []

    def add(user: int, item: int, when: list[float]) -> None:
        users.extend([user] * len(when))
        items.extend([item] * len(when))
        days.extend(when)

    for user in range(n_for_short + n_for_long + n_alike):
        first, second = 2 * user, 2 * user + 1
        if user < n_for_short:
            add(user, first, [10.0, 11.0, 12.0, 13.0, 14.0])
            add(user, second, [20.0, 21.0, 22.0])
        elif user < n_for_short + n_for_long:
            add(user, first, [15.0, 16.0, 17.0, 18.0, 19.0])
            add(user, second, [20.0])
            add(user, first, [21.0, 22.0])
        else:
            add(user, first, [18.0, 19.0, 20.0, 21.0, 22.0])
    order = np.argsort(days, kind="stable")
    return make_log([users[i] for i in order], [items[i] for i in order], [days[i] for i in order])


@pytest.mark.parametrize(
    ("n_for_short", "n_for_long", "one_se_keeps"),
    [(3, 2, "default"), (6, 0, "short")],
    ids=["gain-within-noise", "clear-gain"],
)
def test_grid_selection_one_se_keeps_the_defaults_unless_the_gain_is_clear(
    n_for_short: int, n_for_long: int, one_se_keeps: str
) -> None:
    split = leave_last_out(
        _mixed_recency_log(n_for_short, n_for_long, 20 - n_for_short - n_for_long)
    )
    default, short = timedelta(days=7), timedelta(hours=6)
    assert SpyRecent().get_params()["half_life"] == default.total_seconds()
    spec = ModelSpec("recent", {}, SpyRecent, grid=[{"half_life": default}, {"half_life": short}])
    picked: dict[str, float] = {}
    for selection in ("best", "one-se"):
        result = evaluate_models(
            split,
            [spec],
            repeats="allow",
            ks=(1,),
            add_no_decay_baselines=False,
            selection=selection,  # type: ignore[arg-type]
        )
        (tuned,) = result.results
        picked[selection] = tuned.params["half_life"]
        kept, shorter = tuned.tuning or []
        assert kept["departures"] == 0 and shorter["departures"] == 1
        assert shorter["gap_se"] == 0.0 and kept["gap_se"] > 0.0
        assert shorter["ndcg@1"] - kept["ndcg@1"] == pytest.approx((n_for_short - n_for_long) / 20)
    assert picked["best"] == short.total_seconds()
    expected = default if one_se_keeps == "default" else short
    assert picked["one-se"] == expected.total_seconds()


def test_grid_selection_must_be_known(recency_log: EventLog) -> None:
    with pytest.raises(InvalidParameterError, match="'selection'"):
        evaluate_models(leave_last_out(recency_log), ["recent-items"], selection="lucky")  # type: ignore[arg-type]


def test_parameter_grid_of_a_model_without_decay(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    grid = [{"event_weights": {"view": 1.0}}, {"event_weights": {"view": 2.0}}]
    spec = ModelSpec("recent", {"half_life": None}, SpyRecent, grid=grid)
    assert not spec.decays and spec.tunes_grid
    # no half-life grid at all: the parameter grid is still tuned
    result = evaluate_models(split, [spec], repeats="allow", ks=(1,), tune_half_lives=())
    assert len(fit_log) == 3 and all(half_life is None for half_life, _ in fit_log)
    (only,) = result.results
    assert only.model == "recent"
    assert only.tuning is not None
    assert [entry["event_weights"] for entry in only.tuning] == [{"view": 1.0}, {"view": 2.0}]
    assert only.params["event_weights"] == {"view": 1.0}  # a tie: the first entry wins


def test_parameter_grid_must_hold_mappings(recency_log: EventLog) -> None:
    split = leave_last_out(recency_log)
    spec = ModelSpec("recent", {}, SpyRecent, grid=[("half_life", 1)])  # type: ignore[list-item]
    with pytest.raises(InvalidParameterError, match="'grid' of ModelSpec 'recent'"):
        evaluate_models(split, [spec])
