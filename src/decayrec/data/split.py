"""Train / validation / test splits of an event log: leave-last-out and temporal.

Why: a decay model is only honestly evaluated on events that happen *after* everything it was
fitted on, and its half-life is only honestly tuned on a validation part that the test never
sees. Both protocols here keep time order, and all three parts are filters of one log, so they
share its vocabularies and indices stay comparable across them.

=============  ===============================================================================
protocol       parts
=============  ===============================================================================
``loo``        per user (time order, ties in file order): last event → test, second-last →
               validation, the rest → train; users with fewer than 3 events stay in train
``temporal``   train ``t < at - validation``, validation ``at - validation <= t < at``,
               test ``at <= t < at + horizon`` (events from ``at + horizon`` on are left out)
=============  ===============================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from decayrec._time import parse_instant
from decayrec.data.schema import EventLog
from decayrec.errors import InvalidParameterError

__all__ = [
    "Split",
    "default_temporal_cutoff",
    "leave_last_out",
    "rolling_temporal_splits",
    "temporal_split",
]

SplitProtocol = Literal["loo", "temporal"]

#: Codes of :attr:`Split._assignment` (one per row of the source log).
_OUT, _TRAIN, _VALIDATION, _TEST = -1, 0, 1, 2


@dataclass(frozen=True, eq=False)
class Split:
    """Three parts of one event log that share its vocabularies.

    Parameters
    ----------
    train, validation, test
        The parts, each in the source log's row order. ``validation`` may be empty (a temporal
        split without a validation window).
    protocol
        ``"loo"`` (leave-last-out) or ``"temporal"``.
    description
        One line saying how the split was made, for reports.
    test_start, validation_start
        For temporal splits, the instants (Unix seconds) where the test and validation parts
        start: the moment a model serving that part is asked for recommendations. ``None``
        for leave-last-out, where every user has an instant of their own.

    Raises
    ------
    InvalidParameterError
        When the parts do not share vocabularies or ``protocol`` is unknown.
    """

    train: EventLog
    validation: EventLog
    test: EventLog
    protocol: SplitProtocol
    description: str
    test_start: float | None = None
    validation_start: float | None = None
    _source: EventLog | None = field(default=None, repr=False)
    _assignment: npt.NDArray[np.int8] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.protocol not in ("loo", "temporal"):
            raise InvalidParameterError(
                f"The 'protocol' parameter of Split must be 'loo' or 'temporal'. "
                f"Got {self.protocol!r} instead."
            )
        for name in ("validation", "test"):
            part: EventLog = getattr(self, name)
            for vocab in ("users", "items", "categories"):
                mine, theirs = getattr(self.train, vocab), getattr(part, vocab)
                if mine is not theirs and not mine.ids.equals(theirs.ids):
                    raise InvalidParameterError(
                        f"Split parts must share vocabularies; the {vocab} of '{name}' differ "
                        f"from those of 'train'. Make all parts with EventLog.filter of one log."
                    )

    def train_and_validation(self) -> EventLog:
        """Train and validation as one log, for the final refit after tuning.

        Rows keep the source log's order (ties in time included). A :class:`Split` built by
        hand, without a source log, falls back to concatenating the two parts and sorting by
        time (stable, so train rows come first among equal times).
        """
        if self._source is not None and self._assignment is not None:
            keep = (self._assignment == _TRAIN) | (self._assignment == _VALIDATION)
            return self._source.filter(keep)
        frame = pl.concat([self.train.frame, self.validation.frame])
        merged = EventLog(frame, self.train.users, self.train.items, self.train.categories)
        return merged.sort_by_time()

    @property
    def sizes(self) -> dict[str, int]:
        """Number of events in each part."""
        return {
            "train": self.train.n_events,
            "validation": self.validation.n_events,
            "test": self.test.n_events,
        }


def _make_split(
    events: EventLog,
    assignment: npt.NDArray[np.int8],
    protocol: SplitProtocol,
    description: str,
    *,
    test_start: float | None = None,
    validation_start: float | None = None,
) -> Split:
    return Split(
        train=events.filter(assignment == _TRAIN),
        validation=events.filter(assignment == _VALIDATION),
        test=events.filter(assignment == _TEST),
        protocol=protocol,
        description=description,
        test_start=test_start,
        validation_start=validation_start,
        _source=events,
        _assignment=assignment,
    )


def leave_last_out(events: EventLog) -> Split:
    """Hold out every user's last event for test and the one before it for validation.

    Why: the standard next-event protocol. Per user, events are taken in time order with ties
    kept in file order, so the result does not depend on how a sort breaks ties. Users with
    fewer than 3 events cannot spare two events and stay wholly in train.

    Parameters
    ----------
    events
        The log, in any row order.

    Returns
    -------
    Split
        ``protocol="loo"``; each part keeps the row order of ``events``.

    Raises
    ------
    InvalidParameterError
        When no user has 3 or more events (the test part would be empty).

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0, 0, 1], item_index=[0, 1, 2, 0],
    ...     timestamp_seconds=[1.0, 2.0, 3.0, 1.0], event_type=[0, 0, 0, 0])
    >>> split = leave_last_out(log)
    >>> split.train.item_index.tolist(), split.validation.item_index.tolist()
    ([0, 0], [1])
    >>> split.test.item_index.tolist()
    [2]
    """
    n = events.n_events
    users = events.user_index.astype(np.int64)
    micros = events.frame["timestamp"].dt.epoch("us").to_numpy()
    rows = np.arange(n, dtype=np.int64)
    order = np.lexsort((rows, micros, users))  # user, then time, then file order
    sorted_users = users[order]
    is_last_of_user = np.r_[sorted_users[1:] != sorted_users[:-1], True] if n else np.zeros(0, bool)
    ends = np.flatnonzero(is_last_of_user)
    counts = np.diff(np.r_[-1, ends])
    from_end = np.repeat(ends, counts) - np.arange(n)  # 0 for a user's last event
    eligible = np.repeat(counts, counts) >= 3
    code = np.full(n, _TRAIN, dtype=np.int8)
    code[eligible & (from_end == 0)] = _TEST
    code[eligible & (from_end == 1)] = _VALIDATION
    assignment = np.empty(n, dtype=np.int8)
    assignment[order] = code

    n_users = len(ends)
    n_eligible = int((counts >= 3).sum())
    if n_eligible == 0:
        most = int(counts.max()) if n_users else 0
        raise InvalidParameterError(
            f"The 'events' parameter of leave_last_out needs at least one user with 3 or more "
            f"events; got {n} events of {n_users} users, at most {most} per user."
        )
    description = (
        f"leave-last-out: {n_eligible} of {n_users} users hold out their last event (test) and "
        f"second-last (validation); {n_users - n_eligible} users with fewer than 3 events stay "
        f"in train"
    )
    return _make_split(events, assignment, "loo", description)


def _duration(
    value: timedelta | float | None, *, name: str, owner: str, allow_zero: bool
) -> float | None:
    """Seconds of a duration argument, ``None`` kept; rejects negatives, NaN and wrong types."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a timedelta or seconds. "
            f"Got {value!r} instead."
        )
    if np.isnan(seconds) or seconds < 0 or (seconds == 0 and not allow_zero):
        accepted = "a non-negative" if allow_zero else "a positive"
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be {accepted} duration. Got {value!r} instead."
        )
    return seconds


