"""Conversions between the public time types and the float seconds used inside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Final

import numpy as np

from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray

__all__ = ["duration_seconds", "from_seconds", "instant_seconds", "parse_instant"]


def duration_seconds(value: timedelta | float | None, *, name: str, owner: str) -> float:
    """Seconds in a duration; ``None`` or ``inf`` mean infinite (no decay)."""
    if value is None:
        return float("inf")
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not seconds > 0:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a positive duration. Got {value!r} instead."
        )
    return seconds


def instant_seconds(at: Any, *, n: int | None = None, name: str = "at") -> FloatArray:
    """Unix seconds for one instant (broadcast to ``n``) or an array of instants.

    Accepts an aware or naive (read as UTC) ``datetime``, ISO-8601 text, Unix seconds, or an
    array of ``datetime64`` / seconds with one entry per requested user.
    """
    if isinstance(at, np.floating | np.integer | int | float):
        arr = np.array([float(at)], dtype=np.float64)
        return np.repeat(arr, n) if n is not None else arr
    if isinstance(at, datetime | str):
        arr = np.array([parse_instant(at, name=name)], dtype=np.float64)
        return np.repeat(arr, n) if n is not None else arr
    arr_in = np.asarray(at)
    if np.issubdtype(arr_in.dtype, np.datetime64):
        out = arr_in.astype("datetime64[us]").astype(np.int64).astype(np.float64) / 1e6
    elif arr_in.dtype == object:
        out = np.array([parse_instant(v, name=name) for v in arr_in.ravel()], dtype=np.float64)
    else:
        out = arr_in.astype(np.float64)
    if n is not None and out.shape != (n,):
        if out.size == 1:
            return np.repeat(out.reshape(1), n)
        raise InvalidParameterError(
            f"The '{name}' parameter must be one instant or one per user ({n}). "
            f"Got {out.size} instants instead."
        )
    return out


def parse_instant(value: datetime | str | float, *, name: str = "at") -> float:
    """Unix seconds of one instant given as a datetime, ISO-8601 text or seconds."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return aware.timestamp()
    if isinstance(value, str):
        text = value.strip()
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return _representable(seconds, name=name, value=value)
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            raise InvalidParameterError(
                f"The '{name}' parameter must be an ISO-8601 time or Unix seconds. "
                f"Got {value!r} instead."
            ) from None
        return parse_instant(parsed, name=name)
    return _representable(float(value), name=name, value=value)


#: Unix seconds of the first and last instants a ``datetime`` can hold (years 1 and 9999).
_FIRST_SECONDS: Final = datetime(1, 1, 2, tzinfo=UTC).timestamp()
_LAST_SECONDS: Final = datetime(9999, 12, 30, tzinfo=UTC).timestamp()


def _representable(seconds: float, *, name: str, value: object) -> float:
    """``seconds``, unless it is not finite or no date can show it (years 1 to 9999): such an
    instant would fail later, in a response or a report, far from the value that caused it."""
    if not _FIRST_SECONDS <= seconds <= _LAST_SECONDS:  # also false for NaN
        raise InvalidParameterError(
            f"The '{name}' parameter must be an instant between the years 1 and 9999 (Unix "
            f"seconds {_FIRST_SECONDS:.0f} to {_LAST_SECONDS:.0f}). Got {value!r} instead."
        )
    return seconds


def from_seconds(seconds: float) -> datetime:
    """An aware UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)


_UNITS = {
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "m": 60.0,
    "h": 3600.0,
    "d": 86400.0,
    "w": 7 * 86400.0,
}


def parse_duration(text: str, *, name: str = "duration") -> timedelta | None:
    """A duration like ``90s``, ``30min``, ``12h``, ``7d``, ``2w`` or ``inf`` (= ``None``).

    Examples
    --------
    >>> parse_duration("36h")
    datetime.timedelta(days=1, seconds=43200)
    >>> parse_duration("inf") is None
    True
    """
    raw = text.strip().lower()
    if raw in ("inf", "infinite", "none", "off"):
        return None
    number = raw.rstrip("abcdefghijklmnopqrstuvwxyz")
    unit = raw[len(number) :] or "s"
    try:
        value = float(number)
    except ValueError:
        value = float("nan")
    if unit not in _UNITS or not value > 0:
        raise InvalidParameterError(
            f"The '{name}' value must be a positive duration such as 90s, 30min, 12h, 7d, 2w "
            f"or inf. Got {text!r} instead."
        )
    try:
        return timedelta(seconds=value * _UNITS[unit])
    except OverflowError:  # finite, but beyond timedelta's ~2.7 million years (e.g. 1e100)
        raise InvalidParameterError(
            f"The '{name}' value is too long to be a duration (use inf for no limit). "
            f"Got {text!r} instead."
        ) from None
