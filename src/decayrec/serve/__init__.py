"""The online service (the ``serve`` extra): ``create_app(settings)`` and its settings.

Importing this package imports nothing heavy; :func:`create_app` imports FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from decayrec.serve.settings import ServeSettings

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ServeSettings", "create_app"]


def create_app(settings: ServeSettings, **options: Any) -> FastAPI:
    """Build the FastAPI app (see :func:`decayrec.serve.app.create_app`)."""
    try:
        from decayrec.serve.app import create_app as build
    except ImportError as exc:
        from decayrec.errors import MissingExtraError

        raise MissingExtraError(
            f"The service needs FastAPI and uvicorn: pip install 'decayrec[serve]' ({exc})."
        ) from exc
    return build(settings, **options)
