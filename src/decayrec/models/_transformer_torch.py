"""The network and training loop of :class:`~decayrec.models.transformer.TimeAwareTransformer`.

What: a SASRec-style causal transformer over a shopper's events (item + category + event-type
embeddings plus a learned position embedding), whose attention subtracts a learned decay bias
per head on the log time gap, and is trained with full cross-entropy over the catalogue on
every position of every sequence at once.

The time bias: position ``i`` predicts the event after it, at instant ``n_i`` (the next event's
time in training, the request instant ``at`` for the newest event when serving). A key event
``j <= i`` at time ``t_j`` gets the score bias ``-r_h · log(1 + (n_i - t_j) / 1 h)`` in head
``h``, with ``r_h = softplus(ρ_h) >= 0`` learned. The heads start at rates spread over two
orders of magnitude, so some keep long memories and others short ones, and training moves
them. ``r_h = 0`` gives plain SASRec attention, which the ``-no-time`` ablation fixes.

Why log gaps: gaps range from seconds (a visit) to months (a season); on the log scale one
rate covers both, and ``exp(-r log(1 + g))`` is a power-law kernel, the shape the decay module
found to fit return visits.

Importing this module imports torch; :mod:`decayrec.models.transformer` only does so when it
trains or scores.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import torch
from torch import nn
from torch.nn import functional

from decayrec.errors import DataValidationError
from decayrec.types import FloatArray

__all__ = [
    "NetworkConfig",
    "Sequences",
    "TimeAwareNetwork",
    "TrainingResult",
    "TrainingSettings",
    "train",
]

#: Gap unit of the time bias (seconds): gaps are read in hours.
GAP_UNIT_SECONDS: Final = 3600.0
#: Initial decay rates of the heads span [low, high] geometrically.
_INITIAL_RATES: Final = (0.02, 2.0)


@dataclass(frozen=True)
class NetworkConfig:
    """Sizes and switches of the network (what ``save`` needs to rebuild it)."""

    n_items: int
    n_categories: int  # + 1 "no category" slot and + 1 padding
    n_event_types: int
    max_length: int
    dim: int
    heads: int
    layers: int
    dropout: float
    time_bias: bool


class _Block(nn.Module):
    """Pre-norm attention with the time bias, then a feed-forward layer, both residual."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        dim, heads = config.dim, config.heads
        self.heads = heads
        self.norm_attention = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm_ff = nn.LayerNorm(dim)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        self.dropout = nn.Dropout(config.dropout)
        low, high = _INITIAL_RATES
        rates = torch.logspace(math.log10(low), math.log10(high), heads) if heads > 1 else None
        start = rates if rates is not None else torch.tensor([math.sqrt(low * high)])
        # softplus^-1(rate): the raw parameter whose softplus is the starting rate.
        self.raw_rate = nn.Parameter(torch.log(torch.expm1(start)))
        if not config.time_bias:
            self.raw_rate.requires_grad_(False)
        self.time_bias = config.time_bias

    def rates(self) -> torch.Tensor:
        """``r_h`` per head (0 without the time bias)."""
        if not self.time_bias:
            return torch.zeros_like(self.raw_rate)
        return functional.softplus(self.raw_rate)

    def forward(
        self, x: torch.Tensor, log_gap: torch.Tensor, mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (B, L, D); ``log_gap`` (B, L, L); ``mask`` (B, L, L) True where allowed."""
        batch, length, dim = x.shape
        q, k, v = self.qkv(self.norm_attention(x)).chunk(3, dim=-1)

        def split(t: torch.Tensor) -> torch.Tensor:
            return t.view(batch, length, self.heads, dim // self.heads).transpose(1, 2)

        q, k, v = split(q), split(k), split(v)
        logits = q @ k.transpose(-1, -2) / math.sqrt(dim // self.heads)
        logits = logits - self.rates()[None, :, None, None] * log_gap[:, None]
        logits = logits.masked_fill(~mask[:, None], float("-inf"))
        weights = torch.softmax(logits, dim=-1)
        mixed = (self.dropout(weights) @ v).transpose(1, 2).reshape(batch, length, dim)
        x = x + self.dropout(self.out(mixed))
        x = x + self.dropout(self.ff(self.norm_ff(x)))
        return x, weights


class TimeAwareNetwork(nn.Module):
    """Embeddings, ``layers`` time-aware blocks and a tied output layer over the items."""

    def __init__(self, config: NetworkConfig) -> None:
        super().__init__()
        self.config = config
        dim = config.dim
        self.item = nn.Embedding(config.n_items + 1, dim, padding_idx=0)  # 0: padding
        self.category = nn.Embedding(config.n_categories + 2, dim, padding_idx=0)
        self.event_type = nn.Embedding(config.n_event_types + 1, dim, padding_idx=0)
        self.position = nn.Embedding(config.max_length, dim)
        self.blocks = nn.ModuleList(_Block(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(config.dropout)
        for embedding in (self.item, self.category, self.event_type, self.position):
            nn.init.normal_(embedding.weight, std=0.02)

    def encode(
        self, batch: Sequences, *, keep_attention: bool = False
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Hidden states (B, L, D) and, if asked, each block's attention (B, H, L, L)."""
        length = batch.item.shape[1]
        x = self.item(batch.item) + self.category(batch.category)
        x = x + self.event_type(batch.event_type)
        x = x + self.position.weight[-length:][None]  # right-aligned: the newest is last
        x = self.dropout(x)
        real = batch.item > 0
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        mask = causal[None] & real[:, None, :]
        mask = mask | torch.eye(length, dtype=torch.bool, device=x.device)[None]  # no empty row
        gap = (batch.next_seconds[:, :, None] - batch.seconds[:, None, :]).clamp(min=0.0)
        log_gap = torch.log1p(gap / GAP_UNIT_SECONDS).to(x.dtype)
        attention = []
        for block in self.blocks:
            x, weights = block(x, log_gap, mask)
            if keep_attention:
                attention.append(weights)
        return self.norm(x), attention

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Scores of every item (N, n_items) from hidden states (N, D): tied embeddings."""
        return hidden @ self.item.weight[1:].T

    def row_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """:meth:`logits` computed one row at a time (a batched product of ``1 x D`` rows).

        Why: a single matrix product picks its kernel and blocking by the number of rows, so
        a user's scores would differ in the last bits between a batch and a single call; one
        small product per row gives the same bits either way, at serving cost only.
        """
        items = self.item.weight[1:].T
        return torch.bmm(hidden[:, None], items.expand(len(hidden), *items.shape))[:, 0]

    def decay_rates(self) -> FloatArray:
        """``r_h`` of every block and head, (layers, heads)."""
        blocks: list[_Block] = list(self.blocks)  # type: ignore[arg-type]
        with torch.no_grad():
            return np.stack([block.rates().cpu().numpy() for block in blocks])


@dataclass
class Sequences:
    """Right-aligned, padded sequences (B, L); item/category/type codes are 1-based, 0 pads.

    ``seconds`` is each event's time and ``next_seconds`` the instant its position predicts
    (the next event's time, or the request instant for the newest one); ``target`` is the
    0-based item of that next event, -1 where there is none (padding, or serving).
    """

    item: torch.Tensor
    category: torch.Tensor
    event_type: torch.Tensor
    seconds: torch.Tensor
    next_seconds: torch.Tensor
    target: torch.Tensor

    def take(self, rows: torch.Tensor) -> Sequences:
        return Sequences(*(getattr(self, name)[rows] for name in _FIELDS))

    def trimmed(self) -> Sequences:
        """Without the leading columns that are padding in every row (sequences are
        right-aligned, so those are the first ones): most shoppers have far fewer events
        than ``max_length``, and attention costs the square of the width."""
        real = (self.item > 0).any(dim=0)
        first = int(real.int().argmax()) if bool(real.any()) else self.item.shape[1] - 1
        return Sequences(*(getattr(self, name)[:, first:] for name in _FIELDS))

    def to(self, device: torch.device) -> Sequences:
        return Sequences(*(getattr(self, name).to(device) for name in _FIELDS))

    @classmethod
    def from_arrays(cls, arrays: dict[str, npt.NDArray[Any]]) -> Sequences:
        """From NumPy arrays named like the fields (times as float64 seconds)."""
        return cls(
            item=torch.from_numpy(arrays["item"].astype(np.int64)),
            category=torch.from_numpy(arrays["category"].astype(np.int64)),
            event_type=torch.from_numpy(arrays["event_type"].astype(np.int64)),
            # float64: Unix seconds in float32 would round to minutes.
            seconds=torch.from_numpy(arrays["seconds"].astype(np.float64)),
            next_seconds=torch.from_numpy(arrays["next_seconds"].astype(np.float64)),
            target=torch.from_numpy(arrays["target"].astype(np.int64)),
        )


_FIELDS: Final = ("item", "category", "event_type", "seconds", "next_seconds", "target")


@dataclass(frozen=True)
class TrainingResult:
    network: TimeAwareNetwork
    train_loss: list[float]
    holdout_ndcg: list[float]
    epoch_seconds: list[float]
    best_epoch: int


@dataclass(frozen=True)
class TrainingSettings:
    """What the estimator's parameters say about training (validated by the estimator)."""

    learning_rate: float
    weight_decay: float
    batch_size: int
    max_epochs: int
    patience: int
    seed: int
    negatives: int | None  # None: full cross-entropy over the catalogue
    device: torch.device
    checkpoint: Path | None = None
    fingerprint: str = ""  # what a checkpoint must match to be resumed


def train(
    network: TimeAwareNetwork,
    sequences: Sequences,
    holdout: Sequences | None,
    settings: TrainingSettings,
    on_epoch: Callable[[int, float, float], None] | None = None,
) -> TrainingResult:
    """AdamW on cross-entropy over the catalogue (full, or against ``negatives`` items drawn
    uniformly per mini-batch); keeps the epoch with the best held-out NDCG@10 (each held-out
    shopper's target, ranked over every item; ties: the lower held-out cross-entropy) and
    stops after ``patience`` epochs without improvement. Without a hold-out it trains
    ``max_epochs`` and keeps the last.

    With ``checkpoint`` the whole training state (weights, optimiser, random generators,
    curves) is written there after every epoch, and a run whose fingerprint matches resumes
    from it: the result is the one an uninterrupted run gives.
    """
    torch.manual_seed(settings.seed)
    generator = torch.Generator().manual_seed(settings.seed)
    device = settings.device
    network.to(device)
    optimiser = torch.optim.AdamW(
        [p for p in network.parameters() if p.requires_grad],
        lr=settings.learning_rate,
        weight_decay=settings.weight_decay,
    )
    state = _TrainingState(network.state_dict())
    if settings.checkpoint is not None and settings.checkpoint.exists():
        state = _resume(settings, network, optimiser, generator)
    n = sequences.item.shape[0]
    for epoch in range(state.next_epoch, settings.max_epochs):
        if state.stopped:
            break
        started = time.perf_counter()
        network.train()
        order = torch.randperm(n, generator=generator)
        total, count = 0.0, 0
        for start in range(0, n, settings.batch_size):
            rows = order[start : start + settings.batch_size]
            batch = sequences.take(rows).trimmed().to(device)
            hidden, _ = network.encode(batch)
            has = batch.target >= 0
            loss = _loss(network, hidden[has], batch.target[has], settings.negatives, generator)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += loss.item() * int(has.sum())
            count += int(has.sum())
        state.losses.append(total / max(count, 1))
        score, held_loss = (
            holdout_scores(network, holdout, settings.batch_size, device)
            if holdout is not None
            else (float("nan"), float("nan"))
        )
        state.scores.append(score)
        state.seconds.append(time.perf_counter() - started)
        if on_epoch is not None:
            on_epoch(epoch, state.losses[-1], score)
        # Ties in NDCG (a saturated hold-out) go to the lower held-out cross-entropy.
        if holdout is None or (score, -held_loss) > (state.best, -state.best_loss):
            state.best, state.best_loss, state.best_epoch = score, held_loss, epoch
            state.best_state = copy.deepcopy(network.state_dict())
        state.stopped = epoch - state.best_epoch >= settings.patience
        state.next_epoch = epoch + 1
        if settings.checkpoint is not None:
            _save_checkpoint(settings, state, network, optimiser, generator)
    network.load_state_dict(state.best_state)
    network.eval()
    return TrainingResult(network, state.losses, state.scores, state.seconds, state.best_epoch)


def _loss(
    network: TimeAwareNetwork,
    hidden: torch.Tensor,
    target: torch.Tensor,
    negatives: int | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """Cross-entropy of the next items: over every item, or over the target and
    ``negatives`` uniformly drawn items (shared by the batch; a draw that hits a row's own
    target is masked for that row). Uniform draws need no log-Q correction: every
    candidate's proposal probability is the same constant."""
    if negatives is None or negatives >= network.config.n_items:
        return functional.cross_entropy(network.logits(hidden), target)
    items = network.item.weight[1:]
    drawn = torch.randint(network.config.n_items, (negatives,), generator=generator)
    drawn = drawn.to(hidden.device)
    positive = (hidden * items[target]).sum(dim=1, keepdim=True)
    negative = hidden @ items[drawn].T
    negative = negative.masked_fill(drawn[None, :] == target[:, None], float("-inf"))
    logits = torch.cat([positive, negative], dim=1)
    return functional.cross_entropy(logits, torch.zeros_like(target))


@dataclass
class _TrainingState:
    best_state: dict[str, Any]
    best: float = -1.0
    best_loss: float = float("inf")
    best_epoch: int = 0
    next_epoch: int = 0
    stopped: bool = False
    losses: list[float] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _save_checkpoint(
    settings: TrainingSettings,
    state: _TrainingState,
    network: TimeAwareNetwork,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
) -> None:
    """Write atomically (a temporary file, then a rename): a crash leaves the last one."""
    assert settings.checkpoint is not None
    payload = {
        "fingerprint": settings.fingerprint,
        "network": network.state_dict(),
        "optimiser": optimiser.state_dict(),
        "generator": generator.get_state(),
        "torch_rng": torch.get_rng_state(),
        "best_state": state.best_state,
        "best": state.best,
        "best_loss": state.best_loss,
        "best_epoch": state.best_epoch,
        "next_epoch": state.next_epoch,
        "stopped": state.stopped,
        "losses": state.losses,
        "scores": state.scores,
        "seconds": state.seconds,
    }
    settings.checkpoint.parent.mkdir(parents=True, exist_ok=True)
    partial = settings.checkpoint.with_name(settings.checkpoint.name + ".partial")
    torch.save(payload, partial)
    partial.replace(settings.checkpoint)


def _resume(
    settings: TrainingSettings,
    network: TimeAwareNetwork,
    optimiser: torch.optim.Optimizer,
    generator: torch.Generator,
) -> _TrainingState:
    """The state of a checkpoint (read with ``weights_only``: tensors and plain values)."""
    assert settings.checkpoint is not None
    payload = torch.load(settings.checkpoint, weights_only=True)
    if payload.get("fingerprint") != settings.fingerprint:
        raise DataValidationError(
            f"{settings.checkpoint}: the checkpoint was written for other data or parameters; "
            "remove it or choose another checkpoint path."
        )
    network.load_state_dict(payload["network"])
    optimiser.load_state_dict(payload["optimiser"])
    generator.set_state(payload["generator"])
    torch.set_rng_state(payload["torch_rng"])
    return _TrainingState(
        best_state=payload["best_state"],
        best=float(payload["best"]),
        best_loss=float(payload.get("best_loss", float("inf"))),
        best_epoch=int(payload["best_epoch"]),
        next_epoch=int(payload["next_epoch"]),
        stopped=bool(payload["stopped"]),
        losses=[float(v) for v in payload["losses"]],
        scores=[float(v) for v in payload["scores"]],
        seconds=[float(v) for v in payload["seconds"]],
    )


def holdout_scores(
    network: TimeAwareNetwork, holdout: Sequences, batch_size: int, device: torch.device
) -> tuple[float, float]:
    """Mean NDCG@10 and cross-entropy of the held-out items, from the newest position."""
    network.eval()
    gains, losses = [], []
    with torch.no_grad():
        for start in range(0, holdout.item.shape[0], batch_size):
            rows = torch.arange(start, min(start + batch_size, len(holdout.item)))
            batch = holdout.take(rows).trimmed().to(device)
            hidden, _ = network.encode(batch)
            logits = network.logits(hidden[:, -1])
            target = batch.target[:, -1]
            chosen = logits.gather(1, target[:, None])
            rank = (logits > chosen).sum(dim=1)
            gains.append(torch.where(rank < 10, 1.0 / torch.log2(rank + 2.0), 0.0).cpu())
            losses.append(functional.cross_entropy(logits, target, reduction="none").cpu())
    if not gains:
        return 0.0, 0.0
    return float(torch.cat(gains).mean()), float(torch.cat(losses).double().mean())
