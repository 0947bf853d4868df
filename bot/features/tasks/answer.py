"""Answering an invitation (参加 / 不参加): the tk: buttons, the join card (tf:: items,
inspector count), the typed count or reason, and storing the answer."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from telegram import Update
from telegram.constants import ChatType

from bot import clock, conversation
from bot import reminders as engine
from bot.callbacks import Pressed, parse
from bot.domain import tasks as rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import Answer
from bot.features.common import Context, pressed, reply, send, stale
from bot.features.tasks.callbacks import ref, resolve
from bot.features.tasks.cancel import ask_cancel_reason, cancel_task, confirm_cancel
from bot.features.tasks.decide import extend_task, proceed
from bot.features.tasks.flows import HELD, close_prompt, prompted_flow, send_private, show_flow
from bot.features.tasks.views import (
    MAX_INSPECTORS,
    MAX_TEXT,
    alert,
    answer_card,
    edit_in_place,
    is_lead,
    refresh,
    refuse_task,
)
from bot.services import services
from bot.store import audit
from bot.store import tasks as store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Flow, Task


@pressed("tk", parts=2)
async def task_button(update: Update, context: Context, identity: Identity, data: Pressed) -> None:
    """tk:<task>:join|decl[:<department>], ext:<n>:<version>, go, cx."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    task_id, action, rest = data.number(0), data.text(1), data.rest(2)  # a code may contain ":"
    # ext:<working days>:<deadline version>
    extension = parse(query.data, "tk", parts=4, numbers=(0, 2, 3)) if action == "ext" else None
    if action not in ("join", "decl", "ext", "go", "cx") or (action == "ext" and not extension):
        await stale(update, context, "malformed")
        return
    async with svc.db.transaction() as conn:
        task = await store.load(conn, task_id)
    if task is None:
        await alert(update, context, "gone")
        return
    if action in ("join", "decl"):
        answer = Answer.JOINED if action == "join" else Answer.DECLINED
        department = resolve(rest, (i.department_code for i in task.invitations)) if rest else None
        if rest and department is None:
            department = rest  # not invited: refused below like any outsider
        await answer_pressed(update, context, identity, task, answer, department)
        return
    if not is_lead(identity, task):
        await refuse_task(context, identity, task, f"task.{action}", "not_lead")
        await alert(update, context, "not_lead")
    elif extension is not None:
        await extend_task(update, context, identity, task, extension.number(2), extension.number(3))
    elif action == "go":
        await proceed(update, context, identity, task)
    else:
        await ask_cancel_reason(update, context, identity, task)


async def answer_pressed(
    update: Update,
    context: Context,
    identity: Identity,
    task: Task,
    answer: Answer,
    department: str | None,
) -> None:
    query = update.callback_query
    assert query is not None
    mine = [c for c in identity.liaison_departments if task.invitation(c) is not None]
    if department is not None:
        mine = [c for c in mine if c == department]
    if not mine:
        await refuse_task(context, identity, task, "task.answer", "not_invited")
        await alert(update, context, "not_invited")
        return
    if len(mine) > 1:
        svc = services(context)
        async with svc.db.transaction() as conn:
            names = await store.department_names(conn)
        rendered = svc.renderer.message(
            "tasks/pick_department.j2",
            task=task,
            departments=mine,
            names=names,
            action="join" if answer is Answer.JOINED else "decl",
            ref=ref,
        )
        if not await send_private(update, context, identity, rendered):
            return
        await alert(update, context, "private")
        return
    await start_answer(update, context, identity, task, mine[0], answer)


