"""Benchmark: TimeAwareTransformer trained with the full softmax against sampled softmaxes.

Run ``python benchmarks/compare_softmax.py [--data PATH --format FMT] [--negatives 256,2048]``.
Issue 6 asks for both on validation: full cross-entropy over the catalogue (the SASRec+
finding) and, for large catalogues, a sampled softmax with many negatives. The default log is
Amazon Beauty 5-core from ``../shared/data`` (leave-last-out); without it, a simulated shop of
``--events`` events. In one run it fits the transformer alone (``hybrid=False``, so the decay
head does not blur the comparison) on the split's train part once with the full softmax (the
baseline) and once per ``--negatives`` value, and prints for each the validation NDCG@10 and
recall@10 (full ranking, repeats allowed, the validation part only: the test part is never
read), the epochs trained and the seconds per epoch, with both as ratios to the full softmax.

Why: the full softmax costs one ``(positions, catalogue)`` product per batch; a sampled one
is cheaper per epoch, but may need more epochs or rank worse. Which to use is a measurement.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _harness import add_log_arguments, load_log, print_environment, validation_case_of
from decayrec.models import TimeAwareTransformer


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_log_arguments(parser)
    parser.add_argument("--negatives", default="256,2048", help="comma-separated k values")
    parser.add_argument("--max-epochs", type=int, default=40)
    args = parser.parse_args()

    print_environment(["decayrec", "numpy", "torch"])
    events, source = load_log(args)
    case, _ = validation_case_of(events, "loo", "item", max_users=None)
    print(
        f"log: {source}: {events.n_events:,} events, {len(events.items):,} items; "
        f"validation: {case.n_users:,} users (leave-last-out, full ranking, repeats allowed)"
    )
    rows: dict[str, tuple[float, float, int, float]] = {}
    settings = [None, *(int(k) for k in args.negatives.split(",") if k.strip())]
    for negatives in settings:
        label = "full softmax (baseline)" if negatives is None else f"sampled, k={negatives}"
        model = TimeAwareTransformer(
            hybrid=False, negatives=negatives, max_epochs=args.max_epochs
        ).fit(case.fit_events)
        metrics = case.evaluate(model, ks=(10,))
        seconds = model.training_["epoch_seconds"]
        rows[label] = (
            metrics["ndcg@10"],
            metrics["recall@10"],
            len(seconds),
            float(np.mean(seconds)),
        )
        print(f"  fitted {label}: best epoch {model.training_['best_epoch'] + 1}", flush=True)
    base_ndcg, _, _, base_epoch = rows["full softmax (baseline)"]
    print("validation (the test part is not read):")
    for label, (ndcg, recall, epochs, per_epoch) in rows.items():
        print(
            f"  {label:24s} ndcg@10 {ndcg:.4f} ({ndcg / base_ndcg:.2f}x)  recall@10 {recall:.4f}"
            f"  {epochs:2d} epochs  {per_epoch:5.1f} s/epoch ({per_epoch / base_epoch:.2f}x)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
