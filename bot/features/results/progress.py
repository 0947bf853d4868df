"""A drawn task's progress: published / total, what is missing and from whom, the result
deadline. Read by /results and by /task (bot.features.tasks); imports no flow."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

from bot import workcal
from bot.domain import results as rules
from bot.domain.results import ResultState
from bot.features.results.board import Board, board, today
from bot.services import Services
from bot.store.tasks import Conn, Task


@dataclass(frozen=True)
class Progress:
    """A drawn task's results: published / total (object × department), what is missing per
    department (rows: seq, name, state label, assigned inspectors) and the result deadline."""

    total: int
    published: int
    missing: dict[str, list[dict[str, Any]]]
    deadline: date
    working_days: int
    overdue: bool


def progress(svc: Services, b: Board) -> Progress:
    by_dept: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in rules.missing(b.pairs, b.states):
        by_dept[m.department].append(
            {
                "seq": m.seq,
                "name": b.name_of(m.seq),
                "state": rules.STATE_LABELS[m.state],
                "who": [a.name for a in b.inspectors(m.seq, m.department)],
            }
        )
    working_days = svc.settings.tunables.reminders.result_working_days
    deadline = rules.result_deadline(b.task.window_end, workcal.calendar(svc), working_days)
    return Progress(
        total=len(b.pairs),
        published=sum(1 for s in b.states.values() if s is ResultState.PUBLISHED),
        missing=dict(sorted(by_dept.items())),
        deadline=deadline,
        working_days=working_days,
        overdue=today(svc) > deadline,
    )


async def task_progress(conn: Conn, svc: Services, task: Task) -> Progress | None:
    """What `/task` summarises once the task is drawn (None before the draw)."""
    b = await board(conn, task)
    return progress(svc, b) if b.assignments else None
