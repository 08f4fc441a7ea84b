"""The hybrid head of :class:`~decayrec.models.transformer.TimeAwareTransformer`.

What: the final score of item ``i`` for a shopper is

    s_i = z_i + g(u) · log P_decay(i | u),      g(u) = softplus(w · f(u)) >= 0

where ``z`` are the transformer's logits, ``P_decay`` the next-event probabilities of a
:class:`~decayrec.models.LearnedDecay` fitted on the same log, and ``f(u)`` describes the
shopper's state: a constant, ``log(1 + events read)`` and ``log(1 + hours since the newest
event)``. Both terms are log-scores, so ``s`` is a product of experts whose decay expert is
sharpened or flattened per shopper.

Why a gate on the shopper's state: with two or three events a transformer has little to read
and the decay profile (category interest, repeats, popularity) knows more; with a long
history the order carries the signal. The gate learns that trade-off instead of fixing it.

How it is fitted: after the transformer, on the held-out shoppers' last events, which neither
model trained on (the decay model for the gate is fitted on the log without them), by full
cross-entropy over the catalogue; three numbers, so a few L-BFGS steps. The decay model that
serves is then refitted on the whole log.
"""

from __future__ import annotations

from typing import Any, Final

import numpy as np
import numpy.typing as npt

from decayrec.types import FloatArray

__all__ = ["FLOOR", "fit_gate", "gate_features", "gate_values"]

#: Probabilities below this count as this (log of 0 is -inf).
FLOOR: Final = 1e-12
GATE_FEATURES: Final = ("constant", "log_events", "log_hours_since_newest")


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


def gate_values(weights: FloatArray, features: FloatArray) -> FloatArray:
    """``g(u) = softplus(w · f(u))`` per row.

    A product and a sum per row, not a matrix product: BLAS may round a row differently
    depending on how many rows it is given, and a score must not depend on its batch.
    """
    linear = (features * weights[None, :]).sum(axis=1)
    out: FloatArray = np.logaddexp(0.0, linear)
    return out


def fit_gate(
    logits: FloatArray,
    log_decay: FloatArray,
    targets: npt.NDArray[np.int64],
    features: FloatArray,
    *,
    steps: int = 50,
) -> FloatArray:
    """``w`` minimising the cross-entropy of ``logits + g · log_decay`` at ``targets``.

    Starts from ``g = 1`` for everyone (``w = (softplus^-1(1), 0, 0)``).
    """
    import torch

    z = torch.from_numpy(np.ascontiguousarray(logits, dtype=np.float64))
    ell = torch.from_numpy(np.ascontiguousarray(log_decay, dtype=np.float64))
    f = torch.from_numpy(np.ascontiguousarray(features, dtype=np.float64))
    target = torch.from_numpy(np.ascontiguousarray(targets, dtype=np.int64))
    start = np.zeros(features.shape[1])
    start[0] = np.log(np.expm1(1.0))
    weights = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([weights], max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        gate = torch.nn.functional.softplus(f @ weights)
        loss = torch.nn.functional.cross_entropy(z + gate[:, None] * ell, target)
        loss.backward()  # type: ignore[no-untyped-call]
        return loss

    optimiser.step(closure)  # type: ignore[no-untyped-call]
    out: FloatArray = weights.detach().numpy().copy()
    return out
