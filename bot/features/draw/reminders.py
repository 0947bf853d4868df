"""Acknowledgement reminders as a source of the reminder engine (bot.reminders): series
`ack:<task>`, kinds draw.remind (the inspector, the notice again) and draw.escalate (the
department's liaisons). The plan is bot.domain.acks.ack_plan of the task's unacknowledged
notices; reconciled when a task is drawn, a notice acknowledged or an inspector replaced, and
by the engine when the task or the calendar changes."""

from __future__ import annotations

from datetime import datetime

from bot import clock, workcal
from bot import reminders as engine
from bot.domain import acks as rules
from bot.domain.reminders import Planned
from bot.domain.tasks import TaskState
from bot.features.draw.views import notice_view
from bot.render import Rendered
from bot.services import Services
from bot.store import audit
from bot.store import draw as store
from bot.store import onboarding as onboarding_store
from bot.store import reminders as reminder_store
from bot.store import tasks as task_store
from bot.store.tasks import Conn

PREFIX = "ack"


def series(task_id: int) -> str:
    return f"{PREFIX}:{task_id}"


async def desired(conn: Conn, svc: Services, name: str, now: datetime) -> list[Planned]:
    """The plan of `ack:<task>` while the task is 已抽取: each reachable inspector who has not
    pressed 收到 and still holds an object. A reminder or escalation the draw sent itself
    before the engine (marked in draw_notices, no reminder row) is not planned again."""
    task_id = int(name.partition(":")[2])
    task = await task_store.load(conn, task_id)
    if task is None or task.state is not TaskState.DRAWN:
        return []
    tz = svc.settings.tz
    t = svc.settings.tunables.draw
    keys = {r.dedup_key for r in await reminder_store.of_series(conn, name)}
    waiting = [
        n
        for n in await store.notices(conn, task_id)
        if n.acked_at is None and n.reachable and n.tg_user_id is not None
    ]
    left = await onboarding_store.inactive_users(
        conn, [n.tg_user_id for n in waiting if n.tg_user_id]
    )
    waiting = [n for n in waiting if n.tg_user_id not in left]
    liaisons = await task_store.liaisons(conn, {n.department_code for n in waiting})
    cal = workcal.calendar(svc)
    found: list[Planned] = []
    for n in waiting:
        assert n.tg_user_id is not None
        earlier_remind = n.reminded_at is not None and (
            rules.remind_key(task_id, n.inspector_id) not in keys
        )
        escalations = rules.escalate_prefix(task_id, n.inspector_id)
        earlier_escalation = n.escalated_at is not None and not any(
            k.startswith(escalations) for k in keys
        )
        notified_on = clock.from_db(n.notified_at).astimezone(tz).date()
        await workcal.note_gaps(conn, svc, [notified_on])
        found += rules.ack_plan(
            rules.Waiting(
                task_id,
                n.inspector_id,
                n.tg_user_id,
                notified_on,
                liaisons.get(n.department_code, []),
                reminded_on=(
                    clock.from_db(n.reminded_at).astimezone(tz).date()
                    if earlier_remind and n.reminded_at
                    else None
                ),
                escalated=earlier_escalation,
            ),
            at=t.ack_time,
            escalate_working_days=t.escalate_working_days,
            calendar=cal,
            tz=tz,
        )
    return found


async def live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    rows = await conn.execute_fetchall(
        "SELECT DISTINCT n.task_id FROM draw_notices n JOIN tasks t ON t.id = n.task_id"
        " WHERE t.state = 'drawn' AND n.acked_at IS NULL AND n.reachable = 1 ORDER BY n.task_id"
    )
    return [series(int(r[0])) for r in rows]


async def of_task(conn: Conn, task_id: int) -> list[str]:
    return [series(task_id)]


def _composed(message: Rendered) -> engine.Composed:
    """Its digest entry: the first two lines (what it is, and which task or whom)."""
    lines = [line for line in message.text.splitlines() if line.strip()]
    return engine.Composed(message, "\n".join(lines[:2]))


async def compose(
    conn: Conn, svc: Services, reminder: reminder_store.Reminder, now: datetime
) -> engine.Composed | None:
    """Said as of now; None once the notice is acknowledged, the inspector no longer on the
    task or the task past 已抽取. Marks draw_notices (what /acks and the plan read)."""
    task_id, inspector_id = int(reminder.payload["task"]), int(reminder.payload["inspector"])
    task = await task_store.load(conn, task_id)
    if task is None or task.state is not TaskState.DRAWN:
        return None
    n = next(
        (n for n in await store.notices(conn, task_id) if n.inspector_id == inspector_id), None
    )
    if n is None or n.acked_at is not None:
        return None
    if reminder.kind == rules.REMIND:
        await store.mark(conn, task_id, inspector_id, "reminded_at")
        await audit.record(
            conn,
            actor=None,
            action="draw.ack_remind",
            entity="task",
            entity_id=task_id,
            detail={"inspector": inspector_id},
        )
        view = await notice_view(conn, task, inspector_id)
        return _composed(svc.renderer.message("draw/notice.j2", **view, reminder=True))
    await store.mark(conn, task_id, inspector_id, "escalated_at")
    await audit.record(
        conn,
        actor=None,
        action="draw.ack_escalate",
        entity="task",
        entity_id=task_id,
        detail={"inspector": inspector_id, "told": [reminder.tg_user_id]},
    )
    return _composed(svc.renderer.message("draw/ack_escalation.j2", task=task, n=n))


def register() -> None:
    engine.register_source(PREFIX, desired, live, of_task=of_task, calendar=True)
    engine.register_kind(rules.REMIND, compose)
    engine.register_kind(rules.ESCALATE, compose)
