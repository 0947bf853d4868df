"""Small helpers every draw flow uses: the configured rules, who may act on a task, the
`<task>` argument of a command."""

from __future__ import annotations

from telegram import Update

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.features.common import Context, reply
from bot.services import Services, services
from bot.store import audit
from bot.store import tasks as task_store
from bot.store.tasks import Task

MAX_REASON = 300


def base_rules(svc: Services) -> rules.Rules:
    t = svc.settings.tunables.draw
    return rules.Rules(
        ratios=t.ratios,
        yearly_cap=t.yearly_cap,
        per_department=t.per_department,
        min_per_object=t.min_per_object,
    )


def is_lead(identity: Identity, task: Task) -> bool:
    return identity.is_admin or task.lead_department in identity.liaison_departments


def concerned(identity: Identity, task: Task) -> bool:
    return identity.is_admin or bool(set(identity.liaison_departments) & set(task.departments))


async def task_arg(
    update: Update, context: Context, identity: Identity, *, lead: bool
) -> Task | None:
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "draw/usage.j2", problem="usage")
        return None
    async with services(context).db.transaction() as conn:
        task = await task_store.load(conn, int(given))
    if task is None or not concerned(identity, task):
        await reply(update, context, "draw/usage.j2", problem="not_found", given=given)
        return None
    if lead and not is_lead(identity, task):
        await reply(update, context, "draw/usage.j2", problem="not_lead", task=task)
        return None
    return task


async def stale(update: Update, context: Context, reason: str = "stale") -> None:
    """Answer a press whose data means nothing (or no longer does) with the one "no longer
    valid" alert, and audit it, as bot.features.common.pressed does for malformed data."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=update.effective_user.id if update.effective_user else None,
            action="button.dr",
            outcome="refused",
            detail={"reason": reason, "data": query.data},
        )
    await query.answer(svc.renderer.text("common/stale_alert.j2"), show_alert=True)
