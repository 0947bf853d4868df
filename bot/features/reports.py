"""Quarterly progress reports: reminders before each deadline, /report (upload the document or
record another way of delivery), the /reports board, and escalation after the deadline.

Deadlines are `[reports] deadlines` ("MM-DD", default 24 March, June, September, December) and
stay that date even on a non-working day (see bot/domain/reminders.py); the reminders 7, 3 and
1 days before at 09:00 move to the working day before when they fall on a non-working day.
After a deadline, liaisons of departments still missing are reminded on each of the next
`overdue_times` (3) working days at 09:00, and the administrators get one escalation listing
them on the first. The reminders are the series `report:<period>`, reconciled whenever a
report is submitted (bot/reminders.py). /report offers every quarter the department still
owes (deadline passed, not submitted, since the department was added) as well as the current
one: a late report can be filed for any of them, at any time. Callback data:
`rp:<action>:<department>:<period>` (the period the card showed).
"""

from __future__ import annotations

import logging
import re
from datetime import date, datetime, time, timedelta
from pathlib import PurePosixPath

from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import clock, conversation, importer, workcal
from bot import reminders as engine
from bot.callbacks import Pressed
from bot.domain import reminders as rules
from bot.domain.reminders import Period
from bot.domain.roles import Identity, Role
from bot.features import plan
from bot.features.common import Context, command, pressed, refuse, reply, stale
from bot.services import Services, services
from bot.store import audit
from bot.store import reminders as store
from bot.store.prompts import Prompt
from bot.store.reminders import Conn, Reminder

log = logging.getLogger(__name__)

ALLOWED_SUFFIXES = (".docx", ".pdf", ".xlsx", ".doc", ".xls")
PERIOD_KEY = re.compile(r"\d{4}Q[1-4]")


def _deadlines(svc: Services) -> tuple[str, ...]:
    return svc.settings.tunables.reminders.report_deadlines


def _deadline_end(period: Period, svc: Services) -> datetime:
    """Reports count until the end of the deadline's day, Beijing time."""
    return datetime.combine(period.deadline + timedelta(days=1), time(0), tzinfo=svc.settings.tz)


def periods_to_plan(current: Period, svc: Services) -> list[Period]:
    """The current period and the one before (its overdue reminders may still be due)."""
    year = current.deadline.year
    candidates = rules.report_deadlines(year - 1, _deadlines(svc)) + rules.report_deadlines(
        year, _deadlines(svc)
    )
    earlier = [p for p in candidates if p.deadline < current.deadline]
    return ([max(earlier, key=lambda p: p.deadline)] if earlier else []) + [current]


async def period_for(conn: Conn, svc: Services, today: date, department: str) -> Period:
    """The period a report sent today counts for when a button does not say: the oldest
    quarter the department still owes, else the current one (the next deadline on or after
    today)."""
    missed = await missing_periods(conn, svc, today, department)
    return missed[0] if missed else rules.current_period(today, _deadlines(svc))


def _pressed_period(svc: Services, key: str, today: date) -> Period | None:
    """The period a `rp:` button names, if it is well-formed and not a future one (a quarter
    beyond the current period)."""
    if not PERIOD_KEY.fullmatch(key):
        return None
    period = rules.period_by_key(key, _deadlines(svc))
    current = rules.current_period(today, _deadlines(svc))
    if period is None or period.deadline > current.deadline:
        return None
    return period


async def _live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    periods = periods_to_plan(rules.current_period(now.date(), _deadlines(svc)), svc)
    await workcal.note_gaps(conn, svc, [p.deadline for p in periods])
    return [f"report:{p.key}" for p in periods]


async def desired(conn: Conn, svc: Services, series: str, now: datetime) -> list[rules.Planned]:
    """The plan of `report:<period>` from who has submitted, who the liaisons are and the
    calendar; nothing for a period outside the current and the previous one."""
    key = series.partition(":")[2]
    periods = periods_to_plan(rules.current_period(now.date(), _deadlines(svc)), svc)
    period = next((p for p in periods if p.key == key), None)
    if period is None:
        return []
    t = svc.settings.tunables.reminders
    liaisons = await store.liaisons(conn)
    done = await store.reports(conn, period.key)
    return rules.report_plan(
        period,
        liaisons,
        set(done),
        await workcal.admins(conn, svc.settings.admins),
        days_before=t.report_days_before,
        overdue_times=t.report_overdue_times,
        at=t.report_time,
        calendar=workcal.calendar(svc),
        tz=svc.settings.tz,
    )


