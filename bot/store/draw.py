"""The draw of a task: its inputs read from the directories, the recorded draw, assignments,
notices, conflicts (回避) and pending typed input.

Every function takes the connection of a `db.transaction()`.
"""

from __future__ import annotations

import json
import re
import sqlite3
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot import clock
from bot.domain import draw as rules
from bot.domain import draw_audit as chain_rules
from bot.domain.tasks import Answer
from bot.store.tasks import Conn, Task

CHUNK = 500


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


def _chunks(values: Sequence[Any]) -> Iterable[Sequence[Any]]:
    for i in range(0, len(values), CHUNK):
        yield values[i : i + CHUNK]


def task_items(task: Task) -> dict[str, list[str]]:
    """Item codes per participating department (the lead and the partners that joined)."""
    found = {task.lead_department: list(task.lead_items)}
    for inv in task.invitations:
        if inv.answer is Answer.JOINED:
            found[inv.department_code] = list(inv.items)
    return found


@dataclass(frozen=True)
class InspectorRow:
    id: int
    certificate_no: str
    name: str
    department_code: str
    tg_user_id: int | None


async def inspectors_by_cert(conn: Conn, certs: Iterable[str]) -> dict[str, InspectorRow]:
    wanted = sorted(set(certs))
    found: dict[str, InspectorRow] = {}
    for chunk in _chunks(wanted):
        rows = await _all(
            conn,
            "SELECT i.id, i.certificate_no, i.name, i.department_code, p.tg_user_id"
            " FROM inspectors i LEFT JOIN people p ON p.id = i.person_id"
            f" WHERE i.certificate_no IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        for r in rows:
            found[r[1]] = InspectorRow(r[0], r[1], r[2], r[3], r[4])
    return found


async def inputs(conn: Conn, task: Task, base: rules.Rules) -> rules.DrawInputs:
    """Everything the draw depends on, read from the directories and earlier draws."""
    items = task_items(task)
    codes = sorted({c for cs in items.values() for c in cs})
    texts: dict[str, list[str]] = {d: [] for d in items}
    if codes:
        rows = await _all(
            conn,
            "SELECT code, name, object_type, content, department_code FROM items"
            f" WHERE code IN ({','.join('?' * len(codes))})",
            codes,
        )
        for r in rows:
            for dept, cs in items.items():
                if r["code"] in cs:
                    texts[dept].extend(t for t in (r["name"], r["object_type"], r["content"]) if t)
    names = {
        r[0]: r[1] for r in await _all(conn, "SELECT code, name FROM departments ORDER BY code")
    }
    declared = {
        inv.department_code: inv.inspectors
        for inv in task.invitations
        if inv.answer is Answer.JOINED and inv.inspectors
    }
    departments = tuple(
        rules.DepartmentIn(code, names.get(code, code), tuple(texts[code]), declared.get(code))
        for code in items
    )
    industry = task.industry.strip()
    # Objects whose tags contain the industry. LIKE narrows (portable SQL; SQLite's LIKE ignores
    # ASCII case), the `in` test keeps exactly what contains it.
    pattern = "%" + re.sub(r"([\\%_])", r"\\\1", industry) + "%"
    objects = tuple(
        rules.ObjectIn(r[0], r[1], r[2], r[3])
        for r in await _all(
            conn,
            "SELECT credit_code, risk_class, status, industry FROM objects"
            " WHERE industry LIKE ? ESCAPE '\\'",
            (pattern,),
        )
        if industry in r[3]
    )
    marks = ",".join("?" * len(items))
    inspector_rows = await _all(
        conn,
        "SELECT id, certificate_no, department_code, certificate_valid_until, specialties, active"
        f" FROM inspectors WHERE department_code IN ({marks})",
        list(items),
    )
    inspectors = tuple(
        rules.InspectorIn(
            r[1],
            r[2],
            date.fromisoformat(r[3]) if r[3] else None,
            tuple(sorted(rules.tags(r[4] or ""))),
            bool(r[5]),
        )
        for r in inspector_rows
    )
    conflicts = frozenset(
        (r[0], r[1])
        for r in await _all(
            conn,
            "SELECT i.certificate_no, c.credit_code FROM draw_conflicts c"
            f" JOIN inspectors i ON i.id = c.inspector_id WHERE i.department_code IN ({marks})",
            list(items),
        )
    )
    before = await previous_draws(conn, task, set(codes)) if base.rotation else []
    pairs = await assigned_pairs(conn, before)
    return rules.DrawInputs(
        industry=industry,
        window_start=task.window_start,
        window_end=task.window_end,
        lead=task.lead_department,
        departments=departments,
        objects=objects,
        inspectors=inspectors,
        conflicts=conflicts,
        prior=await prior_draws(conn, task, set(codes)),
        rules=base,
        previous=frozenset(pairs),
        previous_tasks=tuple(sorted(before)),
    )


async def prior_draws(conn: Conn, task: Task, items: set[str]) -> dict[str, int]:
    """How often each object was drawn this year (the window's year) in other tasks that share
    an item with this one (a task without items shares with every task)."""
    from bot.store import tasks as task_store

    year = f"{task.window_start.year:04d}"
    rows = await _all(
        conn,
        "SELECT t.id FROM draws d JOIN tasks t ON t.id = d.task_id"
        " WHERE t.id != ? AND t.state != 'cancelled' AND substr(t.window_start, 1, 4) = ?",
        (task.id, year),
    )
    counts: dict[str, int] = {}
    for row in rows:
        other = await task_store.load(conn, row[0])
        if other is None:
            continue
        theirs = {c for cs in task_items(other).values() for c in cs}
        if items and theirs and not items & theirs:
            continue
        for r in await _all(
            conn, "SELECT credit_code FROM draw_objects WHERE task_id = ?", (other.id,)
        ):
            counts[r[0]] = counts.get(r[0], 0) + 1
    return counts


async def previous_draws(conn: Conn, task: Task, items: set[str]) -> list[int]:
    """For the rotation rule: for each item of this task the task of the latest earlier draw
    that had that item (a task without items: the latest draw of the same industry)."""
    from bot.store import tasks as task_store

    rows = await _all(
        conn,
        "SELECT t.id FROM draws d JOIN tasks t ON t.id = d.task_id"
        " WHERE t.id != ? AND t.state != 'cancelled' ORDER BY d.created_at DESC, t.id DESC",
        (task.id,),
    )
    open_items = set(items)
    found: list[int] = []
    for row in rows:
        other = await task_store.load(conn, row[0])
        if other is None:
            continue
        if not items:
            if other.industry.strip() == task.industry.strip():
                return [other.id]
            continue
        theirs = {c for cs in task_items(other).values() for c in cs}
        if open_items & theirs:
            found.append(other.id)
            open_items -= theirs
        if not open_items:
            break
    return found


async def assigned_pairs(conn: Conn, task_ids: Sequence[int]) -> set[tuple[str, str]]:
    """(certificate_no, credit_code) of the current (not replaced) assignments of those tasks."""
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(list(task_ids)):
        for r in await _all(
            conn,
            "SELECT i.certificate_no, o.credit_code FROM draw_assignments a"
            " JOIN inspectors i ON i.id = a.inspector_id"
            " JOIN draw_objects o ON o.task_id = a.task_id AND o.seq = a.seq"
            f" WHERE a.replaced_at IS NULL AND a.task_id IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found.add((r[0], r[1]))
    return found


# -- the recorded draw --------------------------------------------------------------------------


Record = chain_rules.Record  # a recorded draw (bot/domain/draw_audit.py)


def pack(text: str) -> bytes:
    return zlib.compress(text.encode("utf-8"), 6)


def unpack(blob: bytes) -> str:
    return zlib.decompress(blob).decode("utf-8")


async def record(conn: Conn, task_id: int) -> Record | None:
    row = await _one(conn, "SELECT * FROM draws WHERE task_id = ?", (task_id,))
    if row is None:
        return None
    return Record(
        task_id=row["task_id"],
        source=row["source"],
        seed=row["seed"],
        algorithm=row["algorithm"],
        input_hash=row["input_hash"],
        inputs_text=unpack(row["inputs"]),
        result_text=unpack(row["result"]),
        file_sha256=row["file_sha256"],
        chain_head=row["chain_head"],
        drawn_by=row["drawn_by"],
        created_at=row["created_at"],
    )


async def save(
    conn: Conn,
    task_id: int,
    *,
    source: str,
    seed: str,
    inputs_text: str,
    result: rules.DrawResult,
    actor: int,
    ids: dict[str, int],
    file_sha256: str | None = None,
) -> None:
    """The draw, its objects and assignments, and entry 0 of its chain."""
    now = clock.now_db()
    recorded = Record(
        task_id=task_id,
        source=source,
        seed=seed,
        algorithm=rules.ALGORITHM_VERSION,
        input_hash=rules.input_hash(inputs_text),
        inputs_text=inputs_text,
        result_text=result.to_json(),
        file_sha256=file_sha256,
        drawn_by=actor,
        created_at=now,
    )
    genesis = chain_rules.next_entry(recorded.input_hash, 0, recorded.genesis())
    await conn.execute(
        "INSERT INTO draws (task_id, source, seed, algorithm, input_hash, inputs, result,"
        " drawn_by, created_at, file_sha256, chain_head) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            task_id,
            source,
            seed,
            recorded.algorithm,
            recorded.input_hash,
            pack(inputs_text),
            pack(recorded.result_text),
            actor,
            now,
            file_sha256,
            genesis.hash,
        ),
    )
    await _insert_entry(conn, task_id, genesis)
    await conn.executemany(
        "INSERT INTO draw_objects (task_id, seq, credit_code, risk_class) VALUES (?, ?, ?, ?)",
        [(task_id, o.seq, o.credit_code, o.risk_class) for o in result.objects],
    )
    await conn.executemany(
        "INSERT INTO draw_assignments (task_id, seq, inspector_id, department_code, created_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [
            (task_id, o.seq, ids[cert], dept, now)
            for o in result.objects
            for dept, cert in o.inspectors
        ],
    )


