"""Onboarding end to end: invitation links, /start codes, /me, /help per role, strangers."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from bot import clock, reminders
from bot.store import invites
from tests.conftest import ADMIN_ID, BOT_USERNAME, Harness, eventually
from tests.seed import DEPARTMENTS, INSPECTORS

DAYTIME = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 Beijing time, a Tuesday
LINK_RE = re.compile(rf"https://t\.me/{BOT_USERNAME}\?start=([A-Za-z0-9_-]+)")


@pytest.fixture
async def seeded(bot: Harness) -> Harness:
    await bot.import_csv("departments", DEPARTMENTS)
    await bot.import_csv("inspectors", INSPECTORS)
    return bot


async def invite_code(h: Harness, command: str) -> str:
    [answer] = await h.say(ADMIN_ID, command)
    match = LINK_RE.search(answer.text)
    assert match, answer.text
    return match.group(1)


async def audit_rows(h: Harness, action: str) -> list[tuple[str, str]]:
    rows = await h.db.fetchall("SELECT action, outcome FROM audit_log WHERE action = ?", (action,))
    return [(r[0], r[1]) for r in rows]


async def test_liaison_onboarding_and_reuse(seeded: Harness) -> None:
    h = seeded
    clock.set_source(lambda: DAYTIME)  # the join digest keeps quiet hours
    try:
        code = await invite_code(h, "/invite liaison MZJ")
        h.api.add_user(2001, "王", "联络员")
        [welcome] = await h.say(2001, f"/start {code}")
        assert "注册成功" in welcome.text and "县民政局" in welcome.text
        assert "部门联络员" in welcome.text
        # the administrator who made the link is told, in their join digest
        await reminders.run_due(h.app)
        notices = await h.api.wait_for_messages(ADMIN_ID, 2)
    finally:
        clock.reset()
    assert "注册汇总" in notices[-1].text
    assert "王 联络员" in notices[-1].text and "县民政局" in notices[-1].text
    # the liaison's own command menu now includes /me
    await h.api.wait_for(lambda: "chat:2001" in h.api.commands)
    assert "me" in [c["command"] for c in h.api.commands["chat:2001"]]

    [me] = await h.say(2001, "/me")
    assert "县民政局" in me.text and "MZJ" in me.text

    # the same code again, by someone else and by the same person
    h.api.add_user(2002, "赵六")
    [used] = await h.say(2002, f"/start {code}")
    assert "已经被使用" in used.text and "联系管理员" in used.text
    [again] = await h.say(2001, f"/start {code}")
    assert "已经被使用" in again.text and "/me" in again.text
    assert ("onboard.liaison", "ok") in await audit_rows(h, "onboard.liaison")
    assert await audit_rows(h, "onboard.refused") == [("onboard.refused", "refused")] * 2


async def test_expired_and_made_up_codes(seeded: Harness) -> None:
    h = seeded
    code = await invite_code(h, "/invite liaison SCJG")
    real_now = clock.now()
    clock.set_source(lambda: real_now + timedelta(days=7, minutes=1))
    try:
        h.api.add_user(2003, "孙七")
        [expired] = await h.say(2003, f"/start {code}")
        assert "已过期" in expired.text
    finally:
        clock.reset()
    [made_up] = await h.say(2003, "/start NoSuchCode123")
    assert "无效" in made_up.text
    [weird] = await h.say(2003, "/start <script>&")
    assert "无效" in weird.text
    # still a stranger
    [me] = await h.say(2003, "/me")
    assert "还没有注册" in me.text


async def test_a_code_issued_with_the_verification_prefix_still_registers(seeded: Harness) -> None:
    """Codes issued before new codes avoided "v_" are invitations, not verification links."""
    h = seeded
    await invites.create(
        h.db,
        code="v_OldCode1234567",
        role="liaison",
        created_by=ADMIN_ID,
        expires_at=clock.now() + timedelta(days=7),
        department_code="MZJ",
    )
    h.api.add_user(2005, "钱八")
    [welcome] = await h.say(2005, "/start v_OldCode1234567")
    assert "注册成功" in welcome.text and "县民政局" in welcome.text
    [unknown] = await h.say(2005, "/start v_NoSuchToken")  # no such code: a verification link
    assert "核验链接无效" in unknown.text


async def test_inspector_onboarding_keeps_names_intact(seeded: Harness) -> None:
    h = seeded
    code = await invite_code(h, "/invite inspector SCJG 13010001")
    h.api.add_user(3001, "小张")
    [welcome] = await h.say(3001, f"/start {code}")
    assert "执法检查人员" in welcome.text and "13010001" in welcome.text
    [me] = await h.say(3001, "/me")
    assert "张<三>&😀" in me.text
    row = await h.db.fetchone(
        "SELECT p.tg_user_id FROM inspectors i JOIN people p ON p.id = i.person_id"
        " WHERE i.certificate_no = '13010001'"
    )
    assert row is not None and row[0] == 3001


async def test_invite_errors(seeded: Harness) -> None:
    h = seeded
    [answer] = await h.say(ADMIN_ID, "/invite liaison NOPE")
    assert "没有编码为“NOPE”的部门" in answer.text
    [answer] = await h.say(ADMIN_ID, "/invite inspector MZJ 13010001")
    assert "13010001" in answer.text and "县民政局" in answer.text
    [answer] = await h.say(ADMIN_ID, "/invite boss")
    assert "不认识的身份" in answer.text


async def test_guided_invite_with_buttons(seeded: Harness) -> None:
    h = seeded
    [pick] = await h.say(ADMIN_ID, "/invite")
    assert [b[1] for b in pick.buttons[0]] == ["inv:r:l", "inv:r:i"]
    await h.press(ADMIN_ID, pick, "inv:r:i", expect_edit=True)
    card = h.api.chat_messages(ADMIN_ID)[-1]
    assert card.message_id == pick.message_id and card.edited
    assert any("文旅" in text for row in card.buttons for text, _ in row)
    await h.press(ADMIN_ID, card, "inv:d:i:SCJG", expect_edit=True)
    card = h.api.chat_messages(ADMIN_ID)[-1]
    assert "县市场监管局" in card.text
    assert ("李四 13010002", "inv:p:2") in [b for row in card.buttons for b in row]
    await h.press(ADMIN_ID, card, "inv:p:2", expect_edit=True)
    card = h.api.chat_messages(ADMIN_ID)[-1]
    assert LINK_RE.search(card.text) and "李四" in card.text


async def test_help_per_role_and_strangers(seeded: Harness) -> None:
    h = seeded
    h.api.add_user(4001, "路人")
    [stranger_help] = await h.say(4001, "/help")
    assert "/start" in stranger_help.text and "/me" not in stranger_help.text
    assert "还没有注册" in stranger_help.text
    [hello] = await h.say(4001, "你好")
    assert "还没有注册" in hello.text
    # The explanation comes at most once per [flood] stranger_every_seconds (tests/test_flood.py);
    # the refusal is still audited.
    before = len(h.api.chat_messages(4001))
    h.api.send_text(4001, "/invite liaison MZJ")
    await eventually(lambda: audit_rows(h, "command.invite"), [("command.invite", "refused")])
    assert len(h.api.chat_messages(4001)) == before

    [admin_help] = await h.say(ADMIN_ID, "/help")
    for name in ("/invite", "/template", "/directories", "/me"):
        assert name in admin_help.text
    assert "/bindgroup" not in admin_help.text  # a group command

    code = await invite_code(h, "/invite liaison MZJ")
    h.api.add_user(2001, "联络员甲")
    await h.say(2001, f"/start {code}")
    [liaison_help] = await h.say(2001, "/help")
    assert "/me" in liaison_help.text and "/bindgroup" not in liaison_help.text
    # a liaison may invite their own department's inspectors (tests/test_onboarding_bulk.py),
    # nothing else: the refusal is audited
    assert "/invite" in liaison_help.text and "/roster" in liaison_help.text
    [refused] = await h.say(2001, "/invite liaison MZJ")
    assert "没有使用这个功能的权限" in refused.text
    refusals = await audit_rows(h, "command.invite")
    assert refusals == [("command.invite", "refused")] * 2
    [unknown] = await h.say(2001, "/nosuch")
    assert "没有这个命令" in unknown.text


async def test_admin_invite_and_menus(seeded: Harness) -> None:
    h = seeded
    assert [c["command"] for c in h.api.commands["default"]] == ["start", "help"]
    assert "invite" in [c["command"] for c in h.api.commands[f"chat:{ADMIN_ID}"]]
    code = await invite_code(h, "/invite admin")
    h.api.add_user(5001, "副管理员")
    [welcome] = await h.say(5001, f"/start {code}")
    assert "管理员" in welcome.text
    [answer] = await h.say(5001, "/invite liaison MZJ")
    assert LINK_RE.search(answer.text)
