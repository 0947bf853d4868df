"""/broadcast: an administrator sends one message or file to many people through the outbox.

The flow (audience → content → preview and count → now or later) keeps its state in the
`broadcasts` table: a restart in the middle loses nothing, and buttons on old cards keep working.
The administrator's next message is taken as the content or the send time only while a prompt
of bot.conversation asks for it (kinds broadcast.content, broadcast.time), opened whenever the
card shown asks that question.

While a broadcast runs, a monitor task updates its progress message (an outbox edit, at most
one every `broadcast_progress_seconds`), starts scheduled broadcasts when they fall due, and
queues the delivery report when nothing is left to send.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
)

from bot import clock, conversation, leader
from bot.callbacks import Pressed
from bot.domain import audience as audience_rules
from bot.domain import schedule
from bot.domain.audience import AudienceKind, Recipient
from bot.domain.delivery import Reason
from bot.domain.roles import Identity, Role
from bot.features.common import (
    Context,
    command,
    edit,
    edit_pressed,
    identify,
    pressed,
    reply,
    send,
)
from bot.outbox import Sender
from bot.render import MAX_CALLBACK_BYTES, Rendered
from bot.replies import Queued
from bot.services import Services, services
from bot.store import broadcasts
from bot.store import outbox as outbox_store
from bot.store.broadcasts import Broadcast, Progress
from bot.store.prompts import Conn, Prompt

log = logging.getLogger(__name__)

_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
# Names listed per reason in a delivery report; with more, the full list comes as a CSV file.
REPORT_NAMES_SHOWN = 30
_SINGLE_AUDIENCES = {k.value: k for k in AudienceKind if k is not AudienceKind.DEPARTMENTS}


# -- rendering the draft card ----------------------------------------------------------------


async def _names(svc: Services) -> dict[str, str]:
    return dict(await broadcasts.departments(svc.db))


async def _recipients(svc: Services, draft: Broadcast) -> list[Recipient]:
    if draft.audience is None:
        return []
    roster = await broadcasts.roster(svc.db, svc.settings.admins)
    found = audience_rules.resolve(draft.audience, draft.departments, roster)
    blocked = await broadcasts.unreachable_ids(
        svc.db, [x.chat_id for x in found if x.chat_id is not None and x.chat_id > 0]
    )
    return audience_rules.without_blocked(found, blocked)


async def _card(svc: Services, draft: Broadcast) -> Rendered:
    """The draft's card for the step it is at."""
    names = await _names(svc)
    base: dict[str, Any] = dict(
        id=draft.id,
        audience=draft.audience.value if draft.audience else None,
        departments=draft.departments,
        names=names,
    )
    r = svc.renderer
    if draft.picking_departments:
        listed = [
            (code, name)
            for code, name in await broadcasts.departments(svc.db)
            if len(f"bc:{draft.id}:t:{code}".encode()) <= MAX_CALLBACK_BYTES
        ]
        return r.message(
            "broadcast/pick_departments.j2",
            id=draft.id,
            departments=listed,
            chosen=draft.departments,
            names=names,
        )
    if draft.audience is None:
        return r.message("broadcast/pick_audience.j2", id=draft.id, has_content=draft.has_content)
    if draft.awaiting == "content" or not draft.has_content:
        return r.message("broadcast/ask_content.j2", **base)
    if draft.awaiting == "time":
        return r.message("broadcast/ask_time.j2", id=draft.id)
    recipients = await _recipients(svc, draft)
    deliverable = audience_rules.deliverable(recipients)
    return r.message(
        "broadcast/confirm.j2",
        **base,
        file_name=draft.file_name,
        reachable=len(deliverable),
        blocked=[x for x in recipients if x.skipped is Reason.BLOCKED],
        never_opened=[x for x in recipients if x.chat_id is None],
        group_title=deliverable[0].name if deliverable else "",
    )


def _question(draft: Broadcast) -> str | None:
    """The typed answer the card of `draft` asks for (the same decisions as `_card`)."""
    if draft.picking_departments or draft.audience is None:
        return None
    if draft.awaiting == "content" or not draft.has_content:
        return "broadcast.content"
    if draft.awaiting == "time":
        return "broadcast.time"
    return None


