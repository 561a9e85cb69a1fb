"""Access control of the web app and the API: sign-in accounts, sessions, API tokens, sign-in
rate limit, and the :class:`Principal` every request acts as.

Roles (docs/web.md):

- ``admin``: everything, reads and writes;
- ``analyst``: reads everything;
- ``manager``: reads the data of their teams (usage of the teams' projects and users, spend
  and budgets of the teams) and writes their teams' budget responses;
- ``member``: reads their own usage (the ledger user named on the account).

Passwords are argon2id hashes (argon2-cffi). A session is a random token in a secure,
HTTP-only cookie; the store keeps only its SHA-256 digest, its CSRF token and its expiry. API
tokens (``mbt_...``) are random too, stored as digests, with an optional expiry, revocable.
Failed sign-ins are counted per login and per remote address: more than
:data:`MAX_FAILURES` in :data:`FAILURE_WINDOW` refuses further attempts for that window.

Functions take a SQLAlchemy :class:`~sqlalchemy.Connection`; the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Connection, and_, delete, func, or_, select
from sqlalchemy.exc import IntegrityError

from meterbook.errors import ConfigError, ConflictError
from meterbook.store.schema import projects, teams, users
from meterbook.store.schema_web import (
    api_tokens,
    login_failures,
    web_account_teams,
    web_accounts,
    web_sessions,
)

ROLES = ("admin", "analyst", "manager", "member")
SESSION_TTL = timedelta(hours=12)
FAILURE_WINDOW = timedelta(minutes=15)
MAX_FAILURES = 5
MAX_FAILURES_PER_REMOTE = 30
TOKEN_PREFIX = "mbt_"  # noqa: S105  (the marker of a token, not a secret)
MIN_PASSWORD = 10
_LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,119}")
_hasher = PasswordHasher()
#: Verified against when a login does not exist, so both take the same time.
_DUMMY_HASH = _hasher.hash("not a password of anyone")


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, microsecond=0)


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@dataclass(frozen=True)
class Principal:
    """Who a request acts as, and what they may see."""

    account_id: int
    login: str
    role: str
    #: Teams of a manager (names).
    teams: tuple[str, ...] = ()
    #: The ledger user of a member.
    ledger_user: str | None = None
    display_name: str | None = None
    #: Set for a session (forms must echo it); None for a token.
    csrf: str | None = None
    via: str = "session"
    #: Usage accounts (projects) of a manager's teams, resolved at sign-in.
    projects: tuple[str, ...] = field(default=())
    #: Ledger users of a manager's teams.
    team_users: tuple[str, ...] = field(default=())

    @property
    def reads_everything(self) -> bool:
        return self.role in ("admin", "analyst")

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def names_of(self, dimension: str) -> tuple[str, ...] | None:
        """The names of ``dimension`` (user, team, project or account) whose data this
        principal reads: None for every name, empty for none. Admins and analysts read
        everything; a manager their teams, the teams' projects and users; a member themselves.
        """
        if self.reads_everything:
            return None
        if self.role == "manager":
            known = {"user": self.team_users, "team": self.teams, "project": self.projects,
                     "account": self.projects}  # fmt: skip
            return known.get(dimension, ())
        if dimension == "user" and self.ledger_user:
            return (self.ledger_user,)
        return ()

    def may_see(self, dimension: str, name: str) -> bool:
        """Whether this principal reads the data of ``name`` of ``dimension``."""
        names = self.names_of(dimension)
        return names is None or name in names

    @property
    def report_teams(self) -> tuple[str, ...] | None:
        """The teams whose report files this principal reads (None: every report, the whole
        organisation's too; empty: none)."""
        if self.reads_everything:
            return None
        return self.teams if self.role == "manager" else ()

    def as_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "role": self.role,
            "teams": list(self.teams),
            "ledger_user": self.ledger_user,
            "display_name": self.display_name,
            "via": self.via,
        }


@dataclass(frozen=True)
class Account:
    id: int
    login: str
    role: str
    ledger_user: str | None
    display_name: str | None
    active: bool
    teams: tuple[str, ...]
    created_at: datetime
    last_login_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "login": self.login,
            "role": self.role,
            "ledger_user": self.ledger_user,
            "display_name": self.display_name,
            "active": self.active,
            "teams": list(self.teams),
            "created_at": self.created_at,
            "last_login_at": self.last_login_at,
        }