def _instant(value: datetime | str | float, *, name: str, owner: str) -> float:
    if isinstance(value, bool) or not isinstance(
        value, datetime | str | int | float | np.integer | np.floating
    ):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a datetime, ISO-8601 text or Unix "
            f"seconds. Got {value!r} instead."
        )
    seconds = parse_instant(value, name=name)
    if not np.isfinite(seconds):
        raise InvalidParameterError(
            f"The '{name}' parameter of {owner} must be a finite instant. Got {value!r} instead."
        )
    return seconds


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _from_micros(micros: int) -> datetime:
    """Exact UTC datetime of integer Unix microseconds (no float rounding)."""
    return _EPOCH + timedelta(microseconds=int(micros))


def _iso(micros: int) -> str:
    return _from_micros(micros).isoformat()


def temporal_split(
    events: EventLog,
    *,
    at: datetime | str | float,
    horizon: timedelta | float | None = None,
    validation: timedelta | float | None = None,
) -> Split:
    """Split a log at an instant: the past trains, the future tests.

    Why: the protocol closest to deployment, where a model fitted on everything before ``at``
    serves the period after it. The validation window, just before ``at``, plays the same role
    for tuning the half-life without looking at the test period.

    Parameters
    ----------
    events
        The log, in any row order.
    at
        Start of the test period: an aware (or naive = UTC) datetime, ISO-8601 text or Unix
        seconds.
    horizon
        Length of the test period (timedelta or seconds); ``None`` runs to the end of the log.
        Events from ``at + horizon`` on are in no part.
    validation
        Length of the validation window ending at ``at``; ``None`` (or zero) means no
        validation part.

    Returns
    -------
    Split
        ``protocol="temporal"``: train ``t < at - validation``, validation
        ``[at - validation, at)``, test ``[at, at + horizon)``, each in the row order of
        ``events``.

    Raises
    ------
    InvalidParameterError
        On a bad argument, or when train, test, or a requested validation window would be
        empty (the message gives the log's time range).

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0, 0, 0, 0], item_index=[0, 1, 2, 3],
    ...     timestamp_seconds=[0.0, 10.0, 20.0, 30.0], event_type=[0, 0, 0, 0])
    >>> split = temporal_split(log, at=20.0, validation=10.0)
    >>> split.sizes
    {'train': 1, 'validation': 1, 'test': 2}
    """
    owner = "temporal_split"
    at_seconds = _instant(at, name="at", owner=owner)
    horizon_seconds = _duration(horizon, name="horizon", owner=owner, allow_zero=False)
    validation_seconds = _duration(validation, name="validation", owner=owner, allow_zero=True)
    has_validation = bool(validation_seconds)

    at_us = round(at_seconds * 1e6)
    valid_us = at_us - round((validation_seconds or 0.0) * 1e6)
    end_us = None if horizon_seconds is None else at_us + round(horizon_seconds * 1e6)
    micros = events.frame["timestamp"].dt.epoch("us").to_numpy()
    assignment = np.full(len(micros), _OUT, dtype=np.int8)
    assignment[micros < valid_us] = _TRAIN
    assignment[(micros >= valid_us) & (micros < at_us)] = _VALIDATION
    in_test = micros >= at_us if end_us is None else (micros >= at_us) & (micros < end_us)
    assignment[in_test] = _TEST

    test_window = f"[{_iso(at_us)}, {'end' if end_us is None else _iso(end_us) + ')'}"
    if not len(micros):
        raise InvalidParameterError(f"The 'events' parameter of {owner} is an empty log.")
    span = f"the log runs from {_iso(int(micros.min()))} to {_iso(int(micros.max()))}"
    if not (assignment == _TRAIN).any():
        raise InvalidParameterError(
            f"The train part of {owner} would be empty: no event before {_iso(valid_us)} "
            f"(at={at!r}, validation={validation!r}); {span}."
        )
    if has_validation and not (assignment == _VALIDATION).any():
        raise InvalidParameterError(
            f"The validation part of {owner} would be empty: no event in "
            f"[{_iso(valid_us)}, {_iso(at_us)}) (validation={validation!r}); {span}."
        )
    if not in_test.any():
        raise InvalidParameterError(
            f"The test part of {owner} would be empty: no event in {test_window} "
            f"(at={at!r}, horizon={horizon!r}); {span}."
        )
    description = f"temporal: train before {_iso(valid_us)}"
    if has_validation:
        description += f", validation [{_iso(valid_us)}, {_iso(at_us)})"
    description += f", test {test_window}"
    return _make_split(
        events,
        assignment,
        "temporal",
        description,
        test_start=at_us / 1e6,
        validation_start=valid_us / 1e6 if has_validation else None,
    )


