"""/newtask: industry, lead, items, partners, window, deadline, notes, summary; then the task
is created, its card posted and the partners invited. Also 改为参加 (join an overlapping task)."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

from telegram import Update

from bot import clock, conversation
from bot import reminders as engine
from bot.callbacks import Pressed
from bot.domain import tasks as rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import Answer, DateProblem, TaskState
from bot.features.common import Context, command, pressed, reply, send
from bot.features.tasks.answer import start_answer
from bot.features.tasks.callbacks import ref, resolve
from bot.features.tasks.flows import HELD, close_prompt, deliver_card, prompted_flow, show_flow
from bot.features.tasks.views import (
    MAX_OPTIONS,
    MAX_TEXT,
    alert,
    answer_card,
    edit_in_place,
    invite,
    local_now,
    note_calendar_gaps,
    notify,
    page_of,
    refresh,
    task_view,
    tunables,
    work_calendar,
)
from bot.render import Rendered
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import tasks as store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Flow, Task

MAX_INDUSTRIES = 16


@command("newtask")
async def newtask_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        names = await store.department_names(conn)
        options = (
            list(identity.liaison_departments)
            if identity.liaison_departments and not identity.is_admin
            else list(names)
        )
        options = [code for code in options if code in names]
        card: Rendered | None = None
        if options:
            industries = await store.industries(conn, MAX_INDUSTRIES)
            data: dict[str, Any] = {
                "industries": industries,
                "lead_options": options,
                "lead": options[0] if len(options) == 1 else None,
                "items": [],
                "partners": [],
            }
            flow = await store.start_flow(
                conn, identity.tg_user_id, "propose", "propose", HELD, data=data
            )
            card = await propose_card(conn, svc, replace(flow, step="industry"))
    if card is None:  # no Telegram call inside the transaction
        problem = "no_departments" if identity.is_admin else "no_department"
        await reply(update, context, "tasks/usage.j2", problem=problem, given="")
        return
    chat = update.effective_chat
    assert chat is not None
    await deliver_card(context, chat.id, card, flow, "industry")


async def retired_card(conn: Conn, svc: Services, prompt: Prompt) -> Rendered | None:
    """The card whose typed question was dropped, as it read (a /newtask draft, a join or a
    reason card): bot.conversation rewrites it to say it was dropped, without buttons."""
    flow = await store.flow(conn, int(prompt.target["flow"]))
    if flow is None or flow.tg_user_id != prompt.tg_user_id:
        return None
    if flow.family == "propose":
        return await propose_card(conn, svc, flow)
    task = await store.load(conn, flow.task_id) if flow.task_id is not None else None
    return await answer_card(conn, svc, flow, task) if task is not None else None


async def propose_card(conn: Conn, svc: Services, flow: Flow) -> Rendered:
    d = flow.data
    names = await store.department_names(conn)
    everything: list[Any] = []
    if flow.step == "lead":
        everything = list(d.get("lead_options", []))
    elif flow.step == "items" and d.get("lead"):
        everything = [
            (code, name, ref(f"nt:{flow.id}:it:", code))
            for code, name in await store.items_of(conn, d["lead"])
        ]
    elif flow.step == "partners":
        everything = [
            (code, ref(f"nt:{flow.id}:p:", code)) for code in names if code != d.get("lead")
        ]
    options, page, pages = page_of(everything, int(d.get("page", 0)))
    now = local_now(svc)
    t = tunables(svc)
    default = rules.default_deadline(now, work_calendar(svc), t.reply_working_days, t.deadline_time)
    start = date.fromisoformat(d["start"]) if d.get("start") else None
    deadline = (
        clock.from_db(d["deadline"]).astimezone(svc.settings.tz) if d.get("deadline") else None
    )
    overlaps: list[rules.TaskSummary] = []
    if flow.step == "summary" and start is not None:
        overlaps = rules.overlapping(
            d["industry"],
            d["lead"],
            start,
            date.fromisoformat(d["end"]),
            await store.open_summaries(conn),
        )
    return svc.renderer.message(
        "tasks/propose.j2",
        id=flow.id,
        step=flow.step,
        d=d,
        names=names,
        item_names=await store.item_names(conn, d.get("items", [])),
        industries=d.get("industries", []),
        options=options,
        offset=page * MAX_OPTIONS,
        page=page,
        pages=pages,
        total=len(everything),
        example=window_example(now.date()),
        default=default,
        default_ok=start is None or rules.check_deadline(default, now, start) is None,
        working_days=t.reply_working_days,
        deadline=deadline,
        overlaps=overlaps,
        group=await store.coordination_chat(conn),
    )


def window_example(today: date) -> str:
    start = today + timedelta(days=7)
    return f"{start.isoformat()} {(start + timedelta(days=14)).isoformat()}"


async def advance(conn: Conn, flow: Flow, step: str, **changes: Any) -> Flow | None:
    data = dict(flow.data)
    data.update(changes)
    if step == "lead" and data.get("lead"):
        step = "items"  # a single department: nothing to pick
    if step != flow.step:
        data["page"] = 0
    return await store.update_flow(conn, flow.id, step, data)


@pressed("nt", Role.ADMIN, Role.LIAISON, parts=2)
async def propose_button(
    update: Update, context: Context, identity: Identity, data: Pressed
) -> None:
    """nt:<flow>:<action>[:<arg>], the buttons of the /newtask card."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    flow_id, action, arg = data.number(0), data.text(1), data.rest(2)
    if action == "dl":
        await default_deadline(update, context, identity, flow_id)
        return
    if action == "go":
        await submit(update, context, identity, flow_id)
        return
    if action == "jx" and arg.isdigit():
        await join_instead(update, context, identity, flow_id, int(arg))
        return
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, flow_id)
        valid = (
            flow is not None and flow.tg_user_id == identity.tg_user_id and flow.family == "propose"
        )
        changed: Flow | None = None
        if flow is not None and valid and action == "x":
            await store.drop_flow(conn, flow.id)
        elif flow is not None and valid:
            changed = await propose_action(conn, flow, action, arg)
        card = await propose_card(conn, svc, changed) if changed else None
    if action == "x" and valid:
        await query.answer()
        await close_prompt(svc, identity.tg_user_id, flow_id)
        await edit_in_place(update, context, svc.renderer.message("tasks/discarded.j2"))
        return
    if changed is None or card is None:
        await alert(update, context, "gone")
        return
    if action == "pd" and changed.step == "partners" and not changed.data["partners"]:
        await alert(update, context, "no_partners")
        return
    await query.answer()
    await show_flow(
        context, identity.tg_user_id, changed, lambda: edit_in_place(update, context, card)
    )


