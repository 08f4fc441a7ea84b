"""Decay: kernels, batch interest profiles, the exact online state and its kernel mixtures.

Why one package: every model and the service read interest through these few functions, so
the decay model (kernel, half-life, event weights) is defined and tested in one place.
"""

from __future__ import annotations

from decayrec.decay.interest import (
    InterestKey,
    decayed_interest,
    event_decay_weights,
    forecast_interest,
    normalize_interest,
    sum_by_key,
)
from decayrec.decay.kernels import (
    KERNELS,
    decay_weights,
    validate_half_life,
    validate_half_lives,
    validate_kernel,
)
from decayrec.decay.mixture import ExponentialMixture, exponential_mixture
from decayrec.decay.online import ExponentialDecayState

__all__ = [
    "KERNELS",
    "ExponentialDecayState",
    "ExponentialMixture",
    "InterestKey",
    "decay_weights",
    "decayed_interest",
    "event_decay_weights",
    "exponential_mixture",
    "forecast_interest",
    "normalize_interest",
    "sum_by_key",
    "validate_half_life",
    "validate_half_lives",
    "validate_kernel",
]
