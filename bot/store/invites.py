"""Onboarding codes and their redemption."""

from __future__ import annotations

import sqlite3
from collections.abc import Awaitable, Callable
from datetime import datetime

import aiosqlite

from bot import clock
from bot.db import Database
from bot.domain.invites import Invite
from bot.store import audit
from bot.store.people import upsert_person


def _invite(row: sqlite3.Row) -> Invite:
    return Invite(
        code=row["code"],
        role=row["role"],
        department_code=row["department_code"],
        inspector_id=row["inspector_id"],
        created_by=row["created_by"],
        expires_at=clock.from_db(row["expires_at"]),
        used_at=clock.from_db(row["used_at"]) if row["used_at"] else None,
        used_by=row["used_by"],
        revoked_at=clock.from_db(row["revoked_at"]) if row["revoked_at"] else None,
        replaces_liaisons=bool(row["replaces_liaisons"]),
    )


async def create(
    db: Database,
    *,
    code: str,
    role: str,
    created_by: int,
    expires_at: datetime,
    department_code: str | None = None,
    inspector_id: int | None = None,
    replaces_liaisons: bool = False,
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO invite_codes (code, role, department_code, inspector_id, created_by,"
            " created_at, expires_at, replaces_liaisons) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                role,
                department_code,
                inspector_id,
                created_by,
                clock.now_db(),
                clock.to_db(expires_at),
                int(replaces_liaisons),
            ),
        )
        await audit.record(
            conn,
            actor=created_by,
            action="invite.create",
            entity="invite_code",
            entity_id=code,
            detail={
                "role": role,
                "department": department_code,
                "inspector_id": inspector_id,
                "replaces_liaisons": replaces_liaisons,
            },
        )


async def get(db: Database, code: str) -> Invite | None:
    row = await db.fetchone("SELECT * FROM invite_codes WHERE code = ?", (code,))
    return _invite(row) if row else None


# after(conn, Telegram ids of the liaisons the code replaced): inside the redeeming transaction
AfterRedeem = Callable[[aiosqlite.Connection, list[int]], Awaitable[None]]


async def redeem(
    db: Database,
    invite: Invite,
    tg_user_id: int,
    full_name: str,
    username: str | None,
    after: AfterRedeem,
) -> bool:
    """Bind the account to the role the code carries (a replacing liaison code also removes the
    department's other liaisons), then run `after` in the same transaction: the inviter's join
    digest is planned there. False if the code was taken meanwhile."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE invite_codes SET used_at = ?, used_by = ?"
            " WHERE code = ? AND used_at IS NULL AND revoked_at IS NULL AND expires_at > ?",
            (now, tg_user_id, invite.code, now),
        )
        if cursor.rowcount != 1:
            return False
        person_id = await upsert_person(conn, tg_user_id, full_name, username)
        replaced = await _grant(conn, invite, person_id, now)
        await after(conn, replaced)
        await audit.record(
            conn,
            actor=tg_user_id,
            action=f"onboard.{invite.role}",
            entity="person",
            entity_id=person_id,
            detail={
                "code": invite.code,
                "department": invite.department_code,
                "inspector_id": invite.inspector_id,
            },
        )
    return True


async def _grant(conn: aiosqlite.Connection, invite: Invite, person_id: int, now: str) -> list[int]:
    """Give the person the code's role; returns the Telegram ids of liaisons it replaced.
    The department's tasks, reports and results belong to the department, not to the liaison,
    so a replaced liaison takes nothing with them."""
    replaced: list[int] = []
    if invite.role == "admin":
        await conn.execute("UPDATE people SET is_admin = 1 WHERE id = ?", (person_id,))
    elif invite.role == "liaison":
        if invite.replaces_liaisons:
            cursor = await conn.execute(
                "SELECT p.tg_user_id FROM liaisons l JOIN people p ON p.id = l.person_id"
                " WHERE l.department_code = ? AND l.person_id != ? ORDER BY p.tg_user_id",
                (invite.department_code, person_id),
            )
            replaced = [int(r[0]) for r in await cursor.fetchall()]
            await conn.execute(
                "DELETE FROM liaisons WHERE department_code = ? AND person_id != ?",
                (invite.department_code, person_id),
            )
            if replaced:
                await audit.record(
                    conn,
                    actor=None,
                    action="liaison.replaced",
                    entity="department",
                    entity_id=invite.department_code,
                    detail={"removed": replaced, "new_person": person_id, "code": invite.code},
                )
        await conn.execute(
            "INSERT INTO liaisons (person_id, department_code, created_at)"
            " VALUES (?, ?, ?) ON CONFLICT (person_id, department_code) DO NOTHING",
            (person_id, invite.department_code, now),
        )
    elif invite.role == "inspector":
        # One account per inspector record: a new phone or account replaces the old binding.
        await conn.execute(
            "UPDATE inspectors SET person_id = NULL WHERE person_id = ?", (person_id,)
        )
        await conn.execute(
            "UPDATE inspectors SET person_id = ?, updated_at = ? WHERE id = ?",
            (person_id, now, invite.inspector_id),
        )
    else:  # pragma: no cover - the table's CHECK constraint prevents it
        raise ValueError(invite.role)
    return replaced
