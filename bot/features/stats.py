"""/stats [quarter|year|2026Q4|2026]: the county's targets with a chart, and /reportdraft
[2026Q4]: a Word draft of the quarterly progress report.

Administrators see the county and every department; liaisons see their own department(s).
The formulas are in bot/domain/kpi.py (and the README); the facts come from bot/store/stats.py.
/reportdraft is its own command rather than `/report draft`: /report is for liaisons only and
drives the submission card, while administrators also get a (county-wide) draft.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import date

from telegram import Update
from telegram.ext import Application, CommandHandler

from bot import charts, clock, plan_import, workcal
from bot.docx_builder import build_docx
from bot.domain import kpi
from bot.domain import plan as plan_domain
from bot.domain.reminders import result_deadline
from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.render import Renderer
from bot.services import Services, services
from bot.store import stats as store

log = logging.getLogger(__name__)

_plain = Renderer(html=False)  # the .docx text: no HTML escaping


def today(svc: Services) -> date:
    return clock.now().astimezone(svc.settings.tz).date()


async def gather(svc: Services, period: kpi.Period, day: date) -> kpi.Facts:
    cal = workcal.calendar(svc)
    days = svc.settings.tunables.reminders.result_working_days

    def deadline(window_end: date) -> date:
        return result_deadline(window_end, cal, days)

    return await store.load_facts(
        svc.db,
        period,
        day,
        report_deadline_days=svc.settings.tunables.reminders.report_deadlines,
        result_deadline=deadline,
    )


@dataclass(frozen=True)
class Scope:
    county: kpi.Kpis | None  # administrators only
    departments: list[kpi.Kpis]


def scope_for(identity: Identity, facts: kpi.Facts, rules: kpi.KpiRules) -> Scope:
    if identity.is_admin:
        return Scope(kpi.compute(facts, rules), kpi.by_department(facts, rules))
    mine = [d for d in identity.liaison_departments if d in facts.departments]
    return Scope(None, [kpi.compute(facts, rules, d) for d in mine])


async def plan_for(
    svc: Services, identity: Identity, period: kpi.Period
) -> plan_domain.PlanView | None:
    """Plan against actual: the plan of the period's year (a quarter: the items whose window
    overlaps it); administrators see every item, liaisons those their departments lead or join."""
    window = (period.start, period.end) if "Q" in period.key else None
    departments = None if identity.is_admin else list(identity.liaison_departments)
    view = await plan_import.plan_view(
        svc.db, period.start.year, period=window, departments=departments
    )
    return view if view is not None and view.statuses else None


def county_name(svc: Services) -> str:
    """The county's name from settings ([county] name, e.g. 清河县), else "全县"."""
    return _plain.text("stats/county_name.j2", name=svc.settings.tunables.county_name)


def chart_png(
    renderer: Renderer,
    facts: kpi.Facts,
    rules: kpi.KpiRules,
    scope: Scope,
    title: str,
    county: str,
) -> bytes:
    labels = renderer.lines("stats/chart_labels.j2")
    names = [facts.departments.get(k.scope or "", k.scope or "") for k in scope.departments]
    targets = (rules.target_joint, rules.target_joint_enterprises, rules.target_risk)
    series = [
        charts.Series(
            labels[i],
            targets[i],
            [k.targets[i].value for k in scope.departments],
            None if scope.county is None else scope.county.targets[i].value,
        )
        for i in range(3)
    ]
    words = charts.Words(
        target=labels[3], county=county if scope.county is not None else None, no_data=labels[4]
    )
    return charts.render_png(title, names, series, words=words)


@command("stats")
async def stats_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    args = context.args or []
    day = today(svc)
    period = kpi.parse_period(args[0] if args else None, day, svc.settings.tunables.stats.period)
    if period is None:
        await reply(update, context, "stats/usage.j2", given=args[0])
        return
    rules = svc.settings.tunables.stats.rules
    facts = await gather(svc, period, day)
    scope = scope_for(identity, facts, rules)
    if scope.county is None and not scope.departments:
        await reply(update, context, "stats/usage.j2", given="")
        return
    await reply(
        update,
        context,
        "stats/summary.j2",
        period=period,
        county=scope.county,
        departments=scope.departments,
        names=facts.departments,
        county_name=county_name(svc),
        rules=rules,
        percent=kpi.percent,
        plan=await plan_for(svc, identity, period),
    )
    title = svc.renderer.text("stats/chart_title.j2", period=period)
    try:
        png = await asyncio.to_thread(
            chart_png, svc.renderer, facts, rules, scope, title, county_name(svc)
        )
    except Exception:  # the numbers already went out; a chart failure must not hide them
        log.exception("stats chart failed")
        return
    await context.bot.send_photo(
        chat.id,
        photo=png,
        caption=svc.renderer.text("stats/chart_caption.j2", period=period),
    )


def draft_lines(
    facts: kpi.Facts,
    rules: kpi.KpiRules,
    k: kpi.Kpis,
    labels: dict[int, str],
    county_name: str | None,
) -> list[str]:
    name = county_name if k.scope is None else facts.departments.get(k.scope, k.scope)
    return _plain.lines(
        "stats/report_draft.j2",
        period=facts.period,
        name=name,
        k=k,
        rules=rules,
        labels=labels,
        percent=kpi.percent,
    )


@command("reportdraft")
async def reportdraft_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    args = context.args or []
    day = today(svc)
    period = kpi.parse_period(args[0] if args else "quarter", day)
    if period is None or "Q" not in period.key:
        await reply(update, context, "stats/draft_usage.j2", given=args[0] if args else "")
        return
    rules = svc.settings.tunables.stats.rules
    facts = await gather(svc, period, day)
    labels = await store.category_labels(svc.db)
    scope = scope_for(identity, facts, rules)
    wanted = [scope.county] if scope.county is not None else scope.departments
    for k in wanted:
        if k is None:
            continue
        lines = draft_lines(facts, rules, k, labels, county_name(svc))
        data = await asyncio.to_thread(build_docx, lines)
        name = facts.departments.get(k.scope or "", "") if k.scope else ""
        await context.bot.send_document(
            chat.id,
            document=data,
            filename=_plain.text("stats/report_draft_name.j2", period=period, name=name),
            caption=svc.renderer.text(
                "stats/report_draft_caption.j2",
                period=period,
                county=k.scope is None,
                name=county_name(svc) if k.scope is None else name,
            ),
        )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("stats", stats_command))
    app.add_handler(CommandHandler("reportdraft", reportdraft_command))
