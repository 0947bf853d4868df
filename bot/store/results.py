"""Results per object and department, their versions, evidence, check-ins, verification tokens
and the guided-entry state. Every function takes the connection of a `db.transaction()`."""

from __future__ import annotations

import json
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from bot import clock
from bot.domain.results import Measure, Method, ResultState
from bot.store.tasks import Conn

FLOW_TTL = timedelta(minutes=30)


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


@dataclass(frozen=True)
class Category:
    code: int
    label: str
    needs_followup: bool


@dataclass(frozen=True)
class MethodRow:
    code: str
    label: str
    onsite: bool


async def categories(conn: Conn) -> list[Category]:
    rows = await _all(
        conn, "SELECT code, label, needs_followup FROM result_categories ORDER BY sort, code"
    )
    return [Category(r[0], r[1], bool(r[2])) for r in rows]


async def methods(conn: Conn) -> list[MethodRow]:
    rows = await _all(conn, "SELECT code, label, onsite FROM result_methods ORDER BY sort")
    return [MethodRow(r[0], r[1], bool(r[2])) for r in rows]


@dataclass(frozen=True)
class Result:
    id: int
    task_id: int
    seq: int
    department_code: str
    state: ResultState
    categories: tuple[int, ...]
    method: Method
    checked_on: date
    note: str
    guidance: str
    version: int
    entered_by: int
    return_reason: str | None
    reviewed_by: int | None
    followup: Measure | None
    followup_due: date | None
    followup_department: str | None
    followup_state: str | None
    followup_closed_on: date | None
    followup_note: str

    def snapshot(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "categories": list(self.categories),
            "method": self.method.value,
            "checked_on": self.checked_on.isoformat(),
            "note": self.note,
            "guidance": self.guidance,
            "return_reason": self.return_reason,
            "followup": self.followup.value if self.followup else None,
            "followup_due": self.followup_due.isoformat() if self.followup_due else None,
            "followup_department": self.followup_department,
            "followup_state": self.followup_state,
            "followup_note": self.followup_note,
        }


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _result(r: sqlite3.Row) -> Result:
    return Result(
        id=r["id"],
        task_id=r["task_id"],
        seq=r["seq"],
        department_code=r["department_code"],
        state=ResultState(r["state"]),
        categories=tuple(json.loads(r["categories"])),
        method=Method(r["method"]),
        checked_on=date.fromisoformat(r["checked_on"]),
        note=r["note"],
        guidance=r["guidance"],
        version=r["version"],
        entered_by=r["entered_by"],
        return_reason=r["return_reason"],
        reviewed_by=r["reviewed_by"],
        followup=Measure(r["followup"]) if r["followup"] else None,
        followup_due=_date(r["followup_due"]),
        followup_department=r["followup_department"],
        followup_state=r["followup_state"],
        followup_closed_on=_date(r["followup_closed_on"]),
        followup_note=r["followup_note"],
    )


async def get(conn: Conn, task_id: int, seq: int, department: str) -> Result | None:
    row = await _one(
        conn,
        "SELECT * FROM results WHERE task_id = ? AND seq = ? AND department_code = ?",
        (task_id, seq, department),
    )
    return _result(row) if row else None


async def by_id(conn: Conn, result_id: int) -> Result | None:
    row = await _one(conn, "SELECT * FROM results WHERE id = ?", (result_id,))
    return _result(row) if row else None


async def of_task(conn: Conn, task_id: int) -> list[Result]:
    rows = await _all(
        conn, "SELECT * FROM results WHERE task_id = ? ORDER BY seq, department_code", (task_id,)
    )
    return [_result(r) for r in rows]


async def _version(conn: Conn, result: Result, event: str, actor: int) -> None:
    await conn.execute(
        "INSERT INTO result_versions (result_id, version, event, data, actor, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (
            result.id,
            result.version,
            event,
            json.dumps(result.snapshot(), ensure_ascii=False),
            actor,
            clock.now_db(),
        ),
    )


