"""Training of :class:`~decayrec.models.learned.LearnedDecay` with PyTorch (the ``torch`` extra).

What: the differentiable twin of :class:`~decayrec.models._learned_params.DecayParameters`
(same formula, see that module), a mini-batch maximum-a-posteriori fit of the exact
full-catalogue next-event likelihood with Adam, early stopping on the held-out targets of a
random tenth of the shoppers, and standard errors from the empirical Fisher information.

Why this likelihood: every evidence source of the model sums over the catalogue in closed form,
so ``P(target) = λ_target / Σ_j λ_j`` costs one pass over the target's history window, never a
pass over all items, and yet it is the full softmax-free normalisation, not a sampled one.

Priors (why rare categories shrink): ``δ_c ~ N(0, s²)`` per category around the global
half-life, ``τ_t ~ N(0, s²)`` per event type, the repeat rate and cycle offsets per category
``~ N(0, s²)`` around global values, and an L2 penalty on the adjustment network; ``s`` is
``prior_scale`` (log units). A category with few events keeps the global half-life; one with
thousands is pinned down by its own data.

Importing this module imports torch; :mod:`decayrec.models.learned` only does so inside
``fit``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from decayrec.data.schema import EventType
from decayrec.models._events import Columns
from decayrec.models._learned_history import (
    Predictions,
    history_features,
    prediction_windows,
)
from decayrec.models._learned_params import N_EVENT_TYPES, DecayParameters
from decayrec.models._learned_tables import PairLookup
from decayrec.types import FloatArray

__all__ = ["TrainingConfig", "TrainingData", "TrainingResult", "train"]

_LN2: Final = math.log(2.0)
_HALF_LOG_2PI: Final = 0.5 * math.log(2.0 * math.pi)
_MIN_STEPS_PER_EPOCH: Final = 50
_MIN_BATCH: Final = 32
#: ``κ`` starts at about 0.02: near the model without it, so that a log whose shoppers start
#: new interests where the shop's are (the simulator's) leaves the half-lives as they were,
#: and the data moves it where new interests follow a shopper's own categories.
_FAMILIAR_INIT_LOGIT: Final = -4.0


@dataclass(frozen=True)
class TrainingConfig:
    """What the estimator's parameters say about training (validated by the estimator)."""

    decays: bool
    repeats: bool
    recent_popularity: bool  # popularity decays too, so recent and all-time shares differ
    init_half_life_days: float
    init_type_weight: FloatArray
    hidden_units: int
    max_log_adjust: float
    prior_scale: float
    learning_rate: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int
    fixed_recent_share: float | None = None  # ρ as given (not learned); None: learned
    separate_visit: bool = False  # long-term evidence before the visit (decays only)


@dataclass(frozen=True)
class TrainingData:
    """Everything the loop reads: grouped events, targets, and the static item tables."""

    columns: Columns  # grouped by user, time order (UserEvents.columns)
    predictions: Predictions
    train_rows: npt.NDArray[np.intp]  # indices into predictions
    holdout_rows: npt.NDArray[np.intp]
    no_category: int  # index of the "no category" slot (= n_categories)
    session_gap: float  # seconds
    within_share: FloatArray  # per prediction row: the target's share of its category
    recent_share: FloatArray  # per prediction row: the target's recent share of its category
    slot_share: FloatArray  # share of events per category slot
    similarity: PairLookup  # S[a, b] with each target's shopper left out (_learned_tables)
    feature_mean: FloatArray
    feature_scale: FloatArray


@dataclass(frozen=True)
class TrainingResult:
    """Fitted parameters, the loss curve and standard errors of the log half-lives."""

    parameters: DecayParameters
    train_loss: list[float]
    holdout_loss: list[float]
    best_epoch: int
    category_log_se: FloatArray  # per category slot (inf: no information)
    type_log_se: FloatArray  # per event type
    global_log_se: float
    epoch_seconds: list[float]


