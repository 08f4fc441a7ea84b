"""The online state beyond the exponential kernel, and what it refuses."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from decayrec.data.simulate import ShopConfig, simulate_shop
from decayrec.decay import decay_weights, exponential_mixture
from decayrec.errors import InvalidParameterError, UnknownIdError
from decayrec.models import DecayedProfile
from decayrec.serve.state import OnlineProfile


@pytest.fixture(scope="module")
def log():  # type: ignore[no-untyped-def]
    return simulate_shop(
        ShopConfig(n_users=120, n_items=80, n_categories=5, days=40, seed=2)
    ).events


@pytest.mark.parametrize("kernel", ["power", "linear", "logarithmic"])
def test_other_kernels_stay_within_their_mixture_bound(log, kernel: str) -> None:  # type: ignore[no-untyped-def]
    """Per (user, category): |online - exact| <= max_error · Σ w over the key's events."""
    model = DecayedProfile(kernel=kernel, half_life=timedelta(days=4)).fit(log)  # type: ignore[arg-type]
    state = OnlineProfile(model)
    at = float(log.timestamp_seconds.max()) + 86_400.0
    fitted = model.events_  # the model's own numbering, which the state keeps
    frame = fitted.frame
    users = frame["user_index"].to_numpy().astype(np.int64)
    buckets = frame["category_index"].to_numpy().astype(np.int64) + 1
    weights = model.weights_.as_array()[frame["event_type"].to_numpy()]
    ages = at - fitted.timestamp_seconds
    exact_each = weights * decay_weights(ages, 4 * 86_400.0, kernel)  # type: ignore[arg-type]
    key = users * 1000 + buckets
    keys, inverse = np.unique(key, return_inverse=True)
    exact = np.bincount(inverse, weights=exact_each)
    mass = np.bincount(inverse, weights=weights)
    sums = state.user_buckets
    codes = (keys // 1000 << 32) | (keys % 1000)
    rows, found = sums.rows_of(codes)
    assert found.all()
    online = sums.value(rows, at)
    bound = exponential_mixture(kernel).max_error  # type: ignore[arg-type]
    assert state.max_error == bound > 0
    assert np.all(np.abs(online - exact) <= bound * mass + 1e-12)


def test_instants_before_the_newest_event_are_refused(log) -> None:  # type: ignore[no-untyped-def]
    state = OnlineProfile(DecayedProfile().fit(log))
    newest = state.latest_seconds
    with pytest.raises(InvalidParameterError, match="'at'"):
        state.recommend("u1", newest - 1.0, n=3)
    assert state.recommend("u1", newest, n=3)[0]


def test_unknown_ids(log) -> None:  # type: ignore[no-untyped-def]
    state = OnlineProfile(DecayedProfile().fit(log))
    at = state.latest_seconds
    items, fallback = state.recommend("nobody", at, n=3)
    assert fallback and len(items) == 3
    with pytest.raises(UnknownIdError, match="nobody"):
        state.interests("nobody", at, 0.0)
    with pytest.raises(UnknownIdError, match="no-such-category"):
        state.audience("no-such-category", at, min_share=0.0, limit=5)
