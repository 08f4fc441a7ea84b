"""``decayrec serve``: the HTTP service over a saved decayed-profile model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from decayrec.cli._app import app, console
from decayrec.errors import MissingExtraError
from decayrec.models._persistence import read_manifest
from decayrec.serve.settings import ServeSettings
from decayrec.serve.state import check_servable

__all__: list[str] = []


@app.command("serve")
def serve(
    model: Annotated[
        Path | None,
        typer.Option("--model", "-m", help="Saved model folder (or DECAYREC_MODEL)."),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="sqlite:///state.db (embedded, default) or redis://host:6379/0 "
            "(or DECAYREC_STORE / DECAYREC_REDIS_URL)."
        ),
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default 8000).")] = None,
    config: Annotated[
        Path | None,
        typer.Option(help="TOML file with a [serve] table (or DECAYREC_CONFIG); flags win."),
    ] = None,
    openapi: Annotated[
        Path | None,
        typer.Option(help="Write the OpenAPI document to this file and exit (serves nothing)."),
    ] = None,
) -> None:
    """Serve recommendations, interests, re-ranking and audiences, updated per event.

    API keys come from DECAYREC_API_KEYS ("key1:read,key2:write+read,key3:admin") or the
    config file's api_keys; without keys the service allows every request and binds to
    loopback only.
    """
    if openapi is not None:
        _write_openapi(openapi)
        return
    settings = ServeSettings.from_env(
        config=config, model_dir=model, store=store, host=host, port=port
    )
    settings.check_binding()
    _check_model(settings.model_dir)
    try:
        import uvicorn

        from decayrec.serve import create_app
    except ImportError as exc:
        raise MissingExtraError(
            f"`decayrec serve` needs FastAPI and uvicorn: pip install 'decayrec[serve]' ({exc})."
        ) from exc
    auth = (
        "no API keys: every request is allowed (loopback only)"
        if settings.open
        else (f"{len(settings.api_keys)} API keys")
    )
    console.print(
        f"decayrec serve: model {settings.model_dir}, store {settings.store}, {auth}; "
        f"http://{settings.host}:{settings.port}/docs",
        soft_wrap=True,
    )
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
    )


def _write_openapi(path: Path) -> None:
    """The document the app serves at ``/openapi.json`` (no model or store is opened)."""
    import json

    from decayrec.serve import create_app

    document = create_app(ServeSettings(model_dir=Path("unused"))).openapi()
    path.write_text(json.dumps(document, indent=2, sort_keys=True) + "\n")
    console.print(f"wrote {path}")


def _check_model(folder: Path) -> None:
    """Fail fast, before binding a port, on a folder the service cannot serve."""
    manifest, manifest_path = read_manifest(folder)
    check_servable(manifest.get("name"), manifest_path)
