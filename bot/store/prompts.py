"""SQL of the conversation service: the one prompt a person may owe an answer to.

Every function runs inside the caller's transaction (`db.transaction()`).
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosqlite

from bot import clock

Conn = aiosqlite.Connection


@dataclass(frozen=True)
class Prompt:
    id: int
    tg_user_id: int
    chat_id: int
    kind: str
    target: dict[str, Any]
    armed: bool
    created_at: datetime
    expires_at: datetime
    message_id: int | None = None  # the question's message (its buttons go when it is dropped)
    # A question that went through the outbox (a diverted reply, bot.replies): the prompt is
    # armed once that row is sent, and its message is the question's.
    outbox_id: int | None = None

    def expired(self, now: datetime) -> bool:
        return now >= self.expires_at

    def same_question(self, other: Prompt) -> bool:
        """The same conversation, perhaps at another step (a wizard's next question)."""
        mine = {k: v for k, v in self.target.items() if k != "step"}
        theirs = {k: v for k, v in other.target.items() if k != "step"}
        return self.kind == other.kind and mine == theirs


def _prompt(row: sqlite3.Row) -> Prompt:
    keys = row.keys()
    delivered = "question_status" in keys and row["question_status"] == "sent"
    return Prompt(
        id=int(row["id"]),
        tg_user_id=int(row["tg_user_id"]),
        chat_id=int(row["chat_id"]),
        kind=row["kind"],
        target=json.loads(row["target"]),
        armed=bool(row["armed"]) or delivered,
        message_id=row["message_id"]
        if row["message_id"] is not None or not delivered
        else row["question_message_id"],
        outbox_id=row["outbox_id"],
        created_at=clock.from_db(row["created_at"]),
        expires_at=clock.from_db(row["expires_at"]),
    )


async def of(conn: Conn, user: int) -> Prompt | None:
    """The person's prompt; one whose question is queued in the outbox is armed once sent."""
    cursor = await conn.execute(
        "SELECT p.*, o.status AS question_status, o.tg_message_id AS question_message_id"
        " FROM prompts p LEFT JOIN outbox o ON o.id = p.outbox_id WHERE p.tg_user_id = ?",
        (user,),
    )
    row = await cursor.fetchone()
    await cursor.close()
    return _prompt(row) if row else None


async def open_(
    conn: Conn,
    user: int,
    chat: int,
    kind: str,
    target: dict[str, Any],
    ttl: timedelta,
    message_id: int | None = None,
) -> tuple[Prompt, Prompt | None]:
    """A new, not yet armed prompt; returns it and the one it replaced (if any)."""
    before = await of(conn, user)
    await conn.execute("DELETE FROM prompts WHERE tg_user_id = ?", (user,))
    now = clock.now()
    cursor = await conn.execute(
        "INSERT INTO prompts (tg_user_id, chat_id, kind, target, armed, created_at, expires_at,"
        " message_id) VALUES (?, ?, ?, ?, 0, ?, ?, ?) RETURNING *",
        (
            user,
            chat,
            kind,
            json.dumps(target, ensure_ascii=False, sort_keys=True),
            clock.to_db(now),
            clock.to_db(now + ttl),
            message_id,
        ),
    )
    row = await cursor.fetchone()
    await cursor.close()
    assert row is not None
    return _prompt(row), before


async def arm(conn: Conn, prompt_id: int, message_id: int | None = None) -> bool:
    cursor = await conn.execute(
        "UPDATE prompts SET armed = 1, message_id = coalesce(?, message_id) WHERE id = ?",
        (message_id, prompt_id),
    )
    return cursor.rowcount == 1


async def queued(conn: Conn, prompt_id: int, outbox_id: int) -> bool:
    """Its question went to the outbox: armed when that row is sent (see `of`)."""
    cursor = await conn.execute(
        "UPDATE prompts SET outbox_id = ? WHERE id = ?", (outbox_id, prompt_id)
    )
    return cursor.rowcount == 1


async def take(conn: Conn, prompt_id: int) -> bool:
    """Remove one prompt by id; False when it was gone already (answered, dropped, replaced)."""
    cursor = await conn.execute("DELETE FROM prompts WHERE id = ?", (prompt_id,))
    return cursor.rowcount == 1


async def drop(conn: Conn, user: int, kinds: tuple[str, ...] = ()) -> Prompt | None:
    """Remove the person's prompt (only of these kinds, if given) and return it."""
    found = await of(conn, user)
    if found is None or (kinds and found.kind not in kinds):
        return None
    await take(conn, found.id)
    return found
