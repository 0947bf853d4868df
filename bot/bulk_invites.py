"""Links in bulk: one single-use link for every active directory inspector of some departments
who has not registered yet, written in one transaction, and the workbook to hand them out.
Shared by `/invite inspectors …` (bot/features/bulk_invites.py) and
`python -m bot invites …` (bot/__main__.py).

    result = await issue(db, actor=uid, departments=["MZJ"], reissue=False, ...)

Already registered people get nothing; people with an unused link that is still valid keep it
unless `reissue` (then the old link stops working and a new one is made)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from bot import clock
from bot.db import Database
from bot.domain import invites as invite_rules
from bot.domain.onboarding import BulkPlan, bulk_plan
from bot.invite_sheet import LinkRow, Sheet, build
from bot.render import Renderer
from bot.store import onboarding as store

_UNSAFE_FILE_CHARS = re.compile(r'[\\/:*?"<>|\s]+')


@dataclass(frozen=True)
class BulkResult:
    plan: BulkPlan
    departments: tuple[str, ...]
    sheet: Sheet | None  # None when no link was made


async def issue(
    db: Database,
    renderer: Renderer,
    *,
    actor: int,
    departments: Sequence[str],
    reissue: bool,
    ttl_days: int,
    bot_username: str,
    tz: ZoneInfo,
    label: str = "",
) -> BulkResult:
    """Plan, revoke (when reissuing) and create the links in one transaction; then the
    workbook (built off the database). `label` names the file (a department's name, or
    empty for several)."""
    now = clock.now()
    expires_at = invite_rules.expiry(now, ttl_days)
    async with db.transaction() as conn:
        rows = await store.roster(conn, list(departments))
        plan = bulk_plan((r.state for r in rows), reissue=reissue)
        if plan.revoke:
            await store.revoke_links(conn, plan.revoke, actor)
        codes = [invite_rules.new_code() for _ in plan.new]
        if plan.new:
            await store.create_links(
                conn,
                [(c, p.department_code, p.id) for c, p in zip(codes, plan.new, strict=True)],
                created_by=actor,
                expires_at=expires_at,
                departments=departments,
            )
    if not plan.new:
        return BulkResult(plan, tuple(departments), None)
    names = {r.state.department_code: r.department_name for r in rows}
    shown = expires_at.astimezone(tz)
    links = [
        LinkRow(
            p.name,
            names.get(p.department_code, p.department_code),
            p.certificate_no,
            invite_rules.deep_link(bot_username, code),
            shown,
        )
        for code, p in zip(codes, plan.new, strict=True)
    ]
    day = now.astimezone(tz).strftime("%Y%m%d-%H%M")
    # About 10 ms a QR code (bench/bulk_invites.py): built in a worker thread, off the loop.
    label = _UNSAFE_FILE_CHARS.sub("_", label)
    sheet = await asyncio.to_thread(build, renderer, links, department=label, day=day)
    return BulkResult(plan, tuple(departments), sheet)
