"""Benchmark: two instances (two `python -m bot run` processes) on one database, a 1,000-recipient
broadcast, the leading instance killed with SIGKILL halfway.

    .venv/bin/python bench/instances.py [--recipients 1000] [--claim-seconds 10]
    BOT_DB=postgresql://… .venv/bin/python bench/instances.py      # once the PostgreSQL store is in

BOT_DB picks the database both processes share (default: a fresh SQLite file in a temporary
folder; a PostgreSQL URL must point at an empty database). The fake Bot API runs in this process
at Telegram's real limits (30/s overall in a sliding second, 1/s per private chat after a burst
of 5; past them it answers 429). The instances run with the default pace (28/s) and short leases
(`[instances] leader_lease_seconds`, `claim_seconds`) so the kill is noticed within seconds.

Printed:
1. command round trip (/help → answer) with both instances up, median and 90th percentile;
2. the broadcast: messages a second from the first copy to the last, 429 answers, lost,
   doubled, rows the killed instance had claimed, how long until the other one led, copies
   sent per instance;
3. the cost of the claim transaction with its pacing-ledger slots (in this process, on a copy
   of the queue): milliseconds per claim and per message.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.db import open_database  # noqa: E402
from bot.domain.pacing import PacingLimits  # noqa: E402
from bot.store import outbox as store  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.instances_support import (  # noqa: E402
    busiest_second,
    copies,
    instance_config,
    leader_of,
    scalar,
    send_times,
    senders,
    start_instance,
    stop_all,
)
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    TOKEN,
    Admin,
    add_department,
    add_person,
    compose,
    open_chat,
    until,
)

FIRST_ID = 200_000
TEXT = "【县市场监管局】请各部门于本周五前报送联合抽查进度。"


async def seed(db: str, people: list[int]) -> None:
    async with open_database(db) as conn:
        await add_department(conn, "MZJ", "县民政局")
        for uid in people:
            await add_person(conn, uid, f"联络员{uid}", liaison_of="MZJ")


async def leads(db: str, name: str) -> bool:
    return await leader_of(db) == name


async def round_trips(api: FakeBotApi, count: int) -> list[float]:
    took: list[float] = []
    for _ in range(count):
        before = api.sent_total(ADMIN_ID)
        started = time.monotonic()
        api.send_text(ADMIN_ID, "/help")
        await api.wait_for_messages(ADMIN_ID, before + 1, timeout=30)
        took.append((time.monotonic() - started) * 1000)
        await asyncio.sleep(2.1)  # a person typing, within the bot's own flood limit ([flood])
    return took


async def broadcast_run(args: argparse.Namespace, db: str, workdir: Path) -> None:
    people = list(range(FIRST_ID, FIRST_ID + args.recipients))
    log = workdir / "instances.log"
    config = instance_config(
        workdir / "bot.toml", leader_seconds=args.leader_seconds, claim_seconds=args.claim_seconds
    )
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        for uid in people:
            open_chat(api, uid, f"联络员{uid}")
        await seed(db, people)
        children = [start_instance(api, db, "p1", config, log)]
        try:
            await api.wait_for(lambda: bool(api.calls("getUpdates")), 60, dump=False)
            children.append(start_instance(api, db, "p2", config, log))
            await api.wait_for(lambda: "instance p2 stands by" in log.read_text(), 60, dump=False)
            took = await round_trips(api, args.round_trips)
            took.sort()
            print(f"database: {'PostgreSQL' if db.startswith('postgres') else 'SQLite'}")
            print(
                f"command round trip (/help, {len(took)} times, 2 instances): median"
                f" {statistics.median(took):.0f} ms, p90 {took[int(len(took) * 0.9) - 1]:.0f} ms"
            )
            admin = Admin(api)
            confirm = await compose(admin, "全部部门联络员", TEXT)
            await admin.press(confirm, "立即发送")
            await api.wait_for(
                lambda: sum(copies(api, people).values()) >= len(people) // 2, 120, dump=False
            )
            victim = await leader_of(db)
            child = children[0] if victim == "p1" else children[1]
            child.send_signal(signal.SIGKILL)
            child.wait()
            killed_at = kill_time = time.monotonic()
            before_kill = sum(copies(api, people).values())
            claimed = await scalar(
                db,
                "SELECT count(*) FROM outbox WHERE status = 'sending' AND claimed_by = ?",
                (victim,),
            )
            survivor = "p2" if victim == "p1" else "p1"
            await until(lambda: leads(db, survivor), timeout=60)
            takeover = time.monotonic() - killed_at
            await api.wait_for(
                lambda: any("群发送达报告" in m.text for m in api.chat_messages(ADMIN_ID)),
                len(people) / 20 + 120,
                dump=False,
            )
            counts = copies(api, people)
            times = send_times(api, people)
            span = times[-1] - times[0] if len(times) > 1 else 0.0
            lost = sum(1 for uid in people if counts[uid] == 0)
            doubled = sum(n - 1 for n in counts.values() if n > 1)
            throttled = sum(1 for e in api.errors if e.status == 429)
            by_instance = await senders(db)
            print(f"broadcast to {len(people)} private chats, leader {victim} killed (SIGKILL):")
            print(f"  killed after          {before_kill} copies; it had {claimed} row(s) claimed")
            print(f"  {survivor} led after        {takeover:.1f} s")
            print(f"  copies sent           {len(times)} in {span:.1f} s")
            print(f"  messages per second   {(len(times) - 1) / span if span else 0.0:.1f}")
            before = [t for t in times if t < kill_time]
            after = [t for t in times if t >= kill_time]
            for label, part in (("before the kill", before), ("after the kill", after)):
                if len(part) > 1:
                    rate = (len(part) - 1) / (part[-1] - part[0])
                    print(f"    {label:<19} {rate:.1f} msg/s ({len(part)} copies)")
            print(f"  busiest second        {busiest_second(times)} messages")
            print(f"  429 answers           {throttled}")
            print(f"  messages lost         {lost}")
            print(f"  doubled               {doubled}")
            print(f"  sent per instance     {dict(sorted(by_instance.items()))}")
            async with open_database(db, migrate=False) as conn:
                failed = await conn.fetchall(
                    "SELECT error, count(*) FROM outbox WHERE status <> 'sent' GROUP BY error"
                )
            if failed:
                print(f"  not sent              {[(r[0], r[1]) for r in failed]}")
                print(log.read_text()[-3000:])
        finally:
            stop_all(children)


async def claim_cost(db: str, rows: int) -> None:
    """Claims on a queue of `rows` messages to as many chats, at a pace no claim waits for."""
    fast = PacingLimits(overall_per_second=1e6, overall_burst=1e6, private_per_second=1e6)
    async with open_database(db) as conn:
        async with conn.transaction() as tx:
            for n in range(rows):
                await store.enqueue(tx, 300_000 + n, "测", bulk=True)
        claims, taken, started = 0, 0, time.perf_counter()
        while True:
            heads = await store.due_heads(conn, (), 16)
            if not heads:
                break
            got = await store.claim(
                conn,
                [h.id for h in heads],
                instance="bench",
                lease_seconds=60,
                limits=fast,
                ahead=0.25,
            )
            claims += 1
            taken += len(got.rows)
        elapsed = (time.perf_counter() - started) * 1000
    print(
        f"claim cost: {claims} claims of up to 16 rows ({taken} rows, due-heads query included):"
        f" {elapsed / claims:.2f} ms per claim, {elapsed / taken:.2f} ms per message"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--recipients", type=int, default=1000)
    parser.add_argument("--round-trips", type=int, default=8)
    parser.add_argument("--leader-seconds", type=float, default=5.0)
    parser.add_argument("--claim-seconds", type=float, default=10.0)
    parser.add_argument("--claim-rows", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-instances-") as tmp:
        workdir = Path(tmp)
        db = os.environ.get("BOT_DB", "").strip() or str(workdir / "shared.sqlite3")
        asyncio.run(broadcast_run(args, db, workdir))
        cost_db = db if db.startswith("postgres") else str(workdir / "claims.sqlite3")
        asyncio.run(claim_cost(cost_db, args.claim_rows))


if __name__ == "__main__":
    main()
