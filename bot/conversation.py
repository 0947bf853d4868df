"""One conversation service for typed input.

A prompt is the one question a person owes the bot an answer to (a row in `prompts`). The rule,
the same for every feature:
- at most one prompt per person; asking a new question drops the old one, and the person is told
  which question was dropped;
- any command other than the one that asks, /cancel, or the prompt's expiry drops it;
- a prompt takes input only once its question was delivered (it is *armed* after the send);
- one capture handler (group CAPTURE_GROUP, before every feature) dispatches a message to the
  prompt's kind, which a feature registered with `register`.

Features keep their own state (a /newtask draft, a broadcast draft); a kind's `on_drop` tidies
that state when its prompt is dropped unanswered. A kind whose question is a card (a /newtask
draft, a join or reason card) registers `retire` too: the card as it reads now, which the
dropped question's message is rewritten to, under a "已作废" line saying why and without
buttons (templates/zh/conversation/retired.j2); other questions only lose their buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationHandlerStop, MessageHandler, filters

from bot import clock
from bot.features.common import Context, edit_message, reply, reply_limits, send
from bot.render import Rendered
from bot.replies import MustWait, Queued
from bot.services import Services, services
from bot.store import outbox
from bot.store import prompts as store
from bot.store.prompts import Conn, Prompt

log = logging.getLogger(__name__)

# Runs before every feature's handlers (they use group 0 and later).
CAPTURE_GROUP = -10

TEXT = "text"
DOCUMENT = "document"
OTHER = "other"  # a photo, a sticker…

Handle = Callable[[Update, Context, Prompt], Awaitable[bool]]
OnDrop = Callable[[Conn, Services, Prompt], Awaitable[None]]
# The question's card as it reads now (read before on_drop tidies its state), or None.
Retire = Callable[[Conn, Services, Prompt], Awaitable[Rendered | None]]
Abandon = Callable[[Services, int], Awaitable[bool]]


@dataclass(frozen=True)
class Kind:
    """A kind of question: what answer it accepts and who takes it.

    `handle` returns False when the message is not an answer after all (e.g. a directory upload
    while a platform file is asked for): the prompt is dropped and the message goes on to the
    features."""

    name: str
    accepts: frozenset[str]
    handle: Handle
    on_drop: OnDrop | None = None
    retire: Retire | None = None


_KINDS: dict[str, Kind] = {}
# Wizard state that is not a prompt (a draft at a button step): /cancel abandons it too.
_ABANDON: list[Abandon] = []


def register(
    name: str,
    handle: Handle,
    *,
    accepts: tuple[str, ...] = (TEXT,),
    on_drop: OnDrop | None = None,
    retire: Retire | None = None,
) -> None:
    _KINDS[name] = Kind(name, frozenset(accepts), handle, on_drop, retire)


def register_abandon(abandon: Abandon) -> None:
    if abandon not in _ABANDON:
        _ABANDON.append(abandon)


def ttl(svc: Services) -> timedelta:
    return timedelta(minutes=svc.settings.tunables.prompt_minutes)


# -- asking ------------------------------------------------------------------------------------


async def ask(
    context: Context,
    user: int,
    chat: int,
    kind: str,
    target: dict[str, Any],
    send: Callable[[], Awaitable[object]],
) -> bool:
    """Ask `user` a question in `chat`: the prompt is opened, the question sent by `send`, and
    only then armed. If the question could not be delivered, nobody waits for an answer. A
    question that went through the outbox (`Queued`, bot.replies) arms its prompt when the
    outbox delivers it."""
    svc = services(context)
    assert kind in _KINDS, f"prompt kind {kind} not registered"
    retired: Rendered | None = None
    async with svc.db.transaction() as conn:
        prompt, before = await store.open_(conn, user, chat, kind, target, ttl(svc))
        if before is not None and not before.same_question(prompt):
            retired = await _on_drop(conn, svc, before)
        else:
            before = None
    if before is not None:
        await _tell_dropped(context, before, "replaced", retired)
    try:
        sent = await send()
    except TelegramError as exc:
        log.info("prompt %s (%s) not delivered to %s: %s", prompt.id, kind, chat, exc)
        async with svc.db.transaction() as conn:
            await store.take(conn, prompt.id)
        return False
    async with svc.db.transaction() as conn:
        if isinstance(sent, Queued):  # the question had to wait: armed once it is delivered
            return await store.queued(conn, prompt.id, sent.outbox_id)
        return await store.arm(conn, prompt.id, _message_id(sent))


def _message_id(sent: object) -> int | None:
    """The question's message, from what `send` returned (a message, a list, or nothing)."""
    if isinstance(sent, list) and sent:
        sent = sent[-1]
    return sent.message_id if isinstance(sent, Message) else None


