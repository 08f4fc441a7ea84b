"""LearnedDecay: half-lives, event weights and repeat cycles learned from the log itself.

Why: every fixed-decay engine asks its user for a half-life (SAR's one global value, TTLs).
How fast interest fades differs by category (groceries in days, furniture in months), by
event type and by shopper; this model learns all of it from the training log, by maximum a
posteriori on next-event prediction, and reads back as a table of half-lives with
uncertainty.

The model (details in :mod:`decayrec.models._learned_params`): each past event contributes
``w_type · 2^(-age / h)`` with ``log h = g + δ_category + τ_type + a_user``, where ``a_user``
comes from a small network over the user's recent behaviour (activity, mean gap, purchase
share, recency: the *dynamic adjustment*); purchases in a category also schedule a repeat
around a learned cycle (milk comes back after a week, a phone does not). The evidence reaches
candidate items through the item's category (times its share there), the item itself and its
neighbours in the item-item similarity of :class:`~decayrec.models.DecayedItemKNN`, mixed by
learned weights, plus a term for new interests on popularity, started in the shopper's own
categories (however long ago) with a learned share and in the shop's otherwise. Scores are
next-event probabilities over the whole catalogue.

Training (the ``torch`` extra): every event is predicted from the user's events before it
(each visit, a run of events without a gap longer than ``session_gap``, weighs 1): the
decayed evidence from the visits before its own, and a short-term part from the visit under
way (``separate_visit``); the targets of a random
``validation_share`` of the shoppers are held out for early stopping; Adam, seeded and
deterministic. Scoring, saving and loading need NumPy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from decayrec.data.schema import EventLog, EventType
from decayrec.errors import DataValidationError, InvalidParameterError, MissingExtraError
from decayrec.models._learned_history import (
    FEATURE_NAMES,
    HistoryWindow,
    Predictions,
    decayed_count_before,
    find_predictions,
    history_features,
    prediction_windows,
    request_windows,
)
from decayrec.models._learned_params import DecayParameters
from decayrec.models._learned_tables import ItemSimilarity, leave_user_out_shares
from decayrec.models._params import (
    check_non_negative,
    check_non_negative_int,
    check_positive_int,
    check_unit_interval,
)
from decayrec.models._progress import EpochProgress
from decayrec.models._ranking import PriorFn
from decayrec.models.base import Recommender
from decayrec.models.item2item import SimilarityName, check_sequence_window
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

if TYPE_CHECKING:
    from decayrec.models._learned_torch import TrainingResult

__all__ = ["LearnedDecay"]

_DAY: Final = 86_400.0
_PREFIX: Final = "learned."
_SIMILARITIES: Final = ("jaccard", "cosine", "lift", "inclusion", "cooccurrence")
#: Held-out targets below which no time tail is held out (early stopping would be noise).
_MIN_HOLDOUT: Final = 200
#: Whole numbers of ``training_`` saved with the model.
_TRAINING_COUNTS: Final = ("best_epoch", "holdout_shoppers", "holdout_targets")
#: At most this many targets per visit (its first events), each weighted 1 / kept.
_MAX_PER_VISIT: Final = 20
#: Rows of the feature-scaling pass per chunk (bounds memory on long logs).
_FEATURE_CHUNK: Final = 65_536
#: Raw co-occurrence between events at most 10 apart in a shopper's sequence, 0.8 per step:
#: a :attr:`LearnedDecay.validation_grid` entry, symmetric and directional.
_WINDOW_OF_10: Final[Mapping[str, Any]] = {
    "similarity": "cooccurrence",
    "normalise_similarity": False,
    "sequence_window": 10,
    "sequence_step_decay": 0.8,
}
#: ``familiar_share`` tried beside the learned ``κ`` by :attr:`LearnedDecay.scoring_grid`.
_RANKING_FAMILIAR_SHARE: Final = 0.75


class LearnedDecay(Recommender):
    """Next-event model whose half-lives, event weights and repeat cycles are learned.

    Parameters
    ----------
    half_life
        Starting value of the global half-life (the centre the per-category values start
        from); ``None`` switches decay off (the ``-no-decay`` variant: every past event counts
        fully and there is no repeat cycle, the rest is learned the same way).
    kernel
        Only ``exponential``: the half-life form the parameters are learned in.
    event_weights
        Starting event-type weights (learned from there).
    session_gap
        A gap longer than this starts a new visit (each visit weighs 1 in training).
    separate_visit
        ``True`` (default): the visit under way is read by the session part only, and the
        long-term part (decayed evidence, repeats) reads the events before it; in training,
        every event of a visit is predicted by the long-term part from the earlier visits.
        ``False``: the long-term part reads the visit under way too, and so learns from the
        first event of each visit only (a visit's later events would drag every half-life
        toward the minutes between clicks); the model before this choice existed. Why: what
        a shopper does over the next hours or days is every event of their next visits, not
        only the first. On the validation parts of the four periods of ``decayrec evaluate
        --folds 4`` on the Taobao head users' category target, NDCG@10 went from 0.3563,
        0.4005, 0.3369, 0.3128 to 0.4088, 0.4665, 0.3587, 0.3219 (``cd benchmarks && python
        diagnose_learned.py --protocol temporal --target category --fold K/4`` with and
        without ``--params '{"separate_visit": false}'``).
    popularity_half_life
        Half-life of the *recent* popularity inside a category; how much recent popularity
        counts against all-time popularity is learned (or ``recent_popularity_share``).
        ``None``: all-time popularity only.
    recent_popularity_share
        ``None`` (default): the share ``ρ`` of recent popularity in an item's popularity is
        learned. A number in [0, 1]: ``ρ`` is fixed there, in training and scoring alike.
        Why: the likelihood can weigh recent popularity far more than a top-10 list wants;
        ``decayrec evaluate`` also tries a small fixed share (:attr:`validation_grid`).
    max_history
        How many of a user's latest events are read per prediction.
    similarity, max_neighbours
        The item-item similarity that carries evidence to neighbouring items (as in
        :class:`~decayrec.models.DecayedItemKNN`).
    normalise_similarity
        ``True``: each item's neighbours share one unit of its evidence (rows sum to one);
        ``False``: rows keep the similarity's own mass (divided by the mean row sum), so an
        item with many strong neighbours passes on more, as in DecayedItemKNN. Training
        reads both tables with each target's own user left out (see
        :mod:`decayrec.models._learned_tables`).
    sequence_window, sequence_step_decay
        ``None`` (default): two items co-occur once per shopper who touched both, anywhere
        in their history. An integer ``w``: a shopper's events at most ``w`` positions apart
        add ``sequence_step_decay^(k - 1)`` to their pair (``k`` apart), so items met close
        together in a sequence count most; training leaves each target's shopper's own pair
        weights out exactly (see :mod:`decayrec.models._learned_tables`).
    sequence_backward_weight
        With ``sequence_window``: how much an item passes to items met *before* it in
        others' sequences, against those met after it (1: both alike; 0: only what came
        next), as in :class:`~decayrec.models.DecayedItemKNN`.
    self_weight
        An item's similarity to itself, against its neighbours' total of 1: each row of the
        similarity becomes ``(S + self_weight · I) / (1 + self_weight)``, so the similarity
        route keeps part of an event's evidence on its own item (SAR's self-similarity;
        :class:`~decayrec.models.DecayedItemKNN`'s ``self_weight``). Default 0: the item
        route already carries a learned share of the evidence on the item itself.
    ordering_scale
        Multiplies every learned half-life when a shopper's events are weighed against each
        other for ranking, while each shopper's total evidence (how much they rely on their
        history rather than on new interests) stays as learned; 1 scores with the fit as it
        is. Why: the likelihood rewards spreading probability over a shopper's older
        interests, a top-10 list rewards betting on the latest ones, so the time scale that
        ranks best can be shorter than the one that predicts best. Scoring only (no refit,
        see :meth:`with_scoring`); ``decayrec evaluate`` picks it on validation from
        :attr:`scoring_grid`.
    newcomer_after
        ``None`` (default): every shopper with a past event is scored from their history. A
        duration: a shopper whose latest event is older than this is served as a newcomer,
        with the decayed popularity at the instant asked (flagged as a fallback, as for a
        shopper never seen). Why: a shopper back after a long absence shops what sells now,
        not what their old history points to; a fixed kernel does this by accident once its
        evidence underflows to 0, this makes it a choice. Scoring only (see
        :meth:`with_scoring`); ``decayrec evaluate`` tries ``None`` and 365 days.
    familiar_share
        ``None`` (default): a new interest starts in the shopper's own categories (their mix
        over the history window, however old) with the learned share ``κ``, and where the
        shop's new interests start otherwise. A number in [0, 1] replaces ``κ`` when scoring.
        Why: the likelihood is fitted on next *items*, mostly ones a shopper has never met,
        and keeps ``κ`` small; a ranking of next *categories* rewards betting on the
        categories a shopper comes back to after a gap, when their decayed evidence has
        faded. Scoring only (see :meth:`with_scoring`); ``decayrec evaluate`` tries the
        learned value and 0.75 (on a log with categories).
    hidden_units
        Width of the per-user adjustment network.
    max_user_factor
        A user's half-lives may be at most this many times longer or shorter than the
        category's (1 switches the per-user adjustment off).
    repeat_cycles
        Learn a re-purchase cycle per category.
    prior_scale
        Standard deviation (natural-log units) of the priors that shrink per-category and
        per-type offsets toward the global value.
    learning_rate, batch_size, max_epochs, patience
        Adam step, targets per mini-batch, epoch limit, and epochs without improvement of the
        held-out loss before stopping. The routing of evidence (how much stays on a
        shopper's own items) converges over several epochs after the decay has settled, while
        the held-out loss hardly moves; a short patience ends fits before that, at an epoch
        that differs from seed to seed (``benchmarks/diagnose_learned.py --seeds`` shows the
        spread).
    validation_share
        Share of the shoppers (drawn with ``seed``) whose targets are held out for early
        stopping (0, or too few targets to hold out 200: train on everything until the
        training loss stops improving). Why shoppers, not the latest targets in time: the
        loss of a time tail also moves with how the newest shoppers differ from the rest,
        from one epoch to the next by more than the fit still improves, so its minimum fell
        at a random epoch (on Amazon Beauty anywhere from the first to the tenth); a random
        tenth of the shoppers measures overfitting alone.
    seed
        Seeds batch order and initialisation: the same seed and log give the same model.
    threads
        Torch CPU threads while training (1 is fastest for these small tensors on few cores).
    progress
        Show a progress bar per epoch while training.

    Attributes
    ----------
    parameters_ : DecayParameters
        Everything learned (NumPy).
    half_lives_ : polars.DataFrame
        The learned half-lives per category and event type, with 95 % intervals.
    training_ : dict
        Loss curves, the best epoch, the seconds per epoch, and how many shoppers and targets
        early stopping held out (``holdout_shoppers``, ``holdout_targets``; 0 when it
        watched the training loss). On a log with few shoppers the hold-out is a handful of
        them, a noisy stopping signal that ``decayrec report decay`` shows.

    Examples
    --------
    >>> from decayrec.data.simulate import ShopConfig, simulate_shop
    >>> log = simulate_shop(ShopConfig(n_users=300, n_items=120, n_categories=6, days=60)).events
    >>> model = LearnedDecay(max_epochs=3).fit(log)  # doctest: +SKIP
    >>> model.half_lives_.columns  # doctest: +SKIP
    ['level', 'key', 'events', 'half_life_days', 'lower_days', 'upper_days', 'weight', 'reference']
    """

    name: ClassVar[str] = "learned-decay"
    learns_decay: ClassVar[bool] = True
    #: What ``decayrec evaluate`` tries on the validation part, on as many fits as a
    #: half-life grid: the two discrete choices gradients do not make, the similarity
    #: measure (Jaccard, or raw co-occurrence, which leans toward popular neighbours) and
    #: whether each item passes one unit of evidence to its neighbours or its own
    #: similarity mass (``normalise_similarity``; raw mass won on review logs in our
    #: validation runs), plus raw co-occurrence counted only between events near each other
    #: in a shopper's sequence (``sequence_window`` 5 and 10), and the window of 10 with
    #: items passing 0.3 as much to what came before them as to what came after
    #: (``sequence_backward_weight``: on Amazon Beauty's validation part it lifted
    #: NDCG@10 from 0.0588 to 0.0625: ``cd benchmarks && python diagnose_learned.py --data
    #: ../../shared/data/amazon_beauty_5core/interactions.csv --format amazon --protocol loo
    #: --half-lives 30d --params '{"similarity": "cooccurrence", "normalise_similarity":
    #: false, "sequence_window": 10, "sequence_step_decay": 0.8, "ordering_scale": 0.1,
    #: "sequence_backward_weight": 0.3}'``, against 1.0). Each also with
    #: ``recent_popularity_share`` fixed at 0.01 instead of learned: the likelihood learns how
    #: much recent popularity counts, and on a long review log it weighs it far more than a
    #: top-10 list wants, while a small fixed share still lifts what is selling now among
    #: items a shopper's history supports alike (``benchmarks/diagnose_learned.py`` with
    #: ``--params '{"recent_popularity_share": 0.01}'`` shows both on a log).
    #: ``self_weight`` stays 0: with the training tables leaving each target's user out, the
    #: likelihood itself keeps most evidence on a shopper's own items.
    validation_grid: ClassVar[tuple[Mapping[str, Any], ...]] = tuple(
        {**entry, **popularity}
        for popularity in ({}, {"recent_popularity_share": 0.01})
        for entry in (
            {"similarity": "jaccard", "normalise_similarity": True},
            {"similarity": "cooccurrence", "normalise_similarity": True},
            {"similarity": "jaccard", "normalise_similarity": False},
            {"similarity": "cooccurrence", "normalise_similarity": False},
            {"similarity": "cooccurrence", "normalise_similarity": False, "sequence_window": 5},
            _WINDOW_OF_10,
            {**_WINDOW_OF_10, "sequence_backward_weight": 0.3},
        )
    )

    scoring_parameters: ClassVar[tuple[str, ...]] = (
        "ordering_scale",
        "newcomer_after",
        "familiar_share",
    )
    #: The ranking's time scale (``ordering_scale``), when a returning shopper counts as a
    #: newcomer (``newcomer_after``) and where new interests start (``familiar_share``: the
    #: learned share or 0.75), tried with every fit of :attr:`validation_grid` without
    #: refitting. On the logs of ``benchmarks/run_learned_shared.sh`` validation picked an
    #: ordering scale of 0.1 and newcomers after 365 days on Amazon Beauty, and 1 without
    #: newcomers on the Taobao and Diginetica targets (only Beauty, twelve years long, has
    #: shoppers back after more than a year).
    scoring_grid: ClassVar[tuple[Mapping[str, Any], ...]] = tuple(
        {"ordering_scale": scale, "newcomer_after": newcomer, "familiar_share": familiar}
        for familiar in (None, _RANKING_FAMILIAR_SHARE)
        for newcomer in (None, timedelta(days=365))
        for scale in (1.0, 0.3, 0.1, 0.03)
    )

    def __init__(
        self,
        *,
        half_life: timedelta | None = timedelta(days=7),
        kernel: KernelName = "exponential",
        event_weights: Mapping[str, float] | None = None,
        session_gap: timedelta = timedelta(minutes=30),
        separate_visit: bool = True,
        popularity_half_life: timedelta | None = timedelta(days=7),
        recent_popularity_share: float | None = None,
        max_history: int = 200,
        similarity: SimilarityName = "jaccard",
        max_neighbours: int = 50,
        normalise_similarity: bool = True,
        sequence_window: int | None = None,
        sequence_step_decay: float = 0.7,
        sequence_backward_weight: float = 1.0,
        self_weight: float = 0.0,
        ordering_scale: float = 1.0,
        newcomer_after: timedelta | None = None,
        familiar_share: float | None = None,
        hidden_units: int = 16,
        max_user_factor: float = 4.0,
        repeat_cycles: bool = True,
        prior_scale: float = 1.0,
        learning_rate: float = 0.01,
        batch_size: int = 512,
        max_epochs: int = 30,
        patience: int = 10,
        validation_share: float = 0.1,
        seed: int = 0,
        threads: int = 1,
        progress: bool = False,
    ) -> None:
        super().__init__(kernel=kernel, half_life=half_life, event_weights=event_weights)
        self.session_gap = session_gap
        self.separate_visit = separate_visit
        self.popularity_half_life = popularity_half_life
        self.recent_popularity_share = recent_popularity_share
        self.max_history = max_history
        self.similarity = similarity
        self.max_neighbours = max_neighbours
        self.normalise_similarity = normalise_similarity
        self.sequence_window = sequence_window
        self.sequence_step_decay = sequence_step_decay
        self.sequence_backward_weight = sequence_backward_weight
        self.self_weight = self_weight
        self.ordering_scale = ordering_scale
        self.newcomer_after = newcomer_after
        self.familiar_share = familiar_share
        self.hidden_units = hidden_units
        self.max_user_factor = max_user_factor
        self.repeat_cycles = repeat_cycles
        self.prior_scale = prior_scale
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_share = validation_share
        self.seed = seed
        self.threads = threads
        self.progress = progress

    # ------------------------------------------------------------------ parameters
    def _validate_params(self) -> None:
        owner = type(self).__name__
        if self.kernel != "exponential":
            raise InvalidParameterError(
                f"The 'kernel' parameter of {owner} must be 'exponential' (half-lives are "
                f"learned in that form). Got {self.kernel!r} instead."
            )
        super()._validate_params()
        self.session_gap_seconds_ = self._duration("session_gap", self.session_gap, none_means=None)
        self.popularity_half_life_seconds_ = self._duration(
            "popularity_half_life", self.popularity_half_life, none_means="all-time popularity"
        )
        self.newcomer_after_seconds_ = self._duration(
            "newcomer_after", self.newcomer_after, none_means="nobody is served as a newcomer"
        )
        if not np.isfinite(self.session_gap_seconds_):
            raise InvalidParameterError(
                f"The 'session_gap' parameter of {owner} must be a finite positive timedelta. "
                f"Got {self.session_gap!r} instead."
            )
        for name in (
            "max_history", "max_neighbours", "hidden_units", "batch_size", "max_epochs",
            "patience", "threads",
        ):  # fmt: skip
            check_positive_int(getattr(self, name), name, owner)
        if self.similarity not in _SIMILARITIES:
            raise InvalidParameterError(
                f"The 'similarity' parameter of {owner} must be one of "
                f"{', '.join(_SIMILARITIES)}. Got {self.similarity!r} instead."
            )
        check_non_negative(self.self_weight, "self_weight", owner)
        if self.familiar_share is not None:
            check_unit_interval(self.familiar_share, "familiar_share", owner)
        share = self.recent_popularity_share
        if share is not None and (
            isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1
        ):
            raise InvalidParameterError(
                f"The 'recent_popularity_share' parameter of {owner} must be None (learned) "
                f"or a number in [0, 1]. Got {share!r} instead."
            )
        check_sequence_window(
            self.sequence_window, self.sequence_step_decay, owner, self.sequence_backward_weight
        )
        for name in ("max_user_factor", "prior_scale", "learning_rate", "ordering_scale"):
            value = getattr(self, name)
            check_non_negative(value, name, owner)
            if value == 0 or (name == "max_user_factor" and value < 1):
                low = "at least 1" if name == "max_user_factor" else "positive"
                raise InvalidParameterError(
                    f"The '{name}' parameter of {owner} must be {low}. Got {value!r} instead."
                )
        check_unit_interval(self.validation_share, "validation_share", owner, one=False)
        for name in ("repeat_cycles", "progress", "normalise_similarity", "separate_visit"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterError(
                    f"The '{name}' parameter of {owner} must be True or False. "
                    f"Got {getattr(self, name)!r} instead."
                )
        check_non_negative_int(self.seed, "seed", owner)

    def _popularity_half_life_seconds(self) -> float:
        return self.popularity_half_life_seconds_

    @property
    def decays(self) -> bool:
        """Whether decay is on (``half_life`` is not ``None``)."""
        return self.half_life is not None

    # ------------------------------------------------------------------ fitting
    def partial_fit(self, events: EventLog) -> LearnedDecay:
        """Add events and continue training from the current parameters (warm start).

        New categories start at the global half-life; early stopping on the latest targets
        decides how many epochs the new data gets.
        """
        if not hasattr(self, "parameters_"):
            return self.fit(events)
        if events.n_events == 0:
            return self
        self._warm_start = self.parameters_
        old_categories = len(self.events_.categories)
        try:
            self.events_ = self.events_.concat(events.compact())
            self._warm_start = _grow_categories(
                self._warm_start, old_categories, len(self.events_.categories)
            )
            self._refresh()
        finally:
            del self._warm_start
        return self

    def _fit_state(self) -> None:
        similarity = self._build_tables()
        restored: DecayParameters | None = getattr(self, "_restored", None)
        if restored is not None:
            self.parameters_ = restored
            return
        data = self._training_data(similarity)
        result = self._train(data)
        self.parameters_ = result.parameters
        self._record(result, data)

    def _build_tables(self) -> ItemSimilarity:
        """The static item tables: category share ``q``, catalogue share ``p``, similarity.

        Returns the similarity's tables, whose leave-one-user-out twin training reads.
        """
        columns = self.columns_
        n_items = self.n_items
        self.no_category_ = len(self.events_.categories)
        self.item_slot_ = np.where(
            self.item_category_ >= 0, self.item_category_, self.no_category_
        ).astype(np.int64)
        # Counted once per fit or load, not per explanation.
        type_counts = np.bincount(columns.event_type, minlength=len(EventType))
        self._reference_event_type = EventType(int(np.argmax(type_counts)))
        counts = np.bincount(columns.item, minlength=n_items).astype(np.float64)
        per_slot = np.bincount(self.item_slot_, weights=counts, minlength=self.no_category_ + 1)
        self.slot_share_ = per_slot / per_slot.sum()
        self.within_category_share_ = counts / np.maximum(per_slot[self.item_slot_], 1e-12)
        grouped = self.user_events_.columns  # by user, in time order: what a window reads
        similarity = ItemSimilarity(
            grouped.user,
            grouped.item,
            len(self.events_.users),
            n_items,
            measure=self.similarity,
            max_neighbours=self.max_neighbours,
            self_weight=float(self.self_weight),
            normalise=self.normalise_similarity,
            window=self.sequence_window,
            step_decay=float(self.sequence_step_decay),
            backward_weight=float(self.sequence_backward_weight),
            seconds=grouped.seconds,
        )
        self.similarity_ = similarity.matrix
        self.similarity_row_sum_ = similarity.row_sum
        return similarity

    def _training_data(self, similarity: ItemSimilarity) -> Any:
        from decayrec.models._learned_torch import TrainingData

        predictions = find_predictions(
            self.user_events_, self.session_gap_seconds_, self.max_history, _MAX_PER_VISIT
        )
        if not len(predictions):
            raise DataValidationError(
                f"{type(self).__name__}.fit needs users who come back: no user in the log has "
                "two events."
            )
        train, holdout = self._split_targets(predictions)
        columns = self.user_events_.columns
        within = leave_user_out_shares(
            columns.user, columns.item, self.item_slot_[columns.item], predictions.position,
            self.n_items,
        )  # fmt: skip
        recent = self._recent_shares(predictions, within)
        mean, scale = self._feature_scaling(predictions, train)
        return TrainingData(
            columns=columns,
            predictions=predictions,
            train_rows=train,
            holdout_rows=holdout,
            no_category=self.no_category_,
            session_gap=self.session_gap_seconds_,
            within_share=within,
            recent_share=recent,
            slot_share=self.slot_share_,
            similarity=similarity.training_lookup(),
            feature_mean=mean,
            feature_scale=scale,
        )

    def _recent_shares(self, predictions: Predictions, static: FloatArray) -> FloatArray:
        """Each target's share of its category's recent popularity at its instant (other
        shoppers' events at that instant included, the target's own later ones not), as
        scoring reads popularity at an instant.

        ``static`` (the all-time share) stands in where the category has no earlier event.
        """
        grouped = self.user_events_.columns
        target = predictions.position
        half_life = self.popularity_half_life_seconds_
        if not np.isfinite(half_life):
            return static.copy()
        slots = self.item_slot_[grouped.item]
        item_recent = decayed_count_before(
            grouped.item, grouped.seconds, grouped.type_weight, half_life, users=grouped.user
        )
        slot_recent = decayed_count_before(
            slots, grouped.seconds, grouped.type_weight, half_life, users=grouped.user
        )
        recent: FloatArray = np.divide(
            item_recent[target], slot_recent[target], out=static.copy(),
            where=slot_recent[target] > 0,
        )  # fmt: skip
        return recent

    def _split_targets(
        self, predictions: Predictions
    ) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
        """Rows of training and held-out targets: those of a random ``validation_share`` of
        the shoppers (drawn with ``seed``) are held out, none where that is too few."""
        rows = np.arange(len(predictions))
        if round(self.validation_share * len(rows)) < _MIN_HOLDOUT:
            return rows, rows[:0]
        rng = np.random.default_rng(self.seed)
        held_users = rng.random(len(self.events_.users)) < self.validation_share
        held = held_users[self.user_events_.columns.user[predictions.position]]
        if held.sum() < _MIN_HOLDOUT or held.all():
            return rows, rows[:0]
        return rows[~held], rows[held]

    def _feature_scaling(
        self, predictions: Predictions, rows: npt.NDArray[np.intp]
    ) -> tuple[FloatArray, FloatArray]:
        columns = self.user_events_.columns
        n_features = len(FEATURE_NAMES)
        total, squares = np.zeros(n_features), np.zeros(n_features)
        for start in range(0, len(rows), _FEATURE_CHUNK):
            part = rows[start : start + _FEATURE_CHUNK]
            window = prediction_windows(predictions, part, columns, self.session_gap_seconds_)
            features = history_features(window, columns)
            total += features.sum(axis=0)
            squares += (features**2).sum(axis=0)
        n = max(len(rows), 1)
        mean = total / n
        std = np.sqrt(np.maximum(squares / n - mean**2, 0.0))
        return mean, np.where(std > 1e-9, std, 1.0)

    def _train(self, data: Any) -> TrainingResult:
        try:
            import torch

            from decayrec.models._learned_torch import TrainingConfig, train
        except ImportError as exc:
            raise MissingExtraError(
                f"{type(self).__name__}.fit needs PyTorch: pip install 'decayrec[torch]' ({exc})."
            ) from exc
        config = TrainingConfig(
            decays=self.decays,
            repeats=self.repeat_cycles and self.decays,
            recent_popularity=self.decays and np.isfinite(self.popularity_half_life_seconds_),
            separate_visit=self.separate_visit and self.decays,
            fixed_recent_share=self.recent_popularity_share,
            init_half_life_days=(self.half_life_seconds_ / _DAY) if self.decays else 7.0,
            init_type_weight=self.weights_.as_array(),
            hidden_units=self.hidden_units,
            max_log_adjust=float(np.log(self.max_user_factor)) if self.decays else 0.0,
            prior_scale=float(self.prior_scale),
            learning_rate=float(self.learning_rate),
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            seed=self.seed,
        )
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads)
        try:
            with EpochProgress(
                self.progress, self.max_epochs, label="learned-decay epochs", metric="held-out loss"
            ) as on_epoch:
                return train(
                    data, config, warm_start=getattr(self, "_warm_start", None), on_epoch=on_epoch
                )
        finally:
            torch.set_num_threads(previous_threads)

    def _record(self, result: TrainingResult, data: Any) -> None:
        held_users = self.user_events_.columns.user[data.predictions.position[data.holdout_rows]]
        self.training_: dict[str, Any] = {
            "train_loss": list(result.train_loss),
            "holdout_loss": list(result.holdout_loss),
            "best_epoch": result.best_epoch,
            "epoch_seconds": list(result.epoch_seconds),
            # 0 and 0: too few targets to hold out, stopped on the training loss.
            "holdout_shoppers": len(np.unique(held_users)),
            "holdout_targets": len(data.holdout_rows),
        }
        self.category_log_se_ = result.category_log_se
        self.type_log_se_ = result.type_log_se
        self.global_log_se_ = result.global_log_se

    # ------------------------------------------------------------------ scoring
    def applicable_scoring(self, entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        """The grid's entries, without ``familiar_share`` on a log with one category slot
        (every shopper's mix is then the shop's, and the share changes nothing)."""
        self._check_fitted()
        if np.count_nonzero(self.slot_share_) > 1:
            return super().applicable_scoring(entries)
        kept: list[dict[str, Any]] = []
        for entry in entries:
            reduced = {key: value for key, value in entry.items() if key != "familiar_share"}
            if reduced not in kept:
                kept.append(reduced)
        return kept

    @property
    def _familiar_share_used(self) -> float:
        """``κ`` as scoring uses it: ``familiar_share`` when given, the learned one otherwise."""
        if self.familiar_share is None:
            return self.parameters_.familiar_share
        return float(self.familiar_share)

    def _known_at(self, users: IndexArray, at: FloatArray) -> npt.NDArray[np.bool_]:
        """Known shoppers, less those last seen more than ``newcomer_after`` before ``at``."""
        known = super()._known_at(users, at)
        rows = np.flatnonzero(known)
        if not np.isfinite(self.newcomer_after_seconds_) or not rows.size:
            return known
        # The age of each shopper's latest event at or before their instant.
        request, _, ages = self.user_events_.gather(users[rows], at[rows])
        away_seconds = np.full(len(rows), np.inf)
        np.minimum.at(away_seconds, request, ages)
        known[rows[away_seconds > self.newcomer_after_seconds_]] = False
        return known

    def _evidence(
        self, users: IndexArray, at: FloatArray
    ) -> tuple[HistoryWindow, FloatArray, FloatArray, FloatArray, FloatArray]:
        """Window, decay, long-term evidence, due repeats and session evidence per event."""
        columns = self.user_events_.columns
        window = request_windows(
            self.user_events_, users, at, self.max_history, self.session_gap_seconds_
        )
        features = history_features(window, columns)
        decay, evidence, repeat = self.parameters_.evidence(
            window, columns, features, self.no_category_, float(self.ordering_scale)
        )
        return window, decay, evidence, repeat, self.parameters_.session_evidence(window, columns)

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        window, _, evidence, repeat, session = self._evidence(user_index, at)
        params = self.parameters_
        share = self._within_share(at)
        scores, total = self._routed(window, evidence, repeat, share, params.mixture)
        starts = params.start_shares(
            window, self.user_events_.columns, self.no_category_, self._familiar_share_used
        )
        scores += share * (params.exploration * starts[:, self.item_slot_])
        scores /= (total + params.exploration)[:, None]
        # The visit's own routing, computed for the rows with a visit under way only.
        live = np.flatnonzero(session.any(axis=1))
        if live.size:
            session_scores, session_total = self._routed(
                window.take(live), session[live], None, share[live], params.session_mixture
            )
            has = session_total > 0
            live, session_scores, session_total = live[has], session_scores[has], session_total[has]
            session_share = params.session_share
            scores[live] *= 1.0 - session_share
            scores[live] += session_share * session_scores / session_total[:, None]
        return scores

    def _within_share(self, at: FloatArray) -> FloatArray:
        """``q`` per row and item: all-time and recent shares of the category, mixed by ``ρ``."""
        recent_weight = self.parameters_.recent_share
        if recent_weight == 0.0:
            return np.tile(self.within_category_share_, (len(at), 1))
        # Per distinct instant (a temporal split asks everyone at one), then one row per ask.
        popularity, inverse = self.popularity_index_.many(at)
        n_slots = self.no_category_ + 1
        totals = np.stack(
            [np.bincount(self.item_slot_, weights=row, minlength=n_slots) for row in popularity]
        )[:, self.item_slot_]
        empty = totals <= 0  # no recent event in the category: the all-time share stands in
        mixed: FloatArray = np.divide(popularity, totals, out=np.empty_like(totals), where=~empty)
        mixed[empty] = np.broadcast_to(self.within_category_share_, totals.shape)[empty]
        mixed *= recent_weight
        mixed += (1.0 - recent_weight) * self.within_category_share_[None, :]
        out: FloatArray = mixed[inverse]
        return out

    def _routed(
        self,
        window: HistoryWindow,
        evidence: FloatArray,
        repeat: FloatArray | None,
        share: FloatArray,
        mixture: FloatArray,
    ) -> tuple[FloatArray, FloatArray]:
        """Evidence routed to every item by ``mixture`` (plus due repeats), and its closed-form
        total per row.

        Sums run over each row's real events in order (``bincount``), so a row's values do not
        depend on how wide its batch was padded.
        """
        columns = self.user_events_.columns
        alpha_cat, alpha_item, alpha_sim = mixture
        n_rows, n_items, n_slots = window.valid.shape[0], self.n_items, self.no_category_ + 1
        cells = window.valid
        row = np.broadcast_to(np.arange(n_rows)[:, None], cells.shape)[cells]
        positions = window.positions[cells]
        items = columns.item[positions].astype(np.int64)
        category = columns.category[positions]
        slots = np.where(category >= 0, category, self.no_category_).astype(np.int64)
        c = evidence[cells]
        r = repeat[cells] if repeat is not None else np.zeros(len(c))
        interest = np.bincount(row * n_slots + slots, weights=c, minlength=n_rows * n_slots)
        scores = interest.astype(np.float64).reshape(n_rows, n_slots)[:, self.item_slot_]
        scores *= alpha_cat * share
        # Only the (row, item) cells of the history: O(events), not a dense (rows, items) pass.
        np.add.at(scores, (row, items), alpha_item * c + r)
        affinity = sp.csr_matrix((c, (row, items)), shape=(n_rows, n_items))
        scores += alpha_sim * (affinity @ self.similarity_).toarray()
        neighbours = self.similarity_row_sum_[items]
        total: FloatArray = (
            (alpha_cat + alpha_item) * np.bincount(row, weights=c, minlength=n_rows)
            + alpha_sim * np.bincount(row, weights=c * neighbours, minlength=n_rows)
            + np.bincount(row, weights=r, minlength=n_rows)
        )
        return scores, total

    def _category_scores(
        self, users: IndexArray, at: FloatArray, exclude: str
    ) -> tuple[FloatArray, PriorFn | None]:
        """A category's probability: the sum of its items' next-event probabilities."""
        scores, _ = self._batch_scores(users, at)
        self._apply_exclusions(scores, users, at, exclude)
        scores[~np.isfinite(scores)] = 0.0
        n_cats = len(self.events_.categories)
        has = np.flatnonzero(self.item_category_ >= 0)
        onehot = sp.csr_matrix(
            (np.ones(len(has)), (has, self.item_category_[has])), shape=(self.n_items, n_cats)
        )
        return np.asarray(scores @ onehot), None

    # ------------------------------------------------------------------ explaining
    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        users, instants = np.array([user], dtype=np.int32), np.array([at])
        window, decay, evidence, repeat, session = self._evidence(users, instants)
        columns = self.user_events_.columns
        params = self.parameters_
        cells = window.valid[0]
        positions = window.positions[0][cells]
        c, r, k, s_w = evidence[0][cells], repeat[0][cells], decay[0][cells], session[0][cells]
        if params.decays and params.separate_visit:
            k = np.where(window.in_session[0][cells], 1.0, k)  # read undecayed, by the visit
        slot = int(self.item_slot_[item])
        hist_items = columns.item[positions].astype(np.int64)
        hist_slots = np.where(
            columns.category[positions] >= 0, columns.category[positions], self.no_category_
        )
        alpha_cat, alpha_item, alpha_sim = params.mixture
        share = self._within_share(instants)
        q = float(share[0, item])
        similar = self.similarity_[hist_items].toarray()[:, item] if len(hist_items) else c
        same_item = (hist_items == item).astype(np.float64)
        _, total = self._routed(window, evidence, repeat, share, params.mixture)
        _, session_total = self._routed(window, session, None, share, params.session_mixture)
        z = float(total[0]) + params.exploration
        session_share = params.session_share if session_total[0] > 0 else 0.0
        long_term = (1.0 - session_share) / z
        parts = {
            "category": alpha_cat * q * c * (hist_slots == slot),
            "item": alpha_item * c * same_item,
            "similar_items": alpha_sim * c * similar,
            "repeat": r * same_item,
        }
        components = {name: float(value.sum() * long_term) for name, value in parts.items()}
        familiar = self._familiar_share_used
        starts = params.start_shares(window, columns, self.no_category_, familiar)
        shop_start = (1.0 - familiar) * params.exploration_share[slot]
        own_start = float(starts[0, slot]) - shop_start
        components["popularity"] = float(params.exploration * shop_start * q * long_term)
        components["familiar_category"] = float(params.exploration * own_start * q * long_term)
        session_part = np.zeros(len(c))
        if session_share:
            s_cat, s_item, s_sim = params.session_mixture
            route = s_cat * q * (hist_slots == slot) + s_item * same_item + s_sim * similar
            session_part = session_share * s_w * route / session_total[0]
        components["session"] = float(session_part.sum())
        contribution = sum(parts.values()) * long_term + session_part
        total_interest = float(c.sum())
        in_category = float((c * (hist_slots == slot)).sum())
        features = history_features(window, columns)
        half_life = None
        if self.decays:
            adjust = params.user_adjustment(features)
            reference_type = np.array([self.reference_event_type_])
            log_h = params.log_half_life_days(np.array([slot]), reference_type, adjust)
            # The half-life the events were weighed with (the learned one, rescaled).
            half_life = timedelta(days=float(np.exp(log_h[0])) * self.ordering_scale)
        return Explanation(
            user_id=self.events_.users.raw([user])[0],
            item_id=self.events_.items.raw([item])[0],
            at=_from_seconds(at),
            score=float(sum(components.values())),
            fallback=False,
            category_id=self._category_id(int(self.item_category_[item])),
            category_interest=in_category / total_interest if total_interest else 0.0,
            half_life=half_life,
            components=components,
            events=self._describe_events(
                self.columns_,
                self.user_events_.order[positions],
                at,
                k,
                np.asarray(contribution, dtype=np.float64),
            ),
        )

    # ------------------------------------------------------------------ reading the fit
    @property
    def reference_event_type_(self) -> EventType:
        """The log's most frequent event type: the one category half-lives are quoted for."""
        self._check_fitted()
        return self._reference_event_type

    @property
    def half_lives_(self) -> pl.DataFrame:
        """Learned half-lives: the global value, one row per category and per event type.

        Half-lives are ``exp(g + δ_category + τ_type)`` for the average user (the per-user
        adjustment is centred there: ``a_user = 0``). The three terms are identified only up
        to shifts between them, so each row fixes the other term at the log's own reference:
        category rows are for the log's most frequent event type, event-type rows for its
        average category (``δ`` averaged over events), and the global row for both, i.e. the
        half-life of a typical event of this log. ``lower_days`` / ``upper_days`` are
        ``exp(log h ± 1.96 se)`` with ``se`` from the empirical Fisher information.
        Event-type rows also give the learned weight relative to the reference event type
        (``reference`` marks it).
        """
        self._check_fitted()
        params = self.parameters_
        if not params.decays:
            raise InvalidParameterError(
                "This LearnedDecay has decay switched off (half_life=None): no half-lives."
            )
        se = getattr(self, "category_log_se_", None)
        columns = self.columns_
        n_cats = len(self.events_.categories)
        slots = np.where(columns.category >= 0, columns.category, n_cats)
        cat_events = np.bincount(slots, minlength=n_cats + 1)
        type_events = np.bincount(columns.event_type, minlength=len(EventType))
        reference_type = self.reference_event_type_
        type_term = params.type_offset[reference_type]
        category_term = float(np.average(params.category_offset, weights=cat_events))
        g = params.global_log_half_life
        cat_log = g + params.category_offset + type_term
        type_log = g + category_term + params.type_offset
        cat_se = self.category_log_se_ if se is not None else np.full(n_cats + 1, np.nan)
        type_se = getattr(self, "type_log_se_", np.full(len(EventType), np.nan))
        global_se = float(getattr(self, "global_log_se_", np.nan))
        reference = params.type_weight[reference_type]
        keys = ["(all)"]
        levels = ["global"]
        logs, ses = [g + category_term + type_term], [global_se]
        events, weights, is_reference = [len(columns.item)], [np.nan], [False]
        cat_names = [*self.events_.categories.raw(np.arange(n_cats)), "(none)"]
        for slot in np.flatnonzero(cat_events):
            levels.append("category")
            keys.append(cat_names[slot])
            logs.append(cat_log[slot])
            ses.append(cat_se[slot])
            events.append(int(cat_events[slot]))
            weights.append(np.nan)
            is_reference.append(False)
        for kind in EventType:
            if not type_events[kind]:
                continue
            levels.append("event_type")
            keys.append(kind.label)
            logs.append(type_log[kind])
            ses.append(type_se[kind])
            events.append(int(type_events[kind]))
            weights.append(params.type_weight[kind] / reference if reference > 0 else np.nan)
            is_reference.append(int(kind) == reference_type)
        log_arr, se_arr = np.array(logs, dtype=np.float64), np.array(ses, dtype=np.float64)
        return pl.DataFrame(
            {
                "level": levels,
                "key": keys,
                "events": events,
                "half_life_days": np.exp(log_arr),
                "lower_days": np.exp(log_arr - 1.96 * se_arr),
                "upper_days": np.exp(log_arr + 1.96 * se_arr),
                "weight": np.array(weights, dtype=np.float64),
                "reference": is_reference,
            }
        )

    @property
    def repeat_cycles_(self) -> pl.DataFrame:
        """Learned re-purchase cycle (days) and rate per category with purchases."""
        self._check_fitted()
        params = self.parameters_
        columns = self.columns_
        n_cats = len(self.events_.categories)
        bought = columns.event_type == EventType.PURCHASE
        slots = np.where(columns.category >= 0, columns.category, n_cats)[bought]
        purchases = np.bincount(slots, minlength=n_cats + 1)
        present = np.flatnonzero(purchases)
        names = [*self.events_.categories.raw(np.arange(n_cats)), "(none)"]
        return pl.DataFrame(
            {
                "category": [names[s] for s in present],
                "purchases": purchases[present].astype(np.int64),
                "cycle_days": np.exp(params.repeat_log_cycle[present]),
                "rate": params.repeat_rate[present],
            }
        )

    def user_half_life_factors(self, user_ids: list[str], *, at: Any) -> FloatArray:
        """How many times longer than the category's each user's half-lives are at ``at``."""
        from decayrec._time import instant_seconds

        self._check_fitted()
        seconds = instant_seconds(at, n=len(user_ids))
        users = self.events_.users.indices(user_ids)
        out = np.ones(len(user_ids))
        known = self._known_at(users, seconds)
        if known.any() and self.decays:
            window = request_windows(
                self.user_events_,
                users[known],
                seconds[known],
                self.max_history,
                self.session_gap_seconds_,
            )
            features = history_features(window, self.user_events_.columns)
            out[known] = np.exp(self.parameters_.user_adjustment(features))
        return out

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        arrays = self.parameters_.to_arrays(_PREFIX)
        for name in ("category_log_se_", "type_log_se_"):
            if hasattr(self, name):
                arrays[_PREFIX + name] = getattr(self, name)
        if hasattr(self, "global_log_se_"):
            arrays[_PREFIX + "global_log_se_"] = np.array([self.global_log_se_])
        if hasattr(self, "training_"):
            for key in ("train_loss", "holdout_loss", "epoch_seconds"):
                arrays[f"{_PREFIX}training.{key}"] = np.asarray(self.training_[key], float)
            for key in _TRAINING_COUNTS:
                arrays[f"{_PREFIX}training.{key}"] = np.array([self.training_[key]])
        return arrays

    def _load_state(self, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
        self._validate_params()
        self._restored = DecayParameters.from_arrays(arrays, _PREFIX)
        if _PREFIX + "separate_visit" not in arrays:
            # Fitted before the choice existed: the long-term part read the visit under way,
            # and a partial_fit (and get_params) must say so too.
            self.separate_visit = False
        try:
            self._refresh()
        finally:
            del self._restored
        for name in ("category_log_se_", "type_log_se_"):
            if _PREFIX + name in arrays:
                setattr(self, name, np.asarray(arrays[_PREFIX + name], dtype=np.float64))
        if _PREFIX + "global_log_se_" in arrays:
            self.global_log_se_ = float(arrays[_PREFIX + "global_log_se_"][0])
        if f"{_PREFIX}training.best_epoch" in arrays:
            self.training_ = {
                key: [float(v) for v in arrays[f"{_PREFIX}training.{key}"]]
                for key in ("train_loss", "holdout_loss", "epoch_seconds")
            }
            for key in _TRAINING_COUNTS:
                if f"{_PREFIX}training.{key}" in arrays:  # absent from older saves
                    self.training_[key] = int(arrays[f"{_PREFIX}training.{key}"][0])


def _from_seconds(seconds: float) -> Any:
    from decayrec._time import from_seconds

    return from_seconds(seconds)


def _grow_categories(params: DecayParameters, old: int, new: int) -> DecayParameters:
    """Parameters for ``new`` categories from ones fitted with ``old`` (the last slot: none)."""
    if new == old:
        return params
    grown = DecayParameters.from_arrays(params.to_arrays(""), "")

    def extend(array: FloatArray, fill: float) -> FloatArray:
        return np.concatenate([array[:old], np.full(new - old, fill), array[old:]])

    grown.category_offset = extend(params.category_offset, 0.0)
    grown.repeat_rate = extend(params.repeat_rate, float(np.median(params.repeat_rate)))
    grown.repeat_log_cycle = extend(
        params.repeat_log_cycle, float(np.median(params.repeat_log_cycle))
    )
    return grown