@dataclass(frozen=True)
class Token:
    id: int
    login: str
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None

    @property
    def state(self) -> str:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= _now():
            return "expired"
        return "active"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "login": self.login,
            "name": self.name,
            "prefix": self.prefix,
            "state": self.state,
            "created_at": self.created_at,
            "expires_at": self.expires_at,
            "revoked_at": self.revoked_at,
            "last_used_at": self.last_used_at,
        }


# Accounts -----------------------------------------------------------------------------------


def check_login(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not _LOGIN.fullmatch(text):
        raise ConfigError(
            f"login: {raw!r} is not a login (letters, digits, '.', '_', '@', '-'; at most 120)"
        )
    return text


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise ConfigError(f"password: at least {MIN_PASSWORD} characters")
    return password


def _role(raw: str) -> str:
    if raw not in ROLES:
        raise ConfigError(f"role: {raw!r} is not a role ({', '.join(ROLES)})")
    return raw


def check_fields(role: str, teams_: Sequence[str], ledger_user: str | None) -> str:
    """The role, when the teams and ledger user suit it."""
    role = _role(role)
    if role == "manager" and not teams_:
        raise ConfigError("team: a manager needs at least one team (--team)")
    if role == "member" and not ledger_user:
        raise ConfigError("ledger-user: a member needs the ledger user whose usage they read")
    if role != "manager" and teams_:
        raise ConfigError(f"team: only managers have teams (this is a {role})")
    return role


def _team_ids(conn: Connection, names: Sequence[str]) -> list[int]:
    found = {
        r.name: r.id
        for r in conn.execute(select(teams.c.id, teams.c.name).where(teams.c.name.in_(list(names))))
    }
    missing = [n for n in names if n not in found]
    if missing:
        raise ConfigError(f"team: team {missing[0]!r} does not exist (see `meterbook org teams`)")
    return [found[n] for n in names]


def _teams_of(conn: Connection, account_id: int) -> tuple[str, ...]:
    rows = conn.execute(
        select(teams.c.name)
        .join(web_account_teams, web_account_teams.c.team_id == teams.c.id)
        .where(web_account_teams.c.account_id == account_id)
        .order_by(teams.c.name)
    )
    return tuple(r.name for r in rows)


def _account(conn: Connection, row: Any) -> Account:
    return Account(
        id=row.id,
        login=row.login,
        role=row.role,
        ledger_user=row.ledger_user,
        display_name=row.display_name,
        active=bool(row.active),
        teams=_teams_of(conn, row.id),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
    )


def create_account(
    conn: Connection,
    login: str,
    password: str,
    role: str,
    *,
    teams_: Sequence[str] = (),
    ledger_user: str | None = None,
    display_name: str | None = None,
) -> Account:
    """A new sign-in account. A manager needs at least one team, a member a ledger user."""
    login = check_login(login)
    role = check_fields(role, teams_, ledger_user)
    check_password(password)
    team_ids = _team_ids(conn, list(teams_))
    try:
        result = conn.execute(
            web_accounts.insert().values(
                login=login,
                password_hash=_hasher.hash(password),
                role=role,
                ledger_user=ledger_user or None,
                display_name=display_name,
                active=True,
                created_at=_now(),
            )
        )
    except IntegrityError as exc:
        raise ConflictError(f"login: {login!r} exists already") from exc
    key = result.inserted_primary_key
    assert key is not None
    for team_id in team_ids:
        conn.execute(web_account_teams.insert().values(account_id=key[0], team_id=team_id))
    return get_account(conn, login)


def find_account(conn: Connection, login: str) -> Account | None:
    row = conn.execute(select(web_accounts).where(web_accounts.c.login == login)).first()
    return None if row is None else _account(conn, row)


def get_account(conn: Connection, login: str) -> Account:
    found = find_account(conn, login)
    if found is None:
        raise ConfigError(f"login: no account {login!r} (see `meterbook users list`)")
    return found


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(web_accounts).order_by(web_accounts.c.login))
    return [_account(conn, r) for r in rows]


def has_admin(conn: Connection) -> bool:
    query = (
        select(func.count())
        .select_from(web_accounts)
        .where(web_accounts.c.role == "admin", web_accounts.c.active.is_(True))
    )
    return bool(conn.execute(query).scalar())


