"""Closed means closed (issue 12 §5), end to end over HTTP against the fake Bot API: after an
extension and a confirmation every message people look at (the group card, /task, each private
invitation, reminder and escalation) is rebuilt from the task's current state, keeps what it
was, and is marked ended without buttons; declined and silent departments are told."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from bot import reminders as engine
from bot.domain import tasks as rules
from bot.domain.tasks import Answer, AnswerStatus, MessageKind, MessageStatus, TaskState
from tests import test_tasks as base
from tests.fakeapi import FakeBotApi, SentMessage
from tests.outbox_support import ADMIN_ID, until
from tests.test_tasks import (
    JYJ,
    LEAD,
    SCJG,
    WJW,
    Person,
    beijing,
    county,
    current,
    group_card,
    private_invitation,
    propose,
    set_now,
    settle,
    wait_edit,
)

# The rig of tests/test_tasks.py: the fake Bot API with Telegram's limits, a fixed clock.
api = base.api
fixed_clock = base.fixed_clock

PARTNERS = ("县市场监管局", "县卫健委", "县教育局")


def titles(api: FakeBotApi, uid: int, marker: str) -> list[SentMessage]:
    return [m for m in api.chat_messages(uid) if marker in m.text]


async def answered_task(api: FakeBotApi, app: Any) -> SentMessage:
    """Task #1 inviting three partners: 卫健委 joins, 教育局 declines, 市场监管局 stays silent."""
    summary = await propose(api, partners=PARTNERS)
    await Person(api, LEAD).press(summary, "确认发出", edit=True)
    card = await group_card(api)
    wjw, jyj = Person(api, WJW), Person(api, JYJ)
    await wjw.press(await private_invitation(api, WJW), "参加", new=1)
    await wjw.press(wjw.last(), "下一步", edit=True)
    await wjw.press(wjw.last(), "1", edit=True)
    await jyj.press(await private_invitation(api, JYJ), "不参加", new=1)
    await jyj.say("辖区内无民办养老机构")
    await settle(app)
    return card


async def escalate(app: Any, api: FakeBotApi, at: datetime, count: int) -> SentMessage:
    set_now(at)
    await engine.run_due(app)
    await settle(app)
    found = await until(
        lambda: (lambda m: m if len(m) >= count else None)(titles(api, LEAD, "答复截止时间已过"))
    )
    message: SentMessage = found[count - 1]
    return message


