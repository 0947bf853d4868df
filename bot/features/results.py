"""Inspection results (谁检查、谁录入、谁公开): entry, review, completion, export, follow-up,
on-site check-in (扫码入企), the enterprise's verification link, evidence and guidance.

    /r                                   guided: task → enterprise → categories → method → confirm
    /r <task> <no|credit code> <codes> [method] [note…]     one line, e.g. /r 12 3 1
    /results <task>                      what is entered, reviewed, missing and from whom
    /review <task>                       the liaison approves (已公示) or returns (审核退回)
    /followup [<task> <no> 整改 <date>|移送|抄告 <dept>|完结 [date] [note]]
    /export <task> [csv]                 the platform's result sheet (.xlsx or .csv) + 公示 text
    /qr <task> <no>                      the enterprise's verification link and QR code (PNG)
    /start v_<token>                     what the enterprise sees: is this inspection genuine?

Callback data: `rg:<nonce>:…` guided entry, `rv:p|r:<result>` / `rv:a:<task>` review,
`rs:g:<result>` guidance, `rc:<task>:<no>` check-in (on the inspector's task notice).
Typed input (a note, guidance, a return reason) are prompts of bot.conversation (kinds
results.note, results.guidance, results.return). A photo or document sent in reply to an
entry's confirmation is attached to the entry as evidence (group -5 too). Messages sent on the
bot's own initiative (returned entries, 抄告, completion, entries awaiting review) go through the
outbox. An open 责令限期整改 is a reminder series (`followup:<task>`): the department's liaisons
and the person who entered it are reminded `[results] followup_days_before` (3, 1) working days
before its due date at `followup_time` (09:00), and told, with the administrators, on the first
working day after it while it is still 未完结.
"""

from __future__ import annotations

import csv
import io
import logging
import secrets
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import qrcode
from openpyxl import Workbook
from qrcode.image.pure import PyPNGImage
from telegram import Document, PhotoSize, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot import clock, conversation, workcal
from bot import reminders as engine
from bot.domain import reminders as reminder_rules
from bot.domain import results as rules
from bot.domain.results import Measure, Method, ResultState
from bot.domain.roles import Identity, Role
from bot.domain.tasks import QuietHours, TaskState
from bot.features.common import Context, button, command, edit, identify, reply
from bot.features.tasks import work_calendar
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import draw as draw_store
from bot.store import reminders as reminder_store
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Task

log = logging.getLogger(__name__)

ENTRY_STATES = (TaskState.DRAWN, TaskState.INSPECTING, TaskState.PUBLISHING)
STAGES = (TaskState.DRAWN, TaskState.INSPECTING, TaskState.PUBLISHING, TaskState.DONE)
MAX_OBJECT_BUTTONS = 30
MAX_TEXT_INPUT = 500


def _today(svc: Services) -> date:
    return clock.now().astimezone(svc.settings.tz).date()


def _local(svc: Services, moment: Any) -> str:
    return str(moment.astimezone(svc.settings.tz).strftime("%Y-%m-%d %H:%M"))


# -- reading a task's objects, departments and results ---------------------------------------


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


def _concerned(identity: Identity, b: Board) -> bool:
    return (
        identity.is_admin
        or bool(set(identity.liaison_departments) & set(b.task.departments))
        or any(a.inspector_id == identity.inspector_id for a in b.assignments)
    )


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


# -- entry ---------------------------------------------------------------------------------------


@dataclass
class Draft:
    task_id: int
    seq: int
    codes: list[int]
    method: Method
    note: str


