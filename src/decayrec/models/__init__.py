"""Recommenders built on the decay model, and the registry the CLI and the runner use.

Every model follows :class:`Recommender` (``fit / partial_fit / recommend / explain / save /
load``). Models are named on the command line and in evaluation JSON by :attr:`name`; the
suffix ``-no-decay`` gives the same model with ``half_life=None`` (decay switched off), the
baseline that shows what decay is worth.

Examples
--------
>>> make_model("decayed-profile-no-decay").display_name
'decayed-profile-no-decay'
>>> sorted(MODELS)
['decayed-itemknn', 'decayed-popularity', 'decayed-profile', 'learned-decay']
"""

from __future__ import annotations

import inspect
from typing import Any

from decayrec.errors import InvalidParameterError
from decayrec.models.base import NO_DECAY_SUFFIX, ExcludePolicy, Recommender, load_model
from decayrec.models.item2item import (
    CooccurrenceUnit,
    DecayedItemKNN,
    SimilarityName,
    item_similarity,
)
from decayrec.models.learned import LearnedDecay
from decayrec.models.popularity import DecayedPopularity
from decayrec.models.profile import DecayedProfile
from decayrec.models.results import ContributingEvent, Explanation, Recommendations

__all__ = [
    "MODELS",
    "NO_DECAY_SUFFIX",
    "ContributingEvent",
    "CooccurrenceUnit",
    "DecayedItemKNN",
    "DecayedPopularity",
    "DecayedProfile",
    "ExcludePolicy",
    "Explanation",
    "LearnedDecay",
    "Recommendations",
    "Recommender",
    "SimilarityName",
    "item_similarity",
    "load_model",
    "make_model",
]

#: CLI / JSON name -> model class. Later model families register here too.
MODELS: dict[str, type[Recommender]] = {
    cls.name: cls for cls in (DecayedPopularity, DecayedProfile, DecayedItemKNN, LearnedDecay)
}

#: Parameters set to ``None`` by the ``-no-decay`` suffix (where a model has them).
_DECAY_PARAMETERS = ("half_life", "popularity_half_life", "category_half_lives")


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model from its CLI name and keyword parameters.

    ``<name>-no-decay`` sets ``half_life`` (and any other half-life parameter of the model)
    to ``None``.

    Raises
    ------
    InvalidParameterError
        Unknown name (the message lists the known ones), a parameter the model does not take,
        or a half-life given together with ``-no-decay``.

    Examples
    --------
    >>> make_model("decayed-itemknn", similarity="cosine").similarity
    'cosine'
    >>> make_model("decayed-popularity-no-decay").half_life is None
    True
    """
    base = name.removesuffix(NO_DECAY_SUFFIX)
    model_cls = MODELS.get(base)
    if model_cls is None:
        known = ", ".join(sorted(MODELS))
        raise InvalidParameterError(
            f"Model {name!r} is unknown; expected one of {known} "
            f"(each also with the suffix {NO_DECAY_SUFFIX!r})."
        )
    if base != name:
        accepted = inspect.signature(model_cls.__init__).parameters
        for key in _DECAY_PARAMETERS:
            if key not in accepted:
                continue
            if params.get(key) is not None:
                raise InvalidParameterError(
                    f"Model {name!r} switches decay off, so the '{key}' parameter must be "
                    f"None. Got {params[key]!r} instead."
                )
            params[key] = None
    return model_cls.from_params(params)
