from datetime import UTC, datetime, timedelta

import pytest

from bot.domain import invites
from bot.domain.invites import CodeState, Invite
from bot.domain.roles import Identity, Role, Where, commands_for, may_use


def names(identity: Identity, where: Where) -> list[str]:
    return [spec.name for spec in commands_for(identity, where)]


def test_stranger_sees_only_start_and_help() -> None:
    stranger = Identity(1, "x")
    assert not stranger.is_known
    assert names(stranger, Where.PRIVATE) == ["start", "help"]
    assert not may_use(stranger, "me")
    assert not may_use(stranger, "no-such-command")


def test_roles_combine() -> None:
    person = Identity(
        1, "x", person_id=1, is_admin=True, liaison_departments=("MZJ",), inspector_id=3
    )
    assert person.roles == {Role.ADMIN, Role.LIAISON, Role.INSPECTOR}
    assert "invite" in names(person, Where.PRIVATE)
    assert "bindgroup" in names(person, Where.GROUP)
    assert "bindgroup" not in names(person, Where.PRIVATE)
    liaison = Identity(2, "y", person_id=2, liaison_departments=("MZJ",))
    # a liaison invites their own department's inspectors (checked again in the handler)
    assert "invite" in names(liaison, Where.PRIVATE) and "roster" in names(liaison, Where.PRIVATE)
    assert "me" in names(liaison, Where.PRIVATE)
    inspector = Identity(3, "z", person_id=3, inspector_id=4)
    assert "invite" not in names(inspector, Where.PRIVATE)


def test_invite_states() -> None:
    now = datetime(2026, 11, 26, 3, tzinfo=UTC)
    base = Invite("c", "liaison", "MZJ", None, 1, now + timedelta(days=7), None, None)
    assert invites.state_of(None, now) is CodeState.UNKNOWN
    assert invites.state_of(base, now) is CodeState.VALID
    assert invites.state_of(base, now + timedelta(days=7)) is CodeState.EXPIRED
    used = Invite("c", "liaison", "MZJ", None, 1, now + timedelta(days=7), now, 5)
    assert invites.state_of(used, now) is CodeState.USED
    revoked = Invite("c", "inspector", "MZJ", 4, 1, now + timedelta(days=7), None, None, now)
    assert invites.state_of(revoked, now) is CodeState.REVOKED
    code = invites.new_code()
    assert invites.looks_like_code(code) and len(code) == 16
    assert not invites.looks_like_code("bad code!")
    assert invites.deep_link("b", code) == f"https://t.me/b?start={code}"


def test_a_new_code_never_looks_like_a_verification_link(monkeypatch: pytest.MonkeyPatch) -> None:
    """token_urlsafe may start with "v_" (about 1 in 4,096): /start would take it for an
    enterprise's verification link, so such a code is drawn again."""
    drawn = iter(["v_AAAAAAAAAAAAAA", "v_BBBBBBBBBBBBBB", "Abcdefghijklmnop"])
    monkeypatch.setattr(invites.secrets, "token_urlsafe", lambda n: next(drawn))
    assert invites.new_code() == "Abcdefghijklmnop"


def test_every_registered_person_may_verify_a_draw() -> None:
    inspector = Identity(3, "z", person_id=3, inspector_id=7)
    assert may_use(inspector, "verify")
    assert "verify" in names(inspector, Where.PRIVATE) and "verify" in names(inspector, Where.GROUP)
    assert not may_use(inspector, "draw") and not may_use(inspector, "swap")
    assert not may_use(Identity(4, "stranger"), "verify")
