"""Issue 13 §1: no handler waits out a 429; a reply that must wait goes through the outbox
(bot.replies), before the chat's queued notices, in order, once, across a restart. The real
Application against the fake Bot API over HTTP, with the fake's flood limits on (real time)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.db import Database
from bot.domain.pacing import Pacer, PacingLimits
from bot.render import Rendered
from bot.store import outbox, prompts
from tests.fakeapi import FakeBotApi, Limits
from tests.outbox_support import (
    ADMIN_ID,
    add_department,
    db_of,
    open_chat,
    running_bot,
    settings_for,
    until,
)

# After a burst of 2, one message every 4 s: the third reply in a row meets a 429 that asks for
# a pause of 4 s (Telegram's retry_after, whole seconds).
TIGHT = Limits(private_burst=2, private_per_second=0.25)
PAUSE = 4.0
NOTICE = "系统通知：演练"


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=TIGHT)
    await fake.start()
    open_chat(fake, ADMIN_ID, "县局管理员")
    try:
        yield fake
    finally:
        await fake.stop()


def numbers_sent(api: FakeBotApi) -> list[int]:
    """The task numbers of the "not found" replies the administrator got, in order."""
    found: list[int] = []
    for message in api.chat_messages(ADMIN_ID):
        found += [int(n) for n in re.findall(r"没有找到联合检查 #(\d+)", message.text)]
    return found


async def numbers_accounted(db: Database, api: FakeBotApi) -> set[int]:
    """Replies that were handled: delivered, or written to the outbox to be delivered."""
    rows = await db.fetchall("SELECT text FROM outbox WHERE chat_id = ?", (ADMIN_ID,))
    queued = {int(n) for r in rows for n in re.findall(r"没有找到联合检查 #(\d+)", r[0])}
    return queued | set(numbers_sent(api))


async def diverted(db: Database, *statuses: str) -> int:
    marks = ",".join("?" * len(statuses))
    row = await db.fetchone(
        f"SELECT count(*) FROM outbox WHERE chat_id = ? AND priority = ? AND status IN ({marks})",
        (ADMIN_ID, outbox.REPLY, *statuses),
    )
    assert row is not None
    return int(row[0])


def first_429(api: FakeBotApi) -> Any:
    return next((e for e in api.errors if e.status == 429), None)


async def test_a_chat_past_its_limit_is_answered_in_order_once_across_a_restart(
    api: FakeBotApi, tmp_path: Path
) -> None:
    settings = settings_for(api, tmp_path / "d.sqlite3")
    numbers = list(range(901, 909))
    loop = asyncio.get_running_loop()
    async with running_bot(settings) as app:
        db = db_of(app)
        for n in numbers[:3]:  # the third reply meets the 429
            api.send_text(ADMIN_ID, f"/task {n}")
        refused = await until(lambda: first_429(api), timeout=10.0)
        seen_429 = loop.time()
        assert refused.parameters == {"retry_after": int(PAUSE)}
        # A notice the bot sends on its own, queued while the chat is paused.
        async with db.transaction() as conn:
            await outbox.enqueue(conn, ADMIN_ID, NOTICE)
        for n in numbers[3:]:
            api.send_text(ADMIN_ID, f"/task {n}")
        # Every update was handled, its reply sent or queued, before the pause was over: no
        # handler waited for it (one that did would hold its chat's next update for 4 s).
        await until(lambda: _all(db, api, numbers), timeout=PAUSE)
        assert loop.time() < seen_429 + PAUSE
        assert await diverted(db, "pending", "sending") > 0  # still waiting: restart now
    async with running_bot(settings) as app:
        await until(lambda: numbers_sent(api) == numbers and NOTICE in _texts(api), timeout=60)
        await asyncio.sleep(1.0)  # nothing more comes
        assert numbers_sent(api) == numbers  # every reply, in order, none twice
        texts = _texts(api)
        assert texts.count(NOTICE) == 1
        # the diverted replies left before the notice queued ahead of most of them
        assert max(i for i, t in enumerate(texts) if "没有找到联合检查" in t) < texts.index(NOTICE)
        assert await diverted(db_of(app), "pending", "sending") == 0


async def _fourth(pending: Any) -> bool:
    return any("第四步" in text for text in await pending())


def _texts(api: FakeBotApi) -> list[str]:
    return [m.text for m in api.chat_messages(ADMIN_ID)]


async def _all(db: Database, api: FakeBotApi, numbers: list[int]) -> bool:
    return await numbers_accounted(db, api) == set(numbers)


async def test_a_diverted_question_arms_its_prompt_when_delivered(
    api: FakeBotApi, tmp_path: Path
) -> None:
    settings = settings_for(api, tmp_path / "q.sqlite3")
    async with running_bot(settings) as app:
        db = db_of(app)
        await add_department(db, "SCJ", "县市场监管局")
        for n in (901, 902, 903):
            api.send_text(ADMIN_ID, f"/task {n}")
        await until(lambda: first_429(api), timeout=10.0)
        api.send_text(ADMIN_ID, "/newtask")

        async def question() -> prompts.Prompt | None:
            async with db.transaction() as conn:
                return await prompts.of(conn, ADMIN_ID)

        async def asked() -> prompts.Prompt | None:
            found = await question()  # opened first; then sent, or queued in the outbox
            return found if found and (found.outbox_id is not None or found.armed) else None

        waiting = await until(asked, timeout=PAUSE)
        assert waiting.kind == "tasks.propose" and waiting.outbox_id is not None
        if "第一步" not in " ".join(_texts(api)):  # not delivered yet: nobody waits for it
            assert not waiting.armed
        card = await until(lambda: [m for m in api.chat_messages(ADMIN_ID) if "第一步" in m.text])

        async def armed_now() -> prompts.Prompt | None:
            found = await question()  # the card arrives a moment before the send is recorded
            return found if found and found.armed else None

        armed = await until(armed_now)
        assert armed.message_id == card[0].message_id
        api.send_text(ADMIN_ID, "养老机构")
        await until(lambda: any("行业/场景：养老机构" in t for t in _texts(api)), timeout=30)
        assert numbers_sent(api) == [901, 902, 903]


async def test_edits_that_must_wait_coalesce_into_one_pending_edit(tmp_path: Path) -> None:
    """A card edited again while its earlier edit still waits: one pending edit, the latest
    text, ahead of what the chat had queued (store level: what bot.replies writes)."""
    from bot.db import open_database

    async with open_database(tmp_path / "e.sqlite3") as db:
        async with db.transaction() as conn:
            notice = await outbox.enqueue(conn, ADMIN_ID, "通知")
            first = await outbox.adopt(conn, ADMIN_ID, 77)  # a card the bot sent directly
            assert await outbox.adopt(conn, ADMIN_ID, 77) == first
            one = await outbox.replace_pending_edit(
                conn, first, Rendered("第一版", []), priority=outbox.REPLY
            )
            two = await outbox.replace_pending_edit(
                conn, first, Rendered("第二版", []), priority=outbox.REPLY
            )
            reply = await outbox.enqueue(conn, ADMIN_ID, "回复", priority=outbox.REPLY)
        assert one == two
        pending = await db.fetchall(
            "SELECT id, text FROM outbox WHERE edit_of = ? AND status = 'pending'", (first,)
        )
        assert [(r[0], r[1]) for r in pending] == [(one, "第二版")]
        heads = await outbox.due_heads(db, (), 10)
        assert [h.id for h in heads] == [one]  # the edit first, then the reply, then the notice
        order = []
        for _ in range(3):
            [head] = await outbox.due_heads(db, (), 10)
            order.append(head.id)
            # the claim keeps due_heads' order (a diverted reply before older notices)
            claimed = await outbox.claim(
                db, [head.id], instance="t", lease_seconds=60, limits=PacingLimits(), ahead=60
            )
            assert [row.id for row, _ in claimed.rows] == [head.id]
            await outbox.mark_sent(db, head.id, 100 + len(order))
        assert order == [one, reply, notice]
        assert await outbox.diverted_pending(db, ADMIN_ID) is False


def test_a_direct_reply_knows_its_wait_without_taking_a_turn() -> None:
    pacer = Pacer(PacingLimits(private_per_second=1.0, private_burst=3.0))
    now = 100.0
    assert pacer.direct_wait(5, now) == 0.0
    for _ in range(3):  # a new pacer starts buckets with one token (restart warm-up)
        pacer.take(5, now, direct=True)
    wait = pacer.direct_wait(5, now)
    assert wait == pytest.approx(3.0)  # two tokens in debt, and one more needed
    assert pacer.direct_wait(5, now) == wait  # asking reserves nothing
    assert pacer.take(5, now, direct=True) == pytest.approx(wait)
    pacer.retry_after(-7, 30.0, now)  # a group paused by a 429: its replies would wait
    assert pacer.direct_wait(-7, now + 1) == pytest.approx(29.0)


async def test_card_edits_that_meet_a_429_coalesce_and_presses_are_answered_at_once(
    tmp_path: Path,
) -> None:
    """A /newtask card pressed three times while its chat is paused: every press is answered at
    once (answerCallbackQuery is never diverted), the card gets one edit, the latest state."""
    from tests.test_tasks import LEAD, button, current, seed, task_settings

    fake = FakeBotApi(limits=TIGHT)
    await fake.start()
    open_chat(fake, LEAD, "民政联络员")
    loop = asyncio.get_running_loop()
    try:
        async with running_bot(task_settings(fake, tmp_path / "t.sqlite3")) as app:
            await seed(app, fake, group=False)
            before = fake.sent_total(LEAD)
            fake.send_text(LEAD, "/newtask")
            await fake.wait_for_messages(LEAD, before + 1)
            card = fake.chat_messages(LEAD)[before]
            fake.press_button(LEAD, LEAD, card.message_id, button(card, "养老机构"))
            await fake.wait_for(lambda: "第三步" in current(fake, card).text, timeout=10)
            shown = current(fake, card)
            shown_text, shown_history = shown.text, list(shown.history)  # it changes in place
            answers = len(fake.callback_answers)
            errors = len(fake.errors)
            # select the item, unselect it, go on: the chat has used its burst, the first edit
            # meets the 429 and the two after it rewrite that one pending edit
            item = button(shown, "养老机构安全管理")
            for data in (item, item, button(shown, "下一步")):
                fake.press_button(LEAD, LEAD, card.message_id, data)
            await fake.wait_for(lambda: len(fake.callback_answers) == answers + 3, timeout=PAUSE)
            pressed = loop.time()
            assert any(e.status == 429 for e in fake.errors[errors:])

            async def pending() -> list[str]:
                rows = await db_of(app).fetchall(
                    "SELECT text FROM outbox WHERE kind = 'edit' AND chat_id = ?"
                    " AND priority = ? AND status IN ('pending', 'sending')",
                    (LEAD, outbox.REPLY),
                )
                return [str(r[0]) for r in rows]

            # the last press's edit (answered before it edits) rewrote the one pending edit
            await until(lambda: _fourth(pending), timeout=PAUSE)
            assert len(await pending()) == 1
            assert "第三步" in current(fake, card).text  # nothing applied yet
            await fake.wait_for(lambda: "第四步" in current(fake, card).text, timeout=3 * PAUSE)
            assert loop.time() - pressed > 1.0  # it waited for the pause, in the outbox
            final = current(fake, card)
            assert "已选：无" in final.text  # the latest state: the item was unselected again
            # one edit since the third step: the intermediate "✅ item" state never went out
            assert final.history == [*shown_history, shown_text]
            assert not any("✅" in text for text in final.history)
    finally:
        await fake.stop()
