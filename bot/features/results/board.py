"""A drawn task's board (objects, who is assigned, results so far) and who may see or edit
what; the read model every results flow starts from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from bot import clock
from bot.domain import results as rules
from bot.domain.results import ResultState
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.services import Services
from bot.store import draw as draw_store
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task

ENTRY_STATES = (TaskState.DRAWN, TaskState.INSPECTING, TaskState.PUBLISHING)
STAGES = (TaskState.DRAWN, TaskState.INSPECTING, TaskState.PUBLISHING, TaskState.DONE)


def today(svc: Services) -> date:
    return clock.now().astimezone(svc.settings.tz).date()


def local(svc: Services, moment: Any) -> str:
    return str(moment.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M"))


@dataclass
class Board:
    """A drawn task's objects, who is assigned, and the results so far."""

    task: Task
    assignments: list[draw_store.Assignment]
    results: dict[tuple[int, str], store.Result]
    objects: dict[str, Any]
    names: dict[str, str]

    @property
    def seqs(self) -> list[int]:
        return sorted({a.seq for a in self.assignments})

    def code_of(self, seq: int) -> str | None:
        return next((a.credit_code for a in self.assignments if a.seq == seq), None)

    def seq_of(self, credit_code: str) -> int | None:
        return next((a.seq for a in self.assignments if a.credit_code == credit_code), None)

    def name_of(self, seq: int) -> str:
        code = self.code_of(seq) or ""
        row = self.objects.get(code)
        return str(row["name"]) if row else code

    def departments(self, seq: int) -> list[str]:
        return sorted({a.department_code for a in self.assignments if a.seq == seq})

    @property
    def pairs(self) -> list[tuple[int, str]]:
        return sorted({(a.seq, a.department_code) for a in self.assignments})

    @property
    def states(self) -> dict[tuple[int, str], ResultState]:
        return {k: r.state for k, r in self.results.items()}

    def inspectors(self, seq: int, dept: str | None = None) -> list[draw_store.Assignment]:
        return [
            a
            for a in self.assignments
            if a.seq == seq and (dept is None or a.department_code == dept)
        ]

    def my_seqs(self, identity: Identity) -> list[int]:
        if set(identity.liaison_departments) & {a.department_code for a in self.assignments}:
            return [
                s
                for s in self.seqs
                if set(self.departments(s)) & set(identity.liaison_departments)
                or any(a.inspector_id == identity.inspector_id for a in self.inspectors(s))
            ]
        return sorted({a.seq for a in self.assignments if a.inspector_id == identity.inspector_id})

    def department_for(self, identity: Identity, seq: int) -> str | None:
        team = self.inspectors(seq)
        return rules.entry_department(
            identity.inspector_department,
            [a.department_code for a in team],
            any(a.inspector_id == identity.inspector_id for a in team),
            identity.liaison_departments,
        )


async def board(conn: Conn, task: Task) -> Board:
    assignments = await draw_store.assignments(conn, task.id)
    results = {(r.seq, r.department_code): r for r in await store.of_task(conn, task.id)}
    objects = await draw_store.objects(conn, {a.credit_code for a in assignments})
    return Board(task, assignments, results, objects, await task_store.department_names(conn))


def concerned(identity: Identity, b: Board) -> bool:
    return (
        identity.is_admin
        or bool(set(identity.liaison_departments) & set(b.task.departments))
        or any(a.inspector_id == identity.inspector_id for a in b.assignments)
    )


async def may_touch(conn: Conn, identity: Identity, result: store.Result) -> bool:
    """The person who may edit an entry: its department's liaison or an inspector of that
    department assigned to the object."""
    if result.department_code in identity.liaison_departments:
        return True
    team = await draw_store.assignments(conn, result.task_id, seq=result.seq)
    return any(
        a.inspector_id == identity.inspector_id and a.department_code == result.department_code
        for a in team
    )
