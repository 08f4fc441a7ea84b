"""Tests of how a validation search picks a choice: the best, or the one-standard-error rule."""

from __future__ import annotations

import numpy as np
import pytest

from decayrec.errors import InvalidParameterError
from decayrec.eval.selection import gap_standard_errors, select_choice


def _per_user(*rows: list[float]) -> list[np.ndarray]:
    return [np.asarray(row, dtype=np.float64) for row in rows]


def test_gap_standard_errors_by_hand() -> None:
    best = [1.0, 1.0, 0.0, 1.0]
    other = [0.0, 1.0, 1.0, 0.0]  # gaps -1, 0, +1, -1: mean -0.25
    errors = gap_standard_errors(_per_user(other, best), best=1)
    gaps = np.array([-1.0, 0.0, 1.0, -1.0])
    assert errors[0] == pytest.approx(gaps.std(ddof=1) / 2.0)
    assert errors[1] == 0.0


def test_gap_standard_errors_leave_out_users_without_a_target() -> None:
    nan = float("nan")
    errors = gap_standard_errors(_per_user([0.0, 1.0, nan, 0.5], [1.0, 1.0, nan, 1.0]), best=1)
    gaps = np.array([-1.0, 0.0, -0.5])
    assert errors[0] == pytest.approx(gaps.std(ddof=1) / np.sqrt(3))


def test_best_takes_the_highest_score_and_the_earlier_of_ties() -> None:
    per_user = _per_user([0.0, 1.0], [1.0, 1.0], [1.0, 1.0])
    assert select_choice([0.5, 1.0, 1.0], per_user, [0, 1, 1], "best") == 1


def test_one_se_keeps_the_defaults_when_the_best_gains_less_than_its_noise() -> None:
    # the best (index 1) wins on 3 users and loses on 2 of 20: gap 0.05, standard error ~0.05
    default = [1.0] * 2 + [0.0] * 3 + [1.0] * 15
    tuned = [0.0] * 2 + [1.0] * 3 + [1.0] * 15
    per_user = _per_user(default, tuned)
    scores = [float(np.mean(default)), float(np.mean(tuned))]
    error = gap_standard_errors(per_user, best=1)[0]
    assert scores[1] - scores[0] <= error
    assert select_choice(scores, per_user, [0, 2], "best") == 1
    assert select_choice(scores, per_user, [0, 2], "one-se") == 0


def test_one_se_takes_the_best_when_its_gain_is_clear() -> None:
    # the best wins on 6 of 20 users and loses on none: gap 0.3, standard error ~0.1
    default = [0.0] * 6 + [1.0] * 14
    tuned = [1.0] * 20
    per_user = _per_user(default, tuned)
    scores = [0.7, 1.0]
    assert select_choice(scores, per_user, [0, 1], "one-se") == 1


def test_one_se_prefers_fewer_departures_then_the_higher_score() -> None:
    best = np.full(20, 0.5)

    def moved(*changes: float) -> np.ndarray:
        return best + np.array([*changes, *[0.0] * (20 - len(changes))])

    per_user = [
        best,  # 0.5, three departures
        moved(-0.5, -0.5, 0.5),  # 0.475, within one standard error (~0.044)
        moved(-0.5, 0.5, -0.6),  # 0.47, within (~0.047)
        moved(-0.3, 0.2),  # 0.495, within (~0.018)
        best - 0.2,  # 0.3, the defaults, but every user loses: outside
    ]
    scores = [float(np.mean(values)) for values in per_user]
    errors = gap_standard_errors(per_user, best=0)
    assert [scores[0] - score <= error for score, error in zip(scores, errors, strict=True)] == [
        True, True, True, True, False,
    ]  # fmt: skip
    assert select_choice(scores, per_user, [3, 1, 1, 2, 0], "one-se") == 1
    assert select_choice(scores, per_user, [3, 2, 1, 2, 0], "one-se") == 2
    # with every choice as plain as the others, the rule is the best's
    assert select_choice(scores, per_user, [0, 0, 0, 0, 0], "one-se") == 0


def test_one_se_never_keeps_a_choice_outside_the_band() -> None:
    # the default is far below on every user: no noise can excuse it
    per_user = _per_user([0.0] * 10, [0.9] * 10, [0.95] * 10)
    assert select_choice([0.0, 0.9, 0.95], per_user, [0, 1, 2], "one-se") == 2


def test_bad_selection_and_mismatched_lengths_are_named() -> None:
    per_user = _per_user([1.0])
    with pytest.raises(InvalidParameterError, match=r"'selection'.*one-se"):
        select_choice([1.0], per_user, [0], "lucky")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="one length"):
        select_choice([1.0, 0.5], per_user, [0], "best")
    with pytest.raises(InvalidParameterError, match="non-empty"):
        select_choice([], [], [], "best")
