"""/results <task>: what is entered, reviewed and missing, and from whom."""

from __future__ import annotations

from telegram import Update

from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.results.progress import progress
from bot.features.results.views import task_arg
from bot.services import services


@command("results")
async def results_command(update: Update, context: Context, identity: Identity) -> None:
    found = await task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    p = progress(services(context), b)
    await reply(
        update,
        context,
        "results/overview.j2",
        task=task,
        names=b.names,
        total=p.total,
        published=p.published,
        missing=p.missing,
        deadline=p.deadline,
        working_days=p.working_days,
        overdue=p.overdue,
    )
