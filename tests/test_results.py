"""Results end to end: one-line and guided /r, every kind of bad line, strangers and unassigned
inspectors, check-in before on-site entry, edits before and after review, return and re-entry,
batch review and the completion message, follow-up to closure with 抄告, evidence, guidance,
the verification link (valid, then not after completion) and the export. The real Application,
the outbox and the fake Bot API (Telegram's limits on, the bot's pace loosened)."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot import clock, reminders
from bot.config import DrawTunables, InvitationTunables
from bot.domain.results import EXPORT_COLUMNS
from bot.domain.tasks import Answer, TaskState
from bot.store import tasks as task_store
from tests.fakeapi import FakeBotApi, Limits, SentMessage
from tests.outbox_support import (
    ADMIN_ID,
    add_department,
    add_person,
    db_of,
    open_chat,
    running_bot,
    sender_of,
    settings_for,
    until,
)

GROUP = -5000
LEAD, WJW_L, INS1, INS2, INS3, STRANGER = 3001, 3003, 4001, 4002, 4003, 3999
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Beijing Monday 10:00
CODES = [f"9100000000000000{i:02d}" for i in range(2)]
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    # Telegram's limits on, except the sustained private pace: one person here types dozens of
    # commands in a few seconds, which the 1 message/s bucket would stretch to a minute.
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


@asynccontextmanager
async def drawn(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Any]:
    """A joint task #1 (民政 leads, 卫健 joins) drawn: 2 objects, 民政甲 and 卫健甲 on each."""
    settings = settings_for(api, tmp_path / "r.sqlite3")
    tunables = replace(
        settings.tunables,
        invitations=InvitationTunables(scan_seconds=3600),
        draw=DrawTunables(scan_seconds=3600),
    )
    async with running_bot(replace(settings, tunables=tunables)) as app:
        db = db_of(app)
        await add_department(db, "MZJ", "县民政局")
        await add_department(db, "WJW", "县卫健委")
        await add_person(db, LEAD, "民政联络员", liaison_of="MZJ")
        await add_person(db, WJW_L, "卫健联络员", liaison_of="WJW")
        now = clock.now_db()
        for cert, name, dept in (("MZ001", "民政甲", "MZJ"), ("WJ001", "卫健甲", "WJW")):
            await db.execute(
                "INSERT INTO inspectors (certificate_no, name, department_code, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?)",
                (cert, name, dept, now, now),
            )
        await add_person(db, INS1, "民政甲", inspector_certificate="MZ001")
        await add_person(db, INS3, "卫健甲", inspector_certificate="WJ001")
        for code, name, dept in (("MZ-01", "养老机构安全", "MZJ"), ("WJ-01", "医疗卫生", "WJW")):
            await db.execute(
                "INSERT INTO items (code, name, department_code, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (code, name, dept, now, now),
            )
        for i, code in enumerate(CODES):
            await db.execute(
                "INSERT INTO objects (credit_code, name, industry, address, risk_class, status,"
                " phone, created_at, updated_at)"
                " VALUES (?, ?, '养老机构', ?, 'D', '在业', '13800000000', ?, ?)",
                (code, f"幸福养老院{i + 1}", f"城关镇{i}号", now, now),
            )
        api.add_bot_to_group(GROUP, ADMIN_ID)
        await api.wait_for_messages(GROUP, 1)
        await db.execute("UPDATE chats SET is_coordination = 1 WHERE chat_id = ?", (GROUP,))
        async with db.transaction() as conn:
            task_id = await task_store.create(
                conn,
                industry="养老机构",
                lead="MZJ",
                lead_items=["MZ-01"],
                start=date(2026, 12, 7),
                end=date(2026, 12, 18),
                deadline=MONDAY_10,
                notes="",
                proposed_by=LEAD,
                partners=["WJW"],
            )
            await task_store.set_answer(
                conn, task_id, "WJW", Answer.JOINED, actor=WJW_L, items=["WJ-01"], inspectors=1
            )
            await task_store.move(
                conn, task_id, TaskState.INVITING, TaskState.CONFIRMED, joint=1, confirmed_at=now
            )
        await say(api, LEAD, "/draw 1")
        await notice_of(api, INS1)
        await notice_of(api, INS3)
        await sender_of(app).idle()
        # an inspector onboarded after the draw: assigned to nothing in task 1
        await db.execute(
            "INSERT INTO inspectors (certificate_no, name, department_code, created_at,"
            " updated_at) VALUES ('MZ002', '民政乙', 'MZJ', ?, ?)",
            (now, now),
        )
        await add_person(db, INS2, "民政乙", inspector_certificate="MZ002")
        yield app


