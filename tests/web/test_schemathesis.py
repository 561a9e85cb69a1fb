"""Schemathesis against the OpenAPI description: generated requests for every operation, as
an admin (reads and writes), never a server error. On SQLite (the API code is the same on
every database; the queries' behaviour per database is tested elsewhere)."""

from __future__ import annotations

from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from meterbook import auth
from meterbook.settings import Settings
from meterbook.store.core import upgrade_store
from tests.web.conftest import build_site

EXAMPLES = 15


def test_no_server_errors_on_any_operation(tmp_path: Path) -> None:
    config = Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}")
    store = upgrade_store(config)[0]
    app = build_site(store, tmp_path, config)
    with store.engine.begin() as conn:
        _, secret = auth.create_token(conn, "root", "schemathesis")
    schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
    headers = {"authorization": f"Bearer {secret}"}
    checked = []
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        def call(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        call()
        checked.append(operation.label)
    store.engine.dispose()
    assert len(checked) >= 30, checked
