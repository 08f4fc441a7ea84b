"""The fitted parameters of :class:`~decayrec.models.learned.LearnedDecay`, as NumPy arrays.

What: every learned number (half-life offsets per category and event type, event-type weights,
the per-user adjustment network, the repeat cycles, the mixture of evidence sources) and the
NumPy forward pass that turns a history window into per-event contributions. Scoring, saving
and loading use only this module, so a fitted model serves without torch; the torch module in
``_learned_torch`` computes the same quantities and hands its values over here.

The model (``cat`` includes one extra "no category" slot; ages in days)::

    log h_e   = g + δ[cat_e] + τ[type_e] + a_u,      a_u = A · tanh(MLP(features_u))
    c_e       = w[type_e] · 2^(-age_e / h_e)                          (decayed evidence)
    r_e       = ρ[cat_e] · LogNormal(age_e; μ[cat_e], σ)   for purchases  (due repeat)
    λ_i       = Σ_e c_e · (α_cat q_i [cat_e = cat_i] + α_item [item_e = i] + α_sim S[item_e, i])
                + β s_u[cat_i] q_i + Σ_e r_e [item_e = i]     (e: events before the visit)
    s_u       = (1 - κ) π + κ m_u                   (where u's new interests start)
    P(i | u)  = λ_i / Σ_j λ_j                         (no visit under way)
    P(i | u)  = (1 - π_s) λ_i / Σ_j λ_j + π_s μ_i / Σ_j μ_j   (a visit under way)

where ``μ_i`` routes the *undecayed* weights ``w[type_e]`` of the visit's own events like
``λ_i`` but with a mixture ``α_s`` of its own (no exploration, no repeats).

The session mixture is short-term interest: while a visit is under way (events linked to
now by gaps of at most ``session_gap``) its own events predict with share ``π_s``, and
``λ`` reads only the events *before* the visit (``separate_visit``; fits before it let
``λ`` read the visit too), so that the per-category ``h`` describe how interest carries
from one visit to the next, not how a session continues, and every event of a visit, not
only its first, tells how it does. ``q_i = (1 - ρ) q_i^all + ρ q_i^recent`` is the item's
share of its category's events (all of them, and decayed with ``popularity_half_life`` up to
now; ``ρ`` is learned), ``π`` the learned distribution of where the shop's new interests
start (the categories' event shares, tilted per category), ``m_u`` the user's own category
mix over the window (undecayed type weights, however old), ``κ`` the learned share of new
interests that start there, and ``S`` the row-normalised item-item similarity; every term
sums over items in closed form, so the normaliser is exact over the whole catalogue (a full
softmax without touching every item).
"""

from __future__ import annotations

from dataclasses import MISSING, dataclass, fields
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from decayrec.data.schema import EventType
from decayrec.models._events import Columns
from decayrec.models._learned_history import HistoryWindow
from decayrec.types import FloatArray, IndexArray

__all__ = ["N_EVENT_TYPES", "SOURCES", "DecayParameters", "lognormal_density"]

N_EVENT_TYPES: Final = len(EventType)
#: Evidence sources mixed by ``mixture`` (in this order).
SOURCES: Final = ("category", "item", "similar_items")
_LN2: Final = float(np.log(2.0))
_SQRT_2PI: Final = float(np.sqrt(2.0 * np.pi))


def lognormal_density(age_days: FloatArray, log_cycle: FloatArray, log_sd: float) -> FloatArray:
    """Log-normal density of a repeat ``age_days`` after a purchase (0 at age 0)."""
    sd = float(np.exp(log_sd))
    safe = np.maximum(age_days, 1e-9)
    z = (np.log(safe) - log_cycle) / sd
    density: FloatArray = np.where(
        age_days > 0, np.exp(-0.5 * z * z) / (safe * sd * _SQRT_2PI), 0.0
    )
    return density


