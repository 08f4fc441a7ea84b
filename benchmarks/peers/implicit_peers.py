"""implicit's ALS and BPR as decayrec recommenders (the ``implicit-als``, ``implicit-bpr`` peers).

Why adapters: wrapped as :class:`~decayrec.models.base.Recommender` subclasses, the peers are
scored by decayrec's own protocols (full ranking, same users, ``at``, targets and exclusions)
and fall back to popularity for users unknown at their ``at``, exactly like decayrec's models.

The confidence matrix sums each user-item pair's event-type weights (the same funnel weights
decayrec uses, ``event_weights`` overrides them). Factors are learned from the whole training
log, so unlike the personal part of decayrec's scores they are not time-sliced per ``at``;
exclusions and the fallback still are (the base class handles both). Fitting runs
single-threaded (``num_threads=1`` and BLAS limited to one thread with ``threadpoolctl``):
implicit's ALS runs many times faster so than with a multi-threaded BLAS.

Requires the ``implicit`` package (``pip install "decayrec[bench]"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp

from decayrec.errors import InvalidParameterError
from decayrec.models.base import Recommender
from decayrec.models.results import Explanation
from decayrec.types import FloatArray, IndexArray, KernelName

__all__ = ["ImplicitALS", "ImplicitBPR"]


class _ImplicitPeer(Recommender):
    """Shared parts: parameters, the confidence matrix, factor scores, save/load."""

    #: Positive numeric parameters, each checked in :meth:`_validate_params`.
    _positive: ClassVar[tuple[str, ...]] = ("embedding_size", "epochs", "regularization")

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = None,
        event_weights: Mapping[str, float] | None = None,
        embedding_size: int = 64,
        epochs: int = 15,
        regularization: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__(kernel=kernel, half_life=half_life, event_weights=event_weights)
        self.embedding_size = embedding_size
        self.epochs = epochs
        self.regularization = regularization
        self.random_state = random_state

    @property
    def display_name(self) -> str:
        """:attr:`name` (these peers never decay)."""
        return self.name

    def _validate_params(self) -> None:
        super()._validate_params()
        owner = type(self).__name__
        if self.half_life is not None:
            raise InvalidParameterError(
                f"The 'half_life' parameter of {owner} must be None (this peer does not "
                f"decay). Got {self.half_life!r} instead."
            )
        for key in self._positive:
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise InvalidParameterError(
                    f"The '{key}' parameter of {owner} must be a positive number. "
                    f"Got {value!r} instead."
                )

    def _confidence(self) -> sp.csr_matrix:
        """``(n_users, n_items)`` float32: summed event-type weights per user-item pair."""
        columns = self.columns_
        shape = (len(self.events_.users), self.n_items)
        matrix = sp.csr_matrix(
            (columns.type_weight.astype(np.float32), (columns.user, columns.item)),
            shape=shape,
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        return matrix

    def _model_class(self) -> Any:
        """implicit's model class (imported on first use: implicit is an optional extra)."""
        raise NotImplementedError

    def _make(self, model_class: Any) -> Any:
        """The unfitted implicit model."""
        raise NotImplementedError

    def _fit_state(self) -> None:
        pending = self.__dict__.pop("_pending_state", None)
        if pending is not None:
            self.user_factors_ = np.asarray(pending["user_factors"])
            self.item_factors_ = np.asarray(pending["item_factors"])
            return
        from threadpoolctl import threadpool_limits

        model_class = self._model_class()  # imported first, so that its BLAS is limited too
        with threadpool_limits(limits=1, user_api="blas"):
            model = self._make(model_class)
            model.fit(self._confidence(), show_progress=False)
        self.user_factors_ = np.asarray(model.user_factors, dtype=np.float64)
        self.item_factors_ = np.asarray(model.item_factors, dtype=np.float64)

    def _score_known(self, user_index: IndexArray, at: FloatArray) -> FloatArray:
        # One matrix-vector product per user: a row's scores then do not depend on the batch
        # it is computed in (a matrix product may round differently), so batch == single.
        out = np.empty((len(user_index), self.n_items))
        for row, user in enumerate(user_index.tolist()):
            out[row] = self.item_factors_ @ self.user_factors_[user]
        return out

    def _explain_known(self, user: int, item: int, at: float) -> Explanation:
        score = float((self.item_factors_ @ self.user_factors_[user])[item])
        return self._item_explanation(
            self.events_.users.raw([user])[0], item, at, score=score, components={"factors": score}
        )

    def _state_arrays(self) -> dict[str, np.ndarray[Any, Any]]:
        return {"user_factors": self.user_factors_, "item_factors": self.item_factors_}

    def _load_state(self, arrays: Mapping[str, np.ndarray[Any, Any]]) -> None:
        self._pending_state = dict(arrays)
        self._refresh()


