"""The durable reminder engine end to end: quarterly reports (reminders at the right Beijing
time, /report by upload and by confirmation, the /reports board, escalation), restarts (none
lost, none doubled, long-overdue ones digested), quiet hours, training set/moved/cancelled,
/holiday and a 2027 deadline, /reminders with pause and resume, result deadlines.

Time is moved with bot.clock and `reminders.run_due(app)` is called by the test; the periodic
scans are pushed out to an hour. The real Application, the outbox and the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import clock, reminders
from bot.config import InvitationTunables, ReminderTunables, Settings
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
    settings_for,
    until,
)

MZ, SC, WJ = 4001, 4002, 4003


def bj(month: int, day: int, hour: int, minute: int = 0, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC) - timedelta(hours=8)


def set_now(moment: datetime) -> None:
    clock.set_source(lambda: moment)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    set_now(bj(12, 10, 8))  # Thursday 10 December 2026, 08:00 Beijing
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)  # Telegram's limits, on a fast clock
    await fake.start()
    open_chat(fake, ADMIN_ID, "县局管理员")
    for uid, name in ((MZ, "民政联络员"), (SC, "市场联络员"), (WJ, "卫健联络员")):
        open_chat(fake, uid, name)
    try:
        yield fake
    finally:
        await fake.stop()


def settings(api: FakeBotApi, path: Path) -> Settings:
    # The bot's own pace loosened (the fake keeps Telegram's limits); scans left to the test.
    base = settings_for(api, path / "bot.sqlite3")
    return replace(
        base,
        tunables=replace(
            base.tunables,
            invitations=InvitationTunables(scan_seconds=3600),
            reminders=ReminderTunables(scan_seconds=3600),
        ),
    )


async def seed(app: Any, departments: tuple[str, ...] = ("MZJ", "SCJG", "WJW")) -> None:
    db = db_of(app)
    people = {"MZJ": (MZ, "县民政局"), "SCJG": (SC, "县市场监管局"), "WJW": (WJ, "县卫健委")}
    for code in departments:
        uid, name = people[code]
        await add_department(db, code, name)
        await add_person(db, uid, f"{name}联络员", liaison_of=code)


async def run(app: Any, moment: datetime) -> None:
    set_now(moment)
    await reminders.run_due(app)


async def settle(api: FakeBotApi, app: Any) -> None:
    """Wait until the outbox has delivered everything queued."""

    async def empty() -> bool:
        row = await db_of(app).fetchone(
            "SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'sending')"
        )
        return row is not None and row[0] == 0

    await until(empty)


def texts(api: FakeBotApi, uid: int, needle: str = "") -> list[str]:
    return [m.text for m in api.chat_messages(uid) if needle in m.text]


def data_of(message: SentMessage, prefix: str) -> str:
    assert message.reply_markup is not None
    for row in message.reply_markup["inline_keyboard"]:
        for b in row:
            if b.get("callback_data", "").startswith(prefix):
                return str(b["callback_data"])
    raise AssertionError(f"no button {prefix} in {message.reply_markup}")


async def press(api: FakeBotApi, uid: int, message: SentMessage, prefix: str, new: int) -> None:
    before = api.sent_total(uid)
    api.press_button(uid, message.chat_id, message.message_id, data_of(message, prefix))
    await api.wait_for_messages(uid, before + new)


async def say(api: FakeBotApi, uid: int, text: str) -> str:
    before = api.sent_total(uid)
    api.send_text(uid, text)
    await api.wait_for_messages(uid, before + 1)
    return api.chat_messages(uid)[-1].text


# -- quarterly reports ---------------------------------------------------------------------------


async def test_report_reminders_fire_once_at_nine_beijing_time(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ", "SCJG"))
        await run(app, bj(12, 10, 8))  # plans; nothing due
        await run(app, bj(12, 17, 8, 59))  # 7 days before 24 December: not yet
        await settle(api, app)
        assert texts(api, MZ, "季度工作进展报告提醒") == []
        await run(app, bj(12, 17, 9))
        await run(app, bj(12, 17, 9, 1))  # again: nothing doubled
        await settle(api, app)
        for uid in (MZ, SC):
            found = texts(api, uid, "季度工作进展报告提醒")
            assert len(found) == 1 and "还有 7 天" in found[0] and "2026年第四季度" in found[0]
        await run(app, bj(12, 21, 9))  # 3 days before (Monday)
        await run(app, bj(12, 23, 9))  # 1 day before
        await settle(api, app)
        assert len(texts(api, MZ, "季度工作进展报告提醒")) == 3
        assert texts(api, ADMIN_ID, "季度") == []  # administrators get no reminders


async def test_report_by_upload_and_by_confirmation_board_and_escalation(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        await run(app, bj(12, 10, 8))
        # upload: wrong type first, then a pdf
        await say(api, MZ, "/report")
        card = api.chat_messages(MZ)[-1]
        assert "未报送" in card.text
        await press(api, MZ, card, "rp:up:", new=1)
        assert "作为文件发给我" in api.chat_messages(MZ)[-1].text
        before = api.sent_total(MZ)
        api.send_document(MZ, "进展.txt", b"x")
        await api.wait_for_messages(MZ, before + 1)
        assert "不是 docx、pdf 或 xlsx" in api.chat_messages(MZ)[-1].text
        before = api.sent_total(MZ)
        api.send_document(MZ, "民政局四季度进展.pdf", b"%PDF-1.4 report")
        await api.wait_for_messages(MZ, before + 1)
        assert "已登记" in api.chat_messages(MZ)[-1].text
        # confirmation of another way of delivery
        await say(api, SC, "/report")
        await press(api, SC, api.chat_messages(SC)[-1], "rp:other:", new=1)
        assert "已通过其他方式报送" in api.chat_messages(SC)[-1].text
        # the board
        board = await say(api, ADMIN_ID, "/reports")
        assert "已报送 2/3" in board
        assert "县民政局：" in board and "民政局四季度进展.pdf" in board
        assert "县市场监管局：" in board and "其他方式" in board
        assert "县卫健委：未报送" in board
        # a liaison may not see the board
        refused = await say(api, MZ, "/reports")
        assert "县卫健委" not in refused
        # the deadline passes: only the missing department is reminded, administrators told
        await run(app, bj(12, 25, 9))  # Friday, first working day after 24 December
        await settle(api, app)
        escalation = texts(api, ADMIN_ID, "逾期未报")
        assert len(escalation) == 1 and "县卫健委" in escalation[0]
        assert "县民政局" not in escalation[0]
        assert len(texts(api, WJ, "已逾期")) == 1
        assert texts(api, MZ, "已逾期") == [] and texts(api, SC, "已逾期") == []
        for moment in (bj(12, 26, 9), bj(12, 28, 9), bj(12, 29, 9), bj(12, 30, 9), bj(12, 31, 9)):
            await run(app, moment)
        await settle(api, app)
        overdue = texts(api, WJ, "已逾期")
        assert len(overdue) == 3 and "第 3/3 次" in overdue[-1]  # at most 3, working days
        assert len(texts(api, ADMIN_ID, "逾期未报")) == 1
        # the 7/3/1-day reminders were skipped for the departments that had submitted
        assert texts(api, MZ, "季度工作进展报告提醒") == []


async def test_report_file_too_large_is_refused(api: FakeBotApi, tmp_path: Path) -> None:
    base = settings(api, tmp_path)
    small = replace(base.tunables.reminders, report_max_file_mb=1)
    async with running_bot(replace(base, tunables=replace(base.tunables, reminders=small))) as app:
        await seed(app, ("MZJ",))
        await say(api, MZ, "/report")
        await press(api, MZ, api.chat_messages(MZ)[-1], "rp:up:", new=1)
        before = api.sent_total(MZ)
        api.send_document(MZ, "big.xlsx", b"0" * (1024 * 1024 + 10))
        await api.wait_for_messages(MZ, before + 1)
        assert "超过 1 MB" in api.chat_messages(MZ)[-1].text


# -- restarts, grace, digest, quiet hours --------------------------------------------------------


async def test_restart_sends_due_digests_long_overdue_and_keeps_pending(
    api: FakeBotApi, tmp_path: Path
) -> None:
    config = settings(api, tmp_path)
    async with running_bot(config) as app:
        await seed(app, ("MZJ",))
        await run(app, bj(12, 10, 8))
    # Down from 10 December until 23 December 10:00: the 7-day (17th) and 3-day (21st)
    # reminders are long overdue, the 1-day one (23rd 09:00) is an hour late.
    set_now(bj(12, 23, 10))
    async with running_bot(config) as app:  # start-up runs the scan once by itself
        await until(lambda: len(api.chat_messages(MZ)) >= 2)
        await run(app, bj(12, 23, 10, 1))
        await settle(api, app)
        messages = [m.text for m in api.chat_messages(MZ)]
        assert len(messages) == 2
        digest = next(t for t in messages if "停机期间错过" in t)
        assert "原定 12-17 09:00" in digest and "原定 12-21 09:00" in digest
        assert sum("还有 1 天" in t and "停机" not in t for t in messages) == 1
        row = await db_of(app).fetchone(
            "SELECT COUNT(*) FROM reminders WHERE status = 'pending' AND kind = 'report.overdue'"
        )
        assert row is not None and row[0] == 3  # still waiting for after the deadline
    async with running_bot(config) as app:  # another restart: nothing doubled
        await run(app, bj(12, 23, 11))
        await settle(api, app)
        assert len(api.chat_messages(MZ)) == 2


async def test_quiet_hours_hold_a_missed_reminder_until_eight(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ",))
        await run(app, bj(12, 10, 8))
        await run(app, bj(12, 17, 21, 30))  # the 09:00 reminder missed, now quiet hours
        await settle(api, app)
        assert api.chat_messages(MZ) == []
        await run(app, bj(12, 18, 7, 59))
        await settle(api, app)
        assert api.chat_messages(MZ) == []
        await run(app, bj(12, 18, 8))  # 23 hours late: in a digest, at 08:00
        await settle(api, app)
        assert len(texts(api, MZ, "停机期间错过")) == 1


# -- training -------------------------------------------------------------------------------------


async def add_task(app: Any) -> int:
    db = db_of(app)
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO tasks (industry, lead_department, window_start, window_end,"
            " reply_deadline, deadline_set_at, state, joint, proposed_by, created_at, updated_at)"
            " VALUES ('养老机构', 'MZJ', '2026-12-21', '2026-12-25', ?, ?, 'confirmed', 1, ?, ?,"
            " ?) RETURNING id",
            (now, now, MZ, now, now),
        )
        task_id = int((await cursor.fetchone())[0])
        await conn.execute(
            "INSERT INTO task_invitations (task_id, department_code, answer) VALUES (?, 'SCJG',"
            " 'joined'), (?, 'WJW', 'declined')",
            (task_id, task_id),
        )
    return task_id


async def test_training_set_answered_moved_and_cancelled(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        task = await add_task(app)
        assert "培训时间" in await say(api, MZ, f"/training {task}")
        assert "地点" in await say(api, MZ, "2026-12-14 10:00")
        assert "备注" in await say(api, MZ, "县局三楼会议室")
        before = api.sent_total(SC)
        assert "培训已安排" in await say(api, MZ, "带执法证")
        await api.wait_for_messages(SC, before + 1)
        notice = api.chat_messages(SC)[-1]
        assert "查前培训通知" in notice.text and "县局三楼会议室" in notice.text
        assert texts(api, WJ, "培训") == []  # declined the task: not on it
        # answers: 参加 by the partner, 请假 with a reason by the lead's liaison
        await press(api, SC, notice, "tr:", new=1)
        assert "参加培训" in api.chat_messages(SC)[-1].text
        await settle(api, app)
        await press(api, MZ, api.chat_messages(MZ)[-1], f"tr:{1}:l", new=1)
        assert "已登记请假" in await say(api, MZ, "当天外出执法")
        # 3 days before: both reminded once, with what they answered
        await run(app, bj(12, 11, 10))
        await run(app, bj(12, 11, 10, 5))
        await settle(api, app)
        assert len(texts(api, SC, "查前培训提醒")) == 1
        assert "您已答复：参加" in texts(api, SC, "查前培训提醒")[0]
        # move it: everyone told; old reminders cancelled, new ones planned
        summary = await say(api, MZ, f"/training {task}")
        assert "参加 1 人，请假 1 人" in summary
        await press(api, MZ, api.chat_messages(MZ)[-1], "tr:1:move", new=1)
        before = api.sent_total(SC)
        assert "培训已改到" in await say(api, MZ, "2026-12-16 15:00")
        await api.wait_for_messages(SC, before + 1)
        assert "查前培训改期" in api.chat_messages(SC)[-1].text
        await run(app, bj(12, 13, 10))  # the old 1-day slot: nothing
        await settle(api, app)
        assert len(texts(api, SC, "查前培训提醒")) == 1
        await run(app, bj(12, 13, 15))  # the new 3-day slot
        await run(app, bj(12, 15, 15))  # the new 1-day slot, and the lead's summary
        await settle(api, app)
        assert len(texts(api, SC, "查前培训提醒")) == 3
        summaries = texts(api, MZ, "出席情况")  # the /training card, then the summary
        assert len(summaries) == 2 and "2026-12-16 15:00" in summaries[-1]
        assert "请假（当天外出执法）\n• 市场联络员：参加" in summaries[-1]
        # cancel it: everyone told, nothing more sent
        await say(api, MZ, f"/training {task}")
        before = api.sent_total(SC)
        await press(api, MZ, api.chat_messages(MZ)[-1], "tr:1:cancel", new=1)
        await api.wait_for_messages(SC, before + 1)
        assert "查前培训已取消" in api.chat_messages(SC)[-1].text
        await run(app, bj(12, 16, 13))
        await settle(api, app)
        assert len(texts(api, SC, "查前培训提醒")) == 3


async def test_a_two_hour_reminder_for_an_evening_session_goes_in_quiet_hours(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        task = await add_task(app)
        await say(api, MZ, f"/training {task}")
        await say(api, MZ, "2026-12-12 23:00")
        await say(api, MZ, "https://meeting.example/abc")
        await say(api, MZ, "无")
        await settle(api, app)
        await run(app, bj(12, 12, 21))  # 2 hours before 23:00: sent although it is 21:00
        await settle(api, app)
        found = texts(api, SC, "查前培训提醒")
        assert any("2 小时" in t for t in found)


# -- calendar, control, result deadlines -----------------------------------------------------------


async def test_holiday_and_a_2027_deadline_without_calendar_data(
    api: FakeBotApi, tmp_path: Path
) -> None:
    set_now(bj(12, 1, 10, year=2027))
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ",))
        await say(api, ADMIN_ID, "/holiday add 2027-12-23")
        await settle(api, app)  # the reminders reconciled with it: the 2027 gap noticed, too
        assert texts(api, ADMIN_ID, "已将 2027-12-23 设为节假日")
        listing = await say(api, ADMIN_ID, "/holiday list")
        assert "2027-12-23 节假日" in listing
        await run(app, bj(12, 1, 10, year=2027))
        await run(app, bj(12, 1, 11, year=2027))
        await settle(api, app)
        assert len(texts(api, ADMIN_ID, "2027 年的法定节假日数据缺失")) == 1
        # 1 day before 24 December 2027 is the holiday just set: Wednesday 22nd instead
        await run(app, bj(12, 22, 9, year=2027))
        await settle(api, app)
        assert len([t for t in texts(api, MZ, "还有 2 天") if "停机" not in t]) == 1
        assert "不是" not in await say(api, MZ, "/holiday list")  # refused for a liaison


async def test_reminders_list_pause_and_resume(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app, ("MZJ",))
        await run(app, bj(12, 10, 8))
        mine = await say(api, MZ, "/reminders")
        assert "2026-12-17 09:00 季度报告截止提醒" in mine
        board = await say(api, ADMIN_ID, "/reminders")
        assert "季度报告 2026Q4" in board
        message = api.chat_messages(ADMIN_ID)[-1]
        answers = len(api.callback_answers)
        api.press_button(ADMIN_ID, ADMIN_ID, message.message_id, "rm:pause:report:2026Q4")
        await api.wait_for(lambda: len(api.callback_answers) > answers)
        await until(lambda: "已暂停" in api.chat_messages(ADMIN_ID)[-1].text)
        await run(app, bj(12, 17, 9))
        await settle(api, app)
        assert texts(api, MZ, "季度工作进展报告提醒") == []
        answers = len(api.callback_answers)
        api.press_button(ADMIN_ID, ADMIN_ID, message.message_id, "rm:resume:report:2026Q4")
        await api.wait_for(lambda: len(api.callback_answers) > answers)
        await run(app, bj(12, 17, 9, 30))
        await settle(api, app)
        assert len(texts(api, MZ, "季度工作进展报告提醒")) == 1
        assert "暂停" not in await say(api, MZ, "/reminders")  # not for a liaison


async def test_result_deadline_reminders_and_escalation(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        await seed(app)
        await add_task(app)  # window ends Friday 25 December 2026
        await run(app, bj(12, 10, 8))
        row = await db_of(app).fetchone(
            "SELECT payload FROM reminders WHERE kind = 'result.before' LIMIT 1"
        )
        assert row is not None and '"deadline": "2027-01-22"' in row[0]
        # 20 working days after 25 Dec 2026 is 22 Jan 2027 (2027 without calendar data: Monday
        # to Friday, 1 January counted until an administrator adds it); 5 working days before:
        # Friday 15 January 2027
        await run(app, bj(1, 15, 9, year=2027))
        await settle(api, app)
        assert len(texts(api, MZ, "结果录入期限提醒")) == 1
        assert len(texts(api, SC, "结果录入期限提醒")) == 1
        assert texts(api, WJ, "结果录入") == []  # declined: not responsible
        await run(app, bj(1, 25, 9, year=2027))
        await settle(api, app)
        for uid in (MZ, SC, ADMIN_ID):
            assert len(texts(api, uid, "结果录入已逾期")) == 1


def test_dates_are_beijing() -> None:
    assert bj(12, 17, 9).astimezone(UTC).hour == 1
    assert date(2026, 12, 24).weekday() == 3


async def test_drawn_inspectors_are_on_the_training(api: FakeBotApi, tmp_path: Path) -> None:
    from tests.outbox_support import add_inspector

    inspector = 4010
    open_chat(api, inspector, "执法人员甲")
    async with running_bot(settings(api, tmp_path)) as app:
        db = db_of(app)
        await seed(app)
        task = await add_task(app)
        await add_inspector(db, "ZF-001", "执法人员甲", "SCJG")
        await add_person(db, inspector, "执法人员甲", inspector_certificate="ZF-001")
        now = clock.now_db()
        await db.execute(
            "INSERT INTO draws (task_id, source, seed, algorithm, input_hash, inputs, result,"
            " drawn_by, created_at) VALUES (?, 'bot', 's', 'v1', 'h', ?, ?, ?, ?)",
            (task, b"\x00", b"\x00", ADMIN_ID, now),
        )
        await db.execute(
            "INSERT INTO draw_assignments (task_id, seq, inspector_id, department_code, created_at)"
            " SELECT ?, 1, id, 'SCJG', ? FROM inspectors WHERE certificate_no = 'ZF-001'",
            (task, now),
        )
        await say(api, MZ, f"/training {task}")
        await say(api, MZ, "2026-12-14 10:00")
        await say(api, MZ, "县局三楼会议室")
        await say(api, MZ, "无")
        await until(lambda: texts(api, inspector, "查前培训通知"))


def by_label(message: SentMessage, label: str) -> str:
    assert message.reply_markup is not None
    for row in message.reply_markup["inline_keyboard"]:
        for b in row:
            if b.get("text") == label:
                return str(b["callback_data"])
    raise AssertionError(f"no button {label} in {message.reply_markup}")


async def test_a_late_report_counts_for_the_missed_quarter(api: FakeBotApi, tmp_path: Path) -> None:
    set_now(bj(3, 10, 8))
    async with running_bot(settings(api, tmp_path)) as app:
        db = db_of(app)
        await seed(app, ("MZJ",))
        await run(app, bj(3, 10, 8))
        await run(app, bj(3, 25, 9))  # Q1's deadline (Tuesday 24 March) missed: first overdue
        await settle(api, app)
        assert len(texts(api, MZ, "季度工作进展报告已逾期")) == 1
        set_now(bj(3, 25, 10))
        await say(api, MZ, "/report")
        card = api.chat_messages(MZ)[-1]
        assert "2026年第一季度（已逾期）" in card.text and "未报送" in card.text
        assert data_of(card, "rp:up:") == "rp:up:MZJ:2026Q1"
        # a crafted button for a quarter beyond the current one is refused, nothing recorded
        for data in ("rp:other:MZJ:2026Q3", "rp:other:MZJ:2026Q5", "rp:other:MZJ:x"):
            forged = await crafted(app, api, MZ, data)
            answers = len(api.callback_answers)
            api.press_button(MZ, forged.chat_id, forged.message_id, data)
            await api.wait_for(lambda n=answers: len(api.callback_answers) > n)
        row = await db.fetchone("SELECT COUNT(*) FROM quarterly_reports")
        assert row is not None and row[0] == 0
        # pressed later (the next day), the button still files under the quarter it showed
        set_now(bj(3, 26, 8))
        await press(api, MZ, card, "rp:up:", new=1)
        assert "2026年第一季度" in api.chat_messages(MZ)[-1].text
        before = api.sent_total(MZ)
        api.send_document(MZ, "一季度进展.pdf", b"%PDF-1.4 report")
        await api.wait_for_messages(MZ, before + 1)
        assert "已登记" in api.chat_messages(MZ)[-1].text
        assert "2026年第一季度" in api.chat_messages(MZ)[-1].text
        rows = await db.fetchall("SELECT period, department_code FROM quarterly_reports")
        assert [tuple(r) for r in rows] == [("2026Q1", "MZJ")]
        # the card now offers Q2; Q1's overdue reminders stop
        assert "2026年第二季度工作进展报告" in await say(api, MZ, "/report")
        for moment in (bj(3, 26, 9), bj(3, 27, 9), bj(3, 30, 9)):
            await run(app, moment)
        await settle(api, app)
        assert len(texts(api, MZ, "季度工作进展报告已逾期")) == 1
        # Q2's reminders still come
        await run(app, bj(6, 10, 8))
        await run(app, bj(6, 17, 9))
        await settle(api, app)
        found = texts(api, MZ, "季度工作进展报告提醒")
        assert len(found) == 1 and "2026年第二季度" in found[0] and "还有 7 天" in found[0]


async def test_cancelling_the_task_cancels_its_training(api: FakeBotApi, tmp_path: Path) -> None:
    async with running_bot(settings(api, tmp_path)) as app:
        db = db_of(app)
        await seed(app)
        task = await add_task(app)
        await say(api, MZ, f"/training {task}")
        await say(api, MZ, "2026-12-14 10:00")
        await say(api, MZ, "县局三楼会议室")
        assert "培训已安排" in await say(api, MZ, "无")
        await settle(api, app)
        before_sc = len(api.chat_messages(SC))
        # the lead cancels the task
        await say(api, MZ, f"/task {task}")
        detail = api.chat_messages(MZ)[-1]
        before = api.sent_total(MZ)
        api.press_button(MZ, detail.chat_id, detail.message_id, by_label(detail, "取消任务"))
        await api.wait_for_messages(MZ, before + 1)
        confirm_text = await say(api, MZ, "上级部署调整")
        assert "确认取消" in str(api.chat_messages(MZ)[-1].reply_markup), confirm_text
        confirm = api.chat_messages(MZ)[-1]
        api.press_button(MZ, confirm.chat_id, confirm.message_id, by_label(confirm, "确认取消"))

        async def cancelled() -> bool:
            row = await db.fetchone("SELECT state FROM trainings")
            return row is not None and row[0] == "cancelled"

        await until(cancelled)
        row = await db.fetchone("SELECT state FROM tasks WHERE id = ?", (task,))
        assert row is not None and row[0] == "cancelled"
        await settle(api, app)
        # the partner is told once: the task's notice, with the session's line
        told = [m.text for m in api.chat_messages(SC)[before_sc:]]
        assert len(told) == 1 and "已取消" in told[0] and "查前培训（2026-12-14" in told[0]
        assert texts(api, SC, "查前培训已取消") == []
        # past every reminder time: nothing about the session
        for moment in (bj(12, 11, 10), bj(12, 13, 10), bj(12, 14, 8, 30)):
            await run(app, moment)
        await settle(api, app)
        assert texts(api, SC, "查前培训提醒") == [] and texts(api, MZ, "查前培训提醒") == []
        assert texts(api, MZ, "出席情况") == []
        row = await db.fetchone(
            "SELECT COUNT(*) FROM reminders WHERE series LIKE 'training:%' AND status = 'pending'"
        )
        assert row is not None and row[0] == 0
