"""The delivery sections of the configuration: parsing, scopes, and secrets kept out."""

from __future__ import annotations

from pathlib import Path

import pytest

from meterbook.delivery.config import Scope
from meterbook.delivery.email import smtp_password
from meterbook.errors import ConfigError
from meterbook.settings import load_settings

CONFIG = """
[smtp]
host = "smtp.example.org"
security = "ssl"
username = "reports"
from = "meterbook@example.org"

[delivery]
attempts = 6
base_delay = 0.5

[recipients.finance]
kind = "email"
to = ["finance@example.org"]
division = "research"

[recipients.ml]
kind = "teams"
url_env = "MB_TEAMS_ML_URL"
team = "ml"

[secrets]
file = "secrets.toml"
"""


def test_sections_parse_with_defaults_and_scopes(tmp_path: Path) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('smtp_password = "from-the-file"\n')
    secrets.chmod(0o600)
    settings = load_settings(_write(tmp_path, CONFIG), {}, discover=False)
    smtp = settings.smtp
    assert (
        smtp is not None and smtp.effective_port == 465 and smtp.sender == "meterbook@example.org"
    )
    assert settings.delivery.attempts == 6
    assert [settings.delivery.delay(n) for n in (1, 2, 3)] == [0.5, 1.0, 2.0]
    assert settings.recipients["finance"].scope == Scope("division", "research")
    assert settings.recipients["ml"].scope == Scope("team", "ml")
    assert settings.recipients["ml"].channel == "teams"
    # The variable wins over the secrets file; the password never shows in repr.
    file_pw = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    assert smtp_password(smtp, file_pw, {}) == "from-the-file"
    assert smtp_password(smtp, file_pw, {"MB_SMTP_PASSWORD": "env"}) == "env"
    assert "from-the-file" not in repr(settings)


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "meterbook.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ('[recipients.x]\nkind = "fax"\n', r"\[recipients.x\] kind: 'fax' is not a recipient kind"),
        ('[recipients.x]\nkind = "email"\n', r"\[recipients.x\] to: Field required"),
        ('[recipients.x]\nkind = "slack"\nurl_env = "U"\nteam = "a"\ndivision = "b"\n',
         r"\[recipients.x\]: .*team or division, not both"),
        ('[smtp]\nhost = "h"\nfrom = "a@b.c"\nsecurity = "tls"\n', r"\[smtp\] security: "),
        ('[smtp]\nhost = "h"\nfrom = "a@b.c"\npassword = "hunter2"\n',
         r"\[smtp\] password: secrets are not read"),
        ('[recipients.x]\nkind = "webhook"\nurl = "https://h/T/abc"\n',
         r"\[recipients.x\] url: secrets are not read .* url_env"),
        ('[delivery]\nattempts = 0\n', r"\[delivery\] attempts: "),
        ('[recipients.x]\nkind = "slack"\nurl_env = "U"\ncard = "adaptive"\n',
         r"\[recipients.x\]: .*card is a setting of teams recipients"),
    ],
)  # fmt: skip
def test_bad_sections_name_file_section_and_key(tmp_path: Path, section: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings(_write(tmp_path, section), {}, discover=False)
    assert str(caught.value).startswith(str(tmp_path / "meterbook.toml"))
    assert "hunter2" not in str(caught.value) and "/T/abc" not in str(caught.value)
