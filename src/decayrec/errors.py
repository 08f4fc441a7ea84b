"""One exception tree for decayrec.

Every error raised on purpose by decayrec derives from :class:`DecayrecError` and also from
the built-in exception a caller would naturally catch, so ``except ValueError`` keeps working.
Messages name the parameter, field, row and value, and what is accepted.
"""

from __future__ import annotations

__all__ = [
    "DataValidationError",
    "DecayrecError",
    "InvalidParameterError",
    "MissingExtraError",
    "NotFittedError",
    "UnknownIdError",
]


class DecayrecError(Exception):
    """Base class of every error decayrec raises on purpose."""


class DataValidationError(DecayrecError, ValueError):
    """Input data cannot be read as the named format (names the file, row, column and value)."""


class InvalidParameterError(DecayrecError, ValueError):
    """A parameter has a value outside what it accepts."""


class NotFittedError(DecayrecError, AttributeError):
    """A model was used before ``fit`` (or ``load``)."""


class UnknownIdError(DecayrecError, KeyError):
    """A raw user or item id is not known to a model where one is required."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable.
        return str(self.args[0]) if self.args else ""


class MissingExtraError(DecayrecError, ImportError):
    """An optional dependency is missing; the message names the extra to install."""
