"""Joint inspection tasks, their invitations, reminder slots and guided flows.

Every function takes the connection of a `db.transaction()`, so a change, its audit row and the
messages it causes (outbox) commit together.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import aiosqlite

from bot import clock
from bot.domain.tasks import Answer, MessageKind, TaskState, TaskSummary

Conn = aiosqlite.Connection


@dataclass(frozen=True)
class Invitation:
    department_code: str
    answer: Answer
    reason: str | None
    items: tuple[str, ...]
    inspectors: int | None
    answered_by: int | None


@dataclass(frozen=True)
class Task:
    id: int
    industry: str
    lead_department: str
    lead_items: tuple[str, ...]
    window_start: date
    window_end: date
    reply_deadline: datetime  # UTC
    deadline_set_at: datetime
    deadline_version: int
    escalated_deadline: str | None
    notes: str
    state: TaskState
    joint: bool | None
    proposed_by: int
    card_outbox_id: int | None
    cancel_reason: str | None
    created_at: datetime
    invitations: tuple[Invitation, ...] = field(default=())

    def invitation(self, department: str) -> Invitation | None:
        return next((i for i in self.invitations if i.department_code == department), None)

    @property
    def pending(self) -> list[str]:
        return [i.department_code for i in self.invitations if i.answer is Answer.PENDING]

    @property
    def departments(self) -> list[str]:
        return [self.lead_department, *(i.department_code for i in self.invitations)]

    def summary(self) -> TaskSummary:
        return TaskSummary(
            self.id,
            self.industry,
            self.lead_department,
            self.window_start,
            self.window_end,
            self.state,
        )


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


def _marks(values: Sequence[Any]) -> str:
    return ",".join("?" * len(values))


async def _task(conn: Conn, row: sqlite3.Row) -> Task:
    invitations = await _all(
        conn,
        "SELECT i.* FROM task_invitations i LEFT JOIN departments d ON d.code = i.department_code"
        " WHERE i.task_id = ? ORDER BY d.name, i.department_code",
        (row["id"],),
    )
    return Task(
        id=row["id"],
        industry=row["industry"],
        lead_department=row["lead_department"],
        lead_items=tuple(json.loads(row["lead_items"])),
        window_start=date.fromisoformat(row["window_start"]),
        window_end=date.fromisoformat(row["window_end"]),
        reply_deadline=clock.from_db(row["reply_deadline"]),
        deadline_set_at=clock.from_db(row["deadline_set_at"]),
        deadline_version=row["deadline_version"],
        escalated_deadline=row["escalated_deadline"],
        notes=row["notes"],
        state=TaskState(row["state"]),
        joint=None if row["joint"] is None else bool(row["joint"]),
        proposed_by=row["proposed_by"],
        card_outbox_id=row["card_outbox_id"],
        cancel_reason=row["cancel_reason"],
        created_at=clock.from_db(row["created_at"]),
        invitations=tuple(
            Invitation(
                department_code=i["department_code"],
                answer=Answer(i["answer"]),
                reason=i["reason"],
                items=tuple(json.loads(i["items"])),
                inspectors=i["inspectors"],
                answered_by=i["answered_by"],
            )
            for i in invitations
        ),
    )


async def load(conn: Conn, task_id: int) -> Task | None:
    row = await _one(conn, "SELECT * FROM tasks WHERE id = ?", (task_id,))
    return await _task(conn, row) if row else None


async def create(
    conn: Conn,
    *,
    industry: str,
    lead: str,
    lead_items: Sequence[str],
    start: date,
    end: date,
    deadline: datetime,
    notes: str,
    proposed_by: int,
    partners: Sequence[str],
) -> int:
    now = clock.now_db()
    cursor = await conn.execute(
        "INSERT INTO tasks (industry, lead_department, lead_items, window_start, window_end,"
        " reply_deadline, deadline_set_at, notes, proposed_by, created_at, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        (
            industry,
            lead,
            json.dumps(list(lead_items), ensure_ascii=False),
            start.isoformat(),
            end.isoformat(),
            clock.to_db(deadline),
            now,
            notes,
            proposed_by,
            now,
            now,
        ),
    )
    inserted = await cursor.fetchone()
    assert inserted is not None
    task_id = int(inserted[0])
    for code in partners:
        await add_invitation(conn, task_id, code)
    return task_id


async def add_invitation(conn: Conn, task_id: int, department: str) -> bool:
    cursor = await conn.execute(
        "INSERT INTO task_invitations (task_id, department_code) VALUES (?, ?)"
        " ON CONFLICT (task_id, department_code) DO NOTHING",
        (task_id, department),
    )
    return cursor.rowcount == 1


async def set_card(conn: Conn, task_id: int, outbox_id: int) -> None:
    await conn.execute("UPDATE tasks SET card_outbox_id = ? WHERE id = ?", (outbox_id, task_id))


@dataclass(frozen=True)
class TaskMessage:
    """A private message of a task (table task_messages), to rewrite from the current state."""

    outbox_id: int
    department_code: str  # the department invited to answer; the lead for an escalation
    kind: MessageKind
    deadline: datetime | None  # escalation: the reply deadline it was about


async def add_private_message(
    conn: Conn,
    task_id: int,
    outbox_id: int,
    department: str,
    kind: MessageKind = MessageKind.INVITE,
    deadline: datetime | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO task_messages (task_id, outbox_id, department_code, kind, deadline)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (task_id, outbox_id) DO NOTHING",
        (
            task_id,
            outbox_id,
            department,
            kind.value,
            clock.to_db(deadline) if deadline is not None else None,
        ),
    )


async def private_messages(conn: Conn, task_id: int) -> list[TaskMessage]:
    """Private invitations, reminders and escalations of a task that were (or will be)
    delivered."""
    rows = await _all(
        conn,
        "SELECT m.outbox_id, m.department_code, m.kind, m.deadline FROM task_messages m"
        " JOIN outbox o ON o.id = m.outbox_id"
        " WHERE m.task_id = ? AND o.status NOT IN ('failed', 'cancelled') ORDER BY m.outbox_id",
        (task_id,),
    )
    return [
        TaskMessage(
            int(r[0]),
            str(r[1]),
            MessageKind(r[2]),
            clock.from_db(r[3]) if r[3] else None,
        )
        for r in rows
    ]


async def set_answer(
    conn: Conn,
    task_id: int,
    department: str,
    answer: Answer,
    *,
    actor: int,
    reason: str | None = None,
    items: Sequence[str] = (),
    inspectors: int | None = None,
) -> None:
    now = clock.now_db()
    await conn.execute(
        "UPDATE task_invitations SET answer = ?, reason = ?, items = ?, inspectors = ?,"
        " answered_by = ?, answered_at = ? WHERE task_id = ? AND department_code = ?",
        (
            answer.value,
            reason,
            json.dumps(list(items), ensure_ascii=False),
            inspectors,
            actor,
            now,
            task_id,
            department,
        ),
    )
    await conn.execute("UPDATE tasks SET updated_at = ? WHERE id = ?", (now, task_id))


async def move(
    conn: Conn, task_id: int, before: TaskState, after: TaskState, **values: Any
) -> bool:
    """Change the state if it is still `before` (False: someone else moved it first)."""
    allowed = {"joint", "confirmed_at", "cancelled_at", "cancelled_by", "cancel_reason"}
    if set(values) - allowed:
        raise ValueError(f"not task fields: {sorted(set(values) - allowed)}")
    sets = "".join(f", {name} = ?" for name in values)
    cursor = await conn.execute(
        f"UPDATE tasks SET state = ?, updated_at = ?{sets} WHERE id = ? AND state = ?",
        (after.value, clock.now_db(), *values.values(), task_id, before.value),
    )
    return cursor.rowcount == 1


async def extend(conn: Conn, task_id: int, version: int, deadline: datetime) -> bool:
    """A new reply deadline, if the deadline is still the one the button was made for."""
    now = clock.now_db()
    cursor = await conn.execute(
        "UPDATE tasks SET reply_deadline = ?, deadline_set_at = ?, deadline_version = ? + 1,"
        " escalated_deadline = NULL, updated_at = ?"
        " WHERE id = ? AND deadline_version = ? AND state = 'inviting'",
        (clock.to_db(deadline), now, version, now, task_id, version),
    )
    return cursor.rowcount == 1


async def mark_escalated(conn: Conn, task: Task) -> bool:
    deadline = clock.to_db(task.reply_deadline)
    cursor = await conn.execute(
        "UPDATE tasks SET escalated_deadline = ? WHERE id = ? AND state = 'inviting'"
        " AND escalated_deadline IS DISTINCT FROM ?",
        (deadline, task.id, deadline),
    )
    return cursor.rowcount == 1


async def record_reminder(conn: Conn, task_id: int, department: str, slot: datetime) -> bool:
    """True the first time this slot is recorded for this department (then remind)."""
    cursor = await conn.execute(
        "INSERT INTO task_reminders (task_id, department_code, slot, sent_at)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (task_id, department_code, slot) DO NOTHING",
        (task_id, department, clock.to_db(slot), clock.now_db()),
    )
    return cursor.rowcount == 1


async def inviting(conn: Conn) -> list[Task]:
    rows = await _all(conn, "SELECT * FROM tasks WHERE state = 'inviting' ORDER BY id")
    return [await _task(conn, r) for r in rows]


async def inviting_ids(conn: Conn) -> list[int]:
    """Ids of the inviting tasks, without loading them (one bad row must not hide the rest)."""
    rows = await _all(conn, "SELECT id FROM tasks WHERE state = 'inviting' ORDER BY id")
    return [int(r[0]) for r in rows]


async def open_summaries(conn: Conn) -> list[TaskSummary]:
    rows = await _all(
        conn,
        "SELECT id, industry, lead_department, window_start, window_end, state FROM tasks"
        " WHERE state NOT IN ('done', 'cancelled') ORDER BY id",
    )
    return [
        TaskSummary(
            r["id"],
            r["industry"],
            r["lead_department"],
            date.fromisoformat(r["window_start"]),
            date.fromisoformat(r["window_end"]),
            TaskState(r["state"]),
        )
        for r in rows
    ]


async def concerning(conn: Conn, departments: Sequence[str], everything: bool) -> list[Task]:
    """Tasks led by or inviting one of `departments` (all of them for `everything`), newest
    first; finished and cancelled ones only from the last 30 days."""
    where = "1 = 1" if everything else "0 = 1"
    params: list[Any] = []
    if departments and not everything:
        marks = _marks(departments)
        where = (
            f"(t.lead_department IN ({marks}) OR EXISTS (SELECT 1 FROM task_invitations i"
            f" WHERE i.task_id = t.id AND i.department_code IN ({marks})))"
        )
        params = [*departments, *departments]
    rows = await _all(
        conn,
        f"SELECT t.* FROM tasks t WHERE {where}"
        " AND (t.state NOT IN ('done', 'cancelled') OR t.updated_at >= ?)"
        " ORDER BY t.id DESC LIMIT 50",
        (*params, clock.to_db(clock.now() - timedelta(days=30))),
    )
    return [await _task(conn, r) for r in rows]


# -- people, departments, items ---------------------------------------------------------------


async def department_names(conn: Conn) -> dict[str, str]:
    rows = await _all(conn, "SELECT code, name FROM departments ORDER BY name, code")
    return {r["code"]: r["name"] for r in rows}


async def items_of(conn: Conn, department: str) -> list[tuple[str, str]]:
    rows = await _all(
        conn,
        "SELECT code, name FROM items WHERE department_code = ? ORDER BY code",
        (department,),
    )
    return [(r["code"], r["name"]) for r in rows]


async def item_names(conn: Conn, codes: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(codes))
    if not wanted:
        return {}
    rows = await _all(
        conn, f"SELECT code, name FROM items WHERE code IN ({_marks(wanted)})", wanted
    )
    return {r["code"]: r["name"] for r in rows}


async def industries(conn: Conn, limit: int) -> list[str]:
    """The objects' industry tags, the most common first."""
    rows = await _all(conn, "SELECT industry FROM objects WHERE industry != ''")
    counts: dict[str, int] = {}
    for row in rows:
        for tag in str(row[0]).replace("，", "、").replace(",", "、").split("、"):
            tag = tag.strip()
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
    return [t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))][:limit]


