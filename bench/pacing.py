"""Benchmark: a person types a command every second for a minute while a broadcast and notices
go to them.

    .venv/bin/python bench/pacing.py [--recipients 1000] [--seconds 60]

The fake Bot API (bot/emulator) enforces Telegram's real limits (1 message a second per private
chat after a burst of 5; 30 a second overall); the bot runs in this process with its default
tunables. The administrator starts a broadcast to every liaison, and 20 notices are queued (in the
outbox, as task notices are) for the person who types. Two runs:

1. a liaison (a broadcast recipient) types /help once a second;
2. the administrator (who gets the broadcast's progress edits) types /stats every other second:
   each answer is two messages at once, a text and a chart, like /draw's several replies.

Direct replies and the outbox share one per-chat pace, replies first. Printed: 429 answers (in
that chat and in all), answers received and how long they took, and how many of the queued
notices reached the person meanwhile.
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

from bench.broadcast import TEXT, open_chats, recipients, seed  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.store import outbox  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import ADMIN_ID, TOKEN, Admin, compose, db_of, running_bot  # noqa: E402

NOTICE = "📨 联合检查通知"


async def run(count: int, seconds: int, workdir: Path, command: str, every: int) -> None:
    people = recipients(count)
    typist = people[len(people) // 2] if command == "/help" else ADMIN_ID
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chats(api, people)
        db_path = workdir / f"pacing-{command[1:]}.sqlite3"
        await seed(db_path, people)
        settings = Settings(
            token=TOKEN,
            api_url=api.base_url,
            file_url=api.base_file_url,
            db_path=db_path,
            admins=frozenset({ADMIN_ID}),
        )
        async with running_bot(settings) as app:
            admin = Admin(api)
            confirm = await compose(admin, "全部部门联络员", TEXT)
            await admin.press(confirm, "立即发送")
            async with db_of(app).transaction() as conn:
                for i in range(20):
                    await outbox.enqueue(conn, typist, f"{NOTICE} #{i + 1}")
            loop = asyncio.get_running_loop()
            latencies: list[float] = []
            late = 0
            before_all = len(_replies(api, typist))
            for _ in range(seconds // every):
                started = loop.time()
                before = len(_replies(api, typist))
                api.send_text(typist, command)
                try:
                    await api.wait_for(
                        lambda b=before: len(_replies(api, typist)) > b, 5.0, dump=False
                    )
                    latencies.append(loop.time() - started)
                except TimeoutError:
                    late += 1
                await asyncio.sleep(max(0.0, every - (loop.time() - started)))
            await asyncio.sleep(2.0)  # the last answers' second message
            answers = len(_replies(api, typist)) - before_all
            notices = sum(1 for m in api.chat_messages(typist) if m.text.startswith(NOTICE))
            broadcast_copy = any(m.text == TEXT for m in api.chat_messages(typist))
        # Every call to that chat either delivered a message or was refused (only 429 here).
        calls = sum(
            1
            for r in api.requests
            if r.method.startswith("send") and int(r.params.get("chat_id", 0)) == typist
        )
        in_chat = calls - api.sent_total(typist)
        total_429 = sum(1 for e in api.errors if e.status == 429)
        who = "a liaison" if typist != ADMIN_ID else "the administrator"
        print(
            f"{who} sends {command} every {every} s for {seconds} s during a broadcast"
            f" to {count} chats:"
        )
        print(f"  429 answers in the typist's chat  {in_chat}")
        print(f"  429 answers in all                {total_429}")
        print(f"  commands answered                 {len(latencies)} of {seconds // every}")
        print(f"  answers later than 5 s            {late}")
        print(f"  messages in the answers           {answers}")
        if latencies:
            median, worst = statistics.median(latencies), max(latencies)
            print(f"  reply time median / max           {median:.2f} s / {worst:.2f} s")
        print(f"  notices delivered meanwhile       {notices} of 20")
        print(f"  broadcast copy delivered          {broadcast_copy}")


def _replies(api: FakeBotApi, chat_id: int) -> list[str]:
    return [
        m.text
        for m in api.chat_messages(chat_id)
        if m.text != TEXT and not m.text.startswith(NOTICE) and "群发" not in m.text
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pacing-") as tmp:
        asyncio.run(run(args.recipients, args.seconds, Path(tmp), "/help", 1))
        asyncio.run(run(args.recipients, args.seconds, Path(tmp), "/stats", 2))


if __name__ == "__main__":
    main()
