"""Last-resort answers: unknown users, unknown commands, stray messages; the error handler."""

from __future__ import annotations

import logging
import traceback

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import Application, MessageHandler, filters

from bot.features.common import Context, identify, reply, tell_stranger
from bot.services import services

log = logging.getLogger(__name__)


async def private_fallback(update: Update, context: Context) -> None:
    message = update.effective_message
    if message is None or update.effective_user is None:
        return
    identity = await identify(update, context)
    if not identity.is_known:
        await tell_stranger(update, context, identity)  # at most once per window
    elif message.text and message.text.startswith("/"):
        await reply(update, context, "common/unknown_command.j2", text=message.text.split()[0])
    else:
        await reply(update, context, "common/not_understood.j2")


async def on_error(update: object, context: Context) -> None:
    """Log the update and the traceback; tell the user something short; keep running."""
    svc = services(context)
    error = context.error
    trace = "".join(traceback.format_exception(error)) if error else ""
    log.error(
        "error while handling update %s:\n%s",
        svc.settings.redact(repr(update.to_dict() if isinstance(update, Update) else update)),
        svc.settings.redact(trace),
    )
    if not isinstance(update, Update) or update.effective_chat is None:
        return
    try:
        if update.callback_query is not None:
            await update.callback_query.answer(
                svc.renderer.text("common/error_alert.j2"), show_alert=True
            )
        elif update.effective_chat.type == ChatType.PRIVATE or (
            update.effective_message
            and update.effective_message.text
            and update.effective_message.text.startswith("/")
        ):
            await reply(update, context, "common/error.j2")
    except TelegramError:
        log.exception("could not tell the user about the error")


def register(app: Application) -> None:
    # Added last (see bot.app): only what no feature handled reaches these.
    app.add_handler(
        MessageHandler(filters.ChatType.PRIVATE & ~filters.StatusUpdate.ALL, private_fallback)
    )
    app.add_error_handler(on_error)
