"""Joint inspections end to end: /newtask, the invitation card, answers, reminders, escalation,
restarts, cancellation. The real Application, the outbox and the fake Bot API (real limits)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot import reminders as engine
from bot.config import InvitationTunables, Settings
from bot.features import tasks as feature
from bot.features.tasks import propose as propose_flow
from bot.features.tasks import views
from bot.render import visible_length
from tests.fakeapi import FakeBotApi, SentMessage
from tests.outbox_support import (
    ADMIN_ID,
    FAST_CLOCK,
    add_department,
    add_person,
    crafted,
    db_of,
    open_chat,
    running_bot,
    sender_of,
    settings_for,
    until,
)

GROUP = -5000
LEAD, SCJG, WJW, JYJ, STRANGER = 3001, 3002, 3003, 3005, 3999
# Monday 30 November 2026, 10:00 in Beijing. Two working days on: Wednesday 2 December.
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def beijing(day: int, hour: int, minute: int = 0, month: int = 12) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


def set_now(moment: datetime) -> None:
    clock.set_source(lambda: moment)


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)  # Telegram's limits, on a fast clock
    await fake.start()
    open_chat(fake, ADMIN_ID, "县局管理员")
    for uid, name in ((LEAD, "民政联络员"), (SCJG, "市场联络员"), (WJW, "卫健联络员")):
        open_chat(fake, uid, name)
    open_chat(fake, JYJ, "教育联络员")
    open_chat(fake, STRANGER, "路人")
    fake.add_group(GROUP, "县联合抽查协调群", creator_id=ADMIN_ID)
    try:
        yield fake
    finally:
        await fake.stop()


def task_settings(api: FakeBotApi, path: Path) -> Settings:
    # The bot's pace loosened (the fake keeps Telegram's limits; each test stays under its 20
    # group messages a minute); the periodic scan is left to the tests (run_due).
    settings = settings_for(api, path)
    invitations = InvitationTunables(scan_seconds=3600)
    return replace(settings, tunables=replace(settings.tunables, invitations=invitations))


async def seed(app: Any, api: FakeBotApi, *, group: bool = True) -> None:
    db = db_of(app)
    for code, name in (
        ("MZJ", "县民政局"),
        ("SCJG", "县市场监管局"),
        ("WJW", "县卫健委"),
        ("JYJ", "县教育局"),
    ):
        await add_department(db, code, name)
    await add_person(db, LEAD, "民政联络员", liaison_of="MZJ")
    await add_person(db, SCJG, "市场联络员", liaison_of="SCJG")
    await add_person(db, WJW, "卫健联络员", liaison_of="WJW")
    await add_person(db, JYJ, "教育联络员", liaison_of="JYJ")
    now = clock.now_db()
    for code, name, dept in (
        ("MZ-01", "养老机构安全管理", "MZJ"),
        ("MZ-02", "养老服务质量", "MZJ"),
        ("SC-01", "食品安全", "SCJG"),
        ("SC-02", "特种设备安全", "SCJG"),
        ("WJ-01", "医疗卫生服务", "WJW"),
    ):
        await db.execute(
            "INSERT INTO items (code, name, department_code, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (code, name, dept, now, now),
        )
    for i, industry in enumerate(("养老机构", "养老机构、学校食堂", "网吧")):
        await db.execute(
            "INSERT INTO objects (credit_code, name, industry, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?)",
            (f"91000000000000000{i}", f"企业{i}", industry, now, now),
        )
    if group:
        api.add_bot_to_group(GROUP, ADMIN_ID)
        await api.wait_for_messages(GROUP, 1)  # the greeting
        await db.execute("UPDATE chats SET is_coordination = 1 WHERE chat_id = ?", (GROUP,))


class Person:
    def __init__(self, api: FakeBotApi, user_id: int) -> None:
        self.api = api
        self.user_id = user_id

    async def say(self, text: str, expect: int = 1) -> list[SentMessage]:
        before = self.api.sent_total(self.user_id)
        self.api.send_text(self.user_id, text)
        await self.api.wait_for_messages(self.user_id, before + expect)
        return self.api.chat_messages(self.user_id)[before:]

    async def press(
        self, message: SentMessage, label: str, *, edit: bool = False, new: int = 0
    ) -> str:
        """Press the button whose label contains `label`; wait for the answer (and an edit of
        that message, or `new` messages in this person's private chat); return the answer."""
        data = button(current(self.api, message), label)
        answers = len(self.api.callback_answers)
        edits = current(self.api, message).edit_count
        sent = self.api.sent_total(self.user_id)
        self.api.press_button(self.user_id, message.chat_id, message.message_id, data)
        await self.api.wait_for(lambda: len(self.api.callback_answers) > answers)
        if edit:
            await self.api.wait_for(lambda: current(self.api, message).edit_count > edits)
        if new:
            await self.api.wait_for_messages(self.user_id, sent + new)
        return str(self.api.callback_answers[answers].get("text") or "")

    def last(self) -> SentMessage:
        return self.api.chat_messages(self.user_id)[-1]


def current(api: FakeBotApi, message: SentMessage) -> SentMessage:
    return next(m for m in api.chat_messages(message.chat_id) if m.message_id == message.message_id)


def button(message: SentMessage, label: str) -> str:
    for row in message.buttons:
        for text, data in row:
            if label in text:
                return str(data)
    raise AssertionError(f"no button {label!r} in {message.describe()}")


async def propose(
    api: FakeBotApi,
    user_id: int = LEAD,
    partners: tuple[str, ...] = ("县市场监管局", "县卫健委"),
    window: str = "2026-12-07 2026-12-18",
    industry: str = "养老机构",
    app: Any = None,
    more_partners: tuple[str, ...] = (),
    item: str | None = "养老机构安全管理",
) -> SentMessage:
    """/newtask through every step with the default deadline; returns the summary card."""
    p = Person(api, user_id)
    [card] = await p.say("/newtask")
    assert "第一步" in card.text and "养老机构" in card.button_texts
    await p.press(card, industry, edit=True)
    assert "第三步" in current(api, card).text  # one department: no lead to pick
    if item is not None:
        await p.press(card, item, edit=True)
    await p.press(card, "下一步", edit=True)
    for name in partners:
        await p.press(card, name, edit=True)
    if more_partners:  # many departments: put them in the draft instead of pressing each
        db = db_of(app)
        row = await db.fetchone("SELECT id, data FROM task_flows")
        assert row is not None
        data = json.loads(row[1])
        data["partners"] = [*data["partners"], *more_partners]
        await db.execute(
            "UPDATE task_flows SET data = ? WHERE id = ?",
            (json.dumps(data, ensure_ascii=False), row[0]),
        )
    await p.press(card, "下一步", edit=True)
    assert "第五步" in current(api, card).text
    [deadline_card] = await p.say(window)
    assert "第六步" in deadline_card.text and "2026-12-02（周三）18:00" in deadline_card.text
    await p.press(deadline_card, "使用默认", edit=True)
    await p.press(deadline_card, "无备注", edit=True)
    summary = current(api, deadline_card)
    assert "请核对" in summary.text
    return summary


async def group_card(api: FakeBotApi) -> SentMessage:
    found = await until(lambda: [m for m in api.chat_messages(GROUP) if "联合检查 #" in m.text])
    message: SentMessage = found[-1]
    return message


async def private_invitation(api: FakeBotApi, uid: int) -> SentMessage:
    found = await until(lambda: [m for m in api.chat_messages(uid) if "联合检查邀请" in m.text])
    message: SentMessage = found[-1]
    return message


async def audit(app: Any, action: str) -> list[tuple[Any, ...]]:
    rows = await db_of(app).fetchall(
        "SELECT actor, outcome, detail FROM audit_log WHERE action = ? ORDER BY id", (action,)
    )
    return [tuple(r) for r in rows]


async def settle(app: Any) -> None:
    await sender_of(app).idle()


@asynccontextmanager
async def county(api: FakeBotApi, tmp_path: Path, *, group: bool = True) -> AsyncIterator[Any]:
    async with running_bot(task_settings(api, tmp_path / "b.sqlite3")) as app:
        await seed(app, api, group=group)
        yield app


async def wait_edit(api: FakeBotApi, message: SentMessage, check: Callable[[str], bool]) -> str:
    await api.wait_for(lambda: check(current(api, message).text))
    return current(api, message).text


# -- proposing ----------------------------------------------------------------------------------


async def test_propose_and_confirm_posts_one_card_and_private_invitations(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        summary = await propose(api)
        assert "邀请部门：县市场监管局、县卫健委" in summary.text
        assert "检查时间：2026-12-07 至 2026-12-18" in summary.text
        assert api.chat_messages(SCJG) == []  # nothing is sent before the proposer confirms
        lead = Person(api, LEAD)
        await lead.press(summary, "确认发出", edit=True)
        done = current(api, summary)
        assert "已发出联合检查邀请 #1" in done.text and "协调群" in done.text
        card = await group_card(api)
        assert "一业一查 联合检查 #1" in card.text and "邀请中" in card.text
        assert "牵头部门：县民政局" in card.text
        assert "答复截止：2026-12-02（周三）18:00" in card.text
        assert "⏳ 县市场监管局：待回复" in card.text and "⏳ 县卫健委：待回复" in card.text
        assert card.button_texts == ["参加", "不参加"]
        for uid in (SCJG, WJW):
            invitation = await private_invitation(api, uid)
            assert "养老机构安全管理" in invitation.text
            assert "参加" in invitation.button_texts
        await settle(app)
        assert api.chat_messages(JYJ) == []  # not invited
        assert len([m for m in api.chat_messages(GROUP) if "#1" in m.text]) == 1
        [(actor, outcome, detail)] = await audit(app, "task.propose")
        assert actor == LEAD and outcome == "ok" and '"inviting"' in detail
        [listing] = await Person(api, SCJG).say("/tasks")
        assert "#1" in listing.text and "待您答复：县市场监管局" in listing.text


async def test_without_a_coordination_group_invitations_go_privately(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path, group=False) as app:
        summary = await propose(api, partners=("县卫健委",))
        assert "尚未绑定协调群" in summary.text
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        assert "邀请只通过私聊发给了各部门联络员" in current(api, summary).text
        await private_invitation(api, WJW)
        await settle(app)
        assert [m for m in api.chat_messages(GROUP) if "#1" in m.text] == []


async def test_bad_dates_are_explained_and_cancel_drops_the_draft(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path):
        p = Person(api, LEAD)
        await p.say("/newtask")
        [asked] = await p.say("KTV")  # typed instead of a button
        assert "第三步" in asked.text and "行业/场景：KTV" in asked.text
        await p.press(asked, "下一步", edit=True)
        await p.press(asked, "县卫健委", edit=True)
        await p.press(asked, "下一步", edit=True)
        [problem] = await p.say("2026-11-01 2026-11-20")
        assert "已经过去" in problem.text
        [problem] = await p.say("2026-12-20 2026-12-10")
        assert "结束日期早于开始日期" in problem.text
        [deadline_card] = await p.say("2026-12-01 2026-12-10")
        # the default deadline (2 December) is after the start: it must be typed
        assert (
            "使用默认" not in deadline_card.button_texts
            and "请输入更早的日期" in deadline_card.text
        )
        [problem] = await p.say("2026-12-05")
        assert "不能晚于检查开始日期（2026-12-01）" in problem.text
        [notes] = await p.say("2026-12-01 08:30")
        assert "第七步" in notes.text and "2026-12-01（周二）08:30" in notes.text
        [cancelled] = await p.say("/cancel")
        assert cancelled.text.startswith("已取消「发起联合检查")
        [answer] = await p.say("这不是备注")
        assert "没有看懂" in answer.text
        # the dropped draft's card lost its buttons: nothing on it can act any more
        await api.wait_for(lambda: current(api, notes).buttons == [])


# -- answering ----------------------------------------------------------------------------------


async def confirmed_proposal(api: FakeBotApi) -> SentMessage:
    summary = await propose(api)
    await Person(api, LEAD).press(summary, "确认发出", edit=True)
    return await group_card(api)


async def test_join_decline_double_press_and_change(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        scjg, wjw = Person(api, SCJG), Person(api, WJW)
        # 参加 on the group card continues in the private chat
        assert "私聊" in await scjg.press(card, "参加", new=1)
        pick = scjg.last()
        assert "选择本部门的检查事项" in pick.text and "食品安全" in pick.button_texts
        await scjg.press(pick, "食品安全", edit=True)
        await scjg.press(pick, "下一步", edit=True)
        assert "派出几名检查人员" in current(api, pick).text
        await scjg.press(pick, "2", edit=True)
        assert "已答复：县市场监管局参加联合检查 #1，派出 2 名检查人员" in current(api, pick).text
        text = await wait_edit(api, card, lambda t: "✅ 县市场监管局" in t)
        assert "✅ 县市场监管局：参加（2 名检查人员，1 个事项）" in text
        # pressing 参加 again reopens the join card with the current choices; finishing it
        # unchanged is a no-op (no audit row, no card edit), another count is a change
        await settle(app)
        edits = current(api, card).edit_count
        assert "私聊" in await scjg.press(card, "参加", new=1)
        again = scjg.last()
        assert "✅ 食品安全" in again.button_texts
        await scjg.press(again, "下一步", edit=True)
        assert "目前答复的是 2 名" in current(api, again).text
        await scjg.press(again, "2", edit=True)
        assert "无需重复" in current(api, again).text
        await settle(app)
        assert current(api, card).edit_count == edits
        assert [o for _, o, _ in await audit(app, "task.answer")] == ["ok"]
        await scjg.press(card, "参加", new=1)
        again = scjg.last()
        await scjg.press(again, "下一步", edit=True)
        [changed] = await scjg.say("3")
        assert "派出 3 名检查人员" in changed.text
        await wait_edit(api, card, lambda t: "参加（3 名检查人员，1 个事项）" in t)
        edits = current(api, card).edit_count
        # 不参加 from the private invitation, with a reason typed next
        invitation = await private_invitation(api, WJW)
        await wjw.press(invitation, "不参加", new=1)
        assert "请回复不参加的原因" in wjw.last().text
        [answered] = await wjw.say("本月人手不足 <全员外出>")
        assert "已答复：县卫健委不参加" in answered.text
        text = await wait_edit(api, card, lambda t: "❌ 县卫健委" in t)
        assert "❌ 县卫健委：不参加（本月人手不足 <全员外出>）" in text
        assert current(api, card).edit_count > edits
        # the market department changes its mind before the deadline
        await scjg.press(card, "不参加", new=1)
        await scjg.say("临时有专项任务")
        text = await wait_edit(api, card, lambda t: "❌ 县市场监管局" in t)
        assert "不参加（临时有专项任务）" in text
        answers = [d for _, outcome, d in await audit(app, "task.answer") if outcome == "ok"]
        assert len(answers) == 4 and '"before": "joined"' in answers[-1]


async def test_presses_by_outsiders_change_nothing(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        await settle(app)
        edits = current(api, card).edit_count
        assert "只有受邀部门的联络员" in await Person(api, JYJ).press(card, "参加")
        assert "还没有注册" in await Person(api, STRANGER).press(card, "不参加")
        refused = await audit(app, "task.answer")
        assert [(actor, outcome) for actor, outcome, _ in refused][:1] == [(JYJ, "refused")]
        stranger = await db_of(app).fetchall(
            "SELECT outcome FROM audit_log WHERE actor = ? AND action LIKE 'button.tk:%'",
            (STRANGER,),
        )
        assert [r[0] for r in stranger] == ["refused"]
        await settle(app)
        assert current(api, card).edit_count == edits
        assert api.chat_messages(JYJ) == [] and api.chat_messages(STRANGER) == []
        rows = await db_of(app).fetchall("SELECT answer FROM task_invitations ORDER BY 1")
        assert [r[0] for r in rows] == ["pending", "pending"]


async def test_an_old_button_works_after_a_restart(api: FakeBotApi, tmp_path: Path) -> None:
    settings = task_settings(api, tmp_path / "b.sqlite3")
    async with running_bot(settings) as app:
        await seed(app, api)
        await confirmed_proposal(api)
        invitation = await private_invitation(api, WJW)
        await settle(app)
    async with running_bot(settings) as app:
        set_now(MONDAY_10 + timedelta(days=1))  # a day later
        wjw = Person(api, WJW)
        await wjw.press(invitation, "参加", new=1)
        pick = wjw.last()
        await wjw.press(pick, "医疗卫生服务", edit=True)
        await wjw.press(pick, "下一步", edit=True)
        [answered] = await wjw.say("3")
        assert "派出 3 名检查人员" in answered.text
        card = await group_card(api)
        await wait_edit(api, card, lambda t: "✅ 县卫健委：参加（3 名检查人员，1 个事项）" in t)
        row = await db_of(app).fetchone(
            "SELECT answer, inspectors, items FROM task_invitations WHERE department_code = 'WJW'"
        )
        assert row is not None and tuple(row) == ("joined", 3, '["WJ-01"]')


# -- chasing, escalation, extension, confirmation -------------------------------------------


async def test_reminders_escalation_extension_and_confirmation(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        await settle(app)
        base = {uid: api.sent_total(uid) for uid in (SCJG, WJW, LEAD, ADMIN_ID)}

        def reminders(uid: int) -> list[SentMessage]:
            return [m for m in api.chat_messages(uid) if "提醒" in m.text]

        set_now(beijing(1, 8, 59))  # Tuesday, just before the slot
        await engine.run_due(app)
        await settle(app)
        assert reminders(SCJG) == []
        set_now(beijing(1, 9, 0))
        await engine.run_due(app)
        await engine.run_due(app)  # twice: the slot is sent once
        await settle(app)
        assert len(reminders(SCJG)) == 1 and len(reminders(WJW)) == 1
        assert "县市场监管局还没有答复" in reminders(SCJG)[0].text
        # the health department answers; only the market department is chased on Wednesday
        wjw = Person(api, WJW)
        await wjw.press(reminders(WJW)[0], "参加", new=1)
        await wjw.press(wjw.last(), "下一步", edit=True)
        await wjw.press(wjw.last(), "1", edit=True)
        set_now(beijing(2, 9, 30))
        await engine.run_due(app)
        await settle(app)
        assert len(reminders(SCJG)) == 2 and len(reminders(WJW)) == 1
        assert api.sent_total(LEAD) == base[LEAD]  # the lead is not bothered before the deadline
        # the deadline passes: the lead and the administrators are told who did not answer
        set_now(beijing(2, 18, 0))
        await engine.run_due(app)
        await engine.run_due(app)
        await settle(app)
        lead_msgs = [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text]
        admin_msgs = [m for m in api.chat_messages(ADMIN_ID) if "答复截止时间已过" in m.text]
        assert len(lead_msgs) == 1 and len(admin_msgs) == 1
        escalation = lead_msgs[0]
        assert (
            "· 县市场监管局" in escalation.text
            and "县卫健委" not in escalation.text.split("没有答复")[1].split("已参加")[0]
        )
        lead = Person(api, LEAD)
        assert "已延长" in await lead.press(escalation, "延长 1 个工作日", new=1)
        assert "2026-12-03 18:00" in lead.last().text
        text = await wait_edit(api, card, lambda t: "2026-12-03（周四）18:00" in t)
        assert "邀请中" in text
        extended = await until(
            lambda: [m for m in api.chat_messages(SCJG) if "截止时间已延长" in m.text]
        )
        assert "2026-12-03（周四）18:00" in extended[0].text
        # the escalation is rewritten from the new state: the new deadline, no buttons left
        await until(lambda: current(api, escalation).buttons == [])
        assert "已延长至 2026-12-03（周四）18:00" in current(api, escalation).text
        # Thursday 09:00: a reminder for the new deadline; 18:00: escalated again
        set_now(beijing(3, 9, 0))
        await engine.run_due(app)
        await settle(app)
        assert len(reminders(SCJG)) == 3
        set_now(beijing(3, 18, 5))
        await engine.run_due(app)
        await settle(app)
        second = [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text]
        assert len(second) == 2
        assert "已确认" in await lead.press(second[-1], "按现有答复确认", new=1)
        text = await wait_edit(api, card, lambda t: "已确认" in t)
        assert "联合检查（1 个部门参加）" in text and current(api, card).buttons == []
        notices = await until(
            lambda: [m for m in api.chat_messages(WJW) if "联合检查 #1 已确认" in m.text]
        )
        assert "县民政局（牵头）、县卫健委" in notices[0].text
        # the private invitations lose their buttons; a late press is refused
        await settle(app)
        invitation = await private_invitation(api, SCJG)
        assert current(api, invitation).buttons == []
        [(_, _, detail)] = await audit(app, "task.confirm")
        assert '"joint": true' in detail
        assert len(await audit(app, "task.escalate")) == 2
        assert len(await audit(app, "task.remind")) == 4
        assert base[SCJG] < api.sent_total(SCJG)


async def test_everyone_answered_is_confirmed_at_the_deadline_as_single_department(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        summary = await propose(api, partners=("县卫健委",))
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        card = await group_card(api)
        wjw = Person(api, WJW)
        await wjw.press(await private_invitation(api, WJW), "不参加", new=1)
        await wjw.say("辖区内无相关机构")
        set_now(beijing(2, 18, 0))
        await engine.run_due(app)
        text = await wait_edit(api, card, lambda t: "已确认" in t)
        assert "没有部门参加，由牵头部门单独检查（不计为联合检查）" in text
        row = await db_of(app).fetchone("SELECT state, joint FROM tasks")
        assert row is not None and tuple(row) == ("confirmed", 0)
        await settle(app)
        assert [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text] == []


# -- limits, cancellation, overlaps, calendar ------------------------------------------------


async def test_a_card_for_twenty_departments_stays_within_telegram_limits(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        for i in range(17):
            await add_department(db, f"D{i:02}", f"县第{i:02}号很长名字的行政执法部门")
        codes = tuple(f"D{i:02}" for i in range(17))
        summary = await propose(
            api, partners=("县市场监管局", "县卫健委", "县教育局"), app=app, more_partners=codes
        )
        assert summary.text.count("、") >= 19
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        card = await group_card(api)
        assert card.text.count("待回复") == 20
        # 19 departments decline at length, in the database; one answers through the card
        reason = "因本季度专项整治任务繁重、人员不足，无法派员参加本次联合检查，" * 4
        await db.execute(
            "UPDATE task_invitations SET answer = 'declined', reason = ?"
            " WHERE department_code NOT IN ('WJW')",
            (reason,),
        )
        wjw = Person(api, WJW)
        await wjw.press(card, "不参加", new=1)
        await wjw.say(reason)
        text = await wait_edit(api, card, lambda t: "待回复" not in t)
        assert visible_length(current(api, card).html) <= 4096
        assert text.count("不参加") >= 20 and "…" in text
        assert current(api, card).buttons == card.buttons
        assert not [e for e in api.errors if e.status == 400]


async def test_the_lead_cancels_and_everyone_is_told(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        lead = Person(api, LEAD)
        [detail] = await lead.say("/task 1")
        assert "取消任务" in detail.button_texts and "结束邀请并确认" in detail.button_texts
        [shown] = await Person(api, SCJG).say("/task 1")
        assert "取消任务" not in shown.button_texts and "县市场监管局：参加" in shown.button_texts
        [hidden] = await Person(api, JYJ).say("/task 1")
        assert "没有找到" in hidden.text
        await lead.press(detail, "取消任务", new=1)
        assert "请回复取消的原因" in lead.last().text
        [confirm] = await lead.say("上级部署调整，改为下季度")
        assert "取消原因：上级部署调整，改为下季度" in confirm.text
        assert confirm.button_texts == ["确认取消", "放弃"]
        row = await db_of(app).fetchone("SELECT state FROM tasks")
        assert row is not None and row[0] == "inviting"  # nothing before the confirmation
        await lead.press(confirm, "确认取消", edit=True)
        assert "已取消" in current(api, confirm).text and current(api, confirm).buttons == []
        text = await wait_edit(api, card, lambda t: "已取消" in t)
        assert "上级部署调整" in text and current(api, card).buttons == []
        for uid in (SCJG, WJW):
            told = await until(
                lambda u=uid: [m for m in api.chat_messages(u) if "#1 已取消" in m.text]
            )
            assert "原因：上级部署调整，改为下季度" in told[0].text
        await settle(app)
        assert current(api, await private_invitation(api, SCJG)).buttons == []
        [(actor, _, detail_json)] = await audit(app, "task.cancel")
        assert actor == LEAD and '"from": "inviting"' in detail_json


async def test_an_overlapping_proposal_is_offered_to_join_instead(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        # the education department proposes the same industry in the same quarter
        summary = await propose(
            api, user_id=JYJ, partners=("县卫健委",), window="2026-12-21 2026-12-25", item=None
        )
        assert "能联合的不多头" in summary.text and "#1 县民政局牵头" in summary.text
        jyj = Person(api, JYJ)
        await jyj.press(summary, "改为参加 #1", new=1)
        assert "县教育局已加入联合检查 #1" in current(api, summary).text
        assert "参加联合检查 #1" in jyj.last().text  # the join card, straight away
        text = await wait_edit(api, card, lambda t: "县教育局" in t)
        assert "⏳ 县教育局：待回复" in text
        told = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "已加入受邀部门" in m.text]
        )
        assert "县教育局" in told[0].text
        row = await db_of(app).fetchone("SELECT count(*) FROM tasks")
        assert row is not None and row[0] == 1


async def test_a_year_without_calendar_data_is_reported_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        summary = await propose(api, partners=("县卫健委",), window="2026-12-28 2027-01-08")
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        await settle(app)
        svc = app.bot_data["services"]
        async with db_of(app).transaction() as conn:  # 2027 comes up again: remembered
            await views.note_calendar_gaps(conn, svc, [date(2027, 3, 1)])
        await settle(app)
        notices = [
            m for m in api.chat_messages(ADMIN_ID) if "2027 年的法定节假日数据缺失" in m.text
        ]
        assert len(notices) == 1 and "[calendar]" in notices[0].text


# -- review fixes: forgotten flows, crafted buttons, catch-up, limits ---------------------------


async def flow_id(app: Any, uid: int) -> int:
    row = await db_of(app).fetchone("SELECT id FROM task_flows WHERE tg_user_id = ?", (uid,))
    assert row is not None
    return int(row[0])


async def waiting(app: Any, uid: int) -> None:
    """Until the person's flow waits for input (its prompt was delivered, then it was moved on
    from "held"): only then may a test move the clock."""

    async def released() -> bool:
        rows = await db_of(app).fetchall("SELECT step FROM task_flows WHERE tg_user_id = ?", (uid,))
        return bool(rows) and all(r[0] != feature.HELD for r in rows)

    await until(released)


async def test_a_forgotten_cancel_prompt_does_not_take_the_broadcast_text(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        admin = Person(api, ADMIN_ID)
        [detail] = await admin.say("/task 1")
        await admin.press(detail, "取消任务", new=1)
        assert "请回复取消的原因" in admin.last().text
        await waiting(app, ADMIN_ID)
        # later: /broadcast (a command drops the waiting prompt, and says so), then the content
        [dropped, card] = await admin.say("/broadcast", expect=2)
        assert "已放弃「取消任务的原因」" in dropped.text
        await admin.press(card, "全部部门联络员", edit=True)
        await admin.say("周五前提交季度报告", expect=2)
        row = await db_of(app).fetchone("SELECT state, cancel_reason FROM tasks")
        assert row is not None and tuple(row) == ("inviting", None)
        draft = await db_of(app).fetchone("SELECT text_html FROM broadcasts")
        assert draft is not None and draft[0] == "周五前提交季度报告"
        assert await db_of(app).fetchall("SELECT id FROM task_flows") == []


async def test_the_newest_question_gets_the_text_and_the_older_one_is_dropped(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        admin = Person(api, ADMIN_ID)
        [card] = await admin.say("/broadcast")
        await admin.press(card, "全部部门联络员", edit=True)  # the card asks for the content
        [dropped, detail] = await admin.say("/task 1", expect=2)
        assert "已放弃「群发内容（/broadcast）」" in dropped.text
        await admin.press(detail, "取消任务", new=1)
        await waiting(app, ADMIN_ID)
        [confirm] = await admin.say("周五前提交季度报告")
        assert "取消原因：周五前提交季度报告" in confirm.text
        row = await db_of(app).fetchone("SELECT state FROM tasks")
        assert row is not None and row[0] == "inviting"  # not before 确认取消
        draft = await db_of(app).fetchone("SELECT text_html, awaiting FROM broadcasts")
        assert draft is not None and tuple(draft) == (None, None)


async def test_prompts_waiting_for_input_expire_and_commands_drop_them(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        wjw = Person(api, WJW)
        # a forgotten 不参加 prompt: 31 minutes later the text is not a reason any more
        await wjw.press(await private_invitation(api, WJW), "不参加", new=1)
        await waiting(app, WJW)
        set_now(MONDAY_10 + timedelta(minutes=31))
        [answer] = await wjw.say("明天开会吗")
        assert "已答复" not in answer.text
        # a command in between drops the prompt too
        await wjw.press(await private_invitation(api, WJW), "不参加", new=1)
        await wjw.say("/tasks")
        [answer] = await wjw.say("明天开会吗")
        assert "已答复" not in answer.text
        rows = await db_of(app).fetchall("SELECT answer FROM task_invitations ORDER BY 1")
        assert [r[0] for r in rows] == ["pending", "pending"]
        # an abandoned /newtask waiting for the industry
        lead = Person(api, LEAD)
        await lead.say("/newtask")
        await waiting(app, LEAD)
        set_now(MONDAY_10 + timedelta(minutes=70))
        [answer] = await lead.say("KTV")
        assert "第三步" not in answer.text
        assert await db_of(app).fetchall("SELECT id FROM task_flows") == []


async def test_a_prompt_that_could_not_be_delivered_leaves_no_flow(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        card = await confirmed_proposal(api)
        await settle(app)
        api.block_bot(WJW)  # blocked the bot after the invitation
        assert "私聊" in await Person(api, WJW).press(card, "不参加")
        assert await db_of(app).fetchall("SELECT id FROM task_flows") == []
        assert await db_of(app).fetchall("SELECT id FROM prompts") == []  # nothing waits


async def test_join_instead_only_for_a_task_the_summary_offers(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)  # task #1: 养老机构, led by 民政局
        jyj = Person(api, JYJ)
        await jyj.say("/newtask")  # still at the first step
        pressed = await crafted(app, api, JYJ, f"nt:{await flow_id(app, JYJ)}:jx:1")
        assert "已过期" in await jyj.press(pressed, "crafted")
        await jyj.say("/cancel")
        # a summary for another industry offers nothing either
        await propose(api, user_id=JYJ, partners=("县卫健委",), industry="网吧", item=None)
        pressed = await crafted(app, api, JYJ, f"nt:{await flow_id(app, JYJ)}:jx:1")
        assert "已过期" in await jyj.press(pressed, "crafted")
        rows = await db_of(app).fetchall("SELECT department_code FROM task_invitations")
        assert "JYJ" not in {r[0] for r in rows}
        refused = [r for r in await audit(app, "task.invite_added") if r[1] == "refused"]
        assert len(refused) == 2 and all(actor == JYJ for actor, _, _ in refused)


async def test_a_count_outside_1_to_50_from_a_button_is_refused(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        wjw = Person(api, WJW)
        await wjw.press(await private_invitation(api, WJW), "参加", new=1)
        await wjw.press(wjw.last(), "下一步", edit=True)
        flow = await flow_id(app, WJW)
        for count in ("0", "99999"):
            pressed = await crafted(app, api, WJW, f"tf:{flow}:n:{count}")
            assert "已失效" in await wjw.press(pressed, "crafted")
        row = await db_of(app).fetchone(
            "SELECT answer, inspectors FROM task_invitations WHERE department_code = 'WJW'"
        )
        assert row is not None and tuple(row) == ("pending", None)


async def test_one_bad_task_does_not_stop_the_others_reminders(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        summary = await propose(api, partners=("县卫健委",), industry="网吧", item=None)
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        await settle(app)
        await db_of(app).execute("UPDATE tasks SET lead_items = 'not json' WHERE id = 1")
        set_now(beijing(1, 9, 0))
        await engine.run_due(app)
        rows = await db_of(app).fetchall(
            "SELECT DISTINCT series FROM reminders WHERE status = 'fired' ORDER BY series"
        )
        assert [r[0] for r in rows] == ["task:2"]


async def test_catching_up_in_the_quiet_hours_waits_until_morning(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        await settle(app)
        before = {uid: api.sent_total(uid) for uid in (SCJG, LEAD)}
        set_now(beijing(1, 23, 0))  # a restart on Tuesday at 23:00: the 09:00 slot is missed
        await engine.run_due(app)
        await settle(app)
        assert api.sent_total(SCJG) == before[SCJG]  # the quiet hours: it waits
        set_now(beijing(2, 8, 0))  # the morning: missed by more than the grace hours, a digest
        await engine.run_due(app)
        digest = await until(lambda: [m for m in api.chat_messages(SCJG) if "错过" in m.text])
        assert "县市场监管局还没有答复联合检查邀请" in digest[0].text
        set_now(beijing(2, 23, 30))  # and again after the deadline: the escalation waits too
        await engine.run_due(app)
        await settle(app)
        assert [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text] == []
        set_now(beijing(3, 8, 0))
        await engine.run_due(app)
        await until(lambda: [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text])
        row = await db_of(app).fetchone("SELECT escalated_deadline FROM tasks WHERE id = 1")
        assert row is not None and row[0] is not None  # /tasks offers the lead the decision


async def test_long_department_codes_and_codes_with_colons_can_answer(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        code = "COUNTY:" + "X" * 60
        await add_department(db, code, "县超长编码局")
        open_chat(api, 3010, "超长联络员")
        await add_person(db, 3010, "超长联络员", liaison_of=code)
        summary = await propose(api, partners=("县超长编码局",))
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        long = Person(api, 3010)
        invitation = await private_invitation(api, 3010)
        assert all(len(d.encode()) <= 64 for row in invitation.buttons for _, d in row)
        await long.press(invitation, "参加", new=1)
        [answered] = await long.say("2")  # no items of its own: straight to the count
        assert "县超长编码局参加联合检查 #1，派出 2 名检查人员" in answered.text
        [detail] = await long.say("/task 1")
        assert "县超长编码局：参加" in detail.button_texts


async def test_many_departments_are_paged_not_hidden(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        for i in range(65):
            await add_department(db, f"Z{i:02}", f"县第{i:02}号部门")
        admin = Person(api, ADMIN_ID)
        [card] = await admin.say("/newtask")
        await admin.press(card, "养老机构", edit=True)
        lead_step = current(api, card)
        assert "第二步" in lead_step.text and "还有 9 项未列出" in lead_step.text
        assert len(lead_step.button_texts) == 60 + 2  # 下一页, 放弃
        await admin.press(card, "下一页", edit=True)
        assert "第 2/2 页" in current(api, card).text
        await admin.press(card, "县第64号部门", edit=True)
        assert "牵头部门：县第64号部门" in current(api, card).text


async def test_no_telegram_call_inside_the_newtask_transaction(
    api: FakeBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with running_bot(task_settings(api, tmp_path / "b.sqlite3")) as app:
        seen: list[bool] = []
        real = propose_flow.reply

        async def watched(update: Any, context: Any, template: str, /, **ctx: Any) -> Any:
            seen.append(db_of(app).conn.in_transaction)
            return await real(update, context, template, **ctx)

        monkeypatch.setattr(propose_flow, "reply", watched)
        [answer] = await Person(api, ADMIN_ID).say("/newtask")  # no departments yet
        assert "还没有部门名录" in answer.text and seen == [False]
