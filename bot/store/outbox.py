"""The durable outbox: queueing messages inside the caller's transaction, and the sender's SQL.

Queue a message in the same transaction as the change that causes it:

    async with db.transaction() as conn:
        ...  # the change
        await outbox.enqueue(conn, chat_id, renderer.message("…"), dedup_key="…")

The sender (bot.outbox) delivers it after the commit; a rolled-back transaction sends nothing.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot import clock
from bot.db import Database, row_lock_wait, row_locks
from bot.domain import ledger
from bot.domain.delivery import Reason
from bot.domain.pacing import PacingLimits
from bot.render import MAX_CAPTION, Button, Rendered, split_html, visible_length
from bot.store import audit

# Outbox priorities: what the bot sends on its own, and a direct reply that had to wait
# (bot.replies), which goes before the chat's queued messages.
NORMAL = 0
REPLY = 1

# Called after every enqueue so a running sender wakes up. A wake-up before the commit is
# harmless: the sender's query waits for the database lock the transaction holds.
_listeners: set[Callable[[], None]] = set()


def add_listener(callback: Callable[[], None]) -> None:
    _listeners.add(callback)


def remove_listener(callback: Callable[[], None]) -> None:
    _listeners.discard(callback)


def _notify() -> None:
    for callback in list(_listeners):
        callback()


@dataclass(frozen=True)
class OutboxRow:
    id: int
    chat_id: int
    kind: str
    text: str
    keyboard: list[list[Button]]
    blob_id: int | None
    file_name: str | None
    edit_of: int | None
    status: str
    attempts: int
    tg_message_id: int | None
    error: str | None
    error_detail: str | None
    retry_since: datetime | None = None  # first failed try (or an outage began holding it)
    priority: int = NORMAL  # REPLY: a diverted direct reply (bot.replies)


def _row(row: sqlite3.Row) -> OutboxRow:
    return OutboxRow(
        id=row["id"],
        chat_id=row["chat_id"],
        kind=row["kind"],
        text=row["text"],
        keyboard=keyboard_from_json(row["keyboard"]),
        blob_id=row["blob_id"],
        file_name=row["file_name"],
        edit_of=row["edit_of"],
        status=row["status"],
        attempts=row["attempts"],
        tg_message_id=row["tg_message_id"],
        error=row["error"],
        error_detail=row["error_detail"],
        retry_since=clock.from_db(row["retry_since"]) if row["retry_since"] else None,
        priority=int(row["priority"]),
    )


def keyboard_to_json(keyboard: list[list[Button]]) -> str:
    return json.dumps(
        [
            [
                {k: v for k, v in (("text", b.text), ("data", b.data), ("url", b.url)) if v}
                for b in row
            ]
            for row in keyboard
        ],
        ensure_ascii=False,
    )


def keyboard_from_json(text: str) -> list[list[Button]]:
    return [
        [Button(b["text"], data=b.get("data"), url=b.get("url")) for b in row]
        for row in json.loads(text or "[]")
    ]


def _message(message: Rendered | str, keyboard: list[list[Button]] | None) -> Rendered:
    if isinstance(message, Rendered):
        return Rendered(message.text, keyboard if keyboard is not None else message.keyboard)
    return Rendered(message, keyboard or [])


async def _existing(conn: aiosqlite.Connection, dedup_key: str | None) -> int | None:
    if dedup_key is None:
        return None
    cursor = await conn.execute("SELECT id FROM outbox WHERE dedup_key = ?", (dedup_key,))
    row = await cursor.fetchone()
    await cursor.close()
    return int(row[0]) if row else None


async def _insert(conn: aiosqlite.Connection, **values: Any) -> int:
    now = clock.now_db()
    values.setdefault("not_before", now)
    values["created_at"] = values["updated_at"] = now
    columns = ", ".join(values)
    marks = ", ".join("?" * len(values))
    cursor = await conn.execute(
        f"INSERT INTO outbox ({columns}) VALUES ({marks}) RETURNING id", tuple(values.values())
    )
    inserted = await cursor.fetchone()
    assert inserted is not None
    return int(inserted[0])


async def enqueue(
    conn: aiosqlite.Connection,
    chat_id: int,
    message: Rendered | str,
    *,
    keyboard: list[list[Button]] | None = None,
    dedup_key: str | None = None,
    not_before: datetime | None = None,
    bulk: bool = False,
    priority: int = 0,
) -> int:
    """Queue an HTML text message (with its inline keyboard); returns the outbox id.

    A text longer than Telegram's 4096 characters is queued as several messages, the keyboard on
    the last; the id returned is the last one's (the one to edit later). With `dedup_key`, a key
    queued before returns the earlier id and queues nothing. `not_before` delays it; `bulk`
    (broadcast copies) lets other chats' messages go first. `priority` REPLY: a diverted direct
    reply (bot.replies), sent before what was queued for that chat at priority 0.
    """
    if (found := await _existing(conn, dedup_key)) is not None:
        return found
    rendered = _message(message, keyboard)
    parts = split_html(rendered.text) or [rendered.text]
    when = clock.to_db(not_before) if not_before is not None else clock.now_db()
    last = 0
    for index, part in enumerate(parts):
        is_last = index == len(parts) - 1
        last = await _insert(
            conn,
            chat_id=chat_id,
            kind="text",
            text=part,
            keyboard=keyboard_to_json(rendered.keyboard if is_last else []),
            dedup_key=dedup_key if is_last or dedup_key is None else f"{dedup_key}#{index}",
            not_before=when,
            bulk=int(bulk),
            priority=priority,
        )
    _notify()
    return last


async def put_blob(
    conn: aiosqlite.Connection, data: bytes, *, tg_file_id: str | None = None
) -> int:
    """Store a file's bytes once for any number of document messages."""
    cursor = await conn.execute(
        "INSERT INTO outbox_blobs (data, tg_file_id, created_at) VALUES (?, ?, ?) RETURNING id",
        (data, tg_file_id, clock.now_db()),
    )
    inserted = await cursor.fetchone()
    assert inserted is not None
    return int(inserted[0])


