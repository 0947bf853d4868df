"""扫码入企: the inspector's `rc:<task>:<seq>` button on the task notice records the check-in
and sends the enterprise's verification link."""

from __future__ import annotations

from telegram import Update

from bot import clock
from bot.callbacks import Pressed
from bot.domain.roles import Identity, Role
from bot.features.common import (
    Context,
    pressed,
    reply,
)
from bot.features.results.board import ENTRY_STATES, local
from bot.features.results.views import verify_link
from bot.services import services
from bot.store import audit
from bot.store import draw as draw_store
from bot.store import results as store
from bot.store import tasks as task_store


@pressed("rc", Role.INSPECTOR, parts=2, numbers=(0, 1))
async def checkin_button(
    update: Update, context: Context, identity: Identity, press: Pressed
) -> None:
    """`rc:<task>:<seq>` on the inspector's task notice: 入企登记."""
    query = update.callback_query
    assert query is not None
    task_id, seq = press.number(0), press.number(1)
    svc = services(context)
    outcome = "not_yours"
    link = ""
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        team = await draw_store.assignments(conn, task_id, seq=seq)
        if task is None or task.state not in ENTRY_STATES:
            outcome = "closed"
        elif any(a.inspector_id == identity.inspector_id for a in team):
            assert identity.inspector_id is not None
            new = await store.check_in(conn, task_id, seq, identity.inspector_id)
            outcome = "checked_in" if new else "already"
            link = verify_link(svc, await store.verify_token(conn, task_id, seq))
            if new:
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="results.checkin",
                    entity="task",
                    entity_id=task_id,
                    detail={"seq": seq},
                )
        if outcome in ("closed", "not_yours"):  # someone else's enterprise, or too late
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="results.checkin",
                entity="task",
                entity_id=task_id,
                outcome="refused",
                detail={"seq": seq, "reason": outcome},
            )
    text = svc.renderer.text("results/checkin_alert.j2", outcome=outcome, seq=seq)
    await query.answer(text, show_alert=True)
    if outcome == "checked_in":
        await reply(
            update,
            context,
            "results/checkin.j2",
            task_id=task_id,
            seq=seq,
            at=local(svc, clock.now()),
            link=link,
        )
