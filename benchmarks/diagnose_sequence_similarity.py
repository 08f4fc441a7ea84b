"""Diagnosis: does co-occurrence *near in the sequence* rank better than co-occurrence anywhere?

Run ``python benchmarks/diagnose_sequence_similarity.py --data PATH --format FMT --protocol
loo|temporal [--target item|category] [--half-life 7.4h] [--windows 1:1,3:0.5,5:0.7]``.

It reads the validation case of ``decayrec evaluate`` (the same split, repeats allowed, at most
5,000 users; the test part is never read), fits ``DecayedItemKNN`` (co-occurrence, all
neighbours, no self-similarity, the given half-life: the Optuna optimum on Amazon Beauty) on
its training part, and prints validation NDCG@10 with

* the model's own similarity: two items co-occur once per user who touched both, anywhere in
  their history;
* for each ``window:decay`` pair, a *sequence-local* co-occurrence (``sequence_window``,
  ``sequence_step_decay``): a user's events ``k`` positions apart (``1 <= k <= window``) add
  ``decay^(k-1)`` to both directions of the pair, so items met close together count most.

Why: LearnedDecay routes evidence through DecayedItemKNN's user-level similarity and trails
the tuned ItemKNN on Beauty (issue 4). If sequence-local co-occurrence ranks clearly better,
the similarity route, not the decay, is where the learned model has room (its decay over the
sequence distance can then be learned too). Each line is one validation NDCG@10, comparable
within the run.
"""

from __future__ import annotations

import argparse

from _harness import add_case_arguments, validation_case
from decayrec._time import parse_duration
from decayrec.models import DecayedItemKNN


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_case_arguments(parser)
    parser.add_argument("--half-life", default="7.4h")
    parser.add_argument("--windows", default="1:1,3:0.5,5:0.7,10:0.8")
    args = parser.parse_args()
    case = validation_case(args)
    half_life = parse_duration(args.half_life, name="--half-life")
    fixed = {"similarity": "cooccurrence", "max_neighbours": None, "self_weight": 0.0}

    def ndcg(label: str, **params: object) -> None:
        model = DecayedItemKNN(half_life=half_life, **fixed, **params).fit(  # type: ignore[arg-type]
            case.fit_events
        )
        print(f"{label:60s} validation ndcg@10 {case.evaluate(model, (10,))['ndcg@10']:.4f}")

    ndcg(f"decayed-itemknn, user-level co-occurrence, half-life {args.half_life}")
    for spec in args.windows.split(","):
        window, decay = int(spec.split(":")[0]), float(spec.split(":")[1])
        ndcg(
            f"  sequence-local, window {window}, decay {decay:g} per step",
            sequence_window=window,
            sequence_step_decay=decay,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
