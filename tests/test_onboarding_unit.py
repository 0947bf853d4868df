"""Pure rules of onboarding a county (bot.domain.onboarding) and the inspectors' 状态 column."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from bot.config import ConfigError, Tunables
from bot.domain.directories import CellError, parse_active
from bot.domain.onboarding import (
    InspectorState,
    Refusal,
    Standing,
    bulk_plan,
    bulk_refusal,
    digest_due,
    scope,
    standing,
)
from bot.domain.roles import Identity


def person(n: int, **kw: object) -> InspectorState:
    values: dict[str, object] = dict(
        id=n,
        name=f"人{n}",
        department_code="MZJ",
        certificate_no=f"{n:04d}",
        active=True,
        registered=False,
        reachable=False,
        pending_link=False,
    )
    values.update(kw)
    return InspectorState(**values)  # type: ignore[arg-type]


def test_standing_of_each_kind_of_person() -> None:
    assert standing(person(1, registered=True, reachable=True)) is Standing.REGISTERED
    assert standing(person(2, registered=True, reachable=False)) is Standing.BLOCKED
    assert standing(person(3, pending_link=True)) is Standing.PENDING
    assert standing(person(4)) is Standing.NEVER
    assert standing(person(5, active=False, registered=True, reachable=True)) is Standing.INACTIVE


def test_bulk_plan_new_pending_registered_and_reissue() -> None:
    people = [
        person(1, registered=True, reachable=True),
        person(2, pending_link=True),
        person(3),
        person(4, active=False),
    ]
    plan = bulk_plan(people, reissue=False)
    assert [p.id for p in plan.new] == [3]
    assert [p.id for p in plan.pending] == [2]
    assert [p.id for p in plan.registered] == [1]
    assert plan.revoke == () and plan.reissued == 0
    again = bulk_plan(people, reissue=True)
    assert [p.id for p in again.new] == [2, 3] and again.pending == ()
    assert again.revoke == (2,) and again.reissued == 1


def test_who_may_invite_which_department() -> None:
    admin = Identity(1, "管", is_admin=True)
    liaison = Identity(2, "联", liaison_departments=("MZJ",))
    inspector = Identity(3, "检", inspector_id=9, inspector_department="MZJ")
    assert bulk_refusal(admin, ["WJW"], everyone=False, liaison_invites=False) is None
    assert bulk_refusal(liaison, ["MZJ"], everyone=False, liaison_invites=True) is None
    assert bulk_refusal(liaison, ["WJW"], everyone=False, liaison_invites=True) is (
        Refusal.NOT_ALLOWED
    )
    assert bulk_refusal(liaison, ["MZJ"], everyone=False, liaison_invites=False) is (
        Refusal.SWITCHED_OFF
    )
    assert bulk_refusal(inspector, ["MZJ"], everyone=False, liaison_invites=True) is (
        Refusal.NOT_ALLOWED
    )
    assert scope(admin, "all", ["MZJ", "WJW"]) == (["MZJ", "WJW"], True)
    assert scope(liaison, "ALL", ["MZJ", "WJW"]) == (["MZJ"], True)
    assert scope(liaison, "WJW", ["MZJ", "WJW"]) == (["WJW"], False)


def test_digest_at_most_once_an_hour() -> None:
    t = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    assert digest_due(t, None) == t
    assert digest_due(t, t - timedelta(minutes=10)) == t + timedelta(minutes=50)
    assert digest_due(t, t - timedelta(hours=3)) == t


@pytest.mark.parametrize(
    ("cell", "flag"),
    [("在岗", 1), ("", 1), (None, 1), (" 离岗 ", 0), ("调离", 0), ("退休", 0), ("停用", 0)],
)
def test_status_column(cell: str | None, flag: int) -> None:
    assert parse_active(cell) == flag


def test_status_column_refuses_what_it_does_not_understand() -> None:
    with pytest.raises(CellError, match="无法识别的状态「请假」"):
        parse_active("请假")


def test_liaison_invites_switch_in_the_toml() -> None:
    assert Tunables.from_toml({}).liaison_invites is True
    assert Tunables.from_toml({"onboarding": {"liaison_invites": False}}).liaison_invites is False
    with pytest.raises(ConfigError, match="liaison_invites"):
        Tunables.from_toml({"onboarding": {"liaison_invites": "no"}})