async def again(context: Context, prompt: Prompt) -> None:
    """The answer could not be used (a malformed date, a file too large): the same question
    stays open, with a fresh expiry, for the corrected answer (its hint was just sent) — unless
    a newer question was asked meanwhile."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        if await store.of(conn, prompt.tg_user_id) is not None:
            return
        fresh, _ = await store.open_(
            conn,
            prompt.tg_user_id,
            prompt.chat_id,
            prompt.kind,
            prompt.target,
            ttl(svc),
            prompt.message_id,
        )
        await store.arm(conn, fresh.id)


async def close(
    conn: Conn, user: int, *kinds: str, about: dict[str, Any] | None = None
) -> Prompt | None:
    """The flow moved on without typed input (a button answered the question): no notice.
    With `about`, only a prompt whose target has those values is closed."""
    found = await store.of(conn, user)
    if found is None or (kinds and found.kind not in kinds):
        return None
    if about and any(found.target.get(k) != v for k, v in about.items()):
        return None
    await store.take(conn, found.id)
    return found


async def drop(context: Context, user: int, *kinds: str, why: str = "replaced") -> bool:
    """Drop the person's prompt (of these kinds) unanswered, tidy its feature state, tell them."""
    svc = services(context)
    retired: Rendered | None = None
    async with svc.db.transaction() as conn:
        found = await store.drop(conn, user, tuple(kinds))
        if found is not None:
            retired = await _on_drop(conn, svc, found)
    if found is not None:
        await _tell_dropped(context, found, why, retired)
    return found is not None


async def pending(svc: Services, user: int) -> Prompt | None:
    async with svc.db.transaction() as conn:
        return await store.of(conn, user)


async def _on_drop(conn: Conn, svc: Services, prompt: Prompt) -> Rendered | None:
    """Tidy the dropped prompt's feature state; returns its card as it read (`retire`). A
    question still queued in the outbox (diverted) is not sent any more."""
    kind = _KINDS.get(prompt.kind)
    retired = None
    if kind is not None and kind.retire is not None and prompt.armed:
        retired = await kind.retire(conn, svc, prompt)
    if prompt.outbox_id is not None and not prompt.armed:
        await outbox.cancel(conn, [prompt.outbox_id])
    if kind is not None and kind.on_drop is not None:
        await kind.on_drop(conn, svc, prompt)
    return retired


async def _retire_question(
    context: Context, prompt: Prompt, why: str = "cancel", retired: Rendered | None = None
) -> None:
    """Nothing on the dropped question's message acts any more: a card (`retired`) is rewritten
    to say it was dropped and why, without buttons; another question loses its buttons."""
    if prompt.message_id is None:
        return
    try:
        if retired is not None:
            svc = services(context)
            text = svc.renderer.text("conversation/retired.j2", why=why, card=retired.text)
            await edit_message(context, prompt.chat_id, prompt.message_id, Rendered(text, []))
        else:
            await context.bot.edit_message_reply_markup(
                prompt.chat_id, prompt.message_id, **reply_limits(context)
            )
    except (TelegramError, MustWait) as exc:  # no buttons, too old, deleted, or a 429
        log.debug("question %s of prompt %s kept as it was: %s", prompt.message_id, prompt.id, exc)


async def _tell_dropped(
    context: Context, prompt: Prompt, why: str, retired: Rendered | None = None
) -> None:
    if not prompt.armed:
        return  # its question never arrived: nothing to take back
    await _retire_question(context, prompt, why, retired)
    svc = services(context)
    rendered = svc.renderer.message(
        "conversation/dropped.j2",
        kind=prompt.kind,
        why=why,
        minutes=svc.settings.tunables.prompt_minutes,
    )
    try:
        await send(context, prompt.chat_id, rendered)
    except TelegramError as exc:
        log.info("could not tell %s that prompt %s was dropped: %s", prompt.chat_id, prompt.id, exc)


