"""TimeAwareTransformer: a sequential model whose attention knows how long ago each event was.

Why: decayed profiles weigh the past by age alone and forget order; a sequence model (SASRec)
reads order but not time, so an event from last night and one from last year sit one step
apart. This model reads both: a causal transformer over the shopper's events (item, category,
event type) whose attention subtracts a learned per-head decay on the log time gap between
each event and the instant it predicts for (see :mod:`decayrec.models._transformer_torch`).
Heads start with short and long memories and training sets them.

Training: each shopper's latest ``max_length`` events, every position predicting the next
event with full cross-entropy over the catalogue, AdamW, seeded; ``validation_users``
shoppers keep their events after an instant near the end of the log out, and early stopping
reads the NDCG@10 (ranked over all items) of their first event after it, asked at that
instant, as a temporal split asks. Scoring and explaining need torch too (the ``torch``
extra); saving writes the weights as plain arrays (no pickle).

Hybrid head (``hybrid=True``, :mod:`decayrec.models._transformer_hybrid`): the final score
adds a :class:`~decayrec.models.LearnedDecay`'s log-probabilities to the logits, weighted by a
gate learned from the shopper's state (how many events, how long since the newest), so short
histories lean on the decay profile and long ones on the sequence.

Ablations (``decayrec evaluate`` reports both beside the model): ``-no-time``
(``time_bias=False``: every decay rate fixed at 0, plain SASRec attention with the same
embeddings) and ``-no-hybrid`` (``hybrid=False``: the transformer's logits alone).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.data.schema import EventType
from decayrec.errors import DataValidationError, InvalidParameterError, MissingExtraError
from decayrec.models._learned_history import request_windows
from decayrec.models._params import check_non_negative_int, check_positive_int
from decayrec.models._progress import EpochProgress
from decayrec.models._ranking import PriorFn
from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray

if TYPE_CHECKING:
    import torch

    from decayrec.models._transformer_torch import NetworkConfig, Sequences, TrainingSettings
    from decayrec.models.learned import LearnedDecay

__all__ = ["TimeAwareTransformer"]

_PREFIX: Final = "transformer."
_TRAINING: Final = "transformer.training."
_HYBRID: Final = "hybrid."
_GATE: Final = "gate.weights"
_SCORE_BATCH: Final = 256
#: The hold-out asks at the instant before this share of the log's latest events.
_HOLDOUT_SHARE: Final = 0.1


@dataclass(frozen=True)
class _HoldOut:
    """Held-out shoppers asked at ``instant`` for their first event after it.

    ``sequences`` are their events up to ``instant`` (each row's last ``next_seconds`` is
    ``instant``), ``targets`` the grouped positions of the events asked for and ``dropped``
    those of every event after ``instant`` kept out of training (targets included).
    """

    sequences: Sequences
    targets: npt.NDArray[np.intp]
    dropped: npt.NDArray[np.intp]
    instant: float


class TimeAwareTransformer(Recommender):
    """Causal transformer over each shopper's events with a learned time-decay attention bias.

    Parameters
    ----------
    max_length
        How many of a shopper's latest events the model reads.
    dim, heads, layers
        Embedding width (a multiple of ``heads``), attention heads per layer, layers.
    dropout
        Dropout on embeddings, attention weights and residual branches while training.
    time_bias
        Learn a decay rate per head on the log time gap (``False``: plain SASRec attention,
        the ablation).
    hybrid
        Blend in a :class:`~decayrec.models.LearnedDecay` through a learned gate (``False``:
        the transformer alone, the ablation).
    decay_params
        Parameters of that LearnedDecay (``None``: its defaults).
    negatives
        ``None``: full cross-entropy over the catalogue (the SASRec+ finding: it beats one
        sampled negative). An integer ``k``: a sampled softmax against ``k`` items drawn
        uniformly per mini-batch, for catalogues where the full one is too slow.
    checkpoint
        A file to write the training state to after every epoch; a later ``fit`` with the
        same parameters and log resumes from it (and gives the uninterrupted result).
    learning_rate, weight_decay, batch_size, max_epochs, patience
        AdamW's step and decoupled weight decay, shoppers per mini-batch, the epoch limit and
        the epochs without held-out improvement before stopping.
    validation_users
        How many shoppers (drawn with ``seed``) keep their events after the instant before
        the log's latest 10% out of training, for early stopping and the hybrid gate (asked
        at that instant for their first event after it); 0 trains ``max_epochs`` epochs on
        everything.
    seed
        Seeds initialisation, batch order and the held-out draw.
    device
        ``"auto"`` (a GPU when torch sees one, else the CPU), ``"cpu"`` or ``"cuda"``.
    threads
        Torch CPU threads while training and scoring; ``None``: one per core (the output
        layer over the whole catalogue is one large matrix product that scales with cores).
    progress
        Show a progress bar per epoch while training.
    """

    name: ClassVar[str] = "time-aware-transformer"
    #: It learns its decay (the attention's rates), so no half-life is tuned on a grid.
    learns_decay: ClassVar[bool] = True
    ablations: ClassVar[Mapping[str, Mapping[str, Any]]] = {
        "no-time": {"time_bias": False},
        "no-hybrid": {"hybrid": False},
    }
    #: Training a network (and its ablations) takes minutes: evaluate runs it when asked.
    in_default_set: ClassVar[bool] = False

    def __init__(
        self,
        *,
        max_length: int = 50,
        dim: int = 64,
        heads: int = 2,
        layers: int = 2,
        dropout: float = 0.2,
        time_bias: bool = True,
        hybrid: bool = True,
        decay_params: Mapping[str, Any] | None = None,
        negatives: int | None = None,
        checkpoint: Path | str | None = None,
        learning_rate: float = 2e-3,
        weight_decay: float = 0.01,
        batch_size: int = 128,
        max_epochs: int = 40,
        patience: int = 5,
        validation_users: int = 2000,
        seed: int = 0,
        device: str = "auto",
        threads: int | None = None,
        progress: bool = False,
        popularity_half_life: timedelta | None = timedelta(days=7),
    ) -> None:
        super().__init__(half_life=None)
        self.max_length = max_length
        self.dim = dim
        self.heads = heads
        self.layers = layers
        self.dropout = dropout
        self.time_bias = time_bias
        self.hybrid = hybrid
        self.decay_params = dict(decay_params) if decay_params is not None else None
        self.negatives = negatives
        self.checkpoint = str(checkpoint) if checkpoint is not None else None
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.validation_users = validation_users
        self.seed = seed
        self.device = device
        self.threads = threads
        self.progress = progress
        self.popularity_half_life = popularity_half_life

    # ------------------------------------------------------------------ parameters
    def _params(self) -> dict[str, Any]:
        """Constructor arguments only (the base class' kernel and half-life are not used)."""
        accepted = inspect.signature(type(self).__init__).parameters
        return {key: value for key, value in super()._params().items() if key in accepted}

    @property
    def display_name(self) -> str:
        """:attr:`name`, with the suffix of the ablation these parameters make, if any."""
        return self.name + "".join(
            f"-{suffix}"
            for suffix, overrides in self.ablations.items()
            if all(getattr(self, key) == value for key, value in overrides.items())
        )

    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__
        for name in (
            "max_length", "dim", "heads", "layers", "batch_size", "max_epochs", "patience",
        ):  # fmt: skip
            check_positive_int(getattr(self, name), name, owner)
        check_positive_int(self.negatives, "negatives", owner, optional=True)
        check_positive_int(self.threads, "threads", owner, optional=True)
        if self.dim % self.heads:
            raise InvalidParameterError(
                f"The 'dim' parameter of {owner} must be a multiple of 'heads' ({self.heads}). "
                f"Got {self.dim!r} instead."
            )
        for name in ("validation_users", "seed"):
            check_non_negative_int(getattr(self, name), name, owner)
        if not 0.0 <= float(self.dropout) < 1.0:
            raise InvalidParameterError(
                f"The 'dropout' parameter of {owner} must be in [0, 1). Got {self.dropout!r}."
            )
        for name in ("learning_rate", "weight_decay"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise InvalidParameterError(
                    f"The '{name}' parameter of {owner} must be a non-negative number. "
                    f"Got {value!r} instead."
                )
        if self.learning_rate == 0:
            raise InvalidParameterError(f"The 'learning_rate' parameter of {owner} must be > 0.")
        if self.device not in ("auto", "cpu", "cuda"):
            raise InvalidParameterError(
                f"The 'device' parameter of {owner} must be 'auto', 'cpu' or 'cuda'. "
                f"Got {self.device!r} instead."
            )
        if self.decay_params is not None and not isinstance(self.decay_params, Mapping):
            raise InvalidParameterError(
                f"The 'decay_params' parameter of {owner} must be a mapping of LearnedDecay "
                f"parameters or None. Got {self.decay_params!r} instead."
            )
        for name in ("time_bias", "hybrid", "progress"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidParameterError(
                    f"The '{name}' parameter of {owner} must be True or False. "
                    f"Got {getattr(self, name)!r} instead."
                )
        self.popularity_half_life_seconds_ = self._duration(
            "popularity_half_life", self.popularity_half_life, none_means="all-time popularity"
        )

    def _popularity_half_life_seconds(self) -> float:
        return self.popularity_half_life_seconds_

    # ------------------------------------------------------------------ fitting
    def _fit_state(self) -> None:
        torch = _torch(type(self).__name__)
        from decayrec.models._transformer_torch import TimeAwareNetwork, train

        restored: Mapping[str, Any] | None = getattr(self, "_restored", None)
        if restored is not None:
            # Initialising draws random weights: on load, from a forked generator, so that
            # loading leaves the caller's torch random state as it was.
            with torch.random.fork_rng(devices=[]):
                network = TimeAwareNetwork(self._network_config())
            weights = {
                name.removeprefix(_PREFIX): torch.from_numpy(np.array(value))
                for name, value in restored.items()
                if name.startswith(_PREFIX) and not name.startswith(_TRAINING)
            }
            network.load_state_dict(weights)
            self.network_ = network.eval()
            if self.hybrid:
                self._restore_hybrid(restored)
            return
        torch.manual_seed(self.seed)  # the initial weights
        network = TimeAwareNetwork(self._network_config())
        train_sequences, holdout = self._training_sequences()
        if train_sequences is None:
            raise DataValidationError(
                f"{type(self).__name__}.fit needs shoppers with at least two events."
            )
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(self.threads or os.cpu_count() or 1)
        try:
            with EpochProgress(
                self.progress,
                self.max_epochs,
                label=f"{self.name} epochs",
                metric="held-out ndcg@10",
            ) as on_epoch:
                held = None if holdout is None else holdout.sequences
                result = train(network, train_sequences, held, self._settings(), on_epoch)
            self.network_ = result.network.to("cpu")
            self.training_: dict[str, Any] = {
                "train_loss": result.train_loss,
                "holdout_ndcg@10": result.holdout_ndcg,
                "epoch_seconds": result.epoch_seconds,
                "best_epoch": result.best_epoch,
            }
            if self.hybrid:
                self._fit_hybrid(holdout)
        finally:
            torch.set_num_threads(previous_threads)

    # ------------------------------------------------------------------ hybrid head
    def _decay_model(self) -> LearnedDecay:
        from decayrec.models.learned import LearnedDecay

        params = {"progress": self.progress, **(self.decay_params or {})}
        return LearnedDecay.from_params(params)

    def _fit_hybrid(self, holdout: _HoldOut | None) -> None:
        """The gate on the hold-out, then the serving decay model on the whole log."""
        from decayrec.models._transformer_hybrid import fit_gate, gate_features, initial_gate

        weights = initial_gate()  # a = g = 1 without a hold-out
        if holdout is not None:
            # The decay model for the gate has not seen the held-out shoppers' later events.
            keep = np.ones(self.events_.n_events, dtype=bool)
            keep[self.user_events_.order[holdout.dropped]] = False
            gate_model = self._decay_model().fit(self.events_.filter(keep))
            columns = self.user_events_.columns
            users = columns.user[holdout.targets].astype(np.int32)
            at = np.full(len(users), holdout.instant)
            logits = self._logits(holdout.sequences)
            log_decay = self._log_decay(gate_model, self._numbering(gate_model), users, at)
            n_events, hours = _state(holdout.sequences)
            targets = columns.item[holdout.targets].astype(np.int64)
            weights = fit_gate(logits, log_decay, targets, gate_features(n_events, hours))
        self.gate_weights_ = weights
        self.training_["gate_held_out_events"] = 0 if holdout is None else len(holdout.targets)
        self.decay_model_ = self._decay_model().fit(self.events_)
        self._decay_numbering = self._numbering(self.decay_model_)

    def _restore_hybrid(self, arrays: Mapping[str, Any]) -> None:
        model = self._decay_model()
        model.events_ = self.events_
        model._load_state(
            {
                name.removeprefix(_HYBRID): value
                for name, value in arrays.items()
                if name.startswith(_HYBRID)
            }
        )
        self.decay_model_ = model
        self.gate_weights_ = np.asarray(arrays[_GATE], dtype=np.float64).reshape(2, -1)
        self._decay_numbering = self._numbering(model)

    def _numbering(self, model: LearnedDecay) -> tuple[IndexArray, IndexArray]:
        """This model's users and items in ``model``'s numbering (-1: not there)."""
        users = self.events_.users.raw(np.arange(len(self.events_.users)))
        items = self.events_.items.raw(np.arange(self.n_items))
        return model.events_.users.indices(users), model.events_.items.indices(items)

    def _log_decay(
        self, model: LearnedDecay, numbering: tuple[IndexArray, IndexArray], users: IndexArray,
        at: FloatArray,
    ) -> FloatArray:  # fmt: skip
        """``log P_decay`` of every item of this model for ``users`` at ``at`` (floored)."""
        from decayrec.models._transformer_hybrid import FLOOR

        own_users, own_items = numbering
        probability, _ = model._batch_scores(own_users[users], at)
        out = np.full((len(users), self.n_items), FLOOR)
        present = own_items >= 0
        out[:, present] = np.maximum(probability[:, own_items[present]], FLOOR)
        logged: FloatArray = np.log(out)
        return logged

    def _logits(self, batch: Sequences) -> FloatArray:
        torch = _torch(type(self).__name__)
        with torch.no_grad():
            hidden, _ = self.network_.encode(batch)
            out: FloatArray = self.network_.row_logits(hidden[:, -1]).double().numpy()
        return out

    def _network_config(self) -> NetworkConfig:
        from decayrec.models._transformer_torch import NetworkConfig

        return NetworkConfig(
            n_items=self.n_items,
            n_categories=len(self.events_.categories),
            n_event_types=len(EventType),
            max_length=self.max_length,
            dim=self.dim,
            heads=self.heads,
            layers=self.layers,
            dropout=float(self.dropout),
            time_bias=self.time_bias,
        )

    def _settings(self) -> TrainingSettings:
        from decayrec.models._transformer_torch import TrainingSettings

        return TrainingSettings(
            learning_rate=float(self.learning_rate),
            weight_decay=float(self.weight_decay),
            batch_size=self.batch_size,
            max_epochs=self.max_epochs,
            patience=self.patience,
            seed=self.seed,
            negatives=self.negatives,
            device=self._torch_device(),
            checkpoint=Path(self.checkpoint) if self.checkpoint is not None else None,
            fingerprint=self._fingerprint(),
        )

    def _fingerprint(self) -> str:
        """What a checkpoint must match: the parameters that shape training, and the log."""
        ignored = {"max_epochs", "patience", "progress", "checkpoint", "threads", "device"}
        params = {k: v for k, v in self.get_params().items() if k not in ignored}
        digest = hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode())
        columns = self.user_events_.columns
        for array in (columns.user, columns.item, columns.event_type, columns.seconds):
            digest.update(np.ascontiguousarray(array).tobytes())
        return digest.hexdigest()

    def _torch_device(self) -> torch.device:
        import torch

        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)

    def _training_sequences(self) -> tuple[Sequences | None, _HoldOut | None]:
        """Every shopper's latest events as one sequence, and the hold-out (if any).

        Position ``k`` of a sequence predicts the event after it, so a shopper's segment of
        ``m`` events gives ``min(m - 1, max_length)`` targets. The hold-out mirrors a
        temporal split: ``validation_users`` shoppers with at least two events up to the
        instant ``T`` before the latest :data:`_HOLDOUT_SHARE` of events and one after it
        lose their events after ``T`` from training; each is asked at ``T`` for the first
        of them. Asking at the target's own time instead (the leave-last-out shape) would
        hide what the temporal protocol asks: how the sequence carries into a later visit.
        """
        indptr = self.user_events_.indptr
        starts, ends = indptr[:-1].astype(np.int64), indptr[1:].astype(np.int64)
        seconds = self.user_events_.columns.seconds
        instant = float(np.quantile(seconds, 1.0 - _HOLDOUT_SHARE)) if len(seconds) else 0.0
        up_to = np.concatenate([[0], np.cumsum(seconds <= instant)])
        cuts = starts + (up_to[ends] - up_to[starts])  # first position after the instant
        rng = np.random.default_rng(self.seed)
        candidates = np.flatnonzero((cuts - starts >= 2) & (cuts < ends))
        n_holdout = min(self.validation_users, len(candidates) // 5)
        held = np.sort(rng.choice(candidates, size=n_holdout, replace=False))
        train_ends = ends.copy()
        train_ends[held] = cuts[held]
        trainable = np.flatnonzero(train_ends - starts >= 2)
        if not len(trainable):
            return None, None
        # Inputs are the segment minus its last event; targets are shifted by one.
        train = self._sequences(starts[trainable], train_ends[trainable] - 1, with_targets=True)
        if not n_holdout:
            return train, None
        targets = cuts[held].astype(np.intp)  # grouped positions of the held-out targets
        sequences = self._sequences(starts[held], cuts[held], with_targets=False)
        sequences.next_seconds[:, -1] = instant
        sequences.target[:, -1] = _as_tensor(self.user_events_.columns.item[targets])
        owner = self.user_events_.columns.user  # segment u holds shopper u's events
        is_held = np.zeros(len(starts), dtype=bool)
        is_held[held] = True
        dropped = np.flatnonzero(is_held[owner] & (np.arange(len(owner)) >= cuts[owner]))
        return train, _HoldOut(sequences, targets, dropped, instant)

    def _sequences(
        self, starts: npt.NDArray[np.int64], ends: npt.NDArray[np.int64], *, with_targets: bool
    ) -> Sequences:
        """Right-aligned sequences of grouped events ``[max(start, end - L), end)`` per row.

        ``next_seconds`` and (``with_targets``) ``target`` come from the event after each
        position, which lies inside the row's segment for every position but the last one of
        a segment ending at ``end`` (there: the event at ``end``).
        """
        from decayrec.models._transformer_torch import Sequences

        length = self.max_length
        counts = np.minimum(ends - starts, length)
        rows = np.repeat(np.arange(len(starts)), counts)
        offset = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        positions = np.repeat(ends - counts, counts) + offset
        column = np.repeat(length - counts, counts) + offset
        columns = self.user_events_.columns
        arrays = _padded(len(starts), length)
        self._fill(arrays, rows, column, positions)
        following = positions + 1  # the next grouped event: same shopper by construction
        arrays["next_seconds"][rows, column] = columns.seconds[following]
        if with_targets:
            arrays["target"][rows, column] = columns.item[following]
        return Sequences.from_arrays(arrays)

    def _fill(
        self,
        arrays: dict[str, npt.NDArray[Any]],
        rows: npt.NDArray[np.int64],
        column: npt.NDArray[np.int64],
        positions: npt.NDArray[np.int64],
    ) -> None:
        """Codes of the events at ``positions`` into cells ``(rows, column)`` (1-based)."""
        columns = self.user_events_.columns
        n_categories = len(self.events_.categories)
        category = columns.category[positions]
        arrays["item"][rows, column] = columns.item[positions] + 1
        arrays["category"][rows, column] = np.where(category >= 0, category + 1, n_categories + 1)
        arrays["event_type"][rows, column] = columns.event_type[positions].astype(np.int64) + 1
        arrays["seconds"][rows, column] = columns.seconds[positions]

    def _request_sequences(self, users: IndexArray, at: FloatArray) -> tuple[Sequences, Any]:
        """The latest events of known ``users`` at or before their ``at``, newest last."""
        from decayrec.models._transformer_torch import Sequences

        window = request_windows(self.user_events_, users, at, self.max_length, 0.0)
        width = window.width
        pad = self.max_length - width
        cells = window.valid
        rows, cols = np.nonzero(cells)
        arrays = _padded(len(users), self.max_length)
        positions = window.positions[rows, cols]
        self._fill(arrays, rows, cols + pad, positions)
        seconds = arrays["seconds"]
        arrays["next_seconds"][:, :-1] = seconds[:, 1:]
        arrays["next_seconds"][:, -1] = at
        return Sequences.from_arrays(arrays), window

    # ------------------------------------------------------------------ scoring
    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        out = np.empty((len(user_index), self.n_items))
        for start in range(0, len(user_index), _SCORE_BATCH):
            part = slice(start, start + _SCORE_BATCH)
            batch, _ = self._request_sequences(user_index[part], at[part])
            out[part] = self._logits(batch)
            if self.hybrid:
                a, g = self._gate(batch)
                out[part] *= a[:, None]
                out[part] += g[:, None] * self._log_decay_known(user_index[part], at[part])
        return out

    def _gate(self, batch: Sequences) -> tuple[FloatArray, FloatArray]:
        from decayrec.models._transformer_hybrid import gate_features, gate_values

        return gate_values(self.gate_weights_, gate_features(*_state(batch)))

    def _log_decay_known(self, users: IndexArray, at: FloatArray) -> FloatArray:
        return self._log_decay(self.decay_model_, self._decay_numbering, users, at)

    def _category_scores(
        self, users: IndexArray, at: FloatArray, exclude: str
    ) -> tuple[FloatArray, PriorFn | None]:
        """A category's probability: the sum of its items' next-event probabilities."""
        scores, _ = self._batch_scores(users, at)
        self._apply_exclusions(scores, users, at, exclude)
        finite = np.isfinite(scores)
        top = np.where(finite, scores, -np.inf).max(axis=1, keepdims=True)
        probability = np.where(finite, np.exp(scores - np.where(np.isfinite(top), top, 0.0)), 0.0)
        n_cats = len(self.events_.categories)
        has = np.flatnonzero(self.item_category_ >= 0)
        onehot = sp.csr_matrix(
            (np.ones(len(has)), (has, self.item_category_[has])), shape=(self.n_items, n_cats)
        )
        return np.asarray(probability @ onehot), None

    # ------------------------------------------------------------------ explaining
    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        """The score, its parts (the logit, and with the hybrid head the gate and the decay
        model's log-probability: ``score = sequence_weight · logit + decay_weight ·
        log_probability``), and the events
        the newest position attended to most.

        An event's ``contribution`` is its attention weight in the last layer, averaged over
        heads; ``decay`` is the time bias' factor ``(1 + gap / 1 h)^(-r)`` averaged likewise.
        """
        torch = _torch(type(self).__name__)
        from decayrec.models._transformer_torch import GAP_UNIT_SECONDS

        users, instants = np.array([user], dtype=np.int32), np.array([at])
        batch, window = self._request_sequences(users, instants)
        with torch.no_grad():
            hidden, attention = self.network_.encode(batch, keep_attention=True)
            logit = float(self.network_.row_logits(hidden[:, -1])[0, item])
        components = {"sequence_logit": logit}
        score = logit
        if self.hybrid:
            a, g = (float(values[0]) for values in self._gate(batch))
            log_decay = float(self._log_decay_known(users, instants)[0, item])
            components |= {
                "sequence_weight": a,
                "decay_weight": g,
                "decay_log_probability": log_decay,
            }
            score = a * logit + g * log_decay
        pad = self.max_length - window.width
        cells = window.valid[0]
        weights = attention[-1][0, :, -1, pad:].mean(dim=0).double().numpy()[cells]
        rates = self.network_.decay_rates()[-1]
        ages = window.age_days[0][cells] * 86_400.0
        decay = np.mean((1.0 + ages[None, :] / GAP_UNIT_SECONDS) ** -rates[:, None], axis=0)
        positions = window.positions[0][cells]
        return self._item_explanation(
            self.events_.users.raw([user])[0],
            item,
            at,
            score=score,
            components=components,
            events=self._describe_events(
                self.columns_, self.user_events_.order[positions], at, decay, weights
            ),
        )

    # ------------------------------------------------------------------ reading the fit
    @property
    def decay_rates_(self) -> FloatArray:
        """Learned ``r_h`` per layer and head: larger forgets faster (0: no time bias)."""
        self._check_fitted()
        return self.network_.decay_rates()

    # ------------------------------------------------------------------ persistence
    def _state_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        state = self.network_.state_dict()
        arrays = {_PREFIX + name: value.detach().cpu().numpy() for name, value in state.items()}
        if self.hybrid:
            arrays[_GATE] = np.asarray(self.gate_weights_, dtype=np.float64).reshape(-1)
            for name, value in self.decay_model_._state_arrays().items():
                arrays[_HYBRID + name] = value
        for key, values in getattr(self, "training_", {}).items():
            arrays[f"{_TRAINING}{key}"] = np.atleast_1d(np.asarray(values, dtype=np.float64))
        return arrays

    def _load_state(self, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
        self._validate_params()
        self._restored = arrays
        try:
            self._refresh()
        finally:
            del self._restored
        training = {
            name.removeprefix(_TRAINING): arrays[name]
            for name in arrays
            if name.startswith(_TRAINING)
        }
        if training:
            self.training_ = {key: [float(v) for v in value] for key, value in training.items()}
            for key in ("best_epoch", "gate_held_out_events"):
                if key in training:
                    self.training_[key] = int(training[key][0])


def _torch(owner: str) -> Any:
    try:
        import torch
    except ImportError as exc:
        raise MissingExtraError(
            f"{owner} needs PyTorch: pip install 'decayrec[torch]' ({exc})."
        ) from exc
    return torch


def _padded(n_rows: int, length: int) -> dict[str, npt.NDArray[Any]]:
    """Empty right-aligned sequence arrays: codes 0 (padding), no targets (-1)."""
    shape = (n_rows, length)
    return {
        "item": np.zeros(shape, np.int64),
        "category": np.zeros(shape, np.int64),
        "event_type": np.zeros(shape, np.int64),
        "seconds": np.zeros(shape),
        "next_seconds": np.zeros(shape),
        "target": np.full(shape, -1, np.int64),
    }


def _state(batch: Sequences) -> tuple[npt.NDArray[np.int64], FloatArray]:
    """Events read and hours from the newest to the instant predicted, per row."""
    n_events = (batch.item > 0).sum(dim=1).numpy()
    hours = ((batch.next_seconds[:, -1] - batch.seconds[:, -1]) / 3600.0).numpy()
    return n_events, hours


def _as_tensor(values: npt.NDArray[Any]) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(values))