def default_temporal_cutoff(
    events: EventLog,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
) -> tuple[datetime, timedelta | None]:
    """``(at, validation)`` for :func:`temporal_split` from quantiles of event time.

    Why: a sensible default when the caller has no business date in mind: the last
    ``test_fraction`` of events (by time) test, the ``validation_fraction`` before them validate.
    Ties at a quantile move whole to the later part, so the fractions are approximate.

    Parameters
    ----------
    events
        A non-empty log.
    test_fraction
        Share of events to test on, in (0, 1).
    validation_fraction
        Share of events to validate on, in [0, 1); 0 gives ``validation=None``. The two
        fractions must sum to less than 1.

    Returns
    -------
    tuple of (datetime, timedelta or None)
        ``at`` (UTC) and the validation window length.

    Raises
    ------
    InvalidParameterError
        On fractions out of range, an empty log, or a log whose times do not spread enough to
        make the parts.

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0] * 10, item_index=list(range(10)),
    ...     timestamp_seconds=[float(t) for t in range(10)], event_type=[0] * 10)
    >>> at, validation = default_temporal_cutoff(log)
    >>> temporal_split(log, at=at, validation=validation).sizes
    {'train': 7, 'validation': 1, 'test': 2}
    """
    owner = "default_temporal_cutoff"
    for name, value, low_open in (
        ("test_fraction", test_fraction, True),
        ("validation_fraction", validation_fraction, False),
    ):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        ok = ok and (0 < value < 1 if low_open else 0 <= value < 1)
        if not ok:
            accepted = "in (0, 1)" if low_open else "in [0, 1)"
            raise InvalidParameterError(
                f"The '{name}' parameter of {owner} must be a number {accepted}. "
                f"Got {value!r} instead."
            )
    if not test_fraction + validation_fraction < 1:
        raise InvalidParameterError(
            f"The 'test_fraction' and 'validation_fraction' parameters of {owner} must sum to "
            f"less than 1. Got {test_fraction!r} + {validation_fraction!r} instead."
        )
    if not events.n_events:
        raise InvalidParameterError(f"The 'events' parameter of {owner} is an empty log.")
    micros = np.sort(events.frame["timestamp"].dt.epoch("us").to_numpy())
    n = len(micros)

    def cut(fraction_after: float) -> int:
        # the instant from which about `fraction_after` of the events lie
        index = min(n - 1, max(1, int(np.floor(n * (1.0 - fraction_after)))))
        return int(micros[index])

    at_us = cut(test_fraction)
    if at_us <= micros[0]:
        raise InvalidParameterError(
            f"The 'events' parameter of {owner} does not spread over time enough to split: "
            f"{_iso(int(micros[0]))} to {_iso(int(micros[-1]))}."
        )
    if validation_fraction == 0:
        return _from_micros(at_us), None
    valid_us = cut(test_fraction + validation_fraction)
    if not micros[0] < valid_us < at_us:
        raise InvalidParameterError(
            f"The 'events' parameter of {owner} does not spread over time enough for a "
            f"validation window of {validation_fraction!r} of the events: {n} events from "
            f"{_iso(int(micros[0]))} to {_iso(int(micros[-1]))}."
        )
    return _from_micros(at_us), timedelta(microseconds=at_us - valid_us)


