"""Every decayed model passes the whole estimator contract (decayrec.testing.checks)."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from decayrec.data.schema import EventLog
from decayrec.models import DecayedItemKNN, DecayedPopularity, DecayedProfile
from decayrec.testing.checks import ESTIMATOR_CHECKS, ModelFactory, check_estimator

FACTORIES: dict[str, ModelFactory] = {
    "popularity": DecayedPopularity,
    "popularity-no-decay": partial(DecayedPopularity, half_life=None),
    "popularity-linear": partial(DecayedPopularity, kernel="linear", half_life=timedelta(days=5)),
    "profile": DecayedProfile,
    "profile-no-decay": partial(DecayedProfile, half_life=None),
    "profile-per-category": partial(
        DecayedProfile,
        kernel="power",
        category_half_lives={"c0": timedelta(days=1), "c3": None},
        popularity_half_life=timedelta(days=3),
    ),
    "itemknn": DecayedItemKNN,
    "itemknn-session-cosine": partial(
        DecayedItemKNN,
        similarity="cosine",
        cooccurrence_by="session",
        max_neighbours=5,
        self_weight=0.5,
    ),
    "itemknn-no-decay-lift": partial(DecayedItemKNN, half_life=None, similarity="lift"),
}


@pytest.mark.parametrize("check", ESTIMATOR_CHECKS, ids=lambda check: check.__name__)
@pytest.mark.parametrize("factory", FACTORIES.values(), ids=list(FACTORIES))
def test_contract(factory: ModelFactory, check: object, events: EventLog) -> None:
    check(factory, events)  # type: ignore[operator]


@pytest.mark.parametrize(
    "factory", [DecayedPopularity, DecayedProfile, DecayedItemKNN], ids=lambda f: f.name
)
def test_contract_without_categories(
    factory: ModelFactory, events_without_categories: EventLog
) -> None:
    check_estimator(factory, events_without_categories)