# -- the chain of later changes -------------------------------------------------------------------


async def _insert_entry(conn: Conn, task_id: int, entry: chain_rules.Entry) -> None:
    await conn.execute(
        "INSERT INTO draw_chain (task_id, n, prev_hash, hash, content, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        (task_id, entry.n, entry.prev_hash, entry.hash, entry.content, clock.now_db()),
    )


async def chain(conn: Conn, task_id: int) -> list[chain_rules.Entry] | None:
    """The draw's chain in order, or None for a draw recorded before chains existed."""
    rows = await _all(
        conn,
        "SELECT n, prev_hash, hash, content FROM draw_chain WHERE task_id = ? ORDER BY n",
        (task_id,),
    )
    if not rows:
        return None
    return [chain_rules.Entry(int(r[0]), r[1], r[2], r[3]) for r in rows]


async def history(conn: Conn, task_id: int) -> list[chain_rules.Change]:
    """The replacements the assignment rows remember, in order (for a draw without a chain;
    who made them is in the audit log, not here: actor 0)."""
    rows = await _all(
        conn,
        "SELECT a.replace_kind, a.seq, o.credit_code, a.department_code, i.certificate_no,"
        " n.certificate_no, a.replace_reason, a.replaced_at FROM draw_assignments a"
        " JOIN draw_assignments b ON b.id = a.replaced_by"
        " JOIN inspectors i ON i.id = a.inspector_id JOIN inspectors n ON n.id = b.inspector_id"
        " JOIN draw_objects o ON o.task_id = a.task_id AND o.seq = a.seq"
        " WHERE a.task_id = ? AND a.replaced_at IS NOT NULL ORDER BY b.id",
        (task_id,),
    )
    return [
        chain_rules.Change(
            kind=r[0] or "swap",
            seq=int(r[1]),
            credit_code=r[2],
            department=r[3],
            old=r[4],
            new=r[5],
            reason=r[6] or "",
            actor=0,
            at=r[7],
            legacy=True,
        )
        for r in rows
    ]