async def _save(
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
                    checked_on=checked_on or _today(svc),
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
                view = await _entry_view(conn, svc, task, b, saved, edited=not new)
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


async def _entry_view(
    conn: Conn, svc: Services, task: Task, b: Board, result: store.Result, *, edited: bool = False
) -> dict[str, Any]:
    cats = {c.code: c for c in await store.categories(conn)}
    methods = {m.code: m.label for m in await store.methods(conn)}
    followup_codes = [c.code for c in cats.values() if c.needs_followup]
    return dict(
        task=task,
        result=result,
        enterprise=b.name_of(result.seq),
        credit_code=b.code_of(result.seq),
        dept=b.names.get(result.department_code, result.department_code),
        labels=[cats[c].label if c in cats else str(c) for c in result.categories],
        method=methods.get(result.method.value, result.method.value),
        state=rules.STATE_LABELS[result.state],
        needs_measure=rules.needs_followup(result.categories, followup_codes)
        and result.followup is None,
        measure=rules.MEASURE_LABELS.get(result.followup) if result.followup else None,
        edited=edited,
    )


@command("r")
async def r_command(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if not args:
        await _guided_start(update, context, identity)
        return
    svc = services(context)
    parsed = rules.parse_line(args)
    async with svc.db.transaction() as conn:
        known = {c.code: c.label for c in await store.categories(conn)}
    if isinstance(parsed, rules.LineError):
        await reply(
            update,
            context,
            "results/problem.j2",
            problem=f"line_{parsed.problem.value}",
            given=parsed.given,
            labels=known,
        )
        return
    seq = parsed.obj.seq
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, parsed.task_id)
        if task is not None and parsed.obj.credit_code is not None:
            b = await board(conn, task)
            seq = b.seq_of(parsed.obj.credit_code)
    if task is None:
        await reply(
            update, context, "results/problem.j2", problem="no_task", given=parsed.task_id,
            labels=known,
        )  # fmt: skip
        return
    if seq is None:
        await reply(
            update,
            context,
            "results/problem.j2",
            problem="no_object",
            given=parsed.obj.credit_code,
            task=task,
            labels=known,
        )
        return
    draft = Draft(task.id, seq, list(parsed.codes), parsed.method or Method.ONSITE, parsed.note)
    await _save(update, context, identity, draft, edit_query=False)


# -- guided entry ------------------------------------------------------------------------------


async def _open_tasks_for(conn: Conn, identity: Identity) -> list[Task]:
    rows = await conn.execute_fetchall(
        "SELECT id FROM tasks WHERE state IN ('drawn', 'inspecting', 'publishing') ORDER BY id"
    )
    found: list[Task] = []
    for (task_id,) in rows:
        task = await task_store.load(conn, task_id)
        if task is None:
            continue
        b = await board(conn, task)
        if b.my_seqs(identity):
            found.append(task)
    return found


async def _guided_start(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    nonce = secrets.token_hex(2)
    async with svc.db.transaction() as conn:
        found = await _open_tasks_for(conn, identity)
        if len(found) == 1:
            view = await _object_step(conn, identity, found[0], nonce)
            await store.set_flow(conn, identity.tg_user_id, "pick", {"n": nonce, "t": found[0].id})
        elif found:
            view = {"step": "task", "tasks": found, "n": nonce}
            await store.set_flow(conn, identity.tg_user_id, "pick", {"n": nonce})
    if not found:
        await reply(update, context, "results/guided.j2", step="none", n=nonce)
        return
    await reply(update, context, "results/guided.j2", **view)


async def _object_step(conn: Conn, identity: Identity, task: Task, nonce: str) -> dict[str, Any]:
    b = await board(conn, task)
    rows = []
    for seq in b.my_seqs(identity)[:MAX_OBJECT_BUTTONS]:
        dept = b.department_for(identity, seq)
        result = b.results.get((seq, dept)) if dept else None
        rows.append(
            {
                "seq": seq,
                "name": b.name_of(seq),
                "state": rules.STATE_LABELS[result.state if result else None],
            }
        )
    return {"step": "object", "task": task, "objects": rows, "n": nonce}


async def _categories_step(conn: Conn, data: dict[str, Any]) -> dict[str, Any]:
    cats = await store.categories(conn)
    return {"step": "categories", "categories": cats, "chosen": data.get("c", []), "n": data["n"]}


async def _confirm_view(conn: Conn, data: dict[str, Any]) -> dict[str, Any]:
    task = await task_store.load(conn, int(data["t"]))
    assert task is not None
    b = await board(conn, task)
    cats = {c.code: c.label for c in await store.categories(conn)}
    methods = {m.code: m.label for m in await store.methods(conn)}
    return {
        "step": "confirm",
        "task": task,
        "seq": data["o"],
        "enterprise": b.name_of(int(data["o"])),
        "labels": [cats.get(c, str(c)) for c in data.get("c", [])],
        "method": methods.get(data.get("m", ""), ""),
        "note": data.get("note", ""),
        "n": data["n"],
    }


@button(Role.INSPECTOR, Role.LIAISON)
async def guided_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    parts = query.data.split(":")
    nonce, action, value = parts[1], parts[2] if len(parts) > 2 else "", parts[3:]
    view: dict[str, Any] | None = None
    draft: Draft | None = None
    async with svc.db.transaction() as conn:
        current = await store.flow(conn, identity.tg_user_id)
        if current is None or current[1].get("n") != nonce:
            view = None
        else:
            step, data = current
            if action == "t" and value and value[0].isdigit():
                # Only a task this person may enter results for (a crafted button gets nothing).
                task = next(
                    (t for t in await _open_tasks_for(conn, identity) if t.id == int(value[0])),
                    None,
                )
                if task is not None:
                    data["t"] = task.id
                    view = await _object_step(conn, identity, task, nonce)
            elif action == "o" and value and value[0].isdigit() and "t" in data:
                task = await task_store.load(conn, int(data["t"]))
                if task is not None and int(value[0]) in (await board(conn, task)).my_seqs(
                    identity
                ):
                    data["o"] = int(value[0])
                    view = await _categories_step(conn, data)
            elif action == "c" and value and value[0].isdigit() and "o" in data:
                data["c"] = rules.toggle(data.get("c", []), int(value[0]))
                view = await _categories_step(conn, data)
            elif action == "none" and "o" in data:  # 未发现问题 in one tap
                data["c"] = [rules.NO_PROBLEM]
                view = {"step": "method", "methods": await store.methods(conn), "n": nonce}
            elif action == "cd" and data.get("c"):
                view = {"step": "method", "methods": await store.methods(conn), "n": nonce}
            elif action == "m" and value and data.get("c"):
                offered = {m.code for m in await store.methods(conn)}
                if value[0] in offered and value[0] in {m.value for m in Method}:
                    data["m"] = value[0]
                    view = await _confirm_view(conn, data)
            elif action == "note" and "m" in data:
                view = {"step": "ask_note", "n": nonce}
            elif action == "ok" and "m" in data:
                draft = Draft(
                    int(data["t"]),
                    int(data["o"]),
                    list(data["c"]),
                    Method(data["m"]),
                    str(data.get("note", "")),
                )
                await store.drop_flow(conn, identity.tg_user_id)
            elif action == "x":
                await store.drop_flow(conn, identity.tg_user_id)
                view = {"step": "cancelled", "n": nonce}
            if view is not None and action != "x":
                await store.set_flow(conn, identity.tg_user_id, step, data)
    await query.answer()
    if draft is not None:
        await _save(update, context, identity, draft, edit_query=True)
        return
    if view is None:
        await edit(update, context, "results/guided.j2", step="expired", n=nonce)
        return
    if view["step"] == "ask_note":
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "results.note",
            {"n": nonce},
            lambda: edit(update, context, "results/guided.j2", **view),
        )
        return
    async with svc.db.transaction() as conn:
        await conversation.close(conn, identity.tg_user_id, "results.note")
    await edit(update, context, "results/guided.j2", **view)


# -- typed input: a note, guidance, a return reason (prompts of bot.conversation) ------------------


async def take_text(update: Update, context: Context, prompt: Prompt) -> bool:
    message = update.effective_message
    if message is None or not message.text:
        return False
    svc = services(context)
    text = message.text.strip()
    if len(text) > MAX_TEXT_INPUT:
        await reply(update, context, "results/input_problem.j2", limit=MAX_TEXT_INPUT)
        await conversation.again(context, prompt)
        return True
    identity = await identify(update, context)
    if prompt.kind == "results.note":
        async with svc.db.transaction() as conn:
            current = await store.flow(conn, prompt.tg_user_id)
            if current is None or current[1].get("n") != prompt.target.get("n"):
                view: dict[str, Any] = {"step": "expired", "n": prompt.target.get("n", "")}
            else:
                data = {**current[1], "note": text}
                await store.set_flow(conn, prompt.tg_user_id, "pick", data)
                view = await _confirm_view(conn, data)
        await reply(update, context, "results/guided.j2", **view)
    elif prompt.kind == "results.guidance":
        await _guidance(update, context, identity, int(prompt.target["r"]), text)
    else:
        await _review_one(update, context, identity, int(prompt.target["r"]), False, reason=text)
    return True


async def _abandon(svc: Services, user: int) -> bool:
    """/cancel drops a guided entry in progress."""
    async with svc.db.transaction() as conn:
        found = await store.flow(conn, user)
        await store.drop_flow(conn, user)
    return found is not None


async def _may_touch(conn: Conn, identity: Identity, result: store.Result) -> bool:
    """The person who may edit an entry: its department's liaison or an inspector of that
    department assigned to the object."""
    if result.department_code in identity.liaison_departments:
        return True
    team = await draw_store.assignments(conn, result.task_id, seq=result.seq)
    return any(
        a.inspector_id == identity.inspector_id and a.department_code == result.department_code
        for a in team
    )


@button(Role.INSPECTOR, Role.LIAISON)
async def guidance_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    result_id = int(query.data.split(":")[2])
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        ok = result is not None and await _may_touch(conn, identity, result)
    await query.answer()
    if not ok:
        await reply(update, context, "results/ask.j2", kind="forbidden")
        return
    await conversation.ask(
        context,
        identity.tg_user_id,
        identity.tg_user_id,
        "results.guidance",
        {"r": result_id},
        lambda: reply(update, context, "results/ask.j2", kind="guidance"),
    )


async def _guidance(
    update: Update, context: Context, identity: Identity, result_id: int, text: str
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        if result is None or not await _may_touch(conn, identity, result):
            ok = False
        else:
            await store.update_fields(conn, result, identity.tg_user_id, "guidance", guidance=text)
            ok = True
    await reply(update, context, "results/ask.j2", kind="guidance_saved" if ok else "forbidden")


# -- evidence: a photo or document in reply to a confirmation (group -5) ------------------------


async def capture_evidence(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None or message.reply_to_message is None:
        return
    file: PhotoSize | Document
    if message.photo:
        kind, file = "photo", message.photo[-1]
        file_name = None
    elif message.document is not None:
        kind, file = "document", message.document
        file_name = message.document.file_name
    else:
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        result_id = await store.result_of_message(
            conn, chat.id, message.reply_to_message.message_id
        )
    if result_id is None:
        return
    identity = await identify(update, context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        count = 0
        if result is not None and await _may_touch(conn, identity, result):
            count = await store.add_evidence(
                conn,
                result_id,
                kind,
                file.file_id,
                file.file_unique_id,
                file_name,
                identity.tg_user_id,
            )
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="results.evidence",
                entity="result",
                entity_id=result_id,
                detail={"kind": kind},
            )
    await reply(update, context, "results/ask.j2", kind="evidence" if count else "forbidden",
                count=count)  # fmt: skip
    raise ApplicationHandlerStop


# -- /results: progress, what is missing and from whom --------------------------------------------


async def _task_arg(
    update: Update, context: Context, identity: Identity
) -> tuple[Task, Board] | None:
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "results/problem.j2", problem="task_usage", labels={})
        return None
    async with services(context).db.transaction() as conn:
        task = await task_store.load(conn, int(given))
        b = await board(conn, task) if task is not None else None
    if task is None or b is None or not _concerned(identity, b):
        await reply(update, context, "results/problem.j2", problem="no_task", given=given,
                    labels={})  # fmt: skip
        return None
    if not b.assignments:
        await reply(update, context, "results/problem.j2", problem="not_drawn", task=task,
                    labels={})  # fmt: skip
        return None
    return task, b


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
    deadline = rules.result_deadline(b.task.window_end, work_calendar(svc), working_days)
    return Progress(
        total=len(b.pairs),
        published=sum(1 for s in b.states.values() if s is ResultState.PUBLISHED),
        missing=dict(sorted(by_dept.items())),
        deadline=deadline,
        working_days=working_days,
        overdue=_today(svc) > deadline,
    )


async def task_progress(conn: Conn, svc: Services, task: Task) -> Progress | None:
    """What `/task` summarises once the task is drawn (None before the draw)."""
    b = await board(conn, task)
    return progress(svc, b) if b.assignments else None


@command("results")
async def results_command(update: Update, context: Context, identity: Identity) -> None:
    found = await _task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    p = progress(services(context), b)
    await reply(
        update,
        context,
        "results/overview.j2",
        task=task,
        names=b.names,
        total=p.total,
        published=p.published,
        missing=p.missing,
        deadline=p.deadline,
        working_days=p.working_days,
        overdue=p.overdue,
    )


# -- /review ------------------------------------------------------------------------------------


@command("review")
async def review_command(update: Update, context: Context, identity: Identity) -> None:
    found = await _task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    svc = services(context)
    mine = [
        r
        for r in b.results.values()
        if r.department_code in identity.liaison_departments and r.state is ResultState.PENDING
    ]
    async with svc.db.transaction() as conn:
        views = [await _entry_view(conn, svc, task, b, r) for r in mine]
    await reply(update, context, "results/review.j2", task=task, entries=views)


@button(Role.LIAISON)
async def review_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    _, action, ident = query.data.split(":")
    if action == "a":
        await _review_all(update, context, identity, int(ident))
        return
    if action == "r":
        svc = services(context)
        async with svc.db.transaction() as conn:
            result = await store.by_id(conn, int(ident))
            ok = result is not None and result.department_code in identity.liaison_departments
        await query.answer()
        if not ok:
            await reply(update, context, "results/ask.j2", kind="forbidden")
            return
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "results.return",
            {"r": int(ident)},
            lambda: reply(update, context, "results/ask.j2", kind="return"),
        )
        return
    await query.answer()
    await _review_one(update, context, identity, int(ident), True)


async def _publish(
    conn: Conn, svc: Services, identity: Identity, result: store.Result
) -> tuple[str, store.Result | None]:
    """Approve one entry; 'needs_measure' if 发现问题待后续处理 has no follow-up measure yet."""
    cats = await store.categories(conn)
    if (
        rules.needs_followup(result.categories, [c.code for c in cats if c.needs_followup])
        and result.followup is None
    ):
        return "needs_measure", result
    saved = await store.review(conn, result, ResultState.PUBLISHED, identity.tg_user_id)
    if saved is None:
        return "changed", result
    await audit.record(
        conn,
        actor=identity.tg_user_id,
        action="results.publish",
        entity="result",
        entity_id=result.id,
    )
    return "published", saved


async def _review_one(
    update: Update,
    context: Context,
    identity: Identity,
    result_id: int,
    approve: bool,
    *,
    reason: str = "",
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        outcome = "forbidden"
        task = await task_store.load(conn, result.task_id) if result else None
        if result is not None and task is not None:
            if result.department_code not in identity.liaison_departments:
                outcome = "forbidden"
            elif result.state is not ResultState.PENDING:
                outcome = "not_pending"
            elif approve:
                outcome, _ = await _publish(conn, svc, identity, result)
                if outcome == "published":
                    await advance(conn, svc, task, identity.tg_user_id)
            else:
                saved = await store.review(
                    conn, result, ResultState.RETURNED, identity.tg_user_id, reason
                )
                outcome = "changed" if saved is None else "returned"
                if saved is not None:
                    b = await board(conn, task)
                    view = await _entry_view(conn, svc, task, b, saved)
                    await outbox.enqueue(
                        conn,
                        result.entered_by,
                        svc.renderer.message("results/returned.j2", reason=reason, **view),
                        dedup_key=f"results:returned:{result.id}:{saved.version}",
                    )
                    await audit.record(
                        conn,
                        actor=identity.tg_user_id,
                        action="results.return",
                        entity="result",
                        entity_id=result.id,
                        detail={"reason": reason},
                    )
    await reply(update, context, "results/reviewed.j2", outcome=outcome, result=result)


async def _review_all(update: Update, context: Context, identity: Identity, task_id: int) -> None:
    query = update.callback_query
    assert query is not None
    svc = services(context)
    published = held = 0
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        if task is not None:
            for result in await store.of_task(conn, task_id):
                if (
                    result.department_code in identity.liaison_departments
                    and result.state is ResultState.PENDING
                ):
                    outcome, _ = await _publish(conn, svc, identity, result)
                    published += outcome == "published"
                    held += outcome == "needs_measure"
            if published:
                await advance(conn, svc, task, identity.tg_user_id)
    await query.answer()
    await reply(update, context, "results/reviewed.j2", outcome="batch", published=published,
                held=held, result=None)  # fmt: skip


# -- /followup ----------------------------------------------------------------------------------


@command("followup")
async def followup_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    if not args:
        departments = list(identity.liaison_departments)
        if identity.inspector_department:
            departments.append(identity.inspector_department)
        async with svc.db.transaction() as conn:
            found = await store.open_followups(conn, sorted(set(departments)))
            names = await task_store.department_names(conn)
        await reply(update, context, "results/followup.j2", outcome="list", open=found,
                    names=names, measures=rules.MEASURE_LABELS)  # fmt: skip
        return
    parsed = rules.parse_followup(args)
    if isinstance(parsed, rules.FollowupProblem):
        await reply(update, context, "results/followup.j2", outcome=parsed.value)
        return
    outcome = "no_result"
    view: dict[str, Any] = {}
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, parsed.task_id)
        b = await board(conn, task) if task is not None else None
        seq = parsed.obj.seq
        if b is not None and parsed.obj.credit_code:
            seq = b.seq_of(parsed.obj.credit_code)
        dept = b.department_for(identity, seq) if b is not None and seq is not None else None
        result = b.results.get((seq, dept)) if b is not None and seq and dept else None
        if task is None or b is None or result is None:
            outcome = "no_result"
        elif parsed.measure is None:
            if result.followup is None or result.followup is Measure.NONE:
                outcome = "nothing_open"
            else:
                closed = parsed.due or _today(svc)
                result = await store.update_fields(
                    conn,
                    result,
                    identity.tg_user_id,
                    "followup_closed",
                    followup_state="closed",
                    followup_closed_on=closed.isoformat(),
                    followup_note=parsed.note,
                )
                outcome = "closed"
        else:
            target = None
            if parsed.measure is Measure.NOTIFY:
                assert parsed.department is not None
                wanted = parsed.department
                target = next(
                    (c for c, n in b.names.items() if wanted in (c, n) or wanted in n), None
                )
            if parsed.measure is Measure.NOTIFY and target is None:
                outcome = "unknown_department"
                view["given"] = parsed.department
            else:
                result = await store.update_fields(
                    conn,
                    result,
                    identity.tg_user_id,
                    "followup",
                    followup=parsed.measure.value,
                    followup_due=parsed.due.isoformat() if parsed.due else None,
                    followup_department=target,
                    followup_state="open",
                    followup_closed_on=None,
                    followup_note=parsed.note,
                )
                outcome = "set"
                if target is not None:
                    entry = await _entry_view(conn, svc, task, b, result)
                    liaisons = (await task_store.liaisons(conn, [target])).get(target, [])
                    for uid in liaisons:
                        await outbox.enqueue(
                            conn,
                            uid,
                            svc.renderer.message(
                                "results/notify_department.j2",
                                target=b.names.get(target, target),
                                note=parsed.note,
                                **entry,
                            ),
                            dedup_key=f"results:notify:{result.id}:{target}:{uid}",
                        )
        if outcome in ("set", "closed") and result is not None:
            await engine.reconcile(conn, svc, f"followup:{result.task_id}")
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action=f"results.followup.{outcome}",
                entity="result",
                entity_id=result.id,
            )
            view.update(result=result, names=b.names if b else {})
    await reply(update, context, "results/followup.j2", outcome=outcome,
                measures=rules.MEASURE_LABELS, **view)  # fmt: skip


