"""Shared handler plumbing: who is speaking, permission guards, sending rendered messages."""

from __future__ import annotations

import functools
import html
import io
import logging
import re
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    LinkPreviewOptions,
    Message,
    Update,
)
from telegram.constants import ChatType, ParseMode
from telegram.error import RetryAfter
from telegram.ext import ContextTypes

from bot import clock
from bot.callbacks import Pressed, parse
from bot.domain import flood as flood_rules
from bot.domain.roles import COMMANDS_BY_NAME, Identity, Role, Where, may_use
from bot.render import Button, Rendered, split_html
from bot.replies import DIVERTIBLE, MustWait, Queued, Replies
from bot.services import services
from bot.store import audit, people
from bot.store import flood as flood_store

log = logging.getLogger(__name__)

Context = ContextTypes.DEFAULT_TYPE
Handler = Callable[[Update, Context, Identity], Awaitable[Any]]
Guarded = Callable[[Update, Context], Coroutine[Any, Any, None]]

# More parts than this and a long text goes out as a document instead of a burst of messages.
MAX_PARTS = 4
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


def markup(keyboard: list[list[Button]]) -> InlineKeyboardMarkup | None:
    if not keyboard:
        return None
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(b.text, url=b.url)
                if b.url
                else InlineKeyboardButton(b.text, callback_data=b.data)
                for b in row
            ]
            for row in keyboard
        ]
    )


Sent = list[Message] | Queued


def replies(context: Context) -> Replies | None:
    found = context.application.bot_data.get("replies")
    return found if isinstance(found, Replies) else None


def _limit(diverter: Replies | None) -> dict[str, Any]:
    """The call's rate_limit_args: a reply the caller diverts when it would wait."""
    return {"rate_limit_args": DIVERTIBLE} if diverter is not None else {}


def reply_limits(context: Context) -> dict[str, Any]:
    """rate_limit_args for a direct call that never waits: it raises `MustWait` or RetryAfter
    instead (bot.replies); for a call whose caller can do without it (removing buttons)."""
    return _limit(replies(context))


async def send(
    context: Context, chat_id: int, rendered: Rendered, *, title: str = "message"
) -> Sent:
    """Send a rendered message, split or turned into a document if it is too long.

    A reply that would have to wait (a 429, a busy chat, earlier replies still queued) goes
    through the outbox instead: `Queued` is returned then (bot.replies)."""
    parts = split_html(rendered.text)
    diverter = replies(context)
    bot = context.bot
    if len(parts) > MAX_PARTS:
        plain = html.unescape(re.sub(r"<[^>]*>", "", rendered.text))
        head = split_html(rendered.text)[0]
        caption = services(context).renderer.text("common/long_message_caption.j2")
        if diverter is not None and (
            await diverter.must_queue(chat_id) or diverter.would_wait(chat_id) is not None
        ):
            return await diverter.divert(
                chat_id,
                [Rendered(head, rendered.keyboard)],
                file=(plain.encode("utf-8"), f"{title}.txt", caption),
            )
        doc = await bot.send_document(
            chat_id,
            document=io.BytesIO(plain.encode("utf-8")),
            filename=f"{title}.txt",
            caption=caption,
        )
        first = await bot.send_message(
            chat_id,
            head,
            parse_mode=ParseMode.HTML,
            link_preview_options=_NO_PREVIEW,
            reply_markup=markup(rendered.keyboard),
        )
        return [doc, first]
    pieces = [
        Rendered(part, rendered.keyboard if index == len(parts) - 1 else [])
        for index, part in enumerate(parts)
    ]
    if diverter is not None and await diverter.must_queue(chat_id):
        return await diverter.divert(chat_id, pieces)
    sent: list[Message] = []
    for index, piece in enumerate(pieces):
        try:
            sent.append(
                await bot.send_message(
                    chat_id,
                    piece.text,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=_NO_PREVIEW,
                    reply_markup=markup(piece.keyboard),
                    **_limit(diverter),
                )
            )
        except (RetryAfter, MustWait):
            assert diverter is not None
            return await diverter.divert(chat_id, pieces[index:])
    return sent


async def reply(update: Update, context: Context, template: str, /, **ctx: Any) -> Sent:
    """Answer in the chat the update came from."""
    chat = update.effective_chat
    assert chat is not None
    rendered = services(context).renderer.message(template, **ctx)
    return await send(context, chat.id, rendered)


async def edit_pressed(update: Update, context: Context, rendered: Rendered) -> Queued | None:
    """Replace the text and buttons of the message whose button was pressed. An edit that would
    have to wait becomes the message's one pending edit in the outbox (the latest text wins)."""
    query = update.callback_query
    assert query is not None
    text = split_html(rendered.text)[0]
    message = query.message
    diverter = replies(context)
    if diverter is None or not isinstance(message, Message):
        await query.edit_message_text(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(rendered.keyboard),
            link_preview_options=_NO_PREVIEW,
        )
        return None
    return await edit_message(
        context, message.chat_id, message.message_id, Rendered(text, rendered.keyboard)
    )


async def edit_message(
    context: Context, chat_id: int, message_id: int, rendered: Rendered
) -> Queued | None:
    """Edit a message of the bot's in place (its first 4096 characters), or queue the edit in the
    outbox when it would have to wait (bot.replies); returns `Queued` then."""
    text = split_html(rendered.text)[0] if rendered.text else rendered.text
    piece = Rendered(text, rendered.keyboard)
    diverter = replies(context)
    if diverter is not None and await diverter.must_queue(chat_id):
        return await diverter.divert_edit(chat_id, message_id, piece)
    try:
        await context.bot.edit_message_text(
            text,
            chat_id=chat_id,
            message_id=message_id,
            parse_mode=ParseMode.HTML,
            reply_markup=markup(rendered.keyboard),
            link_preview_options=_NO_PREVIEW,
            **_limit(diverter),
        )
    except (RetryAfter, MustWait):
        assert diverter is not None
        return await diverter.divert_edit(chat_id, message_id, piece)
    return None


