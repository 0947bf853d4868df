"""Benchmark: an administrator's broadcast to 1,000 private chats at Telegram's real limits.

    .venv/bin/python bench/broadcast.py [--recipients 1000]

The fake Bot API (tests/fakeapi) enforces Telegram's limits: 30 messages a second overall
(sliding window), 1 a second per private chat after a burst of 5, 20 a minute per group; past
them it answers 429 with retry_after. The bot runs with its default tunables (28/s overall).

1. Normal run: the bot runs in this process; the administrator goes through /broadcast in the
   fake (audience, text, confirm). Printed: messages a second from the first copy to the last,
   429 answers, messages lost, duplicates.
2. Crash run: the bot runs as `python -m bot run` in a child process, is killed with SIGKILL
   when about half the copies are out, and started again. Printed: the same figures, plus how
   many messages were "in flight" (marked sending) at the kill: only those may be duplicated.
   Finally the child is stopped with SIGTERM and the time to exit is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.db import open_database  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    TOKEN,
    Admin,
    add_department,
    add_person,
    compose,
    open_chat,
    running_bot,
)

FIRST_ID = 100_000
TEXT = "【县市场监管局】请各部门于本周五前报送联合抽查进度。"


def recipients(count: int) -> list[int]:
    return list(range(FIRST_ID, FIRST_ID + count))


def open_chats(api: FakeBotApi, people: list[int]) -> None:
    open_chat(api, ADMIN_ID, "县局管理员")
    for uid in people:
        open_chat(api, uid, f"联络员{uid}")


async def seed(db_path: Path, people: list[int]) -> None:
    async with open_database(db_path) as db:
        await add_department(db, "MZJ", "县民政局")
        for uid in people:
            await add_person(db, uid, f"联络员{uid}", liaison_of="MZJ")


def copies(api: FakeBotApi, people: list[int]) -> Counter[int]:
    return Counter({uid: api.sent_total(uid) for uid in people})


def copy_times(api: FakeBotApi, people: list[int]) -> list[float]:
    wanted = set(people)
    return sorted(
        r.at
        for r in api.requests
        if r.method == "sendMessage" and int(r.params.get("chat_id", 0)) in wanted
    )


def figures(label: str, api: FakeBotApi, people: list[int], times: list[float]) -> None:
    counts = copies(api, people)
    lost = sum(1 for uid in people if counts[uid] == 0)
    duplicates = sum(n - 1 for n in counts.values() if n > 1)
    throttled = sum(1 for e in api.errors if e.status == 429)
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    rate = (len(times) - 1) / span if span else 0.0
    print(f"{label}:")
    print(f"  copies sent           {len(times)} to {len(people)} chats in {span:.1f} s")
    print(f"  messages per second   {rate:.1f}")
    print(f"  429 answers           {throttled}")
    print(f"  messages lost         {lost}")
    print(f"  duplicates            {duplicates}")


async def wait_report(api: FakeBotApi, timeout: float) -> None:  # noqa: ASYNC109
    await api.wait_for(
        lambda: any("送达报告" in m.text for m in api.chat_messages(ADMIN_ID)), timeout, dump=False
    )


async def normal_run(count: int, workdir: Path) -> None:
    people = recipients(count)
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chats(api, people)
        db_path = workdir / "normal.sqlite3"
        await seed(db_path, people)
        settings = Settings(
            token=TOKEN,
            api_url=api.base_url,
            file_url=api.base_file_url,
            db_path=db_path,
            admins=frozenset({ADMIN_ID}),
        )
        async with running_bot(settings):
            admin = Admin(api)
            confirm = await compose(admin, "全部部门联络员", TEXT)
            await admin.press(confirm, "立即发送")
            await wait_report(api, timeout=count / 20 + 30)
        figures("normal run", api, people, copy_times(api, people))


def start_child(api: FakeBotApi, db_path: Path, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    env.update(
        BOT_TOKEN=TOKEN,
        BOT_API_URL=api.base_url,
        BOT_API_FILE_URL=api.base_file_url,
        BOT_DB=str(db_path),
        BOT_ADMINS=str(ADMIN_ID),
        BOT_CONFIG="",
    )
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "bot", "--log-level", "WARNING", "run"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


async def wait_polling(api: FakeBotApi, before: int) -> None:
    await api.wait_for(lambda: len(api.calls("getUpdates")) > before, 30, dump=False)


async def count_rows(db_path: Path, sql: str) -> int:
    async with open_database(db_path, migrate=False) as db:
        row = await db.fetchone(sql)
        return int(row[0]) if row else 0


async def crash_run(count: int, workdir: Path) -> None:
    people = recipients(count)
    log = workdir / "bot.log"
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chats(api, people)
        db_path = workdir / "crash.sqlite3"
        await seed(db_path, people)
        child = start_child(api, db_path, log)
        try:
            await wait_polling(api, 0)
            admin = Admin(api)
            confirm = await compose(admin, "全部部门联络员", TEXT)
            await admin.press(confirm, "立即发送")
            await api.wait_for(lambda: sum(copies(api, people).values()) >= count // 2, 120)
            child.send_signal(signal.SIGKILL)
            child.wait()
            before_kill = sum(copies(api, people).values())
            in_flight = await count_rows(
                db_path, "SELECT count(*) FROM outbox WHERE status = 'sending'"
            )
            print(f"killed with SIGKILL after {before_kill} copies; {in_flight} marked in flight")
            polls = len(api.calls("getUpdates"))
            child = start_child(api, db_path, log)
            await wait_polling(api, polls)
            await wait_report(api, timeout=count / 20 + 60)
            figures("crash run (both processes)", api, people, copy_times(api, people))
            started = time.monotonic()
            child.send_signal(signal.SIGTERM)
            await asyncio.to_thread(child.wait, 30)
            print(f"  SIGTERM to exit       {time.monotonic() - started:.1f} s")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--skip-normal", action="store_true")
    parser.add_argument("--skip-crash", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-broadcast-") as tmp:
        workdir = Path(tmp)
        if not args.skip_normal:
            asyncio.run(normal_run(args.recipients, workdir))
        if not args.skip_crash:
            asyncio.run(crash_run(args.recipients, workdir))


if __name__ == "__main__":
    main()