async def propose_action(conn: Conn, flow: Flow, action: str, arg: str) -> Flow | None:
    d = flow.data
    if action == "ind" and arg.isdigit() and int(arg) < len(d.get("industries", [])):
        return await advance(conn, flow, "lead", industry=d["industries"][int(arg)])
    options = list(d.get("lead_options", []))
    if action == "lead" and arg in options and flow.step == "lead":  # cards from before "ld"
        return await advance(conn, flow, "items", lead=arg, items=[])
    if action == "ld" and arg.isdigit() and int(arg) < len(options) and flow.step == "lead":
        return await advance(conn, flow, "items", lead=options[int(arg)], items=[])
    if action == "pg" and flow.step in ("lead", "items", "partners"):
        return await advance(conn, flow, flow.step, page=int(d.get("page", 0)) + 1)
    if action == "it" and flow.step == "items":
        items = list(d.get("items", []))
        code = resolve(arg, [*items, *dict(await store.items_of(conn, d["lead"]))])
        if code in items:
            items.remove(code)
        elif code is not None:
            items.append(code)
        return await advance(conn, flow, "items", items=items)
    if action == "itd" and flow.step == "items":
        return await advance(conn, flow, "partners")
    if action == "p" and flow.step == "partners":
        partners = list(d.get("partners", []))
        code = resolve(arg, [*partners, *await store.department_names(conn)])
        if code in partners:
            partners.remove(code)
        elif code is not None and code != d.get("lead"):
            partners.append(code)
        return await advance(conn, flow, "partners", partners=partners)
    if action == "pd" and flow.step == "partners":
        return await advance(conn, flow, "window" if d.get("partners") else "partners")
    if action == "nn" and flow.step == "notes":
        return await advance(conn, flow, "summary", notes="")
    return flow


