"""Flood-control state per Telegram account (bot.domain.flood)."""

from __future__ import annotations

import aiosqlite

from bot.domain.flood import FloodState


async def load(conn: aiosqlite.Connection, tg_user_id: int) -> FloodState | None:
    cursor = await conn.execute(
        "SELECT tokens, at, told_at, noticed_at FROM flood_state WHERE tg_user_id = ?",
        (tg_user_id,),
    )
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return None
    return FloodState(tokens=row[0], at=row[1], told_at=row[2], noticed_at=row[3])


async def save(conn: aiosqlite.Connection, tg_user_id: int, state: FloodState) -> None:
    await conn.execute(
        "INSERT INTO flood_state (tg_user_id, tokens, at, told_at, noticed_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (tg_user_id) DO UPDATE SET"
        " tokens = excluded.tokens, at = excluded.at, told_at = excluded.told_at,"
        " noticed_at = excluded.noticed_at",
        (tg_user_id, state.tokens, state.at, state.told_at, state.noticed_at),
    )
