"""Helpers for the outbox and broadcast tests and the broadcast benchmark.

`running_bot` runs the real Application against the fake Bot API with the same lifecycle as
`Application.run_polling` (post_init, post_stop and post_shutdown included: the outbox sender
lives in those hooks), so a test can stop it and start another one on the same database.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from bot import clock
from bot.app import ALLOWED_UPDATES, build_application
from bot.config import OutboxTunables, Settings, Tunables
from bot.db import Database
from bot.domain.flood import FloodLimits
from bot.outbox import Sender
from tests.fakeapi import FakeBotApi, Fault, Limits, SentMessage

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
ADMIN_ID = 1001

# Fast by default: limits well above what the tests send, short polls and backoffs.
FAST = OutboxTunables(
    overall_per_second=500.0,
    overall_burst=50.0,
    private_per_second=100.0,
    private_burst=20.0,
    group_per_minute=6000.0,
    group_burst=20.0,
    backoff_seconds=0.05,
    backoff_max_seconds=0.2,
    poll_seconds=0.1,
    shutdown_seconds=1.0,
    broadcast_progress_seconds=0.3,
)
NO_LIMITS = Limits(enabled=False)
# Telegram's limits on a clock 50 times faster: for the tests that are not about pacing, so a
# burst of button presses is not paused by 429s for whole seconds. Tests about pacing and 429s
# pass Limits() (real time) or their own.
FAST_CLOCK = Limits(time_scale=50.0)


# Flood control loosened for the tests that are not about it: they script many messages in a
# row, often under a clock that stands still (so the bucket never refills). tests/test_flood.py
# runs the defaults.
RELAXED_FLOOD = FloodLimits(burst=100_000.0, per_minute=6_000_000.0)


def settings_for(api: FakeBotApi, db_path: Path, **outbox: Any) -> Settings:
    return Settings(
        token=TOKEN,
        api_url=api.base_url,
        file_url=api.base_file_url,
        db_path=db_path,
        admins=frozenset({ADMIN_ID}),
        tunables=Tunables(outbox=replace(FAST, **outbox), flood=RELAXED_FLOOD),
    )


@asynccontextmanager
async def running_bot(settings: Settings) -> AsyncIterator[Any]:
    """The Application, started as run_polling starts it and stopped as SIGTERM stops it."""
    app = build_application(settings)
    await app.initialize()
    stopped = False
    try:
        assert app.post_init is not None and app.updater is not None
        await app.post_init(app)
        await app.updater.start_polling(
            poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES
        )
        await app.start()
        yield app
        stopped = True
        await stop_bot(app)
    finally:
        if not stopped:
            await stop_bot(app)


async def stop_bot(app: Any) -> None:
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
        if app.post_stop is not None:
            await app.post_stop(app)
    if app._initialized:
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


def db_of(app: Any) -> Database:
    db = app.bot_data["services"].db
    assert isinstance(db, Database)
    return db


def sender_of(app: Any) -> Sender:
    sender = app.bot_data["outbox"]
    assert isinstance(sender, Sender)
    return sender


def open_chat(api: FakeBotApi, user_id: int, name: str) -> None:
    """A Telegram user who has pressed Start (the bot may write to them), without an update."""
    api.add_user(user_id, name)
    api.world.users[user_id].started = True


async def add_person(
    db: Database,
    user_id: int,
    name: str,
    *,
    admin: bool = False,
    liaison_of: str | None = None,
    inspector_certificate: str | None = None,
) -> int:
    """Someone who onboarded: a people row, plus a liaison or inspector binding."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO people (tg_user_id, full_name, is_admin, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?) RETURNING id",
            (user_id, name, int(admin), now, now),
        )
        person_id = int((await cursor.fetchone())[0])
        if liaison_of:
            await conn.execute(
                "INSERT INTO liaisons (person_id, department_code, created_at) VALUES (?, ?, ?)",
                (person_id, liaison_of, now),
            )
        if inspector_certificate:
            await conn.execute(
                "UPDATE inspectors SET person_id = ? WHERE certificate_no = ?",
                (person_id, inspector_certificate),
            )
    return person_id


