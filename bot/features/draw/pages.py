"""The task notice's keyboard pages (button `dr:<task>:pg:<page>`): every enterprise of the
inspector has its 申请回避 and 📍 入企登记 buttons, PAGE_ENTERPRISES a page, the keyboard
edited in place by 上一页 / 下一页."""

from __future__ import annotations

from telegram import Update
from telegram.error import BadRequest

from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, markup
from bot.features.draw.views import notice_view
from bot.services import services
from bot.store import audit
from bot.store import draw as store
from bot.store import tasks as task_store


async def turn(
    update: Update, context: Context, identity: Identity, task_id: int, page: int
) -> None:
    """Show page `page` of the notice's buttons, if the inspector still holds enterprises of
    the task (a refusal otherwise, audited)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    inspector_id = identity.inspector_id
    assert inspector_id is not None
    view = None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        mine = [a for a in await store.assignments(conn, task_id) if a.inspector_id == inspector_id]
        if task is not None and task.state is not TaskState.CANCELLED and mine:
            view = await notice_view(conn, task, inspector_id, page)
        else:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.page",
                entity="task",
                entity_id=task_id,
                outcome="refused",
                detail={"page": page, "reason": "not_assigned" if task else "no_task"},
            )
    if view is None:
        await query.answer(svc.renderer.text("draw/alert.j2", state="closed"), show_alert=True)
        return
    keyboard = svc.renderer.message("draw/notice.j2", **view).keyboard
    await query.answer(svc.renderer.text("draw/alert.j2", state="page", view=view))
    try:
        await query.edit_message_reply_markup(reply_markup=markup(keyboard))
    except BadRequest as exc:  # the page shown already
        if "not modified" not in exc.message.lower():
            raise
