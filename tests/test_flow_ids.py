"""Ids that buttons carry are never reused (issue 13 §3): a dropped /newtask draft's old card
cannot act on a newer draft."""

from __future__ import annotations

from pathlib import Path

from bot.db import open_database
from bot.store import tasks as store


async def test_a_dropped_flow_id_is_never_given_to_a_new_flow(tmp_path: Path) -> None:
    async with open_database(tmp_path / "f.sqlite3") as db:
        async with db.transaction() as conn:
            first = await store.start_flow(conn, 1, "propose", "propose", "industry", data={})
            await store.drop_flow(conn, first.id)
            second = await store.start_flow(conn, 1, "propose", "propose", "industry", data={})
        assert second.id > first.id
