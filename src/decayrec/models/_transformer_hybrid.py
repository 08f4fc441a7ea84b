"""The hybrid head of :class:`~decayrec.models.transformer.TimeAwareTransformer`.

What: the final score of item ``i`` for a shopper is

    s_i = a(u) · z_i + g(u) · log P_decay(i | u),
    a(u) = softplus(v · f(u)) >= 0,   g(u) = softplus(w · f(u)) >= 0

where ``z`` are the transformer's logits, ``P_decay`` the next-event probabilities of a
:class:`~decayrec.models.LearnedDecay` fitted on the same log, and ``f(u)`` describes the
shopper's state: a constant, ``log(1 + events read)`` and ``log(1 + hours since the newest
event)``. Both terms are log-scores, so ``s`` is a product of experts, each sharpened or
flattened per shopper; ``a -> 0`` leaves the decay model's ranking, ``g -> 0`` the
transformer's.

Why a gate on the shopper's state: with two or three events a transformer has little to read
and the decay profile (category interest, repeats, popularity) knows more; with a long
history the order carries the signal. The gate learns that trade-off instead of fixing it.

How it is fitted: after the transformer, on the hold-out (shoppers asked at an instant near the
end of the log for their first event after it, whose later events neither model trained on;
the decay model for the gate is fitted on the log without them), by full
cross-entropy over the catalogue with L-BFGS; six numbers, or with fewer than
:data:`MIN_ROWS_FOR_STATE` held-out events only the two constants (a gate per user state
would fit noise). With fewer than :data:`MIN_ROWS_FOR_GATE` nothing is fitted: the decay model
leads (``a`` is :data:`LEAD_WEIGHT`, so the logits only break its ties), since a log that
small holds too little to train a transformer on, and a handful of held-out events cannot say
otherwise (on 8 of them the fit merely flattened both experts). The decay model that serves
is then refitted on the whole log.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray

__all__ = [
    "FLOOR",
    "MIN_ROWS_FOR_STATE",
    "fit_gate",
    "gate_features",
    "gate_values",
    "initial_gate",
]

#: Probabilities below this count as this (log of 0 is -inf).
FLOOR: Final = 1e-12
GATE_FEATURES: Final = ("constant", "log_events", "log_hours_since_newest")
#: Held-out events below which the gates are constants.
MIN_ROWS_FOR_STATE: Final = 200
#: Held-out events below which no gate is fitted and the decay model leads.
MIN_ROWS_FOR_GATE: Final = 50
#: ``a`` when the decay model leads: the logits only break exact ties of its scores.
LEAD_WEIGHT: Final = 1e-9
_SOFTPLUS_INVERSE_ONE: Final = float(np.log(np.expm1(1.0)))


def gate_features(n_events: npt.NDArray[Any], hours_since_newest: FloatArray) -> FloatArray:
    """``f(u)`` per row: ``(1, log(1 + n), log(1 + hours))``."""
    return np.stack(
        [
            np.ones(len(n_events)),
            np.log1p(np.asarray(n_events, dtype=np.float64)),
            np.log1p(np.maximum(np.asarray(hours_since_newest, dtype=np.float64), 0.0)),
        ],
        axis=1,
    )


def initial_gate() -> FloatArray:
    """Gate weights ``(2, features)`` with ``a = g = 1`` for everyone."""
    weights = np.zeros((2, len(GATE_FEATURES)))
    weights[:, 0] = _SOFTPLUS_INVERSE_ONE
    return weights


def decay_leads() -> FloatArray:
    """Gate weights with ``a = LEAD_WEIGHT`` and ``g = 1`` for everyone."""
    weights = initial_gate()
    weights[0, 0] = float(np.log(np.expm1(LEAD_WEIGHT)))
    return weights


def gate_values(weights: FloatArray, features: FloatArray) -> tuple[FloatArray, FloatArray]:
    """``(a(u), g(u))`` per row: the weights of the logits and of the decay log-probability.

    A product and a sum per row, not a matrix product: BLAS may round a row differently
    depending on how many rows it is given, and a score must not depend on its batch.
    """
    linear = (features[:, None, :] * weights[None, :, :]).sum(axis=2)
    out: FloatArray = np.logaddexp(0.0, linear)
    return out[:, 0], out[:, 1]


def fit_gate(
    logits: FloatArray,
    log_decay: FloatArray,
    targets: npt.NDArray[np.int64],
    features: FloatArray,
    *,
    steps: int = 100,
) -> FloatArray:
    """Weights ``(2, features)`` minimising the cross-entropy of ``a · logits + g · log_decay``
    at ``targets``, from ``a = g = 1``; only the constants with few rows, and
    :func:`decay_leads` with fewer than :data:`MIN_ROWS_FOR_GATE`."""
    import torch

    if len(targets) < MIN_ROWS_FOR_GATE:
        return decay_leads()

    z = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float64))
    ell = torch.from_numpy(np.ascontiguousarray(log_decay, dtype=np.float64))
    f = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64))
    target = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))
    start = initial_gate()
    free = torch.zeros(start.shape, dtype=torch.float64)
    free[:, : (len(GATE_FEATURES) if len(targets) >= MIN_ROWS_FOR_STATE else 1)] = 1.0
    weights = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        used = weights * free + torch.from_numpy(start) * (1.0 - free)
        a, g = torch.nn.functional.softplus(f @ used.T).unbind(dim=1)
        loss = torch.nn.functional.cross_entropy(a[:, None] * z + g[:, None] * ell, target)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    fitted = weights.detach().numpy() * free.numpy() + start * (1.0 - free.numpy())
    out: FloatArray = fitted.copy()
    return out