# -- the handlers ------------------------------------------------------------------------------


def _content(update: Update) -> str | None:
    message = update.effective_message
    if message is None:
        return None
    if message.document is not None:
        return DOCUMENT
    if message.text is not None:
        return TEXT
    return OTHER


async def capture(update: Update, context: Context) -> None:
    """Every private non-command message: the answer to the person's armed prompt, if any."""
    user = update.effective_user
    chat = update.effective_chat
    if user is None or chat is None:
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        prompt = await store.of(conn, user.id)
        if prompt is None or not prompt.armed or prompt.chat_id != chat.id:
            return
        retired: Rendered | None = None
        if prompt.expired(clock.now()) or prompt.kind not in _KINDS:
            await store.take(conn, prompt.id)
            retired = await _on_drop(conn, svc, prompt)
            expired = True
        else:
            expired = False
    if expired:
        await _tell_dropped(context, prompt, "expired", retired)
        return  # the message goes on to the features as if no question had been asked
    kind = _KINDS[prompt.kind]
    content = _content(update)
    replied = update.effective_message.reply_to_message if update.effective_message else None
    if replied is not None and replied.message_id != prompt.message_id:
        # A reply to another message (evidence for an entry, say) belongs to that message.
        await drop(context, user.id, why="other")
        return
    if content not in kind.accepts:
        if content == DOCUMENT:
            # A file while text is asked for: it is another flow (a directory upload…).
            await drop(context, user.id, why="other")
            return
        await reply(
            update,
            context,
            "conversation/wrong_content.j2",
            kind=prompt.kind,
            wanted=sorted(kind.accepts),
        )
        raise ApplicationHandlerStop
    async with svc.db.transaction() as conn:
        mine = await store.take(conn, prompt.id)
    if not mine:
        return  # answered or dropped by a concurrent update
    try:
        handled = await kind.handle(update, context, prompt)
    except Exception:
        # The question is gone: its flow must not wait at a typed step nobody will capture.
        if await pending(svc, user.id) is None:
            async with svc.db.transaction() as conn:
                retired = await _on_drop(conn, svc, prompt)
            await _retire_question(context, prompt, "other", retired)
        raise
    if not handled:
        async with svc.db.transaction() as conn:
            retired = await _on_drop(conn, svc, prompt)
        await _tell_dropped(context, prompt, "other", retired)
        return
    raise ApplicationHandlerStop


async def command_hook(update: Update, context: Context) -> None:
    """Any command drops the person's prompt (and /cancel answers here, for every feature)."""
    message = update.effective_message
    user = update.effective_user
    if message is None or user is None or not message.text:
        return
    first = message.text.split()[0][1:]
    name, _, addressee = first.partition("@")
    if addressee and addressee.lower() != (context.bot.username or "").lower():
        return  # a command for another bot in a group
    name = name.lower()
    if name == "cancel" and in_private(update):
        await _cancel(update, context, user.id)
        raise ApplicationHandlerStop
    await drop(context, user.id, why="command")


async def _cancel(update: Update, context: Context, user: int) -> None:
    svc = services(context)
    retired: Rendered | None = None
    async with svc.db.transaction() as conn:
        found = await store.drop(conn, user)
        if found is not None:
            retired = await _on_drop(conn, svc, found)
    if found is not None and found.armed:
        await _retire_question(context, found, "cancel", retired)
    abandoned = False
    for abandon in _ABANDON:
        abandoned = await abandon(svc, user) or abandoned
    await reply(
        update,
        context,
        "common/cancelled.j2",
        kind=found.kind if found is not None else None,
        nothing=found is None and not abandoned,
    )


def register_handlers(app: Application) -> None:
    # New messages only: an edited earlier answer or command is not a new answer or command.
    fresh = filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(fresh & filters.COMMAND, command_hook), group=CAPTURE_GROUP)
    app.add_handler(
        MessageHandler(
            fresh & filters.ChatType.PRIVATE & ~filters.COMMAND & ~filters.StatusUpdate.ALL,
            capture,
        ),
        group=CAPTURE_GROUP - 1,
    )


def in_private(update: Update) -> bool:
    return update.effective_chat is not None and update.effective_chat.type == ChatType.PRIVATE
