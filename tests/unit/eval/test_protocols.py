"""Tests of evaluation cases built from splits, on a log small enough to follow by hand.

The log (days after T0; item -> category: 0,1 -> c0; 2,3 -> c1; 4,5 -> c2)::

    user 0: item 0 @0, item 1 @1, item 2 @2, item 0 @3   loo: val item 2, test item 0 (repeat)
    user 1: item 3 @0, item 4 @1, item 5 @4              loo: val item 4, test item 5 (never
                                                          in any fit data: absent)
    user 2: item 1 @0, item 2 @5                         fewer than 3 events: all train
    user 3: item 2 @0, item 3 @1, item 4 @2, item 1 @6   loo: val item 4, test item 1 (new)
"""

from __future__ import annotations

import math
from datetime import timedelta

import numpy as np
import pytest

from decayrec.data.schema import EventLog
from decayrec.data.split import Split, leave_last_out, temporal_split
from decayrec.errors import InvalidParameterError
from decayrec.eval.protocols import EvaluationCase

from ._helpers import DAY, T0, FixedRanking, make_log

CATEGORY = [0, 0, 1, 1, 2, 2]


@pytest.fixture
def log() -> EventLog:
    rows = [
        (0, 0, 0.0),
        (0, 1, 1.0),
        (0, 2, 2.0),
        (0, 0, 3.0),
        (1, 3, 0.0),
        (1, 4, 1.0),
        (1, 5, 4.0),
        (2, 1, 0.0),
        (2, 2, 5.0),
        (3, 2, 0.0),
        (3, 3, 1.0),
        (3, 4, 2.0),
        (3, 1, 6.0),
    ]
    users, items, days = (list(col) for col in zip(*rows, strict=True))
    return make_log(users, items, days, categories=[CATEGORY[i] for i in items])


@pytest.fixture
def loo(log: EventLog) -> Split:
    return leave_last_out(log)


def _target_sets(case: EvaluationCase, matrix: object = None) -> dict[str, list[str]]:
    """``{user id: sorted raw target ids}`` of a case (split index space)."""
    targets = case.targets if matrix is None else matrix
    out = {}
    for row, user in enumerate(case.user_ids):
        cols = targets.indices[targets.indptr[row] : targets.indptr[row + 1]]  # type: ignore[attr-defined]
        out[user] = sorted(case.keys.raw(cols))
    return out


class TestLeaveLastOut:
    def test_exclude_repeats_drops_repeat_targets_and_their_users(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, target="item", repeats="exclude")
        assert _target_sets(case) == {"1": ["5"], "3": ["1"]}
        assert case.at_seconds.tolist() == [T0 + 4 * DAY, T0 + 6 * DAY]
        assert case.n_targets == 2
        assert case.n_repeat_targets == 0
        assert case.share_absent_from_training == 0.5  # item 5 is in no fit data
        assert case.exclude_policy == "seen"
        assert case.fit_events.n_events == loo.train.n_events + loo.validation.n_events

    def test_allow_repeats_keeps_them_and_marks_them(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, target="item", repeats="allow")
        assert _target_sets(case) == {"0": ["0"], "1": ["5"], "3": ["1"]}
        assert _target_sets(case, case.repeat_targets) == {"0": ["0"], "1": [], "3": []}
        assert case.exclude_policy == "none"
        summary = case.summary()
        assert summary["n_users"] == 3
        assert summary["n_repeat_targets"] == 1
        assert summary["n_new_targets"] == 2
        assert summary["share_absent_from_training"] == pytest.approx(1 / 3)

    def test_validation_part_is_fitted_on_train_only(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, part="validation", repeats="exclude")
        assert case.fit_events.n_events == loo.train.n_events
        assert _target_sets(case) == {"0": ["2"], "1": ["4"], "3": ["4"]}
        assert case.at_seconds.tolist() == [T0 + 2 * DAY, T0 + DAY, T0 + 2 * DAY]
        # item 4 occurs only in validation events: absent from the train data for both users
        assert case.share_absent_from_training == pytest.approx(2 / 3)

    def test_category_targets(self, loo: Split) -> None:
        excluded = EvaluationCase.from_split(loo, target="category", repeats="exclude")
        # user 0 re-visits c0, user 1 re-visits c2; only user 3's c0 is new
        assert _target_sets(excluded) == {"3": ["0"]}
        allowed = EvaluationCase.from_split(loo, target="category", repeats="allow")
        assert _target_sets(allowed) == {"0": ["0"], "1": ["2"], "3": ["0"]}
        assert allowed.n_repeat_targets == 2
        assert allowed.share_absent_from_training == 0.0

    def test_users_without_fit_data_are_not_evaluated(self) -> None:
        log = make_log([0, 0, 0, 1], [0, 1, 2, 3], [0.0, 1.0, 2.0, 3.0])
        train = log.filter(np.array([True, False, False, False]))
        test = log.filter(np.array([False, False, True, True]))
        split = Split(train, log.filter(np.zeros(4, bool)), test, "loo", "by hand")
        case = EvaluationCase.from_split(split, repeats="allow")
        assert case.user_ids == ["0"]
        assert case.n_users_without_history == 1

    def test_subsample_keeps_rows_consistent(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, repeats="allow")
        sub = case.subsample(2, seed=1)
        assert sub.n_users == 2
        full = _target_sets(case)
        assert _target_sets(sub) == {user: full[user] for user in sub.user_ids}
        assert sub.user_ids == sorted(sub.user_ids, key=case.user_ids.index)
        for row, user in enumerate(sub.user_ids):
            assert sub.at_seconds[row] == case.at_seconds[case.user_ids.index(user)]
        assert case.subsample(10) is case
        with pytest.raises(InvalidParameterError, match="'max_users'"):
            case.subsample(0)

    def test_nothing_left_raises(self) -> None:
        log = make_log([0, 0, 0], [0, 1, 0], [0.0, 1.0, 2.0])
        with pytest.raises(InvalidParameterError, match="only repeat what they did before"):
            EvaluationCase.from_split(leave_last_out(log), repeats="exclude")

    @pytest.mark.parametrize(
        ("name", "value"), [("part", "train"), ("target", "brand"), ("repeats", "maybe")]
    )
    def test_rejects_unknown_options(self, loo: Split, name: str, value: str) -> None:
        with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
            EvaluationCase.from_split(loo, **{name: value})  # type: ignore[arg-type]


