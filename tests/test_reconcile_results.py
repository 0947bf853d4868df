"""Reminders reconciled when results change, end to end: a follow-up (责令限期整改) set is
planned at once and closed is gone at once; a task whose results are all published has no
result-deadline reminders left. Each checks /reminders and what is sent when the clock moves.

The rig of tests/test_results.py: a drawn joint task, the real Application, the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from tests.fakeapi import FakeBotApi, Limits
from tests.outbox_support import ADMIN_ID, db_of, open_chat, until
from tests.test_results import (
    GROUP,
    INS1,
    INS2,
    INS3,
    LEAD,
    MONDAY_10,
    STRANGER,
    WJW_L,
    beijing,
    drawn,
    press,
    run_reminders,
    say,
    task_state,
)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=Limits(private_burst=100, private_per_second=100.0))
    await fake.start()
    for uid, name in (
        (ADMIN_ID, "县局管理员"),
        (LEAD, "民政联络员"),
        (WJW_L, "卫健联络员"),
        (INS1, "民政甲"),
        (INS2, "民政乙"),
        (INS3, "卫健甲"),
        (STRANGER, "路人"),
    ):
        open_chat(fake, uid, name)
    fake.add_group(GROUP, "县联合抽查协调群", creator_id=ADMIN_ID)
    try:
        yield fake
    finally:
        await fake.stop()


def told(api: FakeBotApi, uid: int, needle: str) -> list[str]:
    return [
        m.text
        for m in api.chat_messages(uid)
        if needle in m.text and "我的待发提醒" not in m.text and "停机期间错过" not in m.text
    ]


async def listed(api: FakeBotApi, uid: int, kind: str) -> list[str]:
    """This person's /reminders lines naming `kind`, as "MM-DD HH:MM"."""
    [text] = [m.text for m in await say(api, uid, "/reminders") if "我的待发提醒" in m.text]
    return [
        line.removeprefix("• ").split(" " + kind)[0][5:]
        for line in text.split("全部提醒系列")[0].splitlines()
        if kind in line
    ]


async def test_a_followup_set_is_listed_at_once_and_closed_is_gone_at_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with drawn(api, tmp_path) as app:
        await say(api, INS3, "/r 1 1 6 远程 消毒记录缺失")
        await say(api, INS3, "/followup 1 1 整改 2026-12-16 补齐消毒记录")
        # no scan: setting it planned them (3 and 1 working days before; the day after)
        for uid in (WJW_L, INS3):
            assert await listed(api, uid, "整改期限提醒") == ["12-11 09:00", "12-15 09:00"]
            assert await listed(api, uid, "整改逾期提醒") == ["12-17 09:00"]
        assert await listed(api, ADMIN_ID, "整改逾期提醒") == ["12-17 09:00"]
        await run_reminders(api, app, beijing(12, 11, 9))
        [first] = told(api, WJW_L, "整改期限提醒")
        assert "还有 3 个工作日" in first
        [closed] = await say(api, INS3, "/followup 1 1 完结 已整改")
        assert "已完结" in closed.text
        for uid in (WJW_L, INS3, ADMIN_ID):
            assert await listed(api, uid, "整改") == []
        rows = await db_of(app).fetchall(
            "SELECT status, COUNT(*) FROM reminders WHERE series = 'followup:1' GROUP BY status"
        )
        assert sorted(tuple(r) for r in rows) == [("cancelled", 2 + 3), ("fired", 2)]
        for moment in (beijing(12, 15, 9), beijing(12, 17, 9), beijing(12, 18, 9)):
            await run_reminders(api, app, moment)
        assert len(told(api, WJW_L, "整改期限提醒")) == 1
        for uid in (WJW_L, INS3, ADMIN_ID):
            assert told(api, uid, "整改已逾期") == []


async def test_results_all_published_leave_no_result_deadline_reminders(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with drawn(api, tmp_path) as app:
        await run_reminders(api, app, beijing(11, 30, 11))  # the scan plans the deadline
        assert await listed(api, LEAD, "结果录入期限提醒") == [
            "01-08 09:00",
            "01-13 09:00",
            "01-14 09:00",
        ]
        for uid in (LEAD, WJW_L):
            await say(api, uid, "/r 1 1 1 书面")
            await say(api, uid, "/r 1 2 1 书面")
        for uid in (WJW_L, LEAD):
            [review] = await say(api, uid, "/review 1")
            before = api.sent_total(uid)
            await press(api, uid, review, "全部通过")
            await api.wait_for_messages(uid, before + 1)
        await until(lambda: [m for m in api.chat_messages(GROUP) if "已完成" in m.text])
        assert await task_state(app) == "done"
        for uid in (LEAD, WJW_L, ADMIN_ID):
            assert await listed(api, uid, "结果录入") == []
        row = await db_of(app).fetchone(
            "SELECT COUNT(*) FROM reminders WHERE series = 'result:1' AND status = 'pending'"
        )
        assert row is not None and row[0] == 0
        for day in (8, 13, 14, 18):
            await run_reminders(api, app, beijing(1, day, 9).replace(year=2027))
        for uid in (LEAD, WJW_L, ADMIN_ID):
            assert told(api, uid, "结果录入期限提醒") == []
            assert told(api, uid, "结果录入已逾期") == []
