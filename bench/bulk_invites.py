"""Benchmark onboarding a county: the bulk invitation workbook (links + QR codes) for 300 and
1,000 inspectors, then, end to end against the fake Bot API (Telegram's limits on a clock 50
times faster), `/invite inspectors all` for 1,000 inspectors in 20 departments and 1,000
people pressing their links at once. Prints build times, file sizes, the reply time, the time
until everyone is welcomed, the administrator's messages about joins and the event loop's
longest stall while the workbook is built.

    .venv/bin/python bench/bulk_invites.py [--people 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import openpyxl  # noqa: E402

from bot import clock  # noqa: E402
from bot import reminders as engine  # noqa: E402
from bot.invite_sheet import LinkRow, build  # noqa: E402
from bot.render import Renderer  # noqa: E402
from tests.fakeapi import FakeBotApi  # noqa: E402
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    FAST_CLOCK,
    Admin,
    db_of,
    running_bot,
    sender_of,
    settings_for,
)

LINK = re.compile(r"start=([A-Za-z0-9_-]+)")


def workbook(count: int) -> None:
    rows = [
        LinkRow(
            f"检查员{i}",
            f"县第{i % 20}局",
            f"{i:08d}",
            f"https://t.me/county_inspect_bot?start=AbCdEfGhIjKl{i:04d}",
            datetime(2026, 12, 8, 10, 0),
        )
        for i in range(count)
    ]
    started = time.perf_counter()
    sheet = build(Renderer(html=False), rows, department="", day="bench")
    seconds = time.perf_counter() - started
    print(
        f"workbook, {count} links + QR codes: {seconds:.2f} s"
        f" ({seconds / count * 1000:.1f} ms each), {len(sheet.data) / 1024:.0f} KB"
    )


async def stall_probe(stop: asyncio.Event, worst: list[float]) -> None:
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        before = loop.time()
        await asyncio.sleep(0.01)
        worst[0] = max(worst[0], loop.time() - before - 0.01)


async def end_to_end(people: int) -> None:
    moment = [datetime(2026, 12, 1, 2, 0, tzinfo=UTC)]  # Tuesday 10:00 in Beijing
    clock.set_source(lambda: moment[0])
    api = FakeBotApi(limits=FAST_CLOCK)
    await api.start()
    api.add_user(ADMIN_ID, "县局管理员")
    admin = Admin(api)
    departments = 20
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with running_bot(settings_for(api, Path(tmp) / "bench.sqlite3")) as app:
                lines = ["部门编码,部门名称"] + [f"D{d:02d},县第{d}局" for d in range(departments)]
                await admin.upload("部门.csv", "\n".join(lines).encode(), "部门", expect=2)
                lines = ["姓名,所属部门编码,执法证号"] + [
                    f"检查员{i},D{i % departments:02d},{i:08d}" for i in range(people)
                ]
                await admin.upload("人员.csv", "\n".join(lines).encode(), "人员", expect=2)
                stop, worst = asyncio.Event(), [0.0]
                probe = asyncio.create_task(stall_probe(stop, worst))
                before = api.sent_total(ADMIN_ID)
                started = time.perf_counter()
                api.send_text(ADMIN_ID, "/invite inspectors all")
                await api.wait_for_messages(ADMIN_ID, before + 2, timeout=600)
                reply = time.perf_counter() - started
                stop.set()
                await probe
                sheet = api.chat_messages(ADMIN_ID)[before + 1]
                assert sheet.document is not None
                book = openpyxl.load_workbook(io.BytesIO(sheet.document.content))
                codes = [
                    LINK.search(str(r[3])).group(1)  # type: ignore[union-attr]
                    for r in book.worksheets[0].iter_rows(min_row=2, values_only=True)
                ]
                print(
                    f"/invite inspectors all, {len(codes)} links: report and workbook in"
                    f" {reply:.2f} s; longest event-loop stall meanwhile {worst[0] * 1000:.0f} ms"
                )
                started = time.perf_counter()
                users = list(range(100_000, 100_000 + len(codes)))
                for uid, code in zip(users, codes, strict=True):
                    api.add_user(uid, f"用户{uid}")
                    api.send_text(uid, f"/start {code}")
                await api.wait_for(lambda: all(api.sent_total(u) >= 1 for u in users), timeout=900)
                joined = time.perf_counter() - started
                row = await db_of(app).fetchone(
                    "SELECT count(*) FROM inspectors WHERE person_id IS NOT NULL"
                )
                print(
                    f"{len(users)} people press their links at once: all welcomed in"
                    f" {joined:.2f} s ({len(users) / joined:.0f}/s); registered: {row[0]}"
                )
                await engine.run_due(app)
                moment[0] = moment[0].replace(hour=3)  # an hour later
                await engine.run_due(app)
                await sender_of(app).idle()
                about_joins = [m for m in api.chat_messages(ADMIN_ID) if "注册汇总" in m.text]
                print(
                    f"administrator's messages about {len(users)} joins: {len(about_joins)}"
                    f" (longest {max(len(m.text) for m in about_joins)} characters)"
                )
    finally:
        await api.stop()
        clock.reset()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--people", type=int, default=1000)
    args = parser.parse_args()
    for count in (300, 1000):
        workbook(count)
    asyncio.run(end_to_end(args.people))


if __name__ == "__main__":
    main()
