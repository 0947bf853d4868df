"""Reminders reconciled when a task changes, end to end: confirmed (its result deadline is
planned at once, not at the next scan), cancelled (everything about it goes), extended (its
training reminders kept as they were, none doubled). Each checks what /reminders lists and
what is sent when the clock moves.

The rig of tests/test_tasks.py: /newtask through the real Application and the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import clock, reminders
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, FAST_CLOCK, db_of, open_chat, until
from tests.test_tasks import (
    GROUP,
    JYJ,
    LEAD,
    MONDAY_10,
    SCJG,
    STRANGER,
    WJW,
    Person,
    confirmed_proposal,
    county,
    current,
    settle,
)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)
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


def at(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


async def engine_at(app: Any, moment: datetime) -> None:
    clock.set_source(lambda: moment)
    await reminders.run_due(app)
    await reminders.run_due(app)  # twice: nothing doubled
    await settle(app)


def told(api: FakeBotApi, uid: int, needle: str) -> list[str]:
    return [
        m.text
        for m in api.chat_messages(uid)
        if needle in m.text and "我的待发提醒" not in m.text and "停机期间错过" not in m.text
    ]


async def listed(api: FakeBotApi, uid: int, kind: str) -> list[str]:
    """This person's /reminders lines naming `kind`, as "MM-DD HH:MM"."""
    seen = len([m for m in api.chat_messages(uid) if "我的待发提醒" in m.text])
    api.send_text(uid, "/reminders")
    found = await until(
        lambda: [m for m in api.chat_messages(uid) if "我的待发提醒" in m.text][seen:]
    )
    text = found[0].text.split("全部提醒系列")[0]
    return [
        line.removeprefix("• ").split(" " + kind)[0][5:]
        for line in text.splitlines()
        if kind in line
    ]


RESULT_BEFORE, RESULT_OVERDUE = "结果录入期限提醒", "结果录入逾期提醒"
# window 7–18 December 2026: results due 20 working days later, Friday 15 January 2027
PLANNED_BEFORE = ["01-08 09:00", "01-13 09:00", "01-14 09:00"]


async def confirm_now(api: FakeBotApi) -> None:
    lead = Person(api, LEAD)
    [detail] = await lead.say("/task 1")
    await lead.press(detail, "结束邀请并确认", new=1)
    await until(lambda: [m for m in api.chat_messages(LEAD) if "已确认" in m.text])


async def test_a_task_confirmed_has_its_result_deadline_planned_in_that_transaction(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        assert await listed(api, LEAD, "结果录入") == []  # inviting: no results due yet
        await confirm_now(api)
        # no scan has run: the confirmation itself planned them
        assert await listed(api, LEAD, RESULT_BEFORE) == PLANNED_BEFORE
        assert await listed(api, LEAD, RESULT_OVERDUE) == ["01-18 09:00"]
        assert await listed(api, ADMIN_ID, RESULT_OVERDUE) == ["01-18 09:00"]
        assert await listed(api, SCJG, "结果录入") == []  # did not join
        await engine_at(app, at(1, 8, 9, year=2027))
        [first] = told(api, LEAD, RESULT_BEFORE)
        assert "2027-01-15 前" in first and "还有 5 个工作日" in first
        for day in (13, 14, 15, 18, 19):
            await engine_at(app, at(1, day, 9, year=2027))
        assert len(told(api, LEAD, RESULT_BEFORE)) == 3
        for uid in (LEAD, ADMIN_ID):
            assert len(told(api, uid, "结果录入已逾期")) == 1
        assert told(api, SCJG, "结果录入") == []


async def test_a_task_cancelled_takes_every_reminder_about_it(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        await confirm_now(api)
        assert await listed(api, LEAD, RESULT_BEFORE) == PLANNED_BEFORE
        lead = Person(api, LEAD)
        [detail] = await lead.say("/task 1")
        await lead.press(detail, "取消任务", new=1)
        [confirm] = await lead.say("上级部署调整")
        await lead.press(confirm, "确认取消", edit=True)
        assert "已取消" in current(api, confirm).text
        assert await listed(api, LEAD, "结果录入") == []
        assert await listed(api, ADMIN_ID, "结果录入") == []
        rows = await db_of(app).fetchall(
            "SELECT status, COUNT(*) FROM reminders WHERE series = 'result:1' GROUP BY status"
        )
        assert [tuple(r) for r in rows] == [("cancelled", 3 + 2)]  # 3 before, 2 overdue
        for day in (8, 13, 14, 18):
            await engine_at(app, at(1, day, 9, year=2027))
        for uid in (LEAD, ADMIN_ID):
            assert told(api, uid, "结果录入期限提醒") == []
            assert told(api, uid, "结果录入已逾期") == []


async def test_a_task_extended_keeps_its_training_reminders_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        lead = Person(api, LEAD)
        await lead.say("/training 1")
        await lead.say("2026-12-04 10:00")
        await lead.say("县局三楼会议室")
        [done] = await lead.say("无")
        assert "培训已安排" in done.text
        planned = ["12-01 10:00", "12-03 10:00", "12-04 08:00"]
        assert await listed(api, LEAD, "查前培训提醒") == planned
        await engine_at(app, at(12, 1, 10))  # the 3-day reminder
        assert len(told(api, LEAD, "查前培训提醒")) == 1
        # the reply deadline (Wednesday 18:00) passes: the lead extends it by a working day
        clock.set_source(lambda: at(12, 2, 18))
        await reminders.run_due(app)
        escalation = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "答复截止时间已过" in m.text]
        )
        assert "已延长" in await lead.press(escalation[-1], "延长 1 个工作日", new=1)
        assert await listed(api, LEAD, "查前培训提醒") == planned[1:]  # kept, none doubled
        assert await listed(api, LEAD, "结果录入") == []  # still inviting
        row = await db_of(app).fetchone(
            "SELECT COUNT(*) FROM reminders WHERE series = 'training:1'"
            " AND status IN ('pending', 'fired')"
        )
        assert row is not None and row[0] == 4  # 3 reminders and the lead's summary
        for moment in (at(12, 3, 10), at(12, 3, 10, 5), at(12, 4, 8)):
            await engine_at(app, moment)
        got = told(api, LEAD, "查前培训提醒")
        assert len(got) == 3 and "还有约 2 小时" in got[-1]
