"""Administrator broadcasts: drafts kept in the database, schedules, recipients, progress.

A draft's conversation state (which step, what the next message from the administrator means)
lives in the `broadcasts` row, so a restart loses nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiosqlite

from bot import clock
from bot.db import Database
from bot.domain.audience import AudienceKind, Person, Recipient, Roster, UnboundInspector
from bot.domain.delivery import UNREACHABLE_REASONS, Reason
from bot.render import Rendered
from bot.store import audit, outbox


@dataclass(frozen=True)
class Broadcast:
    id: int
    created_by: int
    chat_id: int
    status: str
    awaiting: str | None
    audience: AudienceKind | None
    departments: tuple[str, ...]
    picking_departments: bool
    text_html: str | None
    blob_id: int | None
    file_name: str | None
    scheduled_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    progress_outbox_id: int | None
    rounds: int = 1  # 1, then one more per "重发给未送达的人"

    @property
    def has_content(self) -> bool:
        return self.blob_id is not None or bool(self.text_html)


def _broadcast(row: sqlite3.Row) -> Broadcast:
    def moment(value: str | None) -> datetime | None:
        return clock.from_db(value) if value else None

    return Broadcast(
        id=row["id"],
        created_by=row["created_by"],
        chat_id=row["chat_id"],
        status=row["status"],
        awaiting=row["awaiting"],
        audience=AudienceKind(row["audience"]) if row["audience"] else None,
        departments=tuple(json.loads(row["departments"])),
        picking_departments=bool(row["picking_departments"]),
        text_html=row["text_html"],
        blob_id=row["blob_id"],
        file_name=row["file_name"],
        scheduled_at=moment(row["scheduled_at"]),
        started_at=moment(row["started_at"]),
        finished_at=moment(row["finished_at"]),
        progress_outbox_id=row["progress_outbox_id"],
        rounds=row["rounds"],
    )


@dataclass(frozen=True)
class Progress:
    total: int  # messages queued (one per reachable recipient)
    sent: int
    failed: int
    cancelled: int
    skipped: int  # recipients who could not be messaged at all

    @property
    def remaining(self) -> int:
        return self.total - self.sent - self.failed - self.cancelled


# A failed copy worth sending again: it failed for a reason of the moment (network, a rejected
# request, our error), or the chat could not receive then but can now (the person wrote to the
# bot again; the bot is back in the group).
_UNREACHABLE = ", ".join(f"'{r.value}'" for r in sorted(UNREACHABLE_REASONS))
_RESENDABLE = (
    "(o.status = 'failed' AND r.chat_id IS NOT NULL AND (o.error NOT IN (" + _UNREACHABLE + ")"
    " OR EXISTS (SELECT 1 FROM people p WHERE p.tg_user_id = r.chat_id AND p.reachable = 1)"
    " OR EXISTS (SELECT 1 FROM chats c WHERE c.chat_id = r.chat_id AND c.bot_is_member = 1)))"
)


@dataclass(frozen=True)
class Undelivered:
    name: str
    department_code: str | None
    reason: str
    detail: str | None
    resendable: bool = False  # "重发给未送达的人" would queue it again (see _RESENDABLE)


# -- drafts --------------------------------------------------------------------------------------


async def get(db: Database, broadcast_id: int) -> Broadcast | None:
    row = await db.fetchone("SELECT * FROM broadcasts WHERE id = ?", (broadcast_id,))
    return _broadcast(row) if row else None


async def draft_of(db: Database, admin_id: int) -> Broadcast | None:
    row = await db.fetchone(
        "SELECT * FROM broadcasts WHERE created_by = ? AND status = 'draft'", (admin_id,)
    )
    return _broadcast(row) if row else None


async def open_draft(db: Database, admin_id: int, chat_id: int) -> tuple[Broadcast, bool]:
    """The administrator's draft, created if there is none; the flag says it is new."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO broadcasts (created_by, chat_id, created_at, updated_at)"
            " VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (admin_id, chat_id, now, now),
        )
        created = cursor.rowcount == 1
        cursor = await conn.execute(
            "SELECT * FROM broadcasts WHERE created_by = ? AND status = 'draft'", (admin_id,)
        )
        row = await cursor.fetchone()
        await cursor.close()
    assert row is not None
    return _broadcast(row), created