async def _show(update: Update, context: Context, draft: Broadcast, *, in_place: bool) -> None:
    svc = services(context)
    rendered = await _card(svc, draft)
    chat = update.effective_chat
    assert chat is not None

    async def deliver() -> object:
        if in_place and update.callback_query is not None:
            queued = await _edit_rendered(update, context, rendered)
            return queued if queued is not None else update.callback_query.message
        return await send(context, chat.id, rendered)

    question = _question(draft)
    if question is not None:
        await conversation.ask(
            context, draft.created_by, chat.id, question, {"broadcast": draft.id}, deliver
        )
        return
    async with svc.db.transaction() as conn:
        await conversation.close(conn, draft.created_by, "broadcast.content", "broadcast.time")
    await deliver()


async def _edit_rendered(update: Update, context: Context, rendered: Rendered) -> Queued | None:
    """Edit the pressed card (through the outbox when it would wait: `Queued`, bot.replies)."""
    try:
        return await edit_pressed(update, context, rendered)
    except BadRequest as exc:  # a button on an old card that leads to the same card
        if "not modified" not in exc.message.lower():
            raise
    return None


async def _preview(context: Context, chat_id: int, draft: Broadcast) -> None:
    """Show the administrator exactly what recipients will get."""
    svc = services(context)
    if draft.blob_id is not None:
        data, file_id = await outbox_store.blob(svc.db, draft.blob_id)
        await context.bot.send_document(
            chat_id,
            document=file_id or data,
            filename=draft.file_name,
            caption=draft.text_html or None,
            parse_mode=ParseMode.HTML if draft.text_html else None,
        )
    elif draft.text_html:
        await send(context, chat_id, Rendered(draft.text_html, []))


# -- /broadcast --------------------------------------------------------------------------------


@command("broadcast")
async def broadcast_command(update: Update, context: Context, identity: Identity) -> None:
    """Start a draft, or show the one in progress where it was left."""
    svc = services(context)
    chat = update.effective_chat
    assert chat is not None
    draft, created = await broadcasts.open_draft(svc.db, identity.tg_user_id, chat.id)
    if not created and draft.has_content and draft.awaiting is None and draft.audience:
        await _preview(context, chat.id, draft)
    await _show(update, context, draft, in_place=False)


@pressed("bc", Role.ADMIN, parts=2)
async def broadcast_button(
    update: Update, context: Context, identity: Identity, cb: Pressed
) -> None:
    """bc:<id>:<action>[:<argument>] on a draft card, a progress message or a schedule card."""
    query = update.callback_query
    assert query is not None and query.data is not None
    svc = services(context)
    broadcast_id, action, argument = cb.number(0), cb.text(1), cb.rest(2)

    if action == "re":
        await _resend(update, context, identity, broadcast_id)
        return

    if action in ("stop", "uns"):
        before = await broadcasts.cancel(svc.db, broadcast_id, identity.tg_user_id)
        if before is None:
            await _alert(update, context, "gone")
            return
        await _alert(update, context, "stopped" if before == "running" else "unscheduled")
        if before == "scheduled":
            await edit(update, context, "broadcast/unscheduled.j2")
        return

    draft = await broadcasts.get(svc.db, broadcast_id)
    if draft is None or draft.status != "draft" or draft.created_by != identity.tg_user_id:
        await _alert(update, context, "gone")
        return
    await _draft_action(update, context, identity, draft, action, argument)


