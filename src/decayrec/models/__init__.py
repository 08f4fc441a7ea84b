"""Recommenders built on the decay model, and the registry the CLI and the runner use.

Every model follows :class:`Recommender` (``fit / partial_fit / recommend / explain / save /
load``). Models are named on the command line and in evaluation JSON by :attr:`name`; the
suffix ``-no-decay`` gives the same model with ``half_life=None`` (decay switched off), the
baseline that shows what decay is worth.

Examples
--------
>>> make_model("decayed-profile-no-decay").display_name
'decayed-profile-no-decay'
>>> sorted(MODELS)  # doctest: +NORMALIZE_WHITESPACE
['decayed-itemknn', 'decayed-popularity', 'decayed-profile', 'learned-decay',
 'time-aware-transformer']
"""

from __future__ import annotations

import inspect
from typing import Any

from decayrec.errors import InvalidParameterError
from decayrec.models.base import (
    HALF_LIFE_PARAMETERS,
    NO_DECAY_SUFFIX,
    ExcludePolicy,
    Recommender,
    load_model,
)
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
from decayrec.models.transformer import TimeAwareTransformer

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
    "TimeAwareTransformer",
    "item_similarity",
    "known_names",
    "load_model",
    "make_model",
    "resolve_name",
]

#: CLI / JSON name -> model class. Later model families register here too.
MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        DecayedPopularity,
        DecayedProfile,
        DecayedItemKNN,
        LearnedDecay,
        TimeAwareTransformer,
    )
}


def resolve_name(name: str) -> tuple[type[Recommender], str, dict[str, Any]]:
    """The class, base name and parameter overrides a model name stands for.

    ``<name>`` is a registered model; ``<name>-no-decay`` sets its half-life parameters to
    ``None`` (for models without ablations); ``<name>-<ablation>`` applies one of the class'
    :attr:`~Recommender.ablations`.

    Examples
    --------
    >>> cls, base, overrides = resolve_name("time-aware-transformer-no-time")
    >>> cls.__name__, base, overrides
    ('TimeAwareTransformer', 'time-aware-transformer', {'time_bias': False})
    """
    if name in MODELS:
        return MODELS[name], name, {}
    for base, model_cls in MODELS.items():
        for suffix, overrides in model_cls.ablations.items():
            if name == f"{base}-{suffix}":
                return model_cls, base, dict(overrides)
    base = name.removesuffix(NO_DECAY_SUFFIX)
    if base != name and base in MODELS and not MODELS[base].ablations:
        accepted = inspect.signature(MODELS[base].__init__).parameters
        return MODELS[base], base, {k: None for k in HALF_LIFE_PARAMETERS if k in accepted}
    raise InvalidParameterError(
        f"Model {name!r} is unknown; expected one of {', '.join(known_names())}."
    )


def known_names() -> list[str]:
    """Every name :func:`make_model` accepts: models, their ``-no-decay`` and ablations."""
    names = []
    for base, model_cls in sorted(MODELS.items()):
        names.append(base)
        if model_cls.ablations:
            names += [f"{base}-{suffix}" for suffix in model_cls.ablations]
        else:
            names.append(base + NO_DECAY_SUFFIX)
    return names


def make_model(name: str, **params: Any) -> Recommender:
    """A new, unfitted model from its CLI name and keyword parameters.

    ``<name>-no-decay`` sets ``half_life`` (and any other half-life parameter of the model)
    to ``None``; ``<name>-<ablation>`` sets what the ablation switches off
    (:func:`resolve_name`).

    Raises
    ------
    InvalidParameterError
        Unknown name (the message lists the known ones), a parameter the model does not take,
        or a parameter given together with a suffix that fixes it otherwise.

    Examples
    --------
    >>> make_model("decayed-itemknn", similarity="cosine").similarity
    'cosine'
    >>> make_model("decayed-popularity-no-decay").half_life is None
    True
    """
    model_cls, _, overrides = resolve_name(name)
    for key, value in overrides.items():
        given = params.get(key, value)
        if given != value and not (value is None and given is None):
            what = "switches decay off" if value is None else f"sets {key}={value!r}"
            raise InvalidParameterError(
                f"Model {name!r} {what}, so the '{key}' parameter must be {value!r}. "
                f"Got {given!r} instead."
            )
        params[key] = value
    return model_cls.from_params(params)