def rolling_temporal_splits(
    events: EventLog,
    folds: int,
    *,
    test_fraction: float = 0.2,
    validation_fraction: float = 0.1,
) -> list[Split]:
    """``folds`` temporal splits whose test periods follow each other up to the log's end.

    Why (rolling-origin evaluation): on a small log the one test period of
    :func:`default_temporal_cutoff` holds a few dozen shoppers, and a gap between two models
    is then the ranks of a handful of them. Evaluating at several successive cutoffs, each
    model tuned on its own validation window and refitted on everything before its cutoff,
    scores more (shopper, period) pairs without any period testing a model that has seen it.

    What: the last split is exactly the default one (``at`` and the validation window from
    :func:`default_temporal_cutoff`, test to the end of the log). Each earlier split applies
    the same rule to the log as it stood at the next split's ``at`` (the events before it),
    and tests until that ``at``; so the test periods are disjoint and adjacent, and a later
    split trains on the earlier ones' test periods, as a shop refitting its model would.

    Returns
    -------
    list of Split
        Oldest first.

    Raises
    ------
    InvalidParameterError
        ``folds`` is not a positive integer, or the log does not spread over time enough for
        that many folds (the message says which fold could not be made).

    Examples
    --------
    >>> log = EventLog.from_indices(user_index=[0] * 20, item_index=list(range(20)),
    ...     timestamp_seconds=[float(t) for t in range(20)], event_type=[0] * 20)
    >>> [split.sizes for split in rolling_temporal_splits(log, 2)]
    [{'train': 11, 'validation': 1, 'test': 4}, {'train': 14, 'validation': 2, 'test': 4}]
    """
    owner = "rolling_temporal_splits"
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 1:
        raise InvalidParameterError(
            f"The 'folds' parameter of {owner} must be a positive integer. Got {folds!r} instead."
        )
    micros = events.frame["timestamp"].dt.epoch("us").to_numpy()
    splits: list[Split] = []
    end_us: int | None = None
    for fold in range(folds, 0, -1):
        past = events if end_us is None else events.filter(micros < end_us)
        try:
            at, validation = default_temporal_cutoff(
                past, test_fraction=test_fraction, validation_fraction=validation_fraction
            )
            at_us = round(at.timestamp() * 1e6)
            horizon = None if end_us is None else timedelta(microseconds=end_us - at_us)
            splits.append(temporal_split(events, at=at, horizon=horizon, validation=validation))
        except InvalidParameterError as error:
            raise InvalidParameterError(
                f"{owner} cannot make fold {fold} of {folds} (the events before "
                f"{_iso(end_us) if end_us is not None else 'the end'}): {error}"
            ) from error
        end_us = at_us
    return splits[::-1]
