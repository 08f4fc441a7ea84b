"""Item tables of :class:`~decayrec.models.learned.LearnedDecay`, and their training twins.

What: the item-item similarity that carries evidence to neighbours (row-normalised, or with
each row's own mass), and the *leave-one-user-out* versions of the similarity and of an
item's share of its category that training reads.

Why leave the user out: both tables are counted over the whole training log, the target
events included. A training target ``t`` of user ``u`` co-occurs with every item ``h`` of
``u``'s history *through ``u`` alone*, so ``S[h, t] > 0`` even where no other shopper links
the two; and ``t``'s popularity counts ``u``'s own events on it. A likelihood fitted on those
tables learns that neighbours and popularity predict far better than they do for a shopper
whose next events are not in the log yet (every test shopper). Removing ``u``'s contribution
is exact and cheap: ``u`` adds exactly 1 to ``C[h, t]``, ``C[h, h]`` and ``C[t, t]`` for every
history item ``h``, so one matrix serves every training target, and the shares subtract the
user's own counts.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp

from decayrec.models.item2item import (
    SimilarityName,
    cooccurrence_counts,
    item_similarity,
    similarity_values,
)
from decayrec.types import FloatArray, IndexArray

__all__ = ["ItemSimilarity", "leave_user_out_shares"]

_TINY: Final = 1e-12


class ItemSimilarity:
    """``S`` for scoring and its row sums; :meth:`held_out`, its twin for training.

    Parameters
    ----------
    users, items
        The training events (any order).
    n_users, n_items
        Sizes of the index spaces.
    measure
        How co-occurrence becomes similarity (see :func:`~decayrec.models.item_similarity`).
    max_neighbours
        Neighbours kept per item.
    self_weight
        An item's similarity to itself against its neighbours' mass.
    normalise
        ``True``: every row with neighbours sums to 1 before ``self_weight`` (each event passes
        one unit of evidence to its neighbours); ``False``: rows keep the measure's own mass,
        divided by the mean row sum, so an item with many strong neighbours passes on more
        (as :class:`~decayrec.models.DecayedItemKNN` does) and the mean row stays at 1.
        A row then becomes ``(S + self_weight · I) / (1 + self_weight)`` (a normalised row
        without neighbours: ``I``, all of its mass on the item itself).
    """

    def __init__(
        self,
        users: IndexArray,
        items: IndexArray,
        n_users: int,
        n_items: int,
        *,
        measure: SimilarityName,
        max_neighbours: int,
        self_weight: float,
        normalise: bool,
    ) -> None:
        counts = cooccurrence_counts(users, items, n_users, n_items)
        raw = item_similarity(counts, measure, max_neighbours=max_neighbours)
        row_sum = np.asarray(raw.sum(axis=1)).ravel()
        if normalise:
            scale = np.divide(1.0, row_sum, out=np.zeros_like(row_sum), where=row_sum > 0)
        else:
            mean = float(row_sum[row_sum > 0].mean()) if (row_sum > 0).any() else 1.0
            scale = np.full(n_items, 1.0 / mean)
        self._counts, self._measure = counts, measure
        self._scaled = sp.csr_matrix(sp.diags(scale) @ raw)
        self._own = sp.identity(n_items, format="csr") * self_weight
        # Normalised rows sum to 1 + s (rows without neighbours to s): back to 1.
        total = ((row_sum > 0) if normalise else 1.0) + np.full(n_items, self_weight)
        self._divisor = sp.diags(np.divide(1.0, total, out=np.zeros(n_items), where=total > 0))
        self.matrix: sp.csr_matrix = _sorted(self._divisor @ (self._scaled + self._own))
        self.row_sum: FloatArray = np.asarray(self.matrix.sum(axis=1)).ravel()

    def held_out(self) -> sp.csr_matrix:
        """The similarity training reads: :attr:`matrix` with one shopper's pairs removed.

        Computed on request (only training needs it, never scoring or loading).
        """
        less_one = _leave_user_out(self._scaled, self._counts, self._measure)
        return _sorted(self._divisor @ (less_one + self._own))


def _leave_user_out(
    scaled: sp.csr_matrix, counts: sp.csr_matrix, measure: SimilarityName
) -> sp.csr_matrix:
    """``scaled`` with every pair's similarity recomputed from counts less one shopper."""
    coo = scaled.tocoo()
    if not coo.nnz:
        return sp.csr_matrix(scaled.shape)
    rows, cols = coo.row.astype(np.int64), coo.col.astype(np.int64)
    together = np.asarray(counts[rows, cols]).ravel().astype(np.float64)
    support = counts.diagonal().astype(np.float64)
    full = similarity_values(together, support[rows], support[cols], measure)
    less_one = similarity_values(together - 1.0, support[rows] - 1.0, support[cols] - 1.0, measure)
    factor = np.divide(less_one, full, out=np.zeros(len(full)), where=full > _TINY)
    return sp.csr_matrix((coo.data * factor, (rows, cols)), shape=scaled.shape)


def _sorted(matrix: sp.spmatrix) -> sp.csr_matrix:
    out = sp.csr_matrix(matrix)
    out.eliminate_zeros()
    out.sort_indices()
    return out


def leave_user_out_shares(
    users: IndexArray,
    items: IndexArray,
    slots: npt.NDArray[np.int64],
    targets: npt.NDArray[np.int64],
    n_items: int,
) -> FloatArray:
    """Each target event's share of its category's events, the target's user left out.

    ``(n_item - n_user,item) / (n_slot - n_user,slot)`` over every training event: what the
    item's popularity is to a shopper who is not in the log. 0 where only that user touched
    the category.

    Examples
    --------
    >>> users, items = np.array([0, 0, 1, 1]), np.array([0, 1, 0, 0])
    >>> slots = np.zeros(4, dtype=np.int64)
    >>> leave_user_out_shares(users, items, slots, np.array([1, 2]), n_items=2).tolist()
    [0.0, 0.5]
    >>> leave_user_out_shares(users, items, slots, np.array([0]), n_items=2).tolist()
    [1.0]
    """
    users64, items64 = users.astype(np.int64), items.astype(np.int64)
    item_total = np.bincount(items64, minlength=n_items).astype(np.float64)
    n_slots = int(slots.max(initial=-1)) + 1
    slot_total = np.bincount(slots, minlength=n_slots).astype(np.float64)
    user_item = _counts_of(users64 * n_items + items64)
    user_slot = _counts_of(users64 * max(n_slots, 1) + slots)
    item_part = item_total[items64[targets]] - user_item[targets]
    slot_part = slot_total[slots[targets]] - user_slot[targets]
    shares: FloatArray = np.divide(
        item_part, slot_part, out=np.zeros(len(targets)), where=slot_part > 0
    )
    return shares


def _counts_of(keys: npt.NDArray[np.int64]) -> FloatArray:
    """For every entry, how many entries share its key."""
    _, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    out: FloatArray = counts[inverse].astype(np.float64)
    return out
