"""Benchmark: ``load_events`` on a synthetic Taobao-format CSV against pandas in the same run.

Run ``python benchmarks/bench_load.py [--rows 5000000]``. It writes a Taobao UserBehavior file
(no header; ``user_id,item_id,category_id,behavior_type,timestamp``; integer ids, Unix seconds)
into a temporary folder, then times, best of ``--repeat``:

* ``load_events``: :func:`decayrec.data.load_events` with ``format="taobao"``, end to end;
* its stages, one by one: ``read`` (the format reader), ``clean``
  (:func:`~decayrec.data.clean.clean_events`) and ``index`` (:meth:`EventLog.from_frame`);
* ``pandas``: the baseline, plain ``pandas.read_csv`` and ``pd.factorize`` of the three id
  columns (no cleaning, no validation, ids kept as integers).

The file holds a few rows outside the data set's nine days and a few repeated rows, as the real
one does. Before anything is reported the log is checked against pandas: the kept rows are the
expected ones, and users, items and categories get the codes and ids ``pd.factorize`` gives
them (both number ids in order of first appearance). The script exits with status 1 if not.

Why this benchmark: loading the public logs is the first step of every experiment; its target
is >= 1M rows/s end to end on a two-core machine.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import (
    Timing,
    parse_count,
    print_environment,
    print_target,
    print_timings,
    time_best,
)
from decayrec.data import CleaningConfig, EventLog, load_events
from decayrec.data.clean import clean_events
from decayrec.data.formats import get_format

TARGET_ROWS_PER_SECOND = 1_000_000
NAMES = ["user_id", "item_id", "category_id", "behavior_type", "timestamp"]
#: (vocabulary, index column of the log, file column) of each id.
IDS = (
    ("users", "user_index", "user_id"),
    ("items", "item_index", "item_id"),
    ("categories", "category_index", "category_id"),
)
#: 2017-11-25 00:00 to 2017-12-04 00:00 China time, the data set's window, in Unix seconds.
WINDOW = (1_511_539_200, 1_512_316_800)
#: Shares of pv, cart, fav, buy in the full UserBehavior file.
BEHAVIOURS = ("pv", "cart", "fav", "buy")
BEHAVIOUR_SHARES = np.array([0.895, 0.055, 0.029, 0.021])
#: Id ranges and counts of the full file (about 1M users, 4.2M items, 9.4k categories).
MAX_USER_ID, MAX_ITEM_ID, MAX_CATEGORY_ID = 1_018_011, 5_163_070, 5_162_429
N_ITEMS, N_CATEGORIES = 4_162_024, 9_439


def write_taobao(path: Path, rows: int, users: int, bad_share: float, seed: int) -> None:
    """A Taobao-format file like a slice of the real one: users' histories one after another.

    Items are Zipf-skewed (exponent 0.9) and each has one category; ``bad_share`` of the rows
    get a timestamp before the window and as many again repeat the row before them.
    """
    rng = np.random.default_rng(seed)
    user = np.sort(rng.integers(0, users, rows))
    user_ids = np.sort(rng.choice(MAX_USER_ID, users, replace=False)) + 1
    weight = np.cumsum(1.0 / np.arange(1, N_ITEMS + 1) ** 0.9)
    item = np.searchsorted(weight / weight[-1], rng.random(rows))
    item_ids = rng.choice(MAX_ITEM_ID, N_ITEMS, replace=False) + 1
    category_ids = rng.choice(MAX_CATEGORY_ID, N_CATEGORIES, replace=False) + 1
    item_category = category_ids[rng.integers(0, N_CATEGORIES, N_ITEMS)]
    seconds = rng.integers(*WINDOW, rows)
    seconds = seconds[np.lexsort((seconds, user))]  # each user's events in time order
    early = rng.random(rows) < bad_share
    seconds[early] = rng.integers(0, WINDOW[0], int(early.sum()))
    behaviour = rng.choice(len(BEHAVIOURS), rows, p=BEHAVIOUR_SHARES)
    frame = pl.DataFrame(
        {
            "user_id": user_ids[user],
            "item_id": item_ids[item],
            "category_id": item_category[item],
            "behavior_type": pl.Series(BEHAVIOURS).gather(behaviour),
            "timestamp": seconds,
        }
    )
    repeat = np.flatnonzero(rng.random(rows) < bad_share)
    repeat = repeat[repeat > 0]
    source = np.arange(rows)
    source[repeat] = repeat - 1
    frame[source].write_csv(path, include_header=False)


def pandas_baseline(path: Path) -> dict[str, tuple[Any, Any]]:
    """Baseline: read with pandas, factorise the id columns (codes and uniques per column)."""
    import pandas as pd

    frame = pd.read_csv(path, header=None, names=NAMES)
    return {name: pd.factorize(frame[column]) for name, _, column in IDS}


def expected_ids(path: Path) -> dict[str, tuple[Any, Any]]:
    """What the log should hold: pandas codes and ids (as text) of the rows cleaning keeps."""
    import pandas as pd

    frame = pd.read_csv(path, header=None, names=NAMES)
    frame = frame[(frame["timestamp"] >= WINDOW[0]) & (frame["timestamp"] < WINDOW[1])]
    frame = frame[~frame.duplicated(keep="first")]
    return {name: pd.factorize(frame[column]) for name, _, column in IDS}


def check(events: EventLog, expected: dict[str, tuple[Any, Any]]) -> bool:
    """Same codes and the same raw ids as pandas; prints the outcome."""
    ok = True
    for name, index_column, _ in IDS:
        codes, uniques = expected[name]
        vocabulary = getattr(events, name)
        index = events.frame[index_column].to_numpy()
        same = np.array_equal(index, codes) and vocabulary.ids.to_list() == [
            str(u) for u in uniques
        ]
        print(
            f"check {name}: {'agrees' if same else 'DIFFERS'} "
            f"({len(vocabulary):,} ids, {len(index):,} rows)"
        )
        ok = ok and same
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=parse_count, default=5_000_000, help="default 5M")
    parser.add_argument("--users", type=parse_count, default=None, help="default rows / 100")
    parser.add_argument(
        "--bad-share", type=float, default=1e-4, help="share of out-of-window and of repeated rows"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best counts)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-stages", action="store_true", help="time load_events only")
    parser.add_argument("--skip-pandas", action="store_true", help="no pandas baseline")
    args = parser.parse_args(argv)
    users = args.users or max(1, args.rows // 100)

    print("bench_load: load_events(path, 'taobao') vs pandas.read_csv + pd.factorize")
    print_environment(["decayrec", "numpy", "polars", "pandas", "pyarrow"])
    print(
        f"data: {args.rows:,} rows, {users:,} users, Zipf-skewed items; "
        f"{args.bad_share:.2%} out-of-window and {args.bad_share:.2%} repeated rows; "
        f"best of {args.repeat}"
    )
    with tempfile.TemporaryDirectory(prefix="bench_load_") as folder:
        path = Path(folder) / "UserBehavior.csv"
        start = time.perf_counter()
        write_taobao(path, args.rows, users, args.bad_share, args.seed)
        mib = path.stat().st_size / 2**20
        print(f"file: {mib:,.0f} MiB, written in {time.perf_counter() - start:.1f} s (not timed)")
        return run(path, args)


def run(path: Path, args: argparse.Namespace) -> int:
    rows = args.rows
    timings: list[Timing] = []
    ours, (events, report) = time_best(
        "load_events", lambda: load_events(path, "taobao"), items=rows, repeat=args.repeat
    )
    timings.append(ours)
    print(
        f"kept {report.rows_kept:,} of {report.rows_read:,} rows "
        f"({', '.join(f'{n:,} {r}' for r, n in report.dropped.items() if n) or 'none dropped'})"
    )

    if not args.skip_stages:
        spec = get_format("taobao")
        read, raw = time_best(
            "  read", lambda: spec.read(path, columns=None), items=rows, repeat=args.repeat
        )
        config = replace(CleaningConfig(), time_window=raw.time_window)
        clean, (frame, _) = time_best(
            "  clean",
            lambda: clean_events(raw.frame, config, source=raw.source),
            items=rows,
            repeat=args.repeat,
        )
        del raw
        index, _ = time_best(
            "  index",
            lambda: EventLog.from_frame(frame, source=str(path)),
            items=rows,
            repeat=args.repeat,
        )
        del frame
        timings.extend([read, clean, index])

    checks: list[bool] = []
    if not args.skip_pandas:
        try:
            import pandas  # noqa: F401
        except ImportError:
            print('pandas is missing: pip install "decayrec[bench]" (or pass --skip-pandas)')
            return 2
        checks.append(check(events, expected_ids(path)))
        del events
        baseline, _ = time_best(
            "pandas read_csv + factorize",
            lambda: pandas_baseline(path),
            items=rows,
            repeat=args.repeat,
        )
        timings.append(baseline)

    print("timings (best of runs; ratio = time / load_events time, > 1 means slower):")
    print_timings(timings, reference=ours, unit="rows/s")
    if not args.skip_pandas:
        print(
            f"  load_events takes {ours.best / baseline.best:.2f}x the time of {baseline.name} "
            "(which neither cleans nor validates)"
        )
    print_target("load_events", ours.rate, TARGET_ROWS_PER_SECOND, "rows/s")
    return 0 if all(checks) else 1


if __name__ == "__main__":
    raise SystemExit(main())
