"""收到: an inspector acknowledges a task notice (button `dr:<task>:ack`); /acks <task> shows
who has."""

from __future__ import annotations

from telegram import Update

from bot import reminders as engine
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, command, reply
from bot.features.draw.helpers import task_arg
from bot.features.draw.reminders import series
from bot.services import services
from bot.store import audit
from bot.store import draw as store
from bot.store import tasks as task_store


async def acknowledge(update: Update, context: Context, identity: Identity, task_id: int) -> None:
    """收到 pressed (`dr:<task>:ack`): recorded once; the task's acknowledgement reminders are
    reconciled in the same transaction (this inspector's pending ones cancelled)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    inspector_id = identity.inspector_id
    assert inspector_id is not None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        mine = [a for a in await store.assignments(conn, task_id) if a.inspector_id == inspector_id]
        state = "closed"
        if task is not None and task.state is TaskState.DRAWN and mine:
            state = "acked" if await store.acknowledge(conn, task_id, inspector_id) else "same"
            if state == "acked":
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="draw.ack",
                    entity="task",
                    entity_id=task_id,
                    detail={"inspector": inspector_id},
                )
                await engine.reconcile(conn, svc, series(task_id))
        if state == "closed":
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.ack",
                entity="task",
                entity_id=task_id,
                outcome="refused",
                detail={"reason": "not_assigned" if task else "no_task"},
            )
    text = svc.renderer.text("draw/alert.j2", state=state)
    await query.answer(text, show_alert=state == "closed")


@command("acks")
async def acks_command(update: Update, context: Context, identity: Identity) -> None:
    task = await task_arg(update, context, identity, lead=False)
    if task is None:
        return
    async with services(context).db.transaction() as conn:
        found = await store.notices(conn, task.id)
        names = await task_store.department_names(conn)
    await reply(update, context, "draw/acks.j2", task=task, notices=found, names=names)
