"""The lead after the reply deadline: extend it (延长) or confirm with the answers so far
(按现有答复确认); `confirm_task` also serves the automatic confirmation (reminders)."""

from __future__ import annotations

from datetime import datetime

from telegram import Update

from bot import clock
from bot import reminders as engine
from bot.domain import tasks as rules
from bot.domain.roles import Identity
from bot.domain.tasks import Answer, TaskState
from bot.features.common import Context, send
from bot.features.tasks.views import (
    alert,
    invite,
    local_now,
    note_calendar_gaps,
    notify,
    refresh,
    tunables,
    work_calendar,
)
from bot.render import Rendered
from bot.services import Services, services
from bot.store import audit
from bot.store import tasks as store
from bot.store.tasks import Conn, Task


async def extend_task(
    update: Update, context: Context, identity: Identity, task: Task, days: int, version: int
) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    now = local_now(svc)
    if days not in tunables(svc).extend_options:
        await alert(update, context, "stale")
        return
    deadline = rules.extend_deadline(
        task.reply_deadline.astimezone(svc.settings.tz), now, work_calendar(svc), days
    )
    async with svc.db.transaction() as conn:
        ok = await store.extend(conn, task.id, version, deadline)
        if ok:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="task.extend",
                entity="task",
                entity_id=task.id,
                detail={
                    "from": clock.to_db(task.reply_deadline),
                    "to": clock.to_db(deadline),
                    "working_days": days,
                },
            )
            fresh = await store.load(conn, task.id)
            assert fresh is not None
            await engine.task_changed(conn, svc, task.id)
            # the card, and every private message: the escalations say it was extended and lose
            # their buttons; invitations and reminders show the new deadline
            await refresh(conn, svc, fresh, closed=True)
            await invite(
                conn,
                svc,
                fresh,
                fresh.pending,
                kind="extended",
                key=f"ext{fresh.deadline_version}",
            )
            await note_calendar_gaps(conn, svc, [deadline.date()])
            done = svc.renderer.text(
                "tasks/done.j2",
                kind="extended",
                task=fresh,
                when=deadline.strftime("%Y-%m-%d %H:%M"),
            )
    if not ok:
        await alert(update, context, "stale")
        return
    await query.answer(services(context).renderer.text("tasks/alert.j2", state="extended"))
    await send(context, identity.tg_user_id, Rendered(done))


async def confirm_task(
    conn: Conn,
    svc: Services,
    task: Task,
    actor: int | None,
    *,
    not_before: datetime | None = None,
) -> Task | None:
    """邀请中 → 已确认: joint if at least one partner joined. None if it was not inviting."""
    joint = rules.is_joint(i.answer for i in task.invitations)
    rules.move(task.state, TaskState.CONFIRMED)
    if not await store.move(
        conn,
        task.id,
        TaskState.INVITING,
        TaskState.CONFIRMED,
        joint=int(joint),
        confirmed_at=clock.now_db(),
    ):
        return None
    await audit.record(
        conn,
        actor=actor,
        action="task.confirm",
        entity="task",
        entity_id=task.id,
        detail={
            "joint": joint,
            "from": task.state.value,
            "to": TaskState.CONFIRMED.value,
            "joined": [i.department_code for i in task.invitations if i.answer is Answer.JOINED],
            "unanswered": task.pending,
        },
    )
    fresh = await store.load(conn, task.id)
    assert fresh is not None
    await engine.task_changed(conn, svc, task.id)  # its result deadline is now planned
    await refresh(conn, svc, fresh, closed=True)
    joined = [i.department_code for i in fresh.invitations if i.answer is Answer.JOINED]
    users = await store.liaisons(conn, [fresh.lead_department, *joined])
    told = {u for us in users.values() for u in us}
    await notify(conn, svc, fresh, told, "confirmed", kind="confirmed", not_before=not_before)
    # the departments that declined or never answered are told too: confirmed without them
    left_out = [i for i in fresh.invitations if i.answer is not Answer.JOINED]
    theirs = await store.liaisons(conn, [i.department_code for i in left_out])
    for invitation in left_out:
        code = invitation.department_code
        await notify(
            conn,
            svc,
            fresh,
            [u for u in theirs[code] if u not in told],
            f"confirmed_without:{code}",
            kind="confirmed_without",
            department=code,
            invitation=invitation,
            not_before=not_before,
        )
    return fresh


async def proceed(update: Update, context: Context, identity: Identity, task: Task) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    async with svc.db.transaction() as conn:
        fresh = await store.load(conn, task.id)
        done = None
        if fresh is not None and fresh.state is TaskState.INVITING:
            done = await confirm_task(conn, svc, fresh, identity.tg_user_id)
    if done is None:
        await alert(update, context, "closed")
        return
    await query.answer(svc.renderer.text("tasks/alert.j2", state="confirmed"))
    await send(
        context,
        identity.tg_user_id,
        svc.renderer.message("tasks/done.j2", kind="confirmed", task=done),
    )