async def liaisons(conn: Conn, departments: Iterable[str]) -> dict[str, list[int]]:
    """Telegram user ids of each department's liaisons."""
    wanted = sorted(set(departments))
    found: dict[str, list[int]] = {code: [] for code in wanted}
    if not wanted:
        return found
    rows = await _all(
        conn,
        "SELECT l.department_code, p.tg_user_id FROM liaisons l JOIN people p ON p.id = l.person_id"
        f" WHERE l.department_code IN ({_marks(wanted)}) ORDER BY p.tg_user_id",
        wanted,
    )
    for row in rows:
        found[row[0]].append(int(row[1]))
    return found


async def admins(conn: Conn, env_admins: frozenset[int]) -> list[int]:
    rows = await _all(conn, "SELECT tg_user_id FROM people WHERE is_admin = 1")
    return sorted(env_admins | {int(r[0]) for r in rows})


async def coordination_chat(conn: Conn) -> int | None:
    row = await _one(
        conn, "SELECT chat_id FROM chats WHERE is_coordination = 1 AND bot_is_member = 1"
    )
    return int(row[0]) if row else None


async def note_calendar_gap(conn: Conn, year: int) -> bool:
    """True the first time a year without calendar data is noted (then tell the admins)."""
    cursor = await conn.execute(
        "INSERT INTO calendar_gaps (year, noticed_at) VALUES (?, ?) ON CONFLICT (year) DO NOTHING",
        (year, clock.now_db()),
    )
    return cursor.rowcount == 1