async def add_department(db: Database, code: str, name: str) -> None:
    now = clock.now_db()
    await db.execute(
        "INSERT INTO departments (code, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
        (code, name, now, now),
    )


async def add_inspector(db: Database, certificate: str, name: str, department: str) -> None:
    now = clock.now_db()
    await db.execute(
        "INSERT INTO inspectors (certificate_no, name, department_code, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)",
        (certificate, name, department, now, now),
    )


async def until(
    probe: Callable[[], Awaitable[Any]] | Callable[[], Any],
    timeout: float = 10.0,  # noqa: ASYNC109 - a plain polling deadline
) -> Any:
    """Poll `probe` (sync or async) until it returns something truthy; return that."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last value {value!r})")
        await asyncio.sleep(0.02)


def fail_method(
    api: FakeBotApi, method: str, status: int, times: int | None, *, delay: float = 0.0
) -> Fault:
    """Make the fake answer `status` to the next `times` calls of `method` (None: every call),
    optionally after `delay` seconds (a slow server: the client's timeout fires first).
    `fault.served` counts the failures served."""
    return api.fail(method, status=status, times=times, delay=delay)


class Admin:
    """The administrator's side of the private chat with the bot."""

    def __init__(self, api: FakeBotApi, user_id: int = ADMIN_ID) -> None:
        self.api = api
        self.user_id = user_id

    async def say(self, text: str, expect: int = 1) -> list[SentMessage]:
        before = self.api.sent_total(self.user_id)
        self.api.send_text(self.user_id, text)
        await self.api.wait_for_messages(self.user_id, before + expect)
        await asyncio.sleep(0.05)
        return self.api.chat_messages(self.user_id)[before:]

    async def upload(
        self, name: str, content: bytes, caption: str, expect: int
    ) -> list[SentMessage]:
        before = self.api.sent_total(self.user_id)
        self.api.send_document(self.user_id, name, content, caption=caption)
        await self.api.wait_for_messages(self.user_id, before + expect)
        return self.api.chat_messages(self.user_id)[before:]

    async def press(self, message: SentMessage, label: str) -> str:
        """Press the button whose text contains `label`; returns the answer's text."""
        data = button(message, label)
        answers = len(self.api.callback_answers)
        edits = self.current(message).edit_count
        sent = self.api.sent_total(message.chat_id)
        self.api.press_button(self.user_id, message.chat_id, message.message_id, data)
        await self.api.wait_for(lambda: len(self.api.callback_answers) > answers)
        with contextlib.suppress(TimeoutError):  # most buttons change the card or add a message
            await self.api.wait_for(
                lambda: (
                    self.current(message).edit_count > edits
                    or self.api.sent_total(message.chat_id) > sent
                ),
                timeout=2.0,
                dump=False,
            )
        return str(self.api.callback_answers[answers].get("text") or "")

    def current(self, message: SentMessage) -> SentMessage:
        """The message as it is now (edits applied)."""
        return next(
            m for m in self.api.chat_messages(message.chat_id) if m.message_id == message.message_id
        )


def button(message: SentMessage, label: str) -> str:
    for row in message.buttons:
        for text, data in row:
            if label in text:
                return data
    raise AssertionError(f"no button {label!r} in {message.describe()}")


async def compose(admin: Admin, audience: str, text: str) -> SentMessage:
    """/broadcast, pick `audience`, send `text`; returns the confirmation card."""
    [card] = await admin.say("/broadcast")
    assert "第一步" in card.text
    await admin.press(card, audience)
    assert "第二步" in admin.current(card).text
    preview, confirm = await admin.say(text, expect=2)
    assert preview.text == text
    return confirm


async def crafted(app: Any, api: FakeBotApi, uid: int, data: str) -> SentMessage:
    """A message to `uid` carrying a button with `data` the bot never offered (a crafted
    press: the emulator only lets people press buttons that are on a message)."""
    from telegram import InlineKeyboardButton, InlineKeyboardMarkup

    before = api.sent_total(uid)
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("crafted", callback_data=data)]])
    await app.bot.send_message(uid, "crafted", reply_markup=keyboard)
    await api.wait_for_messages(uid, before + 1)
    return api.chat_messages(uid)[-1]