async def enqueue_document(
    conn: aiosqlite.Connection,
    chat_id: int,
    *,
    file_name: str,
    data: bytes | None = None,
    blob_id: int | None = None,
    caption: str = "",
    keyboard: list[list[Button]] | None = None,
    dedup_key: str | None = None,
    not_before: datetime | None = None,
    bulk: bool = False,
    priority: int = 0,
) -> int:
    """Queue a document: pass its bytes, or the id of a blob stored with `put_blob`."""
    if (data is None) == (blob_id is None):
        raise ValueError("pass either data or blob_id")
    if visible_length(caption) > MAX_CAPTION:
        raise ValueError(f"caption longer than {MAX_CAPTION} characters")
    if (found := await _existing(conn, dedup_key)) is not None:
        return found
    if data is not None:
        blob_id = await put_blob(conn, data)
    row_id = await _insert(
        conn,
        chat_id=chat_id,
        kind="document",
        text=caption,
        keyboard=keyboard_to_json(keyboard or []),
        blob_id=blob_id,
        file_name=file_name,
        dedup_key=dedup_key,
        not_before=clock.to_db(not_before) if not_before is not None else clock.now_db(),
        bulk=int(bulk),
        priority=priority,
    )
    _notify()
    return row_id


async def enqueue_edit(
    conn: aiosqlite.Connection,
    of: int,
    message: Rendered | str,
    *,
    keyboard: list[list[Button]] | None = None,
    dedup_key: str | None = None,
    priority: int = 0,
) -> int:
    """Queue an edit of the message outbox row `of` sent (its text, or a document's caption).

    The edit goes out after everything queued before it for that chat, so after the message
    itself (a REPLY edit, of a message already sent, goes before what waits at priority 0).
    The keyboard is replaced (an empty one removes the buttons).
    """
    if (found := await _existing(conn, dedup_key)) is not None:
        return found
    cursor = await conn.execute("SELECT chat_id FROM outbox WHERE id = ?", (of,))
    target = await cursor.fetchone()
    await cursor.close()
    if target is None:
        raise ValueError(f"no outbox row {of} to edit")
    rendered = _message(message, keyboard)
    row_id = await _insert(
        conn,
        chat_id=target["chat_id"],
        kind="edit",
        text=(split_html(rendered.text) or [rendered.text])[0],
        keyboard=keyboard_to_json(rendered.keyboard),
        edit_of=of,
        dedup_key=dedup_key,
        priority=priority,
    )
    _notify()
    return row_id