@dataclass
class _Batch:
    """One mini-batch as tensors: each row a target and its history window."""

    category: torch.Tensor  # (B, H) int64 slot
    event_type: torch.Tensor  # (B, H) int64
    age: torch.Tensor  # (B, H) days
    valid: torch.Tensor  # (B, H) float 0/1
    in_session: torch.Tensor  # (B, H) float 0/1: the visit under way
    purchase: torch.Tensor  # (B, H) float 0/1
    sim_row_sum: torch.Tensor  # (B, H)
    features: torch.Tensor  # (B, F) scaled
    same_category: torch.Tensor  # (B, H) float: history event in the target's category
    same_item: torch.Tensor  # (B, H) float: history event on the target item
    similarity: torch.Tensor  # (B, H): S[history item, target]
    within_share: torch.Tensor  # (B,) all-time q of the target, its user left out
    recent_share: torch.Tensor  # (B,) recent q of the target at its time
    target_slot: torch.Tensor  # (B,) category slot of the target
    weight: torch.Tensor  # (B,) the visit's share; 0 for a target no route can reach
    category_np: npt.NDArray[np.int64]
    event_type_np: npt.NDArray[np.int64]


def _make_batch(data: TrainingData, rows: npt.NDArray[np.intp], lookup: PairLookup) -> _Batch:
    columns, predictions = data.columns, data.predictions
    window = prediction_windows(predictions, rows, columns, data.session_gap)
    positions, valid = window.positions, window.valid
    raw_category = columns.category[positions]
    category = np.where(raw_category >= 0, raw_category, data.no_category).astype(np.int64)
    event_type = columns.event_type[positions].astype(np.int64)
    items = columns.item[positions].astype(np.int64)
    features = (history_features(window, columns) - data.feature_mean) / data.feature_scale

    target = predictions.position[rows]
    target_item = columns.item[target].astype(np.int64)
    target_cat = columns.category[target]
    target_cat = np.where(target_cat >= 0, target_cat, data.no_category).astype(np.int64)
    same_category = (category == target_cat[:, None]) & valid
    same_item = (items == target_item[:, None]) & valid
    shopper = columns.user[target].astype(np.int64)[:, None]
    similarity = np.where(valid, lookup(items, target_item[:, None], shopper), 0.0)
    within_share = data.within_share[rows]
    recent_share = data.recent_share[rows]
    # With its user left out, an item nobody else touched is unreachable unless the user's own
    # history holds it: such a target is what an evaluation counts as absent from training,
    # a miss for every model, and it carries no weight here.
    reachable = (within_share > 0) | (recent_share > 0) | same_item.any(axis=1)

    def f32(array: Any) -> torch.Tensor:
        return torch.as_tensor(np.asarray(array, dtype=np.float32))

    return _Batch(
        category=torch.as_tensor(category),
        event_type=torch.as_tensor(event_type),
        age=f32(window.age_days),
        valid=f32(valid),
        in_session=f32(window.in_session),
        purchase=f32(valid & (event_type == EventType.PURCHASE)),
        sim_row_sum=f32(np.where(valid, lookup.row_sum[items], 0.0)),
        features=f32(features),
        same_category=f32(same_category),
        same_item=f32(same_item),
        similarity=f32(similarity),
        within_share=f32(within_share),
        recent_share=f32(recent_share),
        target_slot=torch.as_tensor(target_cat),
        weight=f32(predictions.weight[rows] * reachable),
        category_np=category,
        event_type_np=event_type,
    )


def _inverse_softplus(value: float) -> float:
    return value + math.log(-math.expm1(-value))


