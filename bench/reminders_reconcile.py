"""Benchmark reconciled reminders: a county with 20 departments (2 liaisons each), 300 tasks
waiting for results (the lead and 2 partners each) and 100 training sessions. Prints how long
the scan takes the first time (everything planned), again (nothing changed), a /holiday change
(every calendar-dependent series re-planned in one transaction), one report submitted and one
task cancelled, with the rows each touched.

    .venv/bin/python bench/reminders_reconcile.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot import clock, workcal
from bot import reminders as engine
from bot.config import InvitationTunables, ReminderTunables
from bot.store import reminders as store
from tests.fakeapi import FakeBotApi
from tests.outbox_support import db_of, running_bot, settings_for

DEPARTMENTS, TASKS, TRAININGS = 20, 300, 100
NOW = datetime(2026, 12, 10, 0, 0, tzinfo=UTC)  # 08:00 Beijing


async def seed(app: object) -> None:
    db = db_of(app)
    now = clock.now_db()
    async with db.transaction() as conn:
        for d in range(DEPARTMENTS):
            await conn.execute(
                "INSERT INTO departments (code, name, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (f"D{d:02d}", f"部门{d}", now, now),
            )
            for k in range(2):
                uid = 10_000 + d * 10 + k
                cursor = await conn.execute(
                    "INSERT INTO people (tg_user_id, full_name, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?) RETURNING id",
                    (uid, f"联络员{d}-{k}", now, now),
                )
                person_id = int((await cursor.fetchone())[0])
                await conn.execute(
                    "INSERT INTO liaisons (person_id, department_code, created_at)"
                    " VALUES (?, ?, ?)",
                    (person_id, f"D{d:02d}", now),
                )
        for t in range(TASKS):
            end = date(2026, 12, 4) + timedelta(days=t % 40)
            cursor = await conn.execute(
                "INSERT INTO tasks (industry, lead_department, window_start, window_end,"
                " reply_deadline, deadline_set_at, state, joint, proposed_by, created_at,"
                " updated_at) VALUES ('养老机构', ?, ?, ?, ?, ?, 'confirmed', 1, 10000, ?, ?)"
                " RETURNING id",
                (f"D{t % DEPARTMENTS:02d}", end.isoformat(), end.isoformat(), now, now, now, now),
            )
            task_id = int((await cursor.fetchone())[0])
            for p in (1, 2):
                await conn.execute(
                    "INSERT INTO task_invitations (task_id, department_code, answer)"
                    " VALUES (?, ?, 'joined')",
                    (task_id, f"D{(t + p) % DEPARTMENTS:02d}"),
                )
            if t < TRAININGS:
                starts = NOW + timedelta(days=2 + t % 10, hours=2)
                await conn.execute(
                    "INSERT INTO trainings (task_id, department_code, starts_at, place,"
                    " created_by, created_at, updated_at) VALUES (?, ?, ?, '三楼', 10000, ?, ?)",
                    (task_id, f"D{t % DEPARTMENTS:02d}", clock.to_db(starts), now, now),
                )


async def pending(app: object) -> int:
    row = await db_of(app).fetchone("SELECT COUNT(*) FROM reminders WHERE status = 'pending'")
    return int(row[0]) if row else 0


async def scan(app: object) -> float:
    svc = app.bot_data["services"]  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    for prefix in engine.SOURCES:
        async with svc.db.transaction() as conn:
            await engine.reconcile_prefix(conn, svc, prefix, engine.local_now(svc))
    return time.perf_counter() - t0


async def main() -> None:
    clock.set_source(lambda: NOW)
    api = FakeBotApi()
    await api.start()
    with tempfile.TemporaryDirectory() as tmp:
        base = settings_for(api, Path(tmp) / "bench.sqlite3")
        settings = replace(
            base,
            tunables=replace(
                base.tunables,
                invitations=InvitationTunables(scan_seconds=3600),
                reminders=ReminderTunables(scan_seconds=3600),
            ),
        )
        async with running_bot(settings) as app:
            svc = app.bot_data["services"]
            await engine.stop(app)  # the bot's own periodic scan off: only what is measured
            await asyncio.sleep(1.0)
            await seed(app)
            print(f"county: {DEPARTMENTS} departments × 2 liaisons, {TASKS} tasks, "
                  f"{TRAININGS} trainings")  # fmt: skip
            first = await scan(app)
            print(f"first scan (plans everything): {first * 1000:.0f} ms, "
                  f"{await pending(app)} pending reminders")  # fmt: skip
            again = await scan(app)
            print(f"scan again (nothing changed): {again * 1000:.0f} ms")
            t0 = time.perf_counter()
            async with svc.db.transaction() as conn:
                await workcal.set_day(conn, date(2027, 1, 1), "holiday", 1)
                await workcal.load_within(conn, svc.db)
                await engine.calendar_changed(conn, svc)
            held = time.perf_counter() - t0
            moved = await db_of(app).fetchone(
                "SELECT COUNT(*) FROM reminders WHERE status = 'cancelled'"
            )
            print(f"/holiday add 2027-01-01 (one transaction): {held * 1000:.0f} ms, "
                  f"{moved[0] if moved else 0} obsolete cancelled, "
                  f"{await pending(app)} pending after")  # fmt: skip
            t0 = time.perf_counter()
            async with svc.db.transaction() as conn:
                await store.submit(conn, period="2026Q4", department="D03", how="other", user=1)
                await engine.reconcile(conn, svc, "report:2026Q4")
            print(f"one report submitted: {(time.perf_counter() - t0) * 1000:.1f} ms")
            t0 = time.perf_counter()
            async with svc.db.transaction() as conn:
                await conn.execute("UPDATE tasks SET state = 'cancelled' WHERE id = 1")
                await engine.task_changed(conn, svc, 1)
            print(f"one task cancelled: {(time.perf_counter() - t0) * 1000:.1f} ms")
    await api.stop()
    clock.reset()


if __name__ == "__main__":
    asyncio.run(main())
