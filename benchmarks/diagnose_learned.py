"""Diagnosis: where LearnedDecay's validation ranking stands against DecayedItemKNN, and why.

Run ``python benchmarks/diagnose_learned.py --data PATH --format FMT --protocol loo|temporal
[--target item|category] [--fold K/N] [--params JSON] [--half-lives 1d,7h] [--scales 0.1,3]
[--familiar 0.5,0.75] [--seeds 1,2,3]``. It reads the validation case of ``decayrec
evaluate`` (the same split, or with ``--fold`` that of fold K of ``--folds N``; repeats
allowed, at most 5,000 users; the test part is never read), fits ``learned-decay`` with
``--params`` on its training part and prints:

* validation NDCG@10 of the fitted model, its evidence mixes and session share;
* the *effective* half-life of the log's most frequent (category, event type) pair,
  ``exp(g + δ_category + τ_type)`` for the average user (the three terms are not separately
  identified on a log with one category or one event type, so the table rows of
  ``report decay`` can each differ from it);
* the same fitted model scored with one part of its routing switched off (no popularity
  routes; the long-term similarity route alone), to show which part the ranking misses, and
  with shoppers last seen a year or more before served as newcomers (``newcomer_after``);
* with ``--scales F1,F2``: the same fit rescored with every half-life, the weight of new
  interests (``β``) and the session share (at most 0.95) each multiplied by ``F`` in turn,
  and at ``ordering_scale=F`` (the half-lives shortened for ordering a shopper's events, their
  total evidence kept), to show whether the values the likelihood learned are the ones the
  ranking wants;
* with ``--familiar K1,K2``: the same fit rescored with the share of new interests started in
  a shopper's own categories (``familiar_share``) at each value instead of the learned one;
* with ``--seeds S1,S2``: the same parameters fitted again with each seed, their validation
  NDCG@10 at the fit's ``ordering_scale``, best and last epoch and share of evidence kept on
  a shopper's own items: how much of a difference between two settings is the training's own
  spread (early stopping on a noisy held-out loss ends fits at different epochs);
* DecayedItemKNN with the same similarity (sequence window included), neighbours and no
  self-similarity, at the learned effective half-life and at each ``--half-lives`` value:
  whether the learned time scale is the one the ranking wants.

Each line is one validation NDCG@10, so the figures can be compared within the run, followed
by the same over the validation users with a visit under way when asked (their last training
event at most ``session_gap`` before; same-day reviews on a log with day timestamps) and over
the others (a visit opening after a gap), and on a second line over the users by days since
their last training event (under 1, 1 to 30, 30 to 365, a year or more): a fixed kernel's
evidence vanishes for shoppers back after a long absence, and the model then ranks them by
its popularity fallback, so this line shows where a gap between two models comes from.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import numpy as np

from _harness import add_case_arguments, last_event, mean_of_known, validation_case
from decayrec._time import parse_duration
from decayrec.models import DecayedItemKNN, LearnedDecay


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    add_case_arguments(parser)
    parser.add_argument("--params", default="{}", help="LearnedDecay parameters as JSON")
    parser.add_argument("--half-lives", default="1d,7h", help="DecayedItemKNN comparisons")
    parser.add_argument(
        "--scales",
        type=_factors,
        default=[],
        help="comma-separated positive factors: the fit rescored with its half-lives, new-"
        "interest weight and session share (at most 0.95) each multiplied by them",
    )
    parser.add_argument(
        "--familiar",
        type=_shares,
        default=[],
        help="comma-separated shares in [0, 1]: the fit rescored with familiar_share at each",
    )
    parser.add_argument(
        "--seeds",
        type=_seeds,
        default=[],
        help="comma-separated seeds: the same parameters fitted again with each",
    )
    args = parser.parse_args()
    # Both lists are read before the minutes of fitting, so a typo fails at once.
    others = [parse_duration(text, name="--half-lives") for text in args.half_lives.split(",")]
    case = validation_case(args)

    params = json.loads(args.params)
    model = LearnedDecay(**params).fit(case.fit_events)
    fitted = model.parameters_
    in_visit, away_days = last_event(model, case)
    print(f"{in_visit.mean():.1%} of the validation users are asked during a visit")
    away = [(name, (away_days >= low) & (away_days < high)) for name, low, high in _AWAY]
    print("users by days since their last event: " + ", ".join(
        f"{name} {mask.mean():.1%}" for name, mask in away
    ))  # fmt: skip

    def ndcg(label: str, scored: Any) -> None:
        per_user = np.asarray(case.score(scored, (10,))[1]["ndcg@10"])
        during, opening = (mean_of_known(per_user[mask]) for mask in (in_visit, ~in_visit))
        print(
            f"{label:55s} validation ndcg@10 {mean_of_known(per_user)} "
            f"(in a visit {during}, opening {opening})"
        )
        parts = ", ".join(f"{name} {mean_of_known(per_user[mask])}" for name, mask in away)
        print(f"{'':55s}   by days since the last event: {parts}")

    def with_parameters(label: str, change: Callable[[Any], None]) -> None:
        changed = copy.deepcopy(fitted)
        change(changed)
        model.parameters_ = changed
        ndcg(label, model)
        model.parameters_ = fitted

    ndcg(f"learned-decay {args.params}", model)
    print(f"  evidence mix {_mix(fitted.sources)}; within a visit {_mix(fitted.session_sources)}")
    print(f"  session share {fitted.session_share:.2f}")
    print(f"  new interests started in the shopper's own categories {fitted.familiar_share:.3f}")
    half_life = _effective_half_life_days(model)
    print(f"  effective half-life of the most frequent category and event type {half_life:.2f}d")

    def no_popularity(p: Any) -> None:
        p.mixture = np.array([0.0, p.mixture[1], p.mixture[2]]) / (p.mixture[1] + p.mixture[2])
        p.exploration = 1e-12

    def similarity_alone(p: Any) -> None:
        p.mixture, p.exploration, p.session_share = np.array([0.0, 0.0, 1.0]), 1e-12, 0.0

    with_parameters("  the same fit without the popularity routes", no_popularity)
    with_parameters("  the same fit, long-term similarity route alone", similarity_alone)
    ndcg(
        "  the same fit, newcomer_after 365 days",
        model.with_scoring(newcomer_after=timedelta(days=365)),
    )
    for factor in args.scales:
        # Is each learned value the one the ranking wants? One fitted number moved at a time.
        for name, rescale in _RESCALINGS.items():
            with_parameters(f"  the same fit, {name} x{factor:g}", partial(rescale, f=factor))
        rescored = model.with_scoring(ordering_scale=factor)
        ndcg(f"  the same fit, ordering_scale {factor:g}", rescored)

    for share in args.familiar:
        ndcg(f"  the same fit, familiar_share {share:g}", model.with_scoring(familiar_share=share))

    for seed in args.seeds:
        again = LearnedDecay(**{**params, "seed": seed}).fit(case.fit_events)
        epochs = len(again.training_["holdout_loss"])
        ndcg(
            f"  seed {seed}: best epoch {again.training_['best_epoch']} of {epochs}, own-item "
            f"share {again.parameters_.sources['item']:.3f}",
            again,
        )

    for value in [timedelta(days=half_life), *others]:
        knn = DecayedItemKNN(
            similarity=model.similarity,
            sequence_window=model.sequence_window,
            sequence_step_decay=model.sequence_step_decay,
            sequence_backward_weight=model.sequence_backward_weight,
            max_neighbours=model.max_neighbours,
            self_weight=0.0,
            half_life=value,
        ).fit(case.fit_events)
        shown = _days(value) if value is not None else "none (no decay)"
        ndcg(f"decayed-itemknn {model.similarity}, half-life {shown}", knn)
    return 0


#: The parts of the second line: (name, at least, below) days since the last event.
_AWAY: tuple[tuple[str, float, float], ...] = (
    ("<1d", 0.0, 1.0),
    ("1-30d", 1.0, 30.0),
    ("30-365d", 30.0, 365.0),
    (">=365d", 365.0, math.inf),
)


def _effective_half_life_days(model: LearnedDecay) -> float:
    """``exp(g + δ + τ)`` of the most frequent (category slot, event type) pair of the log."""
    columns, params = model.columns_, model.parameters_
    slots = model.item_slot_[columns.item]
    n_types = len(params.type_offset)
    pairs = np.bincount(slots * n_types + columns.event_type, minlength=1)
    slot, kind = divmod(int(np.argmax(pairs)), n_types)
    log_h = params.global_log_half_life + params.category_offset[slot] + params.type_offset[kind]
    return float(np.exp(log_h))


#: ``--scales``: each fitted value multiplied by a factor ``f``, one at a time.
_RESCALINGS: dict[str, Callable[..., None]] = {
    "every half-life": lambda p, f: setattr(
        p, "global_log_half_life", p.global_log_half_life + math.log(f)
    ),
    "new-interest weight": lambda p, f: setattr(p, "exploration", p.exploration * f),
    "session share": lambda p, f: setattr(p, "session_share", min(p.session_share * f, 0.95)),
}


def _factors(text: str) -> list[float]:
    """``--scales`` as positive floats (argparse's ``type``: a bad value is a usage error)."""
    return _numbers(text, "positive factors", lambda f: math.isfinite(f) and f > 0)


def _shares(text: str) -> list[float]:
    """``--familiar`` as floats in [0, 1] (argparse's ``type``)."""
    return _numbers(text, "shares in [0, 1]", lambda share: 0.0 <= share <= 1.0)


def _numbers(text: str, what: str, valid: Callable[[float], bool]) -> list[float]:
    """Comma-separated floats, each ``valid``; otherwise a usage error saying ``what``."""
    message = f"takes comma-separated {what}; got {text!r}"
    try:
        numbers = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(message) from None
    if not all(valid(number) for number in numbers):
        raise argparse.ArgumentTypeError(message)
    return numbers


def _seeds(text: str) -> list[int]:
    """``--seeds`` as non-negative integers (argparse's ``type``)."""
    try:
        seeds = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"takes comma-separated seeds; got {text!r}") from None
    if any(seed < 0 for seed in seeds):
        raise argparse.ArgumentTypeError(f"takes non-negative seeds; got {text!r}")
    return seeds


def _mix(shares: dict[str, float]) -> str:
    return ", ".join(f"{name} {share:.2f}" for name, share in shares.items())


def _days(value: timedelta) -> str:
    return f"{value.total_seconds() / 86_400:.2f}d"


if __name__ == "__main__":
    raise SystemExit(main())
