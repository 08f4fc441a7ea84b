"""The benchmark scripts' shared case arguments: ``--fold K/N`` reads fold K's validation case."""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # benchmarks/ is a package at the repository root
    sys.path.insert(0, str(ROOT))

harness = importlib.import_module("benchmarks._harness")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    harness.add_case_arguments(parser)
    return parser


def test_fold_argument_is_k_of_n() -> None:
    args = _parser().parse_args(["--data", "x.csv", "--protocol", "temporal", "--fold", "2/4"])
    assert args.fold == (2, 4)
    assert _parser().parse_args(["--data", "x.csv"]).fold is None
    for bad in ("0/4", "5/4", "two/4", "3"):
        with pytest.raises(SystemExit):
            _parser().parse_args(["--data", "x.csv", "--fold", bad])


def test_the_last_fold_is_the_default_split_and_earlier_folds_end_before_it() -> None:
    config = ShopConfig(n_users=150, n_items=60, n_categories=5, days=40, seed=3)
    events = simulate_shop(config).events
    default, described = harness.validation_case_of(events, "temporal", "item", None)
    last, last_described = harness.validation_case_of(events, "temporal", "item", None, (4, 4))
    first, _ = harness.validation_case_of(events, "temporal", "item", None, (1, 4))
    assert last_described == described
    assert list(last.user_ids) == list(default.user_ids)
    assert np.array_equal(last.at_seconds, default.at_seconds)
    assert first.at_seconds.max() < default.at_seconds.min()
    with pytest.raises(ValueError, match="--fold needs --protocol temporal"):
        harness.validation_case_of(events, "loo", "item", None, (1, 4))