async def say(api: FakeBotApi, uid: int, text: str, expect: int = 1) -> list[SentMessage]:
    """The bot's answers to `text`; a liaison's hourly "entries await review" notice (sent
    through the outbox, at any moment) is not one of them."""
    before = api.sent_total(uid)
    api.send_text(uid, text)

    def answers() -> list[SentMessage]:
        return [m for m in api.chat_messages(uid)[before:] if "等待审核" not in m.text]

    found: list[SentMessage] = await until(lambda: len(answers()) >= expect and answers())
    return found


async def press(api: FakeBotApi, uid: int, message: SentMessage, label: str) -> str:
    data = next(d for row in message.buttons for t, d in row if label in t)
    answers = len(api.callback_answers)
    api.press_button(uid, message.chat_id, message.message_id, data)
    await api.wait_for(lambda: len(api.callback_answers) > answers)
    return str(api.callback_answers[answers].get("text") or "")


def current(api: FakeBotApi, message: SentMessage) -> SentMessage:
    return next(m for m in api.chat_messages(message.chat_id) if m.message_id == message.message_id)


async def press_edit(api: FakeBotApi, uid: int, message: SentMessage, label: str) -> SentMessage:
    edits = current(api, message).edit_count
    await press(api, uid, message, label)
    await api.wait_for(lambda: current(api, message).edit_count > edits)
    return current(api, message)


async def notice_of(api: FakeBotApi, uid: int) -> SentMessage:
    found = await until(lambda: [m for m in api.chat_messages(uid) if "检查任务通知" in m.text])
    message: SentMessage = found[-1]
    return message


async def check_in(api: FakeBotApi, uid: int, seq: int) -> SentMessage:
    notice = await notice_of(api, uid)
    before = api.sent_total(uid)
    assert "已入企登记" in await press(api, uid, notice, f"入企登记：对象 {seq}")
    await api.wait_for_messages(uid, before + 1)
    return api.chat_messages(uid)[-1]


async def task_state(app: Any) -> str:
    row = await db_of(app).fetchone("SELECT state FROM tasks WHERE id = 1")
    assert row is not None
    return str(row[0])


async def test_one_line_bad_lines_strangers_and_checkin(api: FakeBotApi, tmp_path: Path) -> None:
    async with drawn(api, tmp_path) as app:
        hints = {
            "/r 1": "格式",
            "/r x 1 1": "任务编号",
            "/r 1 abc 1": "18 位统一社会信用代码",
            "/r 1 1 合格": "应写结果代码",
            "/r 1 1 1,x": "不是数字",
            "/r 99 1 1": "没有编号为 99",
            "/r 1 7 1": "抽取对象中没有“7”",
            "/r 1 910000000000000099 1": "抽取对象中没有",
            "/r 1 1 99 书面": "没有结果代码 99",
            "/r 1 1 1,5 书面": "不能与其他结果",
            "/r 1 1 1": "须先入企登记",
        }
        for line, hint in hints.items():
            [answer] = await say(api, INS1, line)
            assert hint in answer.text, (line, answer.text)
        [stranger] = await say(api, STRANGER, "/r 1 1 1")
        assert "还没有注册" in stranger.text
        [other] = await say(api, INS2, "/r 1 1 1 书面")
        assert "未被分配" in other.text
        row = await db_of(app).fetchone("SELECT count(*) FROM results")
        assert row is not None and row[0] == 0

        # /help shows the codes (labels from the database)
        [helped] = await say(api, INS1, "/help")
        assert "1 未发现问题" in helped.text and "13 迁出" in helped.text

        # check-in, then the on-site entry by credit code; the verification link works
        confirm = await check_in(api, INS1, 1)
        assert "start=v_" in confirm.text
        link = confirm.text.split("start=")[1].split()[0]
        [saved] = await say(api, INS1, f"/r 1 {CODES[0]} 1")
        assert "已录入检查结果" in saved.text and "第 1 版" in saved.text
        assert "现场" in saved.text and "待审核" in saved.text
        assert await task_state(app) == "inspecting"
        [verified] = await say(api, STRANGER, f"/start {link}")
        assert "核验通过" in verified.text and "MZ001" in verified.text
        assert "民政甲" in verified.text and "卫健甲" in verified.text
        assert "13800000000" not in verified.text and "城关镇" not in verified.text
        [qr] = await say(api, INS1, "/qr 1 1")
        assert qr.photo is not None and qr.photo.startswith(b"\x89PNG")
        assert f"start={link}" in qr.text and "幸福养老院1" in qr.text
        [bad_link] = await say(api, STRANGER, "/start v_nonsense")
        assert "链接无效" in bad_link.text
        # onboarding codes still go to onboarding
        [code] = await say(api, STRANGER, "/start abc")
        assert "核验" not in code.text