class _LearnedDecayModule(nn.Module):
    """The differentiable model; ``to_parameters`` hands its values to NumPy."""

    def __init__(
        self, n_slots: int, n_features: int, config: TrainingConfig, slot_share: FloatArray
    ) -> None:
        super().__init__()
        self.config = config
        self.global_log_half_life = nn.Parameter(torch.tensor(math.log(config.init_half_life_days)))
        self.session_logit = nn.Parameter(torch.tensor(0.0))
        self.recent_logit = nn.Parameter(torch.tensor(0.0))
        self.category_offset = nn.Parameter(torch.zeros(n_slots))
        self.type_offset = nn.Parameter(torch.zeros(N_EVENT_TYPES))
        weights = [_inverse_softplus(max(float(w), 1e-3)) for w in config.init_type_weight]
        self.raw_type_weight = nn.Parameter(torch.tensor(weights, dtype=torch.float32))
        self.mixture_logit = nn.Parameter(torch.zeros(3))
        self.session_mixture_logit = nn.Parameter(torch.zeros(3))
        self.raw_exploration = nn.Parameter(torch.tensor(_inverse_softplus(1.0)))
        self.familiar_logit = nn.Parameter(torch.tensor(_FAMILIAR_INIT_LOGIT))
        self.exploration_offset = nn.Parameter(torch.zeros(n_slots))
        self.slot_share: torch.Tensor
        self.register_buffer("slot_share", torch.as_tensor(slot_share, dtype=torch.float32))
        self.raw_repeat_global = nn.Parameter(torch.tensor(_inverse_softplus(0.1)))
        self.repeat_offset = nn.Parameter(torch.zeros(n_slots))
        self.repeat_log_cycle_global = nn.Parameter(torch.tensor(math.log(14.0)))
        self.repeat_cycle_offset = nn.Parameter(torch.zeros(n_slots))
        self.repeat_log_sd = nn.Parameter(torch.tensor(math.log(0.5)))
        self.hidden = nn.Linear(n_features, config.hidden_units)
        self.output = nn.Linear(config.hidden_units, 1)
        nn.init.zeros_(self.output.weight)  # no adjustment until the data asks for one
        nn.init.zeros_(self.output.bias)

    # ------------------------------------------------------------------ pieces
    def type_weight(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_type_weight)

    def exploration_share(self) -> torch.Tensor:
        """``π_c``: where new interests start, the categories' event shares tilted by ``η_c``."""
        tilted = self.slot_share * torch.exp(self.exploration_offset)
        return tilted / tilted.sum()

    def familiar_share(self) -> torch.Tensor:
        """``κ``: how much new interests start in the shopper's own categories, not the shop's."""
        return torch.sigmoid(self.familiar_logit)

    def start_share(self, weight: torch.Tensor, batch: _Batch) -> torch.Tensor:
        """Where a new interest starts, for each target's category: ``(1 - κ) π_c + κ m_uc``.

        ``m_uc`` is the shopper's lifetime category mix (undecayed type weights over the
        history window); a shopper without history gets ``π_c`` alone.
        """
        shop = self.exploration_share()[batch.target_slot]
        mass = weight * batch.valid
        total = mass.sum(dim=1)
        own = (mass * batch.same_category).sum(dim=1) / torch.clamp(total, min=1e-12)
        own = torch.where(total > 0, own, shop)
        # shop + κ (own - shop), not (1 - κ) shop + κ own: exactly π where a shopper's mix is
        # the shop's (a log with one category slot trains as it did without κ).
        return shop + self.familiar_share() * (own - shop)

    def repeat_rate(self) -> torch.Tensor:
        return nn.functional.softplus(self.raw_repeat_global + self.repeat_offset)

    def recent_weight(self) -> torch.Tensor:
        """``ρ``; 0 where there is no recent popularity to weigh (no decay, or all-time only)."""
        if not self.config.recent_popularity:
            return torch.zeros(())
        if self.config.fixed_recent_share is not None:
            return torch.tensor(float(self.config.fixed_recent_share))
        return torch.sigmoid(self.recent_logit)

    def adjustment(self, features: torch.Tensor) -> torch.Tensor:
        if self.config.max_log_adjust == 0.0:
            return torch.zeros(features.shape[0])
        # Centred on the average user (features 0 after scaling): the global half-life keeps
        # the level, the network only the deviations from it.
        reference = torch.zeros(1, features.shape[1])
        raw = self.output(torch.tanh(self.hidden(torch.cat([features, reference]))))
        bounded = torch.tanh(raw.squeeze(-1))
        return self.config.max_log_adjust * (bounded[:-1] - bounded[-1])

    def log_half_life(self, batch: _Batch) -> torch.Tensor:
        return (
            self.global_log_half_life
            + self.category_offset[batch.category]
            + self.type_offset[batch.event_type]
            + self.adjustment(batch.features)[:, None]
        )

    # ------------------------------------------------------------------ likelihood
    def negative_log_likelihood(
        self, batch: _Batch, log_h: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Σ_targets weight · -log P(target | history) for one batch."""
        weight = self.type_weight()[batch.event_type]
        separate = self.config.separate_visit
        # With separate_visit the long-term part reads only the events before the visit.
        long_term_valid = batch.valid * (1 - batch.in_session) if separate else batch.valid
        if self.config.decays:
            if log_h is None:
                log_h = self.log_half_life(batch)
            decay = torch.exp(-_LN2 * batch.age * torch.exp(-log_h)) * long_term_valid
        else:
            decay = batch.valid
        evidence = weight * decay
        mixture = torch.softmax(self.mixture_logit, dim=0)
        exploration = nn.functional.softplus(self.raw_exploration)
        recent = self.recent_weight()
        share = (1 - recent) * batch.within_share + recent * batch.recent_share
        score, normaliser = self._route(evidence, mixture, share, batch)
        score = score + exploration * share * self.start_share(weight, batch)
        normaliser = normaliser + exploration
        if self.config.decays and self.config.repeats:
            repeat = self._repeat(batch) * long_term_valid
            normaliser = normaliser + repeat.sum(dim=1)
            score = score + (repeat * batch.same_item).sum(dim=1)
        probability = score / normaliser
        if self.config.decays:
            # The decay, weights and routing learn how interest carries over a gap: with
            # separate_visit from every target, read from the visits before its own;
            # otherwise from visit-opening targets only (a visit's own events in the history
            # would drag every half-life toward the minutes between clicks), and inside a
            # visit only the session share learns. The visit routes its evidence by its own
            # mixture: inside a visit shoppers move to neighbours of what they just saw more
            # than across visits.
            session_mixture = torch.softmax(self.session_mixture_logit, dim=0)
            session_score, session_total = self._route(
                weight.detach() * batch.in_session, session_mixture, share.detach(), batch
            )
            in_visit = session_total > 0
            session_share = torch.sigmoid(self.session_logit) * in_visit
            long_term = probability
            if not separate:
                long_term = torch.where(in_visit, probability.detach(), probability)
            session_p = session_score / torch.clamp(session_total, min=1e-12)
            probability = (1 - session_share) * long_term + session_share * session_p
        log_p = torch.log(torch.where(batch.weight > 0, probability, torch.ones_like(probability)))
        return -(batch.weight * log_p).sum()

    @staticmethod
    def _route(
        evidence: torch.Tensor, mixture: torch.Tensor, share: torch.Tensor, batch: _Batch
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Evidence routed to the target (category, item, neighbours) and its closed-form total."""
        score = (
            evidence
            * (
                mixture[0] * share[:, None] * batch.same_category
                + mixture[1] * batch.same_item
                + mixture[2] * batch.similarity
            )
        ).sum(dim=1)
        total = (mixture[0] + mixture[1]) * evidence.sum(dim=1) + mixture[2] * (
            evidence * batch.sim_row_sum
        ).sum(dim=1)
        return score, total

    def _repeat(self, batch: _Batch) -> torch.Tensor:
        log_cycle = self.repeat_log_cycle_global + self.repeat_cycle_offset[batch.category]
        sd = torch.exp(self.repeat_log_sd)
        log_age = torch.log(torch.clamp(batch.age, min=1e-6))
        log_density = -0.5 * ((log_age - log_cycle) / sd) ** 2 - log_age - torch.log(sd)
        density = torch.exp(log_density - _HALF_LOG_2PI)
        return self.repeat_rate()[batch.category] * density * batch.purchase

    def penalty(self) -> torch.Tensor:
        """Negative log prior (up to a constant)."""
        precision = 1.0 / (2.0 * self.config.prior_scale**2)
        total = precision * (
            (self.category_offset**2).sum()
            + (self.type_offset**2).sum()
            + (self.repeat_offset**2).sum()
            + (self.repeat_cycle_offset**2).sum()
        )
        network = (self.hidden.weight**2).sum() + (self.output.weight**2).sum()
        return total + precision * (self.exploration_offset**2).sum() + 1e-2 * network

    # ------------------------------------------------------------------ export
    def to_parameters(self, data: TrainingData) -> DecayParameters:
        def array(t: torch.Tensor) -> FloatArray:
            return t.detach().to(torch.float64).numpy().copy()

        with torch.no_grad():
            return DecayParameters(
                decays=self.config.decays,
                global_log_half_life=float(self.global_log_half_life),
                session_share=float(torch.sigmoid(self.session_logit))
                if self.config.decays
                else 0.0,
                category_offset=array(self.category_offset),
                type_offset=array(self.type_offset),
                type_weight=array(self.type_weight()),
                mixture=_normalised(array(torch.softmax(self.mixture_logit, dim=0))),
                session_mixture=_normalised(
                    array(torch.softmax(self.session_mixture_logit, dim=0))
                ),
                exploration=float(nn.functional.softplus(self.raw_exploration)),
                familiar_share=float(self.familiar_share()),
                separate_visit=self.config.separate_visit,
                exploration_share=_normalised(array(self.exploration_share())),
                recent_share=float(self.recent_weight()),
                repeat_rate=array(self.repeat_rate())
                if self.config.repeats
                else np.zeros(len(self.repeat_offset)),
                repeat_log_cycle=array(self.repeat_log_cycle_global + self.repeat_cycle_offset),
                repeat_log_sd=float(self.repeat_log_sd),
                hidden_weight=array(self.hidden.weight.T),
                hidden_bias=array(self.hidden.bias),
                output_weight=array(self.output.weight[0]),
                output_bias=float(self.output.bias[0]),
                feature_mean=data.feature_mean.copy(),
                feature_scale=data.feature_scale.copy(),
                max_log_adjust=self.config.max_log_adjust,
            )

    def load_parameters(self, parameters: DecayParameters) -> None:
        """Warm start from earlier parameters (``partial_fit``); shapes must match."""

        def tensor(array: Any) -> torch.Tensor:
            return torch.as_tensor(np.asarray(array, dtype=np.float32))

        def inverse_softplus(array: FloatArray) -> torch.Tensor:
            clipped = np.maximum(np.asarray(array, dtype=np.float64), 1e-6)
            return tensor(clipped + np.log(-np.expm1(-clipped)))

        with torch.no_grad():
            self.global_log_half_life.copy_(tensor(parameters.global_log_half_life))
            recent = min(max(parameters.recent_share, 1e-6), 1 - 1e-6)
            self.recent_logit.copy_(tensor(np.log(recent / (1.0 - recent))))
            if 0 < parameters.session_share < 1:
                share = parameters.session_share
                self.session_logit.copy_(tensor(np.log(share / (1.0 - share))))
            self.category_offset.copy_(tensor(parameters.category_offset))
            self.type_offset.copy_(tensor(parameters.type_offset))
            self.raw_type_weight.copy_(inverse_softplus(parameters.type_weight))
            self.mixture_logit.copy_(tensor(np.log(np.maximum(parameters.mixture, 1e-9))))
            self.session_mixture_logit.copy_(
                tensor(np.log(np.maximum(parameters.session_mixture, 1e-9)))
            )
            self.raw_exploration.copy_(inverse_softplus(np.array(parameters.exploration)))
            if parameters.familiar_share > 0:  # 0: saved before κ; it starts afresh
                familiar = min(parameters.familiar_share, 1 - 1e-6)
                self.familiar_logit.copy_(tensor(np.log(familiar / (1.0 - familiar))))
            tilt = np.maximum(parameters.exploration_share, 1e-12)
            base = np.maximum(self.slot_share.numpy().astype(np.float64), 1e-12)
            self.exploration_offset.copy_(tensor(np.log(tilt / base)))
            if self.config.repeats and parameters.repeat_rate.any():
                self.raw_repeat_global.zero_()
                self.repeat_offset.copy_(inverse_softplus(parameters.repeat_rate))
            self.repeat_log_cycle_global.zero_()
            self.repeat_cycle_offset.copy_(tensor(parameters.repeat_log_cycle))
            self.repeat_log_sd.copy_(tensor(parameters.repeat_log_sd))
            self.hidden.weight.copy_(tensor(parameters.hidden_weight.T))
            self.hidden.bias.copy_(tensor(parameters.hidden_bias))
            self.output.weight.copy_(tensor(parameters.output_weight[None, :]))
            self.output.bias.copy_(tensor([parameters.output_bias]))


def _normalised(shares: FloatArray) -> FloatArray:
    """Shares re-summed to exactly 1 in float64 (torch computed them in float32)."""
    out: FloatArray = shares / shares.sum()
    return out


def _batches(
    data: TrainingData,
    rows: npt.NDArray[np.intp],
    batch_size: int,
    rng: np.random.Generator | None,
) -> Iterator[npt.NDArray[np.intp]]:
    """Targets grouped by history length (little padding), batch order shuffled when ``rng``."""
    predictions = data.predictions
    length = predictions.position[rows] - predictions.history_start[rows]
    tie = rng.random(len(rows)) if rng is not None else np.arange(len(rows))
    ordered = rows[np.lexsort((tie, length))]
    chunks = [ordered[i : i + batch_size] for i in range(0, len(ordered), batch_size)]
    order = rng.permutation(len(chunks)) if rng is not None else np.arange(len(chunks))
    for k in order:
        yield chunks[k]


def _mean_loss(
    module: _LearnedDecayModule,
    data: TrainingData,
    rows_to_score: npt.NDArray[np.intp],
    lookup: PairLookup,
    batch_size: int,
) -> float:
    total, weight = 0.0, 0.0
    with torch.no_grad():
        for rows in _batches(data, rows_to_score, batch_size, None):
            batch = _make_batch(data, rows, lookup)
            total += float(module.negative_log_likelihood(batch))
            weight += float(batch.weight.sum())
    return total / max(weight, 1e-12)


def train(
    data: TrainingData,
    config: TrainingConfig,
    *,
    warm_start: DecayParameters | None = None,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainingResult:
    """Fit by Adam on mini-batches of targets; keep the epoch with the best held-out loss."""
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    lookup = data.similarity
    n_slots = data.no_category + 1
    module = _LearnedDecayModule(n_slots, len(data.feature_mean), config, data.slot_share)
    if warm_start is not None:
        module.load_parameters(warm_start)
    optimiser = torch.optim.Adam(module.parameters(), lr=config.learning_rate)
    # Each visit's targets weigh 1 in total, so the training set weighs its number of visits.
    n_train_weight = float(data.predictions.weight[data.train_rows].sum())
    # Small logs get smaller batches: at least ~_MIN_STEPS_PER_EPOCH Adam steps per epoch, so
    # that a few thousand events are not fitted in a handful of steps.
    batch_size = min(
        config.batch_size, max(_MIN_BATCH, len(data.train_rows) // _MIN_STEPS_PER_EPOCH)
    )
    # Early stopping watches the visit-opening targets: the epochs are for the decay, and
    # within a visit only the (fast-settling) session share learns.
    opening = data.predictions.opens_visit[data.holdout_rows]
    stopping_rows = data.holdout_rows[opening] if opening.any() else data.holdout_rows
    best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
    best_loss, best_epoch, stale = math.inf, 0, 0
    train_curve: list[float] = []
    holdout_curve: list[float] = []
    epoch_seconds: list[float] = []
    for epoch in range(1, config.max_epochs + 1):
        started = time.perf_counter()
        total, weight = 0.0, 0.0
        for rows in _batches(data, data.train_rows, batch_size, rng):
            batch = _make_batch(data, rows, lookup)
            batch_weight = float(batch.weight.sum())
            optimiser.zero_grad()
            nll = module.negative_log_likelihood(batch)
            loss = nll / batch_weight + module.penalty() / max(n_train_weight, 1.0)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += float(nll.detach())
            weight += batch_weight
        train_curve.append(total / max(weight, 1e-12))
        if len(stopping_rows):
            holdout = _mean_loss(module, data, stopping_rows, lookup, config.batch_size)
        else:
            holdout = train_curve[-1]
        holdout_curve.append(holdout)
        epoch_seconds.append(time.perf_counter() - started)
        if on_epoch is not None:
            on_epoch(epoch, train_curve[-1], holdout)
        if holdout < best_loss - 1e-6:
            best_loss, best_epoch, stale = holdout, epoch, 0
            best_state = {k: v.detach().clone() for k, v in module.state_dict().items()}
        else:
            stale += 1
            if stale >= config.patience:
                break
    module.load_state_dict(best_state)
    parameters = module.to_parameters(data)
    category_se, type_se, global_se = _standard_errors(module, data, lookup, config)
    return TrainingResult(
        parameters=parameters,
        train_loss=train_curve,
        holdout_loss=holdout_curve,
        best_epoch=best_epoch,
        category_log_se=category_se,
        type_log_se=type_se,
        global_log_se=global_se,
        epoch_seconds=epoch_seconds,
    )


def _standard_errors(
    module: _LearnedDecayModule,
    data: TrainingData,
    lookup: PairLookup,
    config: TrainingConfig,
) -> tuple[FloatArray, FloatArray, float]:
    """Standard errors of the log half-lives from the empirical Fisher information.

    Each target's gradient with respect to a category's (event type's, the global) log
    half-life is the sum of ``∂ℓ_target / ∂ log h_e`` over its events in that category, and
    one backward pass gives ``∂ℓ / ∂ log h_e`` for every event of a batch at once. The Fisher
    diagonal is the sum of squared per-target gradients plus the prior's curvature; the
    standard error is its inverse square root (a marginal approximation that ignores the
    correlation between parameters).
    """
    n_slots = data.no_category + 1
    category_info = np.zeros(n_slots)
    type_info = np.zeros(N_EVENT_TYPES)
    global_info = 0.0
    if config.decays:
        for rows in _batches(data, data.train_rows, config.batch_size, None):
            batch = _make_batch(data, rows, lookup)
            log_h = module.log_half_life(batch).detach().requires_grad_(True)
            nll = module.negative_log_likelihood(batch, log_h)
            (gradient,) = torch.autograd.grad(nll, log_h)
            grad = gradient.to(torch.float64).numpy()
            n_rows = grad.shape[0]
            row = np.repeat(np.arange(n_rows), grad.shape[1])
            for info, key, size in (
                (category_info, batch.category_np.ravel(), n_slots),
                (type_info, batch.event_type_np.ravel(), N_EVENT_TYPES),
            ):
                per_target = np.bincount(
                    row * size + key, weights=grad.ravel(), minlength=n_rows * size
                )
                info += np.bincount(
                    np.tile(np.arange(size), n_rows), weights=per_target**2, minlength=size
                )
            global_info += float((grad.sum(axis=1) ** 2).sum())
    prior = 1.0 / config.prior_scale**2
    category_se = 1.0 / np.sqrt(category_info + prior)
    type_se = 1.0 / np.sqrt(type_info + prior)
    global_se = 1.0 / math.sqrt(global_info) if global_info > 0 else math.inf
    return category_se, type_se, global_se