async def _resend(update: Update, context: Context, identity: Identity, broadcast_id: int) -> None:
    """重发给未送达的人 on a delivery report: queue the failed copies again (any administrator;
    the button handler has checked the role). A second press queues nothing more."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    queued = await broadcasts.resend_failed(svc.db, broadcast_id, identity.tg_user_id)
    text = svc.renderer.text("broadcast/resend_alert.j2", queued=queued)
    await query.answer(text, show_alert=not queued)
    if queued:
        with contextlib.suppress(BadRequest):  # the report keeps its text, loses the button
            await query.edit_message_reply_markup(reply_markup=None)


async def _alert(update: Update, context: Context, state: str) -> None:
    query = update.callback_query
    assert query is not None
    text = services(context).renderer.text("broadcast/stale_alert.j2", state=state)
    await query.answer(text, show_alert=state not in ("stopped", "unscheduled"))


async def _draft_action(
    update: Update,
    context: Context,
    identity: Identity,
    draft: Broadcast,
    action: str,
    argument: str,
) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    changed: Broadcast | None = draft
    if action == "a" and argument in _SINGLE_AUDIENCES:
        changed = await broadcasts.update_draft(
            svc.db,
            draft.id,
            audience=argument,
            departments=[],
            picking_departments=0,
            awaiting=None if draft.has_content else "content",
        )
    elif action == "d":
        changed = await broadcasts.update_draft(
            svc.db,
            draft.id,
            audience=AudienceKind.DEPARTMENTS.value,
            picking_departments=1,
            awaiting=None,
            departments=draft.departments if draft.audience is AudienceKind.DEPARTMENTS else [],
        )
    elif action == "t":
        chosen = list(draft.departments)
        if argument in chosen:
            chosen.remove(argument)
        elif argument in dict(await broadcasts.departments(svc.db)):
            chosen.append(argument)
        changed = await broadcasts.update_draft(svc.db, draft.id, departments=chosen)
    elif action == "dd":
        if not draft.departments:
            await _alert(update, context, "no_departments")
            return
        changed = await broadcasts.update_draft(
            svc.db,
            draft.id,
            picking_departments=0,
            awaiting=None if draft.has_content else "content",
        )
    elif action == "aud":
        changed = await broadcasts.update_draft(
            svc.db, draft.id, audience=None, departments=[], picking_departments=0, awaiting=None
        )
    elif action == "txt":
        changed = await broadcasts.update_draft(svc.db, draft.id, awaiting="content")
    elif action == "sch":
        if not draft.has_content:
            await _alert(update, context, "no_content")
            return
        changed = await broadcasts.update_draft(svc.db, draft.id, awaiting="time")
    elif action == "back":
        changed = await broadcasts.update_draft(svc.db, draft.id, awaiting=None)
    elif action == "x":
        await broadcasts.discard_draft(svc.db, identity.tg_user_id)
        async with svc.db.transaction() as conn:
            await conversation.close(
                conn, identity.tg_user_id, "broadcast.content", "broadcast.time"
            )
        await query.answer()
        await edit(update, context, "broadcast/discarded.j2")
        return
    elif action == "go":
        await _start_now(update, context, identity, draft)
        return
    if changed is None:
        await _alert(update, context, "gone")
        return
    await query.answer()
    await _show(update, context, changed, in_place=True)


async def _start_now(
    update: Update, context: Context, identity: Identity, draft: Broadcast
) -> None:
    svc = services(context)
    query = update.callback_query
    assert query is not None
    if not draft.has_content or draft.audience is None:
        await _alert(update, context, "no_content")
        return
    recipients = await _recipients(svc, draft)
    if not audience_rules.deliverable(recipients):
        await _alert(update, context, "no_recipients")
        return
    queued = len(audience_rules.deliverable(recipients))
    skipped = len(recipients) - queued
    progress = await _progress_message(svc, draft, Progress(queued, 0, 0, 0, skipped), "running")
    if not await broadcasts.start(svc.db, draft, recipients, progress, identity.tg_user_id):
        await _alert(update, context, "gone")
        return
    await query.answer()
    await edit(update, context, "broadcast/started.j2")


# -- the administrator's next message: content or send time --------------------------------------


async def _answer(update: Update, context: Context, prompt: Prompt) -> bool:
    """The content or send time a draft's card asked for."""
    svc = services(context)
    identity = await identify(update, context)
    draft = await broadcasts.get(svc.db, int(prompt.target["broadcast"]))
    if not identity.has(Role.ADMIN) or draft is None or draft.status != "draft":
        return False
    if prompt.kind == "broadcast.time":
        await _take_time(update, context, identity, draft, prompt)
    else:
        await _take_content(update, context, draft, prompt)
    return True


async def _stop_awaiting(conn: Conn, svc: Services, prompt: Prompt) -> None:
    # Only the question this prompt asked: switching between content and time on one draft
    # must not erase the one just asked.
    asked = "time" if prompt.kind == "broadcast.time" else "content"
    await broadcasts.stop_awaiting(conn, int(prompt.target["broadcast"]), asked)


