"""`meterbook users` and `meterbook tokens` as a user meets them."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from tests.cli.test_cli import run, workdir  # noqa: F401  (the fixture)


@pytest.fixture
def ledger(workdir: Path, capsys: pytest.CaptureFixture[str]) -> Path:  # noqa: F811
    assert run(capsys, "init")[0] == 0
    assert run(capsys, "org", "teams", "add", "ml")[0] == 0
    return workdir


def _with_password(monkeypatch: pytest.MonkeyPatch, password: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(password + "\n"))


def test_create_list_set_remove(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_password(monkeypatch, "a long enough secret")
    code, out, err = run(capsys, "users", "create", "root", "--admin", "--password-stdin")
    assert (code, out.strip()) == (0, "account 'root' created: admin"), err
    _with_password(monkeypatch, "another long secret")
    code, out, _ = run(capsys, "users", "create", "mia", "--role", "manager", "--team", "ml",
                       "--password-stdin")  # fmt: skip
    assert out.strip() == "account 'mia' created: manager of ml"
    _with_password(monkeypatch, "short")
    code, _, err = run(capsys, "users", "create", "bob", "--role", "analyst", "--password-stdin")
    assert code != 0 and "password: at least 10 characters" in err
    code, _, err = run(capsys, "users", "create", "root", "--admin", "--password-stdin")
    assert code != 0 and "'root' exists already" in err
    code, _, err = run(capsys, "users", "create", "x", "--role", "manager", "--password-stdin")
    assert code != 0 and "a manager needs at least one team" in err
    code, out, _ = run(capsys, "users", "list", "--format", "json")
    listed = {a["login"]: a for a in json.loads(out)}
    assert listed["mia"]["teams"] == ["ml"] and listed["root"]["role"] == "admin"
    assert "secret" not in out and "hash" not in out
    code, out, _ = run(capsys, "users", "set", "mia", "--disable")
    assert out.strip() == "account 'mia': manager, disabled"
    code, out, _ = run(capsys, "users", "remove", "mia")
    assert (code, out.strip()) == (0, "account 'mia' removed")


def test_tokens_are_shown_once_and_revocable(
    ledger: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    _with_password(monkeypatch, "a long enough secret")
    run(capsys, "users", "create", "ci", "--role", "analyst", "--password-stdin")
    code, out, _ = run(capsys, "tokens", "create", "ci", "--name", "nightly", "--expires-days",
                       "30")  # fmt: skip
    assert code == 0
    first, secret = out.strip().splitlines()
    assert first.startswith("token 1 for 'ci' (nightly), expires ") and secret.startswith("mbt_")
    code, out, _ = run(capsys, "tokens", "list", "--format", "csv")
    assert secret not in out and f"{secret[:12]}..." in out and ",active," in out
    code, out, _ = run(capsys, "tokens", "revoke", "1")
    assert out.strip() == "token 1 (nightly) of 'ci' revoked"
    code, out, _ = run(capsys, "tokens", "list", "--format", "json")
    assert json.loads(out)[0]["state"] == "revoked"
    code, _, err = run(capsys, "tokens", "revoke", "7")
    assert code != 0 and "no token 7" in err
