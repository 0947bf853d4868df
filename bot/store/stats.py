"""Queries that build the facts bot/domain/kpi.py computes the statistics from (read only)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date

from bot.db import Database
from bot.domain import kpi
from bot.domain.reminders import report_deadlines
from bot.store import draw as draw_store


async def department_names(db: Database) -> dict[str, str]:
    rows = await db.fetchall("SELECT code, name FROM departments ORDER BY code")
    return {r["code"]: r["name"] for r in rows}


async def category_labels(db: Database) -> dict[int, str]:
    rows = await db.fetchall("SELECT code, label FROM result_categories ORDER BY sort")
    return {int(r["code"]): r["label"] for r in rows}


def population(source: str | None, result: bytes | None) -> tuple[int, int] | None:
    """(classified, all) eligible objects a bot draw drew from, from the strata recorded with
    its result; None for a platform draw (its population is not known) or no draw."""
    if source != "bot" or result is None:
        return None
    strata = json.loads(draw_store.unpack(result)).get("strata", [])
    total = sum(int(s[1]) for s in strata)
    classified = sum(int(s[1]) for s in strata if s[0] in kpi.RISK_CLASSES)
    return classified, total


async def load_facts(
    db: Database,
    period: kpi.Period,
    today: date,
    *,
    report_deadline_days: tuple[str, ...],
    result_deadline: Callable[[date], date] | None = None,
) -> kpi.Facts:
    """Every task whose window starts in the period (any state: kpi.py decides what counts),
    their draws, results and training sessions, and the report submissions of the period."""
    start, end = period.start.isoformat(), period.end.isoformat()
    task_rows = await db.fetchall(
        "SELECT t.id, t.state, t.lead_department, t.window_start, t.window_end, d.source,"
        " d.result FROM tasks t LEFT JOIN draws d ON d.task_id = t.id"
        " WHERE t.window_start BETWEEN ? AND ? ORDER BY t.id",
        (start, end),
    )
    ids = [int(r["id"]) for r in task_rows]
    marks = ",".join("?" * len(ids)) or "NULL"
    joined: dict[int, list[str]] = {}
    objects: dict[int, list[kpi.ObjectFact]] = {}
    results: list[kpi.ResultFact] = []
    trainings: list[kpi.TrainingFact] = []
    leads = {int(r["id"]): r["lead_department"] for r in task_rows}
    if ids:
        for r in await db.fetchall(
            f"SELECT task_id, department_code FROM task_invitations WHERE answer = 'joined'"
            f" AND task_id IN ({marks}) ORDER BY department_code",
            ids,
        ):
            joined.setdefault(int(r["task_id"]), []).append(r["department_code"])
        for r in await db.fetchall(
            f"SELECT task_id, seq, credit_code, risk_class FROM draw_objects"
            f" WHERE task_id IN ({marks}) ORDER BY task_id, seq",
            ids,
        ):
            objects.setdefault(int(r["task_id"]), []).append(
                kpi.ObjectFact(int(r["seq"]), r["credit_code"], r["risk_class"] or "")
            )
        for r in await db.fetchall(
            f"SELECT task_id, seq, department_code, state, categories, followup, followup_state"
            f" FROM results WHERE task_id IN ({marks})",
            ids,
        ):
            results.append(
                kpi.ResultFact(
                    task_id=int(r["task_id"]),
                    seq=int(r["seq"]),
                    department=r["department_code"],
                    state=r["state"],
                    categories=tuple(int(c) for c in json.loads(r["categories"] or "[]")),
                    followup=r["followup"],
                    followup_state=r["followup_state"],
                )
            )
        for r in await db.fetchall(
            f"SELECT s.id, s.task_id, s.department_code,"
            f" SUM(CASE WHEN a.answer = 'attend' THEN 1 ELSE 0 END) AS attend,"
            " SUM(CASE WHEN a.answer = 'leave' THEN 1 ELSE 0 END) AS leave"
            f" FROM trainings s LEFT JOIN training_answers a ON a.training_id = s.id"
            f" WHERE s.state = 'active' AND s.task_id IN ({marks}) GROUP BY s.id",
            ids,
        ):
            task_id = int(r["task_id"])
            trainings.append(
                kpi.TrainingFact(
                    task_id=task_id,
                    department=r["department_code"] or leads[task_id],
                    attend=int(r["attend"] or 0),
                    leave=int(r["leave"] or 0),
                )
            )
    tasks = tuple(
        kpi.TaskFact(
            task_id=int(r["id"]),
            state=r["state"],
            lead=r["lead_department"],
            window_start=date.fromisoformat(r["window_start"]),
            joined=tuple(joined.get(int(r["id"]), ())),
            draw_source=r["source"],
            objects=tuple(objects.get(int(r["id"]), ())),
            result_deadline=(
                result_deadline(date.fromisoformat(r["window_end"])) if result_deadline else None
            ),
            population=population(r["source"], r["result"]),
        )
        for r in task_rows
    )
    quarters = period.quarters
    submitted = await db.fetchall(
        f"SELECT period, department_code FROM quarterly_reports"
        f" WHERE period IN ({','.join('?' * len(quarters))})",
        quarters,
    )
    deadlines: dict[str, date] = {}
    for year in {int(q[:4]) for q in quarters}:
        for p in report_deadlines(year, report_deadline_days):
            deadlines[p.key] = p.deadline
    return kpi.Facts(
        period=period,
        today=today,
        departments=await department_names(db),
        tasks=tasks,
        results=tuple(results),
        trainings=tuple(trainings),
        reports=frozenset((r["period"], r["department_code"]) for r in submitted),
        reports_due=kpi.reports_due(period, deadlines, today),
    )
