"""Who can be reached (§3 of issue 12), end to end: the real Application over HTTP against the
fake Bot API. A person who blocks the bot is unreachable (Telegram's my_chat_member), and
becomes reachable again by unblocking it, writing to it or pressing a button in the private
chat; the broadcast preview counts them accordingly. Plus the pure rules."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.app import ALLOWED_UPDATES
from bot.domain import reachability as rules
from bot.domain.audience import Recipient, deliverable, without_blocked
from bot.domain.delivery import Reason
from bot.store import outbox as outbox_store
from tests.fakeapi import FakeBotApi
from tests.outbox_support import (
    ADMIN_ID,
    NO_LIMITS,
    Admin,
    add_department,
    add_person,
    compose,
    db_of,
    open_chat,
    running_bot,
    settings_for,
    until,
)

LIAISON, OTHER, GROUP = 4001, 4002, -4100


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi(limits=NO_LIMITS)
    await api.start()
    open_chat(api, ADMIN_ID, "县局管理员")
    open_chat(api, LIAISON, "民政联络员")
    open_chat(api, OTHER, "市场联络员")
    try:
        yield api
    finally:
        await api.stop()


async def reachable(app: Any, uid: int) -> int | None:
    row = await db_of(app).fetchone("SELECT reachable FROM people WHERE tg_user_id = ?", (uid,))
    return None if row is None else int(row[0])


async def becomes(app: Any, uid: int, value: int) -> None:
    async def probe() -> bool:
        return await reachable(app, uid) == value

    await until(probe)


async def evidence(app: Any, uid: int) -> list[tuple[str, str]]:
    rows = await db_of(app).fetchall(
        "SELECT action, detail FROM audit_log WHERE action IN ('person.reachable',"
        " 'person.unreachable') AND entity_id = ? ORDER BY id",
        (str(uid),),
    )
    return [(r[0], json.loads(r[1])["evidence"]) for r in rows]


async def seed(app: Any) -> None:
    db = db_of(app)
    await add_department(db, "MZJ", "县民政局")
    await add_department(db, "SCJG", "县市场监管局")
    await add_person(db, ADMIN_ID, "县局管理员", admin=True)
    await add_person(db, LIAISON, "民政联络员", liaison_of="MZJ")
    await add_person(db, OTHER, "市场联络员", liaison_of="SCJG")


async def test_the_bot_asks_telegram_for_my_chat_member_updates(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    assert "my_chat_member" in ALLOWED_UPDATES
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")):
        polls = await until(lambda: fake.calls("getUpdates"))
        assert "my_chat_member" in polls[0].params["allowed_updates"]
        assert "callback_query" in polls[0].params["allowed_updates"]


async def test_blocking_and_unblocking_the_bot_switch_reachability(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed(app)
        fake.block_bot(LIAISON)  # my_chat_member: member -> kicked
        await becomes(app, LIAISON, 0)
        fake.unblock_bot(LIAISON)  # kicked -> member
        await becomes(app, LIAISON, 1)
        assert await evidence(app, LIAISON) == [
            ("person.unreachable", "membership"),
            ("person.reachable", "membership"),
        ]
        assert await reachable(app, OTHER) == 1  # nobody else is touched


async def test_writing_or_pressing_a_button_in_private_makes_a_person_reachable_again(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed(app)
        db = db_of(app)
        # The outbox learnt of the block from a 403 while the bot was away: no update came.
        await outbox_store.mark_unreachable(db, 0, LIAISON, Reason.BLOCKED, "blocked")
        assert await reachable(app, LIAISON) == 0
        # Same display name as before: once only a changed name reset the flag.
        fake.send_text(LIAISON, "/start")
        await becomes(app, LIAISON, 1)
        # A button press on a message in the private chat is evidence too.
        admin = Admin(fake)
        [card] = await admin.say("/broadcast")
        await outbox_store.mark_unreachable(db, 0, ADMIN_ID, Reason.BLOCKED, "blocked")
        await admin.press(card, "全部部门联络员")
        await becomes(app, ADMIN_ID, 1)
        assert await evidence(app, LIAISON) == [("person.reachable", "message")]
        assert await evidence(app, ADMIN_ID) == [("person.reachable", "button")]


async def test_a_group_message_says_nothing_about_the_private_chat(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    fake.add_group(GROUP, "县联合抽查协调群", creator_id=ADMIN_ID)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed(app)
        fake.add_bot_to_group(GROUP, ADMIN_ID)
        await fake.wait_for_messages(GROUP, 1)  # the greeting
        fake.block_bot(LIAISON)
        await becomes(app, LIAISON, 0)
        before = fake.sent_total(GROUP)
        fake.send_text(LIAISON, "/help", chat_id=GROUP)  # blocked users can still talk there
        await fake.wait_for_messages(GROUP, before + 1)
        assert await reachable(app, LIAISON) == 0
        assert await evidence(app, LIAISON) == [("person.unreachable", "membership")]


async def test_the_broadcast_preview_counts_blocked_people_out_and_back_in(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    admin = Admin(fake)
    async with running_bot(settings_for(fake, tmp_path / "b.sqlite3")) as app:
        await seed(app)
        fake.block_bot(OTHER)
        await becomes(app, OTHER, 0)
        confirm = await compose(admin, "全部部门联络员", "周五前提交季度报告")
        assert "将发送给 <b>1</b> 人" in confirm.html and "另有 <b>1</b> 人收不到" in confirm.html
        assert "1 人已屏蔽机器人（Telegram 已告知），不会发送：市场联络员（县市场监管局）" in (
            confirm.text
        )
        await admin.press(admin.current(confirm), "放弃")
        # The liaison unblocks the bot and writes /start: counted again.
        fake.unblock_bot(OTHER)
        fake.send_text(OTHER, "/start")
        await becomes(app, OTHER, 1)
        confirm = await compose(admin, "全部部门联络员", "周五前提交季度报告")
        assert "将发送给 <b>2</b> 人" in confirm.html and "收不到" not in confirm.text
        await admin.press(confirm, "立即发送")
        got = await fake.wait_for_messages(OTHER, 2)  # the /start answer, then the broadcast
        assert got[-1].text == "周五前提交季度报告"


# -- the rules ------------------------------------------------------------------------------------


def test_membership_changes_in_private_chats_decide_reachability() -> None:
    assert rules.after_membership("private", "kicked") is False
    assert rules.after_membership("private", "left") is False
    assert rules.after_membership("private", "member") is True
    assert rules.after_membership("group", "kicked") is None  # the bot left a group
    assert rules.after_membership("supergroup", "member") is None
    assert rules.after_membership("private", "weird") is None


def test_only_private_activity_is_evidence() -> None:
    assert rules.after_activity("private") is True
    assert rules.after_activity("group") is None
    assert rules.after_activity("supergroup") is None
    assert rules.after_activity(None) is None


def test_blocked_recipients_are_kept_named_but_not_delivered() -> None:
    found = [
        Recipient(1, "甲", "MZJ"),
        Recipient(2, "乙", "MZJ"),
        Recipient(None, "丙", "MZJ", Reason.NEVER_OPENED),
        Recipient(-100, "协调群"),
    ]
    marked = without_blocked(found, {2, -100})
    assert marked[1] == Recipient(2, "乙", "MZJ", Reason.BLOCKED)
    assert marked[2].skipped is Reason.NEVER_OPENED  # not re-labelled
    assert [r.chat_id for r in deliverable(marked)] == [1, -100]  # a group is never "blocked"