async def missing_periods(conn: Conn, svc: Services, today: date, department: str) -> list[Period]:
    """Past quarters (deadline before today, since the department was added) it has not
    submitted a report for, oldest first: a late report may be filed for any of them."""
    cursor = await conn.execute("SELECT created_at FROM departments WHERE code = ?", (department,))
    row = await cursor.fetchone()
    await cursor.close()
    if row is None:
        return []
    since = clock.from_db(row[0]).astimezone(svc.settings.tz).date()
    missed = rules.periods_missed(since, today, _deadlines(svc))
    return [p for p in missed if not await store.submitted(conn, p.key, department)]


def _period(svc: Services, key: str) -> Period:
    period = rules.period_by_key(key, _deadlines(svc))
    if period is None:  # the deadlines were reconfigured: keep the key, guess the quarter end
        year, quarter = int(key[:4]), int(key[-1])
        return Period(key, datetime(year, quarter * 3, 24).date())
    return period


async def compose(
    conn: Conn, svc: Services, reminder: Reminder, now: datetime
) -> engine.Composed | None:
    period = _period(svc, reminder.payload["period"])
    names = await store.departments(conn)
    if reminder.kind == "report.escalate":
        done = await store.reports(conn, period.key)
        missing = [code for code in names if code not in done]
        if not missing:
            return None
        rendered = svc.renderer.message(
            "reports/reminder.j2",
            kind="escalate",
            period=period,
            missing=missing,
            names=names,
        )
        return engine.composed(rendered)
    department = reminder.payload["department"]
    if department not in names or await store.submitted(conn, period.key, department):
        return None
    rendered = svc.renderer.message(
        "reports/reminder.j2",
        kind="before" if reminder.kind == "report.before" else "overdue",
        period=period,
        department=names[department],
        days_left=(period.deadline - now.date()).days,
        n=reminder.payload.get("n", 0),
        times=svc.settings.tunables.reminders.report_overdue_times,
    )
    return engine.composed(rendered)


# -- /report ---------------------------------------------------------------------------------------


async def _card(update: Update, context: Context, identity: Identity, note: str = "") -> None:
    """Each department's missed quarters (oldest first), then the current one."""
    svc = services(context)
    today = engine.local_now(svc).date()
    period = rules.current_period(today, _deadlines(svc))
    async with svc.db.transaction() as conn:
        names = await store.departments(conn)
        departments = [c for c in identity.liaison_departments if c in names]
        entries: list[tuple[str, Period]] = []
        for code in departments:
            entries.extend((code, p) for p in await missing_periods(conn, svc, today, code))
            entries.append((code, period))
        done: dict[tuple[str, str], store.Report] = {}
        for code, p in entries:
            found = (await store.reports(conn, p.key)).get(code)
            if found is not None:
                done[(code, p.key)] = found
        who = await store.names(conn, [r.submitted_by for r in done.values()])
    shown = {p for _, p in entries}
    await reply(
        update,
        context,
        "reports/card.j2",
        period=shown.pop() if len(shown) == 1 else period,
        entries=entries,
        mixed=len({p for _, p in entries}) > 1,
        today=today,
        departments=departments,
        names=names,
        done=done,
        who=who,
        tz=svc.settings.tz,
        max_mb=svc.settings.tunables.reminders.report_max_file_mb,
        note=note,
    )


@command("report")
async def report_command(update: Update, context: Context, identity: Identity) -> None:
    await _card(update, context, identity)


