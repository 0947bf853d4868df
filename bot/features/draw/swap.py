"""/swap <task> <no> <old cert> <new cert> <reason>: a liaison's manual swap, reason required."""

from __future__ import annotations

from telegram import Update

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, command, reply
from bot.features.draw.helpers import MAX_REASON, is_lead, task_arg
from bot.features.draw.replace import replace
from bot.services import services
from bot.store import audit
from bot.store import draw as store


@command("swap")
async def swap_command(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if len(args) < 5 or not args[1].isdigit():
        await reply(update, context, "draw/usage.j2", problem="swap")
        return
    task = await task_arg(update, context, identity, lead=False)
    if task is None:
        return
    seq, old_cert, new_cert = int(args[1]), args[2], args[3]
    reason = " ".join(args[4:]).strip()
    if len(reason) > MAX_REASON:  # refused, never cut
        await reply(update, context, "draw/usage.j2", problem="too_long", limit=MAX_REASON)
        return
    svc = services(context)
    problem: str | None = None
    new: store.InspectorRow | None = None
    async with svc.db.transaction() as conn:
        old = next(
            (
                a
                for a in await store.assignments(conn, task.id, seq=seq)
                if a.certificate_no == old_cert
            ),
            None,
        )
        if task.state is not TaskState.DRAWN or old is None:
            problem = svc.renderer.text("draw/swap_problem.j2", key="not_found")
        elif not (is_lead(identity, task) or old.department_code in identity.liaison_departments):
            problem = svc.renderer.text("draw/swap_problem.j2", key="not_allowed")
        else:
            try:
                new = await replace(
                    conn,
                    svc,
                    task,
                    old,
                    kind="swap",
                    reason=reason,
                    actor=identity.tg_user_id,
                    new_cert=new_cert,
                )
            except rules.DrawError as exc:
                problem = str(exc)
        if problem:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.swap",
                entity="task",
                entity_id=task.id,
                outcome="refused",
                detail={"seq": seq, "old": old_cert, "new": new_cert, "problem": problem},
            )
    await reply(update, context, "draw/swap_done.j2", task=task, seq=seq, new=new, problem=problem)