async def append_change(conn: Conn, task_id: int, change: chain_rules.Change) -> chain_rules.Entry:
    """Append one change to the draw's chain (a draw from before chains gets its chain first:
    entry 0 and its earlier changes, marked legacy). Call it before the rows change. Returns
    the new entry: its hash is the new head."""
    recorded = await record(conn, task_id)
    assert recorded is not None
    entries = await chain(conn, task_id)
    if entries is None:
        entries = chain_rules.build_chain(
            recorded.genesis(sealed_at=clock.now_db()),
            recorded.input_hash,
            await history(conn, task_id),
        )
        for entry in entries:
            await _insert_entry(conn, task_id, entry)
    entry = chain_rules.next_entry(entries[-1].hash, entries[-1].n + 1, change.content())
    await _insert_entry(conn, task_id, entry)
    await conn.execute("UPDATE draws SET chain_head = ? WHERE task_id = ?", (entry.hash, task_id))
    return entry


async def chain_required(conn: Conn, recorded: Record) -> bool:
    """Whether the draw was recorded after chains existed (migration 13 applied), so it must
    have one."""
    row = await _one(conn, "SELECT applied_at FROM schema_migrations WHERE version = 13")
    return row is not None and recorded.created_at >= row[0]


async def acted_rows(conn: Conn, task_id: int) -> chain_rules.Rows:
    """The rows notices, lists and results are built from: drawn objects and the current
    assignments (an inspector row that no longer exists: certificate None)."""
    objects = await _all(
        conn,
        "SELECT seq, credit_code, risk_class FROM draw_objects WHERE task_id = ? ORDER BY seq",
        (task_id,),
    )
    assigned = await _all(
        conn,
        "SELECT a.seq, a.department_code, i.certificate_no FROM draw_assignments a"
        " LEFT JOIN inspectors i ON i.id = a.inspector_id"
        " WHERE a.task_id = ? AND a.replaced_at IS NULL ORDER BY a.seq, a.id",
        (task_id,),
    )
    return chain_rules.Rows(
        tuple((int(r[0]), r[1], r[2]) for r in objects),
        tuple((int(r[0]), r[1], r[2]) for r in assigned),
    )


