"""Diagnosis: where LearnedDecay and a tuned fixed-decay model part on a validation part.

Run ``python benchmarks/versus_tuned.py --data PATH --format FMT --protocol loo|temporal
[--target item|category] [--fold K/N] [--params JSON] [--versus decayed-profile]
[--trials 30] [--show 5]``. It reads the validation case of ``decayrec evaluate`` (as
``diagnose_learned.py`` does: the same split, or fold K of ``--folds N``; repeats allowed, at
most 5,000 users; the test part is never read), tunes ``--versus`` there as ``decayrec tune``
does (Optuna, ``--trials`` trials, seed 0), fits ``learned-decay`` with ``--params`` on the
same training part, and prints:

* each model's validation NDCG@10 over all targets, over the targets the shopper met before
  (``repeat``) and over new ones (``new``), and over the shoppers inside a visit when asked
  and the others (the visit as LearnedDecay reads it);
* per shopper: for how many either model ranks higher, and how many shoppers *carry* the
  gap: the fewest of the largest per-shopper differences of the gap's sign whose sum reaches
  the whole gap. A gap carried by two of forty shoppers is the ordering of two histories, not
  a pattern the validation part can tune toward;
* with ``--show N``: the N shoppers with the largest differences, each with both NDCG@10
  values, their number of training events and the hours since the last one.

Why: the tuned fixed model's validation value is the best of ``--trials`` tries on the same
shoppers, so it is optimistic; on a validation part of a few dozen shoppers, this says
whether a difference is a pattern or a handful of rankings.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from _harness import (
    add_case_arguments,
    last_event,
    mean_of_known,
    split_of,
    validation_case_of_split,
)
from decayrec.eval.protocols import EvaluationCase
from decayrec.eval.tuning import TUNABLE_MODELS
from decayrec.models import LearnedDecay, make_model


@dataclass(frozen=True)
class GapCarriers:
    """How a mean per-shopper gap ``ours − theirs`` is spread over the shoppers.

    Attributes
    ----------
    shoppers
        Shoppers with a target (both values known).
    ours_higher, theirs_higher
        Shoppers each model ranks strictly higher.
    gap
        The mean difference ``ours − theirs`` over :attr:`shoppers`.
    carriers
        The fewest shoppers, taken from the largest differences of the gap's sign down, whose
        differences sum to the whole gap (0 when the gap is 0).
    """

    shoppers: int
    ours_higher: int
    theirs_higher: int
    gap: float
    carriers: int


def gap_carriers(
    ours: npt.NDArray[np.float64], theirs: npt.NDArray[np.float64], *, tolerance: float = 1e-9
) -> GapCarriers:
    """:class:`GapCarriers` of two per-shopper metric arrays (NaN: no target, left out)."""
    if ours.shape != theirs.shape:
        raise ValueError(f"ours and theirs differ in shape: {ours.shape} and {theirs.shape}.")
    known = np.isfinite(ours) & np.isfinite(theirs)
    difference = ours[known] - theirs[known]
    total = float(difference.sum())
    carriers = 0
    if abs(total) > tolerance:
        same_sign = np.sort(difference[np.sign(difference) == np.sign(total)])
        largest_first = same_sign[::-1] if total > 0 else same_sign
        reached = np.abs(np.cumsum(largest_first)) >= abs(total) - tolerance
        carriers = int(np.argmax(reached)) + 1
    return GapCarriers(
        shoppers=int(known.sum()),
        ours_higher=int((difference > tolerance).sum()),
        theirs_higher=int((difference < -tolerance).sum()),
        gap=total / max(int(known.sum()), 1),
        carriers=carriers,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_case_arguments(parser)
    parser.add_argument("--params", default="{}", help="LearnedDecay parameters as JSON")
    parser.add_argument("--versus", choices=TUNABLE_MODELS, default="decayed-profile")
    parser.add_argument("--trials", type=int, default=30, help="Optuna trials (decayrec tune)")
    parser.add_argument("--show", type=int, default=0, help="list the N largest differences")
    args = parser.parse_args()

    from decayrec.data import load_events
    from decayrec.eval.tuning import tune_model

    events, _ = load_events(args.data, args.fmt)
    split = split_of(events, args.protocol, args.fold)
    case = validation_case_of_split(split, args.target)
    print(f"{args.data}: {split.description}; {case.n_users} validation users")

    tuned = tune_model(
        split, args.versus, n_trials=args.trials, target=args.target, repeats="allow"
    )
    fixed = make_model(args.versus, **tuned.params).fit(case.fit_events)
    learned = LearnedDecay(**json.loads(args.params)).fit(case.fit_events)
    in_visit, away_days = last_event(learned, case)

    print(f"{'validation ndcg@10':30s} {'all':>7s} {'repeat':>7s} {'new':>7s} "
          f"{'in a visit':>10s} {'opening':>7s}")  # fmt: skip
    per_user = {}
    for label, model in (("learned-decay", learned), (f"{args.versus} (tuned)", fixed)):
        averages, values = case.score(model, (10,))
        per_user[label] = np.asarray(values["ndcg@10"])
        during, opening = (mean_of_known(per_user[label][mask]) for mask in (in_visit, ~in_visit))
        print(
            f"{label:30s} {averages['ndcg@10']:7.4f} {_get(averages, 'ndcg@10.repeat')} "
            f"{_get(averages, 'ndcg@10.new')} {during:>10s} {opening:>7s}"
        )
    print(f"  {args.versus}: {tuned.n_trials} trials, best {_brief(tuned.params)}")

    ours, theirs = per_user.values()
    spread = gap_carriers(ours, theirs)
    print(
        f"per shopper ({spread.shoppers} with a target): learned-decay higher for "
        f"{spread.ours_higher}, {args.versus} higher for {spread.theirs_higher}; the gap "
        f"{spread.gap:+.4f} is carried by {spread.carriers} shopper(s)"
    )
    if args.show:
        _show_largest(case, learned, ours, theirs, away_days, args.show)
    return 0


def _show_largest(
    case: EvaluationCase,
    learned: LearnedDecay,
    ours: npt.NDArray[np.float64],
    theirs: npt.NDArray[np.float64],
    away_days: npt.NDArray[np.float64],
    count: int,
) -> None:
    """The ``count`` shoppers with the largest ``|ours − theirs|``, one line each."""
    difference = np.nan_to_num(ours - theirs)
    users = learned.events_.users.indices(list(case.user_ids))
    history = np.bincount(learned.columns_.user, minlength=len(learned.events_.users))
    for row in np.argsort(-np.abs(difference), kind="stable")[:count]:
        if difference[row] == 0:
            break
        events = int(history[users[row]]) if users[row] >= 0 else 0
        print(
            f"  shopper {case.user_ids[row]}: learned-decay {ours[row]:.3f}, fixed "
            f"{theirs[row]:.3f}; training events {events}, the last "
            f"{away_days[row] * 24:.1f} h before"
        )


def _get(averages: dict[str, float], key: str) -> str:
    return f"{averages[key]:7.4f}" if key in averages else f"{'-':>7s}"


def _brief(params: dict[str, Any]) -> str:
    """The tuned parameters on one line (durations in days)."""
    parts = []
    for key, value in params.items():
        if value is None or key == "kernel":
            continue
        if "half_life" in key and isinstance(value, int | float):
            parts.append(f"{key}={value / 86_400:.3g}d")
        elif isinstance(value, dict):
            parts.append(f"{key}={{{', '.join(f'{k}: {v:.3g}' for k, v in value.items())}}}")
        elif isinstance(value, float):
            parts.append(f"{key}={value:.3g}")
        else:
            parts.append(f"{key}={value}")
    return ", ".join(parts)


if __name__ == "__main__":
    raise SystemExit(main())
