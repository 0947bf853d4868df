"""Chasing unanswered invitations and escalating them, as a source of the reminder engine
(bot.reminders): series `task:<id>`, kinds `task.remind` and `task.escalate`; plus a planner
that confirms, once the reply deadline passed, a task every department answered.

The plan of `task:<id>` while the task is inviting: each liaison of each department that has
not answered, at each reminder slot before the deadline (bot.domain.tasks.reminder_slots);
the lead's liaisons and the administrators at the deadline if any department is still
silent. Nothing otherwise. Answering, extending, confirming or cancelling reconciles it
(`engine.task_changed`), and so does the engine's scan.

Keys are the outbox keys of the version that scanned on its own (`task:<id>:rem:<slot>:
<department>:<user>`, `task:<id>:esc:<deadline>:<user>`). What that version already sent is
left out of the plan: a slot it recorded in `task_reminders` (this version writes none), and an
escalation it marked in `tasks.escalated_deadline` while the series has no escalation row of
this version for that deadline.
"""

from __future__ import annotations

import logging
from datetime import datetime

from bot import clock
from bot import reminders as engine
from bot.domain import tasks as rules
from bot.domain.reminders import Planned
from bot.domain.tasks import MessageKind, TaskState
from bot.features.tasks.decide import confirm_task
from bot.features.tasks.views import (
    note_calendar_gaps,
    private_message,
    quiet_hours,
    task_view,
    tunables,
    work_calendar,
)
from bot.services import Services
from bot.store import audit
from bot.store import reminders as reminder_store
from bot.store import tasks as store
from bot.store.reminders import Reminder
from bot.store.tasks import Conn, Task

log = logging.getLogger(__name__)

REMIND = "task.remind"
ESCALATE = "task.escalate"


def series_of(task_id: int) -> str:
    return f"task:{task_id}"


async def live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    return [series_of(task_id) for task_id in await store.inviting_ids(conn)]


async def of_task(conn: Conn, task_id: int) -> list[str]:
    return [series_of(task_id)]


