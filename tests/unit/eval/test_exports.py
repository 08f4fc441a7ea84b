"""The public names of ``decayrec.eval``: sorted, complete and importable."""

from __future__ import annotations

import decayrec.eval as package
from decayrec.eval import folds, metrics, protocols, report, runner


def _isort_key(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 wants: CONSTANTS, then CamelCase, then the rest."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def test_all_is_sorted_and_resolves() -> None:
    assert package.__all__ == sorted(package.__all__, key=_isort_key)
    for name in package.__all__:
        assert getattr(package, name) is not None


def test_every_module_export_is_re_exported() -> None:
    exported = set(package.__all__)
    for module in (folds, metrics, protocols, report, runner):
        assert set(module.__all__) <= exported, module.__name__
