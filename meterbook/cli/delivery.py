"""``meterbook recipients`` and ``meterbook deliveries``: who gets messages, what was sent."""

from __future__ import annotations

import click

from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_json, print_rows
from meterbook.delivery.message import Message
from meterbook.errors import DeliveryError
from meterbook.org import cell

_RECIPIENT_COLUMNS = ("name", "kind", "target", "scope")


@click.group(
    invoke_without_command=True,
    epilog="""\b
Examples:
  meterbook recipients
  meterbook recipients --format json
  meterbook recipients test finance
""",
)
@format_option
@click.pass_context
def recipients(ctx: click.Context, fmt: str) -> None:
    """List the recipients of the configuration ([recipients.NAME]): kind, where messages go
    and the team or division they are bound to. Webhook URLs and passwords are never shown
    (only the variable that holds them)."""
    if ctx.invoked_subcommand is not None:
        return
    app: AppContext = ctx.obj
    found = app.settings().recipients
    rows = []
    for name, r in sorted(found.items()):
        scope = r.scope
        rows.append((name, r.kind, r.target, "" if scope is None else f"{scope.kind} {scope.name}"))
    print_rows(_RECIPIENT_COLUMNS, rows, fmt, "Recipients")
    if not rows and fmt == "table":
        click.echo("no recipients (add [recipients.NAME] to the configuration)")


@recipients.command(
    "test",
    epilog="""\b
Examples:
  meterbook recipients test finance
  meterbook recipients test ops-slack --link https://meterbook.example.org
""",
)
@click.argument("name")
@click.option("--link", metavar="URL", help="A link to put in the test message.")
@pass_app
def test_command(app: AppContext, name: str, link: str | None) -> None:
    """Send a test message to recipient NAME (retried as configured, recorded in
    `meterbook deliveries`); exits non-zero when it could not be delivered."""
    from meterbook.delivery.send import deliver

    message = Message(
        subject="Meterbook test message",
        headline=[("recipient", name), ("database", app.store().label)],
        text="This is a test message from Meterbook: delivery to this recipient works.",
        link=link,
        context={"period": "test"},
    )
    result = deliver(app.store().engine, app.settings(), name, message)
    if not result.ok:
        raise DeliveryError(
            f"recipient {name}: not delivered after {result.attempts} attempt(s): {result.error}"
        )
    click.echo(f"sent to {name} ({result.channel}) after {result.attempts} attempt(s)")


_DELIVERY_COLUMNS = (
    "id", "time (UTC)", "recipient", "channel", "subject", "status", "attempts", "last error",
)  # fmt: skip


@click.command(
    epilog="""\b
Examples:
  meterbook deliveries
  meterbook deliveries --recipient finance --limit 5
  meterbook deliveries --format csv > deliveries.csv
"""
)
@click.option("--recipient", metavar="NAME", help="Only deliveries to this recipient.")
@click.option("--limit", type=click.IntRange(1), default=20, show_default=True)
@format_option
@pass_app
def deliveries(app: AppContext, recipient: str | None, limit: int, fmt: str) -> None:
    """List messages delivered (or not) to recipients, newest first: status, attempts and
    the last error (secrets masked)."""
    from meterbook.store.queries.deliveries import list_deliveries

    with app.store().engine.connect() as conn:
        found = list_deliveries(conn, recipient=recipient, limit=limit)
    if fmt == "json":
        print_json([d.as_dict() for d in found])
        return
    rows = [
        (d.id, cell(d.created_at), d.recipient, d.channel, d.subject, d.status, d.attempts,
         d.last_error or "")
        for d in found
    ]  # fmt: skip
    print_rows(_DELIVERY_COLUMNS, rows, fmt, "Deliveries")


COMMANDS = (recipients, deliveries)