async def names(conn: Conn, recorded: Record) -> tuple[dict[str, str], dict[str, str]]:
    """Enterprise names by credit code and inspector names by certificate, for everyone the
    draw's rows or its recorded result name (a substituted row is named too)."""
    codes = {
        r[0]
        for r in await _all(
            conn, "SELECT credit_code FROM draw_objects WHERE task_id = ?", (recorded.task_id,)
        )
    }
    certs = {
        r[0]
        for r in await _all(
            conn,
            "SELECT DISTINCT i.certificate_no FROM draw_assignments a"
            " JOIN inspectors i ON i.id = a.inspector_id WHERE a.task_id = ?",
            (recorded.task_id,),
        )
    }
    try:
        for obj in json.loads(recorded.result_text)["objects"]:
            codes.add(str(obj[1]))
            certs.update(str(cert) for _, cert in obj[3])
    except (ValueError, KeyError, TypeError, IndexError):
        pass  # an unreadable result is verification's finding, not a naming problem
    enterprises = {code: row["name"] for code, row in (await objects(conn, codes)).items()}
    people = {cert: row.name for cert, row in (await inspectors_by_cert(conn, certs)).items()}
    return enterprises, people


@dataclass(frozen=True)
class Assignment:
    id: int
    seq: int
    inspector_id: int
    certificate_no: str
    name: str
    department_code: str
    tg_user_id: int | None
    credit_code: str
    risk_class: str


