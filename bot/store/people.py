"""People (Telegram accounts) and their roles."""

from __future__ import annotations

import aiosqlite

from bot import clock
from bot.db import Database
from bot.domain.roles import Identity
from bot.store import audit


async def load_identity(
    db: Database, tg_user_id: int, full_name: str, env_admins: frozenset[int]
) -> Identity:
    row = await db.fetchone(
        "SELECT p.id, p.full_name, p.is_admin, i.id AS inspector_id, i.department_code AS insp_dept"
        " FROM people p LEFT JOIN inspectors i ON i.person_id = p.id AND i.active = 1"
        " WHERE p.tg_user_id = ?",
        (tg_user_id,),
    )
    if row is None:
        return Identity(tg_user_id, full_name, is_admin=tg_user_id in env_admins)
    departments = await db.fetchall(
        "SELECT department_code FROM liaisons WHERE person_id = ? ORDER BY department_code",
        (row["id"],),
    )
    return Identity(
        tg_user_id=tg_user_id,
        full_name=row["full_name"],
        person_id=row["id"],
        is_admin=bool(row["is_admin"]) or tg_user_id in env_admins,
        liaison_departments=tuple(r[0] for r in departments),
        inspector_id=row["inspector_id"],
        inspector_department=row["insp_dept"],
    )


async def upsert_person(
    conn: aiosqlite.Connection, tg_user_id: int, full_name: str, username: str | None
) -> int:
    """Create or refresh the person row for a Telegram account; returns people.id."""
    now = clock.now_db()
    await conn.execute(
        "INSERT INTO people (tg_user_id, full_name, username, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (tg_user_id) DO UPDATE SET full_name = excluded.full_name,"
        " username = excluded.username, reachable = 1, updated_at = excluded.updated_at",
        (tg_user_id, full_name, username, now, now),
    )
    cursor = await conn.execute("SELECT id FROM people WHERE tg_user_id = ?", (tg_user_id,))
    row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def touch_person(db: Database, tg_user_id: int, full_name: str, username: str | None) -> None:
    """Keep a known person's display name current; unknown users are not recorded.
    (Whether they can be written to is `set_reachable`'s business, from private-chat updates.)"""
    await db.execute(
        "UPDATE people SET full_name = ?, username = ?, updated_at = ?"
        " WHERE tg_user_id = ? AND (full_name IS DISTINCT FROM ? OR username IS DISTINCT FROM ?)",
        (full_name, username, clock.now_db(), tg_user_id, full_name, username),
    )


async def is_reachable(db: Database, tg_user_id: int) -> bool | None:
    """What the bot last learnt about writing to this person; None for an unknown account."""
    row = await db.fetchone("SELECT reachable FROM people WHERE tg_user_id = ?", (tg_user_id,))
    return None if row is None else bool(row[0])


async def set_reachable(
    conn: aiosqlite.Connection, tg_user_id: int, reachable: bool, *, evidence: str
) -> bool:
    """Record whether the bot can write to a known person; True if that changed (audited)."""
    cursor = await conn.execute(
        "UPDATE people SET reachable = ?, updated_at = ? WHERE tg_user_id = ? AND reachable != ?",
        (int(reachable), clock.now_db(), tg_user_id, int(reachable)),
    )
    if cursor.rowcount != 1:
        return False
    await audit.record(
        conn,
        actor=tg_user_id,
        action="person.reachable" if reachable else "person.unreachable",
        entity="person",
        entity_id=tg_user_id,
        detail={"evidence": evidence},
    )
    return True


async def admin_user_ids(db: Database, env_admins: frozenset[int]) -> list[int]:
    rows = await db.fetchall("SELECT tg_user_id FROM people WHERE is_admin = 1")
    return sorted(env_admins | {int(r[0]) for r in rows})


async def department_names(db: Database, codes: tuple[str, ...]) -> dict[str, str]:
    if not codes:
        return {}
    marks = ",".join("?" * len(codes))
    rows = await db.fetchall(f"SELECT code, name FROM departments WHERE code IN ({marks})", codes)
    return {r["code"]: r["name"] for r in rows}


async def liaison_names(db: Database, department_code: str) -> list[str]:
    """The display names of a department's current liaisons."""
    rows = await db.fetchall(
        "SELECT p.full_name FROM liaisons l JOIN people p ON p.id = l.person_id"
        " WHERE l.department_code = ? ORDER BY p.full_name, p.id",
        (department_code,),
    )
    return [r[0] for r in rows]