async def _take_content(update: Update, context: Context, draft: Broadcast, prompt: Prompt) -> None:
    svc = services(context)
    message = update.effective_message
    chat = update.effective_chat
    assert message is not None and chat is not None
    changed: Broadcast | None
    if message.document is not None:
        document = message.document
        name = document.file_name or "file"
        limit_mb = svc.settings.tunables.max_import_mb
        if document.file_size is not None and document.file_size > limit_mb * 1024 * 1024:
            await reply(
                update,
                context,
                "broadcast/too_large.j2",
                name=name,
                size=document.file_size,
                limit_mb=limit_mb,
            )
            await conversation.again(context, prompt)
            return
        try:
            telegram_file = await context.bot.get_file(document.file_id)
            data = bytes(await telegram_file.download_as_bytearray())
        except TelegramError as exc:
            log.warning("broadcast attachment %s not downloaded: %s", name, exc)
            await reply(update, context, "broadcast/download_failed.j2", name=name)
            await conversation.again(context, prompt)
            return
        changed = await broadcasts.set_document(
            svc.db, draft.id, data, document.file_id, name, message.caption_html or ""
        )
    elif message.text and not message.text.startswith("/"):
        changed = await broadcasts.update_draft(
            svc.db,
            draft.id,
            text_html=message.text_html,
            blob_id=None,
            file_name=None,
            awaiting=None,
        )
    else:
        await reply(update, context, "broadcast/unsupported_content.j2")
        await conversation.again(context, prompt)
        return
    if changed is None:
        return
    await _preview(context, chat.id, changed)
    await _show(update, context, changed, in_place=False)


async def _take_time(
    update: Update, context: Context, identity: Identity, draft: Broadcast, prompt: Prompt
) -> None:
    svc = services(context)
    message = update.effective_message
    assert message is not None
    now = clock.now().astimezone(svc.settings.tz)
    when = schedule.parse_when(message.text or "", now)
    problem = schedule.check_when(when, now)
    if problem is not None or when is None:
        await reply(
            update,
            context,
            "broadcast/time_problem.j2",
            problem=problem.value if problem else "unreadable",
            when=when,
        )
        await conversation.again(context, prompt)
        return
    scheduled = await broadcasts.schedule(svc.db, draft.id, when, identity.tg_user_id)
    if scheduled is None:
        return
    await reply(
        update,
        context,
        "broadcast/scheduled.j2",
        id=draft.id,
        when=when,
        audience=draft.audience.value if draft.audience else None,
        departments=draft.departments,
        names=await _names(svc),
    )


async def _abandon(svc: Services, user: int) -> bool:
    """/cancel also drops a broadcast draft."""
    return await broadcasts.discard_draft(svc.db, user)


# -- progress, scheduled starts and the delivery report ------------------------------------


async def _progress_message(svc: Services, b: Broadcast, p: Progress, state: str) -> Rendered:
    return svc.renderer.message(
        "broadcast/progress.j2",
        id=b.id,
        p=p,
        state=state,
        audience=b.audience.value if b.audience else None,
        departments=b.departments,
        names=await _names(svc),
        scheduled=b.scheduled_at is not None,
        at=clock.now().astimezone(svc.settings.tz),
    )


async def _report(
    svc: Services, b: Broadcast, p: Progress
) -> tuple[Rendered, tuple[str, bytes, str] | None]:
    missed = await broadcasts.undelivered(svc.db, b.id)
    groups: dict[str, list[broadcasts.Undelivered]] = defaultdict(list)
    for item in missed:
        groups[item.reason].append(item)
    names = await _names(svc)
    attach = any(len(people) > REPORT_NAMES_SHOWN for people in groups.values())
    tz = svc.settings.tz
    report = svc.renderer.message(
        "broadcast/report.j2",
        id=b.id,
        p=p,
        groups=sorted(groups.items()),
        reasons=set(groups),
        shown=REPORT_NAMES_SHOWN,
        attached=attach,
        names=names,
        audience=b.audience.value if b.audience else None,
        departments=b.departments,
        started=(b.started_at or clock.now()).astimezone(tz),
        finished=clock.now().astimezone(tz),
        cancelled=b.status == "cancelled",
        resendable=sum(1 for item in missed if item.resendable),
        round=b.rounds,
    )
    if not attach:
        return report, None
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(svc.renderer.lines("broadcast/report_file.j2"))
    for item in missed:
        writer.writerow(
            [
                item.name,
                names.get(item.department_code or "", item.department_code or ""),
                svc.renderer.text("outbox/reason.j2", reason=item.reason),
                item.detail or "",
            ]
        )
    file_name = svc.renderer.text("broadcast/report_file_name.j2", id=b.id)
    caption = svc.renderer.text("broadcast/report_file_caption.j2", id=b.id)
    # utf-8-sig: Excel on Chinese Windows opens it without garbling the names.
    return report, (file_name, buffer.getvalue().encode("utf-8-sig"), caption)


