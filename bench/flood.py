"""Benchmark: a flood from two chats while the administrator asks /me every 2 seconds.

    .venv/bin/python bench/flood.py [--messages 200] [--seconds 10]

The fake Bot API (bot/emulator) enforces Telegram's real limits (1 message a second per private
chat after a burst of 5; 30 a second overall); the bot runs in this process with its default
tunables (flood control included: a bucket of 10 messages refilled at 30 a minute, strangers
told once per 10 minutes). For `--seconds` seconds a stranger and a registered inspector each
send `--messages` messages, evenly spread, while the administrator sends /me every 2 seconds.
Printed: the administrator's reply times (p50 / p95 / max), 429 answers in the administrator's
chat and in all, what the two flooders got back, and how many replies went through the outbox
because they would have had to wait (bot.replies).

`--no-flood-control` loosens the per-person bucket, so every message is answered and the
inspector's chat is pushed far past Telegram's per-chat limit: the replies that must wait are
diverted to the outbox (no handler sleeps on a 429) and all still arrive.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings, Tunables  # noqa: E402
from bot.db import open_database  # noqa: E402
from bot.replies import Replies  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    RELAXED_FLOOD,
    TOKEN,
    add_department,
    add_inspector,
    add_person,
    open_chat,
    running_bot,
)

STRANGER = 4001
INSPECTOR = 2001


def refused_in(api: FakeBotApi, chat_id: int) -> int:
    """Calls to the chat that delivered nothing (429 here: nothing else fails)."""
    calls = sum(
        1
        for r in api.requests
        if r.method.startswith("send") and int(r.params.get("chat_id", 0)) == chat_id
    )
    return calls - api.sent_total(chat_id)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def flood(api: FakeBotApi, user_id: int, count: int, seconds: float) -> None:
    for n in range(count):
        api.send_text(user_id, f"/me {n}" if n % 2 else f"你好 {n}")
        await asyncio.sleep(seconds / count)


async def run(count: int, seconds: float, workdir: Path, flood_control: bool) -> None:
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        open_chat(api, STRANGER, "路人")
        open_chat(api, INSPECTOR, "检查员")
        db_path = workdir / "flood.sqlite3"
        async with open_database(db_path) as db:
            await add_department(db, "SCJG", "县市场监管局")
            await add_inspector(db, "C001", "检查员", "SCJG")
            await add_person(db, INSPECTOR, "检查员", inspector_certificate="C001")
        settings = Settings(
            token=TOKEN,
            api_url=api.base_url,
            file_url=api.base_file_url,
            db_path=db_path,
            admins=frozenset({ADMIN_ID}),
            tunables=Tunables() if flood_control else Tunables(flood=RELAXED_FLOOD),
        )
        async with running_bot(settings) as app:
            loop = asyncio.get_running_loop()
            floods = [
                asyncio.create_task(flood(api, STRANGER, count, seconds)),
                asyncio.create_task(flood(api, INSPECTOR, count, seconds)),
            ]
            latencies: list[float] = []
            late = 0
            for _ in range(int(seconds // 2) + 1):
                started = loop.time()
                before = api.sent_total(ADMIN_ID)
                api.send_text(ADMIN_ID, "/me")
                try:
                    await api.wait_for(
                        lambda b=before: api.sent_total(ADMIN_ID) > b, 10.0, dump=False
                    )
                    latencies.append(loop.time() - started)
                except TimeoutError:
                    late += 1
                await asyncio.sleep(max(0.0, 2.0 - (loop.time() - started)))
            await asyncio.gather(*floods)
            await asyncio.sleep(15.0)  # let the answers that were let through go out
            if not flood_control:  # every message is answered: wait for the queue to drain
                await app.bot_data["outbox"].idle(timeout=600.0)
            stranger_got = api.sent_total(STRANGER)
            inspector = [m.text for m in api.chat_messages(INSPECTOR)]
            replies = app.bot_data["replies"]
            assert isinstance(replies, Replies)
        total_429 = sum(1 for e in api.errors if e.status == 429)
        print(
            f"{count} messages from a stranger and {count} from a registered inspector in"
            f" {seconds:.0f} s, the administrator sending /me every 2 s:"
        )
        print(f"  administrator's /me answered       {len(latencies)} of {len(latencies) + late}")
        if latencies:
            print(
                f"  administrator's reply p50 / p95 / max"
                f"  {statistics.median(latencies):.2f} s / {percentile(latencies, 0.95):.2f} s"
                f" / {max(latencies):.2f} s"
            )
        print(f"  429 answers in the admin's chat    {refused_in(api, ADMIN_ID)}")
        print(f"  429 answers in all                 {total_429}")
        print(f"  messages to the stranger           {stranger_got}")
        slowed = sum("您发送得太快了" in t for t in inspector)
        print(f"  messages to the inspector          {len(inspector)} ({slowed} slow-down notice)")
        print(f"  replies diverted to the outbox     {replies.diverted}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--no-flood-control", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-flood-") as tmp:
        asyncio.run(run(args.messages, args.seconds, Path(tmp), not args.no_flood_control))


if __name__ == "__main__":
    main()
