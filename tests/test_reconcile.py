"""Reminders reconciled from their sources, end to end: each change to a source (a /holiday day
added or removed, a report submitted, a training moved or cancelled) changes, in its own
transaction, what /reminders lists, and what is sent when the clock moves is exactly that.
Texts are composed when sent: the working days left on the day, the time left before a
session whose reminder quiet hours moved. Plus late reports for any missed quarter, the
digest keeping a reminder's list, and the administrator's own list after ⏸/▶️.

The rig of tests/test_reminders.py: the real Application, the outbox, the fake Bot API; time
moved with bot.clock and `reminders.run_due(app)` called by the test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, FAST_CLOCK, db_of, open_chat, running_bot, until
from tests.test_reminders import (
    MZ,
    SC,
    WJ,
    add_task,
    bj,
    data_of,
    press,
    run,
    say,
    seed,
    set_now,
    settings,
    settle,
    texts,
)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    set_now(bj(12, 10, 8))  # Thursday 10 December 2026, 08:00 Beijing
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)
    await fake.start()
    open_chat(fake, ADMIN_ID, "县局管理员")
    for uid, name in ((MZ, "民政联络员"), (SC, "市场联络员"), (WJ, "卫健联络员")):
        open_chat(fake, uid, name)
    try:
        yield fake
    finally:
        await fake.stop()


async def listed(api: FakeBotApi, uid: int, kind: str) -> list[str]:
    """The lines of this person's /reminders that name `kind`, as "MM-DD HH:MM" strings."""
    text = await reminders_of(api, uid)
    found = []
    for line in text.split("全部提醒系列")[0].splitlines():
        if kind in line:
            found.append(line.removeprefix("• ").split(" " + kind)[0][5:])
    return found


def told(api: FakeBotApi, uid: int, needle: str) -> list[str]:
    """Messages sent to this person containing `needle`, other than /reminders listings."""
    return [t for t in texts(api, uid, needle) if "我的待发提醒" not in t]


async def reminders_of(api: FakeBotApi, uid: int) -> str:
    """This person's /reminders reply (other messages may arrive meanwhile)."""
    seen = len(texts(api, uid, "我的待发提醒"))
    api.send_text(uid, "/reminders")
    found = await until(lambda: texts(api, uid, "我的待发提醒")[seen:])
    return str(found[0])


async def pending_keys(app: Any, series: str) -> list[str]:
    rows = await db_of(app).fetchall(
        "SELECT dedup_key FROM reminders WHERE series = ? AND status = 'pending' ORDER BY id",
        (series,),
    )
    return [r[0] for r in rows]


RESULT_BEFORE, RESULT_OVERDUE = "结果录入期限提醒", "结果录入逾期提醒"


async def run_2027(app: Any, *moments: tuple[int, int, int]) -> None:
    for month, day, hour in moments:
        await run(app, bj(month, day, hour, year=2027))


# -- the calendar ----------------------------------------------------------------------------------


