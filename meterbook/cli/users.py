"""``meterbook users`` and ``meterbook tokens``: sign-in accounts of the web app and API tokens."""

from __future__ import annotations

import sys

import click

from meterbook import auth
from meterbook.cli.context import AppContext, pass_app
from meterbook.cli.output import format_option, print_csv, print_json, print_table
from meterbook.errors import ConfigError, ConflictError


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline().rstrip("\n")
        if not line:
            raise ConfigError("password: nothing on standard input")
        return line
    return str(click.prompt("Password", hide_input=True, confirmation_prompt=True))


@click.group(
    epilog="""\b
Examples:
  meterbook users create root --admin
  meterbook users create carol --role manager --team ml --team web
  meterbook users create alice --role member --ledger-user alice
  printf '%s\\n' "$PASSWORD" | meterbook users create ci --role analyst --password-stdin
  meterbook users list
"""
)
def users() -> None:
    """Sign-in accounts of the web dashboard and the API, with their role: admin (everything),
    analyst (reads everything), manager (their teams' data, their teams' budget responses),
    member (their own usage)."""


@users.command(
    "create",
    epilog="""\b
Examples:
  meterbook users create root --admin
  meterbook users create carol --role manager --team ml
  meterbook users create alice --role member --ledger-user alice --name 'Alice A.'
""",
)
@click.argument("login")
@click.option("--admin", is_flag=True, help="Same as --role admin.")
@click.option("--role", type=click.Choice(auth.ROLES), help="The account's role.")
@click.option(
    "--team", "teams", multiple=True, metavar="TEAM", help="A team of a manager (repeat)."
)
@click.option("--ledger-user", metavar="USER", help="The ledger user whose usage a member reads.")
@click.option("--name", "display_name", metavar="TEXT", help="Display name.")
@click.option(
    "--password-stdin",
    is_flag=True,
    help="Read the password from the first line of standard input.",
)
@pass_app
def create_command(
    app: AppContext,
    login: str,
    admin: bool,
    role: str | None,
    teams: tuple[str, ...],
    ledger_user: str | None,
    display_name: str | None,
    password_stdin: bool,
) -> None:
    """Create a sign-in account (asks for the password twice, unless --password-stdin)."""
    if admin and role not in (None, "admin"):
        raise ConfigError("role: --admin and --role do not go together")
    chosen = "admin" if admin else role
    if chosen is None:
        raise ConfigError("role: give --admin or --role")
    store = app.store()
    with store.engine.connect() as conn:  # refuse before asking for a password
        if auth.find_account(conn, auth.check_login(login)) is not None:
            raise ConflictError(f"login: {login!r} exists already")
        auth.check_fields(chosen, teams, ledger_user)
    password = _password(password_stdin)
    with store.engine.begin() as conn:
        account = auth.create_account(
            conn,
            login,
            password,
            chosen,
            teams_=teams,
            ledger_user=ledger_user,
            display_name=display_name,
        )
    extra = ""
    if account.teams:
        extra = f" of {', '.join(account.teams)}"
    elif account.ledger_user:
        extra = f" reading the usage of {account.ledger_user}"
    click.echo(f"account {account.login!r} created: {account.role}{extra}")


@users.command("list", epilog="\b\nExamples:\n  meterbook users list --format csv\n")
@format_option
@pass_app
def list_command(app: AppContext, fmt: str) -> None:
    """List sign-in accounts (never passwords)."""
    with app.store().engine.connect() as conn:
        found = auth.list_accounts(conn)
    columns = ("login", "role", "teams", "ledger_user", "name", "active", "created", "last_login")
    rows = [
        (
            a.login,
            a.role,
            ", ".join(a.teams),
            a.ledger_user or "",
            a.display_name or "",
            "yes" if a.active else "no",
            a.created_at.isoformat(sep=" "),
            a.last_login_at.isoformat(sep=" ") if a.last_login_at else "",
        )
        for a in found
    ]
    if fmt == "json":
        print_json([a.as_dict() for a in found])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title="Sign-in accounts")
        if not rows:
            click.echo(
                "no accounts (create the first admin with `meterbook users create NAME --admin`)"
            )


@users.command(
    "passwd",
    epilog="\b\nExamples:\n  meterbook users passwd alice\n",
)
@click.argument("login")
@click.option("--password-stdin", is_flag=True, help="Read it from standard input.")
@pass_app
def passwd_command(app: AppContext, login: str, password_stdin: bool) -> None:
    """Set an account's password (signs out its sessions)."""
    store = app.store()
    with store.engine.connect() as conn:
        auth.get_account(conn, login)
    password = _password(password_stdin)
    with store.engine.begin() as conn:
        auth.set_password(conn, login, password)
    click.echo(f"password of {login!r} changed; its sessions are signed out")


