"""SQL of the reminder engine, report submissions, training sessions and typed-input flows.

Every function runs inside the caller's transaction (`db.transaction()`).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot import clock
from bot.domain.reminders import Planned, Reconciliation

Conn = aiosqlite.Connection


async def _all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    cursor = await conn.execute(sql, params)
    rows = await cursor.fetchall()
    await cursor.close()
    return list(rows)


async def _one(conn: Conn, sql: str, params: Sequence[Any] = ()) -> sqlite3.Row | None:
    cursor = await conn.execute(sql, params)
    row = await cursor.fetchone()
    await cursor.close()
    return row


# -- reminders -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reminder:
    id: int
    series: str
    kind: str
    tg_user_id: int
    due_at: datetime
    purpose_at: datetime | None
    payload: dict[str, Any]
    dedup_key: str
    status: str


def _reminder(row: sqlite3.Row) -> Reminder:
    return Reminder(
        id=row["id"],
        series=row["series"],
        kind=row["kind"],
        tg_user_id=row["tg_user_id"],
        due_at=clock.from_db(row["due_at"]),
        purpose_at=clock.from_db(row["purpose_at"]) if row["purpose_at"] else None,
        payload=json.loads(row["payload"]),
        dedup_key=row["dedup_key"],
        status=row["status"],
    )


async def plan(
    conn: Conn,
    *,
    series: str,
    kind: str,
    user: int,
    due: datetime,
    key: str,
    purpose: datetime | None = None,
    payload: dict[str, Any] | None = None,
    skip_before: datetime | None = None,
) -> bool:
    """Add a reminder unless its key exists; one due before `skip_before` is recorded as
    skipped (planned too late to be useful). True if a row was added."""
    status = "skipped" if skip_before is not None and due < skip_before else "pending"
    now = clock.now_db()
    cursor = await conn.execute(
        "INSERT INTO reminders (series, kind, tg_user_id, due_at, purpose_at, payload,"
        " dedup_key, status, done_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (dedup_key) DO NOTHING",
        (
            series,
            kind,
            user,
            clock.to_db(due),
            clock.to_db(purpose) if purpose else None,
            json.dumps(payload or {}, ensure_ascii=False, sort_keys=True),
            key,
            status,
            now if status != "pending" else None,
            now,
        ),
    )
    return cursor.rowcount == 1


async def of_series(conn: Conn, series: str) -> list[Reminder]:
    """Every row of a series, whatever its status."""
    rows = await _all(conn, "SELECT * FROM reminders WHERE series = ? ORDER BY id", (series,))
    return [_reminder(r) for r in rows]


async def series_with_pending(conn: Conn, prefix: str) -> list[str]:
    """Series named `<prefix>:…` that still have pending rows."""
    rows = await _all(
        conn,
        "SELECT DISTINCT series FROM reminders WHERE status = 'pending' AND series LIKE ?",
        (prefix + ":%",),
    )
    return [r[0] for r in rows]


async def apply(conn: Conn, series: str, change: Reconciliation) -> None:
    """Carry out a reconciliation of one series (see bot.domain.reminders.reconcile)."""
    now = clock.now_db()
    for p in change.add:
        await _insert(conn, series, p, "pending", now)
    for p in change.add_skipped:
        await _insert(conn, series, p, "skipped", now)
    for row_id, p in change.update:
        await conn.execute(
            "UPDATE reminders SET kind = ?, tg_user_id = ?, due_at = ?, purpose_at = ?,"
            " payload = ?, status = 'pending', done_at = NULL WHERE id = ?"
            " AND status IN ('pending', 'cancelled')",
            (
                p.kind,
                p.user,
                clock.to_db(p.due),
                clock.to_db(p.purpose) if p.purpose else None,
                _payload(p.payload),
                row_id,
            ),
        )
    for status, ids in (("skipped", change.skip), ("cancelled", change.cancel)):
        for row_id in ids:
            await conn.execute(
                "UPDATE reminders SET status = ?, done_at = ? WHERE id = ? AND status = 'pending'",
                (status, now, row_id),
            )


def _payload(payload: Mapping[str, Any]) -> str:
    return json.dumps(dict(payload), ensure_ascii=False, sort_keys=True)


async def _insert(conn: Conn, series: str, p: Planned, status: str, now: str) -> None:
    await conn.execute(
        "INSERT INTO reminders (series, kind, tg_user_id, due_at, purpose_at, payload,"
        " dedup_key, status, done_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (dedup_key) DO NOTHING",
        (
            series,
            p.kind,
            p.user,
            clock.to_db(p.due),
            clock.to_db(p.purpose) if p.purpose else None,
            _payload(p.payload),
            p.key,
            status,
            now if status != "pending" else None,
            now,
        ),
    )


async def due(conn: Conn, now: datetime) -> list[Reminder]:
    """Pending reminders due by `now`, outside paused series, oldest first."""
    rows = await _all(
        conn,
        "SELECT * FROM reminders WHERE status = 'pending' AND due_at <= ?"
        " AND series NOT IN (SELECT series FROM reminder_series_paused) ORDER BY due_at, id",
        (clock.to_db(now),),
    )
    return [_reminder(r) for r in rows]


async def load(conn: Conn, reminder_id: int) -> Reminder | None:
    row = await _one(conn, "SELECT * FROM reminders WHERE id = ?", (reminder_id,))
    return _reminder(row) if row else None


async def finish(conn: Conn, reminder_id: int, status: str, outbox_id: int | None = None) -> bool:
    """Move a pending reminder to `status`; False if it had already left 'pending' (another
    run took it), so the caller rolls back what it queued."""
    cursor = await conn.execute(
        "UPDATE reminders SET status = ?, done_at = ?, outbox_id = ?"
        " WHERE id = ? AND status = 'pending'",
        (status, clock.now_db(), outbox_id, reminder_id),
    )
    return cursor.rowcount == 1


async def cancel(conn: Conn, *, series: str, key_prefix: str = "") -> int:
    cursor = await conn.execute(
        "UPDATE reminders SET status = 'cancelled', done_at = ?"
        " WHERE series = ? AND status = 'pending' AND dedup_key LIKE ?",
        (clock.now_db(), series, key_prefix + "%"),
    )
    return cursor.rowcount


async def pending_for(conn: Conn, user: int | None, limit: int = 50) -> list[Reminder]:
    """Pending reminders of one person (None: everyone), soonest first."""
    if user is None:
        rows = await _all(
            conn,
            "SELECT * FROM reminders WHERE status = 'pending' ORDER BY due_at, id LIMIT ?",
            (limit,),
        )
    else:
        rows = await _all(
            conn,
            "SELECT * FROM reminders WHERE status = 'pending' AND tg_user_id = ?"
            " ORDER BY due_at, id LIMIT ?",
            (user, limit),
        )
    return [_reminder(r) for r in rows]


@dataclass(frozen=True)
class SeriesInfo:
    series: str
    pending: int
    next_due: datetime | None
    paused: bool


async def series_overview(conn: Conn) -> list[SeriesInfo]:
    rows = await _all(
        conn,
        "SELECT r.series, COUNT(*) AS n, MIN(r.due_at) AS next_due,"
        " EXISTS (SELECT 1 FROM reminder_series_paused p WHERE p.series = r.series) AS paused"
        " FROM reminders r WHERE r.status = 'pending' GROUP BY r.series ORDER BY next_due",
    )
    return [
        SeriesInfo(
            r["series"],
            int(r["n"]),
            clock.from_db(r["next_due"]) if r["next_due"] else None,
            bool(r["paused"]),
        )
        for r in rows
    ]


async def paused(conn: Conn) -> set[str]:
    return {r[0] for r in await _all(conn, "SELECT series FROM reminder_series_paused")}


async def set_paused(conn: Conn, series: str, actor: int, pause: bool) -> bool:
    if pause:
        cursor = await conn.execute(
            "INSERT INTO reminder_series_paused (series, paused_by, paused_at)"
            " VALUES (?, ?, ?) ON CONFLICT (series) DO NOTHING",
            (series, actor, clock.now_db()),
        )
    else:
        cursor = await conn.execute(
            "DELETE FROM reminder_series_paused WHERE series = ?", (series,)
        )
    return cursor.rowcount == 1


# -- people --------------------------------------------------------------------------------------


async def departments(conn: Conn) -> dict[str, str]:
    rows = await _all(conn, "SELECT code, name FROM departments ORDER BY code")
    return {r[0]: r[1] for r in rows}


async def liaisons(conn: Conn, codes: Iterable[str] | None = None) -> dict[str, list[int]]:
    """Telegram user ids of each department's liaisons (every department when None)."""
    rows = await _all(
        conn,
        "SELECT l.department_code, p.tg_user_id FROM liaisons l JOIN people p ON p.id = l.person_id"
        " ORDER BY l.department_code, p.tg_user_id",
    )
    wanted = None if codes is None else set(codes)
    found: dict[str, list[int]] = {}
    for row in rows:
        if wanted is None or row[0] in wanted:
            found.setdefault(row[0], []).append(int(row[1]))
    return found


