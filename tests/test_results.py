"""Results end to end: one-line and guided /r, every kind of bad line, strangers and unassigned
inspectors, check-in before on-site entry, edits before and after review, return and re-entry,
batch review and the completion message, follow-up to closure with 抄告, evidence, guidance,
the verification link (valid, then not after completion) and the export. The real Application,
the outbox and the fake Bot API (Telegram's limits on, the bot's pace loosened)."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot import clock
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
    before = api.sent_total(uid)
    api.send_text(uid, text)
    await api.wait_for_messages(uid, before + expect)
    return api.chat_messages(uid)[before:]


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
            " LEFT JOIN result_evidence e ON e.result_id = r.id WHERE r.seq = 2"
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
