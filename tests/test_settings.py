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


SOURCES = """
[periods]
sprint_anchor = 1
sprint_anchor_start = 2026-01-05
sprint_days = 7

[sources.ml]
type = "cml"
url = "https://ml.example.com/api/v1"
memory_unit = "MiB"

[sources.ali]
type = "alibaba-cms"
region = "cn-hongkong"
[sources.ali.inventory.PROD]
web = [{ id = "i-1", name = "prod-web-01" }]
rds = [{ id = "rm-2" }]
"""


def test_sources_and_sprints_from_the_file(tmp_path: Path) -> None:
    from meterbook.collecting import sprint_calendar
    from meterbook.sources import AlibabaSource, CmlSource, cml_endpoint

    path = tmp_path / "meterbook.toml"
    path.write_text(SOURCES)
    settings = load_settings(path, env={})
    ml, ali = settings.sources["ml"], settings.sources["ali"]
    assert isinstance(ml, CmlSource) and isinstance(ali, AlibabaSource)
    assert ml.memory_unit == "MiB" and ml.timeseries == ["cpu", "memory", "gpu"]
    assert cml_endpoint(ml, {"CML_API_KEY": "k"}) == ("https://ml.example.com", "k")
    kinds = [(env, group, i.instance_kind, i.label) for env, group, i in ali.instances()]
    assert kinds == [("PROD", "web", "ECS", "prod-web-01"), ("PROD", "rds", "RDS", "rm-2")]
    assert ali.metrics["RDS"] == ["CpuUsage", "MemoryUsage"] and ali.period == 300
    sprint = sprint_calendar(settings).sprint(3)
    assert (sprint.start.isoformat(), sprint.end.isoformat()) == ("2026-01-19", "2026-01-26")


def test_cml_inside_a_workbench(tmp_path: Path) -> None:
    from meterbook.sources import CmlSource, cml_endpoint

    source = CmlSource(name="wb", type="cml")
    env = {"CDSW_API_URL": "https://ml.example.com/api/v1", "CDSW_APIV2_KEY": "secret"}
    assert cml_endpoint(source, env) == ("https://ml.example.com", "secret")
    with pytest.raises(ConfigError, match="source wb: no url"):
        cml_endpoint(source, {})
    with pytest.raises(ConfigError, match=r"source wb: no API key: set CML_API_KEY"):
        cml_endpoint(CmlSource(name="wb", type="cml", url="https://x"), {})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sources.x]\ntype = "ftp"\n', r"\[sources.x\] type: 'ftp' is not a source type"),
        ('[sources.x]\ntype = "cml"\nmemory_unit = "KB"\n', r"\[sources.x\] memory_unit:"),
        ('[sources.x]\ntype = "cml"\nurl = "u"\ncolour = 1\n', r"\[sources.x\] colour:"),
        ('[sources.x]\ntype = "alibaba-cms"\n', r"\[sources.x\] region: Field required"),
        ('[sources.x]\ntype = "alibaba-cms"\nregion = "r"\nperiod = 61\n', r"period"),
        (
            '[sources.x]\ntype = "alibaba-cms"\nregion = "r"\n[sources.x.inventory.A]\n'
            'web = [{ id = "i-1" }]\napp = [{ id = "i-1" }]\n',
            "instance i-1 is listed twice",
        ),
        ('[sources.x]\ntype = "cml"\napi_key = "abc"\n', "secrets are not read"),
        ('[sources.x]\ntype = "alibaba-cms"\naccess_key_secret = "s"\n', "secrets are not read"),
    ],
)
def test_bad_sources(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "meterbook.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_settings(path, env={})


def test_access_key_csv(tmp_path: Path) -> None:
    from meterbook.sources import AlibabaSource, alibaba_key

    source = AlibabaSource(name="a", type="alibaba-cms", region="r", access_key_csv="k.csv")
    (tmp_path / "k.csv").write_text("User Name,AccessKeyId,AccessKeySecret\nops,id1,sec1\n")
    key = alibaba_key(source, {}, tmp_path)
    assert (key.key_id, key.secret) == ("id1", "sec1") and "sec1" not in repr(key)
    (tmp_path / "k.csv").write_text("a,b\nid2,sec2\n")
    assert alibaba_key(source, {}, tmp_path).key_id == "id2"
    env = {"ALIBABA_CLOUD_ACCESS_KEY_ID": "e", "ALIBABA_CLOUD_ACCESS_KEY_SECRET": "s"}
    assert alibaba_key(source, env, tmp_path).key_id == "e"
    (tmp_path / "k.csv").write_text("AccessKeyId,AccessKeySecret\n")
    with pytest.raises(ConfigError, match=r"k.csv: line 2: expected AccessKeyId"):
        alibaba_key(source, {}, tmp_path)