async def save_entry(
    conn: Conn,
    *,
    task_id: int,
    seq: int,
    department: str,
    codes: Sequence[int],
    method: Method,
    checked_on: date,
    note: str,
    actor: int,
) -> tuple[Result, bool]:
    """Insert or edit an entry (back to 待审核, a new version). Returns it and whether it is new."""
    now = clock.now_db()
    current = await get(conn, task_id, seq, department)
    values = (json.dumps(list(codes)), method.value, checked_on.isoformat(), note, actor, now)
    if current is None:
        await conn.execute(
            "INSERT INTO results (task_id, seq, department_code, categories, method, checked_on,"
            " note, entered_by, updated_at, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (task_id, seq, department, *values, now),
        )
    else:
        await conn.execute(
            "UPDATE results SET categories = ?, method = ?, checked_on = ?, note = ?,"
            " entered_by = ?, updated_at = ?, state = 'pending', version = version + 1"
            " WHERE id = ?",
            (*values, current.id),
        )
    saved = await get(conn, task_id, seq, department)
    assert saved is not None
    await _version(conn, saved, "entered" if current is None else "edited", actor)
    return saved, current is None


async def review(
    conn: Conn, result: Result, state: ResultState, actor: int, reason: str | None = None
) -> Result | None:
    """待审核 -> 已公示 or 审核退回; None if the entry changed meanwhile."""
    cursor = await conn.execute(
        "UPDATE results SET state = ?, return_reason = ?, reviewed_by = ?, reviewed_at = ?,"
        " updated_at = ? WHERE id = ? AND version = ? AND state = 'pending'",
        (state.value, reason, actor, clock.now_db(), clock.now_db(), result.id, result.version),
    )
    if cursor.rowcount != 1:
        return None
    saved = await by_id(conn, result.id)
    assert saved is not None
    await _version(conn, saved, state.value, actor)
    return saved


async def update_fields(
    conn: Conn, result: Result, actor: int, event: str, **values: Any
) -> Result:
    allowed = {
        "guidance",
        "followup",
        "followup_due",
        "followup_department",
        "followup_state",
        "followup_closed_on",
        "followup_note",
    }
    if set(values) - allowed:
        raise ValueError(sorted(set(values) - allowed))
    sets = ", ".join(f"{name} = ?" for name in values)
    await conn.execute(
        f"UPDATE results SET {sets}, updated_at = ? WHERE id = ?",
        (*values.values(), clock.now_db(), result.id),
    )
    saved = await by_id(conn, result.id)
    assert saved is not None
    await _version(conn, saved, event, actor)
    return saved


async def versions(conn: Conn, result_id: int) -> list[sqlite3.Row]:
    return await _all(
        conn, "SELECT * FROM result_versions WHERE result_id = ? ORDER BY id", (result_id,)
    )


async def open_followups(conn: Conn, departments: Sequence[str]) -> list[Result]:
    if not departments:
        return []
    rows = await _all(
        conn,
        "SELECT * FROM results WHERE followup_state = 'open'"
        f" AND department_code IN ({','.join('?' * len(departments))}) ORDER BY task_id, seq",
        list(departments),
    )
    return [_result(r) for r in rows]


# -- confirmation messages and evidence -----------------------------------------------------------


async def link_message(conn: Conn, chat_id: int, message_id: int, result_id: int) -> None:
    await conn.execute(
        "INSERT INTO result_messages (chat_id, message_id, result_id) VALUES (?, ?, ?)"
        " ON CONFLICT (chat_id, message_id) DO UPDATE SET result_id = excluded.result_id",
        (chat_id, message_id, result_id),
    )


async def link_outbox(conn: Conn, outbox_id: int, result_id: int) -> None:
    """A result's message that went through the outbox (a diverted reply, bot.replies): it is
    the result's once it was sent."""
    await conn.execute(
        "INSERT INTO result_outbox (outbox_id, result_id) VALUES (?, ?)"
        " ON CONFLICT (outbox_id) DO UPDATE SET result_id = excluded.result_id",
        (outbox_id, result_id),
    )


async def result_of_message(conn: Conn, chat_id: int, message_id: int) -> int | None:
    row = await _one(
        conn,
        "SELECT result_id FROM result_messages WHERE chat_id = ? AND message_id = ?",
        (chat_id, message_id),
    )
    if row is None:
        row = await _one(
            conn,
            "SELECT r.result_id FROM result_outbox r JOIN outbox o ON o.id = r.outbox_id"
            " WHERE o.chat_id = ? AND o.tg_message_id = ? AND o.status = 'sent'",
            (chat_id, message_id),
        )
    return int(row[0]) if row else None


