"""Audit log: every change and every refused action, with who, what, when and on which record."""

from __future__ import annotations

import json
from typing import Any

import aiosqlite

from bot import clock


async def record(
    conn: aiosqlite.Connection,
    *,
    actor: int | None,
    action: str,
    entity: str | None = None,
    entity_id: str | int | None = None,
    outcome: str = "ok",
    detail: dict[str, Any] | None = None,
) -> None:
    """Write one audit row inside the caller's transaction."""
    await conn.execute(
        "INSERT INTO audit_log (at, actor, action, entity, entity_id, outcome, detail)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            clock.now_db(),
            actor,
            action,
            entity,
            None if entity_id is None else str(entity_id),
            outcome,
            json.dumps(detail or {}, ensure_ascii=False, default=str),
        ),
    )
