"""Typed results of recommenders: ranked lists and explanations."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np
import numpy.typing as npt
import polars as pl

from decayrec.data.schema import Vocabulary
from decayrec.errors import UnknownIdError
from decayrec.types import FloatArray, IndexArray, UserId

__all__ = ["ContributingEvent", "Explanation", "Recommendations"]


@dataclass(frozen=True, eq=False)
class Recommendations:
    """Top-n lists for a batch of users, one row per requested user (in request order).

    Rows shorter than ``n`` (a threshold, or a small catalogue) are padded with index -1 and
    score NaN. ``fallback[i]`` is True where user ``i`` got the decayed-popularity fallback
    instead of a personal list: unknown to the model, without a training event by their ``at``,
    or without live evidence then (see :meth:`~decayrec.models.base.Recommender.recommend`).
    """

    user_ids: list[str]
    item_index: IndexArray  # (n_users, n), -1 padded; indices into ``items``
    scores: FloatArray  # (n_users, n), NaN padded
    fallback: npt.NDArray[np.bool_]  # (n_users,)
    items: Vocabulary = field(repr=False)

    def __len__(self) -> int:
        return len(self.user_ids)

    @cached_property
    def _item_id_array(self) -> npt.NDArray[np.object_]:
        # One conversion, then NumPy gathers: item_ids() is called once per user in loops.
        return np.array(self.items.ids.to_list(), dtype=object)

    @cached_property
    def _row_of_user(self) -> dict[str, int]:
        rows: dict[str, int] = {}
        for row, user in enumerate(self.user_ids):
            rows.setdefault(user, row)  # a user asked twice: the first row
        return rows

    def item_ids(self, row: int) -> list[str]:
        """Raw item ids recommended to the ``row``-th requested user, best first."""
        idx = self.item_index[row]
        return list(self._item_id_array[idx[idx >= 0]])

    def row(self, user_id: UserId) -> int:
        """The row of a requested user (the first, if asked twice)."""
        try:
            return self._row_of_user[str(user_id)]
        except KeyError:
            raise UnknownIdError(f"User {user_id!r} was not in this request.") from None

    def for_user(self, user_id: UserId) -> list[tuple[str, float]]:
        """``[(item_id, score), ...]`` for one requested user, best first."""
        row = self.row(user_id)
        valid = self.item_index[row] >= 0
        return list(zip(self.item_ids(row), self.scores[row][valid].tolist(), strict=True))

    def to_frame(self) -> pl.DataFrame:
        """Long format: ``user_id, rank, item_id, score, fallback`` (1-based ranks)."""
        n_users, n = self.item_index.shape
        valid = (self.item_index >= 0).ravel()
        flat_items = self.item_index.ravel()[valid]
        return pl.DataFrame(
            {
                "user_id": np.repeat(np.array(self.user_ids, dtype=object), n)[valid].tolist(),
                "rank": np.tile(np.arange(1, n + 1, dtype=np.int32), n_users)[valid],
                "item_id": self.items.raw(flat_items),
                "score": self.scores.ravel()[valid],
                "fallback": np.repeat(self.fallback, n)[valid],
            },
            schema={
                "user_id": pl.String,
                "rank": pl.Int32,
                "item_id": pl.String,
                "score": pl.Float64,
                "fallback": pl.Boolean,
            },
        )


@dataclass(frozen=True)
class ContributingEvent:
    """One past event and how much it adds to a score now."""

    item_id: str
    category_id: str | None
    event_type: str
    timestamp: datetime
    age: timedelta
    type_weight: float  # w_type
    decay: float  # k(age; half-life), in [0, 1]
    contribution: float  # this event's share of the score (model-specific scale)


@dataclass(frozen=True)
class Explanation:
    """Why ``item_id`` scores what it scores for ``user_id`` at ``at``.

    ``components`` splits the score into named parts (e.g. ``category_interest``,
    ``item_popularity``, ``repeat``); ``events`` lists contributing events, largest first.
    """

    user_id: str
    item_id: str
    at: datetime
    score: float
    fallback: bool
    category_id: str | None
    category_interest: float | None
    half_life: timedelta | None
    components: dict[str, float]
    events: list[ContributingEvent]

    def to_text(self, max_events: int = 5) -> str:
        """A short human-readable account, as printed by the CLI."""
        head = f"item {self.item_id} for user {self.user_id}: score {self.score:.4g}"
        if self.fallback:
            head += " (unknown user: decayed-popularity fallback)"
        lines = [head]
        if self.category_id is not None and self.category_interest is not None:
            hl = f", half-life {_fmt_duration(self.half_life)}" if self.half_life else ""
            lines.append(
                f"  category {self.category_id}: interest {self.category_interest:.4g}{hl}"
            )
        for name, value in self.components.items():
            lines.append(f"  {name}: {value:.4g}")
        for event in self.events[:max_events]:
            lines.append(
                f"  {event.event_type} of {event.item_id} {_fmt_duration(event.age)} ago: "
                f"weight {event.type_weight:g} x decay {event.decay:.3f} = "
                f"{event.contribution:.4g}"
            )
        return "\n".join(lines)


def _fmt_duration(value: timedelta | None) -> str:
    if value is None:
        return "n/a"
    seconds = value.total_seconds()
    if seconds == float("inf"):
        return "infinite"
    for unit, size in (("d", 86400.0), ("h", 3600.0), ("min", 60.0)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"
