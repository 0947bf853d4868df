"""Issue 13 §1 end to end: concurrent updates with each chat's order kept, flood control, and
no handler waiting out a 429. The real Application against the fake Bot API over HTTP."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot import clock
from bot.config import ConfigError, Settings, Tunables
from bot.domain.flood import FloodLimits, FloodState, Verdict, explain, judge
from tests.fakeapi import FakeBotApi, Limits
from tests.outbox_support import (
    ADMIN_ID,
    NO_LIMITS,
    TOKEN,
    add_department,
    add_inspector,
    add_person,
    db_of,
    open_chat,
    running_bot,
    settings_for,
    until,
)

STRANGER = 4001
TYPIST = 2001
EXPLANATION = "您还没有注册"
SLOW_DOWN = "您发送得太快了"


@pytest.fixture
async def fake() -> AsyncIterator[FakeBotApi]:
    api = FakeBotApi(limits=NO_LIMITS)
    await api.start()
    open_chat(api, ADMIN_ID, "县局管理员")
    open_chat(api, STRANGER, "路人")
    open_chat(api, TYPIST, "检查员")
    try:
        yield api
    finally:
        await api.stop()


@pytest.fixture
async def real_limits() -> AsyncIterator[FakeBotApi]:
    """Telegram's limits in real time (1 message a second per private chat after a burst)."""
    api = FakeBotApi(limits=Limits())
    await api.start()
    open_chat(api, ADMIN_ID, "县局管理员")
    open_chat(api, TYPIST, "检查员")
    try:
        yield api
    finally:
        await api.stop()


async def register_inspector(app: object) -> None:
    db = db_of(app)
    await add_department(db, "SCJ", "县市场监管局")
    await add_inspector(db, "C001", "检查员", "SCJ")
    await add_person(db, TYPIST, "检查员", inspector_certificate="C001")


def texts(api: FakeBotApi, chat_id: int) -> list[str]:
    return [m.text for m in api.chat_messages(chat_id)]


async def audited(app: object, action: str) -> int:
    row = await db_of(app).fetchone("SELECT count(*) FROM audit_log WHERE action = ?", (action,))
    assert row is not None
    return int(row[0])


def with_default_flood(settings: Settings) -> Settings:
    return replace(settings, tunables=replace(settings.tunables, flood=FloodLimits()))


def default_settings(api: FakeBotApi, db_path: Path) -> Settings:
    """The bot's own default pacing, as in production."""
    return Settings(
        token=TOKEN,
        api_url=api.base_url,
        file_url=api.base_file_url,
        db_path=db_path,
        admins=frozenset({ADMIN_ID}),
    )


# -- concurrency and order --------------------------------------------------------------------


async def test_one_chat_keeps_its_order_while_another_chat_is_answered(
    real_limits: FakeBotApi, tmp_path: Path
) -> None:
    api = real_limits
    async with running_bot(default_settings(api, tmp_path / "b.sqlite3")) as app:
        await register_inspector(app)
        loop = asyncio.get_running_loop()
        # Eight commands at once: their answers are paced at one a second in that chat (after
        # a burst), about five seconds in all.
        for n in range(1, 9):
            api.send_text(TYPIST, f"/nosuch{n}")
        await api.wait_for_messages(TYPIST, 1)
        started = loop.time()
        api.send_text(ADMIN_ID, "/me")
        [answer] = await api.wait_for_messages(ADMIN_ID, 1)
        admin_seconds = loop.time() - started
        typed_so_far = len(api.chat_messages(TYPIST))
        answers = await api.wait_for_messages(TYPIST, 8, timeout=15.0)
    assert "Telegram ID" in answer.text
    # The administrator was answered while the other chat's answers were still going out,
    # not after them.
    assert admin_seconds < 1.5, admin_seconds
    assert typed_so_far < 8
    assert [m.text.split("：")[1].split("。")[0] for m in answers] == [
        f"/nosuch{n}" for n in range(1, 9)
    ]
    assert api.errors == []  # no 429 anywhere


# -- strangers --------------------------------------------------------------------------------