_DRAFT_FIELDS = {
    "awaiting",
    "audience",
    "departments",
    "picking_departments",
    "text_html",
    "blob_id",
    "file_name",
}


async def update_draft(db: Database, broadcast_id: int, **values: Any) -> Broadcast | None:
    """Change a draft; None if it is no longer a draft (sent, discarded…)."""
    unknown = set(values) - _DRAFT_FIELDS
    if unknown:
        raise ValueError(f"not draft fields: {sorted(unknown)}")
    if "departments" in values:
        values["departments"] = json.dumps(list(values["departments"]), ensure_ascii=False)
    if "audience" in values and values["audience"] is not None:
        values["audience"] = AudienceKind(values["audience"]).value
    sets = ", ".join(f"{name} = ?" for name in values)
    async with db.transaction() as conn:
        cursor = await conn.execute(
            f"UPDATE broadcasts SET {sets}, updated_at = ? WHERE id = ? AND status = 'draft'"
            " RETURNING *",
            (*values.values(), clock.now_db(), broadcast_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
    return _broadcast(row) if row else None


async def set_document(
    db: Database, broadcast_id: int, data: bytes, tg_file_id: str, file_name: str, caption: str
) -> Broadcast | None:
    """Attach a document (kept in the outbox's blob table) as the draft's content."""
    async with db.transaction() as conn:
        blob_id = await outbox.put_blob(conn, data, tg_file_id=tg_file_id)
        cursor = await conn.execute(
            "UPDATE broadcasts SET blob_id = ?, file_name = ?, text_html = ?, awaiting = NULL,"
            " updated_at = ? WHERE id = ? AND status = 'draft' RETURNING *",
            (blob_id, file_name, caption, clock.now_db(), broadcast_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is None:
            await conn.execute("DELETE FROM outbox_blobs WHERE id = ?", (blob_id,))
    return _broadcast(row) if row else None


async def stop_awaiting(conn: aiosqlite.Connection, broadcast_id: int, asked: str) -> None:
    """Its question (`asked`: content or time) was dropped: the draft no longer waits for it.
    A draft that meanwhile waits for the other one keeps waiting."""
    await conn.execute(
        "UPDATE broadcasts SET awaiting = NULL"
        " WHERE id = ? AND status = 'draft' AND (awaiting = ? OR awaiting IS NULL)",
        (broadcast_id, asked),
    )


async def discard_draft(db: Database, admin_id: int) -> bool:
    """/cancel or the discard button: drop the administrator's draft, if any."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE broadcasts SET status = 'discarded', awaiting = NULL, updated_at = ?"
            " WHERE created_by = ? AND status = 'draft' RETURNING id",
            (clock.now_db(), admin_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is not None:
            await audit.record(
                conn,
                actor=admin_id,
                action="broadcast.discard",
                entity="broadcast",
                entity_id=row[0],
            )
    return row is not None


# -- audience ------------------------------------------------------------------------------------


async def roster(db: Database, env_admins: frozenset[int]) -> Roster:
    people = await db.fetchall(
        "SELECT p.id, p.tg_user_id, p.is_admin,"
        " COALESCE((SELECT i.name FROM inspectors i WHERE i.person_id = p.id), p.full_name)"
        " AS full_name,"
        " (SELECT i.department_code FROM inspectors i WHERE i.person_id = p.id AND i.active = 1)"
        " AS inspector_department"
        " FROM people p ORDER BY p.id"
    )
    liaison_departments: dict[int, list[str]] = {}
    for r in await db.fetchall(
        "SELECT person_id, department_code FROM liaisons ORDER BY person_id, department_code"
    ):
        liaison_departments.setdefault(int(r[0]), []).append(str(r[1]))
    unbound = await db.fetchall(
        "SELECT name, department_code, certificate_no FROM inspectors"
        " WHERE active = 1 AND person_id IS NULL ORDER BY department_code, name"
    )
    group = await db.fetchone(
        "SELECT chat_id, title FROM chats WHERE is_coordination = 1 AND bot_is_member = 1"
    )
    return Roster(
        people=tuple(
            Person(
                tg_user_id=r["tg_user_id"],
                name=r["full_name"],
                is_admin=bool(r["is_admin"]),
                liaison_departments=tuple(liaison_departments.get(int(r["id"]), ())),
                inspector_department=r["inspector_department"],
            )
            for r in people
        ),
        unbound_inspectors=tuple(
            UnboundInspector(r["name"], r["department_code"], r["certificate_no"]) for r in unbound
        ),
        env_admins=env_admins,
        coordination_chat=(group["chat_id"], group["title"]) if group else None,
    )


async def departments(db: Database) -> list[tuple[str, str]]:
    rows = await db.fetchall("SELECT code, name FROM departments ORDER BY code")
    return [(r["code"], r["name"]) for r in rows]


async def unreachable_ids(db: Database, chat_ids: Sequence[int]) -> set[int]:
    """People among `chat_ids` Telegram last told us blocked the bot or left."""
    found: set[int] = set()
    ids = list(chat_ids)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = await db.fetchall(
            f"SELECT tg_user_id FROM people WHERE reachable = 0 AND tg_user_id IN ({marks})", chunk
        )
        found.update(int(r[0]) for r in rows)
    return found


# -- running ------------------------------------------------------------------------------------


async def schedule(db: Database, broadcast_id: int, at: datetime, actor: int) -> Broadcast | None:
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE broadcasts SET status = 'scheduled', scheduled_at = ?, awaiting = NULL,"
            " updated_at = ? WHERE id = ? AND status = 'draft' RETURNING *",
            (clock.to_db(at), clock.now_db(), broadcast_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is not None:
            await audit.record(
                conn,
                actor=actor,
                action="broadcast.schedule",
                entity="broadcast",
                entity_id=broadcast_id,
                detail={"at": clock.to_db(at)},
            )
    return _broadcast(row) if row else None


async def due_scheduled(db: Database) -> list[Broadcast]:
    rows = await db.fetchall(
        "SELECT * FROM broadcasts WHERE status = 'scheduled' AND scheduled_at <= ? ORDER BY id",
        (clock.now_db(),),
    )
    return [_broadcast(r) for r in rows]


async def start(
    db: Database,
    broadcast: Broadcast,
    recipients: Sequence[Recipient],
    progress: Rendered,
    actor: int | None,
) -> bool:
    """Queue the broadcast for every reachable recipient, and the progress message, at once.

    False if the broadcast was started, cancelled or discarded meanwhile (a double press).
    """
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE broadcasts SET status = 'running', awaiting = NULL, started_at = ?,"
            " updated_at = ? WHERE id = ? AND status IN ('draft', 'scheduled')",
            (now, now, broadcast.id),
        )
        if cursor.rowcount != 1:
            return False
        # The progress message first: the administrator sees it before the copies go out.
        progress_id = await outbox.enqueue(
            conn, broadcast.chat_id, progress, dedup_key=f"bc:{broadcast.id}:progress"
        )
        await conn.execute(
            "UPDATE broadcasts SET progress_outbox_id = ? WHERE id = ?", (progress_id, broadcast.id)
        )
        queued = 0
        for seq, recipient in enumerate(recipients):
            outbox_id: int | None = None
            if recipient.chat_id is not None and recipient.skipped is None:
                queued += 1
                key = f"bc:{broadcast.id}:{recipient.chat_id}"
                if broadcast.blob_id is not None:
                    outbox_id = await outbox.enqueue_document(
                        conn,
                        recipient.chat_id,
                        blob_id=broadcast.blob_id,
                        file_name=broadcast.file_name or "file",
                        caption=broadcast.text_html or "",
                        dedup_key=key,
                        bulk=True,
                    )
                else:
                    outbox_id = await outbox.enqueue(
                        conn,
                        recipient.chat_id,
                        broadcast.text_html or "",
                        dedup_key=key,
                        bulk=True,
                    )
            await conn.execute(
                "INSERT INTO broadcast_recipients (broadcast_id, seq, chat_id, name,"
                " department_code, skipped, outbox_id) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    broadcast.id,
                    seq,
                    recipient.chat_id,
                    recipient.name,
                    recipient.department_code,
                    recipient.skipped.value if recipient.skipped else None,
                    outbox_id,
                ),
            )
        await audit.record(
            conn,
            actor=actor,
            action="broadcast.start",
            entity="broadcast",
            entity_id=broadcast.id,
            detail={
                "audience": broadcast.audience.value if broadcast.audience else None,
                "departments": list(broadcast.departments),
                "queued": queued,
                "skipped": len(recipients) - queued,
                "scheduled": broadcast.scheduled_at is not None,
            },
        )
    return True


async def cancel(db: Database, broadcast_id: int, actor: int) -> str | None:
    """Stop a running broadcast (its unsent messages are cancelled) or drop a scheduled one.

    Returns the status it had, or None if there was nothing to cancel.
    """
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT status FROM broadcasts WHERE id = ? AND status IN ('running', 'scheduled')",
            (broadcast_id,),
        )
        row = await cursor.fetchone()
        await cursor.close()
        if row is None:
            return None
        before = str(row[0])
        await conn.execute(
            "UPDATE broadcasts SET status = 'cancelled', cancelled_at = ?, cancelled_by = ?,"
            " updated_at = ? WHERE id = ?",
            (now, actor, now, broadcast_id),
        )
        cursor = await conn.execute(
            "SELECT outbox_id FROM broadcast_recipients WHERE broadcast_id = ?"
            " AND outbox_id IS NOT NULL",
            (broadcast_id,),
        )
        ids = [int(r[0]) for r in await cursor.fetchall()]
        await cursor.close()
        cancelled = await outbox.cancel(conn, ids)
        await audit.record(
            conn,
            actor=actor,
            action="broadcast.cancel",
            entity="broadcast",
            entity_id=broadcast_id,
            detail={"was": before, "messages_cancelled": cancelled},
        )
    return before


async def unfinished(db: Database) -> list[Broadcast]:
    """Started broadcasts whose final report has not been queued yet."""
    rows = await db.fetchall(
        "SELECT * FROM broadcasts WHERE status IN ('running', 'cancelled')"
        " AND started_at IS NOT NULL AND finished_at IS NULL ORDER BY id"
    )
    return [_broadcast(r) for r in rows]


async def progress(db: Database, broadcast_id: int) -> Progress:
    rows = await db.fetchall(
        "SELECT coalesce(o.status, 'skipped') AS status, count(*) AS n"
        " FROM broadcast_recipients r LEFT JOIN outbox o ON o.id = r.outbox_id"
        " WHERE r.broadcast_id = ? GROUP BY 1",
        (broadcast_id,),
    )
    counts = {r["status"]: int(r["n"]) for r in rows}
    skipped = counts.pop("skipped", 0)
    return Progress(
        total=sum(counts.values()),
        sent=counts.get("sent", 0),
        failed=counts.get("failed", 0),
        cancelled=counts.get("cancelled", 0),
        skipped=skipped,
    )


async def undelivered(db: Database, broadcast_id: int) -> list[Undelivered]:
    """Everyone the broadcast did not reach, and why (never opened the bot, blocked it…)."""
    rows = await db.fetchall(
        "SELECT r.name, r.department_code, coalesce(r.skipped, o.error) AS reason,"
        " o.error_detail, " + _RESENDABLE + " AS resendable"
        " FROM broadcast_recipients r LEFT JOIN outbox o ON o.id = r.outbox_id"
        " WHERE r.broadcast_id = ?"
        " AND (r.skipped IS NOT NULL OR o.status IN ('failed', 'cancelled'))"
        " ORDER BY r.seq",
        (broadcast_id,),
    )
    return [
        Undelivered(
            r["name"],
            r["department_code"],
            r["reason"] or Reason.ERROR.value,
            r["error_detail"],
            bool(r["resendable"]),
        )
        for r in rows
    ]


async def finish(
    db: Database,
    broadcast: Broadcast,
    final_progress: Rendered,
    report: Rendered,
    report_file: tuple[str, bytes, str] | None,
) -> bool:
    """Queue the last progress edit and the delivery report; the broadcast is then over."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE broadcasts SET finished_at = ?, updated_at = ?,"
            " status = CASE status WHEN 'running' THEN 'done' ELSE status END"
            " WHERE id = ? AND finished_at IS NULL",
            (now, now, broadcast.id),
        )
        if cursor.rowcount != 1:
            return False
        if broadcast.progress_outbox_id is not None:
            await outbox.replace_pending_edit(conn, broadcast.progress_outbox_id, final_progress)
        # Each round (the first run, then each resend) has its own report.
        suffix = "" if broadcast.rounds == 1 else f":{broadcast.rounds}"
        await outbox.enqueue(
            conn, broadcast.chat_id, report, dedup_key=f"bc:{broadcast.id}:report{suffix}"
        )
        if report_file is not None:
            name, data, caption = report_file
            await outbox.enqueue_document(
                conn,
                broadcast.chat_id,
                file_name=name,
                data=data,
                caption=caption,
                dedup_key=f"bc:{broadcast.id}:report-file{suffix}",
            )
        await audit.record(
            conn,
            actor=None,
            action="broadcast.finish",
            entity="broadcast",
            entity_id=broadcast.id,
            detail={"status": broadcast.status},
        )
    return True


async def update_progress(db: Database, broadcast: Broadcast, message: Rendered) -> None:
    if broadcast.progress_outbox_id is None:
        return
    async with db.transaction() as conn:
        await outbox.replace_pending_edit(conn, broadcast.progress_outbox_id, message)


async def resend_failed(db: Database, broadcast_id: int, actor: int) -> int | None:
    """Queue the broadcast again for the recipients whose copy failed ("重发给未送达的人"):
    for a reason of the moment, or the chat can receive again (see _RESENDABLE).

    Only for a broadcast whose report is out (finished); it runs again and ends with a new
    report. Each recipient's row then points at the new copy, so a second press finds nothing
    failed left to resend (and the dedup key per round stops a double queueing). Returns how
    many copies were queued, or None if the broadcast is not finished (running again already,
    or gone).
    """
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT * FROM broadcasts WHERE id = ? AND status IN ('done', 'cancelled')"
            " AND finished_at IS NOT NULL",
            (broadcast_id,),
        )
        found = await cursor.fetchone()
        await cursor.close()
        if found is None:
            return None
        b = _broadcast(found)
        cursor = await conn.execute(
            "SELECT r.seq, r.chat_id"
            " FROM broadcast_recipients r JOIN outbox o ON o.id = r.outbox_id"
            " WHERE r.broadcast_id = ? AND " + _RESENDABLE + " ORDER BY r.seq",
            (broadcast_id,),
        )
        failed = [(int(r[0]), int(r[1])) for r in await cursor.fetchall()]
        await cursor.close()
        if not failed:
            return 0
        round_no = b.rounds + 1
        for seq, chat_id in failed:
            key = f"bc:{b.id}:{chat_id}:r{round_no}"
            if b.blob_id is not None:
                outbox_id = await outbox.enqueue_document(
                    conn,
                    chat_id,
                    blob_id=b.blob_id,
                    file_name=b.file_name or "file",
                    caption=b.text_html or "",
                    dedup_key=key,
                    bulk=True,
                )
            else:
                outbox_id = await outbox.enqueue(
                    conn, chat_id, b.text_html or "", dedup_key=key, bulk=True
                )
            await conn.execute(
                "UPDATE broadcast_recipients SET outbox_id = ? WHERE broadcast_id = ? AND seq = ?",
                (outbox_id, b.id, seq),
            )
        await conn.execute(
            "UPDATE broadcasts SET status = 'running', finished_at = NULL, rounds = ?,"
            " updated_at = ? WHERE id = ?",
            (round_no, now, b.id),
        )
        await audit.record(
            conn,
            actor=actor,
            action="broadcast.resend",
            entity="broadcast",
            entity_id=b.id,
            detail={"round": round_no, "queued": len(failed)},
        )
    return len(failed)