# -- guided flows (state of a conversation in private chat) -----------------------------------


@dataclass(frozen=True)
class Flow:
    id: int
    tg_user_id: int
    family: str
    kind: str
    step: str
    task_id: int | None
    department_code: str | None
    data: dict[str, Any]


def _flow(row: sqlite3.Row) -> Flow:
    return Flow(
        id=row["id"],
        tg_user_id=row["tg_user_id"],
        family=row["family"],
        kind=row["kind"],
        step=row["step"],
        task_id=row["task_id"],
        department_code=row["department_code"],
        data=json.loads(row["data"]),
    )


async def start_flow(
    conn: Conn,
    user: int,
    family: str,
    kind: str,
    step: str,
    *,
    task_id: int | None = None,
    department: str | None = None,
    data: dict[str, Any] | None = None,
) -> Flow:
    """Begin a flow, replacing the person's earlier one of the same family."""
    now = clock.now_db()
    await conn.execute("DELETE FROM task_flows WHERE tg_user_id = ? AND family = ?", (user, family))
    cursor = await conn.execute(
        "INSERT INTO task_flows (tg_user_id, family, kind, step, task_id, department_code, data,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        (
            user,
            family,
            kind,
            step,
            task_id,
            department,
            json.dumps(data or {}, ensure_ascii=False),
            now,
            now,
        ),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return _flow(row)


