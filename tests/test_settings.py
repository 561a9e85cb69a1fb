"""Settings: defaults < meterbook.toml < MB_* environment < options; secrets stay hidden."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterbook.errors import ConfigError
from meterbook.settings import Settings, load_settings, render_config


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_defaults() -> None:
    settings = load_settings(None, env={}, discover=False)
    assert settings.database_url == "sqlite:///meterbook.db"
    assert settings.timezone == "UTC" and settings.batch_size == 10_000


def test_layers(tmp_path: Path) -> None:
    config = write(
        tmp_path / "m.toml",
        '[database]\nurl = "sqlite:///data/l.db"\n[import]\nbatch_size = 1000\n'
        '[accounting]\ntimezone = "Europe/Zurich"\n',
    )
    settings = load_settings(config, env={"MB_BATCH_SIZE": "2000"})
    # A relative SQLite path in a file is relative to that file.
    assert settings.database_url == f"sqlite:///{tmp_path / 'data' / 'l.db'}"
    assert settings.batch_size == 2000
    assert settings.timezone == "Europe/Zurich"
    assert load_settings(config, env={}, database_url="sqlite:///x.db").database_url == (
        "sqlite:///x.db"
    )


def test_discovery(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    write(tmp_path / "meterbook.toml", '[logging]\nlevel = "info"\n')
    assert load_settings(None, env={}).log_level == "INFO"
    other = write(tmp_path / "other.toml", '[logging]\nlevel = "error"\n')
    assert load_settings(None, env={"MB_CONFIG": str(other)}).log_level == "ERROR"
    with pytest.raises(ConfigError, match=r"missing\.toml: configuration file not found"):
        load_settings(tmp_path / "missing.toml", env={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[database]\nuri = "x"\n', "unknown setting \\[database\\] uri"),
        ('[database]\npassword = "hunter2"\n', "secrets are not read from the configuration"),
        ('[accounting]\ntimezone = "Mars/Olympus"\n', "unknown time zone"),
        ("[database\n", "invalid TOML"),
        ("[import]\nbatch_size = 5\n", "batch_size"),
    ],
)
def test_bad_files(tmp_path: Path, text: str, message: str) -> None:
    config = write(tmp_path / "m.toml", text)
    with pytest.raises(ConfigError, match=message):
        load_settings(config, env={})


def test_secrets_never_show(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    secrets = write(tmp_path / "secrets.toml", 'database_password = "hunter2"\n')
    secrets.chmod(0o644)
    settings = load_settings(None, env={"MB_SECRETS_FILE": str(secrets)}, discover=False)
    assert settings.database_password is not None
    assert settings.database_password.get_secret_value() == "hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings)
    assert "readable by group or others" in caplog.text
    from_env = load_settings(None, env={"MB_DATABASE_PASSWORD": "s3cret"}, discover=False)
    assert "s3cret" not in repr(from_env)


def test_the_template_is_a_valid_configuration(tmp_path: Path) -> None:
    text = render_config(Settings(), "sqlite:///meterbook.db")
    config = write(tmp_path / "meterbook.toml", text)
    assert load_settings(config, env={}).batch_size == 10_000