async def start_answer(
    update: Update,
    context: Context,
    identity: Identity,
    task: Task,
    department: str,
    answer: Answer,
) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    invitation = task.invitation(department)
    assert invitation is not None
    now = clock.now()
    refusal = rules.answer_refusal(task.state, task.reply_deadline, now, invitation.answer, answer)
    kind = "join" if answer is Answer.JOINED else "decline"
    # 参加 again before the deadline: the join card again, with the current choices, to change
    # the items or the count (finishing it unchanged changes nothing)
    rejoin = refusal is rules.AnswerRefusal.SAME and answer is Answer.JOINED
    if refusal is not None and not rejoin:
        if refusal is not rules.AnswerRefusal.SAME:
            await refuse_task(context, identity, task, "task.answer", refusal.value)
        await alert(update, context, refusal.value)
        return
    flow: Flow | None = None
    step = ""
    async with svc.db.transaction() as conn:
        current = await answer_flow(conn, identity.tg_user_id)
        if (
            current is not None
            and current.task_id == task.id
            and current.department_code == department
            and current.kind == kind
        ):
            rendered = None  # pressed twice: the card is already in the private chat
        else:
            has_items = bool(await store.items_of(conn, department))
            step = "reason" if kind == "decline" else ("items" if has_items else "count")
            data: dict[str, Any] = {"items": list(invitation.items) if rejoin else []}
            if rejoin:
                data["inspectors"] = invitation.inspectors
            flow = await store.start_flow(
                conn,
                identity.tg_user_id,
                "answer",
                kind,
                HELD,
                task_id=task.id,
                department=department,
                data=data,
            )
            rendered = await answer_card(conn, svc, replace(flow, step=step), task)
    if rendered is None or flow is None:
        await alert(update, context, "in_progress")
        return
    if not await send_private(update, context, identity, rendered, flow, step):
        return
    private = query.message is not None and query.message.chat.type == ChatType.PRIVATE
    if private:
        await query.answer()
    else:
        await alert(update, context, "private")


