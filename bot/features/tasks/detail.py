"""/tasks (the tasks that concern me) and /task <id> (one task in full)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot import clock
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, command, reply
from bot.features.tasks.views import is_lead, task_view
from bot.services import Services, services
from bot.store import tasks as store
from bot.store.tasks import Conn, Task

MAX_PROGRESS_DEPARTMENTS = 15  # /task lists this many departments' missing results, /results all

# A drawn task's result progress, or None before the draw. Results build on tasks, so the
# read model is handed in by the wiring (bot.app: `show_progress`) instead of imported here:
# no feature package imports results' modules from tasks.
ProgressOf = Callable[[Conn, Services, Task], Awaitable[object | None]]
PROGRESS: list[ProgressOf] = []


def show_progress(source: ProgressOf) -> None:
    """What /task shows once the task is drawn (set once, at wiring time)."""
    PROGRESS[:] = [source]


@command("tasks")
async def tasks_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        found = await store.concerning(conn, identity.liaison_departments, identity.is_admin)
        names = await store.department_names(conn)
    rows = []
    for task in found:
        lead = is_lead(identity, task)
        mine = (
            [code for code in identity.liaison_departments if code in task.pending]
            if task.state is TaskState.INVITING
            else []
        )
        decide = (
            lead
            and task.state is TaskState.INVITING
            and task.escalated_deadline == clock.to_db(task.reply_deadline)
        )
        rows.append({"task": task, "mine": mine, "decide": decide, "lead": lead})
    await reply(update, context, "tasks/list.j2", rows=rows, names=names, tz=svc.settings.tz)


@command("task")
async def task_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "tasks/usage.j2", problem="usage", given=given)
        return
    async with svc.db.transaction() as conn:
        task = await store.load(conn, int(given))
        concerned = task is not None and (
            identity.is_admin or bool(set(identity.liaison_departments) & set(task.departments))
        )
        if task is None or not concerned:
            view = None
        else:
            view = await task_view(conn, svc, task)
            cursor = await conn.execute(
                "SELECT full_name FROM people WHERE tg_user_id = ?", (task.proposed_by,)
            )
            row = await cursor.fetchone()
            await cursor.close()
            view["proposer"] = row[0] if row else str(task.proposed_by)
            # once drawn: what results are missing and from whom (the /results computation)
            view["progress"] = await PROGRESS[0](conn, svc, task) if PROGRESS else None
    if task is None or view is None:
        await reply(update, context, "tasks/usage.j2", problem="not_found", given=given)
        return
    mine = [
        code
        for code in identity.liaison_departments
        if task.invitation(code) is not None and task.state is TaskState.INVITING
    ]
    await reply(
        update,
        context,
        "tasks/detail.j2",
        **view,
        mine=mine,
        lead=is_lead(identity, task),
        max_departments=MAX_PROGRESS_DEPARTMENTS,
    )