async def test_a_holiday_added_moves_the_result_deadline_and_every_reminder_with_it(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        await add_task(app)  # window ends Friday 25 December 2026: results due 2027-01-22
        await run(app, bj(12, 10, 8))
        assert await listed(api, MZ, RESULT_BEFORE) == ["01-15 09:00", "01-20 09:00", "01-21 09:00"]
        assert await listed(api, MZ, RESULT_OVERDUE) == ["01-25 09:00"]
        await say(api, ADMIN_ID, "/holiday add 2027-01-01")
        # the deadline is now Monday 25 January: the old slots are gone, none doubled
        assert await listed(api, MZ, RESULT_BEFORE) == ["01-18 09:00", "01-21 09:00", "01-22 09:00"]
        assert await listed(api, MZ, RESULT_OVERDUE) == ["01-26 09:00"]
        assert await listed(api, ADMIN_ID, RESULT_OVERDUE) == ["01-26 09:00"]
        assert all("2027-01-25" in k for k in await pending_keys(app, "result:1"))
        await settle(api, app)
        sent_before = len(told(api, MZ, "结果录入"))
        await run_2027(app, (1, 15, 9), (1, 18, 9), (1, 21, 9), (1, 22, 9), (1, 25, 9))
        await settle(api, app)
        got = told(api, MZ, "结果录入")[sent_before:]
        assert len(got) == 3 and all("2027-01-25 前" in t for t in got)
        assert ["还有 5 个工作日" in got[0], "还有 2 个工作日" in got[1]] == [True, True]
        assert "还有 1 个工作日" in got[2]
        # the real deadline day: nobody is told it is overdue
        assert told(api, MZ, "结果录入已逾期") == [] and told(api, ADMIN_ID, "结果录入已逾期") == []
        await run_2027(app, (1, 26, 9), (1, 27, 9))
        await settle(api, app)
        for uid in (MZ, SC, ADMIN_ID):
            [overdue] = told(api, uid, "结果录入已逾期")
            assert "公示期限 2027-01-25" in overdue
        assert all("2027-01-22" not in t for t in told(api, MZ, "结果录入"))


async def test_a_holiday_removed_brings_the_old_deadline_back_once(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        await add_task(app)
        await run(app, bj(12, 10, 8))
        original = await listed(api, SC, RESULT_BEFORE)
        await say(api, ADMIN_ID, "/holiday add 2027-01-01")
        assert await listed(api, SC, RESULT_BEFORE) != original
        removed = await say(api, ADMIN_ID, "/holiday remove 2027-01-01")
        assert "已删除 2027-01-01" in removed
        assert await listed(api, SC, RESULT_BEFORE) == original
        assert await listed(api, SC, RESULT_OVERDUE) == ["01-25 09:00"]
        row = await db_of(app).fetchone(
            "SELECT COUNT(*) FROM reminders WHERE series = 'result:1' AND status = 'pending'"
        )
        assert row is not None and row[0] == 2 * 3 + 3  # 2 liaisons × 3 slots, 3 told overdue
        await run_2027(app, (1, 15, 9), (1, 15, 9), (1, 20, 9), (1, 21, 9), (1, 22, 9), (1, 25, 9))
        await settle(api, app)
        got = told(api, SC, "结果录入")
        assert len(got) == 4 and all("2027-01-22" in t for t in got)
        assert "还有 5 个工作日" in got[0] and "结果录入已逾期" in got[3]


async def test_a_digest_on_the_deadline_day_says_what_is_true_that_day(
    api: FakeBotApi, tmp_path: Path
) -> None:
    config = settings(api, tmp_path)
    async with running_bot(config) as app:
        await seed(app)
        await add_task(app)
        await run(app, bj(12, 10, 8))
    # down until the deadline day, Friday 22 January 2027, 10:00
    set_now(bj(1, 22, 10, year=2027))
    async with running_bot(config) as app:
        await until_digest(api, MZ)
        await run(app, bj(1, 22, 10, 1, year=2027))
        await settle(api, app)
        [digest] = told(api, MZ, "停机期间错过")
        lines = [line for line in digest.splitlines() if "结果录入期限提醒" in line]
        assert len(lines) == 3 and all("今天截止" in line for line in lines)
        assert "还有 5 个工作日" not in digest and "个工作日。" not in digest


async def until_digest(api: FakeBotApi, uid: int) -> None:
    await until(lambda: told(api, uid, "停机期间错过"))


# -- reports ---------------------------------------------------------------------------------------


async def test_a_report_submitted_leaves_nothing_listed_or_sent_for_it(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ", "WJW"))
        await run(app, bj(12, 10, 8))
        assert await listed(api, WJ, "季度报告截止提醒") == [
            "12-17 09:00",
            "12-21 09:00",
            "12-23 09:00",
        ]
        assert await listed(api, WJ, "季度报告逾期提醒") == [
            "12-25 09:00",
            "12-28 09:00",
            "12-29 09:00",
        ]
        assert await listed(api, ADMIN_ID, "季度报告逾期汇总") == ["12-25 09:00"]
        await say(api, WJ, "/report")
        await press(api, WJ, api.chat_messages(WJ)[-1], "rp:other:", new=1)
        mine = await reminders_of(api, WJ)
        assert "目前没有安排给您的提醒" in mine
        assert await listed(api, ADMIN_ID, "季度报告逾期汇总") == ["12-25 09:00"]  # 民政 owes it
        await say(api, MZ, "/report")
        await press(api, MZ, api.chat_messages(MZ)[-1], "rp:up:", new=1)
        before = api.sent_total(MZ)
        api.send_document(MZ, "四季度进展.pdf", b"%PDF-1.4 report")
        await api.wait_for_messages(MZ, before + 1)
        assert await listed(api, MZ, "季度报告") == []
        assert await listed(api, ADMIN_ID, "季度报告逾期汇总") == []  # everyone has submitted
        assert await pending_keys(app, "report:2026Q4") == []
        for moment in (bj(12, 17, 9), bj(12, 21, 9), bj(12, 23, 9), bj(12, 25, 9), bj(12, 28, 9)):
            await run(app, moment)
        await settle(api, app)
        for uid in (MZ, WJ, ADMIN_ID):
            for needle in ("季度工作进展报告提醒", "季度工作进展报告已逾期", "逾期未报"):
                assert told(api, uid, needle) == []


async def test_a_late_report_can_be_filed_for_any_missed_quarter(
    api: FakeBotApi, tmp_path: Path
) -> None:
    set_now(bj(3, 10, 8))
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ",))
        await run(app, bj(3, 10, 8))
        # Q1 (24 March) and Q2 (24 June) missed; it is August, well past their overdue days
        await run(app, bj(8, 3, 10))
        set_now(bj(8, 3, 10))
        card_text = await say(api, MZ, "/report")
        card = api.chat_messages(MZ)[-1]
        assert "2026年第一季度（已逾期）" in card_text and "2026年第二季度（已逾期）" in card_text
        assert "2026年第三季度，截止 2026-09-24）：未报送" in card_text
        assert data_of(card, "rp:up:") == "rp:up:MZJ:2026Q1"  # the oldest first
        assert data_of(card, "rp:other:MZJ:2026Q2") == "rp:other:MZJ:2026Q2"
        await press(api, MZ, card, "rp:other:MZJ:2026Q2", new=1)
        assert "2026年第二季度" in api.chat_messages(MZ)[-1].text
        rows = await db_of(app).fetchall("SELECT period FROM quarterly_reports")
        assert [r[0] for r in rows] == ["2026Q2"]
        again = await say(api, MZ, "/report")
        assert "第一季度（已逾期）" in again and "第二季度" not in again
        await press(api, MZ, api.chat_messages(MZ)[-1], "rp:other:MZJ:2026Q1", new=1)
        only_current = await say(api, MZ, "/report")
        assert "2026年第三季度工作进展报告" in only_current and "已逾期" not in only_current


async def test_a_missed_escalation_keeps_its_list_in_the_digest(
    api: FakeBotApi, tmp_path: Path
) -> None:
    config = settings(api, tmp_path)
    async with running_bot(config) as app:
        await seed(app)
        await run(app, bj(12, 10, 8))
    set_now(bj(12, 26, 10))  # down over the escalation of Friday 25 December 09:00
    async with running_bot(config) as app:
        await until_digest(api, ADMIN_ID)
        [digest] = told(api, ADMIN_ID, "停机期间错过")
        assert "共 3 个部门尚未报送" in digest
        for name in ("• 县民政局", "• 县市场监管局", "• 县卫健委"):
            assert name in digest


# -- training -----------------------------------------------------------------------------------


async def set_training(api: FakeBotApi, task: int, when: str) -> None:
    await say(api, MZ, f"/training {task}")
    await say(api, MZ, when)
    await say(api, MZ, "县局三楼会议室")
    assert "培训已安排" in await say(api, MZ, "无")


async def test_a_training_moved_then_cancelled_lists_and_sends_only_its_current_plan(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        task = await add_task(app)
        await set_training(api, task, "2026-12-14 10:00")
        assert await listed(api, SC, "查前培训提醒") == [
            "12-11 10:00",
            "12-13 10:00",
            "12-14 08:00",
        ]
        assert await listed(api, MZ, "查前培训出席汇总") == ["12-13 10:00"]
        # moved to Wednesday 16 December 15:00
        await say(api, MZ, f"/training {task}")
        await press(api, MZ, api.chat_messages(MZ)[-1], "tr:1:move", new=1)
        assert "培训已改到" in await say(api, MZ, "2026-12-16 15:00")
        assert await listed(api, SC, "查前培训提醒") == [
            "12-13 15:00",
            "12-15 15:00",
            "12-16 13:00",
        ]
        assert await listed(api, MZ, "查前培训出席汇总") == ["12-15 15:00"]
        await run(app, bj(12, 11, 10))  # the old 3-day slot: nothing
        await run(app, bj(12, 13, 10))  # the old 1-day slot: nothing
        await run(app, bj(12, 13, 15))  # the new 3-day slot
        await settle(api, app)
        [got] = told(api, SC, "查前培训提醒")
        assert "还有约 3 天" in got and "2026-12-16 15:00" in got
        assert await listed(api, SC, "查前培训提醒") == ["12-15 15:00", "12-16 13:00"]
        # cancelled: nothing listed, nothing more sent
        await say(api, MZ, f"/training {task}")
        await press(api, MZ, api.chat_messages(MZ)[-1], "tr:1:cancel", new=1)
        assert await listed(api, SC, "查前培训") == []
        assert await listed(api, MZ, "查前培训") == []
        summaries = len(told(api, MZ, "出席情况"))  # the /training cards so far
        for moment in (bj(12, 15, 15), bj(12, 16, 13), bj(12, 16, 14)):
            await run(app, moment)
        await settle(api, app)
        assert len(told(api, SC, "查前培训提醒")) == 1
        assert len(told(api, MZ, "出席情况")) == summaries  # no attendance summary either


async def test_a_reminder_moved_by_quiet_hours_says_the_time_really_left(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        task = await add_task(app)
        await set_training(api, task, "2026-12-14 09:00")
        # 2 hours before is 07:00, in quiet hours: it goes at 08:00
        assert await listed(api, SC, "查前培训提醒") == [
            "12-11 09:00",
            "12-13 09:00",
            "12-14 08:00",
        ]
        await run(app, bj(12, 11, 9))
        await run(app, bj(12, 13, 9))
        await run(app, bj(12, 14, 8))
        await settle(api, app)
        got = told(api, SC, "查前培训提醒")
        assert len(got) == 3 and "还有约 3 天" in got[0] and "还有约 1 天" in got[1]
        assert "还有约 1 小时" in got[2] and "2 小时" not in got[2]


# -- /reminders after ⏸/▶️ ------------------------------------------------------------------------


async def test_pause_and_resume_keep_the_administrators_own_list(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ",))
        await run(app, bj(12, 10, 8))
        board = await reminders_of(api, ADMIN_ID)
        assert "2026-12-25 09:00 季度报告逾期汇总" in board
        message = api.chat_messages(ADMIN_ID)[-1]
        for action, mark in (("pause", "季度报告逾期汇总（已暂停）"), ("resume", "")):
            answers = len(api.callback_answers)
            api.press_button(ADMIN_ID, ADMIN_ID, message.message_id, f"rm:{action}:report:2026Q4")
            await api.wait_for(lambda n=answers: len(api.callback_answers) > n)
            await api.wait_for(
                lambda a=action: (
                    ("▶️" in str(api.chat_messages(ADMIN_ID)[-1].reply_markup)) == (a == "pause")
                )
            )
            shown = api.chat_messages(ADMIN_ID)[-1].text
            assert "目前没有安排给您的提醒" not in shown
            assert "2026-12-25 09:00 季度报告逾期汇总" in shown
            assert (mark in shown) if mark else ("已暂停" not in shown)