async def replace_pending_edit(
    conn: aiosqlite.Connection, of: int, message: Rendered | str, *, priority: int = 0
) -> int:
    """Queue an edit of `of`, or rewrite one still waiting: repeated progress updates collapse
    (the latest text wins; a REPLY edit keeps its priority when a later refresh rewrites it)."""
    rendered = _message(message, None)
    text = (split_html(rendered.text) or [rendered.text])[0]
    cursor = await conn.execute(
        "UPDATE outbox SET text = ?, keyboard = ?, updated_at = ?,"
        " priority = CASE WHEN priority > ? THEN priority ELSE ? END"
        " WHERE id = (SELECT max(id) FROM outbox WHERE edit_of = ? AND status = 'pending')"
        " RETURNING id",
        (text, keyboard_to_json(rendered.keyboard), clock.now_db(), priority, priority, of),
    )
    row = await cursor.fetchone()
    await cursor.close()
    if row is not None:
        _notify()
        return int(row[0])
    return await enqueue_edit(conn, of, rendered, priority=priority)


async def adopt(conn: aiosqlite.Connection, chat_id: int, message_id: int) -> int:
    """The outbox row of a message in `chat_id` (Telegram's `message_id`): the one that sent it,
    or, for a message the bot sent directly, a row written now as already sent, so the message
    can be edited through the outbox (`replace_pending_edit`)."""
    cursor = await conn.execute(
        "SELECT id FROM outbox WHERE chat_id = ? AND tg_message_id = ? AND kind <> 'edit'"
        " ORDER BY id DESC LIMIT 1",
        (chat_id, message_id),
    )
    found = await cursor.fetchone()
    await cursor.close()
    if found is not None:
        return int(found[0])
    now = clock.now_db()
    cursor = await conn.execute(
        "INSERT INTO outbox (chat_id, kind, status, tg_message_id, not_before, created_at,"
        " updated_at, sent_at) VALUES (?, 'text', 'sent', ?, ?, ?, ?, ?) RETURNING id",
        (chat_id, message_id, now, now, now, now),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return int(row[0])


async def diverted_pending(db: Database, chat_id: int) -> bool:
    """Diverted replies to `chat_id` still waiting (or being sent): later replies to that chat
    must queue behind them, so a person's replies never overtake each other."""
    found = await db.fetchone(
        "SELECT 1 FROM outbox WHERE chat_id = ? AND priority > 0"
        " AND status IN ('pending', 'sending') LIMIT 1",
        (chat_id,),
    )
    return found is not None


async def cancel(conn: aiosqlite.Connection, ids: Iterable[int]) -> int:
    """Cancel the given rows that have not left yet; returns how many."""
    count = 0
    now = clock.now_db()
    for row_id in ids:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'cancelled', error = ?, updated_at = ?"
            " WHERE id = ? AND status = 'pending'",
            (Reason.CANCELLED.value, now, row_id),
        )
        count += cursor.rowcount
    return count


# -- reading ------------------------------------------------------------------------------------


async def get(db: Database, row_id: int) -> OutboxRow | None:
    row = await db.fetchone("SELECT * FROM outbox WHERE id = ?", (row_id,))
    return _row(row) if row else None


async def blob(db: Database, blob_id: int) -> tuple[bytes, str | None]:
    row = await db.fetchone("SELECT data, tg_file_id FROM outbox_blobs WHERE id = ?", (blob_id,))
    if row is None:
        raise LookupError(f"outbox blob {blob_id} is missing")
    return bytes(row["data"]), row["tg_file_id"]


async def counts(db: Database) -> dict[str, int]:
    rows = await db.fetchall("SELECT status, count(*) FROM outbox GROUP BY status")
    return {r[0]: int(r[1]) for r in rows}


# -- the sender's side -----------------------------------------------------------------------


