"""/reminders (what is scheduled for me; administrators: everything, pause or resume a series),
/holiday (days off and make-up working days for the one calendar), the result-deadline series,
and the typed input the reminder features wait for (handler group -4).

Result deadlines: results are entered, reviewed and published within `[results] working_days`
(20) working days of the end of the inspection window. For every task that reached 已确认 and
is not cancelled or done, the liaisons of the participating departments are reminded
5, 2 and 1 working days before (09:00), and once the deadline passed, liaisons and
administrators are told on the next working day. A task whose results are all published
(the results feature then moves it to 已完成) gets no more of them.

Callback data: `rm:<pause|resume>:<series>`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
)

from bot import reminders as engine
from bot import workcal
from bot.domain import reminders as rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import parse_dates
from bot.features import reports, training
from bot.features.common import Context, button, command, edit, reply
from bot.services import Services, services
from bot.store import audit
from bot.store import reminders as store
from bot.store.reminders import Conn, Reminder

log = logging.getLogger(__name__)

RESULT_STATES = ("confirmed", "drawn", "inspecting", "publishing")


# -- result deadlines ----------------------------------------------------------------------------


async def results_complete(conn: Conn, task_id: int) -> bool:
    """Whether every result of a task is published: the results feature marks such a task done
    (bot.domain.results.progress_stage) in the transaction that publishes the last result."""
    cursor = await conn.execute("SELECT state FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    return row is not None and row[0] == "done"


async def _participants(conn: Conn, task_id: int) -> tuple[str, list[str]]:
    cursor = await conn.execute("SELECT lead_department FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    cursor = await conn.execute(
        "SELECT department_code FROM task_invitations WHERE task_id = ? AND answer = 'joined'",
        (task_id,),
    )
    joined = [r[0] for r in await cursor.fetchall()]
    await cursor.close()
    lead = row[0] if row else ""
    return lead, [lead, *joined]


async def plan_results(conn: Conn, svc: Services, now: datetime) -> None:
    t = svc.settings.tunables.reminders
    cal = workcal.calendar(svc)
    tz = svc.settings.tz
    cursor = await conn.execute(
        f"SELECT id, window_end FROM tasks WHERE state IN ({','.join('?' * len(RESULT_STATES))})",
        RESULT_STATES,
    )
    tasks = [(int(r[0]), date.fromisoformat(r[1])) for r in await cursor.fetchall()]
    await cursor.close()
    admins = await workcal.admins(conn, svc.settings.admins)
    grace = timedelta(hours=t.grace_hours)
    for task_id, window_end in tasks:
        await workcal.note_gaps(conn, svc, [window_end])
        deadline = rules.result_deadline(window_end, cal, t.result_working_days)
        await workcal.note_gaps(conn, svc, [deadline])
        end = datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=tz)
        overdue_at = datetime.combine(cal.add_workdays(deadline, 1), t.result_time, tzinfo=tz)
        _, departments = await _participants(conn, task_id)
        people = await store.liaisons(conn, departments)
        users = sorted({uid for ids in people.values() for uid in ids})
        series = f"result:{task_id}"
        payload = {"task": task_id, "deadline": deadline.isoformat()}
        for uid in users:
            for n, when in rules.result_slots(
                deadline, t.result_days_before, t.result_time, cal, tz
            ):
                await store.plan(
                    conn,
                    series=series,
                    kind="result.before",
                    user=uid,
                    due=when,
                    purpose=end,
                    payload={**payload, "days": n},
                    key=f"result:{task_id}:{deadline}:before:{n}:{uid}",
                    skip_before=now - grace,
                )
        for uid in sorted(set(users) | set(admins)):
            await store.plan(
                conn,
                series=series,
                kind="result.overdue",
                user=uid,
                due=overdue_at,
                payload=payload,
                key=f"result:{task_id}:{deadline}:overdue:{uid}",
                skip_before=now - grace,
            )


async def compose_result(
    conn: Conn, svc: Services, reminder: Reminder, now: datetime
) -> engine.Composed | None:
    task_id = int(reminder.payload["task"])
    cursor = await conn.execute("SELECT industry, state FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None or row[1] not in RESULT_STATES or await results_complete(conn, task_id):
        return None
    deadline = date.fromisoformat(reminder.payload["deadline"])
    rendered = svc.renderer.message(
        "reminders/result.j2",
        kind="before" if reminder.kind == "result.before" else "overdue",
        task_id=task_id,
        industry=row[0],
        deadline=deadline,
        days=reminder.payload.get("days", 0),
    )
    return engine.composed(rendered)


# -- /reminders ----------------------------------------------------------------------------------


def series_label(series: str) -> tuple[str, str]:
    kind, _, rest = series.partition(":")
    return kind, rest


@command("reminders")
async def reminders_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    show_all = identity.is_admin and bool(args) and args[0] in ("all", "全部")
    async with svc.db.transaction() as conn:
        mine = await store.pending_for(conn, identity.tg_user_id, limit=30)
        overview = await store.series_overview(conn) if identity.is_admin else []
        paused = await store.paused(conn)
        everyone = await store.pending_for(conn, None, limit=60) if show_all else []
        who = await store.names(conn, [r.tg_user_id for r in everyone])
    await reply(
        update,
        context,
        "reminders/list.j2",
        mine=mine,
        overview=overview,
        everyone=everyone,
        who=who,
        paused=paused,
        admin=identity.is_admin,
        tz=svc.settings.tz,
        label=series_label,
    )


@button(Role.ADMIN)
async def series_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    _, action, series = query.data.split(":", 2)
    svc = services(context)
    async with svc.db.transaction() as conn:
        changed = await store.set_paused(conn, series, identity.tg_user_id, action == "pause")
        if changed:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action=f"reminder.{action}",
                entity="series",
                entity_id=series,
            )
        overview = await store.series_overview(conn)
        paused = await store.paused(conn)
    await query.answer()
    await edit(
        update,
        context,
        "reminders/list.j2",
        mine=[],
        overview=overview,
        everyone=[],
        who={},
        paused=paused,
        admin=True,
        tz=svc.settings.tz,
        label=series_label,
    )


# -- /holiday --------------------------------------------------------------------------------------


@command("holiday")
async def holiday_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    action = args[0].lower() if args else "list"
    today = engine.local_now(svc).date()
    if action in ("add", "remove"):
        days = parse_dates(" ".join(args[1:2]), date(today.year, 1, 1)) if len(args) > 1 else None
        if not days or len(days) != 1:
            await reply(update, context, "reminders/holiday.j2", problem="usage")
            return
        day = days[0]
        kind = "workday" if any(a in ("上班", "workday", "调休") for a in args[2:]) else "holiday"
        async with svc.db.transaction() as conn:
            if action == "add":
                await workcal.set_day(conn, day, kind, identity.tg_user_id)
                removed = True
            else:
                removed = await workcal.remove_day(conn, day, identity.tg_user_id)
        await workcal.load(svc.db)
        if not removed:
            await reply(update, context, "reminders/holiday.j2", problem="absent", day=day)
            return
        await reply(
            update,
            context,
            "reminders/holiday.j2",
            problem="",
            done=action,
            day=day,
            kind=kind,
            is_workday=workcal.calendar(svc).is_workday(day),
        )
        return
    if action != "list":
        await reply(update, context, "reminders/holiday.j2", problem="usage")
        return
    async with svc.db.transaction() as conn:
        found = await workcal.days(conn)
    cal = workcal.calendar(svc)
    years = [y for y in (today.year, today.year + 1) if not cal.has_data(y)]
    await reply(
        update,
        context,
        "reminders/holiday.j2",
        problem="",
        done="list",
        days=found,
        toml_holidays=sorted(svc.settings.tunables.invitations.holidays),
        toml_workdays=sorted(svc.settings.tunables.invitations.workdays),
        missing_years=years,
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("reminders", reminders_command))
    app.add_handler(CommandHandler("holiday", holiday_command))
    app.add_handler(CallbackQueryHandler(series_button, pattern=r"^rm:"))
    reports.register(app)
    training.register(app)
    engine.register_planner("results", plan_results)
    engine.register_kind("result.before", compose_result)
    engine.register_kind("result.overdue", compose_result, expires_with_purpose=False)
