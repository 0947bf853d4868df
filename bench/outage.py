"""Benchmark: Telegram goes down (every sendMessage answers 502) during a 1,000-recipient broadcast.

    .venv/bin/python bench/outage.py [--recipients 1000] [--outage 60 --outage 600]

The fake Bot API (bot/emulator) enforces Telegram's real limits; the bot runs in this process
with its default tunables (28/s overall, retry budget 24 h). The administrator goes through
/broadcast in the fake; when about a fifth of the copies are out, the fake's public outage knob
(`FakeBotApi.outage`) makes every sendMessage answer 502 for the given number of real seconds
(no scaled clock: a 10 min outage takes 10 min). Printed per outage: recipients reached, lost
(never got the copy), doubled (got it twice or more), reported failed in the delivery report,
failing calls during the outage and per second, how long after the outage the first copy got
through, and the time from the first copy to the report.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.broadcast import TEXT, copies, open_chats, recipients, seed  # noqa: E402
from bot.config import Settings  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    TOKEN,
    Admin,
    compose,
    db_of,
    running_bot,
    sender_of,
)


async def outage_run(count: int, seconds: float, workdir: Path) -> None:
    people = recipients(count)
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chats(api, people)
        db_path = workdir / f"outage-{seconds:g}.sqlite3"
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
            await api.wait_for(lambda: sum(copies(api, people).values()) >= count // 5, 120)
            before = sum(copies(api, people).values())
            fault = api.outage(seconds)
            started = time.monotonic()
            await asyncio.sleep(seconds)
            ended = time.monotonic()
            during = sum(copies(api, people).values()) - before
            await api.wait_for(
                lambda: any("送达报告" in m.text for m in api.chat_messages(ADMIN_ID)),
                count / 20 + 180,
                dump=False,
            )
            failed_rows = await db_of(app).fetchone(
                "SELECT count(*) FROM outbox WHERE status = 'failed'"
            )
            stats = sender_of(app).stats
        wanted = set(people)
        first_after = min(
            (
                r.at
                for r in api.requests
                if r.method == "sendMessage"
                and r.at >= ended
                and int(r.params.get("chat_id", 0)) in wanted
            ),
            default=ended,
        )
        times = sorted(
            r.at
            for r in api.requests
            if r.method == "sendMessage" and int(r.params.get("chat_id", 0)) in wanted
        )
        counts = copies(api, people)
        report = next(m for m in api.chat_messages(ADMIN_ID) if "送达报告" in m.text)
        print(f"outage of {seconds:g} s during a broadcast to {count} chats:")
        print(f"  copies out before the outage  {before}")
        print(f"  copies out during the outage  {during}")
        print(f"  recipients reached            {sum(1 for u in people if counts[u] > 0)}")
        print(f"  lost                          {sum(1 for u in people if counts[u] == 0)}")
        print(f"  doubled                       {sum(n - 1 for n in counts.values() if n > 1)}")
        print(f"  reported failed (outbox rows) {failed_rows[0] if failed_rows else 0}")
        print(f"  failing calls in the outage   {fault.served}")
        print(f"  failing calls per second      {fault.served / (ended - started):.2f}")
        print(f"  probes / outages seen         {stats.probes} / {stats.outages}")
        print(f"  first copy after the outage   {first_after - ended:.1f} s")
        print(f"  first copy to last            {times[-1] - times[0]:.1f} s")
        summary = next(line for line in report.text.splitlines() if line.startswith("已送达"))
        print(f"  report says                   {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--outage", type=float, action="append", help="seconds (repeatable)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-outage-") as tmp:
        for seconds in args.outage or [60.0, 600.0]:
            asyncio.run(outage_run(args.recipients, seconds, Path(tmp)))


if __name__ == "__main__":
    main()