async def take_text(update: Update, context: Context, prompt: Prompt) -> bool:
    """A typed answer of /newtask (industry, window, deadline, notes)."""
    found = await prompted_flow(update, context, prompt)
    if found is None or found[1].family != "propose":
        return False
    _, flow, text = found
    await propose_text(update, context, flow, text, prompt)
    return True


async def propose_text(
    update: Update, context: Context, flow: Flow, text: str, prompt: Prompt
) -> None:
    svc = services(context)
    now = local_now(svc)
    t = tunables(svc)
    problem: str | None = None
    changed: Flow | None = None
    extra: dict[str, Any] = {}
    async with svc.db.transaction() as conn:
        if flow.step == "industry":
            if not text.strip() or len(text) > 50:
                problem, extra = ("empty" if not text.strip() else "too_long_text"), {"limit": 50}
            else:
                changed = await advance(conn, flow, "lead", industry=text.strip())
        elif flow.step == "window":
            window = rules.parse_window(text, now.date())
            if isinstance(window, DateProblem):
                problem = window.value
            else:
                changed = await advance(
                    conn, flow, "deadline", start=window[0].isoformat(), end=window[1].isoformat()
                )
        elif flow.step == "deadline":
            start = date.fromisoformat(flow.data["start"])
            deadline = rules.parse_deadline(text, now, t.deadline_time, start)
            if isinstance(deadline, DateProblem):
                problem, extra = deadline.value, {"start": start.isoformat()}
            else:
                changed = await advance(conn, flow, "notes", deadline=clock.to_db(deadline))
        elif flow.step == "notes":
            if len(text) > MAX_TEXT:
                problem, extra = "too_long_text", {"limit": MAX_TEXT}
            else:
                changed = await advance(conn, flow, "summary", notes=text.strip())
        card = await propose_card(conn, svc, changed) if changed else None
    if problem is not None:
        example = (
            window_example(now.date())
            if flow.step == "window"
            else f"{(now.date() + timedelta(days=2)).isoformat()} 17:00"
        )
        await reply(
            update,
            context,
            "tasks/input_problem.j2",
            problem=problem,
            step=flow.step,
            example=example,
            **{"limit": MAX_TEXT, "start": "", **extra},
        )
        await conversation.again(context, prompt)
        return
    if card is not None and changed is not None:
        chat = update.effective_chat
        assert chat is not None
        await show_flow(context, chat.id, changed, lambda: send(context, chat.id, card))


async def default_deadline(
    update: Update, context: Context, identity: Identity, flow_id: int
) -> None:
    svc = services(context)
    now = local_now(svc)
    t = tunables(svc)
    deadline = rules.default_deadline(
        now, work_calendar(svc), t.reply_working_days, t.deadline_time
    )
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, flow_id)
        ok = flow is not None and flow.tg_user_id == identity.tg_user_id and flow.step == "deadline"
        changed = None
        if flow is not None and ok:
            start = date.fromisoformat(flow.data["start"])
            if rules.check_deadline(deadline, now, start) is None:
                changed = await advance(conn, flow, "notes", deadline=clock.to_db(deadline))
        card = await propose_card(conn, svc, changed) if changed else None
    if card is None or changed is None:
        await alert(update, context, "gone")
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await show_flow(
        context, identity.tg_user_id, changed, lambda: edit_in_place(update, context, card)
    )


