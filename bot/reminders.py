"""The durable reminder engine.

Each reminder is a row of the table `reminders`: what (`kind`, `payload`), for whom
(`tg_user_id`), when (`due_at`, quiet hours already applied; `purpose_at`, the event it is about)
and a unique `dedup_key`.

Reconciled from their sources. A series (`report:2026Q4`, `training:3`, `result:12`,
`followup:12`) is one source: a feature registers, per series prefix, how to compute the
series' plan from the current state (a pure function in bot.domain.reminders fed by the
feature's query) and which series are live. `reconcile(conn, svc, series)` recomputes one
series and makes its pending rows exactly the plan (bot.domain.reminders.reconcile: obsolete
pending rows cancelled, missing ones planned, unchanged ones kept, nothing doubled). Every
change to a source calls it in the change's own transaction: a report submitted, a follow-up
set or closed, a training set, moved or cancelled, a task confirmed, cancelled, extended or
done (`task_changed`), a /holiday day added or removed (`calendar_changed`: every series that
depends on the calendar). The scan below reconciles every live series too, as a safety net
(liaisons added since, a new quarter). So the pending rows are what will be sent, and
/reminders lists them. Texts are composed when sent, from the state at that moment.

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

from bot import clock, leader, workcal
from bot.domain.reminders import Decision, Existing, Planned, Quiet, Reconciliation, decide
from bot.domain.reminders import reconcile as reconcile_rows
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
# sent(conn, svc, reminder, outbox id, digested): after it was queued, in the same transaction
Sent = Callable[[Conn, Services, Reminder, int, bool], Awaitable[None]]
# desired(conn, svc, series, now in Beijing time) -> the series' plan from the current state
Desired = Callable[[Conn, Services, str, datetime], Awaitable[list[Planned]]]
# live(conn, svc, now) -> the series of this prefix that may need reminders now
Live = Callable[[Conn, Services, datetime], Awaitable[list[str]]]
# of_task(conn, task id) -> the series of this prefix that depend on that task
OfTask = Callable[[Conn, int], Awaitable[list[str]]]


@dataclass(frozen=True)
class Source:
    """A kind of source (series prefix) and how to plan it."""

    desired: Desired
    live: Live
    of_task: OfTask | None = None
    calendar: bool = False  # its plan depends on the working-day calendar
    late_hours: bool = True  # a slot up to grace_hours late is still sent (False: not at all)


@dataclass(frozen=True)
class Kind:
    compose: Composer
    expires_with_purpose: bool = True  # dropped once its event (purpose_at) has passed
    sent: Sent | None = None  # e.g. remember the message so a later change can rewrite it


def composed(message: Rendered) -> Composed:
    """A reminder's message; its first line (templates keep tags within a line), with the list
    right under it (lines starting "•"), is its digest entry."""
    lines = [line for line in message.text.splitlines() if line.strip()]
    kept = lines[:1]
    for line in lines[1:]:
        if not line.lstrip().startswith("•"):
            break
        kept.append(line)
    return Composed(message, "\n".join(kept))


KINDS: dict[str, Kind] = {}
PLANNERS: dict[str, Planner] = {}
SOURCES: dict[str, Source] = {}


def register_kind(
    name: str,
    compose: Composer,
    *,
    expires_with_purpose: bool = True,
    sent: Sent | None = None,
) -> None:
    KINDS[name] = Kind(compose, expires_with_purpose, sent)


def register_planner(name: str, planner: Planner) -> None:
    PLANNERS[name] = planner


def register_source(
    prefix: str,
    desired: Desired,
    live: Live,
    *,
    of_task: OfTask | None = None,
    calendar: bool = False,
    late_hours: bool = True,
) -> None:
    SOURCES[prefix] = Source(desired, live, of_task, calendar, late_hours)


def _existing(reminder: Reminder) -> Existing:
    return Existing(
        reminder.id,
        reminder.dedup_key,
        reminder.kind,
        reminder.tg_user_id,
        reminder.due_at,
        reminder.purpose_at,
        reminder.payload,
        reminder.status,
    )


async def reconcile(
    conn: Conn, svc: Services, series: str, now: datetime | None = None
) -> Reconciliation:
    """Make the pending rows of one series its current plan (inside the caller's
    transaction)."""
    source = SOURCES.get(series.partition(":")[0])
    if source is None:
        raise KeyError(f"no reminder source for {series}")
    now = now or local_now(svc)
    planned = await source.desired(conn, svc, series, now)
    grace = timedelta(hours=svc.settings.tunables.reminders.grace_hours)
    skip_before = now - grace if source.late_hours else now
    rows = await store.of_series(conn, series)
    change = reconcile_rows(planned, [_existing(r) for r in rows], skip_before)
    if change.changed:
        await store.apply(conn, series, change)
        log.info(
            "reminders: %s reconciled: +%d ~%d -%d",
            series,
            len(change.add),
            len(change.update),
            len(change.cancel) + len(change.skip),
        )
    return change


async def reconcile_prefix(conn: Conn, svc: Services, prefix: str, now: datetime) -> None:
    """Every live series of one prefix, and every one that still has pending rows."""
    source = SOURCES[prefix]
    live = await source.live(conn, svc, now)
    pending = await store.series_with_pending(conn, prefix)
    for series in dict.fromkeys([*live, *pending]):
        await reconcile(conn, svc, series, now)


async def task_changed(conn: Conn, svc: Services, task_id: int) -> None:
    """A task was confirmed, cancelled, extended or done: reconcile every series about it."""
    now = local_now(svc)
    for source in SOURCES.values():
        if source.of_task is None:
            continue
        for series in await source.of_task(conn, task_id):
            await reconcile(conn, svc, series, now)


async def calendar_changed(conn: Conn, svc: Services) -> None:
    """A /holiday day was added or removed (the calendar already reloaded with it): reconcile
    every series whose plan depends on working days."""
    now = local_now(svc)
    for prefix, source in SOURCES.items():
        if source.calendar:
            await reconcile_prefix(conn, svc, prefix, now)


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
    for prefix in SOURCES:
        try:
            async with svc.db.transaction() as conn:
                await reconcile_prefix(conn, svc, prefix, now)
        except Exception:
            log.exception("reminders: reconciling %s failed; the others go on", prefix)
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
            if kind.sent is not None:
                await kind.sent(conn, svc, current, outbox_id, False)
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
                after = KINDS[reminder.kind].sent
                if after is not None:
                    await after(conn, svc, reminder, outbox_id, True)
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
    if not leader.leads(context.application):
        return  # another instance leads and scans (bot.leader); the row claims make it safe anyway
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
