"""Benchmark: TimeAwareTransformer epoch time, peak memory and one-user inference latency.

Run ``python benchmarks/bench_transformer.py [--data PATH --format FMT] [--epochs 2]``. The
default log is Amazon Beauty 5-core from ``../shared/data`` (issue 6's targets: one epoch
under 60 s on two CPU cores at the default size; one user's recommendations under 10 ms);
without it, a simulated shop of ``--events`` events. In one run it

1. trains the ``-no-time`` ablation (plain SASRec attention, the baseline) and the model with
   its time bias, ``--epochs`` epochs each at the default size (no early stopping), and
   prints the seconds per epoch of both and their ratio;
2. prints the process' peak resident memory after the trainings (``ru_maxrss``: the
   high-water mark of everything, the log and the hybrid head's decay model included);
3. fits the full model (hybrid head on, its LearnedDecay included) for one epoch and times
   ``recommend([user], n=10)`` for ``--users`` single users, hybrid on and off, beside
   ``DecayedItemKNN.recommend`` for the same users (the baseline), as p50 / p99.

Why: the epoch time decides whether the model trains on a shop's laptop; the single-user
latency decides whether it can serve a page.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import add_log_arguments, load_log, print_environment
from decayrec.models import DecayedItemKNN, Recommender, TimeAwareTransformer

TARGET_EPOCH_SECONDS = 60.0
TARGET_USER_MS = 10.0


def peak_mib() -> float:
    """Peak resident memory of this process so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def latencies_ms(model: Recommender, users: list[str], at: float) -> tuple[float, float]:
    """p50 and p99 of one-user ``recommend`` calls, after one warm-up call."""
    model.recommend(users[:1], at=at, n=10)
    times = []
    for user in users:
        started = time.perf_counter()
        model.recommend([user], at=at, n=10)
        times.append(time.perf_counter() - started)
    p50, p99 = np.percentile(np.array(times) * 1e3, [50, 99])
    return float(p50), float(p99)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_log_arguments(parser)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--users", type=int, default=300, help="single-user calls to time")
    args = parser.parse_args()

    print_environment(["decayrec", "numpy", "torch"])
    events, source = load_log(args)
    print(
        f"log: {source}: {events.n_events:,} events, {len(events.users):,} users, "
        f"{len(events.items):,} items; peak memory after loading {peak_mib():,.0f} MiB"
    )
    fixed = {"max_epochs": args.epochs, "validation_users": 0, "hybrid": False}
    epoch: dict[str, float] = {}
    for label, time_bias in (("no-time (baseline)", False), ("time bias", True)):
        model = TimeAwareTransformer(time_bias=time_bias, **fixed).fit(events)  # type: ignore[arg-type]
        seconds = model.training_["epoch_seconds"]
        epoch[label] = float(np.mean(seconds))
        print(
            f"  {label:20s} epochs {', '.join(f'{s:.1f}' for s in seconds)} s; "
            f"mean {epoch[label]:.1f} s per epoch"
        )
    ratio = epoch["time bias"] / epoch["no-time (baseline)"]
    print(f"  time bias / no-time: {ratio:.2f}x the epoch time")
    print(f"peak memory after training: {peak_mib():,.0f} MiB")
    met = epoch["time bias"] < TARGET_EPOCH_SECONDS
    print(
        f"target (issue 6): one epoch under {TARGET_EPOCH_SECONDS:.0f} s: "
        f"{'met' if met else 'NOT met'} ({epoch['time bias']:.1f} s)"
    )

    hybrid = TimeAwareTransformer(max_epochs=1).fit(events)
    rng = np.random.default_rng(0)
    users = events.users.raw(rng.choice(len(events.users), size=args.users, replace=False))
    at = float(events.timestamp_seconds.max())
    knn = DecayedItemKNN().fit(events)
    plain = TimeAwareTransformer(max_epochs=1, hybrid=False).fit(events)
    rows = {
        "decayed-itemknn (baseline)": latencies_ms(knn, users, at),
        "transformer, hybrid head": latencies_ms(hybrid, users, at),
        "transformer alone (no-hybrid)": latencies_ms(plain, users, at),
    }
    base = rows["decayed-itemknn (baseline)"][0]
    print(f"one-user recommend(n=10), {args.users} users (ms):")
    for label, (p50, p99) in rows.items():
        print(f"  {label:32s} p50 {p50:6.2f}  p99 {p99:6.2f}  ({p50 / base:.1f}x the baseline p50)")
    worst = rows["transformer, hybrid head"][1]
    print(
        f"target (issue 6): one user under {TARGET_USER_MS:.0f} ms: "
        f"{'met' if worst < TARGET_USER_MS else 'NOT met'} (hybrid p99 {worst:.2f} ms)"
    )
    print(f"peak memory at the end: {peak_mib():,.0f} MiB")
    return 0 if met and worst < TARGET_USER_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