async def submit(update: Update, context: Context, identity: Identity, flow_id: int) -> None:
    """The proposer confirmed: create the task, post the card, invite every partner."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    now = local_now(svc)
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, flow_id)
        if flow is None or flow.tg_user_id != identity.tg_user_id or flow.step != "summary":
            task = None
        else:
            d = flow.data
            start, end = date.fromisoformat(d["start"]), date.fromisoformat(d["end"])
            deadline = clock.from_db(d["deadline"]).astimezone(svc.settings.tz)
            if rules.check_deadline(deadline, now, start) is not None:
                flow = await store.update_flow(conn, flow.id, "deadline", d)
                task = None
            else:
                task_id = await store.create(
                    conn,
                    industry=d["industry"],
                    lead=d["lead"],
                    lead_items=d["items"],
                    start=start,
                    end=end,
                    deadline=deadline,
                    notes=d.get("notes", ""),
                    proposed_by=identity.tg_user_id,
                    partners=d["partners"],
                )
                await store.drop_flow(conn, flow.id)
                task = await store.load(conn, task_id)
                assert task is not None
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="task.propose",
                    entity="task",
                    entity_id=task.id,
                    detail={
                        "industry": task.industry,
                        "lead": task.lead_department,
                        "partners": list(d["partners"]),
                        "state": task.state.value,
                    },
                )
                group = await store.coordination_chat(conn)
                view = await task_view(conn, svc, task)
                if group is not None:
                    card_id = await outbox.enqueue(
                        conn,
                        group,
                        svc.renderer.message("tasks/card.j2", **view),
                        dedup_key=f"task:{task.id}:card",
                    )
                    await store.set_card(conn, task.id, card_id)
                missing = await invite(
                    conn,
                    svc,
                    task,
                    d["partners"],
                    kind="invite",
                    key="inv",
                    skip=[identity.tg_user_id],
                )
                await note_calendar_gaps(conn, svc, [now.date(), start, end, deadline.date()])
                await engine.task_changed(conn, svc, task.id)  # its reminders and escalation
                done = svc.renderer.message(
                    "tasks/proposed.j2", **view, group=group, without_liaison=missing
                )
        stale_card = (
            await propose_card(conn, svc, flow) if flow is not None and task is None else None
        )
    if task is None:
        if stale_card is not None and flow is not None:  # the deadline passed meanwhile
            await query.answer()
            await show_flow(
                context,
                identity.tg_user_id,
                flow,
                lambda: edit_in_place(update, context, stale_card),
            )
        else:
            await alert(update, context, "gone")
        return
    await query.answer()
    await edit_in_place(update, context, done)


async def join_instead(
    update: Update, context: Context, identity: Identity, flow_id: int, task_id: int
) -> None:
    """The proposer takes the overlap advice: their department joins the existing task."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, flow_id)
        task = await store.load(conn, task_id)
        if (
            flow is None
            or flow.tg_user_id != identity.tg_user_id
            or flow.family != "propose"
            or task is None
        ):
            result = "gone"
        elif task.state is not TaskState.INVITING:
            result = "closed"
        elif not await may_join_instead(conn, flow, task):
            result = "stale"  # not offered on this summary: a crafted or outdated button
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="task.invite_added",
                entity="task",
                entity_id=task.id,
                outcome="refused",
                detail={"reason": "not_offered", "flow": flow.id, "step": flow.step},
            )
        else:
            department = flow.data["lead"]
            await store.drop_flow(conn, flow.id)
            if await store.add_invitation(conn, task.id, department):
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="task.invite_added",
                    entity="task",
                    entity_id=task.id,
                    detail={"department": department, "via": "overlap"},
                )
                task = await store.load(conn, task.id)
                assert task is not None
                await refresh(conn, svc, task)
                await engine.task_changed(conn, svc, task.id)  # chase the added department
                await invite(
                    conn,
                    svc,
                    task,
                    [department],
                    kind="added",
                    key="added",
                    skip=[identity.tg_user_id],
                )
                lead_users = (await store.liaisons(conn, [task.lead_department]))[
                    task.lead_department
                ]
                await notify(
                    conn,
                    svc,
                    task,
                    lead_users,
                    f"added:{department}",
                    kind="join_request",
                    department=department,
                )
            names = await store.department_names(conn)
            result = "ok"
    if result != "ok":
        await alert(update, context, result)
        return
    assert update.callback_query is not None and task is not None
    await edit_in_place(
        update,
        context,
        svc.renderer.message(
            "tasks/done.j2", kind="join_instead", task=task, department=names.get(department)
        ),
    )
    if department in identity.liaison_departments:
        await start_answer(update, context, identity, task, department, Answer.JOINED)
    else:
        await update.callback_query.answer()


async def may_join_instead(conn: Conn, flow: Flow, task: Task) -> bool:
    """Only from the summary, and only a task the summary offers (recomputed now)."""
    d = flow.data
    if flow.step != "summary" or not d.get("lead") or not d.get("start") or not d.get("end"):
        return False
    offered = rules.overlapping(
        d.get("industry", ""),
        d["lead"],
        date.fromisoformat(d["start"]),
        date.fromisoformat(d["end"]),
        await store.open_summaries(conn),
    )
    return any(o.id == task.id and o.state is TaskState.INVITING for o in offered)
