"""申请回避: an inspector declares a conflict for object <no> (button `dr:<task>:cf:<no>`), types
the reason (prompt draw.conflict) and a replacement is drawn."""

from __future__ import annotations

from telegram import Update

from bot import conversation
from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, identify, reply, send
from bot.features.draw.helpers import MAX_REASON
from bot.features.draw.replace import replace
from bot.services import services
from bot.store import audit, outbox
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt


async def declare(
    update: Update, context: Context, identity: Identity, task_id: int, seq: int
) -> None:
    """申请回避 pressed (`dr:<task>:cf:<no>`): the inspector is asked for the reason, if they
    still hold object <no> of a drawn task."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    inspector_id = identity.inspector_id
    assert inspector_id is not None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        mine = [a for a in await store.assignments(conn, task_id) if a.inspector_id == inspector_id]
        state = "closed"
        if task is not None and task.state is TaskState.DRAWN and any(a.seq == seq for a in mine):
            state = "ask"
        else:  # not (or no longer) this inspector's enterprise, or the task moved on
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.conflict",
                entity="task",
                entity_id=task_id,
                outcome="refused",
                detail={"seq": seq, "reason": "not_assigned" if task else "no_task"},
            )
    await query.answer(
        svc.renderer.text("draw/alert.j2", state=state), show_alert=state == "closed"
    )
    if state == "ask":
        question = svc.renderer.message("draw/ask_reason.j2", task_id=task_id, seq=seq)
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "draw.conflict",
            {"task": task_id, "seq": seq},
            lambda: send(context, identity.tg_user_id, question),
        )


async def conflict_reason(update: Update, context: Context, prompt: Prompt) -> bool:
    """The 回避 reason an inspector was asked for (prompt draw.conflict)."""
    message_in = update.effective_message
    if message_in is None or not message_in.text:
        return False
    identity = await identify(update, context)
    if identity.inspector_id is None:
        return False
    task_id, seq = int(prompt.target["task"]), int(prompt.target["seq"])
    svc = services(context)
    reason = message_in.text.strip()
    if not reason or len(reason) > MAX_REASON:
        await reply(update, context, "draw/ask_reason.j2", task_id=task_id, seq=seq, bad=True)
        await conversation.again(context, prompt)
        return True
    message = None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        old = next(
            (
                a
                for a in await store.assignments(conn, task_id, seq=seq)
                if a.inspector_id == identity.inspector_id
            ),
            None,
        )
        if task is None or task.state is not TaskState.DRAWN or old is None:
            message = "closed"
        else:
            await store.add_conflict(conn, old.inspector_id, old.credit_code, task_id, reason)
            try:
                await replace(
                    conn, svc, task, old, kind="conflict", reason=reason, actor=identity.tg_user_id
                )
            except rules.DrawError as exc:
                message = str(exc)
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="draw.conflict",
                    entity="task",
                    entity_id=task_id,
                    outcome="failed",
                    detail={"seq": seq, "reason": reason, "error": message},
                )
                users = await task_store.liaisons(conn, {task.lead_department, old.department_code})
                rendered = svc.renderer.message(
                    "draw/replace_failed.j2",
                    task=task,
                    seq=seq,
                    old=old,
                    reason=reason,
                    message=message,
                )
                for uid in sorted({u for us in users.values() for u in us}):
                    await outbox.enqueue(conn, uid, rendered)
    await reply(update, context, "draw/conflict_done.j2", task_id=task_id, seq=seq, problem=message)
    return True