async def _recorded_slots(conn: Conn, task_id: int) -> set[tuple[str, str]]:
    """(department, slot) the previous version already reminded."""
    cursor = await conn.execute(
        "SELECT department_code, slot FROM task_reminders WHERE task_id = ?", (task_id,)
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    return {(str(r[0]), str(r[1])) for r in rows}


async def _load(conn: Conn, task_id: int) -> Task | None:
    """The task, or None if its row cannot be read: one bad task must not stop the others'
    reminders (the engine plans every series of a prefix in one transaction)."""
    try:
        return await store.load(conn, task_id)
    except Exception:
        log.exception("task %s: unreadable; no reminders or escalation for it", task_id)
        return None


async def desired(conn: Conn, svc: Services, series: str, now: datetime) -> list[Planned]:
    task = await _load(conn, int(series.partition(":")[2]))
    if task is None or task.state is not TaskState.INVITING or not task.pending:
        return []
    tz = svc.settings.tz
    t = tunables(svc)
    quiet = quiet_hours(svc)
    deadline = task.reply_deadline.astimezone(tz)
    await note_calendar_gaps(conn, svc, [deadline.date()])
    key = clock.to_db(task.reply_deadline)
    payload = {"task": task.id, "deadline": key}
    found: list[Planned] = []
    recorded = await _recorded_slots(conn, task.id)
    slots = rules.reminder_slots(
        deadline,
        task.deadline_set_at.astimezone(tz),
        work_calendar(svc),
        t.reminder_days_before,
        t.reminder_time,
        quiet,
    )
    liaisons = await store.liaisons(conn, task.pending)
    for department in task.pending:
        for slot in slots:
            at = clock.to_db(slot)
            if (department, at) in recorded:
                continue
            for uid in sorted(set(liaisons.get(department, []))):
                found.append(
                    Planned(
                        f"task:{task.id}:rem:{at}:{department}:{uid}",
                        REMIND,
                        uid,
                        slot,
                        deadline,
                        {**payload, "department": department, "slot": at},
                    )
                )
    rows = await reminder_store.of_series(conn, series)
    prefix = f"task:{task.id}:esc:{key}:"
    if task.escalated_deadline == key and not any(r.dedup_key.startswith(prefix) for r in rows):
        return found  # escalated by the previous version
    lead = (await store.liaisons(conn, [task.lead_department]))[task.lead_department]
    users = sorted(set(lead) | set(await store.admins(conn, svc.settings.admins)))
    escalate_at = rules.escalation_time(deadline, quiet)
    for uid in users:
        found.append(Planned(f"{prefix}{uid}", ESCALATE, uid, escalate_at, None, payload))
    return found


async def _current(conn: Conn, reminder: Reminder) -> Task | None:
    """The task, if the reminder is still about its current deadline and it is inviting."""
    task = await store.load(conn, int(reminder.payload["task"]))
    if (
        task is None
        or task.state is not TaskState.INVITING
        or clock.to_db(task.reply_deadline) != reminder.payload["deadline"]
    ):
        return None
    return task


async def compose(
    conn: Conn, svc: Services, reminder: Reminder, now: datetime
) -> engine.Composed | None:
    """The invitation again (提醒), or the escalation, rendered from the task as it is now;
    None once the department answered, the deadline moved or the task is no longer inviting."""
    task = await _current(conn, reminder)
    if task is None:
        return None
    view = await task_view(conn, svc, task)
    if reminder.kind == REMIND:
        department = str(reminder.payload["department"])
        if department not in task.pending:
            return None
        message = store.TaskMessage(0, department, MessageKind.REMINDER, None)
    else:
        if not task.pending:
            return None  # everyone answered: confirmed, not escalated
        message = store.TaskMessage(
            0, task.lead_department, MessageKind.ESCALATION, task.reply_deadline
        )
    return engine.composed(private_message(svc, view, task, message))


async def sent(
    conn: Conn, svc: Services, reminder: Reminder, outbox_id: int, digested: bool
) -> None:
    """Queued: keep the message (not a digest) so that closing or extending the task rewrites
    it (bot.domain.tasks.message_status); audit it; an escalation marks the task escalated."""
    task = await store.load(conn, int(reminder.payload["task"]))
    if task is None:
        return
    if reminder.kind == REMIND:
        department = str(reminder.payload["department"])
        if not digested:
            await store.add_private_message(
                conn, task.id, outbox_id, department, MessageKind.REMINDER
            )
        await audit.record(
            conn,
            actor=None,
            action="task.remind",
            entity="task",
            entity_id=task.id,
            detail={
                "department": department,
                "slot": reminder.payload["slot"],
                "to": reminder.tg_user_id,
            },
        )
        return
    if not digested:
        await store.add_private_message(
            conn,
            task.id,
            outbox_id,
            task.lead_department,
            MessageKind.ESCALATION,
            task.reply_deadline,
        )
    if await store.mark_escalated(conn, task):
        planned = [
            r.tg_user_id
            for r in await reminder_store.of_series(conn, series_of(task.id))
            if r.kind == ESCALATE and r.payload.get("deadline") == reminder.payload["deadline"]
        ]
        await audit.record(
            conn,
            actor=None,
            action="task.escalate",
            entity="task",
            entity_id=task.id,
            detail={
                "unanswered": task.pending,
                "deadline": reminder.payload["deadline"],
                "told": sorted(set(planned)),
            },
        )


async def settle(conn: Conn, svc: Services, now: datetime) -> None:
    """Engine planner: a task every department answered is confirmed at its escalation time
    (in the quiet hours its notices wait for their end)."""
    quiet = quiet_hours(svc)
    not_before = quiet.adjust(now) if quiet.is_quiet(now) else None
    for task_id in await store.inviting_ids(conn):
        task = await _load(conn, task_id)
        if task is None or task.state is not TaskState.INVITING or task.pending:
            continue
        if now >= rules.escalation_time(task.reply_deadline.astimezone(svc.settings.tz), quiet):
            await confirm_task(conn, svc, task, None, not_before=not_before)


def register() -> None:
    engine.register_source("task", desired, live, of_task=of_task, calendar=True)
    engine.register_kind(REMIND, compose, sent=sent)
    engine.register_kind(ESCALATE, compose, expires_with_purpose=False, sent=sent)
    engine.register_planner("task", settle)
