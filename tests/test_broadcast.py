"""/broadcast end to end: the real Application, the outbox and the fake Bot API."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import clock
from bot.db import Database
from bot.render import Button
from bot.store import outbox as outbox_store
from tests.fakeapi import FakeBotApi, Fault, Limits, SentMessage
from tests.outbox_support import (
    ADMIN_ID,
    NO_LIMITS,
    Admin,
    add_department,
    add_inspector,
    add_person,
    compose,
    db_of,
    open_chat,
    running_bot,
    sender_of,
    settings_for,
    until,
)


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi(limits=NO_LIMITS)
    await api.start()
    open_chat(api, ADMIN_ID, "县局管理员")
    try:
        yield api
    finally:
        await api.stop()


async def seed_county(db: Database) -> None:
    """Two departments; inspectors (one never opened the bot); liaisons; who is who below."""
    await add_department(db, "MZJ", "县民政局")
    await add_department(db, "SCJG", "县市场监管局")
    await add_inspector(db, "13010001", "张三", "SCJG")
    await add_inspector(db, "13010002", "李四", "SCJG")  # no Telegram account: never opened
    await add_inspector(db, "13020001", "王五", "MZJ")
    await add_person(db, 2001, "张三", inspector_certificate="13010001")
    await add_person(db, 2002, "王五", inspector_certificate="13020001")
    await add_person(db, 2003, "民政联络员", liaison_of="MZJ")
    await add_person(db, 2004, "市场联络员", liaison_of="SCJG")


def open_county_chats(api: FakeBotApi) -> None:
    for uid, name in ((2001, "张三"), (2002, "王五"), (2003, "民政联络员")):
        open_chat(api, uid, name)
    api.add_user(2004, "市场联络员")  # onboarded long ago, then deleted the chat: 403


async def progress_message(api: FakeBotApi) -> SentMessage:
    await until(
        lambda: [m for m in api.chat_messages(ADMIN_ID) if "群发" in m.text and "#" in m.text]
    )
    return next(m for m in api.chat_messages(ADMIN_ID) if "群发进行中" in m.html or "#" in m.text)


async def report(api: FakeBotApi, timeout: float = 10.0) -> SentMessage:  # noqa: ASYNC109
    found = await until(
        lambda: [m for m in api.chat_messages(ADMIN_ID) if "送达报告" in m.text], timeout=timeout
    )
    message: SentMessage = found[0]
    return message


# -- the whole flow -------------------------------------------------------------------------------


async def test_broadcast_to_everyone_arrives_once_and_reports_who_was_missed(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        await seed_county(db)
        fake.block_bot(2002)  # Telegram tells the bot (my_chat_member: kicked)
        await until(lambda: db.fetchone("SELECT 1 FROM people WHERE tg_user_id = 2002"
                                        " AND reachable = 0"))  # fmt: skip
        text = "明天 9:00 开会 <带上材料> & 证件"
        confirm = await compose(admin, "所有人", text)
        # the administrator, 1 inspector, 2 liaisons; the blocked inspector is named, not counted
        assert "将发送给 4 人" in confirm.text and "另有 2 人收不到" in confirm.text
        assert "1 人已屏蔽机器人（Telegram 已告知），不会发送：王五（县民政局）" in confirm.text
        assert "1 人尚未注册" in confirm.text and "李四（县市场监管局）" in confirm.text
        await admin.press(confirm, "立即发送")
        await until(lambda: "已开始" in admin.current(confirm).text)  # 2 s may not do under load
        for uid in (2001, 2003):
            [got] = await fake.wait_for_messages(uid, 1)
            assert got.text == text and got.html == "明天 9:00 开会 &lt;带上材料&gt; &amp; 证件"
        found = await report(fake)
        await sender_of(app).idle()
        assert "已送达 <b>3</b>" in found.html  # the administrator, 张三, 民政联络员
        assert "未送达 <b>3</b>" in found.html
        assert "已屏蔽机器人（1 人）：\n王五（县民政局）" in found.text
        assert "从未打开过机器人" in found.text and "市场联络员（县市场监管局）" in found.text
        assert "尚未注册（从未打开过机器人）（1 人）：\n李四（县市场监管局）" in found.text
        progress = next(
            m for m in fake.chat_messages(ADMIN_ID) if "#" in m.text and "群发" in m.text
        )
        assert "群发完成" in progress.text and progress.buttons == []
        assert "已发送 3 · 失败 1 · 待发送 0（共 4）" in progress.text
        assert not [r for r in fake.calls("sendMessage") if r.params.get("chat_id") == 2002]
        # Every recipient got exactly one copy.
        assert [len(fake.chat_messages(uid)) for uid in (2001, 2003)] == [1, 1]
        actions = [r[0] for r in await db.fetchall("SELECT action FROM audit_log ORDER BY id")]
        assert "broadcast.start" in actions and "broadcast.finish" in actions
        row = await db.fetchone("SELECT reachable FROM people WHERE tg_user_id = 2002")
        assert row is not None and row[0] == 0


async def test_telegram_formatting_is_kept_as_safe_html(fake: FakeBotApi, tmp_path: Path) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed_county(db_of(app))
        [card] = await admin.say("/broadcast")
        await admin.press(card, "全部部门联络员")
        text = "请<在周五前>提交报告"
        entities = [{"type": "bold", "offset": 0, "length": 1}]
        before = fake.sent_total(ADMIN_ID)
        fake.world.user_sends(ADMIN_ID, None, {"text": text, "entities": entities}, None)
        _, confirm = (await fake.wait_for_messages(ADMIN_ID, before + 2))[before:]
        assert "将发送给 2 人" in confirm.text
        await admin.press(confirm, "立即发送")
        [got] = await fake.wait_for_messages(2003, 1)
        assert got.html == "<b>请</b>&lt;在周五前&gt;提交报告"
        assert got.entities[0]["type"] == "bold"


async def test_departments_multi_select_and_a_document(fake: FakeBotApi, tmp_path: Path) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed_county(db_of(app))
        await add_department(db_of(app), "WLJ", "县文旅局")
        [card] = await admin.say("/broadcast")
        await admin.press(card, "按部门")
        await admin.press(admin.current(card), "县民政局")
        await admin.press(admin.current(card), "县文旅局")
        await admin.press(admin.current(card), "县文旅局")  # pressed twice: unselected again
        picked = admin.current(card)
        assert "已选：县民政局" in picked.text and "✅ 县民政局" in picked.button_texts
        await admin.press(picked, "完成")
        assert "部门：县民政局" in admin.current(card).text
        preview, confirm = await admin.upload("检查要点.pdf", b"%PDF-1.4 test", "<请查收>", 2)
        assert preview.document is not None and preview.text == "<请查收>"
        assert "将发送给 2 人" in confirm.text  # 王五 (inspector) and 民政联络员 (liaison)
        await admin.press(confirm, "立即发送")
        for uid in (2002, 2003):
            [got] = await fake.wait_for_messages(uid, 1)
            assert got.document is not None and got.document.content == b"%PDF-1.4 test"
            assert got.document.file_name == "检查要点.pdf" and got.text == "<请查收>"
        found = await report(fake)
        assert "全部送达" in found.text
        assert fake.chat_messages(2001) == []  # SCJG was not chosen


async def test_broadcast_to_the_coordination_group(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.add_group(-5000, "县联合抽查协调群", creator_id=ADMIN_ID)
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        fake.add_bot_to_group(-5000, ADMIN_ID)
        await fake.wait_for_messages(-5000, 1)  # the bot's greeting
        await db.execute("UPDATE chats SET is_coordination = 1 WHERE chat_id = -5000")
        confirm = await compose(admin, "协调群", "本周五开协调会")
        assert "将发送到协调群“县联合抽查协调群”" in confirm.text
        await admin.press(confirm, "立即发送")
        messages = await fake.wait_for_messages(-5000, 2)
        assert messages[-1].text == "本周五开协调会"
        assert "全部送达" in (await report(fake)).text


async def test_only_administrators_may_broadcast(fake: FakeBotApi, tmp_path: Path) -> None:
    open_county_chats(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed_county(db_of(app))
        fake.send_text(2003, "/broadcast")
        [answer] = await fake.wait_for_messages(2003, 1)
        assert "没有使用这个功能的权限" in answer.text
        row = await db_of(app).fetchone(
            "SELECT outcome FROM audit_log WHERE action = 'command.broadcast'"
        )
        assert row is not None and row[0] == "refused"


# -- state across restarts, /cancel ----------------------------------------------------------


async def test_draft_survives_a_restart_and_cancel_discards_it(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    settings = settings_for(fake, tmp_path / "b.sqlite3")
    async with running_bot(settings) as app:
        await seed_county(db_of(app))
        [card] = await admin.say("/broadcast")
        await admin.press(card, "全部执法检查人员")
    async with running_bot(settings) as app:
        # The bot restarted: the next message is still taken as the broadcast text.
        preview, confirm = await admin.say("重启后写的内容", expect=2)
        assert preview.text == "重启后写的内容" and "确认群发" in confirm.text
        assert "将发送给 2 人" in confirm.text and "李四" in confirm.text
        # A button on the first card still works after the restart.
        await admin.press(admin.current(card), "修改接收对象")
        assert "第一步" in admin.current(card).text
        [answer] = await admin.say("/cancel")
        assert answer.text == "已取消。"
        row = await db_of(app).fetchone("SELECT status FROM broadcasts")
        assert row is not None and row[0] == "discarded"
        # The draft is gone: text is no longer taken as broadcast content.
        [answer] = await admin.say("随便说一句")
        assert "没有看懂" in answer.text
        assert await admin.press(confirm, "立即发送") == "这条群发已经发出、取消或放弃了。"
    assert all(fake.chat_messages(uid) == [] for uid in (2001, 2002))


async def test_restart_in_the_middle_of_a_broadcast_delivers_everything_once(
    tmp_path: Path,
) -> None:
    # 40 recipients at 10 messages a second; the bot stops after about a third and restarts.
    limits = Limits(global_per_second=12)
    async with FakeBotApi(limits=limits) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        people = list(range(3000, 3040))
        for uid in people:
            open_chat(api, uid, f"联络员{uid}")
        settings = settings_for(
            api,
            tmp_path / "b.sqlite3",
            overall_per_second=10.0,
            overall_burst=1.0,
            private_per_second=1.0,
            private_burst=3.0,
        )
        admin = Admin(api)
        async with running_bot(settings) as app:
            db = db_of(app)
            await add_department(db, "MZJ", "县民政局")
            for uid in people:
                await add_person(db, uid, f"联络员{uid}", liaison_of="MZJ")
            confirm = await compose(admin, "全部部门联络员", "分两次送达的通知")
            await admin.press(confirm, "立即发送")
            await until(lambda: sum(api.sent_total(uid) for uid in people) >= 12)
        in_flight = await _count(
            settings.db_path, "SELECT count(*) FROM outbox WHERE status = 'sending'"
        )
        delivered_before = sum(api.sent_total(uid) for uid in people)
        assert delivered_before < 40
        await asyncio.sleep(1.0)  # a restart takes a moment; Telegram's buckets refill meanwhile
        async with running_bot(settings) as app:
            await report(api, timeout=15)
            recovered = sender_of(app).stats.recovered
        copies = Counter({uid: api.sent_total(uid) for uid in people})
        assert all(copies[uid] >= 1 for uid in people)  # nothing lost
        duplicates = sum(n - 1 for n in copies.values())
        assert duplicates <= in_flight == recovered  # only what was in flight may repeat
        assert not [e for e in api.errors if e.status == 429]


async def _count(path: Path, sql: str) -> int:
    from bot.db import open_database

    async with open_database(path, migrate=False) as db:
        row = await db.fetchone(sql)
        return int(row[0]) if row else 0


async def test_a_running_broadcast_can_be_stopped(tmp_path: Path) -> None:
    async with FakeBotApi(limits=NO_LIMITS) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        people = list(range(4000, 4030))
        for uid in people:
            open_chat(api, uid, f"检查员{uid}")
        settings = settings_for(
            api,
            tmp_path / "b.sqlite3",
            overall_per_second=6.0,
            overall_burst=1.0,
            broadcast_progress_seconds=0.5,
        )
        admin = Admin(api)
        async with running_bot(settings) as app:
            db = db_of(app)
            await add_department(db, "SCJG", "县市场监管局")
            for uid in people:
                await add_inspector(db, f"C{uid}", f"检查员{uid}", "SCJG")
                await add_person(db, uid, f"检查员{uid}", inspector_certificate=f"C{uid}")
            confirm = await compose(admin, "全部执法检查人员", "这条会被中途停止")
            started = asyncio.get_running_loop().time()
            await admin.press(confirm, "立即发送")
            progress = await progress_message(api)
            await until(lambda: sum(api.sent_total(uid) for uid in people) >= 8)
            assert await admin.press(admin.current(progress), "停止群发") == "已停止群发。"
            found = await report(api)
            await sender_of(app).idle()
            sent = sum(api.sent_total(uid) for uid in people)
            assert 8 <= sent < 30
            assert "中途停止" in found.text and "群发已停止，未发送" in found.text
            assert f"已送达 <b>{sent}</b>" in found.html
            final = admin.current(progress)
            assert "群发已停止" in final.text and final.buttons == []
            # Progress was shown while it ran, at most one edit every 0.5 s (plus the final one).
            elapsed = asyncio.get_running_loop().time() - started
            assert 2 <= final.edit_count <= 2 + elapsed / 0.5
            row = await db.fetchone("SELECT actor FROM audit_log WHERE action = 'broadcast.cancel'")
            assert row is not None and row[0] == ADMIN_ID
        await asyncio.sleep(0.3)
        assert sum(api.sent_total(uid) for uid in people) == sent


# -- scheduling ------------------------------------------------------------------------------


async def test_scheduled_broadcast_survives_a_restart_and_goes_out_on_time(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    settings = settings_for(fake, tmp_path / "b.sqlite3")
    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    clock.set_source(lambda: now)
    try:
        async with running_bot(settings) as app:
            await seed_county(db_of(app))
            confirm = await compose(admin, "全部部门联络员", "定时的通知")
            await admin.press(confirm, "定时发送")
            assert "定时群发" in admin.current(confirm).text
            [problem] = await admin.say("下周某天")
            assert "没有看懂这个时间" in problem.text
            [problem] = await admin.say("2026-11-29 09:00")
            assert "已经过去" in problem.text
            [scheduled] = await admin.say("明天 9:00")
            assert "2026-12-01 09:00" in scheduled.text and "取消定时" in scheduled.button_texts
        assert fake.chat_messages(2003) == []
        async with running_bot(settings) as app:
            await asyncio.sleep(0.3)
            assert fake.chat_messages(2003) == []  # not yet
            clock.set_source(lambda: datetime(2026, 12, 1, 1, 0, 1, tzinfo=UTC))  # 09:00:01
            [got] = await fake.wait_for_messages(2003, 1)
            assert got.text == "定时的通知"
            found = await report(fake)
            assert "市场联络员" in found.text  # 2004 never started the bot
            row = await db_of(app).fetchone(
                "SELECT status, scheduled_at FROM broadcasts WHERE status != 'discarded'"
            )
            assert row is not None and tuple(row) == ("done", "2026-12-01T01:00:00Z")
    finally:
        clock.reset()


async def test_a_scheduled_broadcast_can_be_called_off(fake: FakeBotApi, tmp_path: Path) -> None:
    open_county_chats(fake)
    admin = Admin(fake)
    now = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    clock.set_source(lambda: now)
    try:
        async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
            await seed_county(db_of(app))
            confirm = await compose(admin, "所有人", "不会发出的通知")
            await admin.press(confirm, "定时发送")
            [scheduled] = await admin.say("2026-11-30 15:30")
            assert "2026-11-30 15:30" in scheduled.text
            assert await admin.press(scheduled, "取消定时") == "已取消定时。"
            assert "已取消这次定时群发" in admin.current(scheduled).text
            clock.set_source(lambda: now + timedelta(days=1))
            await asyncio.sleep(0.5)
            assert all(fake.chat_messages(uid) == [] for uid in (2001, 2002, 2003))
            row = await db_of(app).fetchone(
                "SELECT action FROM audit_log WHERE action = 'broadcast.cancel'"
            )
            assert row is not None
    finally:
        clock.reset()


async def test_a_long_undelivered_list_comes_as_a_csv_file(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 2003, "民政联络员")
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        await add_department(db, "MZJ", "县民政局")
        await add_person(db, 2003, "民政联络员", liaison_of="MZJ")
        for i in range(35):
            await add_inspector(db, f"C{i:03}", f"未注册{i:02}", "MZJ")
        [card] = await admin.say("/broadcast")
        await admin.press(card, "按部门")
        await admin.press(admin.current(card), "县民政局")
        await admin.press(admin.current(card), "完成")
        _, confirm = await admin.say("部门通知", expect=2)
        assert "另有 35 人收不到" in confirm.text and "35 人尚未注册" in confirm.text
        assert "未注册09（县民政局）等。" in confirm.text
        await admin.press(confirm, "立即发送")
        found = await report(fake)
        assert "（35 人）" in found.text and "未注册29（县民政局）等 35 人" in found.text
        assert "完整的未送达名单见附件" in found.text
        await fake.wait_for(lambda: fake.chat_messages(ADMIN_ID)[-1].kind == "document")
        attachment = fake.chat_messages(ADMIN_ID)[-1]
        assert attachment.document is not None
        assert attachment.document.file_name == "群发1未送达名单.csv"
        rows = attachment.document.content.decode("utf-8-sig").splitlines()
        assert rows[0] == "姓名,部门,原因,Telegram 说明"
        assert rows[1] == "未注册00,县民政局,尚未注册（从未打开过机器人）,"
        assert len(rows) == 36


# -- outages and resending ---------------------------------------------------------------------


async def broadcast_to_liaisons(
    api: FakeBotApi, db: Database, people: list[int], outage: float | None
) -> tuple[Admin, Fault]:
    """Compose a broadcast to `people`; Telegram goes down (sendMessage: 502 for `outage`
    seconds, None: until ended) just before 立即发送 is pressed."""
    await add_department(db, "MZJ", "县民政局")
    for uid in people:
        open_chat(api, uid, f"联络员{uid}")
        await add_person(db, uid, f"联络员{uid}", liaison_of="MZJ")
    admin = Admin(api)
    confirm = await compose(admin, "全部部门联络员", "停电通知")
    fault = api.outage(outage)
    await admin.press(confirm, "立即发送")  # a button: answered and edited, not sendMessage
    return admin, fault


async def test_an_outage_shorter_than_the_budget_fails_nothing_and_delivers_each_copy_once(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    people = list(range(3000, 3030))
    settings = settings_for(fake, tmp_path / "b.sqlite3", retry_budget_seconds=60.0)
    async with running_bot(settings) as app:
        _, outage = await broadcast_to_liaisons(fake, db_of(app), people, 2.0)
        found = await report(fake, timeout=20)
        assert outage.served > 0 and sender_of(app).stats.outages >= 1
    assert "已送达 <b>30</b> · 未送达 <b>0</b>" in found.html and "全部送达" in found.text
    assert found.buttons == []  # nothing to resend
    copies = Counter(m.chat_id for uid in people for m in fake.chat_messages(uid))
    assert copies == Counter({uid: 1 for uid in people})


async def test_budget_exceeded_is_reported_and_the_resend_button_delivers_once(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    people = list(range(3100, 3105))
    settings = settings_for(fake, tmp_path / "b.sqlite3", retry_budget_seconds=2.0)
    async with running_bot(settings) as app:
        db = db_of(app)
        admin, outage = await broadcast_to_liaisons(fake, db, people, None)
        failed = "SELECT count(*) FROM outbox WHERE status = 'failed' AND error = 'network'"
        await until(lambda: _at_least(db, failed, 5), timeout=20)
        outage.end()  # Telegram is back: the report (queued meanwhile) goes out
        first = await report(fake, timeout=20)
        assert "已送达 <b>0</b> · 未送达 <b>5</b>" in first.html
        assert "网络" in first.text and "发送失败的 5 人可以点下面的按钮重发" in first.text
        # Only administrators: a liaison pressing a crafted copy of the button is refused.
        async with db.transaction() as conn:
            await outbox_store.enqueue(
                conn, people[0], "伪造", keyboard=[[Button("重发", data=button(first, "重发"))]]
            )
        [crafted] = await fake.wait_for_messages(people[0], 1)
        queued = await db.fetchone("SELECT count(*) FROM outbox")
        answers = len(fake.callback_answers)
        fake.press_button(people[0], people[0], crafted.message_id, button(crafted, "重发"))
        await until(lambda: len(fake.callback_answers) > answers)
        assert await db.fetchone("SELECT count(*) FROM outbox") == queued
        refused = await db.fetchone(
            "SELECT actor, outcome FROM audit_log WHERE action LIKE 'button.bc:%:re'"
        )
        assert refused is not None and str(refused[0]) == str(people[0])
        assert refused[1] == "refused"
        # A double tap: two presses reach the bot before it has answered the first.
        data = button(first, "重发给未送达的人")
        answers = len(fake.callback_answers)
        fake.press_button(ADMIN_ID, ADMIN_ID, first.message_id, data)
        fake.press_button(ADMIN_ID, ADMIN_ID, first.message_id, data)
        await until(lambda: len(fake.callback_answers) >= answers + 2)
        texts = [str(a.get("text")) for a in fake.callback_answers[answers:]]
        assert "已为 5 人重新排队" in texts[0]
        assert "正在发送中" in texts[1] or "没有需要重发" in texts[1]
        await until(lambda: admin.current(first).buttons == [])  # the report loses its button
        second = await until(
            lambda: [m for m in fake.chat_messages(ADMIN_ID) if "第 2 轮" in m.text], timeout=20
        )
        assert "已送达 <b>5</b> · 未送达 <b>0</b>" in second[0].html
        rounds = await db.fetchone("SELECT rounds, status FROM broadcasts")
        assert rounds is not None and tuple(rounds) == (2, "done")
        audit = await db.fetchall("SELECT actor FROM audit_log WHERE action = 'broadcast.resend'")
        assert [str(r[0]) for r in audit] == [str(ADMIN_ID)]
    for uid in people:
        copies = [m.text for m in fake.chat_messages(uid) if m.text != "伪造"]
        assert copies == ["停电通知"]  # exactly once


async def _at_least(db: Database, sql: str, count: int) -> bool:
    row = await db.fetchone(sql)
    return row is not None and int(row[0]) >= count


def button(message: SentMessage, label: str) -> str:
    return next(data for row in message.buttons for text, data in row if label in text)
