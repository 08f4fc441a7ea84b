"""How a validation search picks one choice among many: the best, or the one-standard-error rule.

Why a rule beside "the best": a grid of many choices scored on a few dozen validation
shoppers crowns the luckiest one, and the best validation score flatters it (the maximum of
many noisy scores). The one-standard-error rule (Breiman et al., *Classification and
Regression Trees*, 1984; Hastie et al., *The Elements of Statistical Learning*, §7.10) keeps
the simplest choice whose score is within one standard error of the best: a departure from
the model's defaults has to earn its place by more than the noise of the validation part. The
standard error here is that of the *paired* per-user gap to the best (the same shoppers score
both choices), so it shrinks with the validation part: on thousands of shoppers the rule
picks the best, on a few dozen it keeps the defaults unless the best is clearly better.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import numpy as np

from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray

__all__ = [
    "GRID_SELECTIONS",
    "GridSelection",
    "best_choice",
    "check_selection",
    "gap_standard_errors",
    "select_choice",
]

#: ``best``: the highest validation score. ``one-se``: the choice with the fewest departures
#: from the model's defaults whose score is within one standard error of the best.
GridSelection = Literal["best", "one-se"]
GRID_SELECTIONS: tuple[str, ...] = get_args(GridSelection)


def check_selection(selection: object, *, name: str = "selection") -> None:
    """Raise naming the parameter (``name``: ``--selection`` on the command line) unless
    ``selection`` is one of :data:`GRID_SELECTIONS`."""
    if selection not in GRID_SELECTIONS:
        raise InvalidParameterError(
            f"The '{name}' parameter must be one of {', '.join(GRID_SELECTIONS)}. "
            f"Got {selection!r} instead."
        )


def best_choice(scores: Sequence[float]) -> int:
    """The index of the highest score (ties: the earlier choice)."""
    return max(range(len(scores)), key=lambda i: (scores[i], -i))


def gap_standard_errors(per_user: Sequence[FloatArray], best: int) -> FloatArray:
    """The standard error of each choice's mean per-user gap to choice ``best``.

    ``per_user[c]`` holds choice ``c``'s metric per validation user (NaN for a user without a
    target, left out); every array covers the same users in the same order. The best's own
    entry is 0.
    """
    reference = np.asarray(per_user[best], dtype=np.float64)
    errors = np.zeros(len(per_user))
    for index, values in enumerate(per_user):
        gaps = np.asarray(values, dtype=np.float64) - reference
        gaps = gaps[np.isfinite(gaps)]
        if gaps.size > 1:
            errors[index] = float(np.std(gaps, ddof=1) / np.sqrt(gaps.size))
    return errors


def select_choice(
    scores: Sequence[float],
    per_user: Sequence[FloatArray],
    departures: Sequence[int],
    selection: GridSelection,
) -> int:
    """The index of the choice a validation search keeps.

    Parameters
    ----------
    scores
        Each choice's validation score (higher is better).
    per_user
        Each choice's per-user validation values (see :func:`gap_standard_errors`).
    departures
        How many parameters each choice sets away from the model's defaults.
    selection
        ``"best"``: the highest score (ties: the earlier choice). ``"one-se"``: among the
        choices within one standard error of the best, those with the fewest departures, and
        of them the highest score (ties: the earlier choice).
    """
    check_selection(selection)
    if not scores or not (len(scores) == len(per_user) == len(departures)):
        raise InvalidParameterError(
            "The 'scores', 'per_user' and 'departures' parameters must be non-empty and of one "
            f"length. Got {len(scores)}, {len(per_user)} and {len(departures)}."
        )
    best = best_choice(scores)
    if selection == "best":
        return best
    errors = gap_standard_errors(per_user, best)
    close = [i for i in range(len(scores)) if scores[best] - scores[i] <= errors[i]]
    fewest = min(departures[i] for i in close)
    return max((i for i in close if departures[i] == fewest), key=lambda i: (scores[i], -i))
