"""Settings of the service: API keys, environment, binding rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from decayrec.errors import InvalidParameterError
from decayrec.serve.settings import ServeSettings, parse_api_keys


def test_api_keys_parse_scopes() -> None:
    keys = parse_api_keys("k1:read, k2:write+read,k3:admin,")
    assert keys == {
        "k1": frozenset({"read"}),
        "k2": frozenset({"write", "read"}),
        "k3": frozenset({"admin"}),
    }


@pytest.mark.parametrize("text", ["k1", "k1:root", ":read", "k1:read+delete"])
def test_a_bad_key_entry_is_named_without_the_key(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="KEY:SCOPE") as error:
        parse_api_keys(text)
    assert "k1:" not in str(error.value)  # the secret part is not echoed


def test_flags_win_over_the_environment() -> None:
    env = {
        "DECAYREC_MODEL": "m",
        "DECAYREC_REDIS_URL": "redis://r:6379/0",
        "DECAYREC_API_KEYS": "k:read",
    }
    settings = ServeSettings.from_env(env, port=9000, host=None)
    assert settings.model_dir == Path("m") and settings.store == "redis://r:6379/0"
    assert settings.port == 9000 and settings.host == "127.0.0.1"
    assert not settings.open
    explicit = ServeSettings.from_env({**env, "DECAYREC_STORE": "sqlite:///x.db"}, model_dir="n")
    assert explicit.store == "sqlite:///x.db" and explicit.model_dir == Path("n")


def test_a_model_is_required() -> None:
    with pytest.raises(InvalidParameterError, match="DECAYREC_MODEL"):
        ServeSettings.from_env({})


@pytest.mark.parametrize("host", ["127.0.0.1", "::1", "localhost"])
def test_without_keys_loopback_is_allowed(host: str) -> None:
    ServeSettings(model_dir=Path("m"), host=host).check_binding()


def test_without_keys_other_addresses_are_refused() -> None:
    with pytest.raises(InvalidParameterError, match="loopback only"):
        ServeSettings(model_dir=Path("m"), host="0.0.0.0").check_binding()
    keyed = ServeSettings(model_dir=Path("m"), host="0.0.0.0", api_keys={"k": frozenset({"read"})})
    keyed.check_binding()


def test_a_config_file_sits_below_the_environment_and_flags(tmp_path: Path) -> None:
    config = tmp_path / "decayrec.toml"
    config.write_text(
        '[serve]\nmodel = "from-file"\nstore = "sqlite:///file.db"\nport = 7000\n'
        'api_keys = "k:read"\nmax_batch = 50\n'
    )
    settings = ServeSettings.from_env({"DECAYREC_STORE": "sqlite:///env.db"}, config=config)
    assert settings.model_dir == Path("from-file") and settings.store == "sqlite:///env.db"
    assert settings.port == 7000 and settings.max_batch == 50
    assert settings.api_keys == {"k": frozenset({"read"})}
    flagged = ServeSettings.from_env({"DECAYREC_CONFIG": str(config)}, port=9)
    assert flagged.port == 9 and flagged.store == "sqlite:///file.db"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[serve]\nmodle = 'x'\n", "'modle' is unknown"),
        ("[serve]\nport = 'high'\n", "port must be a int"),
        ("[serve\n", "not valid TOML"),
    ],
)
def test_a_bad_config_file_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(InvalidParameterError, match=message):
        ServeSettings.from_env({}, config=config)