async def edit(update: Update, context: Context, template: str, /, **ctx: Any) -> Message | None:
    """Replace the text and buttons of the message whose button was pressed; returns it."""
    query = update.callback_query
    assert query is not None
    rendered = services(context).renderer.message(template, **ctx)
    await edit_pressed(update, context, rendered)
    return query.message if isinstance(query.message, Message) else None


async def tell_stranger(update: Update, context: Context, identity: Identity) -> None:
    """Give a stranger the explanation (templates/zh/common/unknown_user.j2), at most once per
    `[flood] stranger_every_seconds`; otherwise say nothing."""
    svc = services(context)
    now = clock.now().timestamp()
    async with svc.db.transaction() as conn:
        decision = flood_rules.explain(
            await flood_store.load(conn, identity.tg_user_id), now, svc.settings.tunables.flood
        )
        if decision.changed:
            await flood_store.save(conn, identity.tg_user_id, decision.state)
    if decision.verdict is flood_rules.Verdict.PASS:
        await reply(update, context, "common/unknown_user.j2", identity=identity)


async def identify(update: Update, context: Context) -> Identity:
    user = update.effective_user
    assert user is not None
    svc = services(context)
    identity = await people.load_identity(svc.db, user.id, user.full_name, svc.settings.admins)
    if identity.person_id is not None and identity.full_name != user.full_name:
        await people.touch_person(svc.db, user.id, user.full_name, user.username)
    return identity


def _where(update: Update) -> Where:
    chat = update.effective_chat
    return Where.PRIVATE if chat is not None and chat.type == ChatType.PRIVATE else Where.GROUP


async def refuse(
    update: Update, context: Context, identity: Identity, action: str, reason: str
) -> None:
    """Record a refused action; tell the person why (privately for button presses)."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action=action,
            outcome="refused",
            detail={"reason": reason},
        )
    if update.callback_query is not None:
        text = svc.renderer.text("common/forbidden_alert.j2", known=identity.is_known)
        await update.callback_query.answer(text, show_alert=True)
        return
    if not identity.is_known:
        await tell_stranger(update, context, identity)
        return
    await reply(update, context, "common/forbidden.j2", identity=identity)


def command(name: str) -> Callable[[Handler], Guarded]:
    """Guard a command handler: checks role and chat kind on the server side, every time."""
    spec = COMMANDS_BY_NAME[name]

    def decorate(handler: Handler) -> Guarded:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: Context) -> None:
            if update.effective_user is None or update.effective_chat is None:
                return
            identity = await identify(update, context)
            if not may_use(identity, name):
                await refuse(update, context, identity, f"command.{name}", "role")
                return
            where = _where(update)
            if spec.where is not Where.ANY and spec.where is not where:
                async with services(context).db.transaction() as conn:
                    await audit.record(
                        conn,
                        actor=identity.tg_user_id,
                        action=f"command.{name}",
                        outcome="refused",
                        detail={"reason": "wrong_chat", "where": where.value},
                    )
                await reply(
                    update, context, "common/wrong_chat.j2", command=name, where=spec.where.value
                )
                return
            await handler(update, context, identity)

        return wrapper

    return decorate


def button(*roles: Role) -> Callable[[Handler], Guarded]:
    """Guard a callback-query handler: the presser must hold one of `roles` (none: anyone known)."""
    allowed = frozenset(roles)

    def decorate(handler: Handler) -> Guarded:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: Context) -> None:
            query = update.callback_query
            if query is None or update.effective_user is None:
                return
            identity = await identify(update, context)
            if not identity.is_known or (allowed and not allowed & identity.roles):
                await refuse(update, context, identity, f"button.{query.data}", "role")
                return
            await handler(update, context, identity)

        return wrapper

    return decorate


async def stale(update: Update, context: Context, reason: str = "stale") -> None:
    """Answer a press whose button no longer means anything (or never did), and audit it."""
    query = update.callback_query
    assert query is not None
    svc = services(context)
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=update.effective_user.id if update.effective_user else None,
            action=f"button.{(query.data or '').split(':')[0]}",
            outcome="refused",
            detail={"reason": reason, "data": query.data},
        )
    await query.answer(svc.renderer.text("common/stale_alert.j2"), show_alert=True)


PressedHandler = Callable[[Update, Context, Identity, Pressed], Awaitable[Any]]


def pressed(
    prefix: str, *roles: Role, parts: int = 1, numbers: tuple[int, ...] = (0,)
) -> Callable[[PressedHandler], Guarded]:
    """Guard a button handler as `button` does, and parse its data (`bot.callbacks.parse`):
    malformed data is answered with the "no longer valid" alert and written to the audit log,
    so the handler only sees data of the shape it expects."""

    def decorate(handler: PressedHandler) -> Guarded:
        @button(*roles)
        @functools.wraps(handler)
        async def wrapper(update: Update, context: Context, identity: Identity) -> None:
            query = update.callback_query
            assert query is not None
            found = parse(query.data, prefix, parts=parts, numbers=numbers)
            if found is None:
                await stale(update, context, "malformed")
                return
            await handler(update, context, identity, found)

        return wrapper

    return decorate


def command_args(context: Context) -> list[str]:
    return list(context.args or [])
