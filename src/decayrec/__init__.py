"""decayrec: e-commerce recommendations built on a user-interest decay model."""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__"]