# -- follow-up reminders (责令限期整改 with a due date) -----------------------------------------


async def _followup_series(conn: Conn, svc: Services, now: datetime) -> list[str]:
    cursor = await conn.execute(
        "SELECT DISTINCT r.task_id FROM results r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.followup = ? AND r.followup_state = 'open' AND r.followup_due IS NOT NULL"
        " AND t.state != 'cancelled' ORDER BY r.task_id",
        (Measure.RECTIFY.value,),
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    return [f"followup:{r[0]}" for r in rows]


async def _followup_of_task(conn: Conn, task_id: int) -> list[str]:
    return [f"followup:{task_id}"]


async def desired_followups(
    conn: Conn, svc: Services, series: str, now: datetime
) -> list[reminder_rules.Planned]:
    """The plan of `followup:<task>`: for each open 责令限期整改 with a due date, the
    department's liaisons and the person who entered it (while reachable) before the due date,
    and with the administrators after it; nothing once closed, changed or the task cancelled."""
    t = svc.settings.tunables.reminders
    task_id = int(series.partition(":")[2])
    cursor = await conn.execute(
        "SELECT r.id, r.department_code, r.followup_due, r.entered_by"
        " FROM results r JOIN tasks t ON t.id = r.task_id"
        " WHERE r.task_id = ? AND r.followup = ? AND r.followup_state = 'open'"
        " AND r.followup_due IS NOT NULL AND t.state != 'cancelled' ORDER BY r.id",
        (task_id, Measure.RECTIFY.value),
    )
    rows = list(await cursor.fetchall())
    await cursor.close()
    if not rows:
        return []
    cal = workcal.calendar(svc)
    admins = await workcal.admins(conn, svc.settings.admins)
    found: list[reminder_rules.Planned] = []
    for result_id, dept, due_text, entered_by in rows:
        due = date.fromisoformat(due_text)
        await workcal.note_gaps(conn, svc, [due])
        people = set((await task_store.liaisons(conn, [dept])).get(dept, []))
        cursor = await conn.execute(
            "SELECT 1 FROM people WHERE tg_user_id = ? AND reachable = 1", (entered_by,)
        )
        if await cursor.fetchone() is not None:
            people.add(int(entered_by))
        await cursor.close()
        found += reminder_rules.followup_plan(
            result_id,
            due,
            sorted(people),
            admins,
            days_before=t.followup_days_before,
            at=t.followup_time,
            calendar=cal,
            tz=svc.settings.tz,
        )
    return found


async def compose_followup(
    conn: Conn, svc: Services, reminder: reminder_store.Reminder, now: datetime
) -> engine.Composed | None:
    """None once the follow-up is closed, changed (another measure or due date) or gone."""
    result = await store.by_id(conn, int(reminder.payload["result"]))
    if (
        result is None
        or result.followup is not Measure.RECTIFY
        or result.followup_state != "open"
        or result.followup_due is None
        or result.followup_due.isoformat() != reminder.payload["due"]
    ):
        return None
    task = await task_store.load(conn, result.task_id)
    if task is None or task.state is TaskState.CANCELLED:
        return None
    b = await board(conn, task)
    rendered = svc.renderer.message(
        "results/followup_reminder.j2",
        kind="before" if reminder.kind == "followup.before" else "overdue",
        task=task,
        seq=result.seq,
        enterprise=b.name_of(result.seq),
        dept=b.names.get(result.department_code, result.department_code),
        due=result.followup_due.isoformat(),
        days=reminder_rules.workdays_left(now.date(), result.followup_due, workcal.calendar(svc)),
        note=result.followup_note,
    )
    return engine.composed(rendered)


# -- /export ---------------------------------------------------------------------------------------


async def export_rows(conn: Conn, task: Task) -> list[list[Any]]:
    """The published results of a task, one row per object and department, EXPORT_COLUMNS order,
    every text cell neutralised against formula injection."""
    b = await board(conn, task)
    cats = {c.code: c.label for c in await store.categories(conn)}
    methods = {m.code: m.label for m in await store.methods(conn)}
    items = draw_store.task_items(task)
    item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
    title = f"{task.industry}联合检查（#{task.id}）"
    rows: list[list[Any]] = []
    for (seq, dept), r in sorted(b.results.items()):
        if r.state is not ResultState.PUBLISHED:
            continue
        measure = ""
        if r.followup is not None:
            measure = rules.MEASURE_LABELS[r.followup]
            if r.followup_due:
                measure += f"（{r.followup_due.isoformat()} 前）"
            if r.followup_department:
                measure += f"：{b.names.get(r.followup_department, r.followup_department)}"
        state = {"open": "未完结", "closed": "已完结"}.get(r.followup_state or "", "")
        notes = [n for n in (r.note, f"行政指导：{r.guidance}" if r.guidance else "") if n]
        rows.append(
            [
                rules.neutralise(v)
                for v in (
                    len(rows) + 1,
                    title,
                    b.code_of(seq) or "",
                    b.name_of(seq),
                    b.names.get(dept, dept),
                    "、".join(item_names.get(c, c) for c in items.get(dept, [])),
                    methods.get(r.method.value, r.method.value),
                    "；".join(cats.get(c, str(c)) for c in r.categories),
                    r.checked_on.isoformat(),
                    measure or rules.MEASURE_LABELS[Measure.NONE],
                    state,
                    "；".join(notes),
                )
            ]
        )
    return rows


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "检查结果"
    sheet.append(list(rules.EXPORT_COLUMNS))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(rules.EXPORT_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")  # Excel on Chinese Windows reads the BOM


@command("export")
async def export_command(update: Update, context: Context, identity: Identity) -> None:
    found = await _task_arg(update, context, identity)
    if found is None:
        return
    task, _ = found
    svc = services(context)
    as_csv = len(context.args or []) > 1 and (context.args or [])[1].lower() == "csv"
    async with svc.db.transaction() as conn:
        rows = await export_rows(conn, task)
    if not rows:
        await reply(update, context, "results/problem.j2", problem="nothing_published",
                    task=task, labels={})  # fmt: skip
        return
    chat = update.effective_chat
    assert chat is not None
    data = csv_bytes(rows) if as_csv else xlsx_bytes(rows)
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(data),
        filename=f"检查结果_任务{task.id}.{'csv' if as_csv else 'xlsx'}",
        caption=svc.renderer.text("results/export_caption.j2", task=task, count=len(rows)),
    )
    await reply(update, context, "results/publicity.j2", task=task, rows=rows)


# -- 扫码入企: check-in, verification link and QR code ---------------------------------------------


def verify_link(svc: Services, token: str) -> str:
    return f"https://t.me/{svc.bot_username}?start=v_{token}"


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(link, image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()


@button(Role.INSPECTOR)
async def checkin_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    _, task_text, seq_text = query.data.split(":")
    task_id, seq = int(task_text), int(seq_text)
    svc = services(context)
    outcome = "not_yours"
    link = ""
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        team = await draw_store.assignments(conn, task_id, seq=seq)
        if task is None or task.state not in ENTRY_STATES:
            outcome = "closed"
        elif any(a.inspector_id == identity.inspector_id for a in team):
            assert identity.inspector_id is not None
            new = await store.check_in(conn, task_id, seq, identity.inspector_id)
            outcome = "checked_in" if new else "already"
            link = verify_link(svc, await store.verify_token(conn, task_id, seq))
            if new:
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="results.checkin",
                    entity="task",
                    entity_id=task_id,
                    detail={"seq": seq},
                )
    text = svc.renderer.text("results/checkin_alert.j2", outcome=outcome, seq=seq)
    await query.answer(text, show_alert=True)
    if outcome == "checked_in":
        await reply(
            update,
            context,
            "results/checkin.j2",
            task_id=task_id,
            seq=seq,
            at=_local(svc, clock.now()),
            link=link,
        )


@command("qr")
async def qr_command(update: Update, context: Context, identity: Identity) -> None:
    found = await _task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    args = context.args or []
    seq = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
    if seq is None or seq not in b.seqs:
        await reply(update, context, "results/problem.j2", problem="no_object",
                    given=args[1] if len(args) > 1 else "", task=task, labels={})  # fmt: skip
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        link = verify_link(svc, await store.verify_token(conn, task.id, seq))
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_photo(
        chat.id,
        photo=qr_png(link),
        caption=svc.renderer.text(
            "results/qr_caption.j2", task=task, seq=seq, name=b.name_of(seq), link=link
        ),
    )


async def verify_start(update: Update, context: Context, token: str) -> None:
    """/start v_<token>: what anyone, the enterprise included, sees. No phone numbers or other
    personal data; once the task is done or cancelled it no longer confirms."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        found = await store.by_token(conn, token)
        task = await task_store.load(conn, found[0]) if found else None
        view: dict[str, Any] = {"valid": False, "closed": False}
        if found is not None and task is not None:
            seq = found[1]
            if task.state in ENTRY_STATES:
                b = await board(conn, task)
                checks = await store.checkins(conn, task.id, seq)
                view = {
                    "valid": True,
                    "task": task,
                    "seq": seq,
                    "name": b.name_of(seq),
                    "names": b.names,
                    "departments": b.departments(seq),
                    "team": [
                        {"name": a.name, "cert": a.certificate_no, "dept": a.department_code}
                        for a in b.inspectors(seq)
                    ],
                    "checkins": [_local(svc, c.at) for c in checks],
                }
            else:
                view = {"valid": False, "closed": True, "task": task}
        await audit.record(
            conn,
            actor=update.effective_user.id if update.effective_user else None,
            action="results.verify_link",
            entity="task",
            entity_id=task.id if task else None,
            outcome="ok" if view["valid"] else "refused",
        )
    await reply(update, context, "results/verify.j2", **view)


def register(app: Application) -> None:
    # Group -5: evidence sent in reply to an entry's confirmation; everything else falls through.
    for kind in ("results.note", "results.guidance", "results.return"):
        conversation.register(kind, take_text)
    conversation.register_abandon(_abandon)
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.REPLY & (filters.PHOTO | filters.Document.ALL),
            capture_evidence,
        ),
        group=-5,
    )
    for name, handler in (
        ("r", r_command),
        ("results", results_command),
        ("review", review_command),
        ("followup", followup_command),
        ("export", export_command),
        ("qr", qr_command),
    ):
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(guided_button, pattern=r"^rg:"))
    app.add_handler(CallbackQueryHandler(review_button, pattern=r"^rv:"))
    app.add_handler(CallbackQueryHandler(guidance_button, pattern=r"^rs:g:\d+$"))
    app.add_handler(CallbackQueryHandler(checkin_button, pattern=r"^rc:\d+:\d+$"))
    engine.register_source(
        "followup",
        desired_followups,
        _followup_series,
        of_task=_followup_of_task,
        calendar=True,
    )
    engine.register_kind("followup.before", compose_followup)
    engine.register_kind("followup.overdue", compose_followup, expires_with_purpose=False)