async def test_edit_review_return_reentry_completion_export(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with drawn(api, tmp_path) as app:
        db = db_of(app)
        await check_in(api, INS1, 1)
        await say(api, INS1, "/r 1 1 1")
        [edited] = await say(api, INS1, "/r 1 1 5 已当场责令改正")
        assert "已修改检查结果" in edited.text and "第 2 版" in edited.text

        [overview] = await say(api, LEAD, "/results 1")
        assert "已公示 0 / 4" in overview.text and "2027-01-15" in overview.text
        assert "县卫健委" in overview.text and "卫健甲" in overview.text

        # return with a reason; the inspector is told through the outbox
        [review] = await say(api, LEAD, "/review 1")
        assert "已当场责令改正" in review.text
        before = api.sent_total(LEAD)
        await press(api, LEAD, review, "退回 1")
        await api.wait_for_messages(LEAD, before + 1)
        [returned] = await say(api, LEAD, "请写明整改内容")
        assert "已退回" in returned.text
        told = await until(lambda: [m for m in api.chat_messages(INS1) if "被退回" in m.text])
        assert "请写明整改内容" in told[-1].text
        [again] = await say(api, INS1, "/r 1 1 5 已当场责令改正消防通道")
        assert "第 3 版" in again.text and "待审核" in again.text

        # approve; an edit after review is refused
        [review] = await say(api, LEAD, "/review 1")
        before = api.sent_total(LEAD)
        await press(api, LEAD, review, "通过 1")
        await api.wait_for_messages(LEAD, before + 1)
        assert "已审核通过" in api.chat_messages(LEAD)[-1].text
        [late] = await say(api, INS1, "/r 1 1 1")
        assert "已审核公示，不能再修改" in late.text
        row = await db.fetchone("SELECT count(*) FROM result_versions")
        assert row is not None and row[0] == 5  # entered, edited, returned, edited, published

        # the rest: non-site entries by the liaisons, a formula in a note
        await say(api, LEAD, '/r 1 2 2 书面 =HYPERLINK("x") 未公示年报')
        await say(api, WJW_L, "/r 1 1 1 书面")
        [wj] = await say(api, WJW_L, "/r 1 2 1 书面 @risk")
        assert "已录入" in wj.text
        assert await task_state(app) == "publishing"
        for liaison in (WJW_L, LEAD):
            [review] = await say(api, liaison, "/review 1")
            before = api.sent_total(liaison)
            await press(api, liaison, review, "全部通过")
            await api.wait_for_messages(liaison, before + 1)
            assert "已批量通过" in api.chat_messages(liaison)[-1].text
        done = await until(lambda: [m for m in api.chat_messages(GROUP) if "已完成" in m.text])
        assert "#1" in done[-1].text
        assert await task_state(app) == "done"
        [overview] = await say(api, LEAD, "/results 1")
        assert "全部结果均已公示" in overview.text

        # the verification link stops confirming once the task is done
        token = await db.fetchone("SELECT token FROM result_verify_tokens")
        assert token is not None
        [closed] = await say(api, STRANGER, f"/start v_{token[0]}")
        assert "不再用于核验" in closed.text

        # export: column order, formula neutralisation, Chinese intact
        doc, publicity = await say(api, LEAD, "/export 1", expect=2)
        assert doc.document is not None and doc.document.file_name == "检查结果_任务1.xlsx"
        sheet = load_workbook(io.BytesIO(doc.document.content)).active
        assert sheet is not None
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        assert tuple(rows[0]) == EXPORT_COLUMNS
        assert len(rows) == 5
        first = rows[1]
        assert first[2] == CODES[0] and first[3] == "幸福养老院1" and first[4] == "县民政局"
        assert first[5] == "养老机构安全" and first[6] == "现场"
        assert first[7] == "发现问题已责令改正" and first[11] == "已当场责令改正消防通道"
        notes = [r[11] for r in rows[1:]]
        assert '\'=HYPERLINK("x") 未公示年报' in notes and "'@risk" in notes
        assert "抽查结果公示" in publicity.text and "幸福养老院2" in publicity.text
        csv_doc, _ = await say(api, LEAD, "/export 1 csv", expect=2)
        assert csv_doc.document is not None
        text = csv_doc.document.content.decode("utf-8-sig")
        assert text.startswith(",".join(EXPORT_COLUMNS)) and "'@risk" in text


async def test_guided_entry_in_four_taps_evidence_and_guidance(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with drawn(api, tmp_path) as app:
        [pick] = await say(api, INS3, "/r")
        assert "请选择企业" in pick.text and "幸福养老院1" in pick.button_texts[0]
        step = await press_edit(api, INS3, pick, "幸福养老院2")
        assert "请选择检查结果" in step.text
        step = await press_edit(api, INS3, step, "未发现问题")
        assert "检查方式" in step.text
        step = await press_edit(api, INS3, step, "书面核查")
        assert "请确认" in step.text and "未发现问题" in step.text
        saved = await press_edit(api, INS3, step, "确认提交")
        assert "已录入检查结果" in saved.text and "书面核查" in saved.text

        # multi-select with a note, on-site refused before check-in
        [pick] = await say(api, INS3, "/r")
        step = await press_edit(api, INS3, pick, "幸福养老院1")
        step = await press_edit(api, INS3, step, "2 未按规定公示")
        step = await press_edit(api, INS3, step, "5 发现问题已责令改正")
        assert "☑️ 2" in " ".join(step.button_texts)
        step = await press_edit(api, INS3, step, "下一步")
        step = await press_edit(api, INS3, step, "现场")
        before = api.sent_total(INS3)
        await press(api, INS3, step, "添加备注")
        [confirm] = await say(api, INS3, "年报未公示")
        assert "年报未公示" in confirm.text
        refused = await press_edit(api, INS3, confirm, "确认提交")
        assert "须先入企登记" in refused.text
        assert api.sent_total(INS3) >= before

        # evidence: a photo in reply to the confirmation; guidance typed after its button
        before = api.sent_total(INS3)
        api.send_photo(INS3, PNG, reply_to=saved.message_id)
        await api.wait_for_messages(INS3, before + 1)
        assert "已作为证据" in api.chat_messages(INS3)[-1].text
        before = api.sent_total(INS3)
        await press(api, INS3, current(api, saved), "行政指导")
        await api.wait_for_messages(INS3, before + 1)
        [ok] = await say(api, INS3, "建议完善消防台账")
        assert "已记录行政指导" in ok.text
        row = await db_of(app).fetchone(
            "SELECT r.guidance, count(e.id) FROM results r"
            " LEFT JOIN result_evidence e ON e.result_id = r.id WHERE r.seq = 2 GROUP BY r.guidance"
        )
        assert row is not None and row[0] == "建议完善消防台账" and row[1] == 1


async def test_followup_required_notified_and_closed(api: FakeBotApi, tmp_path: Path) -> None:
    async with drawn(api, tmp_path) as app:
        [saved] = await say(api, INS3, "/r 1 1 6 远程 消毒记录缺失")
        assert "须登记后续处置措施" in saved.text
        [review] = await say(api, WJW_L, "/review 1")
        before = api.sent_total(WJW_L)
        await press(api, WJW_L, review, "通过 1")
        await api.wait_for_messages(WJW_L, before + 1)
        assert "须先用 /followup" in api.chat_messages(WJW_L)[-1].text
        [bad] = await say(api, INS3, "/followup 1 1 整改")
        assert "整改期限" in bad.text
        [bad] = await say(api, INS3, "/followup 1 1 抄告 县教育局")
        assert "没有名为“县教育局”的部门" in bad.text
        [ok] = await say(api, INS3, "/followup 1 1 抄告 县民政局 请民政部门督促")
        assert "已抄告县民政局" in ok.text and "未完结" in ok.text
        told = await until(lambda: [m for m in api.chat_messages(LEAD) if "抄告" in m.text])
        assert "消毒记录缺失" not in told[-1].text and "请民政部门督促" in told[-1].text
        [review] = await say(api, WJW_L, "/review 1")
        before = api.sent_total(WJW_L)
        await press(api, WJW_L, review, "通过 1")
        await api.wait_for_messages(WJW_L, before + 1)
        assert "已审核通过" in api.chat_messages(WJW_L)[-1].text
        [listed] = await say(api, WJW_L, "/followup")
        assert "任务 #1 对象 1" in listed.text
        [closed] = await say(api, INS3, "/followup 1 1 完结 2026-12-20 已整改到位")
        assert "已完结（2026-12-20）" in closed.text
        row = await db_of(app).fetchone(
            "SELECT followup, followup_state, followup_note FROM results"
        )
        assert row is not None and tuple(row) == ("notify", "closed", "已整改到位")


def beijing(month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour - 8, minute, tzinfo=UTC)


def texts(api: FakeBotApi, uid: int, needle: str) -> list[str]:
    return [m.text for m in api.chat_messages(uid) if needle in m.text]


async def run_reminders(api: FakeBotApi, app: Any, moment: datetime) -> None:
    clock.set_source(lambda: moment)
    await reminders.run_due(app)
    await reminders.run_due(app)  # a second run sends nothing more
    await sender_of(app).idle()


async def test_followup_due_date_reminders_until_closed(api: FakeBotApi, tmp_path: Path) -> None:
    async with drawn(api, tmp_path) as app:
        # object 1: 整改 by 16 December (Wednesday); object 2: by 23 December, closed early
        await say(api, INS3, "/r 1 1 6 远程 消毒记录缺失")
        await say(api, INS3, "/followup 1 1 整改 2026-12-16 补齐消毒记录")
        await say(api, INS3, "/r 1 2 6 远程 台账缺失")
        await say(api, INS3, "/followup 1 2 整改 2026-12-23")
        await say(api, WJW_L, "/followup 1 1 移送")  # another measure on it…
        await say(api, WJW_L, "/followup 1 1 整改 2026-12-16 补齐消毒记录")  # …and back

        await run_reminders(api, app, beijing(12, 11, 8, 59))  # planned, nothing due yet
        assert texts(api, WJW_L, "整改期限提醒") == []
        [closed] = await say(api, INS3, "/followup 1 2 完结 已整改")
        assert "已完结" in closed.text

        # 3 working days before 16 December: Friday 11 December, 09:00 Beijing
        await run_reminders(api, app, beijing(12, 11, 9))
        for uid in (WJW_L, INS3):  # the liaison and the inspector who entered it
            [told] = texts(api, uid, "整改期限提醒")
            assert "对象 1 幸福养老院1（县卫健委）" in told and "2026-12-16" in told
            assert "还有 3 个工作日" in told and "补齐消毒记录" in told
            assert "/followup 1 1 完结" in told
        assert texts(api, LEAD, "整改") == [] and texts(api, ADMIN_ID, "整改") == []

        # 1 working day before: Tuesday 15 December
        await run_reminders(api, app, beijing(12, 15, 9))
        assert len(texts(api, WJW_L, "还有 1 个工作日")) == 1
        assert len(texts(api, INS3, "还有 1 个工作日")) == 1

        # the first working day after the due date, still 未完结: the administrators too, once
        await run_reminders(api, app, beijing(12, 17, 9))
        await run_reminders(api, app, beijing(12, 18, 9))
        for uid in (WJW_L, INS3, ADMIN_ID):
            [overdue] = texts(api, uid, "整改已逾期")
            assert "2026-12-16" in overdue and "对象 1" in overdue
        assert texts(api, LEAD, "整改") == []
        # the closed follow-up (object 2, due 23 December) never reminded anyone
        reminded = [t for uid in (WJW_L, INS3) for t in texts(api, uid, "联合检查 #1 对象")]
        assert len(reminded) == 6 and all("对象 2" not in t for t in reminded)
        sent = await db_of(app).fetchone(
            "SELECT count(*) FROM reminders WHERE kind LIKE 'followup.%' AND status = 'fired'"
        )
        assert sent is not None and sent[0] == 7  # 2 × 2 before, 3 overdue

        # closed after its reminders were planned: nothing more
        await say(api, INS3, "/followup 1 1 完结 2026-12-18")
        await run_reminders(api, app, beijing(12, 24, 9))
        assert len(texts(api, ADMIN_ID, "整改已逾期")) == 1
        assert len(texts(api, WJW_L, "联合检查 #1 对象")) == 3
        # object 2 (due 23 December, closed first): every reminder planned for it was
        # cancelled when it was closed (reconciled in that transaction)
        rows = await db_of(app).fetchall(
            "SELECT status, count(*) FROM reminders WHERE kind LIKE 'followup.%'"
            " AND payload LIKE '%2026-12-23%' GROUP BY status"
        )
        assert [tuple(r) for r in rows] == [("cancelled", 7)]  # 2 × 2 before, 3 overdue


async def test_task_detail_shows_missing_results(api: FakeBotApi, tmp_path: Path) -> None:
    async with drawn(api, tmp_path) as app:
        async with db_of(app).transaction() as conn:  # task 2: confirmed, not drawn
            await task_store.create(
                conn,
                industry="学校",
                lead="MZJ",
                lead_items=["MZ-01"],
                start=date(2026, 12, 7),
                end=date(2026, 12, 18),
                deadline=MONDAY_10,
                notes="",
                proposed_by=LEAD,
                partners=["WJW"],
            )
        [undrawn] = await say(api, LEAD, "/task 2")
        assert "检查结果" not in undrawn.text and "尚缺" not in undrawn.text

        [detail] = await say(api, LEAD, "/task 1")
        assert "已公示 0 / 4" in detail.text and "2027-01-15" in detail.text
        assert "20 个工作日" in detail.text
        assert "县民政局：2 家" in detail.text and "县卫健委：2 家" in detail.text
        assert "/results 1" in detail.text
        assert "幸福养老院" not in detail.text  # a summary: the list is in /results
        assert len(detail.text) <= 4096

        await say(api, WJW_L, "/r 1 1 1 书面")
        await say(api, WJW_L, "/r 1 2 1 书面")
        [review] = await say(api, WJW_L, "/review 1")
        before = api.sent_total(WJW_L)
        await press(api, WJW_L, review, "全部通过")
        await api.wait_for_messages(WJW_L, before + 1)
        await say(api, LEAD, "/r 1 2 1 书面")
        await sender_of(app).idle()  # queued notices (the 2027 calendar warning) are out first
        [detail] = await say(api, ADMIN_ID, "/task 1")
        assert "已公示 2 / 4" in detail.text
        missing = detail.text.split("尚缺结果")[1]
        assert "县民政局：2 家（1 家待审核）" in missing and "县卫健委" not in missing


async def test_liaisons_told_of_entries_awaiting_review_hourly(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with drawn(api, tmp_path) as app:
        await say(api, INS3, "/r 1 1 1 书面")
        told = await until(lambda: texts(api, WJW_L, "等待审核"))
        assert "县卫健委有 1 条检查结果等待审核" in told[0] and "/review 1" in told[0]
        await say(api, INS3, "/r 1 2 1 书面")
        await say(api, INS3, "/r 1 2 5 书面 已当场责令改正")  # an edit: still within the hour
        await sender_of(app).idle()
        assert len(texts(api, WJW_L, "等待审核")) == 1
        assert texts(api, LEAD, "等待审核") == []  # another department's entries
        # a liaison entering their own department's result is not told about it
        await say(api, LEAD, "/r 1 1 1 书面")
        await sender_of(app).idle()
        assert texts(api, LEAD, "等待审核") == []

        # the next hour: one more message, with the current count
        clock.set_source(lambda: MONDAY_10 + timedelta(hours=1))
        await say(api, INS3, "/r 1 2 1 书面")
        told = await until(lambda: texts(api, WJW_L, "等待审核")[1:])
        assert "县卫健委有 2 条检查结果等待审核" in told[0]
        row = await db_of(app).fetchone(
            "SELECT count(*) FROM outbox WHERE dedup_key LIKE 'results:awaiting:%'"
        )
        assert row is not None and row[0] == 2


async def test_guided_entry_refuses_crafted_buttons(api: FakeBotApi, tmp_path: Path) -> None:
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    async with drawn(api, tmp_path) as app:
        async with db_of(app).transaction() as conn:  # a task 卫健甲 has nothing to do with
            await task_store.create(
                conn,
                industry="养老机构",
                lead="MZJ",
                lead_items=["MZ-01"],
                start=date(2026, 12, 21),
                end=date(2026, 12, 25),
                deadline=MONDAY_10,
                notes="",
                proposed_by=LEAD,
                partners=["WJW"],
            )
        [pick] = await say(api, INS3, "/r")
        row = await db_of(app).fetchone(
            "SELECT data FROM result_flows WHERE tg_user_id = ?", (INS3,)
        )
        assert row is not None
        nonce = json.loads(row[0])["n"]

        async def crafted(action: str) -> str:
            before = api.sent_total(INS3)
            button = InlineKeyboardButton("crafted", callback_data=f"rg:{nonce}:{action}")
            await app.bot.send_message(
                INS3, "crafted", reply_markup=InlineKeyboardMarkup([[button]])
            )
            await api.wait_for_messages(INS3, before + 1)
            return (await press_edit(api, INS3, api.chat_messages(INS3)[-1], "crafted")).text

        assert "已过期" in await crafted("t:2")
        assert "已过期" in await crafted("o:99")
        step = await press_edit(api, INS3, pick, "幸福养老院2")
        step = await press_edit(api, INS3, step, "未发现问题")
        assert "检查方式" in step.text
        assert "已过期" in await crafted("m:anything")
        assert "已过期" in await crafted("ok")
        row = await db_of(app).fetchone("SELECT count(*) FROM results")
        assert row is not None and row[0] == 0
        # the flow is intact: the real buttons still work
        step = await press_edit(api, INS3, step, "书面核查")
        saved = await press_edit(api, INS3, step, "确认提交")
        assert "已录入检查结果" in saved.text


async def test_malformed_buttons_get_the_stale_alert(api: FakeBotApi, tmp_path: Path) -> None:
    """Each results prefix (rg guided entry, rv review, rs guidance, rc check-in) with data of
    the wrong shape, or an action the handler does not know: the one "no longer valid" alert
    and an audit row, never an approval, a check-in or an exception."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    async with drawn(api, tmp_path) as app:
        db = db_of(app)
        [saved] = await say(api, INS1, "/r 1 1 1 书面")
        assert "待审核" in saved.text
        row = await db.fetchone("SELECT id FROM results")
        assert row is not None
        result_id = int(row[0])
        await say(api, INS3, "/r")  # a guided entry in progress: its nonce is known
        flow = await db.fetchone("SELECT data FROM result_flows WHERE tg_user_id = ?", (INS3,))
        assert flow is not None
        nonce = json.loads(flow[0])["n"]

        async def crafted(uid: int, data: str) -> dict[str, Any]:
            before = api.sent_total(uid)
            keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("crafted", callback_data=data)]])
            await app.bot.send_message(uid, "crafted", reply_markup=keyboard)
            await api.wait_for_messages(uid, before + 1)
            answers = len(api.callback_answers)
            message = api.chat_messages(uid)[-1]
            api.press_button(uid, message.chat_id, message.message_id, data)
            await api.wait_for(lambda: len(api.callback_answers) > answers)
            return api.callback_answers[answers]

        presses = {
            INS3: ["rg:", f"rg:{nonce}"],
            LEAD: ["rv:p", "rv:p:x", "rv:r:", f"rv:z:{result_id}", f"rv:{result_id}"],
            INS1: ["rs:g", "rs:g:x", f"rs:q:{result_id}", "rc:1", "rc:1:x", "rc:x:1", "rc:"],
        }
        for uid, datas in presses.items():
            for data in datas:
                answer = await crafted(uid, data)
                assert "已失效" in str(answer.get("text")), (data, answer)
                assert answer.get("show_alert"), data
        refused = await db.fetchall(
            "SELECT action, detail FROM audit_log WHERE outcome = 'refused'"
            " AND action LIKE 'button.r%' ORDER BY id"
        )
        assert [(a, json.loads(d)["data"]) for a, d in refused] == [
            (f"button.{data.partition(':')[0]}", data)
            for datas in presses.values()
            for data in datas
        ]
        # nothing happened: the entry is still pending, nobody checked in, the flow is intact
        row = await db.fetchone("SELECT state FROM results WHERE id = ?", (result_id,))
        assert row is not None and row[0] == "pending"
        row = await db.fetchone("SELECT count(*) FROM result_checkins")
        assert row is not None and row[0] == 0
        flow = await db.fetchone("SELECT data FROM result_flows WHERE tg_user_id = ?", (INS3,))
        assert flow is not None and json.loads(flow[0])["n"] == nonce
