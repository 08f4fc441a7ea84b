"""Checks of model parameters and call arguments, and the JSON form of parameters.

What: the validators every model shares (``n``, ``exclude``, raw id sequences, event weights,
non-negative weights, positive integers), each raising :class:`InvalidParameterError` with a
message that names the parameter, the value and what is accepted; and the conversion of
parameters to and from JSON (durations as seconds, ``None`` as infinite).

Why a module of its own: the models and the base class must word the same check the same way
(the contract suite checks that each message names its parameter), so each check is written
once, here.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import numpy as np
import polars as pl

from decayrec.data.schema import EventWeights
from decayrec.errors import InvalidParameterError

__all__ = [
    "as_timedelta",
    "check_exclude",
    "check_n",
    "check_non_negative",
    "check_non_negative_int",
    "check_positive_int",
    "durations_from_json",
    "is_positive_int",
    "parse_event_weights",
    "raw_ids",
    "to_json",
]


# ---------------------------------------------------------------------- call arguments
def raw_ids(ids: Sequence[Any] | Any, name: str) -> list[str]:
    """Raw ids as strings; a bare string (a sequence of characters) is refused."""
    if isinstance(ids, str | bytes) or not isinstance(ids, Sequence | np.ndarray | pl.Series):
        raise InvalidParameterError(
            f"The '{name}' parameter must be a sequence of ids (e.g. a list). Got {ids!r} instead."
        )
    return [str(value) for value in ids]


def check_n(n: Any) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise InvalidParameterError(
            f"The 'n' parameter must be an integer >= 1. Got {n!r} instead."
        )


def check_exclude(exclude: Any) -> None:
    if exclude not in ("purchased", "seen", "none"):
        raise InvalidParameterError(
            f"The 'exclude' parameter must be 'purchased', 'seen' or 'none'. "
            f"Got {exclude!r} instead."
        )


# ---------------------------------------------------------------------- constructor parameters
def parse_event_weights(weights: Mapping[str, float] | None, owner: str) -> EventWeights:
    """:class:`EventWeights` from the ``event_weights`` parameter of ``owner``, or raise."""
    if weights is not None and not isinstance(weights, Mapping):
        raise InvalidParameterError(
            f"The 'event_weights' parameter of {owner} must be a mapping of event type to "
            f"weight, or None. Got {weights!r} instead."
        )
    try:
        return EventWeights.from_mapping(weights)
    except (InvalidParameterError, TypeError, ValueError) as error:
        raise InvalidParameterError(
            f"The 'event_weights' parameter of {owner} is invalid: {error}"
        ) from None


def check_non_negative(value: Any, name: str, owner: str) -> None:
    """Raise unless ``value`` is a finite real number >= 0 (``bool`` is not a number here)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a finite number >= 0. "
            f"Got {value!r} instead."
        )


def check_unit_interval(
    value: Any, name: str, owner: str, *, zero: bool = True, one: bool = True
) -> None:
    """Raise unless ``value`` is a real number in [0, 1] (``bool`` is not a number here);
    ``zero`` / ``one``: whether that end is allowed, as the message's brackets say."""
    in_range = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and (value >= 0 if zero else value > 0)
        and (value <= 1 if one else value < 1)
    )
    if not in_range:
        bounds = f"{'[' if zero else '('}0, 1{']' if one else ')'}"
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be in {bounds}. Got {value!r} instead."
        )


def is_positive_int(value: Any) -> bool:
    """Whether ``value`` is an integer >= 1 (NumPy integers too, ``bool`` not)."""
    return _is_int(value) and bool(value >= 1)


def check_positive_int(value: Any, name: str, owner: str, *, optional: bool = False) -> None:
    """Raise unless ``value`` is an integer >= 1 (or, ``optional``, ``None``)."""
    if not (is_positive_int(value) or (optional and value is None)):
        accepted = "an integer >= 1 or None" if optional else "an integer >= 1"
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be {accepted}. Got {value!r} instead."
        )


def check_non_negative_int(value: Any, name: str, owner: str) -> None:
    """Raise unless ``value`` is an integer >= 0 (a count, a seed)."""
    if not (_is_int(value) and value >= 0):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be an integer >= 0. Got {value!r} instead."
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


# ---------------------------------------------------------------------- JSON form
def as_timedelta(seconds: float) -> timedelta | None:
    """A half-life in seconds as a ``timedelta``; ``inf`` (no decay) as ``None``."""
    return None if math.isinf(seconds) else timedelta(seconds=seconds)


def to_json(value: Any) -> Any:
    """``value`` with every ``timedelta`` as seconds (also inside mappings and sequences)."""
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json(item) for item in value]
    return value


def durations_from_json(value: Any) -> Any:
    """Numbers become ``timedelta`` seconds (also as mapping values); the rest is kept."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, Mapping):
        return {key: durations_from_json(item) for key, item in value.items()}
    return value