async def answer_flow(conn: Conn, user: int) -> Flow | None:
    cursor = await conn.execute(
        "SELECT id FROM task_flows WHERE tg_user_id = ? AND family = 'answer'", (user,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return await store.flow(conn, int(row[0])) if row else None


@pressed("tf", Role.ADMIN, Role.LIAISON, parts=2)
async def flow_button(update: Update, context: Context, identity: Identity, data: Pressed) -> None:
    """tf:<flow>:i:<item> (toggle), pg (next page), id (items done), n:<count>, x (abandon);
    cy: cancel the task with the reason typed (the cancel flow's confirmation)."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    action, arg = data.text(1), data.rest(2)
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, data.number(0))
        allowed = ("join", "cancel") if action in ("x", "cy") else ("join",)
        if flow is None or flow.tg_user_id != identity.tg_user_id or flow.kind not in allowed:
            flow = None
        elif action == "x":
            await store.drop_flow(conn, flow.id)
        elif action == "i" and flow.step == "items":
            chosen = list(flow.data.get("items", []))
            items = dict(await store.items_of(conn, flow.department_code or ""))
            code = resolve(arg, [*chosen, *items])
            if code in chosen:
                chosen.remove(code)
            elif code is not None:
                chosen.append(code)
            flow = await store.update_flow(conn, flow.id, "items", {**flow.data, "items": chosen})
        elif action == "pg" and flow.step == "items":
            page = int(flow.data.get("page", 0)) + 1
            flow = await store.update_flow(conn, flow.id, "items", {**flow.data, "page": page})
        elif action == "id" and flow.step == "items":
            flow = await store.update_flow(conn, flow.id, "count", flow.data)
        task = await store.load(conn, flow.task_id) if flow and flow.task_id else None
        card = (
            await answer_card(conn, svc, flow, task)
            if flow and task and flow.kind == "join" and action not in ("x", "cy")
            else None
        )
    if flow is None or task is None:
        await alert(update, context, "gone")
        return
    if action == "x":
        await query.answer()
        await close_prompt(svc, identity.tg_user_id, flow.id)
        await edit_in_place(
            update, context, svc.renderer.message("tasks/discarded.j2", kind=flow.kind)
        )
        return
    if action == "cy":
        if flow.kind != "cancel" or flow.step != "confirm":
            await alert(update, context, "gone")
        elif not is_lead(identity, task):
            await refuse_task(context, identity, task, "task.cancel", "not_lead")
            await alert(update, context, "not_lead")
        else:
            await query.answer()
            await cancel_task(update, context, identity, flow, str(flow.data.get("reason", "")))
        return
    if action == "n" and flow.step == "count":
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_INSPECTORS:  # as typed input
            await alert(update, context, "gone")
            return
        await query.answer()
        await record_answer(update, context, identity, flow, Answer.JOINED, inspectors=int(arg))
        return
    await query.answer()
    if card is not None:
        await show_flow(
            context, identity.tg_user_id, flow, lambda: edit_in_place(update, context, card)
        )


async def take_text(update: Update, context: Context, prompt: Prompt) -> bool:
    """A typed answer of a join or decline card, or of 取消任务 (count, reason)."""
    found = await prompted_flow(update, context, prompt)
    if found is None or found[1].family == "propose":
        return False
    identity, flow, text = found
    await answer_text(update, context, identity, flow, text, prompt)
    return True


async def answer_text(
    update: Update, context: Context, identity: Identity, flow: Flow, text: str, prompt: Prompt
) -> None:
    text = text.strip()
    if flow.step == "count":
        if not text.isdigit() or not 1 <= int(text) <= MAX_INSPECTORS:
            await reply(
                update,
                context,
                "tasks/input_problem.j2",
                problem="count",
                step="count",
                limit=MAX_INSPECTORS,
                example="",
                start="",
            )
            await conversation.again(context, prompt)
            return
        await record_answer(update, context, identity, flow, Answer.JOINED, inspectors=int(text))
        return
    if not text or len(text) > MAX_TEXT:
        await reply(
            update,
            context,
            "tasks/input_problem.j2",
            problem="empty" if not text else "too_long_text",
            step="reason",
            limit=MAX_TEXT,
            example="",
            start="",
        )
        await conversation.again(context, prompt)
        return
    if flow.kind == "cancel":
        await confirm_cancel(update, context, identity, flow, text)
    else:
        await record_answer(update, context, identity, flow, Answer.DECLINED, reason=text)


async def record_answer(
    update: Update,
    context: Context,
    identity: Identity,
    flow: Flow,
    answer: Answer,
    *,
    reason: str | None = None,
    inspectors: int | None = None,
) -> None:
    """Store a department's answer, update the card; one transaction."""
    svc = services(context)
    department = flow.department_code or ""
    items = list(flow.data.get("items", [])) if answer is Answer.JOINED else []
    async with svc.db.transaction() as conn:
        task = await store.load(conn, flow.task_id or 0)
        await store.drop_flow(conn, flow.id)
        invitation = task.invitation(department) if task else None
        refusal: str | None = "gone"
        if task is not None and invitation is not None:
            found = rules.answer_refusal(
                task.state, task.reply_deadline, clock.now(), invitation.answer, answer
            )
            refusal = found.value if found else None
            # joining again with other items or another count is a change, not a double press
            if found is rules.AnswerRefusal.SAME and answer is Answer.JOINED:
                same = set(items) == set(invitation.items) and inspectors == invitation.inspectors
                refusal = "same" if same else None
        if task is not None and invitation is not None and refusal is None:
            await store.set_answer(
                conn,
                task.id,
                department,
                answer,
                actor=identity.tg_user_id,
                reason=reason,
                items=items,
                inspectors=inspectors,
            )
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="task.answer",
                entity="task",
                entity_id=task.id,
                detail={
                    "department": department,
                    "answer": answer.value,
                    "before": invitation.answer.value,
                    "reason": reason,
                    "items": items,
                    "inspectors": inspectors,
                },
            )
            task = await store.load(conn, task.id)
            assert task is not None
            await refresh(conn, svc, task)
            await engine.task_changed(conn, svc, task.id)  # no more chasing this department
        elif task is not None and refusal != rules.AnswerRefusal.SAME.value:  # same: a no-op
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="task.answer",
                entity="task",
                entity_id=task.id,
                outcome="refused",
                detail={"reason": refusal},
            )
        names = await store.department_names(conn)
    chat_id = identity.tg_user_id
    if refusal is not None:
        text = svc.renderer.message("tasks/alert.j2", state=refusal)
        if update.callback_query is not None:  # the join card's buttons are dead now
            await edit_in_place(update, context, text)
        else:
            await send(context, chat_id, text)
        return
    rendered = svc.renderer.message(
        "tasks/answered.j2",
        answer=answer.value,
        department=department,
        names=names,
        task_id=flow.task_id,
        inspectors=inspectors,
        items=items,
        reason=reason,
    )
    if update.callback_query is not None:
        await edit_in_place(update, context, rendered)
    else:
        await send(context, chat_id, rendered)