async def recover_in_flight(db: Database, instance: str, now: float) -> int:
    """At start-up: rows this instance left 'sending' (a crash, or parked at shutdown), rows
    claimed before claims existed, and rows whose claim ran out go out again (the only possible
    duplicates). Rows another running instance is sending stay its own."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claim_until = NULL,"
            " updated_at = ? WHERE status = 'sending'"
            " AND (claimed_by IS NULL OR claimed_by = ? OR claim_until < ?)",
            (clock.now_db(), instance, now),
        )
        return cursor.rowcount


async def take_over_expired(db: Database, now: float) -> int:
    """Rows whose claim ran out (the instance sending them died) go back to the queue, for
    whichever instance claims them next; returns how many. Old ledger rows are dropped too."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claim_until = NULL,"
            " updated_at = ? WHERE status = 'sending' AND claim_until IS NOT NULL"
            " AND claim_until < ?",
            (clock.now_db(), now),
        )
        taken = cursor.rowcount
        # A chat's slot long past says nothing any more (its bucket is full again).
        await conn.execute(
            "DELETE FROM outbox_pace WHERE chat_id <> ? AND tat < ?",
            (ledger.OVERALL, now - _PACE_KEPT_SECONDS),
        )
        return taken


_PACE_KEPT_SECONDS = 600.0


@dataclass
class Claimed:
    """What a claim took: rows (now 'sending', this instance's) with the time each may leave,
    chats to hold back until a time, and when to look again if the overall pace stopped it."""

    rows: list[tuple[OutboxRow, float]]
    held: dict[int, float]
    retry_at: float | None


async def claim(
    db: Database,
    ids: Iterable[int],
    *,
    instance: str,
    lease_seconds: float,
    limits: PacingLimits,
    ahead: float,
    now: Callable[[], float] = time.time,
    spent: int = 0,
) -> Claimed:
    """Claim the given due heads that may leave within `ahead` seconds, in one transaction with
    the slots they take from the shared pacing ledger (bot.domain.ledger).

    A row another instance claimed meanwhile (or that is no longer its chat's first) is left
    out. On PostgreSQL the rows are locked with SKIP LOCKED (two claims never wait on each other
    for a row) and the overall ledger row with FOR UPDATE (claims take slots in turn); on
    SQLite BEGIN IMMEDIATE does both. `now` is read once the claim holds the ledger: a claim
    that waited for another must not take slots in the past."""
    wanted = sorted(set(ids))
    if not wanted:
        return Claimed([], {}, None)
    marks = ",".join("?" * len(wanted))
    when = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            f"SELECT o.id, o.chat_id FROM outbox o WHERE o.id IN ({marks})"
            " AND o.status = 'pending' AND o.not_before <= ?"
            # the same order as due_heads: a chat's diverted replies first, then by id
            " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.chat_id = o.chat_id AND p.id <> o.id"
            " AND p.status IN ('pending', 'sending') AND p.not_before <= ?"
            " AND (p.status = 'sending' OR p.priority > o.priority"
            " OR (p.priority = o.priority AND p.id < o.id)))"
            " ORDER BY o.priority DESC, o.bulk, o.id" + row_locks(db.dialect),
            (*wanted, when, when),
        )
        heads = [ledger.Candidate(int(r[0]), int(r[1])) for r in await cursor.fetchall()]
        await cursor.close()
        if not heads and not spent:
            return Claimed([], {}, None)
        cursor = await conn.execute(
            "SELECT tat FROM outbox_pace WHERE chat_id = ?" + row_lock_wait(db.dialect),
            (ledger.OVERALL,),
        )
        overall = await cursor.fetchone()
        await cursor.close()
        tats: dict[int, float] = {}
        if chats := sorted({h.chat_id for h in heads}):
            chat_marks = ",".join("?" * len(chats))
            cursor = await conn.execute(
                f"SELECT chat_id, tat FROM outbox_pace WHERE chat_id IN ({chat_marks})", chats
            )
            tats = {int(r[0]): float(r[1]) for r in await cursor.fetchall()}
            await cursor.close()
        if overall is not None:
            tats[ledger.OVERALL] = float(overall[0])
        decided = ledger.plan(heads, tats, now(), limits, ahead, spent)
        rows: list[tuple[OutboxRow, float]] = []
        for row_id, leave in decided.claims:
            cursor = await conn.execute(
                "UPDATE outbox SET status = 'sending', claimed_by = ?, claim_until = ?,"
                " updated_at = ? WHERE id = ? AND status = 'pending' RETURNING *",
                (instance, leave + lease_seconds, when, row_id),
            )
            found = await cursor.fetchone()
            await cursor.close()
            if found is not None:
                rows.append((_row(found), leave))
        for chat_id, tat in decided.tats.items():
            await conn.execute(
                "INSERT INTO outbox_pace (chat_id, tat) VALUES (?, ?)"
                " ON CONFLICT (chat_id) DO UPDATE SET tat = excluded.tat",
                (chat_id, tat),
            )
    return Claimed(rows, decided.held, decided.retry_at)


