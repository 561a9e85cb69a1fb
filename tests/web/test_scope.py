"""The scope helpers shared by the API and the pages: narrow, or refuse, never widen."""

from __future__ import annotations

import pytest
from fastapi import HTTPException

from meterbook.auth import Principal
from meterbook.web import scope

ADMIN = Principal(1, "root", "admin")
MIA = Principal(2, "mia", "manager", teams=("ml",), projects=("p-ml",), team_users=("ann",))
BARE = Principal(3, "bob", "manager", teams=("empty",))
ALICE = Principal(4, "alice", "member", ledger_user="alice")


def _refused(call: object, *args: object) -> str:
    with pytest.raises(HTTPException) as caught:
        call(*args)  # type: ignore[operator]
    assert caught.value.status_code == 403
    return str(caught.value.detail)


def test_accounts_and_usage_filters_narrow_to_the_scope() -> None:
    assert scope.accounts_in_scope(ADMIN, ["x"]) == ["x"]
    assert scope.accounts_in_scope(MIA, []) == ["p-ml"]
    assert scope.accounts_in_scope(BARE, []) == [scope.NO_ACCOUNT]
    assert "'other'" in _refused(scope.accounts_in_scope, MIA, ["other"])
    mia = scope.usage_filters(MIA, [], [], [], [], [], [], [])
    assert mia is not None and mia.accounts == ("p-ml",)
    assert scope.usage_filters(BARE, [], [], [], [], [], [], []) is None
    own = scope.usage_filters(ALICE, [], [], [], [], [], [], [])
    assert own is not None and own.users == ("alice",)
    assert "own usage" in _refused(scope.usage_filters, ALICE, [], ["bob"], [], [], [], [], [])


def test_spend_teams_keys_and_reports() -> None:
    assert scope.spend_teams(ADMIN, []) == ()
    assert scope.spend_teams(MIA, []) == ("ml",)
    assert "'web'" in _refused(scope.spend_teams, MIA, ["web"])
    _refused(scope.spend_teams, ALICE, [])
    assert scope.visible_key(MIA, "project", "p-ml")
    assert scope.visible_key(MIA, "user", "ann")
    assert not scope.visible_key(MIA, "team", "web")
    assert not scope.visible_key(MIA, "cluster", "c1")
    assert not scope.visible_key(ALICE, "user", "alice")
    assert scope.report_teams(ADMIN) is None
    assert scope.report_teams(MIA) == ("ml",)
    _refused(scope.report_teams, ALICE)


def test_one_rule_of_what_each_role_reads() -> None:
    assert ADMIN.names_of("user") is None and ADMIN.may_see("division", "any")
    assert MIA.names_of("user") == ("ann",) and MIA.names_of("account") == ("p-ml",)
    assert MIA.may_see("team", "ml") and not MIA.may_see("team", "web")
    assert MIA.names_of("division") == () and not MIA.may_see("resource", "gpu01")
    assert ALICE.names_of("user") == ("alice",) and ALICE.names_of("team") == ()
    assert ALICE.may_see("user", "alice") and not ALICE.may_see("user", "ann")
    assert Principal(5, "nobody", "member").names_of("user") == ()
    # forecasts, anomalies and alerts follow the same rule, but not for members
    assert scope.visible_key(MIA, "project", "p-ml") and not scope.visible_key(
        ALICE, "user", "alice"
    )
    assert scope.search_visible(ALICE) == {"user": ("alice",)}
    assert scope.search_visible(MIA) == {"user": ("ann",), "team": ("ml",), "project": ("p-ml",)}
