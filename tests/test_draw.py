"""The draw end to end: /draw, notices, 收到, 申请回避 with replacement, /verify, the
acknowledgement reminder, the unreachable inspector and the platform import. The real
Application, the outbox and the fake Bot API (Telegram's limits on, the bot's pace loosened)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot import reminders as engine
from bot.config import DrawTunables, InvitationTunables
from bot.domain.tasks import Answer, TaskState
from bot.store import tasks as task_store
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
LEAD, WJW_L, INS1, INS2, INS3, INS4 = 3001, 3003, 4001, 4002, 4003, 4004
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Beijing Monday 10:00
CODES = [f"9100000000000000{i:02d}" for i in range(3)]


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)
    await fake.start()
    for uid, name in (
        (ADMIN_ID, "县局管理员"),
        (LEAD, "民政联络员"),
        (WJW_L, "卫健联络员"),
        (INS1, "民政甲"),
        (INS3, "卫健甲"),
        (INS4, "卫健乙"),
    ):
        open_chat(fake, uid, name)
    fake.add_group(GROUP, "县联合抽查协调群", creator_id=ADMIN_ID)
    try:
        yield fake
    finally:
        await fake.stop()


@asynccontextmanager
async def county(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Any]:
    settings = settings_for(api, tmp_path / "d.sqlite3")
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
        for cert, name, dept in (
            ("MZ001", "民政甲", "MZJ"),
            ("MZ002", "民政乙", "MZJ"),
            ("WJ001", "卫健甲", "WJW"),
            ("WJ002", "卫健乙", "WJW"),
        ):
            await db.execute(
                "INSERT INTO inspectors (certificate_no, name, department_code, created_at,"
                " updated_at) VALUES (?, ?, ?, ?, ?)",
                (cert, name, dept, now, now),
            )
        await add_person(db, INS1, "民政甲", inspector_certificate="MZ001")
        await add_person(db, INS3, "卫健甲", inspector_certificate="WJ001")
        await add_person(db, INS4, "卫健乙", inspector_certificate="WJ002")
        for code, name, dept in (("MZ-01", "养老机构安全", "MZJ"), ("WJ-01", "医疗卫生", "WJW")):
            await db.execute(
                "INSERT INTO items (code, name, department_code, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (code, name, dept, now, now),
            )
        for i, code in enumerate(CODES):
            await db.execute(
                "INSERT INTO objects (credit_code, name, industry, address, risk_class, status,"
                " created_at, updated_at) VALUES (?, ?, '养老机构', ?, 'D', '在业', ?, ?)",
                (code, f"幸福养老院{i}", f"城关镇{i}号", now, now),
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
                start=datetime(2026, 12, 7).date(),
                end=datetime(2026, 12, 18).date(),
                deadline=MONDAY_10,
                notes="",
                proposed_by=LEAD,
                partners=["WJW"],
            )
            await task_store.set_answer(
                conn, task_id, "WJW", Answer.JOINED, actor=WJW_L, items=["WJ-01"], inspectors=2
            )
            await task_store.move(
                conn,
                task_id,
                TaskState.INVITING,
                TaskState.CONFIRMED,
                joint=1,
                confirmed_at=now,
            )
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


async def notice_of(api: FakeBotApi, uid: int) -> SentMessage:
    found = await until(lambda: [m for m in api.chat_messages(uid) if "检查任务通知" in m.text])
    message: SentMessage = found[-1]
    return message


async def test_draw_notices_ack_conflict_verify_and_reminder(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        [done] = await say(api, LEAD, "/draw 1")
        assert "已完成双随机抽取" in done.text and "抽取对象 3 家" in done.text
        assert "民政乙" in done.text  # never opened the bot
        summary = await until(lambda: [m for m in api.chat_messages(GROUP) if "抽取结果" in m.text])
        assert "D（高风险）：3 家中抽取 3 家" in summary[0].text and "随机种子" in summary[0].text
        await until(lambda: [m for m in api.chat_messages(GROUP) if m.document is not None])
        lost = await until(lambda: [m for m in api.chat_messages(LEAD) if "尚未开通" in m.text])
        assert "民政乙" in lost[-1].text and "start=" in lost[-1].text
        row = await db.fetchone("SELECT state FROM tasks WHERE id = 1")
        assert row is not None and row[0] == "drawn"

        notice = await notice_of(api, INS3)
        assert "幸福养老院" in notice.text and "医疗卫生" in notice.text
        assert "收到" in notice.button_texts
        assert "已确认收到" in await press(api, INS3, notice, "收到")
        acks = await say(api, LEAD, "/acks 1")
        assert "✅ 卫健甲" in acks[0].text and "⚠️ 民政乙" in acks[0].text

        # 申请回避 on the first enterprise of 卫健乙, or 卫健甲 (whoever holds object 1)
        holder = await db.fetchone(
            "SELECT p.tg_user_id FROM draw_assignments a JOIN inspectors i ON i.id = a.inspector_id"
            " JOIN people p ON p.id = i.person_id WHERE a.seq = 1 AND a.department_code = 'WJW'"
        )
        assert holder is not None
        uid = int(holder[0])
        other = INS4 if uid == INS3 else INS3
        mine = await notice_of(api, uid)
        before_other = len([m for m in api.chat_messages(other) if "检查任务通知" in m.text])
        await press(api, uid, mine, "申请回避：对象 1")
        await until(lambda: "回避理由" in api.chat_messages(uid)[-1].text)
        [ok] = await say(api, uid, "曾在该养老院任职")
        assert "已按同样规则重新抽取替换人员" in ok.text
        await until(
            lambda: (
                len([m for m in api.chat_messages(other) if "检查任务通知" in m.text])
                > before_other
            )
        )
        told = await until(lambda: [m for m in api.chat_messages(WJW_L) if "回避" in m.text])
        assert "曾在该养老院任职" in told[-1].text
        row = await db.fetchone("SELECT count(*) FROM draw_conflicts")
        assert row is not None and row[0] == 1

        [verified] = await say(api, LEAD, "/verify 1")
        assert "✅ 结果一致" in verified.text

        # 09:00 the next working day: one reminder to whoever has not pressed 收到
        await sender_of(app).idle()
        clock.set_source(lambda: datetime(2026, 12, 1, 1, 5, tzinfo=UTC))
        before = len([m for m in api.chat_messages(INS1) if "提醒" in m.text])
        await engine.run_due(app)
        await engine.run_due(app)
        await until(lambda: [m for m in api.chat_messages(INS1) if "提醒" in m.text])
        await sender_of(app).idle()
        assert len([m for m in api.chat_messages(INS1) if "提醒" in m.text]) == before + 1
        assert not [m for m in api.chat_messages(INS3) if "提醒" in m.text]  # acknowledged
        # a working day later their liaison is told
        clock.set_source(lambda: datetime(2026, 12, 2, 1, 5, tzinfo=UTC))
        await engine.run_due(app)
        await until(lambda: [m for m in api.chat_messages(LEAD) if "尚未确认收到" in m.text])


async def test_draw_refused_for_non_lead_and_shortage_is_explained(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        [refused] = await say(api, WJW_L, "/draw 1")
        assert "只有牵头部门" in refused.text
        await db_of(app).execute("UPDATE inspectors SET active = 0 WHERE department_code = 'WJW'")
        [short] = await say(api, LEAD, "/draw 1")
        assert "县卫健委" in short.text and "还差 1 名" in short.text
        row = await db_of(app).fetchone("SELECT state FROM tasks WHERE id = 1")
        assert row is not None and row[0] == "confirmed"


async def test_platform_import_bad_rows_then_good_file(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        [ask] = await say(api, LEAD, "/drawimport 1")
        assert "统一社会信用代码" in ask.text
        bad = f"统一社会信用代码,执法证号\n{CODES[0]},MZ001、WJ001\n999,MZ001\n".encode()
        before = api.sent_total(LEAD)
        api.send_document(LEAD, "平台.csv", bad)
        await api.wait_for_messages(LEAD, before + 1)
        report = api.chat_messages(LEAD)[-1]
        assert "未导入" in report.text and "第 3 行" in report.text
        row = await db_of(app).fetchone("SELECT count(*) FROM draws")
        assert row is not None and row[0] == 0
        good = f"统一社会信用代码,执法证号\n{CODES[0]},MZ001、WJ001\n{CODES[1]},MZ002、WJ002\n"
        before = api.sent_total(LEAD)
        api.send_document(LEAD, "平台.csv", good.encode())
        await api.wait_for_messages(LEAD, before + 1)
        done = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "平台抽取结果导入" in m.text]
        )
        assert "抽取对象 2 家" in done[-1].text
        await notice_of(api, INS1)
        await sender_of(app).idle()  # the notices the import queued are out before /verify
        [verified] = await say(api, LEAD, "/verify 1")
        assert "✅ 结果一致" in verified.text and "平台导入" in verified.text


async def test_swap_needs_a_reason_and_enterprise_notice(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        row = await db_of(app).fetchone(
            "SELECT i.certificate_no FROM draw_assignments a JOIN inspectors i"
            " ON i.id = a.inspector_id WHERE a.seq = 2 AND a.department_code = 'MZJ'"
        )
        assert row is not None
        old = row[0]
        new = "MZ002" if old == "MZ001" else "MZ001"
        [usage] = await say(api, LEAD, f"/swap 1 2 {old} {new}")
        assert "用法" in usage.text
        await say(api, LEAD, f"/swap 1 2 {old} {new} 借调外出")
        await until(lambda: [m for m in api.chat_messages(LEAD) if "已调换" in m.text])
        told = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "理由：借调外出" in m.text]
        )
        assert new in told[-1].text
        await sender_of(app).idle()
        [doc] = await say(api, LEAD, "/notice 1 2")
        assert doc.document is not None


async def _conflict_prompt(api: FakeBotApi, app: Any) -> int:
    """/draw 1, then whoever holds object 1 for 卫健 presses 申请回避 and is asked why."""
    await say(api, LEAD, "/draw 1")
    await sender_of(app).idle()
    holder = await db_of(app).fetchone(
        "SELECT p.tg_user_id FROM draw_assignments a JOIN inspectors i ON i.id = a.inspector_id"
        " JOIN people p ON p.id = i.person_id WHERE a.seq = 1 AND a.department_code = 'WJW'"
    )
    assert holder is not None
    uid = int(holder[0])
    await press(api, uid, await notice_of(api, uid), "申请回避：对象 1")
    await until(lambda: "回避理由" in api.chat_messages(uid)[-1].text)
    return uid


async def _conflicts(app: Any) -> int:
    row = await db_of(app).fetchone("SELECT count(*) FROM draw_conflicts")
    assert row is not None
    return int(row[0])


async def test_an_old_conflict_prompt_expires(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        uid = await _conflict_prompt(api, app)
        clock.set_source(lambda: datetime(2026, 11, 30, 2, 31, tzinfo=UTC))
        await say(api, uid, "好的")
        assert await _conflicts(app) == 0
        assert any("已等待超过 30 分钟" in m.text for m in api.chat_messages(uid))
        row = await db_of(app).fetchone("SELECT count(*) FROM prompts")
        assert row is not None and row[0] == 0


async def test_any_command_drops_the_conflict_prompt(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        uid = await _conflict_prompt(api, app)
        await say(api, uid, "/help")
        await say(api, uid, "曾在该养老院任职")
        assert await _conflicts(app) == 0


async def test_a_directory_upload_after_an_abandoned_drawimport(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, ADMIN_ID, "/drawimport 1")
        sheet = f"统一社会信用代码,名称\n{CODES[0]},幸福养老院0\n".encode()
        before = api.sent_total(ADMIN_ID)
        api.send_document(ADMIN_ID, "objects.csv", sheet, caption="对象")
        await api.wait_for_messages(ADMIN_ID, before + 2)
        dropped, answer = (m.text for m in api.chat_messages(ADMIN_ID)[-2:])
        assert "已放弃「省平台抽取结果文件（/drawimport）」" in dropped
        assert "平台抽取结果" not in answer and "对象" in answer
        row = await db_of(app).fetchone("SELECT count(*) FROM prompts")
        assert row is not None and row[0] == 0
        row = await db_of(app).fetchone("SELECT count(*) FROM draws")
        assert row is not None and row[0] == 0


async def statuses(app: Any, key: str) -> set[str]:
    rows = await db_of(app).fetchall("SELECT status FROM reminders WHERE dedup_key LIKE ?", (key,))
    return {str(r[0]) for r in rows}


async def test_acknowledgement_reminders_wait_for_the_morning(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        db = db_of(app)

        async def queued(key: str) -> int:
            row = await db.fetchone("SELECT count(*) FROM outbox WHERE dedup_key LIKE ?", (key,))
            assert row is not None
            return int(row[0])

        # Tuesday 23:30 Beijing (the bot was down all day): nothing goes out at night
        clock.set_source(lambda: datetime(2026, 12, 1, 15, 30, tzinfo=UTC))
        await engine.run_due(app)
        assert await queued("rem%") == 0
        assert await statuses(app, "draw:1:ackrem:%") == {"pending"}
        # Wednesday 08:00: missed by more than grace_hours, so it goes into the morning digest
        clock.set_source(lambda: datetime(2026, 12, 2, 0, 0, tzinfo=UTC))
        await engine.run_due(app)
        digest = await until(lambda: [m for m in api.chat_messages(INS1) if "错过" in m.text])
        assert "提醒：请确认收到检查任务" in digest[-1].text
        assert "联合检查 #1" in digest[-1].text
        assert await statuses(app, "draw:1:ackrem:%") == {"digested"}
        # Wednesday 23:30: the liaisons' escalation (due 09:00) waits for the morning too
        clock.set_source(lambda: datetime(2026, 12, 2, 15, 30, tzinfo=UTC))
        await engine.run_due(app)
        assert await statuses(app, "draw:1:ackesc:%") == {"pending"}
        clock.set_source(lambda: datetime(2026, 12, 3, 0, 0, tzinfo=UTC))
        await engine.run_due(app)
        told = await until(lambda: [m for m in api.chat_messages(LEAD) if "尚未确认收到" in m.text])
        assert "民政甲" in told[-1].text
        assert await statuses(app, "draw:1:ackesc:%") == {"digested"}


async def test_reminders_lists_acknowledgement_reminders_until_acknowledged(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        [mine] = await say(api, INS3, "/reminders")
        assert "2026-12-01 09:00 任务通知收到确认提醒" in mine.text
        [lead] = await say(api, LEAD, "/reminders")
        assert "2026-12-02 09:00 检查人员未确认收到（告知联络员）" in lead.text
        [admin] = await say(api, ADMIN_ID, "/reminders")
        assert "任务通知确认 任务#1" in admin.text
        # 收到 reconciles the series: the inspector's reminder and its escalation are gone
        assert "已确认收到" in await press(api, INS3, await notice_of(api, INS3), "收到")
        [after] = await say(api, INS3, "/reminders")
        assert "任务通知收到确认提醒" not in after.text
        wj001 = await db_of(app).fetchone(
            "SELECT id FROM inspectors WHERE certificate_no = 'WJ001'"
        )
        assert wj001 is not None
        pending = await db_of(app).fetchall(
            "SELECT payload FROM reminders WHERE series = 'ack:1' AND status = 'pending'"
        )
        assert [p for p in pending if json.loads(p[0]).get("inspector") == wj001[0]] == []
        # a task that leaves 已抽取 (here: cancelled) takes its reminders with it
        svc = app.bot_data["services"]
        async with db_of(app).transaction() as conn:
            await conn.execute("UPDATE tasks SET state = 'cancelled' WHERE id = 1")
            await engine.task_changed(conn, svc, 1)
        [gone] = await say(api, INS1, "/reminders")
        assert "目前没有安排给您的提醒" in gone.text
        assert await statuses(app, "draw:1:ack%") == {"cancelled"}


async def test_reminders_sent_by_the_previous_version_are_not_sent_again(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """A database of the version that chased acknowledgements itself: draw_notices marks what
    it sent (and no reminder rows exist). The engine does not send those again."""
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        # The old version's database, written in one transaction: a reminder scan between
        # these statements would plan from a half-written state.
        async with db_of(app).transaction() as conn:
            await conn.execute("DELETE FROM reminders WHERE series = 'ack:1'")
            # 民政甲 was reminded by the old scan on Tuesday; 卫健甲's liaison was told already
            await conn.execute(
                "UPDATE draw_notices SET reminded_at = ? WHERE inspector_id IN"
                " (SELECT id FROM inspectors WHERE certificate_no IN ('MZ001', 'WJ001'))",
                ("2026-12-01T01:01:00Z",),
            )
            await conn.execute(
                "UPDATE draw_notices SET escalated_at = ? WHERE inspector_id ="
                " (SELECT id FROM inspectors WHERE certificate_no = 'WJ001')",
                ("2026-12-02T01:01:00Z",),
            )
        clock.set_source(lambda: datetime(2026, 12, 1, 1, 5, tzinfo=UTC))
        await engine.run_due(app)
        await sender_of(app).idle()
        assert not [m for m in api.chat_messages(INS1) if "提醒" in m.text]
        assert not [m for m in api.chat_messages(INS3) if "提醒" in m.text]
        await until(lambda: [m for m in api.chat_messages(INS4) if "提醒" in m.text])  # new
        # Wednesday 09:05: 民政甲's liaison is told (a working day after the old reminder);
        # 卫健甲's liaison, already told, is not told again
        clock.set_source(lambda: datetime(2026, 12, 2, 1, 5, tzinfo=UTC))
        await engine.run_due(app)
        told = await until(lambda: [m for m in api.chat_messages(LEAD) if "尚未确认收到" in m.text])
        assert "民政甲" in told[-1].text
        await sender_of(app).idle()
        await until(lambda: [m for m in api.chat_messages(WJW_L) if "卫健乙（" in m.text])
        assert not [m for m in api.chat_messages(WJW_L) if "卫健甲（" in m.text]


@pytest.mark.parametrize(
    "data",
    ["dr:", "dr:1", "dr:x:ack", "dr:1:ack:2", "dr:1:zz", "dr:1:cf", "dr:1:cf:x", "dr:1:cf:1:2"],
)
async def test_malformed_draw_buttons_get_the_no_longer_valid_alert(
    api: FakeBotApi, tmp_path: Path, data: str
) -> None:
    async with county(api, tmp_path) as app:
        message = await crafted(app, api, INS1, data)
        assert "已失效" in await press(api, INS1, message, "crafted")
        row = await db_of(app).fetchone(
            "SELECT count(*) FROM audit_log WHERE action = 'button.dr' AND outcome = 'refused'"
        )
        assert row is not None and row[0] == 1
        row = await db_of(app).fetchone("SELECT count(*) FROM prompts")
        assert row is not None and row[0] == 0


async def stats_text(api: FakeBotApi) -> str:
    before = len(api.chat_messages(ADMIN_ID))
    api.send_text(ADMIN_ID, "/stats")
    found = await until(
        lambda: [m for m in api.chat_messages(ADMIN_ID)[before:] if "信用风险分类应用率" in m.text]
    )
    return str(found[-1].text)


async def test_a_county_without_credit_grades_shows_zero_not_full_risk_use(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        await db.execute("UPDATE objects SET risk_class = NULL")  # grades never imported
        [done] = await say(api, LEAD, "/draw 1")
        assert "已完成双随机抽取" in done.text
        assert "信用风险分类应用率：0.0%（0/1）" in await stats_text(api)
        # graded, and drawn again: the same draw now counts
        await db.execute("DELETE FROM draw_assignments")
        await db.execute("DELETE FROM draw_objects")
        await db.execute("DELETE FROM draws")
        await db.execute("UPDATE tasks SET state = 'confirmed'")
        await db.execute("UPDATE objects SET risk_class = 'C'")
        [again] = await say(api, LEAD, "/draw 1")
        assert "已完成双随机抽取" in again.text
        assert "信用风险分类应用率：100.0%（1/1）" in await stats_text(api)


async def message_by_id(api: FakeBotApi, uid: int, message_id: int) -> SentMessage:
    return next(m for m in api.chat_messages(uid) if m.message_id == message_id)


async def edited(api: FakeBotApi, uid: int, message_id: int, edits: int) -> SentMessage:
    """The message once it has been edited more than `edits` times."""
    found = await until(
        lambda: [
            m for m in api.chat_messages(uid) if m.message_id == message_id and m.edit_count > edits
        ]
    )
    message: SentMessage = found[-1]
    return message


async def test_every_enterprise_reachable_swap_tells_the_removed_and_inspectors_verify(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        now = clock.now_db()
        for i in range(3, 20):  # 20 enterprises in all, every one drawn (class D)
            await db.execute(
                "INSERT INTO objects (credit_code, name, industry, address, risk_class, status,"
                " created_at, updated_at) VALUES (?, ?, '养老机构', ?, 'D', '在业', ?, ?)",
                (f"91000000000000{i:04d}", f"幸福养老院{i}", f"城关镇{i}号", now, now),
            )
        # 民政乙 is away: 民政甲 inspects all 20 enterprises
        await db.execute("UPDATE inspectors SET active = 0 WHERE certificate_no = 'MZ002'")
        [done] = await say(api, LEAD, "/draw 1")
        assert "抽取对象 20 家" in done.text
        notice = await notice_of(api, INS1)
        assert "您的检查对象共 20 家" in notice.text and "共 4 页" in notice.text
        assert "📍 入企登记：对象 5" in notice.button_texts
        assert "📍 入企登记：对象 15" not in notice.button_texts
        # 下一页 twice: the keyboard is edited in place, the enterprises 11–15
        for expected in ("第 2/4 页", "第 3/4 页"):
            edits = notice.edit_count
            assert expected in await press(api, INS1, notice, "下一页")
            notice = await edited(api, INS1, notice.message_id, edits)
        assert "📍 入企登记：对象 15" in notice.button_texts
        assert "申请回避：对象 15" in notice.button_texts
        assert "上一页" in " ".join(notice.button_texts)
        assert "已入企登记：对象 15" in await press(api, INS1, notice, "📍 入企登记：对象 15")
        row = await db.fetchone(
            "SELECT count(*) FROM result_checkins WHERE task_id = 1 AND seq = 15"
        )
        assert row is not None and row[0] == 1
        # a crafted page number far beyond the last shows the last page, nothing breaks
        forged = await crafted(app, api, INS1, "dr:1:pg:99")
        assert "第 4/4 页" in await press(api, INS1, forged, "crafted")

        # any registered person verifies, an inspector too
        [verified] = await say(api, INS3, "/verify 1")
        assert "✅ 结果一致" in verified.text and "没有权限" not in verified.text

        # /swap on object 15: the 卫健委 inspector taken off is told and their notice updated
        holder = await db.fetchone(
            "SELECT i.certificate_no, p.tg_user_id FROM draw_assignments a"
            " JOIN inspectors i ON i.id = a.inspector_id JOIN people p ON p.id = i.person_id"
            " WHERE a.seq = 15 AND a.department_code = 'WJW' AND a.replaced_at IS NULL"
        )
        assert holder is not None
        old_cert, old_uid = holder[0], int(holder[1])
        new_cert = "WJ002" if old_cert == "WJ001" else "WJ001"
        theirs = await notice_of(api, old_uid)
        total = int(theirs.text.split("您的检查对象共 ")[1].split(" 家")[0])
        [swapped] = await say(api, LEAD, f"/swap 1 15 {old_cert} {new_cert} 工作调整")
        assert "工作调整" in swapped.text or new_cert in swapped.text
        told = await until(lambda: [m for m in api.chat_messages(old_uid) if "调出" in m.text])
        assert "对象 15" in told[-1].text and "工作调整" in told[-1].text
        assert "幸福养老院14" in told[-1].text  # object 15: the 15th credit code, index 14
        after = await edited(api, old_uid, theirs.message_id, theirs.edit_count)
        assert f"您的检查对象共 {total - 1} 家" in after.text
        assert "幸福养老院14" not in after.text
        assert "申请回避：对象 15" not in " ".join(after.button_texts)
