"""Fixtures: a fake Telegram Bot API on 127.0.0.1 and the real bot Application talking to it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot import importer
from bot.app import ALLOWED_UPDATES, build_application
from bot.config import Settings, Tunables
from bot.db import Database
from bot.services import Services
from tests.fakeapi import FakeBotApi, SentMessage
from tests.outbox_support import FAST_CLOCK, RELAXED_FLOOD
from tests.pg_support import PG_URL, SchemaPerTest, redirect_databases

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
BOT_USERNAME = "county_inspect_bot"
ADMIN_ID = 1001


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only(reason): about SQLite itself; skipped in the PostgreSQL pass"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """In the PostgreSQL pass (BOT_TEST_PG set) tests about SQLite itself are skipped, each
    with its reason; every other test runs on PostgreSQL (tests/pg_support.py)."""
    if PG_URL is None:
        return
    for item in items:
        marker = item.get_closest_marker("sqlite_only")
        if marker is not None:
            reason = marker.kwargs.get("reason") or (marker.args[0] if marker.args else "")
            item.add_marker(pytest.mark.skip(reason=f"SQLite only: {reason}"))


@pytest.fixture(scope="session")
def pg_rig() -> Iterator[SchemaPerTest | None]:
    if PG_URL is None:
        yield None
        return
    rig = SchemaPerTest(PG_URL)
    try:
        yield rig
    finally:
        rig.close()


@pytest.fixture(autouse=True)
def _database_on_postgres(
    monkeypatch: pytest.MonkeyPatch, pg_rig: SchemaPerTest | None
) -> Iterator[None]:
    """The PostgreSQL pass: this test's databases are schemas on BOT_TEST_PG."""
    if pg_rig is None:
        yield
        return
    redirect_databases(monkeypatch, pg_rig)
    try:
        yield
    finally:
        pg_rig.drop_all()


@dataclass
class Harness:
    """The running bot plus the fake Telegram it talks to."""

    api: FakeBotApi
    app: Any
    settings: Settings

    @property
    def services(self) -> Services:
        svc = self.app.bot_data["services"]
        assert isinstance(svc, Services)
        return svc

    @property
    def db(self) -> Database:
        return self.services.db

    async def say(
        self, user_id: int, text: str, *, chat_id: int | None = None, expect: int = 1
    ) -> list[SentMessage]:
        """Send a message as a user and return the `expect` messages the bot sends back."""
        chat = chat_id if chat_id is not None else user_id
        before = len(self.api.chat_messages(chat))
        self.api.send_text(user_id, text, chat_id=chat_id)
        messages = await self.api.wait_for_messages(chat, before + expect)
        return messages[before:]

    async def upload(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        expect: int = 1,
    ) -> list[SentMessage]:
        before = len(self.api.chat_messages(user_id))
        self.api.send_document(user_id, filename, content, caption=caption)
        messages = await self.api.wait_for_messages(user_id, before + expect)
        return messages[before:]

    async def press(
        self,
        user_id: int,
        message: SentMessage,
        data: str,
        *,
        expect_new: int = 0,
        expect_edit: bool = False,
    ) -> list[SentMessage]:
        """Press a button; wait for the answer, and for an edit or new messages if told to."""
        before = len(self.api.chat_messages(message.chat_id))
        answers = len(self.api.callback_answers)
        edits = self._edit_count(message)
        self.api.press_button(user_id, message.chat_id, message.message_id, data)
        await self.api.wait_for(lambda: len(self.api.callback_answers) > answers)
        if expect_edit:
            await self.api.wait_for(lambda: self._edit_count(message) > edits)
        if expect_new:
            messages = await self.api.wait_for_messages(message.chat_id, before + expect_new)
            return messages[before:]
        return []

    def _edit_count(self, message: SentMessage) -> int:
        for current in self.api.chat_messages(message.chat_id):
            if current.message_id == message.message_id:
                return current.edit_count
        return -1

    async def import_csv(self, kind: str, text: str) -> importer.ImportReport:
        report = await importer.import_file(self.db, kind, f"{kind}.csv", text.encode("utf-8"))
        assert report.ok, report
        return report


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, wait: float = 5.0) -> None:
    """Poll an async probe (e.g. a database query) until it returns `expected`."""
    deadline = asyncio.get_running_loop().time() + wait
    value = await probe()
    while value != expected:
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"expected {expected!r}, still {value!r}")
        await asyncio.sleep(0.02)
        value = await probe()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(token=TOKEN, bot_id=123456, bot_username=BOT_USERNAME, limits=FAST_CLOCK)
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()


def make_settings(api: FakeBotApi, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = dict(
        token=TOKEN,
        api_url=api.base_url,
        file_url=api.base_file_url,
        db_path=tmp_path / "bot.sqlite3",
        admins=frozenset({ADMIN_ID}),
        tunables=Tunables(flood=RELAXED_FLOOD),
    )
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
async def bot(api: FakeBotApi, tmp_path: Path) -> AsyncIterator[Harness]:
    api.add_user(ADMIN_ID, "县局管理员")
    app = build_application(make_settings(api, tmp_path))
    await start_app(app)
    try:
        yield Harness(api, app, app.bot_data["services"].settings)
    finally:
        await stop_app(app)


async def start_app(app: Any) -> None:
    """What Application.run_polling does before it blocks, hooks included."""
    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    await app.start()


async def stop_app(app: Any) -> None:
    """What Application.run_polling does on SIGTERM, hooks included."""
    if app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)
