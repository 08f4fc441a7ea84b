"""Settings of ``decayrec serve``: flags over environment variables over defaults."""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal

from decayrec.errors import InvalidParameterError

__all__ = ["SCOPES", "Scope", "ServeSettings", "parse_api_keys"]

Scope = Literal["read", "write", "admin"]
SCOPES: Final[tuple[Scope, ...]] = ("read", "write", "admin")


def parse_api_keys(text: str) -> dict[str, frozenset[Scope]]:
    """``"key1:read,key2:write+read"`` -> ``{key: scopes}``; names the bad entry on error."""
    keys: dict[str, frozenset[Scope]] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        key, sep, scopes = entry.rpartition(":")
        wanted = [s.strip() for s in scopes.split("+")]
        if not sep or not key or any(s not in SCOPES for s in wanted):
            raise InvalidParameterError(
                f"DECAYREC_API_KEYS entry {entry.split(':')[-1]!r} (key hidden) must be "
                f"KEY:SCOPE[+SCOPE...] with scopes among {', '.join(SCOPES)}."
            )
        keys[key] = frozenset(wanted)  # type: ignore[arg-type]
    return keys


@dataclass(frozen=True)
class ServeSettings:
    """Everything the app needs; :meth:`from_env` reads the ``DECAYREC_*`` variables.

    With no API keys the service accepts every request, and so binds to a loopback address
    only (:meth:`check_binding`).
    """

    model_dir: Path
    store: str = "sqlite:///decayrec-state.db"
    host: str = "127.0.0.1"
    port: int = 8000
    api_keys: Mapping[str, frozenset[Scope]] = field(default_factory=dict)
    max_batch: int = 10_000
    max_body_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        config: Path | str | None = None,
        **overrides: object,
    ) -> ServeSettings:
        """Defaults < the ``[serve]`` table of a TOML ``config`` file (or ``DECAYREC_CONFIG``)
        < ``DECAYREC_MODEL``, ``DECAYREC_STORE`` (or ``DECAYREC_REDIS_URL``),
        ``DECAYREC_API_KEYS`` < ``overrides`` (flags; ``None`` values are ignored)."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        config = config if config is not None else env.get("DECAYREC_CONFIG")
        if config is not None:
            values.update(_read_config(Path(config)))
        if "DECAYREC_MODEL" in env:
            values["model_dir"] = Path(env["DECAYREC_MODEL"])
        if "DECAYREC_STORE" in env:
            values["store"] = env["DECAYREC_STORE"]
        elif "DECAYREC_REDIS_URL" in env:
            values["store"] = env["DECAYREC_REDIS_URL"]
        if env.get("DECAYREC_API_KEYS"):
            values["api_keys"] = parse_api_keys(env["DECAYREC_API_KEYS"])
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "model_dir" not in values:
            raise InvalidParameterError(
                "The service needs a model: pass --model MODEL_DIR, set DECAYREC_MODEL or "
                "`model` in the config file."
            )
        values["model_dir"] = Path(str(values["model_dir"]))
        return cls(**values)  # type: ignore[arg-type]

    @property
    def open(self) -> bool:
        """No API keys: every request is allowed."""
        return not self.api_keys

    def check_binding(self) -> None:
        """Refuse a non-loopback address while the service has no API keys."""
        if not self.open:
            return
        try:
            loopback = ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            loopback = self.host == "localhost"
        if not loopback:
            raise InvalidParameterError(
                f"No API keys are configured, so the service binds to loopback only; got "
                f"--host {self.host}. Set DECAYREC_API_KEYS (e.g. 'k1:read,k2:write+read') to "
                "serve other hosts."
            )


_CONFIG_KEYS: Final = {
    "model": ("model_dir", str),
    "store": ("store", str),
    "host": ("host", str),
    "port": ("port", int),
    "api_keys": ("api_keys", str),
    "max_batch": ("max_batch", int),
    "max_body_bytes": ("max_body_bytes", int),
}


def _read_config(path: Path) -> dict[str, object]:
    """The ``[serve]`` table of a TOML file, checked key by key."""
    try:
        with path.open("rb") as handle:
            document = tomllib.load(handle)
    except OSError as error:
        raise InvalidParameterError(f"The config file {path} cannot be read: {error}.") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidParameterError(f"The config file {path} is not valid TOML: {error}.") from None
    table = document.get("serve", {})
    values: dict[str, object] = {}
    for key, value in table.items():
        if key not in _CONFIG_KEYS:
            raise InvalidParameterError(
                f"{path}: [serve] key {key!r} is unknown; expected one of "
                f"{', '.join(_CONFIG_KEYS)}."
            )
        field_name, kind = _CONFIG_KEYS[key]
        if not isinstance(value, kind) or isinstance(value, bool):
            raise InvalidParameterError(
                f"{path}: [serve] {key} must be a {kind.__name__}. Got {value!r} instead."
            )
        values[field_name] = parse_api_keys(str(value)) if key == "api_keys" else value
    return values
