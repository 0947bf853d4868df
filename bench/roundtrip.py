"""Benchmark: command round trip on SQLite and on PostgreSQL.

    .venv/bin/python bench/roundtrip.py [--count 200] [--pg postgresql://…]

An administrator sends /me through the fake Bot API (bot/emulator, Telegram's limits switched
off so that only the bot is measured) and waits for the answer, `count` times one after the
other, each time another administrator (the bot's own per-chat pace would otherwise be what is
measured); the bot runs in this process. /me reads the person and their roles, and audits the
command in a transaction of its own, so each round trip is an update fetched by long polling,
a few queries, a write and a sendMessage. Run once on an SQLite file and once on PostgreSQL
(`--pg`, else BOT_TEST_PG; a fresh schema is made there and dropped afterwards). Printed per
store: median, p95, mean and total time; and PostgreSQL's median as a multiple of SQLite's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402

from bot.config import Settings, Tunables  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import ADMIN_ID, RELAXED_FLOOD, TOKEN, running_bot  # noqa: E402
from tests.pg_support import with_schema  # noqa: E402

WARM_UP = 5


async def measure(database: Path | str, count: int) -> list[float]:
    # One administrator per round trip: the bot keeps Telegram's pace of about one message a
    # second per private chat, which one person typing 200 commands would measure instead.
    users = [ADMIN_ID + i for i in range(count + WARM_UP)]
    async with FakeBotApi(token=TOKEN, limits=Limits(enabled=False)) as api:
        for user in users:
            api.add_user(user, f"管理员{user}")
        settings = Settings(
            token=TOKEN,
            api_url=api.base_url,
            file_url=api.base_file_url,
            db_path=database if isinstance(database, Path) else Path("unused.sqlite3"),
            db_url=database if isinstance(database, str) else None,
            admins=frozenset(users),
            tunables=Tunables(flood=RELAXED_FLOOD),
        )
        async with running_bot(settings):
            times: list[float] = []
            for n, user in enumerate(users):
                started = time.perf_counter()
                api.send_text(user, "/me")
                await api.wait_for_messages(user, 1)
                if n >= WARM_UP:  # the first ones compile templates and warm the caches
                    times.append(time.perf_counter() - started)
            return times


def report(name: str, times: list[float]) -> float:
    ordered = sorted(times)
    median = statistics.median(ordered)
    p95 = ordered[max(0, round(0.95 * len(ordered)) - 1)]
    print(
        f"{name:<10} /me x{len(times)}: median {median * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms,"
        f" mean {statistics.fmean(ordered) * 1000:.1f} ms, total {sum(ordered):.2f} s"
    )
    return median


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--pg", default=os.environ.get("BOT_TEST_PG"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        sqlite = report("SQLite", await measure(Path(tmp) / "roundtrip.sqlite3", args.count))
    if not args.pg:
        print("PostgreSQL: skipped (no --pg URL and no BOT_TEST_PG)")
        return
    schema = f"bench_roundtrip_{os.getpid()}"
    with psycopg.connect(args.pg, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            pg = report("PostgreSQL", await measure(with_schema(args.pg, schema), args.count))
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"PostgreSQL median / SQLite median: {pg / sqlite:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