async def reslot(db: Database, limits: PacingLimits, now: Callable[[], float] = time.time) -> float:
    """A new overall slot for a message that missed its own (its process was held up): when it
    may leave. Sent late in the old slot, it would crowd the slots after it."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT tat FROM outbox_pace WHERE chat_id = ?" + row_lock_wait(db.dialect),
            (ledger.OVERALL,),
        )
        found = await cursor.fetchone()
        await cursor.close()
        leave, tat = ledger.gcra(
            float(found[0]) if found else None, now(), limits.overall_per_second, 1.0
        )
        await conn.execute(
            "INSERT INTO outbox_pace (chat_id, tat) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET tat = excluded.tat",
            (ledger.OVERALL, tat),
        )
    return leave


async def pace_paused(db: Database, chat_id: int, until: float, limits: PacingLimits) -> None:
    """Telegram answered 429 for `chat_id`: no instance sends to it before `until`."""
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT tat FROM outbox_pace WHERE chat_id = ?", (chat_id,))
        found = await cursor.fetchone()
        await cursor.close()
        tat = ledger.paused(float(found[0]) if found else None, until, limits, chat_id)
        await conn.execute(
            "INSERT INTO outbox_pace (chat_id, tat) VALUES (?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET tat = excluded.tat",
            (chat_id, tat),
        )


async def due_heads(db: Database, exclude_chats: Iterable[int], limit: int) -> list[OutboxRow]:
    """The first due message of each chat, skipping the chats in `exclude_chats`: diverted
    replies (priority 1) first, then the oldest, bulk messages (broadcast copies) after the
    others.

    A chat's later messages wait until the earlier due ones have left (sent, failed, cancelled):
    that keeps each chat's messages in the order they were queued, except that the chat's
    diverted replies go before its other messages (in their own order).
    """
    excluded = sorted(set(exclude_chats))
    marks = ",".join("?" * len(excluded))
    not_in = f" AND o.chat_id NOT IN ({marks})" if excluded else ""
    now = clock.now_db()
    rows = await db.fetchall(
        "SELECT o.* FROM outbox o WHERE o.status = 'pending' AND o.not_before <= ?" + not_in + ""
        " AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.chat_id = o.chat_id AND p.id <> o.id"
        " AND p.status IN ('pending', 'sending') AND p.not_before <= ?"
        " AND (p.status = 'sending' OR p.priority > o.priority"
        " OR (p.priority = o.priority AND p.id < o.id)))"
        " ORDER BY o.priority DESC, o.bulk, o.id LIMIT ?",
        (now, *excluded, now, limit),
    )
    return [_row(r) for r in rows]


async def next_due(db: Database) -> datetime | None:
    """When the earliest message queued for later falls due."""
    row = await db.fetchone(
        "SELECT min(not_before) FROM outbox WHERE status = 'pending' AND not_before > ?",
        (clock.now_db(),),
    )
    return clock.from_db(row[0]) if row and row[0] else None


async def mark_sent(
    db: Database, row_id: int, message_id: int | None, *, blob_file: tuple[int, str] | None = None
) -> None:
    await mark_sent_many(db, [(row_id, message_id, blob_file)])


async def mark_sent_many(
    db: Database, sent: Iterable[tuple[int, int | None, tuple[int, str] | None]]
) -> None:
    """Record several messages Telegram accepted (row id, message id, (blob id, file id) after
    an upload) in one transaction: the sender commits what finished meanwhile together."""
    now = clock.now_db()
    async with db.transaction() as conn:
        for row_id, message_id, blob_file in sent:
            await conn.execute(
                "UPDATE outbox SET status = 'sent', tg_message_id = ?, error = NULL,"
                " error_detail = NULL, sent_at = ?, updated_at = ? WHERE id = ?",
                (message_id, now, now, row_id),
            )
            if blob_file is not None:
                await conn.execute(
                    "UPDATE outbox_blobs SET tg_file_id = ? WHERE id = ? AND tg_file_id IS NULL",
                    (blob_file[1], blob_file[0]),
                )


async def mark_retry(db: Database, row_id: int, *, counts: bool, detail: str) -> None:
    """Back to the queue after a failed try; `counts` adds it to the attempts and starts the
    retry budget's clock (`retry_since`) if it has not started yet."""
    now = clock.now_db()
    async with db.transaction() as conn:
        await conn.execute(
            "UPDATE outbox SET status = 'pending', claimed_by = NULL, claim_until = NULL,"
            " attempts = attempts + ?, error_detail = ?,"
            " retry_since = CASE WHEN ? = 1 THEN coalesce(retry_since, ?) ELSE retry_since END,"
            " updated_at = ? WHERE id = ? AND status = 'sending'",
            (int(counts), detail[:500], int(counts), now, now, row_id),
        )