def set_password(conn: Connection, login: str, password: str) -> None:
    account = get_account(conn, login)
    check_password(password)
    conn.execute(
        web_accounts.update()
        .where(web_accounts.c.id == account.id)
        .values(password_hash=_hasher.hash(password))
    )
    conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account.id))


def update_account(
    conn: Connection,
    login: str,
    *,
    role: str | None = None,
    teams_: Sequence[str] | None = None,
    ledger_user: str | None = None,
    active: bool | None = None,
) -> Account:
    account = get_account(conn, login)
    values: dict[str, Any] = {}
    if role is not None:
        values["role"] = _role(role)
    if ledger_user is not None:
        values["ledger_user"] = ledger_user or None
    if active is not None:
        values["active"] = active
    if values:
        conn.execute(web_accounts.update().where(web_accounts.c.id == account.id).values(**values))
    if teams_ is not None:
        ids = _team_ids(conn, list(teams_))
        conn.execute(delete(web_account_teams).where(web_account_teams.c.account_id == account.id))
        for team_id in ids:
            conn.execute(web_account_teams.insert().values(account_id=account.id, team_id=team_id))
    changed = get_account(conn, login)
    if changed.role == "manager" and not changed.teams:
        raise ConfigError("team: a manager needs at least one team (--team)")
    if changed.role == "member" and not changed.ledger_user:
        raise ConfigError("ledger-user: a member needs the ledger user whose usage they read")
    if not changed.active or values.get("role"):
        conn.execute(delete(web_sessions).where(web_sessions.c.account_id == account.id))
    return changed


def remove_account(conn: Connection, login: str) -> None:
    account = get_account(conn, login)
    conn.execute(delete(web_accounts).where(web_accounts.c.id == account.id))


# Principals ---------------------------------------------------------------------------------


def principal(conn: Connection, account: Account, *, csrf: str | None, via: str) -> Principal:
    """The principal of an account, with the projects and users of a manager's teams."""
    project_names: tuple[str, ...] = ()
    team_users: tuple[str, ...] = ()
    if account.role == "manager" and account.teams:
        team_ids = select(teams.c.id).where(teams.c.name.in_(list(account.teams)))
        project_names = tuple(
            r.name
            for r in conn.execute(select(projects.c.name).where(projects.c.team_id.in_(team_ids)))
        )
        team_users = tuple(
            r.name for r in conn.execute(select(users.c.name).where(users.c.team_id.in_(team_ids)))
        )
    return Principal(
        account_id=account.id,
        login=account.login,
        role=account.role,
        teams=account.teams,
        ledger_user=account.ledger_user,
        display_name=account.display_name,
        csrf=csrf,
        via=via,
        projects=project_names,
        team_users=team_users,
    )


def _recent_failures(conn: Connection, column: Any, value: str, now: datetime) -> int:
    query = (
        select(func.count())
        .select_from(login_failures)
        .where(column == value, login_failures.c.at > now - FAILURE_WINDOW)
    )
    return int(conn.execute(query).scalar() or 0)


def sign_in_allowed(conn: Connection, login: str, remote: str) -> bool:
    now = _now()
    return (
        _recent_failures(conn, login_failures.c.login, login[:120], now) < MAX_FAILURES
        and _recent_failures(conn, login_failures.c.remote, remote[:64], now)
        < MAX_FAILURES_PER_REMOTE
    )