async def assignments(conn: Conn, task_id: int, *, seq: int | None = None) -> list[Assignment]:
    """Current (not replaced) assignments, by object number then department."""
    extra = " AND a.seq = ?" if seq is not None else ""
    rows = await _all(
        conn,
        "SELECT a.id, a.seq, a.inspector_id, i.certificate_no, i.name, a.department_code,"
        " p.tg_user_id, o.credit_code, o.risk_class FROM draw_assignments a"
        " JOIN inspectors i ON i.id = a.inspector_id LEFT JOIN people p ON p.id = i.person_id"
        " JOIN draw_objects o ON o.task_id = a.task_id AND o.seq = a.seq"
        f" WHERE a.task_id = ? AND a.replaced_at IS NULL{extra}"
        " ORDER BY a.seq, a.department_code, i.certificate_no",
        (task_id, seq) if seq is not None else (task_id,),
    )
    return [Assignment(*r) for r in rows]


async def replaced_out(conn: Conn, task_id: int, seq: int) -> list[str]:
    rows = await _all(
        conn,
        "SELECT i.certificate_no FROM draw_assignments a JOIN inspectors i ON i.id = a.inspector_id"
        " WHERE a.task_id = ? AND a.seq = ? AND a.replaced_at IS NOT NULL",
        (task_id, seq),
    )
    return [r[0] for r in rows]


async def replacements_so_far(conn: Conn, task_id: int) -> int:
    row = await _one(
        conn,
        "SELECT count(*) FROM draw_assignments WHERE task_id = ? AND replaced_at IS NOT NULL",
        (task_id,),
    )
    return int(row[0]) if row else 0


async def replace(
    conn: Conn, old: Assignment, task_id: int, new_inspector: int, kind: str, reason: str
) -> int:
    now = clock.now_db()
    cursor = await conn.execute(
        "INSERT INTO draw_assignments (task_id, seq, inspector_id, department_code, created_at)"
        " VALUES (?, ?, ?, ?, ?) RETURNING id",
        (task_id, old.seq, new_inspector, old.department_code, now),
    )
    inserted = await cursor.fetchone()
    assert inserted is not None
    new_id = int(inserted[0])
    await conn.execute(
        "UPDATE draw_assignments SET replaced_at = ?, replaced_by = ?, replace_reason = ?,"
        " replace_kind = ? WHERE id = ?",
        (now, new_id, reason, kind, old.id),
    )
    return new_id


