"""decayrec.decay exports exactly its public names, in ruff's (isort-style) order."""

from __future__ import annotations

import decayrec.decay as decay
from decayrec.decay import interest, kernels, mixture, online


def isort_key(name: str) -> tuple[int, str]:
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def test_all_is_sorted_and_complete():
    assert decay.__all__ == sorted(decay.__all__, key=isort_key)
    assert len(set(decay.__all__)) == len(decay.__all__)
    for name in decay.__all__:
        assert hasattr(decay, name), name


def test_every_module_export_is_re_exported():
    for module in (interest, kernels, mixture, online):
        assert set(module.__all__) <= set(decay.__all__), module.__name__
