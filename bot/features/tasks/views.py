"""Shared rendering and messages of the tasks feature: the view of a task, the card and every
private message rebuilt from the current state, invitations and notices through the outbox,
alerts, and the tunables the flows read."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from telegram import Message, Update
from telegram.error import BadRequest

from bot import clock, workcal
from bot.config import InvitationTunables
from bot.domain import tasks as rules
from bot.domain.roles import Identity
from bot.domain.tasks import MessageKind, QuietHours
from bot.domain.workdays import WorkCalendar
from bot.features.common import Context, edit_pressed
from bot.features.tasks.callbacks import ref
from bot.render import Rendered
from bot.replies import Queued
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import tasks as store
from bot.store.tasks import Conn, Flow, Task

log = logging.getLogger(__name__)


MAX_OPTIONS = 60  # buttons per page of items, departments (Telegram allows 100 buttons)


MAX_TEXT = 500  # a reason or a note


MAX_INSPECTORS = 50


def work_calendar(svc: Services) -> WorkCalendar:
    # The bot's one calendar (chinese-calendar, [calendar] in the TOML file, /holiday days).
    return workcal.calendar(svc)


def tunables(svc: Services) -> InvitationTunables:
    return svc.settings.tunables.invitations


def local_now(svc: Services) -> datetime:
    return clock.now().astimezone(svc.settings.tz)


def quiet_hours(svc: Services) -> QuietHours:
    t = tunables(svc)
    return QuietHours(t.quiet_start, t.quiet_end)


def page_of(options: Sequence[Any], page: int) -> tuple[list[Any], int, int]:
    """One page of `options` (MAX_OPTIONS each): the page's options, the page, the pages."""
    pages = max(1, -(-len(options) // MAX_OPTIONS))
    page = page % pages
    return list(options[page * MAX_OPTIONS : (page + 1) * MAX_OPTIONS]), page, pages


def is_lead(identity: Identity, task: Task) -> bool:
    return identity.is_admin or task.lead_department in identity.liaison_departments


# Alerts that refuse what was pressed (someone else's or a finished card, a role the presser
# lacks): each is written to the audit log, as every refusal is. The others only inform.
REFUSALS = frozenset({"gone", "stale", "closed", "not_invited", "not_lead", "too_late"})


async def alert(update: Update, context: Context, state: str) -> None:
    query = update.callback_query
    assert query is not None
    svc = services(context)
    if state in REFUSALS:
        async with svc.db.transaction() as conn:
            await audit.record(
                conn,
                actor=update.effective_user.id if update.effective_user else None,
                action=f"button.{(query.data or '').split(':')[0]}",
                outcome="refused",
                detail={"reason": state, "data": query.data},
            )
    await query.answer(svc.renderer.text("tasks/alert.j2", state=state), show_alert=True)


async def edit_in_place(
    update: Update, context: Context, rendered: Rendered
) -> Message | Queued | None:
    """Edit the pressed card; returns it (a question's message, for bot.conversation), or
    `Queued` when the edit had to wait and went through the outbox (bot.replies)."""
    query = update.callback_query
    assert query is not None
    try:
        queued = await edit_pressed(update, context, rendered)
    except BadRequest as exc:
        if "not modified" not in exc.message.lower():
            raise
        queued = None
    if queued is not None:
        return queued
    return query.message if isinstance(query.message, Message) else None


async def task_view(conn: Conn, svc: Services, task: Task) -> dict[str, Any]:
    codes = list(task.lead_items)
    for inv in task.invitations:
        codes.extend(inv.items)
    return dict(
        task=task,
        names=await store.department_names(conn),
        item_names=await store.item_names(conn, codes),
        tz=svc.settings.tz,
        ref=ref,
        # each department's answer as shown now (待回复 / 未答复（按不参加处理）…)
        answers={
            inv.department_code: rules.answer_status(task.state, inv.answer).value
            for inv in task.invitations
        },
    )


async def refresh(conn: Conn, svc: Services, task: Task, *, closed: bool = False) -> None:
    """Queue the card's new text (collapsing edits not sent yet); on closing (and after an
    extension, `closed` too: the deadline they show changed), rewrite every private message of
    the task from its current state as well."""
    view = await task_view(conn, svc, task)
    if task.card_outbox_id is not None:
        card = svc.renderer.message("tasks/card.j2", **view)
        await outbox.replace_pending_edit(conn, task.card_outbox_id, card)
    if closed:
        for message in await store.private_messages(conn, task.id):
            rendered = private_message(svc, view, task, message)
            await outbox.replace_pending_edit(conn, message.outbox_id, rendered)


def private_message(
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
            extend_options=tunables(svc).extend_options,
        )
    return svc.renderer.message(
        "tasks/invitation.j2",
        **view,
        kind=message.kind.value,
        department=message.department_code,
        status=status.value,
    )


async def invite(
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
    view = await task_view(conn, svc, task)
    found = await store.liaisons(conn, departments)
    skipped = set(skip)
    for code, users in found.items():
        message = store.TaskMessage(0, code, MessageKind(kind), None)
        rendered = private_message(svc, view, task, message)
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


async def notify(
    conn: Conn,
    svc: Services,
    task: Task,
    users: Iterable[int],
    key: str,
    *,
    not_before: datetime | None = None,
    **extra: Any,
) -> None:
    view = await task_view(conn, svc, task)
    rendered = svc.renderer.message("tasks/notice.j2", **view, **extra)
    for uid in sorted(set(users)):
        await outbox.enqueue(
            conn, uid, rendered, dedup_key=f"task:{task.id}:{key}:{uid}", not_before=not_before
        )


async def note_calendar_gaps(conn: Conn, svc: Services, days: Iterable[date]) -> None:
    """A year the PRC calendar has no data for: tell the administrators, once (bot.workcal)."""
    await workcal.note_gaps(conn, svc, days)


async def refuse_task(
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


async def answer_card(conn: Conn, svc: Services, flow: Flow, task: Task) -> Rendered:
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
        (code, name, ref(f"tf:{flow.id}:i:", code))
        for code, name in await store.items_of(conn, department)
    ]
    options, page, pages = page_of(everything, int(flow.data.get("page", 0)))
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
