"""The durable outbox end to end: the real Application and sender against the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot import clock
from bot.db import Database
from bot.store import outbox
from tests.fakeapi import FakeBotApi, Limits
from tests.outbox_support import (
    ADMIN_ID,
    NO_LIMITS,
    Admin,
    add_department,
    add_person,
    compose,
    db_of,
    fail_method,
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
    try:
        yield api
    finally:
        await api.stop()


async def queue_texts(db: Database, chat_id: int, texts: list[str]) -> list[int]:
    async with db.transaction() as conn:
        return [await outbox.enqueue(conn, chat_id, text) for text in texts]


async def status_of(db: Database, row_id: int) -> tuple[str, str | None]:
    row = await outbox.get(db, row_id)
    assert row is not None
    return row.status, row.error


def max_in_window(times: list[float], window: float) -> int:
    best = 0
    start = 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def throttled(api: FakeBotApi) -> list[int]:
    """429 answers the fake gave."""
    return [e.status for e in api.errors if e.status == 429]


def send_times(api: FakeBotApi, *methods: str) -> list[float]:
    wanted = {m.lower() for m in methods or ("sendMessage",)}
    return sorted(r.at for r in api.requests if r.method.lower() in wanted)


# -- queueing --------------------------------------------------------------------------------


async def test_messages_queued_in_a_transaction_arrive_once_and_in_order(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    for uid in (1, 2, 3):
        open_chat(fake, uid, f"u{uid}")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        async with db.transaction() as conn:
            for i in range(8):
                for uid in (1, 2, 3):
                    await outbox.enqueue(conn, uid, f"<b>第{i}条</b> 给 {uid}")
        for uid in (1, 2, 3):
            messages = await fake.wait_for_messages(uid, 8)
            assert [m.text for m in messages] == [f"第{i}条 给 {uid}" for i in range(8)]
            assert messages[0].html == f"<b>第0条</b> 给 {uid}"
        await sender_of(app).idle()
        assert (await outbox.counts(db)) == {"sent": 24}


async def test_rolled_back_transaction_sends_nothing_and_dedup_key_queues_once(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 5, "u5")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await outbox.enqueue(conn, 5, "never")
                raise RuntimeError("the change failed")
        async with db.transaction() as conn:
            first = await outbox.enqueue(conn, 5, "once", dedup_key="reminder:1")
            again = await outbox.enqueue(conn, 5, "once again", dedup_key="reminder:1")
        assert first == again
        await fake.wait_for_messages(5, 1)
        await sender_of(app).idle()
        assert [m.text for m in fake.chat_messages(5)] == ["once"]


async def test_long_text_is_split_and_keyboard_goes_on_the_last_part(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    from bot.render import Button, Rendered

    open_chat(fake, 6, "u6")
    text = "\n".join(f"第{i}行 " + "字" * 60 for i in range(150))
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        async with db_of(app).transaction() as conn:
            await outbox.enqueue(conn, 6, Rendered(text, [[Button("收到", data="ack:1")]]))
        await sender_of(app).idle()
    messages = fake.chat_messages(6)
    assert len(messages) == 3
    assert "\n".join(m.text for m in messages) == text
    assert [m.buttons for m in messages] == [[], [], [[("收到", "ack:1")]]]


async def test_edit_changes_the_message_the_outbox_sent(fake: FakeBotApi, tmp_path: Path) -> None:
    from bot.render import Button, Rendered

    open_chat(fake, 7, "u7")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        async with db.transaction() as conn:
            card = await outbox.enqueue(conn, 7, Rendered("待确认", [[Button("确认", data="c:1")]]))
            await outbox.enqueue_edit(conn, card, "<i>已确认</i>")
            await outbox.enqueue_edit(conn, card, "<i>已确认</i>")  # no change: not an error
            gone = await outbox.enqueue(conn, 7, "取消的消息")
            await outbox.cancel(conn, [gone])
            orphan = await outbox.enqueue_edit(conn, gone, "改不了")
        await sender_of(app).idle()
        [message] = fake.chat_messages(7)
        assert message.text == "已确认" and message.edited and message.buttons == []
        assert await status_of(db, orphan) == ("failed", "edit_target_missing")


async def test_documents_are_uploaded_once_then_sent_by_file_id(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    for uid in (8, 9):
        open_chat(fake, uid, f"u{uid}")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        async with db.transaction() as conn:
            blob = await outbox.put_blob(conn, "通知内容".encode())
            await outbox.enqueue_document(
                conn, 8, blob_id=blob, file_name="通知.txt", caption="<b>请查收</b>"
            )
        await sender_of(app).idle()
        async with db.transaction() as conn:
            await outbox.enqueue_document(conn, 9, blob_id=blob, file_name="通知.txt")
        await sender_of(app).idle()
    for uid in (8, 9):
        [message] = fake.chat_messages(uid)
        assert message.document is not None and message.document.content == "通知内容".encode()
    assert fake.chat_messages(8)[0].text == "请查收"
    uploads = [r.params["document"] for r in fake.calls("sendDocument")]
    assert isinstance(uploads[0], dict) and isinstance(uploads[1], str)  # upload, then file id


async def test_a_message_queued_for_later_waits_for_its_time(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 10, "u10")
    start = clock.now()
    try:
        clock.set_source(lambda: start)
        async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
            async with db_of(app).transaction() as conn:
                await outbox.enqueue(conn, 10, "later", not_before=start + timedelta(hours=1))
                await outbox.enqueue(conn, 10, "now")
            await fake.wait_for_messages(10, 1)
            await asyncio.sleep(0.3)
            assert [m.text for m in fake.chat_messages(10)] == ["now"]
            clock.set_source(lambda: start + timedelta(hours=1))
            await fake.wait_for_messages(10, 2)
    finally:
        clock.reset()


# -- pacing ------------------------------------------------------------------------------------
# Scaled-down limits keep these short: the fake enforces N/s, the bot is set just under it.


async def test_overall_pace_stays_under_the_limit_without_429(tmp_path: Path) -> None:
    limits = Limits(global_per_second=10, private_burst=5, private_per_second=1.0)
    async with FakeBotApi(limits=limits) as api:
        for uid in range(100, 125):
            open_chat(api, uid, f"u{uid}")
        settings = settings_for(
            api,
            tmp_path / "b.sqlite3",
            overall_per_second=9.0,
            overall_burst=1.0,
            private_per_second=1.0,
            private_burst=3.0,
        )
        async with running_bot(settings) as app:
            async with db_of(app).transaction() as conn:
                for uid in range(100, 125):
                    await outbox.enqueue(conn, uid, "通知")
            await sender_of(app).idle(timeout=15)
        times = send_times(api)
        assert len(times) == 25 and not throttled(api)
        assert max_in_window(times, 1.0) <= 10
        rate = (len(times) - 1) / (times[-1] - times[0])
        assert 8.0 <= rate <= 10.0


async def test_private_chat_pace_is_one_a_second_scaled(tmp_path: Path) -> None:
    # The fake allows a burst of 2 then 5/s per private chat; the bot sends 4.5/s.
    limits = Limits(private_burst=2, private_per_second=5.0)
    async with FakeBotApi(limits=limits) as api:
        open_chat(api, 200, "u200")
        settings = settings_for(
            api, tmp_path / "b.sqlite3", private_per_second=4.5, private_burst=2.0
        )
        async with running_bot(settings) as app:
            await queue_texts(db_of(app), 200, [f"m{i}" for i in range(10)])
            await api.wait_for_messages(200, 10, timeout=10)
        assert not throttled(api)
        assert [m.text for m in api.chat_messages(200)] == [f"m{i}" for i in range(10)]
        times = send_times(api)
        assert times[-1] - times[0] >= (10 - 2) / 4.5 - 0.1


async def test_group_pace_stays_under_the_per_group_limit(tmp_path: Path) -> None:
    # The fake allows 6 messages per 1 s window per group (Telegram: 20 per 60 s). The bot
    # paces at 5 a second: the margin absorbs the scheduling jitter of a busy machine (the
    # suite runs on every core), which can bring two sends closer at the fake than they left.
    limits = Limits(group_per_minute=6, group_window=1.0)
    async with FakeBotApi(limits=limits) as api:
        api.add_user(300, "群主")
        api.add_group(-300, "协调群", creator_id=300)
        api.add_bot_to_group(-300, 300)
        settings = settings_for(
            api, tmp_path / "b.sqlite3", group_per_minute=5.0 * 60, group_burst=1.0
        )
        async with running_bot(settings) as app:
            await queue_texts(db_of(app), -300, [f"g{i}" for i in range(12)])
            await api.wait_for_messages(-300, 13, timeout=10)
        assert not throttled(api)
        # The bot's greeting (a direct reply) shares the group's pace with the outbox messages.
        texts = [m.text for m in api.chat_messages(-300)]
        assert [t for t in texts if t.startswith("g")] == [f"g{i}" for i in range(12)]
        times = send_times(api)
        assert len(times) == 13 and max_in_window(times, 1.0) <= 6


async def test_429_pauses_the_chat_and_everything_still_arrives_in_order(tmp_path: Path) -> None:
    # The bot is told it may go much faster than the fake allows: it gets 429s and must cope.
    limits = Limits(private_burst=2, private_per_second=3.0)
    async with FakeBotApi(limits=limits) as api:
        open_chat(api, 400, "u400")
        open_chat(api, 401, "u401")
        async with running_bot(settings_for(api, tmp_path / "b.sqlite3")) as app:
            db = db_of(app)
            await queue_texts(db, 400, [f"a{i}" for i in range(5)])
            await queue_texts(db, 401, ["other chat"])
            await api.wait_for_messages(401, 1, timeout=2)  # not held up by chat 400's pause
            await api.wait_for_messages(400, 5, timeout=10)
            stats = sender_of(app).stats
        assert [m.text for m in api.chat_messages(400)] == [f"a{i}" for i in range(5)]
        assert throttled(api)
        assert stats.rate_limited == len(throttled(api))


# -- failures ----------------------------------------------------------------------------------


async def test_server_errors_are_retried_with_backoff(fake: FakeBotApi, tmp_path: Path) -> None:
    open_chat(fake, 500, "u500")
    served = fail_method(fake, "sendMessage", 500, times=2)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        [row_id] = await queue_texts(db_of(app), 500, ["挺住"])
        await fake.wait_for_messages(500, 1)
        await sender_of(app).idle()
        assert served.served == 2
        assert await status_of(db_of(app), row_id) == ("sent", None)
        assert sender_of(app).stats.retried == 2
    times = send_times(fake)
    assert times[1] - times[0] >= 0.05 and times[2] - times[1] >= 0.1  # 0.05 s, then doubled


async def test_an_outage_shorter_than_the_budget_pauses_everything_and_loses_nothing(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    people = list(range(510, 530))
    for uid in people:
        open_chat(fake, uid, f"u{uid}")
    settings = settings_for(fake, tmp_path / "b.sqlite3", retry_budget_seconds=30.0)
    async with running_bot(settings) as app:
        db = db_of(app)
        outage = fake.outage(1.5)
        loop = asyncio.get_running_loop()
        began = loop.time()
        ids = [(await queue_texts(db, uid, [f"通知{uid}"]))[0] for uid in people]
        await until(lambda: all(fake.chat_messages(uid) for uid in people), timeout=10)
        await sender_of(app).idle()
        stats = sender_of(app).stats
        assert loop.time() - began >= 1.5  # nothing got through the outage
        assert await outbox.counts(db) == {"sent": len(people)}
        # Paused as a whole: the first failures, then one probe at a time (0.05, 0.1, 0.2 … s).
        assert stats.outages == 1
        assert outage.served == stats.outage_failures <= len(people) + 12
        assert stats.probes >= 3 and stats.failed == 0
        rows = [await outbox.get(db, row_id) for row_id in ids]
        assert all(r is not None and r.status == "sent" and r.error is None for r in rows)
    for uid in people:
        assert [m.text for m in fake.chat_messages(uid)] == [f"通知{uid}"]  # once each


async def test_an_outage_longer_than_the_budget_reports_the_messages_failed(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 501, "u501")
    open_chat(fake, 503, "u503")
    outage = fake.outage()  # until ended
    settings = settings_for(fake, tmp_path / "b.sqlite3", retry_budget_seconds=2.0)
    async with running_bot(settings) as app:
        db = db_of(app)
        loop = asyncio.get_running_loop()
        began = loop.time()
        [first, second] = await queue_texts(db, 501, ["一", "二"])
        await until(lambda: _done(db, second), timeout=10)
        # Not before the budget ran out (the database keeps times to the second).
        assert loop.time() - began >= 1.0
        for row_id in (first, second):
            assert await status_of(db, row_id) == ("failed", "network")
        audit = await db.fetchall(
            "SELECT entity_id FROM audit_log WHERE action = 'outbox.failed' ORDER BY entity_id"
        )
        assert [r[0] for r in audit] == [str(first), str(second)]
        assert sender_of(app).stats.given_up >= 1
        # Telegram comes back: the next message goes out (it is the probe that closes it).
        outage.end()
        [later] = await queue_texts(db, 503, ["三"])
        await fake.wait_for_messages(503, 1, timeout=5)
        await until(lambda: _done(db, later))
        assert await status_of(db, later) == ("sent", None)
    assert fake.chat_messages(501) == []


async def _done(db: Database, row_id: int) -> bool:
    row = await outbox.get(db, row_id)
    return row is not None and row.status in ("sent", "failed", "cancelled")


async def test_timeouts_are_retried(fake: FakeBotApi, tmp_path: Path) -> None:
    open_chat(fake, 502, "u502")
    fail_method(fake, "sendMessage", 0, times=1, delay=1.0)  # slow once: the client gives up
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3", timeout_seconds=0.3)) as app:
        [row_id] = await queue_texts(db_of(app), 502, ["慢"])
        await until(lambda: _done(db_of(app), row_id), timeout=10)
        assert await status_of(db_of(app), row_id) == ("sent", None)
        assert sender_of(app).stats.retried == 1
    assert [m.text for m in fake.chat_messages(502)][-1] == "慢"


async def test_blocked_user_is_marked_unreachable_and_not_retried(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 600, "屏蔽者")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        await add_person(db, 600, "屏蔽者")
        fake.block_bot(600)
        ids = await queue_texts(db, 600, ["一", "二", "三"])
        await until(lambda: _done(db, ids[-1]))
        for row_id in ids:
            assert await status_of(db, row_id) == ("failed", "blocked")
        row = await db.fetchone("SELECT reachable FROM people WHERE tg_user_id = 600")
        assert row is not None and row[0] == 0
        assert len(fake.calls("sendMessage")) == 1
        assert sender_of(app).stats.unreachable == 1


async def test_user_who_never_opened_the_bot_is_reported(fake: FakeBotApi, tmp_path: Path) -> None:
    fake.add_user(601, "从未打开")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        [row_id] = await queue_texts(db_of(app), 601, ["你好"])
        await until(lambda: _done(db_of(app), row_id))
        assert await status_of(db_of(app), row_id) == ("failed", "never_started")


async def test_group_upgraded_to_supergroup_gets_the_messages_at_its_new_id(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.add_user(700, "群主")
    fake.add_group(-700, "协调群", creator_id=700)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        fake.add_bot_to_group(-700, 700)
        await until(lambda: db.fetchone("SELECT 1 FROM chats WHERE chat_id = -700"))
        await db.execute("UPDATE chats SET is_coordination = 1 WHERE chat_id = -700")
        fake.migrate_group(-700, -1000700)
        await queue_texts(db, -700, ["第一条", "第二条", "第三条"])
        await fake.wait_for_messages(-1000700, 3)
        await sender_of(app).idle()
        assert [m.text for m in fake.chat_messages(-1000700)] == ["第一条", "第二条", "第三条"]
        row = await db.fetchone("SELECT chat_id FROM chats WHERE is_coordination = 1")
        assert row is not None and row[0] == -1000700
        assert (await outbox.counts(db)) == {"sent": 3}


async def test_malformed_message_is_recorded_and_not_retried(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 800, "u800")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        db = db_of(app)
        [bad, good] = await queue_texts(db, 800, ["<b>没有闭合", "正常"])
        await fake.wait_for_messages(800, 1)
        await sender_of(app).idle()
        row = await outbox.get(db, bad)
        assert row is not None and (row.status, row.error) == ("failed", "bad_request")
        assert row.error_detail and "parse" in row.error_detail
        assert await status_of(db, good) == ("sent", None)
        assert len(fake.calls("sendMessage")) == 2


# -- crash safety and shutdown --------------------------------------------------------------------


async def test_rows_in_flight_at_a_crash_are_sent_again_at_start(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 900, "u900")
    settings = settings_for(fake, tmp_path / "b.sqlite3")
    async with running_bot(settings) as app:
        db = db_of(app)
        await sender_of(app).stop()  # as if the process died right after marking "sending"
        [row_id] = await queue_texts(db, 900, ["在途"])
        await db.execute("UPDATE outbox SET status = 'sending' WHERE id = ?", (row_id,))
    assert fake.chat_messages(900) == []
    async with running_bot(settings) as app:
        await fake.wait_for_messages(900, 1)
        await until(lambda: _done(db_of(app), row_id))
        assert sender_of(app).stats.recovered == 1
        assert await status_of(db_of(app), row_id) == ("sent", None)


async def test_shutdown_parks_a_slow_send_and_the_next_start_delivers_it(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    open_chat(fake, 901, "u901")
    fail_method(fake, "sendMessage", 0, times=1, delay=5.0)
    settings = settings_for(fake, tmp_path / "b.sqlite3", shutdown_seconds=0.2)
    loop = asyncio.get_running_loop()
    async with running_bot(settings) as app:
        [row_id] = await queue_texts(db_of(app), 901, ["关机时在途"])
        await until(lambda: fake.calls("sendMessage"))
        stopping = loop.time()
    assert loop.time() - stopping < 3.0  # stopped within a few seconds
    async with running_bot(settings) as app:
        await fake.wait_for_messages(901, 1)
        await until(lambda: _done(db_of(app), row_id))
        assert sender_of(app).stats.recovered == 1
        assert await status_of(db_of(app), row_id) == ("sent", None)


async def test_direct_replies_still_work_through_the_shared_rate_limiter(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.add_user(902, "路人")
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")):
        fake.send_text(902, "/help")
        [answer] = await fake.wait_for_messages(902, 1)
    assert "/start" in answer.text


async def test_direct_replies_and_the_outbox_share_one_chat_pace_without_429(
    tmp_path: Path,
) -> None:
    """An administrator asks for their draft (/broadcast answers with two messages at once: the
    preview and the card) three times at once, then every 0.5 s, while 20 notices are queued
    for them. Time runs about four times faster than Telegram's (the fake allows 4 a second per
    chat after a burst of 5; the bot paces 3.6 a second): a person typing a command every 2 s
    as notices arrive, after a start like /draw's four replies at once."""
    limits = Limits(private_burst=5, private_per_second=4.0)
    async with FakeBotApi(limits=limits) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        settings = settings_for(
            api, tmp_path / "b.sqlite3", private_per_second=3.6, private_burst=3.0
        )
        async with running_bot(settings) as app:
            db = db_of(app)
            await add_department(db, "MZJ", "县民政局")
            admin = Admin(api)
            await compose(admin, "全部部门联络员", "草稿内容")
            await asyncio.sleep(2.0)  # the chat's bucket refills
            before = api.sent_total(ADMIN_ID)
            await queue_texts(db, ADMIN_ID, [f"通知{i}" for i in range(20)])
            await api.wait_for_messages(ADMIN_ID, before + 3)  # the notices' burst is out
            loop = asyncio.get_running_loop()
            for gap in [0.1] * 3 + [0.5] * 7:  # three at once (six messages), then steadily
                started = loop.time()
                api.send_text(ADMIN_ID, "/broadcast")
                await asyncio.sleep(max(0.0, gap - (loop.time() - started)))
            await api.wait_for_messages(ADMIN_ID, before + 20 + 20, timeout=30)
            await sender_of(app).idle(timeout=30)
            stats = sender_of(app).stats
        texts = [m.text for m in api.chat_messages(ADMIN_ID)[before:]]
        assert throttled(api) == [] and stats.rate_limited == 0  # 0 × 429
        assert sorted(t for t in texts if t.startswith("通知")) == sorted(
            f"通知{i}" for i in range(20)
        )
        assert texts.count("草稿内容") == 10  # every /broadcast answered (preview + card)


async def test_a_restart_during_an_outage_keeps_the_queue_and_the_budget_clock(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    people = list(range(520, 526))
    for uid in people:
        open_chat(fake, uid, f"u{uid}")
    settings = settings_for(fake, tmp_path / "b.sqlite3", retry_budget_seconds=600.0)
    outage = fake.outage()
    async with running_bot(settings) as app:
        db = db_of(app)
        ids = [(await queue_texts(db, uid, ["重启前"]))[0] for uid in people]
        await until(lambda: sender_of(app).stats.outages == 1)
        await asyncio.sleep(0.3)  # a sweep has started every waiting message's clock
        stamped = await db.fetchall("SELECT retry_since FROM outbox WHERE retry_since IS NOT NULL")
        assert len(stamped) == len(people)
    outage.end()
    async with running_bot(settings) as app:
        db = db_of(app)
        await until(lambda: all(fake.chat_messages(uid) for uid in people), timeout=10)
        await sender_of(app).idle()
        assert await outbox.counts(db) == {"sent": len(people)}
        for row_id in ids:
            row = await outbox.get(db, row_id)
            assert row is not None and row.retry_since is not None  # kept across the restart
    for uid in people:
        assert [m.text for m in fake.chat_messages(uid)] == ["重启前"]