async def add_evidence(
    conn: Conn,
    result_id: int,
    kind: str,
    file_id: str,
    file_unique_id: str,
    file_name: str | None,
    actor: int,
) -> int:
    await conn.execute(
        "INSERT INTO result_evidence (result_id, kind, file_id, file_unique_id, file_name,"
        " added_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (result_id, kind, file_id, file_unique_id, file_name, actor, clock.now_db()),
    )
    row = await _one(conn, "SELECT count(*) FROM result_evidence WHERE result_id = ?", (result_id,))
    return int(row[0]) if row else 0


async def evidence_counts(conn: Conn, task_id: int) -> dict[int, int]:
    rows = await _all(
        conn,
        "SELECT e.result_id, count(*) FROM result_evidence e JOIN results r ON r.id = e.result_id"
        " WHERE r.task_id = ? GROUP BY e.result_id",
        (task_id,),
    )
    return {r[0]: int(r[1]) for r in rows}


# -- check-in and verification ------------------------------------------------------------------


async def check_in(conn: Conn, task_id: int, seq: int, inspector_id: int) -> bool:
    cursor = await conn.execute(
        "INSERT INTO result_checkins (task_id, seq, inspector_id, checked_in_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (task_id, seq, inspector_id) DO NOTHING",
        (task_id, seq, inspector_id, clock.now_db()),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class CheckIn:
    seq: int
    inspector_id: int
    department_code: str
    at: datetime


async def checkins(conn: Conn, task_id: int, seq: int | None = None) -> list[CheckIn]:
    extra = " AND c.seq = ?" if seq is not None else ""
    rows = await _all(
        conn,
        "SELECT c.seq, c.inspector_id, i.department_code, c.checked_in_at"
        " FROM result_checkins c JOIN inspectors i ON i.id = c.inspector_id"
        f" WHERE c.task_id = ?{extra} ORDER BY c.checked_in_at",
        (task_id, seq) if seq is not None else (task_id,),
    )
    return [CheckIn(r[0], r[1], r[2], clock.from_db(r[3])) for r in rows]


async def verify_token(conn: Conn, task_id: int, seq: int) -> str:
    row = await _one(
        conn, "SELECT token FROM result_verify_tokens WHERE task_id = ? AND seq = ?", (task_id, seq)
    )
    if row is not None:
        return str(row[0])
    token = secrets.token_urlsafe(12)  # 16 characters: start parameters allow 64
    await conn.execute(
        "INSERT INTO result_verify_tokens (token, task_id, seq, created_at) VALUES (?, ?, ?, ?)",
        (token, task_id, seq, clock.now_db()),
    )
    return token


async def by_token(conn: Conn, token: str) -> tuple[int, int] | None:
    row = await _one(
        conn, "SELECT task_id, seq FROM result_verify_tokens WHERE token = ?", (token,)
    )
    return (int(row[0]), int(row[1])) if row else None


# -- guided entry and typed input owed ---------------------------------------------------------


async def set_flow(conn: Conn, user: int, step: str, data: dict[str, Any]) -> None:
    await conn.execute(
        "INSERT INTO result_flows (tg_user_id, step, data, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (tg_user_id) DO UPDATE SET step = excluded.step, data = excluded.data,"
        " updated_at = excluded.updated_at",
        (user, step, json.dumps(data, ensure_ascii=False), clock.now_db()),
    )


async def flow(conn: Conn, user: int) -> tuple[str, dict[str, Any]] | None:
    """The person's current flow, if younger than 30 minutes."""
    row = await _one(
        conn, "SELECT step, data, updated_at FROM result_flows WHERE tg_user_id = ?", (user,)
    )
    if row is None:
        return None
    if clock.from_db(row[2]) < clock.now() - FLOW_TTL:
        await drop_flow(conn, user)
        return None
    return str(row[0]), dict(json.loads(row[1]))


async def drop_flow(conn: Conn, user: int) -> None:
    await conn.execute("DELETE FROM result_flows WHERE tg_user_id = ?", (user,))
