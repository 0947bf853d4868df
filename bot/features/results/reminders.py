"""The follow-up reminder series `followup:<task>`, a source of the reminder engine: for an
open 责令限期整改 the department's liaisons and the person who entered it are reminded
`[results] followup_days_before` working days before its due date at `followup_time`, and told,
with the administrators, on the first working day after it while it is still open."""

from __future__ import annotations

from datetime import date, datetime

from bot import reminders as engine
from bot import workcal
from bot.domain import reminders as reminder_rules
from bot.domain.results import Measure
from bot.domain.tasks import TaskState
from bot.features.results.board import board
from bot.services import Services
from bot.store import onboarding as onboarding_store
from bot.store import reminders as reminder_store
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn


async def followup_series(conn: Conn, svc: Services, now: datetime) -> list[str]:
    cursor = await conn.execute(
        "SELECT DISTINCT r.task_id FROM results r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.followup = ? AND r.followup_state = 'open' AND r.followup_due IS NOT NULL"
        " AND t.state != 'cancelled' ORDER BY r.task_id",
        (Measure.RECTIFY.value,),
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    return [f"followup:{r[0]}" for r in rows]


async def followup_of_task(conn: Conn, task_id: int) -> list[str]:
    return [f"followup:{task_id}"]


async def desired_followups(
    conn: Conn, svc: Services, series: str, now: datetime
) -> list[reminder_rules.Planned]:
    """The plan of `followup:<task>`: for each open 责令限期整改 with a due date, the
    department's liaisons and the person who entered it (while reachable) before the due date,
    and with the administrators after it; nothing once closed, changed or the task cancelled."""
    t = svc.settings.tunables.reminders
    task_id = int(series.partition(":")[2])
    cursor = await conn.execute(
        "SELECT r.id, r.department_code, r.followup_due, r.entered_by"
        " FROM results r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.task_id = ? AND r.followup = ? AND r.followup_state = 'open'"
        " AND r.followup_due IS NOT NULL AND t.state != 'cancelled' ORDER BY r.id",
        (task_id, Measure.RECTIFY.value),
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    if not rows:
        return []
    cal = workcal.calendar(svc)
    admins = await workcal.admins(conn, svc.settings.admins)
    found: list[reminder_rules.Planned] = []
    for result_id, dept, due_text, entered_by in rows:
        due = date.fromisoformat(due_text)
        await workcal.note_gaps(conn, svc, [due])
        people = set((await task_store.liaisons(conn, [dept])).get(dept, []))
        cursor = await conn.execute(
            "SELECT 1 FROM people WHERE tg_user_id = ? AND reachable = 1", (entered_by,)
        )
        if await cursor.fetchone() is not None and not await onboarding_store.inactive_users(
            conn, [int(entered_by)]
        ):
            people.add(int(entered_by))
        await cursor.close()
        found += reminder_rules.followup_plan(
            result_id,
            due,
            sorted(people),
            admins,
            days_before=t.followup_days_before,
            at=t.followup_time,
            calendar=cal,
            tz=svc.settings.tz,
        )
    return found


async def compose_followup(
    conn: Conn, svc: Services, reminder: reminder_store.Reminder, now: datetime
) -> engine.Composed | None:
    """None once the follow-up is closed, changed (another measure or due date) or gone."""
    result = await store.by_id(conn, int(reminder.payload["result"]))
    if (
        result is None
        or result.followup is not Measure.RECTIFY
        or result.followup_state != "open"
        or result.followup_due is None
        or result.followup_due.isoformat() != reminder.payload["due"]
    ):
        return None
    task = await task_store.load(conn, result.task_id)
    if task is None or task.state is TaskState.CANCELLED:
        return None
    b = await board(conn, task)
    rendered = svc.renderer.message(
        "results/followup_reminder.j2",
        kind="before" if reminder.kind == "followup.before" else "overdue",
        task=task,
        seq=result.seq,
        enterprise=b.name_of(result.seq),
        dept=b.names.get(result.department_code, result.department_code),
        due=result.followup_due.isoformat(),
        days=reminder_rules.workdays_left(now.date(), result.followup_due, workcal.calendar(svc)),
        note=result.followup_note,
    )
    return engine.composed(rendered)
