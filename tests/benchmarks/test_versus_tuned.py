"""``benchmarks/versus_tuned.py``: how many shoppers carry a gap; the visit state it splits by."""

from __future__ import annotations

import importlib
import math
import sys
from pathlib import Path

import numpy as np
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT, ROOT / "benchmarks"):  # the script imports its harness as `_harness`
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

harness = importlib.import_module("benchmarks._harness")
versus = importlib.import_module("benchmarks.versus_tuned")


def test_one_large_difference_carries_a_gap_the_others_cancel() -> None:
    ours = np.array([1.0, 0.2, 0.5, np.nan, 0.0])
    theirs = np.array([0.0, 0.4, 0.5, 0.3, 0.2])
    spread = versus.gap_carriers(ours, theirs)
    assert spread.shoppers == 4  # the shopper without a target is left out
    assert (spread.ours_higher, spread.theirs_higher) == (1, 2)
    assert spread.gap == pytest.approx((1.0 - 0.2 + 0.0 - 0.2) / 4)
    assert spread.carriers == 1


def test_carriers_are_counted_from_the_largest_difference_of_the_gaps_sign() -> None:
    ours = np.array([0.0, 0.0, 0.2, 0.1, 0.0])
    theirs = np.array([0.5, 0.3, 0.0, 0.1, 0.05])
    spread = versus.gap_carriers(ours, theirs)
    # differences -0.5, -0.3, +0.2, 0, -0.05: total -0.65 needs -0.5 and -0.3
    assert spread.gap == pytest.approx(-0.65 / 5)
    assert spread.carriers == 2
    assert versus.gap_carriers(theirs, ours).carriers == 2


def test_an_even_comparison_has_no_carriers_and_shapes_must_agree() -> None:
    same = np.array([0.3, 0.1, np.nan])
    assert versus.gap_carriers(same, same) == versus.GapCarriers(2, 0, 0, 0.0, 0)
    with pytest.raises(ValueError, match="differ in shape"):
        versus.gap_carriers(same, same[:2])


def test_last_event_reads_the_visit_and_the_days_away_from_the_training_part() -> None:
    from decayrec.models import LearnedDecay

    config = ShopConfig(n_users=120, n_items=50, n_categories=4, days=30, seed=4)
    events = simulate_shop(config).events
    case, _ = harness.validation_case_of(events, "loo", "item", None)
    model = LearnedDecay(max_epochs=1).fit(case.fit_events)
    within, days = harness.last_event(model, case)
    assert within.any() and not within.all()  # both kinds of shopper are checked

    log = case.fit_events
    users = log.users.indices(list(case.user_ids))
    at = np.asarray(case.at_seconds)
    for row, user in enumerate(users):
        mine = (log.user_index == user) & (log.timestamp_seconds <= at[row])
        seconds = log.timestamp_seconds[mine]
        if user < 0 or not seconds.size:
            assert math.isinf(days[row]) and not within[row]
            continue
        away = at[row] - seconds.max()
        assert days[row] == pytest.approx(away / 86_400)
        assert within[row] == (away <= model.session_gap_seconds_)
