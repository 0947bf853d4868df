"""The one working-day calendar of the bot: chinese-calendar (with make-up workdays), corrected
by the TOML [calendar] section and by the days administrators set with /holiday (stored in the
table `calendar_days`; they win over both). Also the once-per-year notice to administrators
that the official calendar of a year is missing.

The database days are cached per database file and reloaded after every /holiday change, so
`calendar(svc)` stays synchronous for the code that computes deadlines.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from datetime import date
from typing import Any

import aiosqlite

from bot import clock
from bot.db import Database
from bot.domain.workdays import WorkCalendar
from bot.services import Services
from bot.store import audit, outbox

Conn = aiosqlite.Connection

_db_days: dict[str, tuple[frozenset[date], frozenset[date]]] = {}


async def load(db: Database) -> None:
    """Read the /holiday days (at start-up and after each change)."""
    _keep(db, await db.fetchall("SELECT day, kind FROM calendar_days"))


async def load_within(conn: Conn, db: Database) -> None:
    """Read the /holiday days inside a transaction that changed them, so what it computes
    next (reminders reconciled in the same transaction) sees the change. A rollback must be
    followed by `load(db)`."""
    cursor = await conn.execute("SELECT day, kind FROM calendar_days")
    rows = await cursor.fetchall()
    await cursor.close()
    _keep(db, rows)


def _keep(db: Database, rows: Iterable[Any]) -> None:
    rows = list(rows)
    holidays = frozenset(date.fromisoformat(r["day"]) for r in rows if r["kind"] == "holiday")
    workdays = frozenset(date.fromisoformat(r["day"]) for r in rows if r["kind"] == "workday")
    _db_days[db.name] = (holidays, workdays)


@functools.lru_cache(maxsize=16)
def _combine(
    toml_h: tuple[date, ...],
    toml_w: tuple[date, ...],
    db_h: frozenset[date],
    db_w: frozenset[date],
) -> WorkCalendar:
    holidays = (set(toml_h) - db_w) | db_h
    workdays = (set(toml_w) - db_h) | db_w
    return WorkCalendar(holidays, workdays)


def calendar(svc: Services) -> WorkCalendar:
    t = svc.settings.tunables.invitations
    db_h, db_w = _db_days.get(svc.db.name, (frozenset(), frozenset()))
    return _combine(t.holidays, t.workdays, db_h, db_w)


def configured_days(svc: Services, year: int) -> int:
    cal = calendar(svc)
    return len([d for d in (*cal.holidays, *cal.workdays) if d.year == year])


async def set_day(conn: Conn, day: date, kind: str, actor: int, note: str = "") -> None:
    await conn.execute(
        "INSERT INTO calendar_days (day, kind, note, added_by, added_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (day) DO UPDATE SET kind = excluded.kind, note = excluded.note,"
        " added_by = excluded.added_by, added_at = excluded.added_at",
        (day.isoformat(), kind, note, actor, clock.now_db()),
    )
    await audit.record(
        conn,
        actor=actor,
        action="calendar.set",
        entity="day",
        entity_id=day.isoformat(),
        detail={"kind": kind},
    )


async def remove_day(conn: Conn, day: date, actor: int) -> bool:
    cursor = await conn.execute("DELETE FROM calendar_days WHERE day = ?", (day.isoformat(),))
    if cursor.rowcount:
        await audit.record(
            conn, actor=actor, action="calendar.remove", entity="day", entity_id=day.isoformat()
        )
    return bool(cursor.rowcount)


async def days(conn: Conn) -> list[tuple[date, str, str]]:
    cursor = await conn.execute("SELECT day, kind, note FROM calendar_days ORDER BY day")
    rows = await cursor.fetchall()
    await cursor.close()
    return [(date.fromisoformat(r[0]), r[1], r[2]) for r in rows]


async def admins(conn: Conn, env_admins: frozenset[int]) -> list[int]:
    cursor = await conn.execute("SELECT tg_user_id FROM people WHERE is_admin = 1")
    rows = await cursor.fetchall()
    await cursor.close()
    return sorted(env_admins | {int(r[0]) for r in rows})


async def note_gaps(conn: Conn, svc: Services, days: Iterable[date]) -> None:
    """A year the PRC calendar has no data for: tell the administrators, once per year (the
    table `calendar_gaps` remembers it), whichever feature comes across the year first."""
    for year in calendar(svc).years_without_data(days):
        cursor = await conn.execute(
            "INSERT INTO calendar_gaps (year, noticed_at) VALUES (?, ?)"
            " ON CONFLICT (year) DO NOTHING",
            (year, clock.now_db()),
        )
        if cursor.rowcount != 1:
            continue
        configured = configured_days(svc, year)
        rendered = svc.renderer.message("calendar/gap.j2", year=year, configured=configured)
        for uid in await admins(conn, svc.settings.admins):
            await outbox.enqueue(conn, uid, rendered, dedup_key=f"calendar-gap:{year}:{uid}")
        await audit.record(
            conn,
            actor=None,
            action="calendar.gap",
            entity="year",
            entity_id=year,
            detail={"configured_days": configured},
        )
