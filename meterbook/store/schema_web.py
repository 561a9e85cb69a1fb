"""Tables of the web app's access control (meterbook.auth): sign-in accounts, their teams,
sessions, API tokens and failed sign-ins.

Sign-in accounts are not ledger users: a ``member`` account names the ledger user whose usage
it may read (``ledger_user``); a ``manager`` account reads the data of its teams
(``web_account_teams``). Sessions and tokens are stored as SHA-256 digests only: the secret
itself lives in the cookie or the script and is never stored.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
)

from meterbook.store.schema import NAME, Ident, metadata

web_accounts = Table(
    "web_accounts",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", Ident(NAME), nullable=False, unique=True),
    Column("password_hash", String(255), nullable=False),
    Column("role", String(16), nullable=False),
    Column("ledger_user", Ident(NAME)),
    Column("display_name", String(200)),
    Column("active", Boolean, nullable=False, default=True),
    Column("created_at", DateTime, nullable=False),
    Column("last_login_at", DateTime),
)

web_account_teams = Table(
    "web_account_teams",
    metadata,
    Column("account_id", ForeignKey("web_accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("team_id", ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True),
)

web_sessions = Table(
    "web_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("account_id", ForeignKey("web_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("csrf", String(64), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=False),
    Column("last_seen_at", DateTime, nullable=False),
)

api_tokens = Table(
    "api_tokens",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("account_id", ForeignKey("web_accounts.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(NAME), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime),
    Column("revoked_at", DateTime),
    Column("last_used_at", DateTime),
)

login_failures = Table(
    "login_failures",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("login", String(NAME), nullable=False),
    Column("remote", String(64), nullable=False),
    Column("at", DateTime, nullable=False),
)
Index("ix_login_failures_login_at", login_failures.c.login, login_failures.c.at)
Index("ix_login_failures_remote_at", login_failures.c.remote, login_failures.c.at)
