"""Evaluation cases: which users, at which instant, against which targets.

Why a separate object: the same train / validation / test :class:`~decayrec.data.split.Split`
can be evaluated in several honest ways (next item or next category; repeats allowed or not),
and every model must face exactly the same users, instants and targets. An
:class:`EvaluationCase` fixes all of that once, independently of any model, in the split's
shared index space; :meth:`EvaluationCase.evaluate` then maps the targets into one fitted
model's catalogue and scores its full ranking with :mod:`decayrec.eval.metrics`.

Rules (the same for every model):

* **Users**: those with at least one event in the evaluated part *and* at least one event in
  the data the model is fitted on (a cold user would only measure the popularity fallback).
* **Instant** ``at`` per user: leave-last-out asks at the user's own held-out event time;
  temporal asks at the split instant (the start of the test period, or of the validation
  window when tuning).
* **Targets**: the distinct items (or categories) of the user's events in the evaluated part.
  A target the model never saw in its fit data is *absent from training*: it stays in the
  denominators (the model could not have ranked it) and its share is reported.
* **Repeats**: with ``repeats="exclude"`` the targets the user already interacted with in the
  fit data are removed (users left without a target are dropped) and the model ranks with
  ``exclude="seen"``; with ``repeats="allow"`` everything stays, the model ranks with
  ``exclude="none"``, and the metrics are also broken down into repeat targets
  (``recall@10.repeat``) and new targets (``recall@10.new``).

For ``target="category"`` the ranking comes from ``model.rank_categories``; with
``repeats="exclude"`` the categories the user already interacted with are also removed from
that ranking (the model's ``exclude="seen"`` drops seen *items* only), so that the ranking and
the targets are about the same thing: categories new to the user.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec._time import instant_seconds
from decayrec.data.schema import EventLog, Vocabulary
from decayrec.errors import InvalidParameterError
from decayrec.eval.metrics import (
    RANKING_METRICS,
    average_metrics,
    metric_key,
    per_user_metrics,
    ranking_metrics,
)
from decayrec.types import FloatArray, IndexArray

if TYPE_CHECKING:
    from decayrec.data.split import Split
    from decayrec.models.base import ExcludePolicy, Recommender

__all__ = ["CasePart", "EvaluationCase", "RepeatPolicy", "TargetKind"]

#: ``item``: predict the next items; ``category``: predict the next categories.
TargetKind = Literal["item", "category"]
#: ``exclude``: only items new to the user count; ``allow``: repeats count too.
RepeatPolicy = Literal["exclude", "allow"]
#: Which part of a split is evaluated: ``validation`` (fit on train) or ``test`` (fit on
#: train + validation).
CasePart = Literal["validation", "test"]

BoolArray = npt.NDArray[np.bool_]
KeyArray = npt.NDArray[np.int64]

#: Users ranked per batch when the evaluator post-filters category rankings.
_USER_BATCH = 4096


@dataclass(frozen=True, eq=False)
class EvaluationCase:
    """One evaluation setting of a split part, the same for every model.

    Build it with :meth:`from_split`; fit a model on :attr:`fit_events` and pass it to
    :meth:`evaluate`.

    Attributes
    ----------
    part, protocol, target, repeats
        What is evaluated and how (see the module docstring).
    fit_events
        The log a model must be fitted on: ``train`` for the validation part,
        ``train + validation`` for the test part.
    user_ids
        Raw ids of the evaluated users, in the order of the rows below.
    user_index
        Their indices in the split's user vocabulary.
    at_seconds
        The instant each user is asked at (Unix seconds).
    targets
        CSR ``(n_users, len(keys))`` in the split's index space: the relevant items (or
        categories) of each user.
    repeat_targets
        The subset of :attr:`targets` the user already interacted with in :attr:`fit_events`
        (empty with ``repeats="exclude"``).
    keys
        The split's item (or category) vocabulary, the column space of :attr:`targets`.
    in_fit
        ``(len(keys),)``: whether each item (category) occurs in :attr:`fit_events`.
    n_users_without_history
        Users with events in the evaluated part but none in the fit data (not evaluated).
    """

    part: CasePart
    protocol: str
    target: TargetKind
    repeats: RepeatPolicy
    fit_events: EventLog
    user_ids: list[str]
    user_index: IndexArray
    at_seconds: FloatArray
    targets: sp.csr_matrix
    repeat_targets: sp.csr_matrix
    keys: Vocabulary
    in_fit: BoolArray
    n_users_without_history: int
    _fit_pairs: KeyArray  # sorted (user * len(keys) + key) of the fit data

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_split(
        cls,
        split: Split,
        *,
        part: CasePart = "test",
        target: TargetKind = "item",
        repeats: RepeatPolicy = "exclude",
        at: datetime | str | float | None = None,
    ) -> EvaluationCase:
        """Build the case for one part of ``split``.

        Parameters
        ----------
        split
            A train / validation / test split (all parts share vocabularies).
        part
            ``"test"`` (fit data: train + validation) or ``"validation"`` (fit data: train).
        target
            ``"item"`` or ``"category"``.
        repeats
            ``"exclude"`` or ``"allow"`` (see the module docstring).
        at
            Temporal splits only: the instant every user is asked at. By default it is read
            from the split (attribute ``test_start`` / ``at`` for the test part,
            ``validation_start`` for the validation part) and, when the split does not carry
            it, taken as the earliest event of the evaluated part. Ignored for leave-last-out,
            which asks each user at their own held-out event.

        Raises
        ------
        InvalidParameterError
            On an unknown option, an empty part, or when no user is left to evaluate.
        """
        _check_choice("part", part, ("validation", "test"))
        _check_choice("target", target, ("item", "category"))
        _check_choice("repeats", repeats, ("exclude", "allow"))
        evaluated = split.test if part == "test" else split.validation
        if evaluated.n_events == 0:
            raise InvalidParameterError(
                f"The {part} part of the split is empty; nothing to evaluate ({split.description})."
            )
        fit = split.train_and_validation() if part == "test" else split.train
        keys = evaluated.items if target == "item" else evaluated.categories
        n_keys = len(keys)
        n_all_users = len(evaluated.users)

        def column(log: EventLog) -> IndexArray:
            return log.item_index if target == "item" else log.category_index

        fit_users = fit.user_index.astype(np.int64)
        fit_keys = column(fit).astype(np.int64)
        has_key = fit_keys >= 0
        fit_pairs = np.unique(fit_users[has_key] * n_keys + fit_keys[has_key])
        has_history = np.bincount(fit_users, minlength=n_all_users) > 0
        in_fit = np.bincount(fit_keys[has_key], minlength=n_keys) > 0

        eval_users = evaluated.user_index.astype(np.int64)
        eval_keys = column(evaluated).astype(np.int64)
        eval_seconds = evaluated.timestamp_seconds
        evaluable_user = has_history[eval_users]
        n_without = int(np.unique(eval_users[~evaluable_user]).size)
        keep = evaluable_user & (eval_keys >= 0)
        pairs = np.unique(eval_users[keep] * n_keys + eval_keys[keep])
        is_repeat = _contains(fit_pairs, pairs)
        if repeats == "exclude":
            pairs, is_repeat = pairs[~is_repeat], is_repeat[~is_repeat]
        if pairs.size == 0:
            rest = ", and the rest only repeat what they did before" if repeats == "exclude" else ""
            raise InvalidParameterError(
                f"No user is left to evaluate in the {part} part (target={target!r}, "
                f"repeats={repeats!r}): {int(np.unique(eval_users).size)} users have {part} "
                f"events, {n_without} of them have no fit data{rest}."
            )
        pair_users = pairs // n_keys
        users = np.unique(pair_users)
        rows = np.searchsorted(users, pair_users)
        cols = pairs % n_keys
        targets = _csr(rows, cols, (users.size, n_keys))
        repeat_targets = _csr(rows[is_repeat], cols[is_repeat], (users.size, n_keys))

        if split.protocol == "loo":
            first_time = np.full(n_all_users, np.inf)
            np.minimum.at(first_time, eval_users, eval_seconds)
            at_seconds = first_time[users]
        else:
            instant = _part_instant(split, part, evaluated) if at is None else at
            at_seconds = instant_seconds(instant, n=users.size)

        return cls(
            part=part,
            protocol=split.protocol,
            target=target,
            repeats=repeats,
            fit_events=fit,
            user_ids=evaluated.users.raw(users),
            user_index=users.astype(np.int32),
            at_seconds=np.asarray(at_seconds, dtype=np.float64),
            targets=targets,
            repeat_targets=repeat_targets,
            keys=keys,
            in_fit=in_fit,
            n_users_without_history=n_without,
            _fit_pairs=fit_pairs,
        )

    def subsample(self, max_users: int, *, seed: int = 0) -> EvaluationCase:
        """The same case restricted to at most ``max_users`` users drawn at random.

        Why: tuning only has to *order* a few half-lives, which a few thousand users do
        reliably, while each ranking of all users costs a full pass of the model. The draw is
        seeded (same users for every model and half-life) and keeps the users' order.
        """
        if isinstance(max_users, bool) or not isinstance(max_users, int) or max_users < 1:
            raise InvalidParameterError(
                f"The 'max_users' parameter must be an integer >= 1. Got {max_users!r} instead."
            )
        if max_users >= self.n_users:
            return self
        rng = np.random.default_rng(seed)
        rows = np.sort(rng.choice(self.n_users, size=max_users, replace=False))
        return replace(
            self,
            user_ids=[self.user_ids[i] for i in rows.tolist()],
            user_index=self.user_index[rows],
            at_seconds=self.at_seconds[rows],
            targets=sp.csr_matrix(self.targets[rows]),
            repeat_targets=sp.csr_matrix(self.repeat_targets[rows]),
        )

    # ------------------------------------------------------------------ summary
    @property
    def n_users(self) -> int:
        """Number of evaluated users."""
        return len(self.user_ids)

    @property
    def n_targets(self) -> int:
        """Number of (user, target) pairs."""
        return int(self.targets.nnz)

    @property
    def n_repeat_targets(self) -> int:
        """(user, target) pairs the user already interacted with in the fit data."""
        return int(self.repeat_targets.nnz)

    @property
    def n_absent_targets(self) -> int:
        """(user, target) pairs whose item (category) never occurs in the fit data."""
        return int((~self.in_fit[self.targets.indices]).sum())

    @property
    def share_absent_from_training(self) -> float:
        """Share of targets no model fitted on :attr:`fit_events` can rank."""
        return self.n_absent_targets / self.n_targets

    def summary(self) -> dict[str, int | float | str]:
        """Counts for reports: users, targets, repeats, share absent from training."""
        return {
            "part": self.part,
            "target": self.target,
            "repeats": self.repeats,
            "n_users": self.n_users,
            "n_targets": self.n_targets,
            "n_repeat_targets": self.n_repeat_targets,
            "n_new_targets": self.n_targets - self.n_repeat_targets,
            "share_absent_from_training": self.share_absent_from_training,
            "n_users_without_history": self.n_users_without_history,
        }

    # ------------------------------------------------------------------ targets per model
    def targets_in(
        self, vocabulary: Vocabulary, subset: Literal["all", "repeat", "new"] = "all"
    ) -> tuple[sp.csr_matrix, KeyArray]:
        """Targets in a model's index space, and per user how many it cannot rank.

        Parameters
        ----------
        vocabulary
            The model's item (or category) vocabulary; raw ids are matched, so a model that
            compacted its catalogue is handled.
        subset
            ``"all"``, ``"repeat"`` (targets seen in the fit data) or ``"new"`` (the rest).

        Returns
        -------
        (csr_matrix, ndarray)
            ``(n_users, len(vocabulary))`` targets the model can rank, and ``(n_users,)``
            counts of targets it cannot (absent from its catalogue).
        """
        if subset == "all":
            chosen = self.targets
        elif subset == "repeat":
            chosen = self.repeat_targets
        elif subset == "new":
            chosen = sp.csr_matrix(self.targets - self.repeat_targets)
            chosen.eliminate_zeros()
        else:
            raise InvalidParameterError(
                f"The 'subset' parameter must be 'all', 'repeat' or 'new'. Got {subset!r} instead."
            )
        to_model = vocabulary.indices(self.keys.ids).astype(np.int64)
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), np.diff(chosen.indptr))
        cols = to_model[chosen.indices]
        known = cols >= 0
        n_absent = np.bincount(rows[~known], minlength=self.n_users).astype(np.int64)
        mapped = _csr(rows[known], cols[known], (self.n_users, len(vocabulary)))
        return mapped, n_absent

    # ------------------------------------------------------------------ ranking and scoring
    @property
    def exclude_policy(self) -> ExcludePolicy:
        """What the model is asked to exclude: ``seen`` without repeats, else ``none``."""
        return "seen" if self.repeats == "exclude" else "none"

    def rank(self, model: Recommender, n: int) -> tuple[IndexArray, Vocabulary, int]:
        """The model's top-``n`` per evaluated user.

        Returns
        -------
        (ndarray, Vocabulary, int)
            ``(n_users, <= n)`` indices (-1 padded) into the returned vocabulary, and the
            catalogue size to measure coverage against.
        """
        if self.target == "item":
            recs = model.recommend(
                self.user_ids, at=self.at_seconds, n=n, exclude=self.exclude_policy
            )
            return recs.item_index, recs.items, len(recs.items)
        if self.repeats == "allow":
            ranked, vocabulary = model.rank_categories(
                self.user_ids, at=self.at_seconds, n=n, exclude="none"
            )
            return ranked, vocabulary, max(len(vocabulary), 1)
        return self._rank_new_categories(model, n)

    def _rank_new_categories(
        self, model: Recommender, n: int
    ) -> tuple[IndexArray, Vocabulary, int]:
        """Category rankings without the categories each user already interacted with."""
        n_keys = len(self.keys)
        seen_users = self._fit_pairs // n_keys
        seen_counts = np.bincount(seen_users, minlength=len(self.fit_events.users))[self.user_index]
        out = np.full((self.n_users, n), -1, dtype=np.int32)
        vocabulary = model.rank_categories(self.user_ids[:1], at=self.at_seconds[:1], n=1)[1]
        to_source = self.keys.indices(vocabulary.ids).astype(np.int64)
        for start in range(0, self.n_users, _USER_BATCH):
            stop = min(start + _USER_BATCH, self.n_users)
            ask = n + int(seen_counts[start:stop].max())
            ranked, vocabulary = model.rank_categories(
                self.user_ids[start:stop],
                at=self.at_seconds[start:stop],
                n=ask,
                exclude="seen",
            )
            source = np.where(ranked >= 0, to_source[np.maximum(ranked, 0)], -1)
            users = self.user_index[start:stop].astype(np.int64)[:, None]
            seen = (source >= 0) & _contains(self._fit_pairs, users * n_keys + source)
            ranked = np.where(seen, -1, ranked)
            # Move the kept entries to the front, keeping their order (stable sort on "dropped").
            order = np.argsort(ranked < 0, axis=1, kind="stable")
            kept = np.take_along_axis(ranked, order, axis=1)[:, :n]
            out[start:stop, : kept.shape[1]] = kept
        return out, vocabulary, max(len(vocabulary), 1)

    def evaluate(self, model: Recommender, ks: Sequence[int] = (10, 20)) -> dict[str, float]:
        """Score a model fitted on :attr:`fit_events` on this case.

        Returns
        -------
        dict of str to float
            ``{"ndcg@10": ..., ..., "coverage@10": ...}`` and, with ``repeats="allow"``, the
            same ranking metrics on repeat-only and new-only targets (``"ndcg@10.repeat"``,
            ``"ndcg@10.new"``), each averaged over the users that have such targets (a subset
            without users is left out).
        """
        return self.score(model, ks)[0]

    def score(
        self, model: Recommender, ks: Sequence[int] = (10, 20)
    ) -> tuple[dict[str, float], dict[str, FloatArray]]:
        """:meth:`evaluate`'s metrics and, for the uncertainty of each, their per-user values.

        Returns
        -------
        (dict, dict)
            The averages of :meth:`evaluate`, and ``{"ndcg@10": (n_users,), ...}`` for every
            ranking metric over all targets, one value per evaluated user in the order of
            :attr:`user_ids` (NaN for a user without a target the average leaves out).
        """
        if not ks:
            raise InvalidParameterError("The 'ks' parameter must hold at least one cutoff K.")
        ranked, vocabulary, catalogue = self.rank(model, max(ks))
        targets, n_absent = self.targets_in(vocabulary)
        per_user = per_user_metrics(ranked, targets, ks, n_absent=n_absent)
        scores = average_metrics(per_user, ks, ranked=ranked, n_items=catalogue)
        if self.repeats == "allow":
            subsets: tuple[Literal["repeat", "new"], ...] = ("repeat", "new")
            for subset in subsets:
                sub_targets, sub_absent = self.targets_in(vocabulary, subset)
                has = (np.diff(sub_targets.indptr) + sub_absent) > 0
                if not has.any():
                    continue
                sub = ranking_metrics(ranked[has], sub_targets[has], ks, n_absent=sub_absent[has])
                for k in ks:
                    for name in RANKING_METRICS:
                        key = metric_key(name, k)
                        scores[f"{key}.{subset}"] = sub[key]
        return scores, per_user


def _check_choice(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise InvalidParameterError(
            f"The '{name}' parameter must be one of {', '.join(map(repr, accepted))}. "
            f"Got {value!r} instead."
        )


def _contains(sorted_keys: KeyArray, queries: npt.NDArray[np.int64]) -> BoolArray:
    """Whether each query is in ``sorted_keys`` (a sorted search, any query shape)."""
    if sorted_keys.size == 0:
        return np.zeros(queries.shape, dtype=bool)
    position = np.minimum(np.searchsorted(sorted_keys, queries), sorted_keys.size - 1)
    found: BoolArray = sorted_keys[position] == queries
    return found


def _csr(rows: KeyArray, cols: KeyArray, shape: tuple[int, int]) -> sp.csr_matrix:
    """A binary CSR matrix from (row, column) pairs that are already unique."""
    return sp.csr_matrix((np.ones(rows.size, dtype=np.float64), (rows, cols)), shape=shape)


def _part_instant(split: Split, part: CasePart, evaluated: EventLog) -> float:
    """The instant a temporal part starts: from the split when it says, else its first event."""
    names = ("test_start", "at") if part == "test" else ("validation_start",)
    for name in names:
        value = getattr(split, name, None)
        if value is not None:
            return float(instant_seconds(value)[0])
    return float(evaluated.timestamp_seconds.min())