async def test_extension_and_confirmation_rewrite_every_message_from_the_current_state(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        card = await answered_task(api, app)
        set_now(beijing(1, 9, 0))  # Tuesday: a reminder for the silent department
        await engine.run_due(app)
        await settle(app)
        first = await escalate(app, api, beijing(2, 18, 0), 1)
        assert "邀请中" in first.text and "延长 1 个工作日" in first.button_texts
        admin_first = titles(api, ADMIN_ID, "答复截止时间已过")[0]

        # 延长: the escalation shows the new deadline, says it was extended, loses its buttons
        lead = Person(api, LEAD)
        await lead.press(first, "延长 1 个工作日", new=1)
        text = await wait_edit(api, first, lambda t: "已延长至" in t)
        assert "原答复截止时间 2026-12-02（周三）18:00 已延长至 2026-12-03（周四）18:00" in text
        assert "答复截止：2026-12-03（周四）18:00" in text and "牵头部门可以延长" not in text
        assert "尚未答复：县市场监管局" in text
        assert current(api, first).buttons == []
        await wait_edit(api, admin_first, lambda t: "已延长至" in t)
        assert current(api, admin_first).buttons == []
        # the silent department's invitation and reminder show the new deadline, buttons kept
        invitation = titles(api, SCJG, "联合检查邀请：请县市场监管局答复")[0]
        text = await wait_edit(api, invitation, lambda t: "2026-12-03（周四）18:00" in t)
        assert "参加" in current(api, invitation).button_texts

        set_now(beijing(3, 9, 0))  # Thursday: a reminder for the new deadline
        await engine.run_due(app)
        second = await escalate(app, api, beijing(3, 18, 5), 2)
        assert "答复截止：2026-12-03（周四）18:00" in second.text

        # 按现有答复确认
        await lead.press(second, "按现有答复确认", new=1)
        text = await wait_edit(api, card, lambda t: "已确认" in t)
        assert "➖ 县市场监管局：未答复（按不参加处理）" in text and "待回复" not in text
        assert "❌ 县教育局：不参加（辖区内无民办养老机构）" in text
        assert "✅ 县卫健委：参加" in text and current(api, card).buttons == []
        await settle(app)  # the confirmation notices are out before /task is asked
        [detail] = await lead.say("/task 1")
        assert "➖ 县市场监管局：未答复（按不参加处理）" in detail.text
        assert "待回复" not in detail.text and "已确认" in detail.text

        # every escalation: ended, no buttons, no longer "邀请中"
        await settle(app)
        for message in (first, second, *titles(api, ADMIN_ID, "答复截止时间已过")):
            text = await wait_edit(api, message, lambda t: "🔒 已结束" in t)
            assert "任务已确认（联合检查）" in text and "邀请中" not in text
            assert "未答复、按不参加处理：县市场监管局" in text
            assert current(api, message).buttons == []

        # the silent department's chat: each message keeps what it was, marked ended
        chat = [m for m in api.chat_messages(SCJG) if "联合检查 #1" in m.text or "#1" in m.text]
        kinds = {
            "📨 联合检查邀请：请县市场监管局答复": 1,
            "⏰ 提醒：县市场监管局还没有答复联合检查邀请": 2,
            "⏰ 答复截止时间已延长": 1,
        }
        for title, count in kinds.items():
            found = [m for m in api.chat_messages(SCJG) if m.text.startswith(title)]
            assert len(found) == count, (title, [m.text[:30] for m in chat])
            for message in found:
                text = await wait_edit(api, message, lambda t: "🔒 已结束" in t)
                assert "县市场监管局没有答复，按不参加处理" in text
                assert "· 已确认" in text and current(api, message).buttons == []
        assert not [m for m in api.chat_messages(SCJG) if "（已结束）" in m.text]

        # told: confirmed without them (silent and declined), and the joined one as before
        silent = await until(lambda: titles(api, SCJG, "不在参加部门之列"))
        assert "县市场监管局在答复截止前没有答复，按不参加处理" in silent[0].text
        assert "参加部门：县民政局（牵头）、县卫健委" in silent[0].text
        declined = await until(lambda: titles(api, JYJ, "不在参加部门之列"))
        assert "县教育局已答复不参加（辖区内无民办养老机构）" in declined[0].text
        await until(lambda: titles(api, WJW, "联合检查 #1 已确认"))
        await settle(app)
        assert len(titles(api, SCJG, "不在参加部门之列")) == 1
        assert titles(api, WJW, "不在参加部门之列") == []


async def test_cancelling_marks_each_message_ended_as_what_it_was(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        card = await answered_task(api, app)
        set_now(beijing(1, 9, 0))
        await engine.run_due(app)
        await settle(app)
        lead = Person(api, LEAD)
        [detail] = await lead.say("/task 1")
        await lead.press(detail, "取消任务", new=1)
        [confirm] = await lead.say("上级部署调整")
        await lead.press(confirm, "确认取消", edit=True)
        text = await wait_edit(api, card, lambda t: "已取消" in t)
        assert "➖ 县市场监管局：未答复" in text and "按不参加处理" not in text
        await settle(app)
        invitation = titles(api, SCJG, "联合检查邀请：请县市场监管局答复")[0]
        reminder = titles(api, SCJG, "提醒：县市场监管局还没有答复")[0]
        for message in (invitation, reminder):
            text = await wait_edit(api, message, lambda t: "🔒 已结束" in t)
            assert "任务已取消（上级部署调整）" in text and "县市场监管局没有答复" in text
            assert current(api, message).buttons == []
        assert current(api, invitation).text != current(api, reminder).text
        joined = titles(api, WJW, "联合检查邀请：请县卫健委答复")[0]
        text = await wait_edit(api, joined, lambda t: "🔒 已结束" in t)
        assert "县卫健委的答复：参加" in text


# -- the rules ------------------------------------------------------------------------------------


def test_answer_status_follows_the_task_state() -> None:
    assert rules.answer_status(TaskState.INVITING, Answer.PENDING) is AnswerStatus.PENDING
    for state in (TaskState.CONFIRMED, TaskState.DRAWN, TaskState.DONE):
        assert rules.answer_status(state, Answer.PENDING) is AnswerStatus.SILENT
    assert rules.answer_status(TaskState.CANCELLED, Answer.PENDING) is AnswerStatus.UNANSWERED
    assert rules.answer_status(TaskState.CONFIRMED, Answer.DECLINED) is AnswerStatus.DECLINED
    assert rules.answer_status(TaskState.INVITING, Answer.JOINED) is AnswerStatus.JOINED


def test_message_status_is_recomputed_from_state_and_deadline() -> None:
    old, new = beijing(2, 18), beijing(3, 18)
    esc, rem = MessageKind.ESCALATION, MessageKind.REMINDER
    assert rules.message_status(TaskState.INVITING, esc, old, old) is MessageStatus.LIVE
    assert rules.message_status(TaskState.INVITING, esc, old, new) is MessageStatus.SUPERSEDED
    assert rules.message_status(TaskState.INVITING, esc, None, new) is MessageStatus.LIVE
    assert rules.message_status(TaskState.INVITING, rem, None, new) is MessageStatus.LIVE
    assert rules.message_status(TaskState.CONFIRMED, esc, old, old) is MessageStatus.ENDED
    assert rules.message_status(TaskState.CANCELLED, rem, None, new) is MessageStatus.ENDED
