"""The task's stage follows its results (drawn → inspecting → publishing → done); the
coordination group is told when it is done."""

from __future__ import annotations

from bot import reminders as engine
from bot.domain import results as rules
from bot.domain.tasks import TaskState
from bot.features.results.board import STAGES, board
from bot.services import Services
from bot.store import audit, outbox
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task


async def advance(conn: Conn, svc: Services, task: Task, actor: int) -> TaskState:
    """Move the task along drawn → inspecting → publishing → done as its results say; tell the
    group when it is done."""
    b = await board(conn, task)
    target = TaskState(rules.progress_stage(b.pairs, b.states))
    if task.state not in STAGES:
        return task.state
    current = task.state
    while STAGES.index(current) < STAGES.index(target):
        nxt = STAGES[STAGES.index(current) + 1]
        if not await task_store.move(conn, task.id, current, nxt):
            break
        current = nxt
    if current is not task.state:
        await engine.task_changed(conn, svc, task.id)  # e.g. done: no more result deadlines
        await audit.record(
            conn,
            actor=actor,
            action="results.stage",
            entity="task",
            entity_id=task.id,
            detail={"from": task.state.value, "to": current.value},
        )
    if current is TaskState.DONE and task.state is not TaskState.DONE:
        group = await task_store.coordination_chat(conn)
        if group is not None:
            await outbox.enqueue(
                conn,
                group,
                svc.renderer.message(
                    "results/completed.j2",
                    task=task,
                    objects=len(b.seqs),
                    names=b.names,
                    departments=sorted({d for _, d in b.pairs}),
                ),
                dedup_key=f"results:done:{task.id}",
            )
    return current
