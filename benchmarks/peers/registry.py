"""The peers the comparison knows: how to build each, its tuning grid and the package it needs.

Why a registry: the command line, the tests and the report read one table, so a peer is added
in one place, gets the same tuning budget as decayrec (:data:`TUNING_BUDGET` fits on the
validation part: decayrec tunes four half-lives), and a missing package is reported by name
instead of failing the whole run.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from decayrec.eval.runner import DEFAULT_HALF_LIFE_GRID, ModelSpec
from decayrec.models.base import Recommender

from .baselines import ItemKNN, PersonalTopFrequency, Popularity
from .implicit_peers import ImplicitALS, ImplicitBPR
from .recbole_sasrec import SASRecPeer
from .recbole_sasrec import is_available as recbole_available
from .sar import SARPeer
from .sar import is_available as sar_available

__all__ = ["PEERS", "TUNING_BUDGET", "PeerEntry", "missing_package"]

#: Fits on validation each model may tune with: as many as decayrec's half-life grid.
TUNING_BUDGET = len(DEFAULT_HALF_LIFE_GRID)


@dataclass(frozen=True)
class PeerEntry:
    """One peer: its factory, the grid tuned on validation and the package it needs.

    Attributes
    ----------
    factory
        Builds an unfitted :class:`~decayrec.models.base.Recommender` from keyword arguments.
    grid
        Parameter sets tried on validation (at most :data:`TUNING_BUDGET`); ``None``: nothing
        to tune.
    requires
        The importable package the peer needs (``None``: only decayrec's own dependencies).
    params
        Fixed constructor arguments. The default ``half_life=None`` tells the runner that the
        peer has no decayrec half-life to tune; a peer with its own decay (SAR) tunes it
        through ``grid`` instead.
    availability
        For peers living in their own virtual environment: returns ``(usable, why not)``.
    """

    factory: Callable[..., Recommender]
    grid: Sequence[Mapping[str, Any]] | None = None
    requires: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: {"half_life": None})
    availability: Callable[[], tuple[bool, str]] | None = None

    def spec(self, name: str) -> ModelSpec:
        """The runner's spec: this entry's fixed params and grid."""
        return ModelSpec(name, dict(self.params), self.factory, self.grid)


#: ALS: latent size, L2 strength and confidence scale span the usual ranges (implicit's
#: defaults are 100 factors, 0.01 regularization, alpha 1).
ALS_GRID: tuple[Mapping[str, Any], ...] = (
    {"embedding_size": 64, "regularization": 0.01, "alpha": 1.0, "epochs": 15},
    {"embedding_size": 64, "regularization": 0.1, "alpha": 10.0, "epochs": 15},
    {"embedding_size": 128, "regularization": 0.1, "alpha": 40.0, "epochs": 15},
    {"embedding_size": 32, "regularization": 1.0, "alpha": 10.0, "epochs": 15},
)

#: BPR: latent size, learning rate and L2 strength (implicit's defaults: 100, 0.01, 0.01).
BPR_GRID: tuple[Mapping[str, Any], ...] = (
    {"embedding_size": 64, "learning_rate": 0.01, "regularization": 0.01, "epochs": 100},
    {"embedding_size": 64, "learning_rate": 0.05, "regularization": 0.01, "epochs": 100},
    {"embedding_size": 128, "learning_rate": 0.01, "regularization": 0.001, "epochs": 100},
    {"embedding_size": 32, "learning_rate": 0.1, "regularization": 0.01, "epochs": 100},
)

#: SASRec (RecBole 1.2.1, full-softmax cross-entropy, fixed epochs). Sized so that one fit
#: on Amazon Beauty (176k training sequences) stays under ~3 minutes on the 2-core machine.
#: Measured there, on leave-last-out's training part, in this order: fits of 142, 177, 155 and
#: 156 s (epochs of 45, 28, 37 and 30 s), validation NDCG@10 0.039, 0.056, 0.059 and 0.054 on
#: 3,000 users (popularity: 0.005). RecBole's default length 50 would take ~6 minutes an
#: epoch; Beauty's users have 9 events on average, so the latest 10 (20) hold most sequences.
SASREC_GRID: tuple[Mapping[str, Any], ...] = (
    {
        "embedding_size": 64,
        "n_layers": 2,
        "n_heads": 2,
        "dropout": 0.5,
        "max_seq_length": 10,
        "learning_rate": 0.003,
        "epochs": 3,
        "batch_size": 1024,
    },
    {
        "embedding_size": 32,
        "n_layers": 2,
        "n_heads": 2,
        "dropout": 0.2,
        "max_seq_length": 10,
        "learning_rate": 0.003,
        "epochs": 6,
        "batch_size": 1024,
    },
    {
        "embedding_size": 64,
        "n_layers": 1,
        "n_heads": 2,
        "dropout": 0.2,
        "max_seq_length": 10,
        "learning_rate": 0.003,
        "epochs": 4,
        "batch_size": 1024,
    },
    {
        "embedding_size": 32,
        "n_layers": 1,
        "n_heads": 1,
        "dropout": 0.2,
        "max_seq_length": 20,
        "learning_rate": 0.005,
        "epochs": 5,
        "batch_size": 1024,
    },
)

PEERS: dict[str, PeerEntry] = {
    "popularity": PeerEntry(Popularity),
    "personal-top-frequency": PeerEntry(PersonalTopFrequency),
    "itemknn": PeerEntry(ItemKNN),
    "implicit-als": PeerEntry(ImplicitALS, ALS_GRID, requires="implicit"),
    "implicit-bpr": PeerEntry(ImplicitBPR, BPR_GRID, requires="implicit"),
    # SAR's own decay is its ``half_life``: the runner tunes it on decayrec's half-life grid
    # and adds the ``sar-no-decay`` variant itself, exactly as for decayrec's models.
    "sar": PeerEntry(SARPeer, params={}, availability=sar_available),
    "recbole-sasrec": PeerEntry(SASRecPeer, SASREC_GRID, availability=recbole_available),
}


def missing_package(entry: PeerEntry) -> str | None:
    """Why ``entry`` cannot run here (the missing package or environment), or ``None``."""
    if entry.availability is not None:
        usable, reason = entry.availability()
        return None if usable else reason
    if entry.requires is None:
        return None
    try:
        found = importlib.util.find_spec(entry.requires) is not None
    except (ImportError, ValueError):  # e.g. a parent package missing, or a None module
        found = False
    return None if found else entry.requires