class Monitor:
    """Starts scheduled broadcasts, updates progress messages, queues delivery reports."""

    def __init__(
        self, svc: Services, sender: Sender | None, leads: Callable[[], bool] = lambda: True
    ) -> None:
        self.svc = svc
        self.sender = sender
        self.leads = leads  # several instances: only the leader's monitor works (bot.leader)
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._shown: dict[int, tuple[float, Progress]] = {}

    async def start(self) -> None:
        self._stopping = False
        if self.sender is not None:
            self.sender.watch(self._event.set)
        self._task = asyncio.create_task(self._run(), name="broadcast-monitor")

    async def stop(self) -> None:
        if self.sender is not None:
            self.sender.unwatch(self._event.set)
        if self._task is None:
            return
        self._stopping = True
        self._event.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        poll = self.svc.settings.tunables.outbox.poll_seconds
        while not self._stopping:
            self._event.clear()
            try:
                if self.leads():
                    await self.tick()
            except Exception:
                log.exception("broadcast monitor failed; trying again shortly")
            # At most a few passes a second, however busy the sender is.
            await asyncio.sleep(min(0.2, poll))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), poll)

    async def tick(self) -> None:
        svc = self.svc
        for due in await broadcasts.due_scheduled(svc.db):
            await self._start_scheduled(due)
        loop = asyncio.get_running_loop()
        every = svc.settings.tunables.outbox.broadcast_progress_seconds
        for b in await broadcasts.unfinished(svc.db):
            p = await broadcasts.progress(svc.db, b.id)
            if p.remaining <= 0:
                # Read it again: a stop pressed meanwhile is why nothing remains.
                b = await broadcasts.get(svc.db, b.id) or b
                state = "cancelled" if b.status == "cancelled" else "done"
                final = await _progress_message(svc, b, p, state)
                report, attachment = await _report(svc, b, p)
                if await broadcasts.finish(svc.db, b, final, report, attachment):
                    log.info("broadcast %s finished: %s", b.id, p)
                self._shown.pop(b.id, None)
                continue
            last = self._shown.get(b.id)
            now = loop.time()
            if last is None:
                self._shown[b.id] = (now, p)  # the first text was queued with the broadcast
            elif last[1] != p and now - last[0] >= every:
                await broadcasts.update_progress(
                    svc.db, b, await _progress_message(svc, b, p, "running")
                )
                self._shown[b.id] = (now, p)

    async def _start_scheduled(self, b: Broadcast) -> None:
        svc = self.svc
        recipients = await _recipients(svc, b)
        queued = len(audience_rules.deliverable(recipients))
        progress = await _progress_message(
            svc, b, Progress(queued, 0, 0, 0, len(recipients) - queued), "running"
        )
        if await broadcasts.start(svc.db, b, recipients, progress, None):
            log.info("scheduled broadcast %s started: %d recipient(s)", b.id, queued)


# -- wiring ----------------------------------------------------------------------------------------


def register(app: Application) -> None:
    accepts = (conversation.TEXT, conversation.DOCUMENT, conversation.OTHER)
    conversation.register("broadcast.content", _answer, accepts=accepts, on_drop=_stop_awaiting)
    conversation.register("broadcast.time", _answer, on_drop=_stop_awaiting)
    conversation.register_abandon(_abandon)
    app.add_handler(CommandHandler("broadcast", broadcast_command))
    app.add_handler(CallbackQueryHandler(broadcast_button, pattern=r"^bc:"))


async def start(app: Application) -> None:
    """post_init: run the monitor (after the outbox sender is up)."""
    sender = app.bot_data.get("outbox")
    monitor = Monitor(
        services_of(app),
        sender if isinstance(sender, Sender) else None,
        lambda: leader.leads(app),
    )
    app.bot_data["broadcast_monitor"] = monitor
    await monitor.start()


async def stop(app: Application) -> None:
    monitor = app.bot_data.pop("broadcast_monitor", None)
    if isinstance(monitor, Monitor):
        await monitor.stop()


def services_of(app: Application) -> Services:
    found = app.bot_data["services"]
    assert isinstance(found, Services)
    return found