def authenticate(conn: Connection, login: str, password: str, remote: str) -> Account | None:
    """The account when the password is right and sign-in is allowed, else None (and the
    failure is counted). Callers check :func:`sign_in_allowed` first to tell the user."""
    row = conn.execute(select(web_accounts).where(web_accounts.c.login == login.strip())).first()
    good = False
    try:
        good = _hasher.verify(row.password_hash if row is not None else _DUMMY_HASH, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        good = False
    if row is None or not good or not row.active:
        conn.execute(
            login_failures.insert().values(login=login[:120], remote=remote[:64], at=_now())
        )
        return None
    if _hasher.check_needs_rehash(row.password_hash):
        conn.execute(
            web_accounts.update()
            .where(web_accounts.c.id == row.id)
            .values(password_hash=_hasher.hash(password))
        )
    conn.execute(
        web_accounts.update().where(web_accounts.c.id == row.id).values(last_login_at=_now())
    )
    conn.execute(delete(login_failures).where(login_failures.c.login == login[:120]))
    return get_account(conn, row.login)


# Sessions -----------------------------------------------------------------------------------


def start_session(conn: Connection, account: Account, ttl: timedelta = SESSION_TTL) -> str:
    """A new session: returns the secret for the cookie."""
    secret = secrets.token_urlsafe(32)
    now = _now()
    conn.execute(
        web_sessions.insert().values(
            token_hash=digest(secret),
            account_id=account.id,
            csrf=secrets.token_urlsafe(24),
            created_at=now,
            expires_at=now + ttl,
            last_seen_at=now,
        )
    )
    conn.execute(delete(web_sessions).where(web_sessions.c.expires_at < now))
    return secret


def session_principal(conn: Connection, secret: str) -> Principal | None:
    row = conn.execute(
        select(web_sessions, web_accounts.c.login, web_accounts.c.active)
        .join(web_accounts, web_accounts.c.id == web_sessions.c.account_id)
        .where(web_sessions.c.token_hash == digest(secret))
    ).first()
    if row is None or row.expires_at <= _now() or not row.active:
        return None
    return principal(conn, get_account(conn, row.login), csrf=row.csrf, via="session")


def end_session(conn: Connection, secret: str) -> None:
    conn.execute(delete(web_sessions).where(web_sessions.c.token_hash == digest(secret)))


# Tokens -------------------------------------------------------------------------------------


def _token(row: Any) -> Token:
    return Token(
        id=row.id,
        login=row.login,
        name=row.name,
        prefix=row.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )


def create_token(
    conn: Connection, login: str, name: str, expires_days: int | None = 90
) -> tuple[Token, str]:
    """A new API token for ``login``: returns it and its secret (shown once, never stored)."""
    account = get_account(conn, login)
    if not name.strip():
        raise ConfigError("name: a token needs a name (what script uses it)")
    if expires_days is not None and expires_days < 1:
        raise ConfigError("expires: at least 1 day (or none)")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = _now()
    result = conn.execute(
        api_tokens.insert().values(
            account_id=account.id,
            name=name.strip()[:120],
            token_hash=digest(secret),
            prefix=secret[:12],
            created_at=now,
            expires_at=None if expires_days is None else now + timedelta(days=expires_days),
        )
    )
    key = result.inserted_primary_key
    assert key is not None
    return get_token(conn, int(key[0])), secret


def _token_query() -> Any:
    return select(api_tokens, web_accounts.c.login).join(
        web_accounts, web_accounts.c.id == api_tokens.c.account_id
    )


def get_token(conn: Connection, token_id: int) -> Token:
    row = conn.execute(_token_query().where(api_tokens.c.id == token_id)).first()
    if row is None:
        raise ConfigError(f"token: no token {token_id} (see `meterbook tokens list`)")
    return _token(row)


def list_tokens(conn: Connection, login: str | None = None) -> list[Token]:
    query = _token_query().order_by(api_tokens.c.id)
    if login:
        query = query.where(web_accounts.c.login == login)
    return [_token(r) for r in conn.execute(query)]


def revoke_token(conn: Connection, token_id: int) -> Token:
    get_token(conn, token_id)
    conn.execute(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=_now())
    )
    return get_token(conn, token_id)


def token_principal(conn: Connection, secret: str) -> Principal | None:
    now = _now()
    row = conn.execute(
        _token_query().where(
            api_tokens.c.token_hash == digest(secret),
            api_tokens.c.revoked_at.is_(None),
            or_(api_tokens.c.expires_at.is_(None), api_tokens.c.expires_at > now),
            and_(web_accounts.c.active.is_(True)),
        )
    ).first()
    if row is None:
        return None
    if row.last_used_at is None or now - row.last_used_at > timedelta(minutes=1):
        conn.execute(api_tokens.update().where(api_tokens.c.id == row.id).values(last_used_at=now))
    return principal(conn, get_account(conn, row.login), csrf=None, via="token")


__all__ = [
    "ROLES",
    "Account",
    "Principal",
    "Token",
    "authenticate",
    "create_account",
    "create_token",
    "end_session",
    "find_account",
    "get_account",
    "has_admin",
    "list_accounts",
    "list_tokens",
    "remove_account",
    "revoke_token",
    "session_principal",
    "set_password",
    "sign_in_allowed",
    "start_session",
    "token_principal",
    "update_account",
]
