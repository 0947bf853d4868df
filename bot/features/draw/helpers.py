"""Small helpers every draw flow uses: the configured rules, who may act on a task, the
`<task>` argument of a command."""

from __future__ import annotations

from telegram import Update

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.features.common import Context, reply
from bot.services import Services, services
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
        rotation=t.rotation,
    )


def is_lead(identity: Identity, task: Task) -> bool:
    return identity.is_admin or task.lead_department in identity.liaison_departments


def concerned(identity: Identity, task: Task) -> bool:
    return identity.is_admin or bool(set(identity.liaison_departments) & set(task.departments))


async def task_arg(
    update: Update, context: Context, identity: Identity, *, lead: bool, anyone: bool = False
) -> Task | None:
    """The task named by the first argument, if this person may act on it (the lead's liaison
    with `lead`; any registered person with `anyone`, as for /verify); otherwise the answer
    saying why, and None."""
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "draw/usage.j2", problem="usage")
        return None
    async with services(context).db.transaction() as conn:
        task = await task_store.load(conn, int(given))
    if task is None or not (anyone or concerned(identity, task)):
        await reply(update, context, "draw/usage.j2", problem="not_found", given=given)
        return None
    if lead and not is_lead(identity, task):
        await reply(update, context, "draw/usage.j2", problem="not_lead", task=task)
        return None
    return task