@pressed("rp", Role.LIAISON, parts=2, numbers=())
async def report_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """rp:up|other:<department>[:<period>]."""
    query = update.callback_query
    assert query is not None and query.data is not None
    action, department, key = cb.text(0), cb.text(1), cb.text(2)
    if action not in ("up", "other"):
        await stale(update, context)
        return
    if department not in identity.liaison_departments:
        await refuse(update, context, identity, f"button.{query.data}", "department")
        return
    svc = services(context)
    today = engine.local_now(svc).date()
    if key:  # the period the card showed, checked: never a quarter beyond the current one
        chosen = _pressed_period(svc, key, today)
        if chosen is None:
            await refuse(update, context, identity, f"button.{query.data}", "period")
            return
        period = chosen
    else:  # a card sent before periods were in the buttons
        async with svc.db.transaction() as conn:
            period = await period_for(conn, svc, today, department)
    await query.answer()
    if action == "up":
        names = await _names(svc)
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "reports.file",
            {"period": period.key, "department": department},
            lambda: reply(
                update,
                context,
                "reports/ask_file.j2",
                period=period,
                department=names.get(department, department),
                max_mb=svc.settings.tunables.reminders.report_max_file_mb,
            ),
        )
    elif action == "other":
        async with svc.db.transaction() as conn:
            await store.submit(
                conn,
                period=period.key,
                department=department,
                how="other",
                user=identity.tg_user_id,
                note="通过其他方式报送",
            )
            await conversation.close(conn, identity.tg_user_id, "reports.file")
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="report.submit",
                entity="department",
                entity_id=department,
                detail={"period": period.key, "how": "other"},
            )
            await engine.reconcile(conn, svc, f"report:{period.key}")
        names = await _names(svc)
        await reply(
            update,
            context,
            "reports/done.j2",
            period=period,
            department=names.get(department, department),
            how="other",
            file_name=None,
        )


async def _names(svc: Services) -> dict[str, str]:
    async with svc.db.transaction() as conn:
        return await store.departments(conn)


def _for_an_import(caption: str | None) -> bool:
    words = (caption or "").replace("，", " ").replace(",", " ").split()
    return any(importer.parse_kind(word) for word in words) or bool(
        plan.CAPTION.match(caption or "")
    )


async def take_document(update: Update, context: Context, prompt: Prompt) -> bool:
    """The report file a liaison was asked for (prompt reports.file)."""
    message = update.effective_message
    if message is None or message.document is None or _for_an_import(message.caption):
        return False  # a directory or plan upload is not the report, whatever was asked
    svc = services(context)
    document = message.document
    name = document.file_name or "report"
    limit_mb = svc.settings.tunables.reminders.report_max_file_mb
    period = _period(svc, prompt.target["period"])
    department = prompt.target["department"]
    if PurePosixPath(name.lower()).suffix not in ALLOWED_SUFFIXES:
        await reply(update, context, "reports/problem.j2", problem="type", name=name)
        await conversation.again(context, prompt)
        return True
    if document.file_size is not None and document.file_size > limit_mb * 1024 * 1024:
        await reply(
            update,
            context,
            "reports/problem.j2",
            problem="size",
            name=name,
            size_mb=round(document.file_size / 1024 / 1024, 1),
            max_mb=limit_mb,
        )
        await conversation.again(context, prompt)
        return True
    async with svc.db.transaction() as conn:
        await store.submit(
            conn,
            period=period.key,
            department=department,
            how="upload",
            user=message.from_user.id if message.from_user else 0,
            file_id=document.file_id,
            file_name=name,
            file_size=document.file_size,
        )
        await audit.record(
            conn,
            actor=prompt.tg_user_id,
            action="report.submit",
            entity="department",
            entity_id=department,
            detail={"period": period.key, "how": "upload", "file": name},
        )
        await engine.reconcile(conn, svc, f"report:{period.key}")
        names = await store.departments(conn)
    await reply(
        update,
        context,
        "reports/done.j2",
        period=period,
        department=names.get(department, department),
        how="upload",
        file_name=name,
    )
    return True


# -- /reports --------------------------------------------------------------------------------------


@command("reports")
async def reports_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    period = rules.current_period(engine.local_now(svc).date(), _deadlines(svc))
    if args:
        found = rules.period_by_key(args[0].upper(), _deadlines(svc)) if len(args[0]) == 6 else None
        if found is None:
            await reply(update, context, "reports/problem.j2", problem="period", name=args[0])
            return
        period = found
    async with svc.db.transaction() as conn:
        names = await store.departments(conn)
        done = await store.reports(conn, period.key)
        who = await store.names(conn, [r.submitted_by for r in done.values()])
    await reply(
        update,
        context,
        "reports/board.j2",
        period=period,
        names=names,
        done=done,
        who=who,
        tz=svc.settings.tz,
        overdue=engine.local_now(svc).date() > period.deadline,
    )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("report", report_command))
    app.add_handler(CommandHandler("reports", reports_command))
    app.add_handler(CallbackQueryHandler(report_button, pattern=r"^rp:"))
    conversation.register("reports.file", take_document, accepts=(conversation.DOCUMENT,))
    engine.register_source("report", desired, _live, calendar=True)
    for kind in ("report.before", "report.overdue", "report.escalate"):
        engine.register_kind(kind, compose, expires_with_purpose=kind == "report.before")