async def names(conn: Conn, users: Iterable[int]) -> dict[int, str]:
    """The names people are known by: an inspector's name in the directory (刘霞洋), not the
    Telegram display name they chose; everyone else's display name."""
    wanted = sorted(set(users))
    if not wanted:
        return {}
    marks = ",".join("?" * len(wanted))
    rows = await _all(
        conn,
        "SELECT p.tg_user_id, COALESCE(i.name, p.full_name) FROM people p"
        f" LEFT JOIN inspectors i ON i.person_id = p.id WHERE p.tg_user_id IN ({marks})",
        wanted,
    )
    return {int(r[0]): r[1] for r in rows}


# -- quarterly reports ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Report:
    period: str
    department_code: str
    how: str
    file_name: str | None
    note: str
    submitted_by: int
    submitted_at: datetime


async def reports(conn: Conn, period: str) -> dict[str, Report]:
    rows = await _all(conn, "SELECT * FROM quarterly_reports WHERE period = ?", (period,))
    return {
        r["department_code"]: Report(
            r["period"],
            r["department_code"],
            r["how"],
            r["file_name"],
            r["note"],
            int(r["submitted_by"]),
            clock.from_db(r["submitted_at"]),
        )
        for r in rows
    }


async def submitted(conn: Conn, period: str, department: str) -> bool:
    row = await _one(
        conn,
        "SELECT 1 FROM quarterly_reports WHERE period = ? AND department_code = ?",
        (period, department),
    )
    return row is not None


async def submit(
    conn: Conn,
    *,
    period: str,
    department: str,
    how: str,
    user: int,
    file_id: str | None = None,
    file_name: str | None = None,
    file_size: int | None = None,
    note: str = "",
) -> None:
    """Record (or replace) a department's report for a period."""
    await conn.execute(
        "INSERT INTO quarterly_reports (period, department_code, how, file_id, file_name,"
        " file_size, note, submitted_by, submitted_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT (period, department_code) DO UPDATE SET how = excluded.how,"
        " file_id = excluded.file_id, file_name = excluded.file_name,"
        " file_size = excluded.file_size, note = excluded.note,"
        " submitted_by = excluded.submitted_by, submitted_at = excluded.submitted_at",
        (period, department, how, file_id, file_name, file_size, note, user, clock.now_db()),
    )