async def hold_for_outage(db: Database) -> int:
    """Telegram is down: every due message waiting starts its retry budget's clock now (if it
    has not started already), so an outage longer than the budget gives them up. Returns how
    many rows started their clock."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET retry_since = ? WHERE status = 'pending' AND not_before <= ?"
            " AND retry_since IS NULL",
            (now, now),
        )
        return cursor.rowcount


async def give_up_overdue(db: Database, budget_seconds: float, detail: str) -> list[int]:
    """Fail every waiting message whose retry budget ran out (Reason.NETWORK); returns their ids.

    One audit entry per message, as `mark_failed` writes it."""
    cutoff = clock.to_db(clock.now() - timedelta(seconds=budget_seconds))
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'failed', error = ?, error_detail = ?, updated_at = ?"
            " WHERE status = 'pending' AND retry_since IS NOT NULL AND retry_since <= ?"
            " RETURNING id, chat_id",
            (Reason.NETWORK.value, detail[:500], now, cutoff),
        )
        rows = list(await cursor.fetchall())
        await cursor.close()
        for row in rows:
            await audit.record(
                conn,
                actor=None,
                action="outbox.failed",
                entity="outbox",
                entity_id=row[0],
                outcome="failed",
                detail={
                    "reason": Reason.NETWORK.value,
                    "telegram": detail[:200],
                    "chat_id": row[1],
                },
            )
    return sorted(int(r[0]) for r in rows)


async def mark_failed(db: Database, row_id: int, reason: Reason, detail: str) -> None:
    """Record why a message was not delivered; it is not tried again."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'failed', error = ?, error_detail = ?, updated_at = ?"
            " WHERE id = ? RETURNING chat_id",
            (reason.value, detail[:500], clock.now_db(), row_id),
        )
        row = await cursor.fetchone()
        await cursor.close()
        await audit.record(
            conn,
            actor=None,
            action="outbox.failed",
            entity="outbox",
            entity_id=row_id,
            outcome="failed",
            detail={
                "reason": reason.value,
                "telegram": detail[:200],
                "chat_id": row[0] if row else None,
            },
        )


async def mark_unreachable(
    db: Database, row_id: int, chat_id: int, reason: Reason, detail: str
) -> int:
    """The chat cannot receive: fail this row and everything else queued for that chat, and note
    it on the person (people.reachable) or the group (chats.bot_is_member). Returns rows failed."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET status = 'failed', error = ?, error_detail = ?, updated_at = ?"
            " WHERE chat_id = ? AND (id = ? OR status = 'pending')",
            (reason.value, detail[:500], now, chat_id, row_id),
        )
        failed = cursor.rowcount
        if chat_id > 0:
            await conn.execute(
                "UPDATE people SET reachable = 0, updated_at = ? WHERE tg_user_id = ?",
                (now, chat_id),
            )
        else:
            await conn.execute(
                "UPDATE chats SET bot_is_member = 0, updated_at = ? WHERE chat_id = ?",
                (now, chat_id),
            )
        await audit.record(
            conn,
            actor=None,
            action="outbox.unreachable",
            entity="chat",
            entity_id=chat_id,
            outcome="failed",
            detail={"reason": reason.value, "telegram": detail[:200], "messages": failed},
        )
    return failed


async def retarget(db: Database, old_chat_id: int, new_chat_id: int) -> int:
    """A group became a supergroup: everything still queued for it goes to the new id."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE outbox SET chat_id = ?, status = CASE status WHEN 'sending' THEN 'pending'"
            " ELSE status END, updated_at = ?"
            " WHERE chat_id = ? AND status IN ('pending', 'sending')",
            (new_chat_id, clock.now_db(), old_chat_id),
        )
        return cursor.rowcount
