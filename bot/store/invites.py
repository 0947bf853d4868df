"""Onboarding codes and their redemption."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import aiosqlite

from bot import clock
from bot.db import Database
from bot.domain.invites import Invite
from bot.render import Rendered
from bot.store import audit, outbox
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
) -> None:
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO invite_codes (code, role, department_code, inspector_id, created_by,"
            " created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                code,
                role,
                department_code,
                inspector_id,
                created_by,
                clock.now_db(),
                clock.to_db(expires_at),
            ),
        )
        await audit.record(
            conn,
            actor=created_by,
            action="invite.create",
            entity="invite_code",
            entity_id=code,
            detail={"role": role, "department": department_code, "inspector_id": inspector_id},
        )


async def get(db: Database, code: str) -> Invite | None:
    row = await db.fetchone("SELECT * FROM invite_codes WHERE code = ?", (code,))
    return _invite(row) if row else None


async def redeem(
    db: Database,
    invite: Invite,
    tg_user_id: int,
    full_name: str,
    username: str | None,
    inviter_notice: Rendered,
) -> bool:
    """Bind the account to the role the code carries and queue the notice to the administrator
    who made the link. False if the code was taken meanwhile."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE invite_codes SET used_at = ?, used_by = ?"
            " WHERE code = ? AND used_at IS NULL AND expires_at > ?",
            (now, tg_user_id, invite.code, now),
        )
        if cursor.rowcount != 1:
            return False
        person_id = await upsert_person(conn, tg_user_id, full_name, username)
        await _grant(conn, invite, person_id, now)
        await outbox.enqueue(conn, invite.created_by, inviter_notice)
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


async def _grant(conn: aiosqlite.Connection, invite: Invite, person_id: int, now: str) -> None:
    if invite.role == "admin":
        await conn.execute("UPDATE people SET is_admin = 1 WHERE id = ?", (person_id,))
    elif invite.role == "liaison":
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
