"""Several `python -m bot run` processes on one database, against the fake Bot API in this
process: start them, kill one, read what they did. Used by tests/test_instances.py and
bench/instances.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from bot.app import build_application
from bot.config import Settings
from bot.db import open_database
from bot.runner import serve
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, TOKEN, until

ROOT = Path(__file__).resolve().parent.parent


@asynccontextmanager
async def serving(
    settings: Settings, *, webhook: bool = False, wait_leader: bool = True
) -> AsyncIterator[Any]:
    """The Application run as `python -m bot run [--webhook]` runs it (bot.runner.serve), in
    this process; stopped as SIGTERM stops it when the block ends."""
    app = build_application(settings)
    stop = asyncio.Event()
    task = asyncio.create_task(serve(app, settings, webhook=webhook, stop=stop, poll_timeout=1))
    try:
        if wait_leader:
            await until(lambda: app.running and app.bot_data["leadership"].leading)
        else:
            await until(lambda: app.running or task.done())
        yield app
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 15)


def instance_config(
    path: Path, *, leader_seconds: float = 3.0, claim_seconds: float = 4.0, extra: str = ""
) -> Path:
    """A TOML file with short leases, so a killed instance is replaced within seconds."""
    path.write_text(
        f"[instances]\nleader_lease_seconds = {leader_seconds}\nclaim_seconds = {claim_seconds}\n"
        + extra,
        encoding="utf-8",
    )
    return path


def start_instance(
    api: FakeBotApi, db: str, name: str, config: Path, log: Path, *, webhook: bool = False
) -> subprocess.Popen[bytes]:
    """`python -m bot run` as instance `name`; `db` is BOT_DB (a file path or a URL)."""
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=TOKEN,
        BOT_API_URL=api.base_url,
        BOT_API_FILE_URL=api.base_file_url,
        BOT_DB=db,
        BOT_ADMINS=str(ADMIN_ID),
        BOT_CONFIG=str(config),
        BOT_INSTANCE=name,
    )
    command = [sys.executable, "-m", "bot", "--log-level", "INFO", "run"]
    if webhook:
        command.append("--webhook")
    with log.open("ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)


def stop_all(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait()


async def scalar(db: str, sql: str, params: tuple[object, ...] = ()) -> object:
    async with open_database(db, migrate=False) as conn:
        row = await conn.fetchone(sql, params)
        return row[0] if row else None


async def leader_of(db: str) -> str | None:
    """The instance holding the leader lease now (None before the first one took it)."""
    value = await scalar(
        db, "SELECT holder FROM leases WHERE name = 'leader' AND expires_at >= ?", (time.time(),)
    )
    return str(value) if value is not None else None


async def senders(db: str) -> Counter[str]:
    """Sent outbox rows per instance that claimed them."""
    async with open_database(db, migrate=False) as conn:
        rows = await conn.fetchall(
            "SELECT claimed_by, count(*) FROM outbox WHERE status = 'sent' GROUP BY claimed_by"
        )
    return Counter({str(r[0]): int(r[1]) for r in rows})


def copies(api: FakeBotApi, chats: list[int]) -> Counter[int]:
    return Counter({chat: api.sent_total(chat) for chat in chats})


def send_times(api: FakeBotApi, chats: list[int]) -> list[float]:
    wanted = set(chats)
    return sorted(
        r.at
        for r in api.requests
        if r.method == "sendMessage" and int(r.params.get("chat_id", 0)) in wanted
    )


def busiest_second(times: list[float]) -> int:
    """The most sends in any one-second window (Telegram allows about 30)."""
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= 1.0:
            start += 1
        best = max(best, end - start + 1)
    return best