class ImplicitALS(_ImplicitPeer):
    """implicit's ``AlternatingLeastSquares`` (Hu, Koren & Volinsky 2008), single-threaded.

    Parameters
    ----------
    embedding_size, epochs, regularization
        implicit's ``factors``, ``iterations``, ``regularization``.
    alpha
        Confidence scale: ``c = 1 + alpha · (summed event-type weights)``.
    random_state
        Seed of the factor initialisation.
    """

    name: ClassVar[str] = "implicit-als"
    _positive: ClassVar[tuple[str, ...]] = ("embedding_size", "epochs", "regularization", "alpha")

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = None,
        event_weights: Mapping[str, float] | None = None,
        embedding_size: int = 64,
        epochs: int = 15,
        regularization: float = 0.01,
        alpha: float = 1.0,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            kernel=kernel,
            half_life=half_life,
            event_weights=event_weights,
            embedding_size=embedding_size,
            epochs=epochs,
            regularization=regularization,
            random_state=random_state,
        )
        self.alpha = alpha

    def _model_class(self) -> Any:
        from implicit.cpu.als import AlternatingLeastSquares

        return AlternatingLeastSquares

    def _make(self, model_class: Any) -> Any:
        return model_class(
            factors=int(self.embedding_size),
            regularization=float(self.regularization),
            alpha=float(self.alpha),
            iterations=int(self.epochs),
            calculate_training_loss=False,
            num_threads=1,
            random_state=self.random_state,
        )


class ImplicitBPR(_ImplicitPeer):
    """implicit's ``BayesianPersonalizedRanking`` (Rendle et al. 2009), single-threaded.

    Parameters
    ----------
    embedding_size, epochs, regularization, learning_rate
        implicit's ``factors``, ``iterations``, ``regularization``, ``learning_rate``.
    random_state
        Seed of the initialisation and the sampling.
    """

    name: ClassVar[str] = "implicit-bpr"
    _positive: ClassVar[tuple[str, ...]] = (
        "embedding_size",
        "epochs",
        "regularization",
        "learning_rate",
    )

    def __init__(
        self,
        *,
        kernel: KernelName = "exponential",
        half_life: timedelta | None = None,
        event_weights: Mapping[str, float] | None = None,
        embedding_size: int = 64,
        epochs: int = 100,
        regularization: float = 0.01,
        learning_rate: float = 0.01,
        random_state: int = 0,
    ) -> None:
        super().__init__(
            kernel=kernel,
            half_life=half_life,
            event_weights=event_weights,
            embedding_size=embedding_size,
            epochs=epochs,
            regularization=regularization,
            random_state=random_state,
        )
        self.learning_rate = learning_rate

    def _model_class(self) -> Any:
        from implicit.cpu.bpr import BayesianPersonalizedRanking

        return BayesianPersonalizedRanking

    def _make(self, model_class: Any) -> Any:
        return model_class(
            factors=int(self.embedding_size),
            learning_rate=float(self.learning_rate),
            regularization=float(self.regularization),
            iterations=int(self.epochs),
            num_threads=1,
            random_state=self.random_state,
        )
