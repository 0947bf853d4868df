"""取消任务: the lead types a reason, confirms it, and everyone concerned is told."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from telegram import Update

from bot import clock
from bot import reminders as engine
from bot.domain import tasks as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features import training
from bot.features.common import Context, send
from bot.features.tasks.flows import HELD, send_private
from bot.features.tasks.views import alert, answer_card, edit_in_place, notify, refresh
from bot.services import services
from bot.store import audit
from bot.store import tasks as store
from bot.store.tasks import Flow, Task


async def ask_cancel_reason(
    update: Update, context: Context, identity: Identity, task: Task
) -> None:
    svc = services(context)
    if task.state not in rules.OPEN_STATES:
        await alert(update, context, "closed")
        return
    async with svc.db.transaction() as conn:
        flow = await store.start_flow(
            conn, identity.tg_user_id, "answer", "cancel", HELD, task_id=task.id
        )
        rendered = await answer_card(conn, svc, replace(flow, step="reason"), task)
    if await send_private(update, context, identity, rendered, flow, "reason"):
        assert update.callback_query is not None
        await update.callback_query.answer()


async def confirm_cancel(
    update: Update, context: Context, identity: Identity, flow: Flow, reason: str
) -> None:
    """The reason was typed: show it with 确认取消 / 放弃; nothing is cancelled before that."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        task = await store.load(conn, flow.task_id or 0)
        changed = await store.update_flow(conn, flow.id, "confirm", {**flow.data, "reason": reason})
    if task is None or changed is None:
        await send(
            context, identity.tg_user_id, svc.renderer.message("tasks/alert.j2", state="gone")
        )
        return
    rendered = svc.renderer.message(
        "tasks/confirm_cancel.j2", task=task, reason=reason, flow_id=changed.id
    )
    await send(context, identity.tg_user_id, rendered)


async def cancel_task(
    update: Update, context: Context, identity: Identity, flow: Flow, reason: str
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        await store.drop_flow(conn, flow.id)
        task = await store.load(conn, flow.task_id or 0)
        fresh: Task | None = None
        starts: list[datetime] = []
        if task is not None and rules.can_move(task.state, TaskState.CANCELLED):
            if await store.move(
                conn,
                task.id,
                task.state,
                TaskState.CANCELLED,
                cancelled_at=clock.now_db(),
                cancelled_by=identity.tg_user_id,
                cancel_reason=reason,
            ):
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="task.cancel",
                    entity="task",
                    entity_id=task.id,
                    detail={"from": task.state.value, "to": "cancelled", "reason": reason},
                )
                fresh = await store.load(conn, task.id)
                assert fresh is not None
                await refresh(conn, svc, fresh, closed=True)
                users = await store.liaisons(conn, fresh.departments)
                everyone = {u for us in users.values() for u in us} | {fresh.proposed_by}
                everyone.discard(identity.tg_user_id)
                sessions = await training.cancel_for_task(
                    conn,
                    svc,
                    fresh.id,
                    identity.tg_user_id,
                    frozenset(everyone | {identity.tg_user_id}),
                )
                starts = [t.starts_at.astimezone(svc.settings.tz) for t in sessions]
                await engine.task_changed(conn, svc, fresh.id)
                await notify(
                    conn, svc, fresh, everyone, "cancelled", kind="cancelled", trainings=starts
                )
    rendered = (
        svc.renderer.message("tasks/alert.j2", state="closed")
        if fresh is None
        else svc.renderer.message("tasks/done.j2", kind="cancelled", task=fresh, trainings=starts)
    )
    if update.callback_query is not None:  # 确认取消 on the confirmation card
        await edit_in_place(update, context, rendered)
    else:
        await send(context, identity.tg_user_id, rendered)
