"""Benchmark: LearnedDecay training time per epoch, against DecayedItemKNN's fit in the same run.

Run ``python benchmarks/bench_learned.py [--data PATH --format FMT] [--params JSON]``
(``--params``: LearnedDecay's parameters, e.g. the setting ``decayrec evaluate`` picked, as
in its JSON: durations in seconds). The default log is
Amazon Beauty 5-core from ``../shared/data`` (the issue's target: training under 5 minutes on
two CPU cores); without it, a simulated shop of ``--events`` events. It fits:

* ``decayed-itemknn``: the baseline, a fixed-decay model whose item-item similarity
  LearnedDecay also builds (so the ratio shows what learning the decay costs on top);
* ``learned-decay``: the whole fit (tables, training with early stopping, standard errors),

best of ``--repeat``, and prints the seconds per epoch, the epochs run and the target check.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import add_log_arguments, load_log, print_environment, print_timings, time_best
from decayrec.models import DecayedItemKNN, LearnedDecay

#: The issue's budget for one training on Amazon Beauty, in seconds.
TARGET_SECONDS = 300.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_log_arguments(parser)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--params", default="{}", help="LearnedDecay parameters as JSON")
    args = parser.parse_args()
    params = json.loads(args.params)

    print_environment(["decayrec", "numpy", "scipy", "torch"])
    events, source = load_log(args)
    print(f"log: {source}: {events.n_events:,} events, {len(events.users):,} users")

    baseline, _ = time_best(
        "decayed-itemknn", lambda: DecayedItemKNN().fit(events), items=events.n_events,
        repeat=args.repeat,
    )  # fmt: skip
    learned, model = time_best(
        "learned-decay", lambda: LearnedDecay(**params).fit(events), items=events.n_events,
        repeat=args.repeat,
    )  # fmt: skip
    print(f"learned-decay parameters: {args.params}")
    print_timings([baseline, learned], reference=baseline, unit="events/s")
    seconds = model.training_["epoch_seconds"]
    print(
        f"learned-decay: {len(seconds)} epochs (best {model.training_['best_epoch']}), "
        f"{sum(seconds) / len(seconds):.2f} s per epoch (min {min(seconds):.2f}, "
        f"max {max(seconds):.2f})"
    )
    met = learned.best <= TARGET_SECONDS
    print(
        f"target: training under {TARGET_SECONDS:.0f} s: {'met' if met else 'NOT met'} "
        f"({learned.best:.1f} s)"
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