async def test_stranger_is_told_once_per_window_across_a_restart(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    base = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    offset = [0.0]
    clock.set_source(lambda: base + timedelta(seconds=offset[0]))
    settings = with_default_flood(settings_for(fake, tmp_path / "b.sqlite3"))
    try:
        async with running_bot(settings) as app:
            fake.send_text(STRANGER, "你好")
            [told] = await fake.wait_for_messages(STRANGER, 1)
            assert EXPLANATION in told.text
            for _ in range(3):
                fake.send_text(STRANGER, "你好")
            fake.send_text(STRANGER, "/invite liaison MZJ")
            # The refusal is still audited (it comes after the greetings: one chat, in order).
            await until(lambda: audited(app, "command.invite"))
            assert len(fake.chat_messages(STRANGER)) == 1
        offset[0] = 300.0
        async with running_bot(settings) as app:  # a restart forgets nothing
            fake.send_text(STRANGER, "你好")
            fake.send_text(STRANGER, "/invite liaison MZJ")
            await until(lambda: _at_least(app, "command.invite", 2))
            assert len(fake.chat_messages(STRANGER)) == 1
            offset[0] = 601.0  # the window (600 s by default) is over
            fake.send_text(STRANGER, "你好")
            [_, again] = await fake.wait_for_messages(STRANGER, 2)
            assert EXPLANATION in again.text
    finally:
        clock.reset()


async def _at_least(app: object, action: str, count: int) -> bool:
    return await audited(app, action) >= count


async def test_a_stranger_flood_leaves_the_administrator_answered(
    fake: FakeBotApi, tmp_path: Path
) -> None:
    async with running_bot(with_default_flood(settings_for(fake, tmp_path / "b.sqlite3"))) as app:
        for n in range(200):
            fake.send_text(STRANGER, f"/me {n}")
        loop = asyncio.get_running_loop()
        started = loop.time()
        fake.send_text(ADMIN_ID, "/me")
        await fake.wait_for_messages(ADMIN_ID, 1)
        assert loop.time() - started < 2.0
        # Only the messages within the bucket reach the handlers (and are audited); one answer.
        await until(lambda: _at_least(app, "command.me", 10))
        await asyncio.sleep(0.5)
        assert len(fake.chat_messages(STRANGER)) == 1
        assert await audited(app, "command.me") < 20


# -- fast typers ------------------------------------------------------------------------------


async def test_fast_typer_gets_one_polite_notice(fake: FakeBotApi, tmp_path: Path) -> None:
    base = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
    offset = [0.0]
    clock.set_source(lambda: base + timedelta(seconds=offset[0]))
    try:
        async with running_bot(
            with_default_flood(settings_for(fake, tmp_path / "b.sqlite3"))
        ) as app:
            await register_inspector(app)
            for _ in range(40):
                fake.send_text(TYPIST, "/me")
            await fake.wait_for(lambda: any(SLOW_DOWN in t for t in texts(fake, TYPIST)))
            await until(lambda: _at_least(app, "flood.slowed", 1))
            await asyncio.sleep(0.5)
            got = texts(fake, TYPIST)
            assert sum(SLOW_DOWN in t for t in got) == 1
            # The default bucket: 10 messages (the clock stands still here, so no refill).
            assert sum("Telegram ID" in t for t in got) == 10
            assert await audited(app, "flood.slowed") == 1
            # A minute later the bucket has refilled: answered again, no second notice.
            offset[0] = 60.0
            before = len(got)
            fake.send_text(TYPIST, "/me")
            [answer] = (await fake.wait_for_messages(TYPIST, before + 1))[before:]
            assert "Telegram ID" in answer.text
    finally:
        clock.reset()


# -- the rules --------------------------------------------------------------------------------


def test_bucket_refills_at_the_configured_rate() -> None:
    limits = FloodLimits(burst=2, per_minute=6, notice_every_seconds=100)
    state = None
    verdicts = []
    for _ in range(4):
        decision = judge(state, 0.0, limits, stranger=False)
        state = decision.state if decision.changed else state
        verdicts.append(decision.verdict)
    assert verdicts == [Verdict.PASS, Verdict.PASS, Verdict.NOTICE, Verdict.DROP]
    assert judge(state, 9.0, limits, stranger=False).verdict is Verdict.DROP  # 0.9 token
    assert judge(state, 10.0, limits, stranger=False).verdict is Verdict.PASS  # one every 10 s


def test_strangers_are_never_noticed_and_told_once_per_window() -> None:
    limits = FloodLimits(burst=1, per_minute=1, stranger_every_seconds=600)
    first = judge(None, 0.0, limits, stranger=True)
    assert first.verdict is Verdict.PASS
    assert judge(first.state, 1.0, limits, stranger=True).verdict is Verdict.DROP
    told = explain(None, 0.0, limits)
    assert told.verdict is Verdict.PASS and told.state.told_at == 0.0
    assert explain(told.state, 599.0, limits).verdict is Verdict.DROP
    assert explain(told.state, 600.0, limits).verdict is Verdict.PASS
    # A clock set back does not silence a stranger for ever.
    assert explain(FloodState(1.0, 0.0, told_at=1000.0), 10.0, limits).verdict is Verdict.PASS


def test_flood_tunables_from_toml() -> None:
    tunables = Tunables.from_toml({"flood": {"burst": 5, "per_minute": 12}})
    assert tunables.flood.burst == 5.0 and tunables.flood.per_minute == 12.0
    assert tunables.flood.stranger_every_seconds == 600.0
    with pytest.raises(ConfigError):
        Tunables.from_toml({"flood": {"burst": 0}})
    with pytest.raises(ConfigError):
        Tunables.from_toml({"flood": {"speed": 3}})
