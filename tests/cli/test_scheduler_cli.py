"""`meterbook jobs`, `run-job`, `runs`, `recipients` and `deliveries` as a user meets them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)
from tests.delivery.servers import free_port, hook_server


@pytest.fixture
def configured(workdir: Path, db_url: str) -> Path:  # noqa: F811
    config = workdir / "meterbook.toml"
    config.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        '[jobs.nightly-slurm]\nschedule = "15 1 * * *"\n'
        f'command = "import slurm {workdir / "missing.log"}"\nnotify = ["ops"]\n\n'
        '[jobs.hourly]\nschedule = "0 * * * *"\ncommand = "imports --limit 1"\ncatch_up = false\n\n'
        '[recipients.ops]\nkind = "slack"\nurl_env = "MB_TEST_OPS_URL"\nteam = "ml"\n\n'
        '[recipients.finance]\nkind = "email"\nto = ["finance@example.org"]\n'
        'cc = ["cfo@example.org"]\ndivision = "research"\n\n'
        "[delivery]\nattempts = 2\nbase_delay = 0.01\n"
    )
    return config


def test_jobs_and_run_job(configured: Path, capsys: pytest.CaptureFixture[str],
                          monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    code, out, err = run(capsys, "jobs", "--format", "json")
    assert code == 0, err
    jobs = {j["job"]: j for j in json.loads(out)}
    assert set(jobs) == {"nightly-slurm", "hourly"}
    assert jobs["hourly"]["next due (UTC)"].endswith(":00:00")
    assert jobs["nightly-slurm"]["next due (UTC)"].endswith(" 01:15:00")
    assert jobs["hourly"]["last status"] == "" and jobs["hourly"]["catch up"] == "false"

    code, out, err = run(capsys, "run-job", "hourly")
    assert (code, out.strip()) == (0, "hourly: ok"), err
    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_OPS_URL", hook.url("/T/secret"))
        code, out, err = run(capsys, "run-job", "nightly-slurm")
    assert code == 9
    assert "job nightly-slurm: failed: meterbook: error:" in err and "cannot open" in err
    assert hook.requests[0][1]["text"].startswith("meterbook job nightly-slurm failed")

    code, out, err = run(capsys, "runs", "--format", "json")
    assert code == 0, err
    runs = json.loads(out)
    assert [(r["job"], r["status"], r["exit_code"]) for r in runs] == [
        ("nightly-slurm", "failed", 4), ("hourly", "ok", 0),
    ]  # fmt: skip
    code, out, _ = run(capsys, "runs", "--job", "hourly", "--format", "csv")
    lines = out.splitlines()
    assert lines[0].startswith("run,job,scheduled for (UTC),trigger")
    assert len([line for line in lines if line.startswith(("1,", "2,"))]) == 1
    code, out, _ = run(capsys, "jobs")
    assert "failed" in out and "ok" in out

    code, out, err = run(capsys, "run-job", "nope")
    assert code == 2 and "no job 'nope' in the configuration (hourly, nightly-slurm)" in err


def test_recipients_never_show_secrets(configured: Path, capsys: pytest.CaptureFixture[str],
                                       monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    url = f"http://127.0.0.1:{free_port()}/services/T0K3N/secretpath"
    monkeypatch.setenv("MB_TEST_OPS_URL", url)
    code, out, err = run(capsys, "recipients", "--format", "json")
    assert code == 0, err
    assert json.loads(out) == [
        {"name": "finance", "kind": "email", "target": "finance@example.org, cc cfo@example.org",
         "scope": "division research"},
        {"name": "ops", "kind": "slack", "target": "$MB_TEST_OPS_URL", "scope": "team ml"},
    ]  # fmt: skip
    code, out, err = run(capsys, "recipients", "test", "ops")
    assert code == 8
    assert "recipient ops: not delivered after 2 attempt(s): webhook: ConnectError" in err
    code, out, _ = run(capsys, "deliveries", "--format", "json")
    [row] = json.loads(out)
    assert (row["recipient"], row["status"], row["attempts"]) == ("ops", "failed", 2)
    for text in (out, err):
        assert "T0K3N" not in text and "secretpath" not in text

    with hook_server() as hook:
        monkeypatch.setenv("MB_TEST_OPS_URL", hook.url("/services/T0K3N/secretpath"))
        code, out, err = run(capsys, "recipients", "test", "ops")
    assert (code, out.strip()) == (0, "sent to ops (slack) after 1 attempt(s)"), err
    assert hook.requests[0][1]["text"] == "Meterbook test message"
    code, out, _ = run(capsys, "deliveries", "--recipient", "ops", "--format", "csv")
    assert [line.split(",")[5] for line in out.splitlines()[1:]] == ["sent", "failed"]

    code, _, err = run(capsys, "recipients", "test", "finance")
    assert code == 2 and "e-mail needs an [smtp] section" in err


def test_secrets_in_the_file_are_refused(workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:  # noqa: F811
    (workdir / "meterbook.toml").write_text('[smtp]\nhost = "x"\nfrom = "a@b.c"\npassword = "p"\n')
    code, _, err = run(capsys, "recipients")
    assert code == 2 and "[smtp] password: secrets are not read from the configuration" in err
    assert '"p"' not in err
    (workdir / "meterbook.toml").write_text(
        '[recipients.x]\nkind = "slack"\nurl = "https://hooks.example.com/T/secret"\n'
    )
    code, _, err = run(capsys, "recipients")
    assert code == 2 and "[recipients.x] url: secrets are not read" in err and "url_env" in err
    assert "hooks.example.com" not in err and "/T/secret" not in err
