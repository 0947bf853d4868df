"""Saving an entry (one-line or guided /r): the checks, the save, and the liaisons told that
entries await their review (through the outbox, at most hourly)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram import Update

from bot import clock
from bot.domain import results as rules
from bot.domain.results import Method, ResultState
from bot.domain.roles import Identity
from bot.domain.tasks import QuietHours
from bot.features.common import Context, edit, reply
from bot.features.results.board import ENTRY_STATES, board, today
from bot.features.results.stage import advance
from bot.features.results.views import entry_view
from bot.replies import Queued
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task


@dataclass
class Draft:
    task_id: int
    seq: int
    codes: list[int]
    method: Method
    note: str


async def save(
    update: Update, context: Context, identity: Identity, draft: Draft, *, edit_query: bool
) -> None:
    """Check and save an entry; answer with the confirmation (new message or edited card)."""
    svc = services(context)
    problem: dict[str, Any] | None = None
    saved: store.Result | None = None
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, draft.task_id)
        cats = await store.categories(conn)
        known = {c.code: c.label for c in cats}
        if task is None:
            problem = {"problem": "no_task", "given": draft.task_id}
        else:
            b = await board(conn, task)
            dept = b.department_for(identity, draft.seq)
            current = b.results.get((draft.seq, dept)) if dept else None
            checked = [
                c
                for c in await store.checkins(conn, task.id, draft.seq)
                if c.department_code == dept
            ]
            category_problem = rules.check_categories(draft.codes, known)
            refusal = rules.entry_refusal(
                task_open=task.state in ENTRY_STATES,
                department=dept,
                current=current.state if current else None,
                method=draft.method,
                checked_in=bool(checked),
            )
            if draft.seq not in b.seqs:
                problem = {"problem": "no_object", "given": draft.seq, "task": task}
            elif refusal is not None:
                problem = {"problem": refusal.value, "task": task, "seq": draft.seq}
            elif category_problem is not None:
                problem = {
                    "problem": f"category_{category_problem[0].value}",
                    "bad": category_problem[1],
                }
            else:
                assert dept is not None
                checked_on = checked[0].at.astimezone(svc.settings.tz).date() if checked else None
                saved, new = await store.save_entry(
                    conn,
                    task_id=task.id,
                    seq=draft.seq,
                    department=dept,
                    codes=draft.codes,
                    method=draft.method,
                    checked_on=checked_on or today(svc),
                    note=draft.note,
                    actor=identity.tg_user_id,
                )
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="results.enter" if new else "results.edit",
                    entity="result",
                    entity_id=saved.id,
                    detail={"version": saved.version, "codes": draft.codes},
                )
                await advance(conn, svc, task, identity.tg_user_id)
                await _tell_reviewers(conn, svc, task, dept, identity.tg_user_id)
                view = await entry_view(conn, svc, task, b, saved, edited=not new)
        if problem is not None:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="results.enter",
                entity="task",
                entity_id=draft.task_id,
                outcome="refused",
                detail={"problem": problem["problem"]},
            )
    if problem is not None or saved is None:
        problem = problem or {"problem": "no_task", "given": draft.task_id}
        if edit_query:
            await edit(update, context, "results/problem.j2", labels=known, **problem)
        else:
            await reply(update, context, "results/problem.j2", labels=known, **problem)
        return
    chat = update.effective_chat
    assert chat is not None
    if edit_query:
        await edit(update, context, "results/saved.j2", **view)
        query = update.callback_query
        assert query is not None and query.message is not None
        message_id = query.message.message_id
    else:
        sent = await reply(update, context, "results/saved.j2", **view)
        if isinstance(sent, Queued):  # it had to wait: linked once the outbox sends it
            async with svc.db.transaction() as conn:
                await store.link_outbox(conn, sent.outbox_id, saved.id)
            return
        message_id = sent[-1].message_id
    async with svc.db.transaction() as conn:
        await store.link_message(conn, chat.id, message_id, saved.id)


async def _tell_reviewers(conn: Conn, svc: Services, task: Task, dept: str, actor: int) -> None:
    """Tell the department's liaisons (not the one who just entered) that entries await their
    review: at most one message per liaison, department and task per hour (Beijing time); in
    the quiet hours it waits for their end."""
    waiting = sum(
        1
        for r in await store.of_task(conn, task.id)
        if r.department_code == dept and r.state is ResultState.PENDING
    )
    if not waiting:
        return
    now = clock.now().astimezone(svc.settings.tz)
    hour = now.strftime("%Y%m%d%H")
    t = svc.settings.tunables.reminders
    quiet = QuietHours(t.quiet_start, t.quiet_end)
    not_before = quiet.adjust(now) if quiet.is_quiet(now) else None
    names = await task_store.department_names(conn)
    message = svc.renderer.message(
        "results/awaiting_review.j2", task=task, dept=names.get(dept, dept), count=waiting
    )
    for uid in (await task_store.liaisons(conn, [dept])).get(dept, []):
        if uid != actor:
            await outbox.enqueue(
                conn,
                uid,
                message,
                dedup_key=f"results:awaiting:{task.id}:{dept}:{hour}:{uid}",
                not_before=not_before,
            )
