"""The durable reminder engine.

Each reminder is a row of the table `reminders`: what (`kind`, `payload`), for whom
(`tg_user_id`), when (`due_at`, quiet hours already applied; `purpose_at`, the event it is about)
and a unique `dedup_key`. Series (quarterly reports, training, result deadlines) plan their rows
ahead with `INSERT OR IGNORE` on the key, so planning twice adds nothing.

`run_due(app)` is the only thing that sends. It runs from PTB's JobQueue (APScheduler on the
running loop, in Beijing time) every `scan_seconds` and right after start-up, and tests call it
after moving `bot.clock`. For each pending row that is due:

* before its time or in quiet hours (21:00–08:00, unless its event is within that night): wait;
* its event is over, or the series says it is no longer useful (report submitted, session
  cancelled): marked `skipped`;
* due less than `grace_hours` ago: its message is queued in the outbox and the row marked
  `fired` in the same transaction;
* due longer ago (the bot was down): folded, with every other such row of that person, into one
  digest message, queued in the same transaction that marks those rows `digested`.

Once only, across crashes: the row leaves 'pending' only by `UPDATE … WHERE status = 'pending'`
in the transaction that inserts the outbox row (whose own `dedup_key` is derived from the
reminder's). If the process dies before COMMIT, neither exists and the next run sends it; after
COMMIT, both exist and the outbox sender (itself crash-safe) delivers it; no run sees it pending
again. Two runs at once cannot both take it: the second's UPDATE changes no row and its
transaction is rolled back.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from telegram.ext import Application, ContextTypes

from bot import clock, workcal
from bot.domain.reminders import Decision, Quiet, decide
from bot.render import Rendered
from bot.services import Services
from bot.store import audit, outbox
from bot.store import reminders as store
from bot.store.reminders import Conn, Reminder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Composed:
    """What a due reminder says: the full message, and one line for a digest."""

    message: Rendered
    line: str


# compose(conn, svc, reminder, now in Beijing time) -> Composed, or None if no longer useful
Composer = Callable[[Conn, Services, Reminder, datetime], Awaitable[Composed | None]]
# plan(conn, svc, now in Beijing time): add the rows a series needs (idempotent)
Planner = Callable[[Conn, Services, datetime], Awaitable[None]]


@dataclass(frozen=True)
class Kind:
    compose: Composer
    expires_with_purpose: bool = True  # dropped once its event (purpose_at) has passed


def composed(message: Rendered) -> Composed:
    """A reminder's message; its first line (templates keep tags within a line) is its digest
    line."""
    first = next((line for line in message.text.splitlines() if line.strip()), "")
    return Composed(message, first)


KINDS: dict[str, Kind] = {}
PLANNERS: dict[str, Planner] = {}


def register_kind(name: str, compose: Composer, *, expires_with_purpose: bool = True) -> None:
    KINDS[name] = Kind(compose, expires_with_purpose)


def register_planner(name: str, planner: Planner) -> None:
    PLANNERS[name] = planner


def quiet(svc: Services) -> Quiet:
    t = svc.settings.tunables.reminders
    return Quiet(t.quiet_start, t.quiet_end)


def local_now(svc: Services) -> datetime:
    return clock.now().astimezone(svc.settings.tz)


async def run_due(app: Application) -> None:
    """Plan every series, then send what is due (see the module docstring). Safe to run at any
    time, and twice at once."""
    svc: Services = app.bot_data["services"]
    await workcal.load(svc.db)
    now = local_now(svc)
    for name, planner in PLANNERS.items():
        try:
            async with svc.db.transaction() as conn:
                await planner(conn, svc, now)
        except Exception:
            log.exception("reminders: planning %s failed; the others go on", name)
    t = svc.settings.tunables.reminders
    grace = timedelta(hours=t.grace_hours)
    q = quiet(svc)
    async with svc.db.transaction() as conn:
        due = await store.due(conn, now)
    digests: dict[int, list[Reminder]] = {}
    for reminder in due:
        kind = KINDS.get(reminder.kind)
        purpose = reminder.purpose_at.astimezone(svc.settings.tz) if reminder.purpose_at else None
        decision = decide(
            now,
            reminder.due_at.astimezone(svc.settings.tz),
            purpose,
            q,
            grace,
            expires_with_purpose=kind.expires_with_purpose if kind else True,
        )
        if decision is Decision.WAIT:
            continue
        if kind is None or decision is Decision.DROP:
            async with svc.db.transaction() as conn:
                await store.finish(conn, reminder.id, "skipped")
            continue
        if decision is Decision.DIGEST:
            digests.setdefault(reminder.tg_user_id, []).append(reminder)
            continue
        try:
            await _fire(svc, reminder, kind, now)
        except Exception:
            log.exception("reminders: %s failed; it stays pending", reminder.dedup_key)
    for user, reminders in digests.items():
        try:
            await _digest(svc, user, reminders, now)
        except Exception:
            log.exception("reminders: digest for %s failed; its reminders stay pending", user)


class _Taken(Exception):
    """Another run took the reminder first: roll back what this one queued."""


async def _fire(svc: Services, reminder: Reminder, kind: Kind, now: datetime) -> None:
    try:
        async with svc.db.transaction() as conn:
            current = await store.load(conn, reminder.id)
            if current is None or current.status != "pending":
                return
            composed = await kind.compose(conn, svc, current, now)
            if composed is None:
                await store.finish(conn, reminder.id, "skipped")
                return
            outbox_id = await outbox.enqueue(
                conn, current.tg_user_id, composed.message, dedup_key=f"rem:{current.dedup_key}"
            )
            if not await store.finish(conn, reminder.id, "fired", outbox_id):
                raise _Taken
            await audit.record(
                conn,
                actor=None,
                action="reminder.fire",
                entity="reminder",
                entity_id=reminder.id,
                detail={"key": current.dedup_key, "to": current.tg_user_id},
            )
    except _Taken:
        return


async def _digest(svc: Services, user: int, reminders: list[Reminder], now: datetime) -> None:
    """One message for every reminder of `user` missed by more than the grace window."""
    try:
        async with svc.db.transaction() as conn:
            lines: list[str] = []
            taken: list[Reminder] = []
            for reminder in reminders:
                current = await store.load(conn, reminder.id)
                if current is None or current.status != "pending":
                    continue
                composed = await KINDS[current.kind].compose(conn, svc, current, now)
                if composed is None:
                    await store.finish(conn, current.id, "skipped")
                    continue
                lines.append(composed.line)
                taken.append(current)
            if not taken:
                return
            rendered = svc.renderer.message(
                "reminders/digest.j2",
                lines=lines,
                reminders=taken,
                tz=svc.settings.tz,
            )
            outbox_id = await outbox.enqueue(
                conn, user, rendered, dedup_key=f"rem-digest:{user}:{taken[0].id}"
            )
            for reminder in taken:
                if not await store.finish(conn, reminder.id, "digested", outbox_id):
                    raise _Taken
            await audit.record(
                conn,
                actor=None,
                action="reminder.digest",
                entity="user",
                entity_id=user,
                detail={"keys": [r.dedup_key for r in taken]},
            )
    except _Taken:
        return


async def _job(context: ContextTypes.DEFAULT_TYPE) -> None:
    try:
        await run_due(context.application)
    except Exception:
        log.exception("reminders: run failed; trying again at the next scan")


async def start(app: Application) -> None:
    """post_init: load the /holiday days; scan every `scan_seconds`, the first time right away
    (reminders missed while the bot was down go out, or into a digest, then)."""
    svc: Services = app.bot_data["services"]
    await workcal.load(svc.db)
    if app.job_queue is None:
        log.warning("no job queue: reminders will not be sent")
        return
    every = svc.settings.tunables.reminders.scan_seconds
    app.job_queue.run_repeating(_job, interval=every, first=0.5, name="reminders")


async def stop(app: Application) -> None:
    """post_stop: take the scan off the queue (the JobQueue itself stops with the app)."""
    if app.job_queue is None:
        return
    for job in app.job_queue.get_jobs_by_name("reminders"):
        job.schedule_removal()