async def flow(conn: Conn, flow_id: int) -> Flow | None:
    row = await _one(conn, "SELECT * FROM task_flows WHERE id = ?", (flow_id,))
    return _flow(row) if row else None


async def update_flow(conn: Conn, flow_id: int, step: str, data: dict[str, Any]) -> Flow | None:
    cursor = await conn.execute(
        "UPDATE task_flows SET step = ?, data = ?, updated_at = ? WHERE id = ? RETURNING *",
        (step, json.dumps(data, ensure_ascii=False), clock.now_db(), flow_id),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _flow(row) if row else None


async def drop_flow(conn: Conn, flow_id: int) -> None:
    await conn.execute("DELETE FROM task_flows WHERE id = ?", (flow_id,))


async def drop_flows(conn: Conn, user: int) -> int:
    cursor = await conn.execute("DELETE FROM task_flows WHERE tg_user_id = ?", (user,))
    return cursor.rowcount


async def release_flow(conn: Conn, flow_id: int, held: str, step: str) -> Flow | None:
    """Move a flow created at step `held` (its prompt not delivered yet) to its real step."""
    cursor = await conn.execute(
        "UPDATE task_flows SET step = ?, updated_at = ? WHERE id = ? AND step = ? RETURNING *",
        (step, clock.now_db(), flow_id, held),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _flow(row) if row else None
