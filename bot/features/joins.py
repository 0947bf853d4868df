"""Quiet joins: whoever made invitation links hears who used them as a digest, at most one
message an hour (bot.domain.onboarding.DIGEST_EVERY), through the reminder engine (series
`joins:<inviter>`, kind onboard.joins). The join plans the digest in its own transaction
(`planned`); the text is composed when it is sent, listing everyone who joined since the last
one, and the joins it lists are marked reported in the same transaction, so a restart neither
loses nor doubles one. Quiet hours and the engine's grace/digest rules apply."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from bot import reminders as engine
from bot.domain.onboarding import digest_due
from bot.domain.reminders import Planned
from bot.services import Services
from bot.store import onboarding as store
from bot.store import reminders as reminder_store
from bot.store.onboarding import Conn

PREFIX = "joins"
KIND = "onboard.joins"
SHOWN = 40  # names listed in one digest; the rest are counted (and on /roster)


def series(inviter: int) -> str:
    return f"{PREFIX}:{inviter}"


async def desired(conn: Conn, svc: Services, name: str, now: datetime) -> list[Planned]:
    inviter = int(name.partition(":")[2])
    first = await store.first_unreported(conn, inviter)
    if first is None:
        return []
    code, used_at = first
    due = digest_due(used_at, await store.last_reported(conn, inviter))
    return [
        Planned(
            key=f"{PREFIX}:{inviter}:{code}",
            kind=KIND,
            user=inviter,
            due=due.astimezone(svc.settings.tz),
        )
    ]


async def live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    return [series(uid) for uid in await store.inviters_waiting(conn)]


async def planned(conn: Conn, svc: Services, inviter: int) -> None:
    """Someone used a link `inviter` made: (re)plan their digest, in the join's transaction."""
    if inviter:
        await engine.reconcile(conn, svc, series(inviter))


async def compose(
    conn: Conn, svc: Services, reminder: reminder_store.Reminder, now: datetime
) -> engine.Composed | None:
    joins = await store.unreported_joins(conn, reminder.tg_user_id)
    if not joins:
        return None
    await store.mark_reported(conn, [j.code for j in joins])
    by_department = Counter(j.department_name or "" for j in joins)
    message = svc.renderer.message(
        "onboarding/joins_digest.j2",
        total=len(joins),
        departments=sorted(by_department.items(), key=lambda kv: (-kv[1], kv[0])),
        shown=joins[:SHOWN],
        more=max(0, len(joins) - SHOWN),
    )
    return engine.composed(message)


def register() -> None:
    engine.register_source(PREFIX, desired, live)
    engine.register_kind(KIND, compose, expires_with_purpose=False)
