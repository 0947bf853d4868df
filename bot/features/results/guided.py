"""/r: the one-line entry, or the guided steps (task → enterprise → categories → method →
confirm) on `rg:<nonce>:…` buttons, with an optional typed note (prompt results.note)."""

from __future__ import annotations

import secrets
from typing import Any

from telegram import Update

from bot import conversation
from bot.callbacks import Pressed
from bot.domain import results as rules
from bot.domain.results import Method
from bot.domain.roles import Identity, Role
from bot.features.common import (
    Context,
    command,
    edit,
    pressed,
    reply,
)
from bot.features.results.board import board
from bot.features.results.entry import Draft, save
from bot.features.results.views import typed
from bot.services import Services, services
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Task

MAX_OBJECT_BUTTONS = 30


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
    await save(update, context, identity, draft, edit_query=False)


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


async def confirm_view(conn: Conn, data: dict[str, Any]) -> dict[str, Any]:
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


@pressed("rg", Role.INSPECTOR, Role.LIAISON, parts=2, numbers=())
async def guided_button(
    update: Update, context: Context, identity: Identity, press: Pressed
) -> None:
    """`rg:<nonce>:<step>[:<value>]`: one step of the guided entry. A press of another (older)
    entry's buttons, or of a value this person was not offered, shows the entry as expired."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    nonce, action, value = press.text(0), press.text(1), list(press.parts[2:])
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
                    view = await confirm_view(conn, data)
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
        await save(update, context, identity, draft, edit_query=True)
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


@typed
async def take_note(
    update: Update, context: Context, identity: Identity, prompt: Prompt, text: str
) -> None:
    """The note typed after 添加备注 (prompt kind results.note)."""
    async with services(context).db.transaction() as conn:
        current = await store.flow(conn, prompt.tg_user_id)
        if current is None or current[1].get("n") != prompt.target.get("n"):
            view: dict[str, Any] = {"step": "expired", "n": prompt.target.get("n", "")}
        else:
            data = {**current[1], "note": text}
            await store.set_flow(conn, prompt.tg_user_id, "pick", data)
            view = await confirm_view(conn, data)
    await reply(update, context, "results/guided.j2", **view)


async def abandon(svc: Services, user: int) -> bool:
    """/cancel drops a guided entry in progress."""
    async with svc.db.transaction() as conn:
        found = await store.flow(conn, user)
        await store.drop_flow(conn, user)
    return found is not None
