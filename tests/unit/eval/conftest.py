"""Fixtures of the evaluation tests (helpers live in ``_helpers.py``)."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A seeded generator (tests must not depend on global random state)."""
    return np.random.default_rng(20240301)