async def objects(conn: Conn, codes: Iterable[str]) -> dict[str, sqlite3.Row]:
    wanted = sorted(set(codes))
    found: dict[str, sqlite3.Row] = {}
    for chunk in _chunks(wanted):
        for r in await _all(
            conn,
            "SELECT credit_code, name, address, legal_rep, phone FROM objects"
            f" WHERE credit_code IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found[r[0]] = r
    return found


async def add_conflict(
    conn: Conn, inspector_id: int, credit_code: str, task_id: int, reason: str
) -> None:
    await conn.execute(
        "INSERT INTO draw_conflicts (inspector_id, credit_code, task_id, reason, declared_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (inspector_id, credit_code) DO UPDATE SET"
        " task_id = excluded.task_id, reason = excluded.reason, declared_at = excluded.declared_at",
        (inspector_id, credit_code, task_id, reason, clock.now_db()),
    )


async def conflicts_of(conn: Conn, certs: Iterable[str]) -> set[tuple[str, str]]:
    wanted = sorted(set(certs))
    found: set[tuple[str, str]] = set()
    for chunk in _chunks(wanted):
        for r in await _all(
            conn,
            "SELECT i.certificate_no, c.credit_code FROM draw_conflicts c"
            " JOIN inspectors i ON i.id = c.inspector_id"
            f" WHERE i.certificate_no IN ({','.join('?' * len(chunk))})",
            chunk,
        ):
            found.add((r[0], r[1]))
    return found


# -- notices and acknowledgements -----------------------------------------------------------------


async def add_notice(conn: Conn, task_id: int, inspector_id: int, reachable: bool) -> bool:
    cursor = await conn.execute(
        "INSERT INTO draw_notices (task_id, inspector_id, notified_at, reachable)"
        " VALUES (?, ?, ?, ?) ON CONFLICT (task_id, inspector_id) DO NOTHING",
        (task_id, inspector_id, clock.now_db(), int(reachable)),
    )
    return cursor.rowcount == 1


async def acknowledge(conn: Conn, task_id: int, inspector_id: int) -> bool:
    cursor = await conn.execute(
        "UPDATE draw_notices SET acked_at = ? WHERE task_id = ? AND inspector_id = ?"
        " AND acked_at IS NULL",
        (clock.now_db(), task_id, inspector_id),
    )
    return cursor.rowcount == 1


@dataclass(frozen=True)
class Notice:
    task_id: int
    inspector_id: int
    name: str
    certificate_no: str
    department_code: str
    tg_user_id: int | None
    notified_at: str
    reachable: bool
    acked_at: str | None
    reminded_at: str | None
    escalated_at: str | None
    objects: int


async def notices(conn: Conn, task_id: int | None = None) -> list[Notice]:
    """Notices of a task (all drawn tasks' unacknowledged ones when task_id is None) for
    inspectors who still hold at least one assignment."""
    where = "n.task_id = ?" if task_id is not None else "n.acked_at IS NULL AND t.state = 'drawn'"
    rows = await _all(
        conn,
        "SELECT n.task_id, n.inspector_id, i.name, i.certificate_no, i.department_code,"
        " p.tg_user_id, n.notified_at, n.reachable, n.acked_at, n.reminded_at, n.escalated_at,"
        " (SELECT count(*) FROM draw_assignments a WHERE a.task_id = n.task_id"
        "  AND a.inspector_id = n.inspector_id AND a.replaced_at IS NULL) AS objects"
        " FROM draw_notices n JOIN inspectors i ON i.id = n.inspector_id"
        " JOIN tasks t ON t.id = n.task_id LEFT JOIN people p ON p.id = i.person_id"
        f" WHERE {where} ORDER BY n.task_id, i.department_code, i.certificate_no",
        (task_id,) if task_id is not None else (),
    )
    return [
        Notice(r[0], r[1], r[2], r[3], r[4], r[5], r[6], bool(r[7]), r[8], r[9], r[10], int(r[11]))
        for r in rows
        if r[11] > 0
    ]


async def notice_message(conn: Conn, task_id: int, inspector_id: int) -> int | None:
    """The outbox row of the latest task notice queued for this inspector (the first, or one
    sent when they came in as a replacement), the one to edit when their enterprises change."""
    key = f"draw:{task_id}:notice:{inspector_id}"
    row = await _one(
        conn,
        "SELECT id FROM outbox WHERE kind = 'text' AND (dedup_key = ? OR dedup_key LIKE ?)"
        " AND dedup_key NOT LIKE ? ORDER BY id DESC LIMIT 1",
        (key, f"{key}:%", "%#%"),
    )
    return int(row[0]) if row else None


async def mark(conn: Conn, task_id: int, inspector_id: int, column: str) -> bool:
    if column not in ("reminded_at", "escalated_at"):
        raise ValueError(column)
    cursor = await conn.execute(
        f"UPDATE draw_notices SET {column} = ? WHERE task_id = ? AND inspector_id = ?"
        f" AND {column} IS NULL AND acked_at IS NULL",
        (clock.now_db(), task_id, inspector_id),
    )
    return cursor.rowcount == 1


# -- typed input owed ---------------------------------------------------------------------------


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
