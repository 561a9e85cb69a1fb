"""What a signed-in account may read: one place for the API and the pages.

Each helper narrows what was asked to the account's scope, or refuses (403) when the request
names something outside it: an answer is never silently widened or narrowed.
"""

from __future__ import annotations

from urllib.parse import quote

from meterbook.auth import Principal
from meterbook.store.queries.search import KINDS, Hit
from meterbook.store.queries.usage import UsageFilters
from meterbook.web.common import forbid

#: An account name no project has: a manager with no projects matches nothing.
NO_ACCOUNT = "\x00none"


def accounts_in_scope(who: Principal, asked: list[str]) -> list[str]:
    """The accounts asked for; for a manager, only their teams' projects (all of them when
    none was asked; ``[NO_ACCOUNT]`` when they have none)."""
    if who.role != "manager":
        return asked
    outside = [a for a in asked if a not in who.projects]
    if outside:
        raise forbid(f"account {outside[0]!r} is not a project of your teams")
    return asked or list(who.projects) or [NO_ACCOUNT]


def usage_filters(
    who: Principal,
    clusters: list[str],
    users: list[str],
    accounts: list[str],
    partitions: list[str],
    qos: list[str],
    states: list[str],
    sources: list[str],
) -> UsageFilters | None:
    """The usage filters asked for, narrowed to what ``who`` may read; None: nothing visible.

    A manager reads the accounts (projects) of their teams; a member only their own ledger
    user."""
    if who.role == "member":
        if any(u != who.ledger_user for u in users):
            raise forbid("a member reads only their own usage")
        users = [who.ledger_user or ""]
    elif who.role == "manager":
        accounts = accounts_in_scope(who, accounts)
        if accounts == [NO_ACCOUNT]:
            return None
    return UsageFilters(
        tuple(clusters),
        tuple(users),
        tuple(accounts),
        tuple(partitions),
        tuple(qos),
        tuple(states),
        tuple(sources),
    )


def spend_teams(who: Principal, asked: list[str]) -> tuple[str, ...] | None:
    """The teams whose spend ``who`` may read among those asked (empty: all of them)."""
    if who.reads_everything:
        return tuple(asked)
    if who.role != "manager":
        raise forbid("spend and budgets are for managers, analysts and admins")
    outside = [t for t in asked if t not in who.teams]
    if outside:
        raise forbid(f"team {outside[0]!r} is not one of your teams")
    return tuple(asked) or who.teams


def visible_key(who: Principal, dimension: str, key: str) -> bool:
    """Whether ``who`` may see a forecast, anomaly or alert about ``key`` of ``dimension``:
    what they read, except that these are not for members."""
    return who.role != "member" and who.may_see(dimension, key)


def report_teams(who: Principal) -> tuple[str, ...] | None:
    """The teams whose report files ``who`` may read (None: every file)."""
    teams = who.report_teams
    if teams == ():
        raise forbid("report files are for admins, analysts and the managers of their teams")
    return teams


def search_visible(who: Principal) -> dict[str, tuple[str, ...] | None]:
    """What ``who`` may find by search: kinds and names (None: every name of the kind)."""
    visible = {kind: who.names_of(kind) for kind in KINDS}
    return {kind: names for kind, names in visible.items() if names != ()}


_PAGES = {"user": "/users/", "project": "/projects/", "team": "/teams/", "division": "/divisions/"}


def link_of(hit: Hit) -> str | None:
    """The dashboard page of a search hit (None: no page of its own)."""
    name = quote(hit.name, safe="")
    if hit.kind in _PAGES:
        return _PAGES[hit.kind] + name
    if hit.detail == "machine":
        return f"/machines/{name}"
    if hit.detail == "cluster":
        return f"/explorer?by=user&cluster={name}"
    return None