@users.command(
    "set",
    epilog="""\b
Examples:
  meterbook users set carol --team ml --team web
  meterbook users set alice --disable
""",
)
@click.argument("login")
@click.option("--role", type=click.Choice(auth.ROLES))
@click.option("--team", "teams", multiple=True, metavar="TEAM", help="Replace a manager's teams.")
@click.option("--ledger-user", metavar="USER")
@click.option("--disable/--enable", "disabled", default=None, help="Refuse or allow sign-in.")
@pass_app
def set_command(
    app: AppContext,
    login: str,
    role: str | None,
    teams: tuple[str, ...],
    ledger_user: str | None,
    disabled: bool | None,
) -> None:
    """Change an account's role, teams, ledger user or whether it may sign in."""
    with app.store().engine.begin() as conn:
        account = auth.update_account(
            conn,
            login,
            role=role,
            teams_=teams or None,
            ledger_user=ledger_user,
            active=None if disabled is None else not disabled,
        )
    click.echo(
        f"account {account.login!r}: {account.role}, {'active' if account.active else 'disabled'}"
    )


@users.command("remove", epilog="\b\nExamples:\n  meterbook users remove bob\n")
@click.argument("login")
@pass_app
def remove_command(app: AppContext, login: str) -> None:
    """Remove an account, its sessions and its tokens."""
    with app.store().engine.begin() as conn:
        auth.remove_account(conn, login)
    click.echo(f"account {login!r} removed")


@click.group(
    epilog="""\b
Examples:
  meterbook tokens create ci --name nightly-export --expires-days 30
  meterbook tokens list
  meterbook tokens revoke 3
"""
)
def tokens() -> None:
    """API tokens for scripts: `Authorization: Bearer mbt_...`. Stored hashed, shown once, with
    an expiry, revocable; a token acts with its account's role."""


@tokens.command(
    "create",
    epilog="""\b
Examples:
  meterbook tokens create ci --name nightly-export
  meterbook tokens create ci --name dashboard --no-expiry
""",
)
@click.argument("login")
@click.option("--name", required=True, metavar="TEXT", help="What uses it.")
@click.option("--expires-days", type=int, default=90, show_default=True, metavar="DAYS")
@click.option("--no-expiry", is_flag=True, help="A token that does not expire.")
@pass_app
def token_create(
    app: AppContext, login: str, name: str, expires_days: int, no_expiry: bool
) -> None:
    """Create a token for an account; prints the secret once."""
    with app.store().engine.begin() as conn:
        token, secret = auth.create_token(conn, login, name, None if no_expiry else expires_days)
    until = token.expires_at.isoformat(sep=" ") if token.expires_at else "never"
    click.echo(f"token {token.id} for {login!r} ({name}), expires {until}:")
    click.echo(secret)


@tokens.command("list", epilog="\b\nExamples:\n  meterbook tokens list --user ci\n")
@click.option("--user", "login", metavar="LOGIN", help="Only this account's tokens.")
@format_option
@pass_app
def token_list(app: AppContext, login: str | None, fmt: str) -> None:
    """List tokens (their first characters only, never the secret)."""
    with app.store().engine.connect() as conn:
        found = auth.list_tokens(conn, login)
    columns = ("id", "login", "name", "prefix", "state", "created", "expires", "last_used")
    rows = [
        (
            t.id,
            t.login,
            t.name,
            t.prefix + "...",
            t.state,
            t.created_at.isoformat(sep=" "),
            t.expires_at.isoformat(sep=" ") if t.expires_at else "never",
            t.last_used_at.isoformat(sep=" ") if t.last_used_at else "",
        )
        for t in found
    ]
    if fmt == "json":
        print_json([t.as_dict() for t in found])
    elif fmt == "csv":
        print_csv(columns, rows)
    else:
        print_table(columns, rows, title="API tokens")


@tokens.command("revoke", epilog="\b\nExamples:\n  meterbook tokens revoke 3\n")
@click.argument("token_id", type=int)
@pass_app
def token_revoke(app: AppContext, token_id: int) -> None:
    """Revoke a token: it stops working at once."""
    with app.store().engine.begin() as conn:
        token = auth.revoke_token(conn, token_id)
    click.echo(f"token {token.id} ({token.name}) of {token.login!r} revoked")


COMMANDS = (users, tokens)
