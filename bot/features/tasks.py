"""Joint inspections (一业一查): /newtask, the invitation card, answers, reminders, escalation,
/tasks and /task.

Every step keeps its state in the database (tables `tasks`, `task_invitations`, `task_flows`),
so a restart loses nothing and buttons keep working days later. Callback data:

    nt:<flow>:<action>[:<arg>]        the proposer's /newtask card
    tk:<task>:<action>[:<arg>…]       the invitation card, private invitations, escalations
    tf:<flow>:<action>[:<arg>]        a liaison's join card (items, inspector count)

Typed input (industry, dates, notes, reasons, counts) are prompts of bot.conversation (kinds
tasks.propose, tasks.decline, tasks.cancel, tasks.count), opened whenever a flow's card asks a
typed question and closed when a button moves it on; a dropped prompt drops its flow.
Messages the bot sends on its own (invitations, card edits, reminders, escalations, notices) go
through the outbox in the same transaction as the change (in the quiet hours they wait for
their end). `run_due(app)` sends due reminders and escalations; a JobQueue job runs it every
`scan_seconds` and at start-up.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.constants import ChatType
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
)

from bot import clock, conversation, workcal
from bot import reminders as engine
from bot.config import InvitationTunables
from bot.domain import tasks as rules
from bot.domain.roles import Identity, Role
from bot.domain.tasks import Answer, DateProblem, MessageKind, QuietHours, TaskState
from bot.domain.workdays import WorkCalendar
from bot.features import training
from bot.features.common import Context, button, command, identify, markup, reply, send
from bot.render import MAX_CALLBACK_BYTES, Rendered
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import tasks as store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Flow, Task

log = logging.getLogger(__name__)

PROPOSE_TEXT_STEPS = ("industry", "window", "deadline", "notes")
PROMPT_KINDS = ("tasks.propose", "tasks.decline", "tasks.cancel", "tasks.count")
HELD = "held"  # a flow whose card is being sent: nothing acts on it yet
MAX_INDUSTRIES = 16
MAX_OPTIONS = 60  # buttons per page of items, departments (Telegram allows 100 buttons)
MAX_TEXT = 500  # a reason or a note
MAX_INSPECTORS = 50
MAX_PROGRESS_DEPARTMENTS = 15  # /task lists this many departments' missing results, /results all


def work_calendar(svc: Services) -> WorkCalendar:
    # The bot's one calendar (chinese-calendar, [calendar] in the TOML file, /holiday days).
    return workcal.calendar(svc)


def _tunables(svc: Services) -> InvitationTunables:
    return svc.settings.tunables.invitations


def _local_now(svc: Services) -> datetime:
    return clock.now().astimezone(svc.settings.tz)


def _quiet(svc: Services) -> QuietHours:
    t = _tunables(svc)
    return QuietHours(t.quiet_start, t.quiet_end)


def _fits(data: str) -> bool:
    return len(data.encode()) <= MAX_CALLBACK_BYTES


def _ref(prefix: str, code: str) -> str:
    """`code` in callback data after `prefix`; a code too long for Telegram's 64 bytes (or one
    starting with "~") becomes "~" and a short hash, resolved by `_resolve`."""
    if _fits(prefix + code) and not code.startswith("~"):
        return code
    return _hashed(code)


def _hashed(code: str) -> str:
    return "~" + hashlib.blake2s(code.encode(), digest_size=6).hexdigest()


def _resolve(arg: str, codes: Iterable[str]) -> str | None:
    """The code among `codes` that `arg` (from `_ref`) stands for."""
    found = list(codes)
    if arg in found:
        return arg
    return next((c for c in found if arg.startswith("~") and _hashed(c) == arg), None)


def _page(options: Sequence[Any], page: int) -> tuple[list[Any], int, int]:
    """One page of `options` (MAX_OPTIONS each): the page's options, the page, the pages."""
    pages = max(1, -(-len(options) // MAX_OPTIONS))
    page = page % pages
    return list(options[page * MAX_OPTIONS : (page + 1) * MAX_OPTIONS]), page, pages


def _is_lead(identity: Identity, task: Task) -> bool:
    return identity.is_admin or task.lead_department in identity.liaison_departments


async def _alert(update: Update, context: Context, state: str) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(
        services(context).renderer.text("tasks/alert.j2", state=state), show_alert=True
    )


async def _edit_in_place(update: Update, rendered: Rendered) -> None:
    query = update.callback_query
    assert query is not None
    try:
        await query.edit_message_text(
            rendered.text, parse_mode="HTML", reply_markup=markup(rendered.keyboard)
        )
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise


# -- rendering -------------------------------------------------------------------------------------


async def _view(conn: Conn, svc: Services, task: Task) -> dict[str, Any]:
    codes = list(task.lead_items)
    for inv in task.invitations:
        codes.extend(inv.items)
    return dict(
        task=task,
        names=await store.department_names(conn),
        item_names=await store.item_names(conn, codes),
        tz=svc.settings.tz,
        ref=_ref,
        # each department's answer as shown now (待回复 / 未答复（按不参加处理）…)
        answers={
            inv.department_code: rules.answer_status(task.state, inv.answer).value
            for inv in task.invitations
        },
    )


async def _refresh(conn: Conn, svc: Services, task: Task, *, closed: bool = False) -> None:
    """Queue the card's new text (collapsing edits not sent yet); on closing (and after an
    extension, `closed` too: the deadline they show changed), rewrite every private message of
    the task from its current state as well."""
    view = await _view(conn, svc, task)
    if task.card_outbox_id is not None:
        card = svc.renderer.message("tasks/card.j2", **view)
        await outbox.replace_pending_edit(conn, task.card_outbox_id, card)
    if closed:
        for message in await store.private_messages(conn, task.id):
            rendered = _private_message(svc, view, task, message)
            await outbox.replace_pending_edit(conn, message.outbox_id, rendered)


def _private_message(
    svc: Services, view: dict[str, Any], task: Task, message: store.TaskMessage
) -> Rendered:
    """A private message of the task, rebuilt from the task's current state: the same kind of
    message it was sent as (invitation, reminder, escalation …), its status recomputed."""
    status = rules.message_status(task.state, message.kind, message.deadline, task.reply_deadline)
    if message.kind is MessageKind.ESCALATION:
        return svc.renderer.message(
            "tasks/escalation.j2",
            **view,
            status=status.value,
            about=message.deadline or task.reply_deadline,
            extend_options=_tunables(svc).extend_options,
        )
    return svc.renderer.message(
        "tasks/invitation.j2",
        **view,
        kind=message.kind.value,
        department=message.department_code,
        status=status.value,
    )


async def _invite(
    conn: Conn,
    svc: Services,
    task: Task,
    departments: Iterable[str],
    *,
    kind: str,
    key: str,
    skip: Iterable[int] = (),
    not_before: datetime | None = None,
) -> list[str]:
    """Queue a private invitation (with the answer buttons) to each liaison of `departments`;
    returns the departments without any liaison."""
    view = await _view(conn, svc, task)
    found = await store.liaisons(conn, departments)
    skipped = set(skip)
    for code, users in found.items():
        message = store.TaskMessage(0, code, MessageKind(kind), None)
        rendered = _private_message(svc, view, task, message)
        for uid in users:
            if uid in skipped:
                continue
            outbox_id = await outbox.enqueue(
                conn,
                uid,
                rendered,
                dedup_key=f"task:{task.id}:{key}:{code}:{uid}",
                not_before=not_before,
            )
            await store.add_private_message(conn, task.id, outbox_id, code, MessageKind(kind))
    return [code for code, users in found.items() if not users]


async def _notify(
    conn: Conn,
    svc: Services,
    task: Task,
    users: Iterable[int],
    key: str,
    *,
    not_before: datetime | None = None,
    **extra: Any,
) -> None:
    view = await _view(conn, svc, task)
    rendered = svc.renderer.message("tasks/notice.j2", **view, **extra)
    for uid in sorted(set(users)):
        await outbox.enqueue(
            conn, uid, rendered, dedup_key=f"task:{task.id}:{key}:{uid}", not_before=not_before
        )


async def _note_calendar_gaps(conn: Conn, svc: Services, days: Iterable[date]) -> None:
    """A year the PRC calendar has no data for: tell the administrators, once (bot.workcal)."""
    await workcal.note_gaps(conn, svc, days)


# -- /newtask: the proposal flow -------------------------------------------------------------------


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
            card = await _propose_card(conn, svc, replace(flow, step="industry"))
    if card is None:  # no Telegram call inside the transaction
        problem = "no_departments" if identity.is_admin else "no_department"
        await reply(update, context, "tasks/usage.j2", problem=problem, given="")
        return
    chat = update.effective_chat
    assert chat is not None
    await _deliver(context, chat.id, card, flow, "industry")


def _question(flow: Flow) -> str | None:
    """The prompt kind a flow's card asks, if it asks for typed input at its step."""
    if flow.family == "propose":
        return "tasks.propose" if flow.step in PROPOSE_TEXT_STEPS else None
    if flow.step == "count":
        return "tasks.count"
    if flow.step == "reason":
        return "tasks.cancel" if flow.kind == "cancel" else "tasks.decline"
    return None


async def _show_flow(
    context: Context, chat_id: int, flow: Flow, deliver: Callable[[], Awaitable[object]]
) -> bool:
    """Deliver a flow's card; if it asks a typed question, that is the person's prompt now
    (armed once delivered), otherwise a prompt of this flow is closed."""
    kind = _question(flow)
    if kind is not None:
        target = {"flow": flow.id, "step": flow.step}
        return await conversation.ask(context, flow.tg_user_id, chat_id, kind, target, deliver)
    async with services(context).db.transaction() as conn:
        await conversation.close(conn, flow.tg_user_id, *PROMPT_KINDS, about={"flow": flow.id})
    try:
        await deliver()
    except TelegramError as exc:  # never opened the bot, blocked it, or Telegram failed
        log.info("flow %s card not delivered to %s: %s", flow.id, chat_id, exc)
        return False
    return True


async def _deliver(
    context: Context, chat_id: int, rendered: Rendered, flow: Flow, step: str
) -> bool:
    """Send a new flow's first card (the flow was created at step HELD, so no button acts on
    it yet); if it could not be delivered, drop the flow: nobody is waiting for it."""
    db = services(context).db
    async with db.transaction() as conn:
        released = await store.release_flow(conn, flow.id, HELD, step)
    ok = released is not None and await _show_flow(
        context, chat_id, released, lambda: send(context, chat_id, rendered)
    )
    if not ok:
        async with db.transaction() as conn:
            await store.drop_flow(conn, flow.id)
    return ok


async def _propose_card(conn: Conn, svc: Services, flow: Flow) -> Rendered:
    d = flow.data
    names = await store.department_names(conn)
    everything: list[Any] = []
    if flow.step == "lead":
        everything = list(d.get("lead_options", []))
    elif flow.step == "items" and d.get("lead"):
        everything = [
            (code, name, _ref(f"nt:{flow.id}:it:", code))
            for code, name in await store.items_of(conn, d["lead"])
        ]
    elif flow.step == "partners":
        everything = [
            (code, _ref(f"nt:{flow.id}:p:", code)) for code in names if code != d.get("lead")
        ]
    options, page, pages = _page(everything, int(d.get("page", 0)))
    now = _local_now(svc)
    t = _tunables(svc)
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
        example=_window_example(now.date()),
        default=default,
        default_ok=start is None or rules.check_deadline(default, now, start) is None,
        working_days=t.reply_working_days,
        deadline=deadline,
        overlaps=overlaps,
        group=await store.coordination_chat(conn),
    )


def _window_example(today: date) -> str:
    start = today + timedelta(days=7)
    return f"{start.isoformat()} {(start + timedelta(days=14)).isoformat()}"


async def _advance(conn: Conn, flow: Flow, step: str, **changes: Any) -> Flow | None:
    data = dict(flow.data)
    data.update(changes)
    if step == "lead" and data.get("lead"):
        step = "items"  # a single department: nothing to pick
    if step != flow.step:
        data["page"] = 0
    return await store.update_flow(conn, flow.id, step, data)


@button(Role.ADMIN, Role.LIAISON)
async def propose_button(update: Update, context: Context, identity: Identity) -> None:
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    parts = query.data.split(":", 3)
    if len(parts) < 3 or not parts[1].isdigit():
        await query.answer()
        return
    flow_id, action = int(parts[1]), parts[2]
    arg = parts[3] if len(parts) > 3 else ""
    if action == "go":
        await _submit(update, context, identity, flow_id)
        return
    if action == "jx" and arg.isdigit():
        await _join_instead(update, context, identity, flow_id, int(arg))
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
            changed = await _propose_action(conn, flow, action, arg)
        card = await _propose_card(conn, svc, changed) if changed else None
    if action == "x" and valid:
        await query.answer()
        await _close_prompt(svc, identity.tg_user_id, flow_id)
        await _edit_in_place(update, svc.renderer.message("tasks/discarded.j2"))
        return
    if changed is None or card is None:
        await _alert(update, context, "gone")
        return
    if action == "pd" and changed.step == "partners" and not changed.data["partners"]:
        await _alert(update, context, "no_partners")
        return
    await query.answer()
    await _show_flow(context, identity.tg_user_id, changed, lambda: _edit_in_place(update, card))


async def _close_prompt(svc: Services, user: int, flow_id: int) -> None:
    async with svc.db.transaction() as conn:
        await conversation.close(conn, user, *PROMPT_KINDS, about={"flow": flow_id})


async def _propose_action(conn: Conn, flow: Flow, action: str, arg: str) -> Flow | None:
    d = flow.data
    if action == "ind" and arg.isdigit() and int(arg) < len(d.get("industries", [])):
        return await _advance(conn, flow, "lead", industry=d["industries"][int(arg)])
    options = list(d.get("lead_options", []))
    if action == "lead" and arg in options and flow.step == "lead":  # cards from before "ld"
        return await _advance(conn, flow, "items", lead=arg, items=[])
    if action == "ld" and arg.isdigit() and int(arg) < len(options) and flow.step == "lead":
        return await _advance(conn, flow, "items", lead=options[int(arg)], items=[])
    if action == "pg" and flow.step in ("lead", "items", "partners"):
        return await _advance(conn, flow, flow.step, page=int(d.get("page", 0)) + 1)
    if action == "it" and flow.step == "items":
        items = list(d.get("items", []))
        code = _resolve(arg, [*items, *dict(await store.items_of(conn, d["lead"]))])
        if code in items:
            items.remove(code)
        elif code is not None:
            items.append(code)
        return await _advance(conn, flow, "items", items=items)
    if action == "itd" and flow.step == "items":
        return await _advance(conn, flow, "partners")
    if action == "p" and flow.step == "partners":
        partners = list(d.get("partners", []))
        code = _resolve(arg, [*partners, *await store.department_names(conn)])
        if code in partners:
            partners.remove(code)
        elif code is not None and code != d.get("lead"):
            partners.append(code)
        return await _advance(conn, flow, "partners", partners=partners)
    if action == "pd" and flow.step == "partners":
        return await _advance(conn, flow, "window" if d.get("partners") else "partners")
    if action == "nn" and flow.step == "notes":
        return await _advance(conn, flow, "summary", notes="")
    return flow


async def _propose_text(
    update: Update, context: Context, flow: Flow, text: str, prompt: Prompt
) -> None:
    svc = services(context)
    now = _local_now(svc)
    t = _tunables(svc)
    problem: str | None = None
    changed: Flow | None = None
    extra: dict[str, Any] = {}
    async with svc.db.transaction() as conn:
        if flow.step == "industry":
            if not text.strip() or len(text) > 50:
                problem, extra = ("empty" if not text.strip() else "too_long_text"), {"limit": 50}
            else:
                changed = await _advance(conn, flow, "lead", industry=text.strip())
        elif flow.step == "window":
            window = rules.parse_window(text, now.date())
            if isinstance(window, DateProblem):
                problem = window.value
            else:
                changed = await _advance(
                    conn, flow, "deadline", start=window[0].isoformat(), end=window[1].isoformat()
                )
        elif flow.step == "deadline":
            start = date.fromisoformat(flow.data["start"])
            deadline = rules.parse_deadline(text, now, t.deadline_time, start)
            if isinstance(deadline, DateProblem):
                problem, extra = deadline.value, {"start": start.isoformat()}
            else:
                changed = await _advance(conn, flow, "notes", deadline=clock.to_db(deadline))
        elif flow.step == "notes":
            if len(text) > MAX_TEXT:
                problem, extra = "too_long_text", {"limit": MAX_TEXT}
            else:
                changed = await _advance(conn, flow, "summary", notes=text.strip())
        card = await _propose_card(conn, svc, changed) if changed else None
    if problem is not None:
        example = (
            _window_example(now.date())
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
        await _show_flow(context, chat.id, changed, lambda: send(context, chat.id, card))


async def _default_deadline(
    update: Update, context: Context, identity: Identity, flow_id: int
) -> None:
    svc = services(context)
    now = _local_now(svc)
    t = _tunables(svc)
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
                changed = await _advance(conn, flow, "notes", deadline=clock.to_db(deadline))
        card = await _propose_card(conn, svc, changed) if changed else None
    if card is None or changed is None:
        await _alert(update, context, "gone")
        return
    assert update.callback_query is not None
    await update.callback_query.answer()
    await _show_flow(context, identity.tg_user_id, changed, lambda: _edit_in_place(update, card))


async def _submit(update: Update, context: Context, identity: Identity, flow_id: int) -> None:
    """The proposer confirmed: create the task, post the card, invite every partner."""
    svc = services(context)
    query = update.callback_query
    assert query is not None
    now = _local_now(svc)
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
                view = await _view(conn, svc, task)
                if group is not None:
                    card_id = await outbox.enqueue(
                        conn,
                        group,
                        svc.renderer.message("tasks/card.j2", **view),
                        dedup_key=f"task:{task.id}:card",
                    )
                    await store.set_card(conn, task.id, card_id)
                missing = await _invite(
                    conn,
                    svc,
                    task,
                    d["partners"],
                    kind="invite",
                    key="inv",
                    skip=[identity.tg_user_id],
                )
                await _note_calendar_gaps(conn, svc, [now.date(), start, end, deadline.date()])
                done = svc.renderer.message(
                    "tasks/proposed.j2", **view, group=group, without_liaison=missing
                )
        stale_card = (
            await _propose_card(conn, svc, flow) if flow is not None and task is None else None
        )
    if task is None:
        if stale_card is not None and flow is not None:  # the deadline passed meanwhile
            await query.answer()
            await _show_flow(
                context, identity.tg_user_id, flow, lambda: _edit_in_place(update, stale_card)
            )
        else:
            await _alert(update, context, "gone")
        return
    await query.answer()
    await _edit_in_place(update, done)


async def _join_instead(
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
        elif not await _may_join_instead(conn, flow, task):
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
                await _refresh(conn, svc, task)
                await _invite(
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
                await _notify(
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
        await _alert(update, context, result)
        return
    assert update.callback_query is not None and task is not None
    await _edit_in_place(
        update,
        svc.renderer.message(
            "tasks/done.j2", kind="join_instead", task=task, department=names.get(department)
        ),
    )
    if department in identity.liaison_departments:
        await _start_answer(update, context, identity, task, department, Answer.JOINED)
    else:
        await update.callback_query.answer()


async def _may_join_instead(conn: Conn, flow: Flow, task: Task) -> bool:
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


# -- answering: 参加 / 不参加 --------------------------------------------------------------------


@button()
async def task_button(update: Update, context: Context, identity: Identity) -> None:
    """tk:<task>:join|decl[:<department>], ext:<n>:<version>, go, cx."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    parts = query.data.split(":", 3)  # a department code may contain ":"
    if len(parts) < 3 or not parts[1].isdigit():
        await query.answer()
        return
    task_id, action = int(parts[1]), parts[2]
    rest = parts[3] if len(parts) > 3 else ""
    args = rest.split(":") if rest else []
    async with svc.db.transaction() as conn:
        task = await store.load(conn, task_id)
    if task is None:
        await _alert(update, context, "gone")
        return
    if action in ("join", "decl"):
        answer = Answer.JOINED if action == "join" else Answer.DECLINED
        department = _resolve(rest, (i.department_code for i in task.invitations)) if rest else None
        if rest and department is None:
            department = rest  # not invited: refused below like any outsider
        await _answer_pressed(update, context, identity, task, answer, department)
    elif action in ("ext", "go", "cx"):
        if not _is_lead(identity, task):
            await _refuse(context, identity, task, f"task.{action}", "not_lead")
            await _alert(update, context, "not_lead")
            return
        if action == "ext" and len(args) == 2 and args[0].isdigit() and args[1].isdigit():
            await _extend(update, context, identity, task, int(args[0]), int(args[1]))
        elif action == "go":
            await _proceed(update, context, identity, task)
        elif action == "cx":
            await _ask_cancel_reason(update, context, identity, task)
        else:
            await query.answer()
    else:
        await query.answer()


async def _refuse(
    context: Context, identity: Identity, task: Task, action: str, reason: str
) -> None:
    async with services(context).db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action=action,
            entity="task",
            entity_id=task.id,
            outcome="refused",
            detail={"reason": reason},
        )


async def _answer_pressed(
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
        await _refuse(context, identity, task, "task.answer", "not_invited")
        await _alert(update, context, "not_invited")
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
            ref=_ref,
        )
        if not await _send_private(update, context, identity, rendered):
            return
        await _alert(update, context, "private")
        return
    await _start_answer(update, context, identity, task, mine[0], answer)


async def _send_private(
    update: Update,
    context: Context,
    identity: Identity,
    rendered: Rendered,
    flow: Flow | None = None,
    step: str = "",
) -> bool:
    """Continue in the private chat; with `flow` (at step HELD), it waits at `step` only once
    its prompt was delivered."""
    if flow is not None:
        ok = await _deliver(context, identity.tg_user_id, rendered, flow, step)
    else:
        try:
            await send(context, identity.tg_user_id, rendered)
            ok = True
        except TelegramError as exc:  # never opened the bot, or blocked it
            log.info("could not continue privately with %s: %s", identity.tg_user_id, exc)
            ok = False
    if not ok and update.callback_query is not None:
        await _alert(update, context, "open_chat")
    return ok


async def _start_answer(
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
            await _refuse(context, identity, task, "task.answer", refusal.value)
        await _alert(update, context, refusal.value)
        return
    flow: Flow | None = None
    step = ""
    async with svc.db.transaction() as conn:
        current = await _answer_flow(conn, identity.tg_user_id)
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
            rendered = await _answer_card(conn, svc, replace(flow, step=step), task)
    if rendered is None or flow is None:
        await _alert(update, context, "in_progress")
        return
    if not await _send_private(update, context, identity, rendered, flow, step):
        return
    private = query.message is not None and query.message.chat.type == ChatType.PRIVATE
    if private:
        await query.answer()
    else:
        await _alert(update, context, "private")


async def _answer_flow(conn: Conn, user: int) -> Flow | None:
    cursor = await conn.execute(
        "SELECT id FROM task_flows WHERE tg_user_id = ? AND family = 'answer'", (user,)
    )
    row = await cursor.fetchone()
    await cursor.close()
    return await store.flow(conn, int(row[0])) if row else None


async def _answer_card(conn: Conn, svc: Services, flow: Flow, task: Task) -> Rendered:
    names = await store.department_names(conn)
    if flow.kind in ("decline", "cancel"):
        return svc.renderer.message(
            "tasks/ask_reason.j2",
            kind=flow.kind,
            task=task,
            department=flow.department_code,
            names=names,
        )
    department = flow.department_code or ""
    everything = [
        (code, name, _ref(f"tf:{flow.id}:i:", code))
        for code, name in await store.items_of(conn, department)
    ]
    options, page, pages = _page(everything, int(flow.data.get("page", 0)))
    return svc.renderer.message(
        "tasks/join.j2",
        step=flow.step,
        flow_id=flow.id,
        task=task,
        department=department,
        names=names,
        options=options,
        page=page,
        pages=pages,
        total=len(everything),
        inspectors=flow.data.get("inspectors"),
        chosen=flow.data.get("items", []),
        item_names=await store.item_names(conn, flow.data.get("items", [])),
    )


@button(Role.ADMIN, Role.LIAISON)
async def flow_button(update: Update, context: Context, identity: Identity) -> None:
    """tf:<flow>:i:<item> (toggle), pg (next page), id (items done), n:<count>, x (abandon);
    cy: cancel the task with the reason typed (the cancel flow's confirmation)."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    parts = query.data.split(":", 3)
    if len(parts) < 3 or not parts[1].isdigit():
        await query.answer()
        return
    action, arg = parts[2], parts[3] if len(parts) > 3 else ""
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, int(parts[1]))
        allowed = ("join", "cancel") if action in ("x", "cy") else ("join",)
        if flow is None or flow.tg_user_id != identity.tg_user_id or flow.kind not in allowed:
            flow = None
        elif action == "x":
            await store.drop_flow(conn, flow.id)
        elif action == "i" and flow.step == "items":
            chosen = list(flow.data.get("items", []))
            items = dict(await store.items_of(conn, flow.department_code or ""))
            code = _resolve(arg, [*chosen, *items])
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
            await _answer_card(conn, svc, flow, task)
            if flow and task and flow.kind == "join" and action not in ("x", "cy")
            else None
        )
    if flow is None or task is None:
        await _alert(update, context, "gone")
        return
    if action == "x":
        await query.answer()
        await _close_prompt(svc, identity.tg_user_id, flow.id)
        await _edit_in_place(update, svc.renderer.message("tasks/discarded.j2", kind=flow.kind))
        return
    if action == "cy":
        if flow.kind != "cancel" or flow.step != "confirm":
            await _alert(update, context, "gone")
        elif not _is_lead(identity, task):
            await _refuse(context, identity, task, "task.cancel", "not_lead")
            await _alert(update, context, "not_lead")
        else:
            await query.answer()
            await _cancel(update, context, identity, flow, str(flow.data.get("reason", "")))
        return
    if action == "n" and flow.step == "count":
        if not arg.isdigit() or not 1 <= int(arg) <= MAX_INSPECTORS:  # as typed input
            await _alert(update, context, "gone")
            return
        await query.answer()
        await _record(update, context, identity, flow, Answer.JOINED, inspectors=int(arg))
        return
    await query.answer()
    if card is not None:
        await _show_flow(context, identity.tg_user_id, flow, lambda: _edit_in_place(update, card))


async def _answer_text(
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
        await _record(update, context, identity, flow, Answer.JOINED, inspectors=int(text))
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
        await _confirm_cancel(update, context, identity, flow, text)
    else:
        await _record(update, context, identity, flow, Answer.DECLINED, reason=text)


async def _record(
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
            await _refresh(conn, svc, task)
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
            await _edit_in_place(update, text)
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
        await _edit_in_place(update, rendered)
    else:
        await send(context, chat_id, rendered)


# -- the lead: extend, proceed, cancel -------------------------------------------------------------


async def _extend(
    update: Update, context: Context, identity: Identity, task: Task, days: int, version: int
) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    now = _local_now(svc)
    if days not in _tunables(svc).extend_options:
        await _alert(update, context, "stale")
        return
    deadline = rules.extend_deadline(
        task.reply_deadline.astimezone(svc.settings.tz), now, work_calendar(svc), days
    )
    async with svc.db.transaction() as conn:
        ok = await store.extend(conn, task.id, version, deadline)
        if ok:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="task.extend",
                entity="task",
                entity_id=task.id,
                detail={
                    "from": clock.to_db(task.reply_deadline),
                    "to": clock.to_db(deadline),
                    "working_days": days,
                },
            )
            fresh = await store.load(conn, task.id)
            assert fresh is not None
            await engine.task_changed(conn, svc, task.id)
            # the card, and every private message: the escalations say it was extended and lose
            # their buttons; invitations and reminders show the new deadline
            await _refresh(conn, svc, fresh, closed=True)
            await _invite(
                conn,
                svc,
                fresh,
                fresh.pending,
                kind="extended",
                key=f"ext{fresh.deadline_version}",
            )
            await _note_calendar_gaps(conn, svc, [deadline.date()])
            done = svc.renderer.text(
                "tasks/done.j2",
                kind="extended",
                task=fresh,
                when=deadline.strftime("%Y-%m-%d %H:%M"),
            )
    if not ok:
        await _alert(update, context, "stale")
        return
    await query.answer(services(context).renderer.text("tasks/alert.j2", state="extended"))
    await send(context, identity.tg_user_id, Rendered(done))


async def _confirm(
    conn: Conn,
    svc: Services,
    task: Task,
    actor: int | None,
    *,
    not_before: datetime | None = None,
) -> Task | None:
    """邀请中 → 已确认: joint if at least one partner joined. None if it was not inviting."""
    joint = rules.is_joint(i.answer for i in task.invitations)
    rules.move(task.state, TaskState.CONFIRMED)
    if not await store.move(
        conn,
        task.id,
        TaskState.INVITING,
        TaskState.CONFIRMED,
        joint=int(joint),
        confirmed_at=clock.now_db(),
    ):
        return None
    await audit.record(
        conn,
        actor=actor,
        action="task.confirm",
        entity="task",
        entity_id=task.id,
        detail={
            "joint": joint,
            "from": task.state.value,
            "to": TaskState.CONFIRMED.value,
            "joined": [i.department_code for i in task.invitations if i.answer is Answer.JOINED],
            "unanswered": task.pending,
        },
    )
    fresh = await store.load(conn, task.id)
    assert fresh is not None
    await engine.task_changed(conn, svc, task.id)  # its result deadline is now planned
    await _refresh(conn, svc, fresh, closed=True)
    joined = [i.department_code for i in fresh.invitations if i.answer is Answer.JOINED]
    users = await store.liaisons(conn, [fresh.lead_department, *joined])
    told = {u for us in users.values() for u in us}
    await _notify(conn, svc, fresh, told, "confirmed", kind="confirmed", not_before=not_before)
    # the departments that declined or never answered are told too: confirmed without them
    left_out = [i for i in fresh.invitations if i.answer is not Answer.JOINED]
    theirs = await store.liaisons(conn, [i.department_code for i in left_out])
    for invitation in left_out:
        code = invitation.department_code
        await _notify(
            conn,
            svc,
            fresh,
            [u for u in theirs[code] if u not in told],
            f"confirmed_without:{code}",
            kind="confirmed_without",
            department=code,
            invitation=invitation,
            not_before=not_before,
        )
    return fresh


async def _proceed(update: Update, context: Context, identity: Identity, task: Task) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    async with svc.db.transaction() as conn:
        fresh = await store.load(conn, task.id)
        done = None
        if fresh is not None and fresh.state is TaskState.INVITING:
            done = await _confirm(conn, svc, fresh, identity.tg_user_id)
    if done is None:
        await _alert(update, context, "closed")
        return
    await query.answer(svc.renderer.text("tasks/alert.j2", state="confirmed"))
    await send(
        context,
        identity.tg_user_id,
        svc.renderer.message("tasks/done.j2", kind="confirmed", task=done),
    )


async def _ask_cancel_reason(
    update: Update, context: Context, identity: Identity, task: Task
) -> None:
    svc = services(context)
    if task.state not in rules.OPEN_STATES:
        await _alert(update, context, "closed")
        return
    async with svc.db.transaction() as conn:
        flow = await store.start_flow(
            conn, identity.tg_user_id, "answer", "cancel", HELD, task_id=task.id
        )
        rendered = await _answer_card(conn, svc, replace(flow, step="reason"), task)
    if await _send_private(update, context, identity, rendered, flow, "reason"):
        assert update.callback_query is not None
        await update.callback_query.answer()


async def _confirm_cancel(
    update: Update, context: Context, identity: Identity, flow: Flow, reason: str
) -> None:
    """The reason was typed: show it with 确认取消 / 放弃; nothing is cancelled before that."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        task = await store.load(conn, flow.task_id or 0)
        changed = await store.update_flow(conn, flow.id, "confirm", {**flow.data, "reason": reason})
    if task is None or changed is None:
        await send(
            context, identity.tg_user_id, svc.renderer.message("tasks/alert.j2", state="gone")
        )
        return
    rendered = svc.renderer.message(
        "tasks/confirm_cancel.j2", task=task, reason=reason, flow_id=changed.id
    )
    await send(context, identity.tg_user_id, rendered)


async def _cancel(
    update: Update, context: Context, identity: Identity, flow: Flow, reason: str
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        await store.drop_flow(conn, flow.id)
        task = await store.load(conn, flow.task_id or 0)
        fresh: Task | None = None
        starts: list[datetime] = []
        if task is not None and rules.can_move(task.state, TaskState.CANCELLED):
            if await store.move(
                conn,
                task.id,
                task.state,
                TaskState.CANCELLED,
                cancelled_at=clock.now_db(),
                cancelled_by=identity.tg_user_id,
                cancel_reason=reason,
            ):
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="task.cancel",
                    entity="task",
                    entity_id=task.id,
                    detail={"from": task.state.value, "to": "cancelled", "reason": reason},
                )
                fresh = await store.load(conn, task.id)
                assert fresh is not None
                await _refresh(conn, svc, fresh, closed=True)
                users = await store.liaisons(conn, fresh.departments)
                everyone = {u for us in users.values() for u in us} | {fresh.proposed_by}
                everyone.discard(identity.tg_user_id)
                sessions = await training.cancel_for_task(
                    conn,
                    svc,
                    fresh.id,
                    identity.tg_user_id,
                    frozenset(everyone | {identity.tg_user_id}),
                )
                starts = [t.starts_at.astimezone(svc.settings.tz) for t in sessions]
                await engine.task_changed(conn, svc, fresh.id)
                await _notify(
                    conn, svc, fresh, everyone, "cancelled", kind="cancelled", trainings=starts
                )
    rendered = (
        svc.renderer.message("tasks/alert.j2", state="closed")
        if fresh is None
        else svc.renderer.message("tasks/done.j2", kind="cancelled", task=fresh, trainings=starts)
    )
    if update.callback_query is not None:  # 确认取消 on the confirmation card
        await _edit_in_place(update, rendered)
    else:
        await send(context, identity.tg_user_id, rendered)


# -- typed input -----------------------------------------------------------------------------------


async def take_text(update: Update, context: Context, prompt: Prompt) -> bool:
    """The answer to a flow's typed question (industry, dates, notes, reason, count)."""
    message = update.effective_message
    if message is None or not message.text:
        return False
    svc = services(context)
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, int(prompt.target["flow"]))
    if flow is None or flow.tg_user_id != prompt.tg_user_id or flow.step != prompt.target["step"]:
        return False  # the flow moved on or is gone: not an answer to anything
    identity = await identify(update, context)
    if not (identity.has(Role.ADMIN) or identity.has(Role.LIAISON)):
        return False
    if flow.family == "propose":
        await _propose_text(update, context, flow, message.text, prompt)
    else:
        await _answer_text(update, context, identity, flow, message.text, prompt)
    return True


async def _drop_flow(conn: Conn, svc: Services, prompt: Prompt) -> None:
    """Its question was dropped unanswered (another command, /cancel, expiry): so is the flow."""
    await store.drop_flow(conn, int(prompt.target["flow"]))


async def _abandon(svc: Services, user: int) -> bool:
    """/cancel drops every task flow of the person (also those at a button step)."""
    async with svc.db.transaction() as conn:
        return await store.drop_flows(conn, user) > 0


# -- /tasks, /task ---------------------------------------------------------------------------------


@command("tasks")
async def tasks_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        found = await store.concerning(conn, identity.liaison_departments, identity.is_admin)
        names = await store.department_names(conn)
    rows = []
    for task in found:
        lead = _is_lead(identity, task)
        mine = (
            [code for code in identity.liaison_departments if code in task.pending]
            if task.state is TaskState.INVITING
            else []
        )
        decide = (
            lead
            and task.state is TaskState.INVITING
            and task.escalated_deadline == clock.to_db(task.reply_deadline)
        )
        rows.append({"task": task, "mine": mine, "decide": decide, "lead": lead})
    await reply(update, context, "tasks/list.j2", rows=rows, names=names, tz=svc.settings.tz)


@command("task")
async def task_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "tasks/usage.j2", problem="usage", given=given)
        return
    async with svc.db.transaction() as conn:
        task = await store.load(conn, int(given))
        concerned = task is not None and (
            identity.is_admin or bool(set(identity.liaison_departments) & set(task.departments))
        )
        if task is None or not concerned:
            view = None
        else:
            view = await _view(conn, svc, task)
            cursor = await conn.execute(
                "SELECT full_name FROM people WHERE tg_user_id = ?", (task.proposed_by,)
            )
            row = await cursor.fetchone()
            await cursor.close()
            view["proposer"] = row[0] if row else str(task.proposed_by)
            # Once drawn: what results are missing and from whom (the /results computation;
            # imported here because bot.features.results imports this module).
            from bot.features import results

            view["progress"] = await results.task_progress(conn, svc, task)
    if task is None or view is None:
        await reply(update, context, "tasks/usage.j2", problem="not_found", given=given)
        return
    mine = [
        code
        for code in identity.liaison_departments
        if task.invitation(code) is not None and task.state is TaskState.INVITING
    ]
    await reply(
        update,
        context,
        "tasks/detail.j2",
        **view,
        mine=mine,
        lead=_is_lead(identity, task),
        max_departments=MAX_PROGRESS_DEPARTMENTS,
    )


# -- reminders and escalation ----------------------------------------------------------------------


async def run_due(app: Application) -> None:
    """Send due reminders and escalations; confirm tasks everyone answered once the deadline
    passed. Safe to run any time and twice at once: every message is keyed in the database.
    One task that fails is logged and skipped; the others go on."""
    svc: Services = app.bot_data["services"]
    now = clock.now().astimezone(svc.settings.tz)
    quiet = _quiet(svc)
    # catching up in the quiet hours (a restart at 23:00): queue now, deliver when they end
    not_before = quiet.adjust(now) if quiet.is_quiet(now) else None
    async with svc.db.transaction() as conn:
        ids = await store.inviting_ids(conn)
    for task_id in ids:
        try:
            await _run_task(svc, task_id, now, not_before)
        except Exception:
            log.exception(
                "task %s: reminders/escalation failed; skipped until the next scan", task_id
            )


async def _run_task(
    svc: Services, task_id: int, now: datetime, not_before: datetime | None
) -> None:
    tz = svc.settings.tz
    t = _tunables(svc)
    quiet = _quiet(svc)
    async with svc.db.transaction() as conn:
        task = await store.load(conn, task_id)
        if task is None or task.state is not TaskState.INVITING:
            return
        deadline = task.reply_deadline.astimezone(tz)
        await _note_calendar_gaps(conn, svc, [deadline.date()])
        if task.pending and now < deadline:
            slots = rules.reminder_slots(
                deadline,
                task.deadline_set_at.astimezone(tz),
                work_calendar(svc),
                t.reminder_days_before,
                t.reminder_time,
                quiet,
            )
            due = [slot for slot in slots if slot <= now]
            if due:
                await _remind(conn, svc, task, due, not_before)
        if now >= rules.escalation_time(deadline, quiet):
            if not task.pending:
                await _confirm(conn, svc, task, None, not_before=not_before)
            elif await store.mark_escalated(conn, task):
                await _escalate(conn, svc, task, not_before)


async def _remind(
    conn: Conn,
    svc: Services,
    task: Task,
    due: Sequence[datetime],
    not_before: datetime | None = None,
) -> None:
    for department in task.pending:
        fresh = [await store.record_reminder(conn, task.id, department, slot) for slot in due]
        if not any(fresh):
            continue
        slot = clock.to_db(due[-1])
        await _invite(
            conn,
            svc,
            task,
            [department],
            kind="reminder",
            key=f"rem:{slot}",
            not_before=not_before,
        )
        await audit.record(
            conn,
            actor=None,
            action="task.remind",
            entity="task",
            entity_id=task.id,
            detail={"department": department, "slot": slot},
        )


async def _escalate(
    conn: Conn, svc: Services, task: Task, not_before: datetime | None = None
) -> None:
    view = await _view(conn, svc, task)
    message = store.TaskMessage(
        0, task.lead_department, MessageKind.ESCALATION, task.reply_deadline
    )
    rendered = _private_message(svc, view, task, message)
    lead = (await store.liaisons(conn, [task.lead_department]))[task.lead_department]
    users = sorted(set(lead) | set(await store.admins(conn, svc.settings.admins)))
    key = clock.to_db(task.reply_deadline)
    for uid in users:
        outbox_id = await outbox.enqueue(
            conn,
            uid,
            rendered,
            dedup_key=f"task:{task.id}:esc:{key}:{uid}",
            not_before=not_before,
        )
        # kept, so that extending or confirming the task rewrites it (bot.domain.tasks)
        await store.add_private_message(
            conn,
            task.id,
            outbox_id,
            task.lead_department,
            MessageKind.ESCALATION,
            task.reply_deadline,
        )
    await audit.record(
        conn,
        actor=None,
        action="task.escalate",
        entity="task",
        entity_id=task.id,
        detail={"unanswered": task.pending, "deadline": key, "told": users},
    )


async def _job(context: Context) -> None:
    try:
        await run_due(context.application)
    except Exception:
        log.exception("task reminders: scan failed; trying again at the next run")


# -- wiring ----------------------------------------------------------------------------------------


def register(app: Application) -> None:
    for kind in PROMPT_KINDS:
        conversation.register(kind, take_text, on_drop=_drop_flow)
    conversation.register_abandon(_abandon)
    app.add_handler(CommandHandler("newtask", newtask_command))
    app.add_handler(CommandHandler("tasks", tasks_command))
    app.add_handler(CommandHandler("task", task_command))
    app.add_handler(CallbackQueryHandler(_propose_dispatch, pattern=r"^nt:"))
    app.add_handler(CallbackQueryHandler(task_button, pattern=r"^tk:"))
    app.add_handler(CallbackQueryHandler(flow_button, pattern=r"^tf:"))


@button(Role.ADMIN, Role.LIAISON)
async def _default_deadline_button(update: Update, context: Context, identity: Identity) -> None:
    assert update.callback_query is not None and update.callback_query.data is not None
    await _default_deadline(
        update, context, identity, int(update.callback_query.data.split(":")[1])
    )


async def _propose_dispatch(update: Update, context: Context) -> None:
    data = update.callback_query.data if update.callback_query else None
    parts = (data or "").split(":")
    if len(parts) >= 3 and parts[2] == "dl" and parts[1].isdigit():
        await _default_deadline_button(update, context)
    else:
        await propose_button(update, context)


async def start(app: Application) -> None:
    """post_init: scan every `scan_seconds`, the first time right away."""
    if app.job_queue is None:
        log.warning("no job queue: task reminders and escalations will not run")
        return
    every = _tunables(app.bot_data["services"]).scan_seconds
    app.job_queue.run_repeating(_job, interval=every, first=0.5, name="task-reminders")
