"""Named leases in the database: one instance at a time holds each (the leader lease).

Times are epoch seconds of the real clock; the instances' clocks must agree (NTP) to well within
a lease's length.
"""

from __future__ import annotations

from bot.db import Database


async def acquire(db: Database, name: str, holder: str, now: float, seconds: float) -> bool:
    """Take or renew lease `name` for `seconds`: True if `holder` holds it now (it was free, had
    run out, or was already `holder`'s)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO leases (name, holder, expires_at, acquired_at) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (name) DO UPDATE SET holder = excluded.holder,"
            " expires_at = excluded.expires_at,"
            " acquired_at = CASE WHEN leases.holder = excluded.holder THEN leases.acquired_at"
            " ELSE excluded.acquired_at END"
            " WHERE leases.holder = excluded.holder OR leases.expires_at < ?"
            " RETURNING holder",
            (name, holder, now + seconds, now, now),
        )
        row = await cursor.fetchone()
        await cursor.close()
        return row is not None


async def release(db: Database, name: str, holder: str) -> bool:
    """Give lease `name` up at once (a clean shutdown), if `holder` holds it."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE leases SET expires_at = 0 WHERE name = ? AND holder = ?", (name, holder)
        )
        return cursor.rowcount > 0


async def holder(db: Database, name: str, now: float) -> str | None:
    """Who holds lease `name` now (None: nobody, or it has run out)."""
    row = await db.fetchone(
        "SELECT holder FROM leases WHERE name = ? AND expires_at >= ?", (name, now)
    )
    return str(row[0]) if row else None