@dataclass
class DecayParameters:
    """Learned values; see the module docstring for the formula they plug into.

    ``category_offset``, ``repeat_rate`` and ``repeat_log_cycle`` have ``n_categories + 1``
    entries (the last: items without a category); type arrays have one entry per
    :class:`EventType`. ``decays = False`` is the decay-off variant: every ``c_e = w[type]``
    and no repeat term.
    """

    decays: bool
    global_log_half_life: float  # g, natural log of days
    session_share: float  # π_s in [0, 1)
    category_offset: FloatArray  # δ
    type_offset: FloatArray  # τ
    type_weight: FloatArray  # w > 0
    mixture: FloatArray  # α (3,), sums to 1
    session_mixture: FloatArray  # α_s (3,): the visit under way's routing, sums to 1
    exploration: float  # β > 0
    exploration_share: FloatArray  # π (slots,), sums to 1
    recent_share: float  # ρ: weight of recent popularity in q
    repeat_rate: FloatArray  # ρ >= 0
    repeat_log_cycle: FloatArray  # μ
    repeat_log_sd: float  # log σ
    hidden_weight: FloatArray  # (features, hidden)
    hidden_bias: FloatArray  # (hidden,)
    output_weight: FloatArray  # (hidden,)
    output_bias: float
    feature_mean: FloatArray
    feature_scale: FloatArray
    max_log_adjust: float  # A
    familiar_share: float = 0.0  # κ: new interests start in the shopper's own category mix
    #: λ reads only the events before the visit under way (False: fitted before this existed,
    #: when λ read the visit too and only a visit's first event trained it).
    separate_visit: bool = False

    # ------------------------------------------------------------------ forward pass
    def user_adjustment(self, features: FloatArray) -> FloatArray:
        """``a_u`` per row: the log-factor applied to every half-life of that user."""
        if self.max_log_adjust == 0.0 or not len(features):
            return np.zeros(len(features))
        scaled = (features - self.feature_mean) / self.feature_scale
        reference = np.tanh(np.tanh(self.hidden_bias) @ self.output_weight + self.output_bias)
        # einsum, not BLAS: a row's result must not depend on the size of its batch.
        hidden = np.tanh(np.einsum("bf,fh->bh", scaled, self.hidden_weight) + self.hidden_bias)
        raw = np.tanh(np.einsum("bh,h->b", hidden, self.output_weight) + self.output_bias)
        adjust: FloatArray = self.max_log_adjust * (raw - reference)
        return adjust

    def log_half_life_days(
        self, category: IndexArray, event_type: npt.NDArray[np.integer[Any]], adjust: FloatArray
    ) -> FloatArray:
        """``log h`` for events of ``category`` / ``event_type`` of users adjusted by ``adjust``."""
        log_h: FloatArray = (
            self.global_log_half_life
            + self.category_offset[category]
            + self.type_offset[event_type]
            + adjust
        )
        return log_h

    def evidence(
        self,
        window: HistoryWindow,
        columns: Columns,
        features: FloatArray,
        no_category: int,
        ordering_scale: float = 1.0,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Per-event ``(decay, c, r)`` of a window, each ``(rows, width)`` and 0 where padded.

        ``decay`` is the kernel ``2^(-age / h)``, ``c`` the evidence and ``r`` the due-repeat
        intensity; with ``separate_visit`` all three are 0 on the visit under way, whose
        events only the session part reads. With ``ordering_scale`` ``f != 1`` a row's events
        share its total evidence ``Σ c`` (its reliance on history against new interests, as
        fitted) in proportion to ``w · 2^(-age / (f · h))`` instead, and ``decay`` is that
        kernel.
        """
        if self.decays and self.separate_visit:
            window = window.before_visit()
        positions, valid = window.positions, window.valid
        category = _category_slot(columns.category[positions], no_category)
        event_type = columns.event_type[positions]
        weight = self.type_weight[event_type]
        if not self.decays:  # every event counts fully, whenever it happened
            decay = valid.astype(np.float64)
            return decay, weight * decay, np.zeros(valid.shape)
        adjust = self.user_adjustment(features)  # centred: 0 for the average user
        log_h = self.log_half_life_days(category, event_type, adjust[:, None])
        decay = np.where(valid, np.exp2(-window.age_days / np.exp(log_h)), 0.0)
        evidence = weight * decay
        if ordering_scale != 1.0:
            decay, evidence = _reordered(window, weight, log_h, evidence, ordering_scale)
        purchase = valid & (event_type == EventType.PURCHASE)
        density = lognormal_density(
            window.age_days, self.repeat_log_cycle[category], self.repeat_log_sd
        )
        repeat = np.where(purchase, self.repeat_rate[category] * density, 0.0)
        return decay, evidence, repeat

    def start_shares(
        self,
        window: HistoryWindow,
        columns: Columns,
        no_category: int,
        familiar_share: float | None = None,
    ) -> FloatArray:
        """``(rows, slots)``: where each row's new interests start, ``(1 - κ) π + κ m_u``.

        ``m_u`` is the shopper's category mix over the window (undecayed type weights); a row
        without history gets ``π``. ``familiar_share`` replaces the learned ``κ`` when given.
        """
        familiar = self.familiar_share if familiar_share is None else familiar_share
        n_rows, n_slots = window.valid.shape[0], no_category + 1
        out = np.tile(self.exploration_share, (n_rows, 1))
        if familiar == 0.0:
            return out
        cells = window.valid
        row = np.broadcast_to(np.arange(n_rows)[:, None], cells.shape)[cells]
        positions = window.positions[cells]
        slots = _category_slot(columns.category[positions], no_category).astype(np.int64)
        mass = self.type_weight[columns.event_type[positions]]
        mix = np.bincount(row * n_slots + slots, weights=mass, minlength=n_rows * n_slots)
        mix = mix.reshape(n_rows, n_slots)
        totals = mix.sum(axis=1, keepdims=True)
        own = np.divide(mix, totals, out=out.copy(), where=totals > 0)
        mixed: FloatArray = out + familiar * (own - out)  # exactly π where the mixes agree
        return mixed

    def session_evidence(self, window: HistoryWindow, columns: Columns) -> FloatArray:
        """Undecayed weights of the visit under way (0 elsewhere, and without decay)."""
        if not self.decays or self.session_share == 0.0:
            return np.zeros(window.valid.shape)
        weight = self.type_weight[columns.event_type[window.positions]]
        out: FloatArray = np.where(window.in_session & window.valid, weight, 0.0)
        return out

    # ------------------------------------------------------------------ persistence
    def to_arrays(self, prefix: str) -> dict[str, np.ndarray[Any, Any]]:
        """Every field as a float64 array named ``prefix + field`` (for ``arrays.npz``)."""
        return {
            prefix + f.name: np.atleast_1d(np.asarray(getattr(self, f.name), dtype=np.float64))
            for f in fields(self)
        }

    @classmethod
    def from_arrays(cls, arrays: Any, prefix: str) -> DecayParameters:
        """Inverse of :meth:`to_arrays`; scalars come back as Python floats / bools."""
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = prefix + f.name
            if f.name == "session_mixture" and name not in arrays:
                name = prefix + "mixture"  # saved before visits had a routing of their own
            if name not in arrays and f.default is not MISSING:
                values[f.name] = f.default  # a field added since (it then had no effect)
                continue
            array = np.asarray(arrays[name], dtype=np.float64)
            if f.type in ("bool", bool):
                values[f.name] = bool(array[0])
            elif f.type in ("float", float):
                values[f.name] = float(array[0])
            else:
                values[f.name] = array
        return cls(**values)

    @property
    def sources(self) -> dict[str, float]:
        """The mixture weights by source name."""
        return _by_source(self.mixture)

    @property
    def session_sources(self) -> dict[str, float]:
        """The visit under way's mixture weights by source name."""
        return _by_source(self.session_mixture)


def _reordered(
    window: HistoryWindow,
    weight: FloatArray,
    log_h: FloatArray,
    evidence: FloatArray,
    ordering_scale: float,
) -> tuple[FloatArray, FloatArray]:
    """The kernel at ``ordering_scale · h`` and each row's total ``evidence`` shared by it.

    The shares are computed from log-kernels less their row maximum, so a history whose
    events all lie many (shortened) half-lives back still divides its total instead of
    underflowing to nothing.
    """
    valid = window.valid
    exponent = np.where(valid, -window.age_days / (np.exp(log_h) * ordering_scale), -np.inf)
    decay: FloatArray = np.exp2(exponent)  # 0 where padded
    top = np.max(exponent, axis=1, keepdims=True, initial=-np.inf)
    relative = weight * np.exp2(exponent - np.where(np.isfinite(top), top, 0.0))
    norm = relative.sum(axis=1, keepdims=True)
    share = np.divide(relative, norm, out=np.zeros_like(relative), where=norm > 0)
    out: FloatArray = share * evidence.sum(axis=1, keepdims=True)
    return decay, out


def _by_source(mixture: FloatArray) -> dict[str, float]:
    return dict(zip(SOURCES, (float(v) for v in mixture), strict=True))


def _category_slot(category: IndexArray, no_category: int) -> IndexArray:
    """Category index with -1 (no category) mapped to the extra slot ``no_category``."""
    return np.where(category >= 0, category, no_category)
