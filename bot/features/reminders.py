"""/reminders (what is scheduled for me; administrators: everything, pause or resume a series),
/holiday (days off and make-up working days for the one calendar), the result-deadline series,
and the typed input the reminder features wait for (handler group -4).

Result deadlines: results are entered, reviewed and published within `[results] working_days`
(20) working days of the end of the inspection window. For every task that reached 已确认 and
is not cancelled or done, the liaisons of the participating departments are reminded
5, 2 and 1 working days before (09:00), and once the deadline passed, liaisons and
administrators are told on the next working day. A task whose results are all published
(the results feature then moves it to 已完成) gets no more of them. The series `result:<task>`
is reconciled when the task is confirmed, cancelled, extended or done and when /holiday changes
the calendar (which may move the deadline: every slot of the old deadline is cancelled). A
reminder says the working days left as counted on the day it is sent.

Callback data: `rm:<pause|resume>:<series>`.
"""

from __future__ import annotations

import logging
from datetime import date, datetime

from telegram import Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
)

from bot import reminders as engine
from bot import workcal
from bot.callbacks import Pressed
from bot.domain import reminders as rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import parse_dates
from bot.features import reports, training
from bot.features.common import Context, command, edit, pressed, reply, stale
from bot.services import Services, services
from bot.store import audit
from bot.store import reminders as store
from bot.store.reminders import Conn, Reminder

log = logging.getLogger(__name__)

RESULT_STATES = ("confirmed", "drawn", "inspecting", "publishing")


# -- result deadlines ----------------------------------------------------------------------------


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


async def _result_series(conn: Conn, svc: Services, now: datetime) -> list[str]:
    cursor = await conn.execute(
        f"SELECT id FROM tasks WHERE state IN ({','.join('?' * len(RESULT_STATES))})",
        RESULT_STATES,
    )
    rows = await cursor.fetchall()
    await cursor.close()
    return [f"result:{r[0]}" for r in rows]


async def _task_series(conn: Conn, task_id: int) -> list[str]:
    return [f"result:{task_id}"]


async def current_deadline(conn: Conn, svc: Services, task_id: int) -> date | None:
    """The task's result deadline by today's calendar; None unless its results are due."""
    cursor = await conn.execute("SELECT window_end, state FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None or row[1] not in RESULT_STATES:
        return None
    return rules.result_deadline(
        date.fromisoformat(row[0]),
        workcal.calendar(svc),
        svc.settings.tunables.reminders.result_working_days,
    )


async def desired_results(
    conn: Conn, svc: Services, series: str, now: datetime
) -> list[rules.Planned]:
    """The plan of `result:<task>` from the task's state, window and participants."""
    t = svc.settings.tunables.reminders
    task_id = int(series.partition(":")[2])
    cursor = await conn.execute("SELECT window_end, state FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None or row[1] not in RESULT_STATES:
        return []
    window_end = date.fromisoformat(row[0])
    cal = workcal.calendar(svc)
    deadline = rules.result_deadline(window_end, cal, t.result_working_days)
    await workcal.note_gaps(conn, svc, [window_end, deadline])
    _, departments = await _participants(conn, task_id)
    people = await store.liaisons(conn, departments)
    return rules.result_plan(
        task_id,
        window_end,
        [uid for ids in people.values() for uid in ids],
        await workcal.admins(conn, svc.settings.admins),
        working_days=t.result_working_days,
        days_before=t.result_days_before,
        at=t.result_time,
        calendar=cal,
        tz=svc.settings.tz,
    )


async def compose_result(
    conn: Conn, svc: Services, reminder: Reminder, now: datetime
) -> engine.Composed | None:
    """Said as of now: the deadline by today's calendar (a reminder for another deadline is
    obsolete), the working days left counted today."""
    task_id = int(reminder.payload["task"])
    cursor = await conn.execute("SELECT industry FROM tasks WHERE id = ?", (task_id,))
    row = await cursor.fetchone()
    await cursor.close()
    deadline = await current_deadline(conn, svc, task_id)
    if row is None or deadline is None or deadline.isoformat() != reminder.payload["deadline"]:
        return None
    before = reminder.kind == "result.before"
    if (before and now.date() > deadline) or (not before and now.date() <= deadline):
        return None
    rendered = svc.renderer.message(
        "reminders/result.j2",
        kind="before" if before else "overdue",
        task_id=task_id,
        industry=row[0],
        deadline=deadline,
        days=rules.workdays_left(now.date(), deadline, workcal.calendar(svc)),
        working_days=svc.settings.tunables.reminders.result_working_days,
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


@pressed("rm", Role.ADMIN, parts=2, numbers=())
async def series_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """rm:pause|resume:<series> (a series key may contain ':')."""
    query = update.callback_query
    assert query is not None
    action, series = cb.text(0), cb.rest(1)
    if action not in ("pause", "resume") or not series:
        await stale(update, context)
        return
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
        mine = await store.pending_for(conn, identity.tg_user_id, limit=30)
    await query.answer()
    await edit(
        update,
        context,
        "reminders/list.j2",
        mine=mine,
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
        try:
            async with svc.db.transaction() as conn:
                if action == "add":
                    await workcal.set_day(conn, day, kind, identity.tg_user_id)
                    removed = True
                else:
                    removed = await workcal.remove_day(conn, day, identity.tg_user_id)
                if removed:  # deadlines and reminder days move with the calendar, now
                    await workcal.load_within(conn, svc.db)
                    await engine.calendar_changed(conn, svc)
        finally:
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
    engine.register_source(
        "result", desired_results, _result_series, of_task=_task_series, calendar=True
    )
    engine.register_kind("result.before", compose_result)
    engine.register_kind("result.overdue", compose_result, expires_with_purpose=False)
