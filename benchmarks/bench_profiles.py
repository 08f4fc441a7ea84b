"""Benchmark: decayed category interest of 10M events against pandas and Polars baselines.

Run ``python benchmarks/bench_profiles.py [--events 10000000]``. It builds a synthetic log
(users × categories, a purchase funnel of event types, times over ``--days``) straight from
NumPy arrays, then times, best of ``--repeat`` and excluding data generation:

* ``decayrec``: :func:`decayrec.decay.decayed_interest` with ``key="category"``;
* ``pandas``: the same decayed sums as a plain ``groupby(["user", "category"]).sum()``;
* ``polars``: the same as a hand-written lazy Polars query (multi-threaded hash group-by).

All three results are checked to agree (same non-zero cells, values within ``rtol=1e-10``)
before anything is reported; the script exits with status 1 if they do not. It prints the
hardware, library versions, each rate in events/s and the ratios.

Why this benchmark: computing every user's profile is the batch step of each model fit and
of every evaluation run; its target is >= 5M events/s on a two-core machine.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Timing,
    parse_count,
    print_environment,
    print_target,
    print_timings,
    time_best,
)
from decayrec.data.schema import DEFAULT_EVENT_WEIGHTS, EventLog, EventType
from decayrec.decay.interest import decayed_interest

TARGET_EVENTS_PER_SECOND = 5_000_000
DAY = 86_400.0
START = 1_700_000_000.0  # 2023-11-14T22:13:20Z
#: Share of each event type (view, click, favourite, cart, purchase, rating, review).
TYPE_SHARES = np.array([0.78, 0.06, 0.05, 0.06, 0.04, 0.005, 0.005])
RTOL = 1e-10  # summation order differs (hash groups, pairwise sums)

Cells = tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]


def make_log(
    n_events: int, n_users: int, n_categories: int, n_items: int, days: float, seed: int
) -> EventLog:
    """A synthetic log in time order: skewed users and items, items fixed to categories."""
    rng = np.random.default_rng(seed)
    # Zipf-like activity: a few heavy users and popular items, as in real shop logs.
    user_weight = 1.0 / np.arange(1, n_users + 1) ** 0.6
    item_weight = 1.0 / np.arange(1, n_items + 1) ** 0.8
    users = rng.choice(n_users, size=n_events, p=user_weight / user_weight.sum())
    items = rng.choice(n_items, size=n_events, p=item_weight / item_weight.sum())
    item_category = rng.integers(0, n_categories, size=n_items)
    categories = item_category[items]
    categories[rng.random(n_events) < 0.01] = -1  # 1 % of events lack a category
    micros = np.sort(rng.integers(0, int(days * DAY * 1e6), size=n_events))
    seconds = START + micros / 1e6
    types = rng.choice(len(TYPE_SHARES), size=n_events, p=TYPE_SHARES / TYPE_SHARES.sum())
    return EventLog.from_indices(
        user_index=rng.permutation(n_users)[users],  # activity is not ordered by index
        item_index=items,
        category_index=categories,
        timestamp_seconds=seconds,
        event_type=types,
    )


def csr_cells(matrix: sp.csr_matrix) -> Cells:
    """(row, col, value) of the stored cells, in row-major order."""
    rows = np.repeat(np.arange(matrix.shape[0], dtype=np.int64), np.diff(matrix.indptr))
    return rows, matrix.indices.astype(np.int64), np.asarray(matrix.data, dtype=np.float64)


def pandas_profile(frame: Any, at: float, half_life: float, type_weights: np.ndarray) -> Any:
    """Baseline: what one would write by hand with pandas (vectorised, no Python loops)."""
    age = at - frame["seconds"]
    decay = np.exp2(-age / half_life).where(age >= 0, 0.0)
    interest = decay * type_weights[frame["event_type"].to_numpy()]
    known = frame["category"] >= 0
    table = frame.loc[known, ["user", "category"]].assign(interest=interest[known])
    return table.groupby(["user", "category"], sort=True)["interest"].sum()


def pandas_cells(result: Any) -> Cells:
    nonzero = result[result != 0]
    users = nonzero.index.get_level_values("user").to_numpy().astype(np.int64)
    categories = nonzero.index.get_level_values("category").to_numpy().astype(np.int64)
    return users, categories, nonzero.to_numpy(dtype=np.float64)


def polars_profile(
    frame: pl.DataFrame, at: float, half_life: float, type_weights: np.ndarray, n_categories: int
) -> pl.DataFrame:
    """Baseline: a hand-written lazy Polars query (multi-threaded hash group-by).

    The fastest variant found on the reference machine: one combined Int64 key instead of two
    group columns, and no sort (the result comes back in hash order; it is sorted outside the
    timing for the check, whereas decayrec and pandas return sorted results).
    """
    seconds = pl.col("timestamp").dt.epoch("us").cast(pl.Float64) / 1e6
    age = pl.lit(at) - seconds
    weight = pl.col("event_type").replace_strict(
        list(range(len(type_weights))), type_weights.tolist(), return_dtype=pl.Float64
    )
    decay = pl.when(age >= 0).then((age * (-math.log(2.0) / half_life)).exp()).otherwise(0.0)
    cell = pl.col("user_index").cast(pl.Int64) * n_categories + pl.col("category_index")
    return (
        frame.lazy()
        .filter(pl.col("category_index") >= 0)
        .select(cell.alias("cell"), (weight * decay).alias("interest"))
        .group_by("cell")
        .agg(pl.col("interest").sum())
        .collect()
    )


def polars_cells(result: pl.DataFrame, n_categories: int) -> Cells:
    ordered = result.filter(pl.col("interest") != 0).sort("cell")
    cell = ordered["cell"].to_numpy().astype(np.int64)
    return cell // n_categories, cell % n_categories, ordered["interest"].to_numpy()


def compare(name: str, expected: Cells, actual: Cells) -> bool:
    """Same cells and values within ``RTOL``; prints the outcome."""
    print(f"check {name}:", end="")
    if len(expected[0]) != len(actual[0]) or not (
        np.array_equal(expected[0], actual[0]) and np.array_equal(expected[1], actual[1])
    ):
        print(f" DIFFERENT cells ({len(actual[0])} vs {len(expected[0])} non-zero)")
        return False
    scale = np.maximum(np.abs(expected[2]), np.finfo(np.float64).tiny)
    worst = float(np.max(np.abs(actual[2] - expected[2]) / scale)) if len(scale) else 0.0
    ok = worst <= RTOL
    verdict = "agrees" if ok else "DIFFERS"
    print(f" {verdict} ({len(expected[0]):,} cells, max relative difference {worst:.1e})")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=parse_count, default=10_000_000, help="default 10M")
    parser.add_argument("--users", type=parse_count, default=200_000, help="default 200k")
    parser.add_argument("--categories", type=parse_count, default=500, help="default 500")
    parser.add_argument("--items", type=parse_count, default=100_000, help="default 100k")
    parser.add_argument("--days", type=float, default=90.0, help="time span (default 90)")
    parser.add_argument("--half-life-days", type=float, default=7.0, help="default 7")
    parser.add_argument("--repeat", type=int, default=3, help="runs per method (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-pandas", action="store_true", help="no pandas baseline")
    parser.add_argument("--skip-polars", action="store_true", help="no Polars baseline")
    args = parser.parse_args(argv)

    print("bench_profiles: decayed_interest(key='category') vs hand-written baselines")
    print_environment(["decayrec", "numpy", "scipy", "polars", "pandas", "pyarrow"])
    print(
        f"data: {args.events:,} events, {args.users:,} users, {args.categories:,} categories, "
        f"{args.items:,} items over {args.days:g} days; half-life {args.half_life_days:g} days; "
        f"best of {args.repeat}"
    )

    start = time.perf_counter()
    log = make_log(args.events, args.users, args.categories, args.items, args.days, args.seed)
    at = START + args.days * DAY
    half_life = args.half_life_days * DAY
    type_weights = DEFAULT_EVENT_WEIGHTS.as_array()
    n_categories = len(log.categories)
    assert len(type_weights) == len(EventType)
    print(f"data generation (not timed below): {time.perf_counter() - start:.1f} s")

    timings: list[Timing] = []
    ours, matrix = time_best(
        "decayrec",
        lambda: decayed_interest(log, at=at, key="category", half_life_seconds=half_life),
        items=args.events,
        repeat=args.repeat,
    )
    timings.append(ours)
    expected = csr_cells(matrix)
    del matrix
    baselines: list[tuple[str, Cells]] = []

    if not args.skip_pandas:
        try:
            import pandas as pd
        except ImportError:
            print('pandas is missing: pip install "decayrec[bench]" (or pass --skip-pandas)')
            return 2
        frame = pd.DataFrame(
            {
                "user": log.user_index,
                "category": log.category_index,
                "seconds": log.timestamp_seconds,
                "event_type": log.event_type,
            }
        )
        timing, pandas_result = time_best(
            "pandas groupby",
            lambda: pandas_profile(frame, at, half_life, type_weights),
            items=args.events,
            repeat=args.repeat,
        )
        timings.append(timing)
        baselines.append(("pandas vs decayrec", pandas_cells(pandas_result)))
        del frame, pandas_result

    if not args.skip_polars:
        timing, polars_result = time_best(
            "polars query",
            lambda: polars_profile(log.frame, at, half_life, type_weights, n_categories),
            items=args.events,
            repeat=args.repeat,
        )
        timings.append(timing)
        baselines.append(("polars vs decayrec", polars_cells(polars_result, n_categories)))
        del polars_result

    checks = [compare(name, expected, cells) for name, cells in baselines] if baselines else []
    print("timings (best of runs; ratio = time / decayrec time, > 1 means slower):")
    print_timings(timings, reference=ours, unit="events/s")
    for timing in timings[1:]:
        print(f"  decayrec is {timing.best / ours.best:.2f}x as fast as {timing.name}")
    print_target("decayrec", ours.rate, TARGET_EVENTS_PER_SECOND, "events/s")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
