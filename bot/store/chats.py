"""Group chats the bot is in, and which one is the county coordination group."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable

from bot import clock
from bot.db import Database
from bot.render import Rendered
from bot.store import audit, outbox


async def record_membership(
    db: Database,
    chat_id: int,
    title: str,
    chat_type: str,
    is_member: bool,
    actor: int | None,
    *,
    lost_coordination_notice: Rendered | None = None,
    admin_ids: Iterable[int] = (),
) -> sqlite3.Row | None:
    """Note that the bot joined or left a group; returns the stored row as it was before.

    If the bot left the coordination group, `lost_coordination_notice` is queued to every
    administrator in the same transaction.
    """
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT * FROM chats WHERE chat_id = ?", (chat_id,))
        before = await cursor.fetchone()
        await conn.execute(
            "INSERT INTO chats (chat_id, title, type, bot_is_member, updated_at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title,"
            " type = excluded.type, bot_is_member = excluded.bot_is_member,"
            " updated_at = excluded.updated_at",
            (chat_id, title, chat_type, int(is_member), now),
        )
        await audit.record(
            conn,
            actor=actor,
            action="chat.joined" if is_member else "chat.left",
            entity="chat",
            entity_id=chat_id,
            detail={"title": title},
        )
        if not is_member and before is not None and before["is_coordination"]:
            if lost_coordination_notice is not None:
                for admin_id in admin_ids:
                    await outbox.enqueue(conn, admin_id, lost_coordination_notice)
    return before


async def bind_coordination(
    db: Database,
    chat_id: int,
    title: str,
    chat_type: str,
    actor: int,
    *,
    tell_previous: Rendered | None = None,
) -> int | None:
    """Make this chat the coordination group; returns the previously bound chat id, if other.
    With `tell_previous`, that group is told (through the outbox, in the same transaction)."""
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT chat_id FROM chats WHERE is_coordination = 1")
        row = await cursor.fetchone()
        previous = int(row[0]) if row and int(row[0]) != chat_id else None
        if previous is not None and tell_previous is not None:
            await outbox.enqueue(conn, previous, tell_previous)
        await conn.execute("UPDATE chats SET is_coordination = 0 WHERE is_coordination = 1")
        await conn.execute(
            "INSERT INTO chats (chat_id, title, type, is_coordination, bot_is_member, bound_by,"
            " bound_at, updated_at) VALUES (?, ?, ?, 1, 1, ?, ?, ?)"
            " ON CONFLICT (chat_id) DO UPDATE SET title = excluded.title, type = excluded.type,"
            " is_coordination = 1, bot_is_member = 1, bound_by = excluded.bound_by,"
            " bound_at = excluded.bound_at, updated_at = excluded.updated_at",
            (chat_id, title, chat_type, actor, now, now),
        )
        await audit.record(
            conn,
            actor=actor,
            action="group.bind",
            entity="chat",
            entity_id=chat_id,
            detail={"title": title, "previous": previous},
        )
    return previous


async def coordination_chat(db: Database) -> sqlite3.Row | None:
    return await db.fetchone("SELECT * FROM chats WHERE is_coordination = 1")


async def migrate(db: Database, old_id: int, new_id: int, title: str | None = None) -> bool:
    """A group became a supergroup: move its row (and coordination flag) to the new id.

    Telegram sends two service messages (one in each chat); either may come first, and the
    second finds nothing left to do. Returns True if this call moved something.
    """
    now = clock.now_db()
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT * FROM chats WHERE chat_id = ?", (old_id,))
        old = await cursor.fetchone()
        if old is None or old["migrated_to"] == new_id:
            return False
        cursor = await conn.execute("SELECT 1 FROM chats WHERE chat_id = ?", (new_id,))
        if await cursor.fetchone():
            await conn.execute("DELETE FROM chats WHERE chat_id = ?", (new_id,))
        await conn.execute(
            "INSERT INTO chats (chat_id, title, type, is_coordination, bot_is_member, bound_by,"
            " bound_at, updated_at) SELECT ?, COALESCE(?, title), 'supergroup', 0, 1, bound_by,"
            " bound_at, ? FROM chats WHERE chat_id = ?",
            (new_id, title, now, old_id),
        )
        await conn.execute(
            "UPDATE chats SET is_coordination = 0, bot_is_member = 0, migrated_to = ?,"
            " updated_at = ? WHERE chat_id = ?",
            (new_id, now, old_id),
        )
        if old["is_coordination"]:
            await conn.execute("UPDATE chats SET is_coordination = 1 WHERE chat_id = ?", (new_id,))
        await audit.record(
            conn,
            actor=None,
            action="chat.migrated",
            entity="chat",
            entity_id=old_id,
            detail={"new_chat_id": new_id, "coordination": bool(old["is_coordination"])},
        )
    return True
