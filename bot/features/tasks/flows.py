"""Flow cards and their typed questions: a card that asks for text opens the person's prompt
(bot.conversation) once delivered; a dropped prompt drops its flow; /cancel drops them all."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from telegram import Update
from telegram.error import TelegramError

from bot import conversation
from bot.domain.roles import Identity, Role
from bot.features.common import Context, identify, send
from bot.features.tasks.views import alert
from bot.render import Rendered
from bot.services import Services, services
from bot.store import tasks as store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Flow

log = logging.getLogger(__name__)


PROPOSE_TEXT_STEPS = ("industry", "window", "deadline", "notes")


PROMPT_KINDS = ("tasks.propose", "tasks.decline", "tasks.cancel", "tasks.count")


HELD = "held"  # a flow whose card is being sent: nothing acts on it yet


def question_of(flow: Flow) -> str | None:
    """The prompt kind a flow's card asks, if it asks for typed input at its step."""
    if flow.family == "propose":
        return "tasks.propose" if flow.step in PROPOSE_TEXT_STEPS else None
    if flow.step == "count":
        return "tasks.count"
    if flow.step == "reason":
        return "tasks.cancel" if flow.kind == "cancel" else "tasks.decline"
    return None


async def show_flow(
    context: Context, chat_id: int, flow: Flow, deliver: Callable[[], Awaitable[object]]
) -> bool:
    """Deliver a flow's card; if it asks a typed question, that is the person's prompt now
    (armed once delivered), otherwise a prompt of this flow is closed."""
    kind = question_of(flow)
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


async def deliver_card(
    context: Context, chat_id: int, rendered: Rendered, flow: Flow, step: str
) -> bool:
    """Send a new flow's first card (the flow was created at step HELD, so no button acts on
    it yet); if it could not be delivered, drop the flow: nobody is waiting for it."""
    db = services(context).db
    async with db.transaction() as conn:
        released = await store.release_flow(conn, flow.id, HELD, step)
    ok = released is not None and await show_flow(
        context, chat_id, released, lambda: send(context, chat_id, rendered)
    )
    if not ok:
        async with db.transaction() as conn:
            await store.drop_flow(conn, flow.id)
    return ok


async def close_prompt(svc: Services, user: int, flow_id: int) -> None:
    async with svc.db.transaction() as conn:
        await conversation.close(conn, user, *PROMPT_KINDS, about={"flow": flow_id})


async def send_private(
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
        ok = await deliver_card(context, identity.tg_user_id, rendered, flow, step)
    else:
        try:
            await send(context, identity.tg_user_id, rendered)
            ok = True
        except TelegramError as exc:  # never opened the bot, or blocked it
            log.info("could not continue privately with %s: %s", identity.tg_user_id, exc)
            ok = False
    if not ok and update.callback_query is not None:
        await alert(update, context, "open_chat")
    return ok


async def prompted_flow(
    update: Update, context: Context, prompt: Prompt
) -> tuple[Identity, Flow, str] | None:
    """The flow a typed answer is for, with who typed it and the text; None when it is not an
    answer to anything (no text, the flow moved on or is gone, not a liaison or an admin)."""
    message = update.effective_message
    if message is None or not message.text:
        return None
    svc = services(context)
    async with svc.db.transaction() as conn:
        flow = await store.flow(conn, int(prompt.target["flow"]))
    if flow is None or flow.tg_user_id != prompt.tg_user_id or flow.step != prompt.target["step"]:
        return None
    identity = await identify(update, context)
    if not (identity.has(Role.ADMIN) or identity.has(Role.LIAISON)):
        return None
    return identity, flow, message.text


async def drop_flow(conn: Conn, svc: Services, prompt: Prompt) -> None:
    """Its question was dropped unanswered (another command, /cancel, expiry): so is the flow."""
    await store.drop_flow(conn, int(prompt.target["flow"]))


async def abandon(svc: Services, user: int) -> bool:
    """/cancel drops every task flow of the person (also those at a button step)."""
    async with svc.db.transaction() as conn:
        return await store.drop_flows(conn, user) > 0
