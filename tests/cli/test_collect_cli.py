"""`meterbook sources`, `collect`, `metrics` and `workloads` as a user meets them, against the
local CML and CloudMonitor servers, configured in meterbook.toml."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from meterbook.samples.cml_server import CmlServer, sample_workloads
from meterbook.samples.cms_server import CmsServer
from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)

INSTANCES = {"i-web1": "ECS", "i-web2": "ECS", "rm-db1": "RDS"}


@pytest.fixture
def servers() -> Iterator[tuple[CmlServer, CmsServer]]:
    start, end = datetime(2025, 2, 1, tzinfo=UTC), datetime(2025, 3, 1, tzinfo=UTC)
    with CmlServer(sample_workloads(60, start, end, seed=1)) as cml, CmsServer(INSTANCES) as cms:
        yield cml, cms


@pytest.fixture
def configured(
    workdir: Path,  # noqa: F811
    servers: tuple[CmlServer, CmsServer],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> Path:
    cml, cms = servers
    run(capsys, "init")
    config = workdir / "meterbook.toml"
    config.write_text(
        config.read_text()
        + f"""
[sources.ml-prod]
type = "cml"
url = "{cml.url}"
api_key_env = "TEST_CML_KEY"
timeseries = []

[sources.ali-hk]
type = "alibaba-cms"
region = "cn-hongkong"
endpoint = "{cms.endpoint}"
protocol = "http"
period = 900
access_key_csv = "AccessKey.csv"
max_attempts = 2
[sources.ali-hk.inventory.PROD]
web = [{{ id = "i-web1", name = "prod-web-01" }}, {{ id = "i-web2", name = "prod-web-02" }}]
rds = [{{ id = "rm-db1", name = "prod-db" }}]
""",
        encoding="utf-8",
    )
    keys = workdir / "AccessKey.csv"
    keys.write_text("AccessKeyId,AccessKeySecret\ntest-key-id,test-key-secret\n")
    keys.chmod(0o600)
    monkeypatch.setenv("TEST_CML_KEY", "test-api-key")
    for name in ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET"):
        monkeypatch.delenv(name, raising=False)
    return workdir


def test_sources_list_and_check(configured: Path, capsys: pytest.CaptureFixture[str],
                                monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    code, out, _ = run(capsys, "sources", "--help")
    assert code == 0 and "Examples" in out
    code, out, _ = run(capsys, "sources", "list", "--format", "json")
    listed = {s["name"]: s for s in json.loads(out)}
    assert listed["ali-hk"]["collects"] == "3 instances every 900 s"
    assert listed["ml-prod"]["type"] == "cml"
    code, out, _ = run(capsys, "sources", "check")
    assert code == 0
    assert "ml-prod: ok (60 workloads visible)" in out
    assert "ali-hk: ok (CPUUtilization of prod-web-01 answered)" in out
    monkeypatch.setenv("TEST_CML_KEY", "wrong")
    code, out, _ = run(capsys, "sources", "check", "ml-prod")
    assert code == 5 and "ml-prod: FAILED: source ml-prod: authentication failed" in out
    assert "wrong" not in out


def test_collect_then_summaries(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "collect", "ali-hk", "--sprint", "15", "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["samples"] == 3 * 2 * 14 * 96 and result["new_samples"] == result["samples"]
    assert (result["from"], result["to"]) == ("2025-02-13T00:00:00+00:00",
                                              "2025-02-27T00:00:00+00:00")  # fmt: skip
    code, out, _ = run(capsys, "collect", "ali-hk", "--sprint", "15")
    assert code == 0 and "(0 new)" in out and "sprint-15" in out
    code, out, _ = run(capsys, "metrics", "summary", "--sprint", "15", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 6
    web = next(
        r for r in rows if r["instance"] == "prod-web-01" and r["metric"] == "CPUUtilization"
    )
    assert (web["environment"], web["group"], web["samples"]) == ("PROD", "web", "1344")
    assert (
        float(web["minimum"]) <= float(web["average"]) <= float(web["p95"]) <= float(web["maximum"])
    )
    code, out, _ = run(capsys, "metrics", "summary", "--sprint", "15", "--by", "environment",
                       "--metric", "CpuUsage", "--format", "json")  # fmt: skip
    (db,) = json.loads(out)["rows"]
    assert db["samples"] == 1344 and db["environment"] == "PROD" and "instance" not in db
    code, out, _ = run(capsys, "metrics", "series", "--from", "2025-02-13", "--to", "2025-02-13",
                       "--instance", "prod-db", "--format", "csv")  # fmt: skip
    series = list(csv.DictReader(io.StringIO(out)))
    assert len(series) == 2 * 24 and {r["samples"] for r in series} == {"4"}
    code, out, err = run(capsys, "collect", "ml-prod", "--period", "2025-02")
    assert code == 0, err
    assert "60 inserted" in out
    code, out, _ = run(capsys, "workloads", "--source", "ml-prod", "--period", "2025-02",
                       "--by", "workload_type", "--format", "json")  # fmt: skip
    assert sum(r["workloads"] for r in json.loads(out)["rows"]) == 60
    code, out, _ = run(capsys, "usage", "--source", "ml-prod", "--period", "2025-02", "--by",
                       "user", "--format", "json")  # fmt: skip
    assert code == 0 and json.loads(out)["total"]["cpu_hours"] > 0
    code, out, _ = run(capsys, "imports", "--format", "json")
    assert {r["kind"] for r in json.loads(out)} >= {"cml", "alibaba-cms"}


def test_collect_errors_are_one_line(configured: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "collect", "nope")
    assert code == 2 and err.count("\n") == 1 and "unknown source 'nope'" in err
    (configured / "AccessKey.csv").write_text("AccessKeyId,AccessKeySecret\nbad-id,x\n")
    code, _, err = run(capsys, "collect", "ali-hk", "--sprint", "15")
    assert code == 5 and err.count("\n") == 1
    assert "source ali-hk" in err and "InvalidAccessKeyId" in err
    code, _, err = run(capsys, "collect", "ali-hk", "--sprint", "15", "--period", "2025-02")
    assert code == 2 and "not several" in err


def test_secrets_in_the_config_file_are_refused(
    configured: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = configured / "meterbook.toml"
    config.write_text(config.read_text().replace('api_key_env = "TEST_CML_KEY"',
                                                 'api_key = "abc"'))  # fmt: skip
    code, _, err = run(capsys, "sources")
    assert code == 2 and "[sources.ml-prod] api_key: secrets are not read" in err


def test_world_readable_key_file_is_warned_about(
    configured: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    os.chmod(configured / "AccessKey.csv", 0o644)  # noqa: PTH101
    code, out, _ = run(capsys, "sources", "check", "ali-hk")
    assert code == 0 and "ali-hk: ok" in out
    assert "AccessKey.csv: access key file is readable by group or others" in caplog.text
