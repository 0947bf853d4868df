"""SQL for onboarding a county: inspectors' standing (registered, link out, blocked), links in
bulk, the inviters' join digests, and inspectors who left (the directory's 状态 column)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot import clock
from bot.domain.onboarding import InspectorState
from bot.store import audit

Conn = aiosqlite.Connection
_CHUNK = 500


async def _all(conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
    cursor = await conn.execute(sql, params)
    rows = await cursor.fetchall()
    await cursor.close()
    return list(rows)


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


# -- standing ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RosterRow:
    """An inspector with what the roster shows beside the name."""

    state: InspectorState
    department_name: str
    account_name: str | None  # the Telegram display name, for the administrator's eyes only
    link_expires: datetime | None  # the unused link's expiry


async def roster(conn: Conn, departments: Sequence[str] | None = None) -> list[RosterRow]:
    """Every directory inspector of `departments` (None: all), by department, name and number,
    with their account (if any) and their newest valid unused link (if any)."""
    now = clock.now_db()
    where = ""
    params: list[Any] = [now]
    if departments is not None:
        if not departments:
            return []
        where = f" WHERE i.department_code IN ({','.join('?' * len(departments))})"
        params.extend(departments)
    rows = await _all(
        conn,
        "SELECT i.id, i.name, i.department_code, i.certificate_no, i.active, p.tg_user_id,"
        " p.reachable, p.full_name, d.name AS dept_name,"
        " (SELECT max(c.expires_at) FROM invite_codes c WHERE c.inspector_id = i.id"
        "  AND c.used_at IS NULL AND c.revoked_at IS NULL AND c.expires_at > ?) AS link_expires"
        " FROM inspectors i JOIN departments d ON d.code = i.department_code"
        " LEFT JOIN people p ON p.id = i.person_id"
        f"{where} ORDER BY i.department_code, i.name, i.certificate_no",
        params,
    )
    return [
        RosterRow(
            InspectorState(
                id=int(r["id"]),
                name=r["name"],
                department_code=r["department_code"],
                certificate_no=r["certificate_no"],
                active=bool(r["active"]),
                registered=r["tg_user_id"] is not None,
                reachable=bool(r["reachable"]) if r["tg_user_id"] is not None else False,
                pending_link=r["link_expires"] is not None,
            ),
            r["dept_name"],
            r["full_name"],
            clock.from_db(r["link_expires"]) if r["link_expires"] else None,
        )
        for r in rows
    ]


# -- links in bulk --------------------------------------------------------------------------------


async def revoke_links(conn: Conn, inspector_ids: Sequence[int], actor: int) -> int:
    """The unused links of these inspectors stop working (they are being reissued)."""
    now = clock.now_db()
    revoked = 0
    for chunk in _chunks(list(inspector_ids)):
        cursor = await conn.execute(
            "UPDATE invite_codes SET revoked_at = ? WHERE used_at IS NULL AND revoked_at IS NULL"
            f" AND inspector_id IN ({','.join('?' * len(chunk))})",
            (now, *chunk),
        )
        revoked += cursor.rowcount
    if revoked:
        await audit.record(
            conn,
            actor=actor,
            action="invite.revoke",
            entity="invite_code",
            detail={"inspectors": len(inspector_ids), "links": revoked},
        )
    return revoked


async def create_links(
    conn: Conn,
    links: Sequence[tuple[str, str, int]],
    *,
    created_by: int,
    expires_at: datetime,
    departments: Sequence[str],
) -> None:
    """One inspector link per (code, department, inspector id), in one statement; one audit
    row for the whole batch."""
    now = clock.now_db()
    expires = clock.to_db(expires_at)
    await conn.executemany(
        "INSERT INTO invite_codes (code, role, department_code, inspector_id, created_by,"
        " created_at, expires_at) VALUES (?, 'inspector', ?, ?, ?, ?, ?)",
        [(code, dept, inspector, created_by, now, expires) for code, dept, inspector in links],
    )
    await audit.record(
        conn,
        actor=created_by,
        action="invite.bulk",
        entity="invite_code",
        detail={"links": len(links), "departments": list(departments)},
    )


# -- join digests ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Join:
    code: str
    role: str
    used_at: datetime
    used_by: int
    account_name: str
    department_code: str | None
    department_name: str | None
    inspector_name: str | None
    certificate_no: str | None


async def unreported_joins(conn: Conn, inviter: int) -> list[Join]:
    """Links this person made that were used and not yet listed in a digest, oldest first."""
    rows = await _all(
        conn,
        "SELECT c.code, c.role, c.used_at, c.used_by, COALESCE(p.full_name, '') AS account,"
        " c.department_code, d.name AS dept_name, i.name AS insp_name, i.certificate_no"
        " FROM invite_codes c LEFT JOIN people p ON p.tg_user_id = c.used_by"
        " LEFT JOIN departments d ON d.code = c.department_code"
        " LEFT JOIN inspectors i ON i.id = c.inspector_id"
        " WHERE c.created_by = ? AND c.used_at IS NOT NULL AND c.reported_at IS NULL"
        " ORDER BY c.used_at, c.code",
        (inviter,),
    )
    return [
        Join(
            r["code"],
            r["role"],
            clock.from_db(r["used_at"]),
            int(r["used_by"]),
            r["account"],
            r["department_code"],
            r["dept_name"],
            r["insp_name"],
            r["certificate_no"],
        )
        for r in rows
    ]


async def first_unreported(conn: Conn, inviter: int) -> tuple[str, datetime] | None:
    """The oldest join not yet in a digest (its code and time): what plans the next digest,
    without reading every join (a join re-plans it, so this runs once per join)."""
    rows = await _all(
        conn,
        "SELECT code, used_at FROM invite_codes WHERE created_by = ? AND reported_at IS NULL"
        " AND used_at IS NOT NULL ORDER BY used_at, code LIMIT 1",
        (inviter,),
    )
    return (rows[0][0], clock.from_db(rows[0][1])) if rows else None


async def last_reported(conn: Conn, inviter: int) -> datetime | None:
    rows = await _all(
        conn,
        "SELECT max(reported_at) FROM invite_codes"
        " WHERE created_by = ? AND reported_at IS NOT NULL",
        (inviter,),
    )
    value = rows[0][0] if rows else None
    return clock.from_db(value) if value else None


async def inviters_waiting(conn: Conn) -> list[int]:
    """People with joins not yet reported to them (links made by the system, 0, excluded)."""
    rows = await _all(
        conn,
        "SELECT DISTINCT created_by FROM invite_codes"
        " WHERE used_at IS NOT NULL AND reported_at IS NULL AND created_by != 0"
        " ORDER BY created_by",
    )
    return [int(r[0]) for r in rows]


async def mark_reported(conn: Conn, codes: Sequence[str]) -> None:
    now = clock.now_db()
    for chunk in _chunks(list(codes)):
        await conn.execute(
            f"UPDATE invite_codes SET reported_at = ? WHERE code IN ({','.join('?' * len(chunk))})"
            " AND reported_at IS NULL",
            (now, *chunk),
        )


# -- people who leave -----------------------------------------------------------------------------

_OPEN_STATES = ("confirmed", "drawn", "inspecting", "publishing")


async def note_departures(conn: Conn) -> None:
    """Stamp `left_at` on inspectors that became inactive, clear it for those back in post."""
    now = clock.now_db()
    await conn.execute(
        "UPDATE inspectors SET left_at = ? WHERE active = 0 AND left_at IS NULL", (now,)
    )
    await conn.execute(
        "UPDATE inspectors SET left_at = NULL WHERE active = 1 AND left_at IS NOT NULL"
    )


@dataclass(frozen=True)
class Departed:
    id: int
    name: str
    certificate_no: str
    department_code: str
    left_at: str


async def departed(conn: Conn, inspector_id: int | None = None) -> list[Departed]:
    """Inactive inspectors (stamped by `note_departures`) who still hold an assignment of a
    task that is not finished."""
    marks = ",".join("?" * len(_OPEN_STATES))
    one = " AND i.id = ?" if inspector_id is not None else ""
    rows = await _all(
        conn,
        "SELECT i.id, i.name, i.certificate_no, i.department_code, i.left_at FROM inspectors i"
        " WHERE i.active = 0 AND i.left_at IS NOT NULL AND EXISTS (SELECT 1 FROM"
        " draw_assignments a JOIN tasks t ON t.id = a.task_id WHERE a.inspector_id = i.id"
        f" AND a.replaced_at IS NULL AND t.state IN ({marks})){one} ORDER BY i.id",
        (*_OPEN_STATES, *([inspector_id] if inspector_id is not None else [])),
    )
    return [Departed(int(r[0]), r[1], r[2], r[3], r[4]) for r in rows]


@dataclass(frozen=True)
class OpenAssignment:
    task_id: int
    industry: str
    seq: int
    credit_code: str
    object_name: str


async def open_assignments(conn: Conn, inspector_id: int) -> list[OpenAssignment]:
    marks = ",".join("?" * len(_OPEN_STATES))
    rows = await _all(
        conn,
        "SELECT a.task_id, t.industry, a.seq, o.credit_code, COALESCE(d.name, o.credit_code)"
        " FROM draw_assignments a JOIN tasks t ON t.id = a.task_id"
        " JOIN draw_objects o ON o.task_id = a.task_id AND o.seq = a.seq"
        " LEFT JOIN objects d ON d.credit_code = o.credit_code"
        f" WHERE a.inspector_id = ? AND a.replaced_at IS NULL AND t.state IN ({marks})"
        " ORDER BY a.task_id, a.seq",
        (inspector_id, *_OPEN_STATES),
    )
    return [OpenAssignment(int(r[0]), r[1], int(r[2]), r[3], r[4]) for r in rows]


async def inactive_users(conn: Conn, users: Iterable[int]) -> set[int]:
    """Of these Telegram accounts, those bound to an inactive inspector and holding no other
    role (no liaison, not an administrator): they are sent nothing."""
    wanted = sorted(set(users))
    found: set[int] = set()
    for chunk in _chunks(wanted):
        rows = await _all(
            conn,
            "SELECT p.tg_user_id FROM people p JOIN inspectors i ON i.person_id = p.id"
            " WHERE i.active = 0 AND p.is_admin = 0"
            " AND NOT EXISTS (SELECT 1 FROM liaisons l WHERE l.person_id = p.id)"
            f" AND p.tg_user_id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update(int(r[0]) for r in rows)
    return found


async def inactive_certificates(conn: Conn, certificates: Iterable[str]) -> set[str]:
    """Of these certificate numbers, those of inspectors now marked inactive."""
    wanted = sorted(set(certificates))
    found: set[str] = set()
    for chunk in _chunks(wanted):
        rows = await _all(
            conn,
            "SELECT certificate_no FROM inspectors WHERE active = 0"
            f" AND certificate_no IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update(r[0] for r in rows)
    return found