class TestTemporal:
    def test_users_are_asked_at_the_split_instant(self, log: EventLog) -> None:
        at = T0 + 3.5 * DAY
        split = temporal_split(log, at=at, validation=timedelta(days=2))
        case = EvaluationCase.from_split(split, repeats="allow", at=at)
        # test events: user 1 item 5 @4, user 2 item 2 @5, user 3 item 1 @6
        assert _target_sets(case) == {"1": ["5"], "2": ["2"], "3": ["1"]}
        assert case.at_seconds.tolist() == [at, at, at]
        assert _target_sets(case, case.repeat_targets) == {"1": [], "2": [], "3": []}

    def test_instant_is_where_the_split_starts_the_part(self, log: EventLog) -> None:
        split = temporal_split(log, at=T0 + 3.5 * DAY, validation=timedelta(days=2))
        test = EvaluationCase.from_split(split, repeats="allow")
        assert set(test.at_seconds.tolist()) == {T0 + 3.5 * DAY}
        validation = EvaluationCase.from_split(split, part="validation", repeats="allow")
        assert set(validation.at_seconds.tolist()) == {T0 + 1.5 * DAY}

    def test_hand_made_split_falls_back_to_the_first_evaluated_event(self, log: EventLog) -> None:
        made = temporal_split(log, at=T0 + 3.5 * DAY, validation=timedelta(days=2))
        split = Split(made.train, made.validation, made.test, "temporal", "by hand")
        test = EvaluationCase.from_split(split, repeats="allow")
        assert set(test.at_seconds.tolist()) == {T0 + 4 * DAY}

    def test_empty_validation_part_raises(self, log: EventLog) -> None:
        split = temporal_split(log, at=T0 + 3.5 * DAY)
        with pytest.raises(InvalidParameterError, match="validation part of the split is empty"):
            EvaluationCase.from_split(split, part="validation")


class TestEvaluate:
    def test_exclude_scores_by_hand(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, repeats="exclude")
        model = FixedRanking().fit(case.fit_events)
        scores = case.evaluate(model, ks=(1, 2))
        # user 1: seen {3, 4} -> ranks 0, 1, 2; target 5 cannot be ranked (absent)
        # user 3: seen {2, 3, 4} -> ranks 0, 1; target 1 at rank 2
        assert scores["recall@1"] == 0.0
        assert scores["recall@2"] == 0.5
        assert scores["ndcg@2"] == pytest.approx(0.5 / math.log2(3))
        assert scores["mrr@2"] == 0.25
        assert scores["coverage@2"] == pytest.approx(2 / 5)  # catalogue: items 0..4
        assert not any("." in key for key in scores)

    def test_allow_adds_repeat_and_new_breakdown(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, repeats="allow")
        model = FixedRanking().fit(case.fit_events)
        scores = case.evaluate(model, ks=(2,))
        # everyone ranks 0, 1: user 0's repeat target 0 at rank 1, user 3's new target 1 at
        # rank 2, user 1's target 5 absent
        assert scores["recall@2"] == pytest.approx(2 / 3)
        assert scores["recall@2.repeat"] == 1.0
        assert scores["mrr@2.repeat"] == 1.0
        assert scores["recall@2.new"] == 0.5
        assert scores["mrr@2.new"] == 0.25
        assert "coverage@2.new" not in scores

    def test_category_exclude_removes_seen_categories_from_the_ranking(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, target="category", repeats="exclude")
        model = FixedRanking().fit(case.fit_events)
        ranked, vocabulary, _ = case.rank(model, 3)
        # user 3 saw c1 and c2; only c0 remains, first
        assert vocabulary.raw(ranked[0][ranked[0] >= 0]) == ["0"]
        assert case.evaluate(model, ks=(1,))["recall@1"] == 1.0

    def test_category_allow(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, target="category", repeats="allow")
        model = FixedRanking().fit(case.fit_events)
        scores = case.evaluate(model, ks=(1,))
        # every user's category ranking starts with c0; targets c0, c2, c0
        assert scores["recall@1"] == pytest.approx(2 / 3)
        assert scores["recall@1.repeat"] == pytest.approx(1 / 2)
        assert scores["recall@1.new"] == 1.0

    def test_targets_in_matches_raw_ids_of_a_compacted_catalogue(self, loo: Split) -> None:
        case = EvaluationCase.from_split(loo, repeats="allow")
        model = FixedRanking().fit(loo.train)  # catalogue without item 5 (and compacted)
        targets, absent = case.targets_in(model.events_.items)
        assert absent.tolist() == [0, 1, 0]
        rows = [model.events_.items.raw(targets[i].indices) for i in range(case.n_users)]
        assert rows == [["0"], [], ["1"]]
        with pytest.raises(InvalidParameterError, match="'subset'"):
            case.targets_in(model.events_.items, "old")  # type: ignore[arg-type]
