"""A synthetic shop whose users' interest really decays, with the ground truth kept.

Why: decayrec claims that decayed interest predicts what a shopper does next better than
all-time counts, and a later step learns per-category half-lives from data. Both need a log in
which decay is *real* (the true process is a decayed-interest choice model) and *known* (the true
half-lives, weights and cycles are returned beside the log). Public logs have neither property,
so tests, benchmarks and the demo run on this simulator.

Generative process (ground truth; tests rely on every line)
-----------------------------------------------------------
Time runs in ``days`` daily steps from ``start``; step ``k`` covers
``[start + k·86400 s, start + (k+1)·86400 s)``. All timestamps are whole seconds.

**Catalogue.** ``n_categories`` categories. Half-lives ``h_c`` are the given
``category_half_life_days`` or, by default, ``n_categories`` log-evenly spaced values over
``half_life_range_days`` (``np.geomspace``) assigned to categories in random order. Category
popularity ``π_c ∝ rank_c^(-category_popularity_exponent)`` with ranks a random permutation
(``Σ π = 1``). The ``round(consumable_share · n_categories)`` categories with the shortest
half-lives are *consumable*; each gets a repurchase cycle drawn log-uniformly from
``repurchase_cycle_range_days`` (``inf`` for the others). Every category holds at least one item:
sizes are ``1 + Multinomial(n_items - n_categories, Dirichlet(2, ..., 2))``, items are assigned to
categories in random order, and within a category the ``j``-th item (random order) has
popularity ``∝ j^(-item_popularity_exponent)`` (Zipf). Each item has a price
(log-normal around a per-category level).

**Users.** Activity ``r_u ~ Gamma(activity_shape, mean_sessions_per_day / activity_shape)``
sessions per day; on each day the user has a session with probability ``1 - exp(-r_u)``
(at most one session per user per day). Latent interest at ``start``: ``1 + Poisson(
initial_interests - 1)`` categories drawn from ``π`` (with replacement), each adding
``Gamma(2, initial_interest_weight / 2)`` to ``I_uc(start)``. This pre-history is not in the
log; it is returned as :attr:`SimulatedShop.initial_interest`.

**Interest.** The interest of user ``u`` in category ``c`` at time ``t`` is::

    I_uc(t) = I_uc(start) · 2^(-(t - start)/h_c)
              + Σ_{events e of u in c with t_e < t} w_type(e) · 2^(-(t - t_e)/h_c)

over *all* the user's logged events (every type, both kinds of session), with ``w`` =
``event_weights`` (default view 1, favourite 2, cart 3, purchase 5).

**Each day**, in this order:

1. *Repurchase sessions* (need-driven, ``interest_driven = False``). Every purchase in a consumable
   category (from either kind of session) schedules, with probability ``repurchase_probability``,
   a repurchase of the same item at ``t_purchase + cycle_c · exp(repurchase_jitter · N(0, 1))``;
   it falls on the day step containing that instant (dropped past the end). A user with
   repurchases due today has one session today made of them, at most ``max_views_per_session``
   (the rest move to the next day); repurchase ``j`` of the session is a view at
   ``s + 30 j``, a cart at ``s + 30 j + 5`` and a purchase at ``s + 30 j + 10``. Such a user has
   no interest-driven session that day.
2. *Interest-driven sessions.* Every other user starts one with probability ``1 - exp(-r_u)``.
   The session's single category is drawn with probability::

       P(c) = (I_uc(s) + exploration · π_c) / (Σ_c' I_uc'(s) + exploration)

   at the session start ``s`` (all earlier events included, nothing of this session), so the
   true ``h_c`` governs how fast a category stops attracting the user; the ``exploration`` term
   gives births of new interests, drawn from category popularity. The session has
   ``n = 1 + min(Poisson(mean_views_per_session - 1), max_views_per_session - 1)`` views of
   items drawn (with replacement) from the category's Zipf popularity. View ``i`` is at
   ``s + Σ_{j<i} g_j`` with gaps ``g_j`` uniform on ``20..120`` s; each view is followed by a
   favourite (probability ``view_to_favourite``, at +1..5 s) and independently a cart
   (``view_to_cart``, at +6..15 s). Each carted item is bought with probability
   ``cart_to_purchase``, except that an item is bought at most once per session and a
   non-consumable item the user already owns is never bought again (the cart is abandoned).
   The purchases happen at checkout, ``30..120`` s after the last slot (``s + Σ g``), one
   second apart in view order. A purchase's ``value`` is the item's price.
3. Session starts ``s`` fall on whole seconds of the day, the hour drawn from a fixed diurnal
   profile (quiet at night, evening peak; hours after the step boundary, i.e. UTC clock hours for
   the default midnight ``start``) and restricted so that every session ends before the next step.
   Hence all events of a day precede every choice of the next day, and the choice rule above is
   exact for the timestamps in the log.

Events are sorted by time (ties keep generation order) and numbered into sessions ``s0, s1, ...``
in order of their first event. Raw ids are ``u<k>``, ``i<k>``, ``c<k>``, so they differ from the
indices; the vocabularies hold every user, item and category, including ones without events.

Recoverability
--------------
The exact log-likelihood of the interest-driven session categories (computable from the log,
``initial_interest``, ``exploration`` and ``category_popularity``) peaks at the true half-lives;
the tests check this, and that the choice probabilities are calibrated. How sharply a single
category's half-life is pinned down depends on its traffic and on the window: with the defaults
at one million events, moving one half-life by 15 % costs roughly 5 to 100 log-likelihood units
for categories from about 3 to 60 days, but only a few units for the rarest day-long categories
(users seldom come back within a day) and for 75 to 90 days (the 180-day window is barely two
half-lives). To learn every half-life back, simulate more events, more active users
(``mean_sessions_per_day``) and at least three times the longest half-life in ``days``.

Examples
--------
>>> shop = simulate_shop(ShopConfig(n_users=200, n_items=100, n_categories=6, days=30, seed=1))
>>> shop.events.users.raw([0])
['u0']
>>> bool((shop.category_half_life_seconds > 0).all())
True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl
import scipy.sparse as sp

from decayrec._time import parse_instant
from decayrec.data.schema import (
    DEFAULT_EVENT_WEIGHTS,
    EventLog,
    EventType,
    EventWeights,
    Vocabulary,
)
from decayrec.errors import InvalidParameterError
from decayrec.types import FloatArray, IndexArray

__all__ = ["ShopConfig", "SimulatedShop", "simulate_events", "simulate_shop"]

_DAY: Final = 86_400.0
_HOUR: Final = 3_600
#: Relative session-start rate per hour after the daily step boundary (night low, evening peak).
_DIURNAL: Final = np.array(
    [
        *(1.0, 0.6, 0.4, 0.3, 0.3, 0.4, 0.8, 1.5, 2.0, 2.2, 2.3, 2.4),
        *(2.6, 2.5, 2.4, 2.4, 2.5, 2.8, 3.2, 3.6, 3.8, 3.4, 2.6, 1.6),
    ]
)
_VIEW_GAP: Final = (20, 120)  # seconds between views, inclusive
_FAVOURITE_DELAY: Final = (1, 5)
_CART_DELAY: Final = (6, 15)
_CHECKOUT_DELAY: Final = (30, 120)
_REPURCHASE_SLOT: Final = 30  # seconds per repurchased item: view, +5 cart, +10 purchase
#: Empirical events per expected session beyond the analytic count (repurchase chains), used by
#: :meth:`ShopConfig.for_events` to size a shop.
_REPURCHASE_FACTOR: Final = 1.02


@dataclass(frozen=True)
class ShopConfig:
    """Sizes and true parameters of a simulated shop (see the module docstring for the process).

    Parameters
    ----------
    n_users, n_items, n_categories
        Catalogue and audience sizes; every category gets at least one item.
    days
        Number of simulated days (daily steps).
    start
        First instant (timezone-aware; a naive datetime is read as UTC).
    half_life_range_days
        ``(shortest, longest)`` half-life, spread log-evenly over the categories: about a day
        for groceries up to a season for furniture.
    category_half_life_days
        Explicit half-life per category (overrides ``half_life_range_days``).
    mean_sessions_per_day, activity_shape
        Mean and Gamma shape of the users' session rate; a small shape gives the heavy tail of
        real shops (a few very active users, many occasional ones).
    mean_views_per_session, max_views_per_session
        Views per interest-driven session (``1 + Poisson``, capped).
    view_to_favourite, view_to_cart, cart_to_purchase
        Funnel probabilities.
    event_weights
        The true ``w_type`` of the interest model.
    exploration
        Weight of the popularity term in the category choice, in units of one fresh view; the
        rate at which users pick up new interests.
    initial_interests, initial_interest_weight
        Mean number of latent categories per user at ``start`` and the mean interest each adds.
    category_popularity_exponent, item_popularity_exponent
        Zipf exponents of category popularity and of item popularity within a category.
    consumable_share
        Share of categories (those with the shortest half-lives) that are bought repeatedly.
    repurchase_cycle_range_days, repurchase_probability, repurchase_jitter
        Log-uniform range of the consumables' cycles, the probability that a purchase is
        repeated after one cycle, and the log-normal spread of the actual delay.
    seed
        Seed of the only random generator used (``np.random.default_rng(seed)``).
    """

    n_users: int = 5_000
    n_items: int = 2_000
    n_categories: int = 24
    days: int = 180
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)
    half_life_range_days: tuple[float, float] = (1.0, 90.0)
    category_half_life_days: tuple[float, ...] | None = None
    mean_sessions_per_day: float = 0.15
    activity_shape: float = 0.5
    mean_views_per_session: float = 4.0
    max_views_per_session: int = 24
    view_to_favourite: float = 0.05
    view_to_cart: float = 0.12
    cart_to_purchase: float = 0.45
    event_weights: EventWeights = DEFAULT_EVENT_WEIGHTS
    exploration: float = 4.0
    initial_interests: float = 2.0
    initial_interest_weight: float = 5.0
    category_popularity_exponent: float = 0.7
    item_popularity_exponent: float = 1.0
    consumable_share: float = 0.3
    repurchase_cycle_range_days: tuple[float, float] = (7.0, 42.0)
    repurchase_probability: float = 0.8
    repurchase_jitter: float = 0.15
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("n_users", "n_items", "n_categories", "days", "max_views_per_session"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                _bad(name, value, "a positive integer")
        if self.n_items < self.n_categories:
            _bad("n_items", self.n_items, f"at least n_categories ({self.n_categories})")
        if self.max_views_per_session > 200:
            _bad("max_views_per_session", self.max_views_per_session, "at most 200")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int | np.integer):
            _bad("seed", self.seed, "an integer")
        if not isinstance(self.start, datetime):
            _bad("start", self.start, "a datetime")
        if not isinstance(self.event_weights, EventWeights):
            _bad("event_weights", self.event_weights, "an EventWeights")
        for name in ("mean_sessions_per_day", "activity_shape", "initial_interest_weight"):
            _positive(name, getattr(self, name))
        for name in (
            "exploration",
            "category_popularity_exponent",
            "item_popularity_exponent",
            "repurchase_jitter",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value >= 0):
                _bad(name, value, "a finite number >= 0")
        if not self.exploration > 0:
            _bad(
                "exploration", self.exploration, "a number > 0 (it is how users find new interests)"
            )
        if not (isinstance(self.mean_views_per_session, int | float)) or not (
            1 <= self.mean_views_per_session <= self.max_views_per_session
        ):
            _bad(
                "mean_views_per_session",
                self.mean_views_per_session,
                f"a number in [1, max_views_per_session={self.max_views_per_session}]",
            )
        if not (isinstance(self.initial_interests, int | float) and self.initial_interests >= 1):
            _bad("initial_interests", self.initial_interests, "a number >= 1")
        for name in (
            "view_to_favourite",
            "view_to_cart",
            "cart_to_purchase",
            "consumable_share",
            "repurchase_probability",
        ):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and 0 <= value <= 1):
                _bad(name, value, "a probability in [0, 1]")
        if self.repurchase_probability >= 1:
            _bad("repurchase_probability", self.repurchase_probability, "a probability below 1")
        _range("half_life_range_days", self.half_life_range_days)
        _range("repurchase_cycle_range_days", self.repurchase_cycle_range_days)
        if self.category_half_life_days is not None:
            explicit = tuple(self.category_half_life_days)
            if len(explicit) != self.n_categories:
                _bad(
                    "category_half_life_days",
                    self.category_half_life_days,
                    f"one half-life per category ({self.n_categories} values)",
                )
            for value in explicit:
                _positive("category_half_life_days", value)

    @property
    def start_seconds(self) -> float:
        """``start`` as Unix seconds."""
        return parse_instant(self.start, name="start")

    def expected_events_per_user(self) -> float:
        """Rough expected number of logged events per user (used to size shops).

        Why: :meth:`for_events` must pick ``n_users`` without running the simulation. The
        session count is exact in expectation; repurchase chains add a calibrated few percent.
        """
        scale = self.mean_sessions_per_day / self.activity_shape
        # E[1 - exp(-r)] for r ~ Gamma(k, θ) is 1 - (1 + θ)^-k.
        p_session = 1.0 - (1.0 + scale) ** (-self.activity_shape)
        lam = self.mean_views_per_session - 1.0
        cap = self.max_views_per_session - 1
        # E[min(Poisson(lam), cap)] = Σ_{k<cap} P(X > k)
        mean_extra = 0.0
        if lam > 0:
            ks = np.arange(cap)
            log_pmf = -lam + ks * math.log(lam) - np.array([math.lgamma(k + 1.0) for k in ks])
            survival = 1.0 - np.cumsum(np.exp(log_pmf))
            mean_extra = float(np.clip(survival, 0.0, 1.0).sum())
        per_view = 1 + self.view_to_favourite + self.view_to_cart * (1 + self.cart_to_purchase)
        return float(self.days * p_session * (1 + mean_extra) * per_view * _REPURCHASE_FACTOR)

    @classmethod
    def for_events(cls, n_events: int, *, seed: int = 0, **overrides: Any) -> ShopConfig:
        """A configuration expected to produce about ``n_events`` events.

        ``n_users`` is chosen from :meth:`expected_events_per_user` and ``n_items`` scales with
        it (half as many items as users, at least ``4 · n_categories``); any other field can be
        overridden. The actual count is random, typically within a few percent.

        Examples
        --------
        >>> ShopConfig.for_events(1_000_000).n_users > ShopConfig.for_events(10_000).n_users
        True
        """
        if isinstance(n_events, bool) or not isinstance(n_events, int) or n_events < 1:
            raise InvalidParameterError(
                f"The 'n_events' parameter of ShopConfig.for_events must be a positive integer. "
                f"Got {n_events!r} instead."
            )
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise InvalidParameterError(
                f"ShopConfig.for_events got unknown field(s) {', '.join(unknown)}; expected "
                f"fields of ShopConfig ({', '.join(sorted(known))})."
            )
        base = replace(cls(seed=seed), **{k: v for k, v in overrides.items() if k != "n_users"})
        n_users = overrides.get("n_users") or max(
            1, round(n_events / base.expected_events_per_user())
        )
        n_items = overrides.get("n_items") or max(4 * base.n_categories, n_users // 2)
        return replace(base, n_users=n_users, n_items=n_items)


@dataclass(frozen=True, eq=False)
class SimulatedShop:
    """A simulated event log and the ground truth that generated it.

    All per-category arrays are indexed by category index (raw id ``c<k>`` is index ``k``),
    per-item arrays by item index, per-user arrays by user index.

    Attributes
    ----------
    config
        The configuration used.
    events
        The log, sorted by time, with categories, session ids and purchase prices.
    category_half_life_seconds
        True half-life ``h_c`` per category.
    event_type_weights
        True ``w_type`` (view < favourite < cart < purchase).
    exploration
        True weight of the popularity term in the category choice.
    category_popularity
        ``π_c`` (sums to one).
    consumable
        Whether each category is bought repeatedly.
    repurchase_cycle_seconds
        Mean repurchase cycle per category (``inf`` where not consumable).
    item_category
        Category index of every item.
    item_popularity
        Probability of each item being picked for a view within its category.
    item_price
        Price of every item (the ``value`` of its purchases).
    user_activity
        Session rate ``r_u`` per day of every user.
    initial_interest
        ``I_uc(start)``, the latent interest before the log begins (users × categories CSR).
    interest_driven
        Per event (row of ``events``): ``True`` when it belongs to an interest-driven session,
        ``False`` for repurchase sessions.
    """

    config: ShopConfig
    events: EventLog
    category_half_life_seconds: FloatArray
    event_type_weights: EventWeights
    exploration: float
    category_popularity: FloatArray
    consumable: npt.NDArray[np.bool_]
    repurchase_cycle_seconds: FloatArray
    item_category: IndexArray
    item_popularity: FloatArray
    item_price: FloatArray
    user_activity: FloatArray
    initial_interest: sp.csr_matrix = field(repr=False)
    interest_driven: npt.NDArray[np.bool_] = field(repr=False)

    def true_interest(self, at: datetime | str | float) -> sp.csr_matrix:
        """``I_uc(at)`` under the true model: logged events before ``at`` plus pre-history.

        Why: an oracle for tests and demos (the best any decayed profile can do), and the
        reference a learned half-life is compared against.

        Returns
        -------
        scipy.sparse.csr_matrix
            ``n_users × n_categories``.
        """
        at_seconds = parse_instant(at, name="at")
        start = self.config.start_seconds
        if at_seconds < start:
            raise InvalidParameterError(
                f"The 'at' parameter of SimulatedShop.true_interest must not precede the "
                f"simulation start ({self.config.start.isoformat()}). Got {at!r} instead."
            )
        half_life = self.category_half_life_seconds
        times = self.events.timestamp_seconds
        before = times < at_seconds
        cats = self.events.category_index[before]
        weight = self.event_type_weights.as_array()[self.events.event_type[before]]
        weight *= np.exp2(-(at_seconds - times[before]) / half_life[cats])
        shape = (len(self.events.users), len(half_life))
        logged = sp.csr_matrix((weight, (self.events.user_index[before], cats)), shape=shape)
        initial = self.initial_interest @ sp.diags(np.exp2(-(at_seconds - start) / half_life))
        total = sp.csr_matrix(logged + initial)
        total.sum_duplicates()
        total.eliminate_zeros()
        return total


def simulate_shop(config: ShopConfig | None = None) -> SimulatedShop:
    """Run the generative process of the module docstring.

    Why: a log in which decay is real and known, so that decayed models can be shown to beat
    decay-off ones and learned half-lives can be checked against the truth.

    All users are stepped together, one NumPy pass per simulated day (no Python loop per event
    or per user), so a million events take about a second.

    Parameters
    ----------
    config
        Sizes and true parameters; the defaults give about 560k events (5,000 users over 180 days).

    Returns
    -------
    SimulatedShop
        The log and the ground truth. The same ``config`` (seed included) always gives the
        same result.
    """
    cfg = ShopConfig() if config is None else config
    return _Simulator(cfg).run()


def simulate_events(n_events: int = 100_000, *, seed: int = 0, **overrides: Any) -> EventLog:
    """About ``n_events`` simulated events (sizes from :meth:`ShopConfig.for_events`).

    Use ``simulate_shop(ShopConfig.for_events(n_events, seed=seed))`` to get the ground truth
    as well.

    Examples
    --------
    >>> log = simulate_events(5_000, seed=3)
    >>> 3_000 < log.n_events < 7_000
    True
    """
    return simulate_shop(ShopConfig.for_events(n_events, seed=seed, **overrides)).events


# ---------------------------------------------------------------------------- implementation
def _bad(name: str, value: object, expected: str) -> None:
    raise InvalidParameterError(
        f"The '{name}' parameter of ShopConfig must be {expected}. Got {value!r} instead."
    )


def _positive(name: str, value: object) -> None:
    if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
        _bad(name, value, "a finite number > 0")


def _range(name: str, value: object) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) and math.isfinite(v) and v > 0 for v in value)
        and value[0] <= value[1]
    )
    if not ok:
        _bad(name, value, "a (low, high) pair of positive numbers with low <= high")


def _group_rank(sorted_keys: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
    """Position of each element within its run of equal keys (keys must be grouped)."""
    n = len(sorted_keys)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    counts = np.diff(np.r_[starts, n])
    return np.arange(n, dtype=np.int64) - np.repeat(starts, counts)


@dataclass
class _DayEvents:
    """Events generated for one day, before sorting (parallel arrays)."""

    user: list[npt.NDArray[np.int64]] = field(default_factory=list)
    item: list[npt.NDArray[np.int64]] = field(default_factory=list)
    time: list[FloatArray] = field(default_factory=list)
    kind: list[npt.NDArray[np.uint8]] = field(default_factory=list)
    session: list[npt.NDArray[np.int64]] = field(default_factory=list)
    driven: list[npt.NDArray[np.bool_]] = field(default_factory=list)

    def add(
        self,
        user: npt.NDArray[np.int64],
        item: npt.NDArray[np.int64],
        time: FloatArray,
        kind: EventType,
        session: npt.NDArray[np.int64],
        driven: bool,
    ) -> None:
        self.user.append(user)
        self.item.append(item)
        self.time.append(time)
        self.kind.append(np.full(len(user), int(kind), dtype=np.uint8))
        self.session.append(session)
        self.driven.append(np.full(len(user), driven, dtype=bool))


class _Simulator:
    """State of one simulation run (interest matrix, pending repurchases, output chunks)."""

    def __init__(self, config: ShopConfig) -> None:
        self.cfg = config
        self.rng = np.random.default_rng(config.seed)
        self.start = config.start_seconds
        self._build_catalogue()
        self._build_users()
        self.weights = config.event_weights.as_array()
        n_views_max = config.max_views_per_session
        interest_span = n_views_max * _VIEW_GAP[1] + _CHECKOUT_DELAY[1] + n_views_max
        repurchase_span = n_views_max * _REPURCHASE_SLOT
        self.latest_start = int(_DAY) - max(interest_span, repurchase_span) - 1
        hours = np.arange(24)
        profile = np.where(hours * _HOUR <= self.latest_start, _DIURNAL, 0.0)
        self.hour_probability = profile / profile.sum()
        # pending repurchases: user, item, day step
        self.pending_user = np.zeros(0, dtype=np.int64)
        self.pending_item = np.zeros(0, dtype=np.int64)
        self.pending_day = np.zeros(0, dtype=np.int64)
        self.n_sessions = 0
        # sorted user * n_items + item of non-consumables already bought (never bought twice)
        self.owned = np.zeros(0, dtype=np.int64)
        self.chunks: list[tuple[npt.NDArray[Any], ...]] = []

    # ------------------------------------------------------------------ set-up
    def _build_catalogue(self) -> None:
        cfg, rng = self.cfg, self.rng
        n_cat = cfg.n_categories
        if cfg.category_half_life_days is not None:
            half_life_days = np.asarray(cfg.category_half_life_days, dtype=np.float64)
        else:
            low, high = cfg.half_life_range_days
            half_life_days = rng.permutation(np.geomspace(low, high, n_cat))
        self.half_life = half_life_days * _DAY
        ranks = rng.permutation(n_cat) + 1.0
        popularity = ranks ** (-cfg.category_popularity_exponent)
        self.category_popularity = popularity / popularity.sum()
        n_consumable = round(cfg.consumable_share * n_cat)
        self.consumable = np.zeros(n_cat, dtype=bool)
        self.consumable[np.argsort(self.half_life, kind="stable")[:n_consumable]] = True
        low, high = cfg.repurchase_cycle_range_days
        cycles = np.exp(rng.uniform(np.log(low), np.log(high), n_cat)) * _DAY
        self.cycle = np.where(self.consumable, cycles, np.inf)

        sizes = 1 + rng.multinomial(cfg.n_items - n_cat, rng.dirichlet(np.full(n_cat, 2.0)))
        self.item_category = rng.permutation(np.repeat(np.arange(n_cat), sizes))
        # items grouped by category (stable keeps the random order inside each category)
        self.items_by_category = np.argsort(self.item_category, kind="stable")
        offsets = np.r_[0, np.cumsum(sizes)]
        rank_in_category = np.arange(cfg.n_items) - np.repeat(offsets[:-1], sizes) + 1.0
        zipf = rank_in_category ** (-cfg.item_popularity_exponent)
        totals = np.add.reduceat(zipf, offsets[:-1])
        cat_of_sorted = np.repeat(np.arange(n_cat), sizes)
        within = zipf / totals[cat_of_sorted]
        cdf = np.cumsum(within)
        cdf -= np.repeat(np.r_[0.0, cdf[offsets[1:-1] - 1]], sizes)
        cdf[offsets[1:] - 1] = 1.0  # exact segment ends
        # segment c of the global CDF lies in (c, c + 1]: one searchsorted samples every category
        self.global_cdf = cdf + cat_of_sorted
        self.item_popularity = np.empty(cfg.n_items)
        self.item_popularity[self.items_by_category] = within
        level = rng.lognormal(np.log(20.0), 1.0, n_cat)
        self.item_price = np.round(
            level[self.item_category] * rng.lognormal(0.0, 0.3, cfg.n_items), 2
        )

    def _build_users(self) -> None:
        cfg, rng = self.cfg, self.rng
        shape = cfg.activity_shape
        self.activity = rng.gamma(shape, cfg.mean_sessions_per_day / shape, cfg.n_users)
        self.p_session = -np.expm1(-self.activity)
        n_latent = 1 + rng.poisson(cfg.initial_interests - 1.0, cfg.n_users)
        rows = np.repeat(np.arange(cfg.n_users), n_latent)
        cats = rng.choice(cfg.n_categories, size=len(rows), p=self.category_popularity)
        amount = rng.gamma(2.0, cfg.initial_interest_weight / 2.0, len(rows))
        initial = sp.csr_matrix((amount, (rows, cats)), shape=(cfg.n_users, cfg.n_categories))
        initial.sum_duplicates()
        self.initial_interest = initial
        self.interest = initial.toarray()  # I_u at time last_update[u]
        self.last_update = np.full(cfg.n_users, self.start)

    # ------------------------------------------------------------------ one day
    def _session_starts(self, n: int, day_start: float) -> FloatArray:
        hours = self.rng.choice(24, size=n, p=self.hour_probability)
        seconds = hours * _HOUR + self.rng.integers(0, _HOUR, size=n)
        starts: FloatArray = day_start + np.minimum(seconds, self.latest_start).astype(np.float64)
        return starts

    def _sample_items(self, categories: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        draws = categories + self.rng.random(len(categories))
        positions = np.searchsorted(self.global_cdf, draws, side="right")
        positions = np.minimum(positions, len(self.global_cdf) - 1)
        return self.items_by_category[positions]

    def _due_repurchases(
        self, day: int
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        """Repurchases due today, sorted by user, with their rank inside the user's session."""
        due = self.pending_day == day
        users, items = self.pending_user[due], self.pending_item[due]
        keep = ~due
        self.pending_user = self.pending_user[keep]
        self.pending_item = self.pending_item[keep]
        self.pending_day = self.pending_day[keep]
        order = np.argsort(users, kind="stable")
        users, items = users[order], items[order]
        rank = _group_rank(users)
        overflow = rank >= self.cfg.max_views_per_session
        if overflow.any() and day + 1 < self.cfg.days:
            self._schedule(users[overflow], items[overflow], np.full(overflow.sum(), day + 1))
        return users[~overflow], items[~overflow], rank[~overflow]

    def _schedule(
        self,
        users: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        days: npt.NDArray[np.int64],
    ) -> None:
        self.pending_user = np.concatenate([self.pending_user, users])
        self.pending_item = np.concatenate([self.pending_item, items])
        self.pending_day = np.concatenate([self.pending_day, days])

    def _first_purchases(
        self,
        users: npt.NDArray[np.int64],
        items: npt.NDArray[np.int64],
        candidates: npt.NDArray[np.int64],
    ) -> npt.NDArray[np.int64]:
        """Keep one purchase per (user, item) per session, and none of owned non-consumables."""
        keys = users * self.cfg.n_items + items
        _, first = np.unique(keys, return_index=True)
        first = np.sort(first)  # back to view order
        keys, candidates = keys[first], candidates[first]
        durable = ~self.consumable[self.item_category[items[first]]]
        owned = np.zeros(len(keys), dtype=bool)
        if len(self.owned):
            position = np.minimum(np.searchsorted(self.owned, keys), len(self.owned) - 1)
            owned = durable & (self.owned[position] == keys)
        new_owned = np.sort(keys[durable & ~owned])  # unique: one purchase per key per day
        if len(new_owned):
            # an O(n) sorted insert; union1d would re-sort everything owned every day
            self.owned = np.insert(self.owned, np.searchsorted(self.owned, new_owned), new_owned)
        kept: npt.NDArray[np.int64] = candidates[~owned]
        return kept

    def _step(self, day: int) -> None:
        cfg, rng = self.cfg, self.rng
        day_start = self.start + day * _DAY
        out = _DayEvents()

        # 1. repurchase sessions
        r_users, r_items, r_rank = self._due_repurchases(day)
        forced_users = np.unique(r_users)
        forced_start = self._session_starts(len(forced_users), day_start)
        forced_session = self.n_sessions + np.arange(len(forced_users))
        self.n_sessions += len(forced_users)
        slot = np.searchsorted(forced_users, r_users)
        base = forced_start[slot] + _REPURCHASE_SLOT * r_rank
        for kind, delay in ((EventType.VIEW, 0), (EventType.CART, 5), (EventType.PURCHASE, 10)):
            out.add(r_users, r_items, base + delay, kind, forced_session[slot], driven=False)

        # 2. interest-driven sessions
        active = rng.random(cfg.n_users) < self.p_session
        active[forced_users] = False
        users = np.flatnonzero(active)
        starts = self._session_starts(len(users), day_start)
        sessions = self.n_sessions + np.arange(len(users))
        self.n_sessions += len(users)
        age = (starts - self.last_update[users])[:, None]
        interest = self.interest[users] * np.exp2(-age / self.half_life[None, :])
        score = interest + cfg.exploration * self.category_popularity[None, :]
        cumulative = np.cumsum(score, axis=1)
        target = rng.random(len(users)) * cumulative[:, -1]
        category = np.minimum((cumulative < target[:, None]).sum(axis=1), cfg.n_categories - 1)

        extra = rng.poisson(cfg.mean_views_per_session - 1.0, len(users))
        n_views = 1 + np.minimum(extra, cfg.max_views_per_session - 1)
        view_slot = np.repeat(np.arange(len(users)), n_views)
        gaps = rng.integers(_VIEW_GAP[0], _VIEW_GAP[1] + 1, len(view_slot)).astype(np.float64)
        ends = np.cumsum(gaps)
        first = np.cumsum(n_views) - n_views  # each session's first view; empty on a quiet day
        before = ends - gaps - np.repeat(ends[first] - gaps[first], n_views)
        view_time = starts[view_slot] + before
        view_user = users[view_slot]
        view_items = self._sample_items(category[view_slot])
        view_session = sessions[view_slot]
        out.add(view_user, view_items, view_time, EventType.VIEW, view_session, driven=True)

        favourite = rng.random(len(view_slot)) < cfg.view_to_favourite
        delay = rng.integers(_FAVOURITE_DELAY[0], _FAVOURITE_DELAY[1] + 1, favourite.sum())
        out.add(
            view_user[favourite],
            view_items[favourite],
            view_time[favourite] + delay,
            EventType.FAVOURITE,
            view_session[favourite],
            driven=True,
        )
        cart = rng.random(len(view_slot)) < cfg.view_to_cart
        delay = rng.integers(_CART_DELAY[0], _CART_DELAY[1] + 1, cart.sum())
        out.add(
            view_user[cart],
            view_items[cart],
            view_time[cart] + delay,
            EventType.CART,
            view_session[cart],
            driven=True,
        )
        bought = np.flatnonzero(cart)[rng.random(int(cart.sum())) < cfg.cart_to_purchase]
        bought = self._first_purchases(view_user[bought], view_items[bought], bought)
        last_slot_end = starts + (ends[first + n_views - 1] - ends[first] + gaps[first])
        checkout = last_slot_end + rng.integers(
            _CHECKOUT_DELAY[0], _CHECKOUT_DELAY[1] + 1, len(users)
        )
        buy_slot = view_slot[bought]
        buy_time = checkout[buy_slot] + _group_rank(buy_slot)
        out.add(
            view_user[bought],
            view_items[bought],
            buy_time,
            EventType.PURCHASE,
            view_session[bought],
            driven=True,
        )

        self._finish_day(day, out)

    def _finish_day(self, day: int, out: _DayEvents) -> None:
        cfg, rng = self.cfg, self.rng
        user = np.concatenate(out.user)
        if not len(user):
            return
        item = np.concatenate(out.item)
        time = np.concatenate(out.time)
        kind = np.concatenate(out.kind)
        session = np.concatenate(out.session)
        driven = np.concatenate(out.driven)
        order = np.argsort(time, kind="stable")
        user, item, time = user[order], item[order], time[order]
        kind, session, driven = kind[order], session[order], driven[order]
        category = self.item_category[item]

        # Interest update of everyone active today, exactly at their last event.
        touched, local = np.unique(user, return_inverse=True)
        end = np.full(len(touched), -np.inf)
        np.maximum.at(end, local, time)
        n_cat = cfg.n_categories
        decay = np.exp2(-(end - self.last_update[touched])[:, None] / self.half_life[None, :])
        added = self.weights[kind] * np.exp2(-(end[local] - time) / self.half_life[category])
        fresh = np.bincount(local * n_cat + category, weights=added, minlength=len(touched) * n_cat)
        self.interest[touched] = self.interest[touched] * decay + fresh.reshape(-1, n_cat)
        self.last_update[touched] = end

        # Purchases of consumables schedule their repurchase.
        purchase = kind == int(EventType.PURCHASE)
        candidates = purchase & self.consumable[category]
        candidates[candidates] = rng.random(int(candidates.sum())) < cfg.repurchase_probability
        if candidates.any():
            cycle = self.cycle[category[candidates]]
            jitter = np.exp(cfg.repurchase_jitter * rng.standard_normal(len(cycle)))
            due = time[candidates] + cycle * jitter
            due_day = np.floor((due - self.start) / _DAY).astype(np.int64)
            keep = due_day < cfg.days
            self._schedule(user[candidates][keep], item[candidates][keep], due_day[keep])

        value = np.where(purchase, self.item_price[item], np.nan)
        self.chunks.append((user, item, category, time, kind, session, driven, value))

    # ------------------------------------------------------------------ output
    def run(self) -> SimulatedShop:
        cfg = self.cfg
        for day in range(cfg.days):
            self._step(day)
        columns = list(zip(*self.chunks, strict=True)) if self.chunks else [()] * 8
        empty = [np.zeros(0, dtype=d) for d in (np.int64,) * 3 + (np.float64, np.uint8)]
        user, item, category, time, kind = (
            np.concatenate(col) if col else empty[i] for i, col in enumerate(columns[:5])
        )
        raw_session = np.concatenate(columns[5]) if columns[5] else np.zeros(0, dtype=np.int64)
        driven = np.concatenate(columns[6]) if columns[6] else np.zeros(0, dtype=bool)
        value = np.concatenate(columns[7]) if columns[7] else np.zeros(0)
        # number sessions in order of their first event
        _, first_row, inverse = np.unique(raw_session, return_index=True, return_inverse=True)
        rank = np.empty(len(first_row), dtype=np.int64)
        rank[np.argsort(first_row, kind="stable")] = np.arange(len(first_row))
        session = rank[inverse]

        log = EventLog.from_indices(
            user_index=user,
            item_index=item,
            category_index=category,
            timestamp_seconds=time,
            event_type=kind,
            value=value,
            users=_numbered("u", cfg.n_users),
            items=_numbered("i", cfg.n_items),
            categories=_numbered("c", cfg.n_categories),
        )
        frame = log.frame.with_columns(
            pl.col("value").fill_nan(None),
            (pl.lit("s") + pl.Series("session_id", session).cast(pl.String)).alias("session_id"),
        )
        events = EventLog(frame, log.users, log.items, log.categories)
        return SimulatedShop(
            config=cfg,
            events=events,
            category_half_life_seconds=self.half_life,
            event_type_weights=cfg.event_weights,
            exploration=float(cfg.exploration),
            category_popularity=self.category_popularity,
            consumable=self.consumable,
            repurchase_cycle_seconds=self.cycle,
            item_category=self.item_category.astype(np.int32),
            item_popularity=self.item_popularity,
            item_price=self.item_price,
            user_activity=self.activity,
            initial_interest=self.initial_interest,
            interest_driven=driven,
        )


def _numbered(prefix: str, n: int) -> Vocabulary:
    ids = pl.select((pl.lit(prefix) + pl.int_range(n, eager=False).cast(pl.String)).alias("id"))
    return Vocabulary(ids.to_series())
