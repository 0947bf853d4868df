"""The double-random draw (双随机) of a confirmed joint inspection and its task notices: one
module per flow (run, platform, ack, conflict, swap, verify, enterprise), the acknowledgement
reminders as a source of the reminder engine (reminders). This module only wires them."""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import conversation
from bot.features.draw import (
    ack,
    buttons,
    conflict,
    enterprise,
    platform,
    reminders,
    run,
    swap,
    verify,
)
from bot.features.draw.verify import verify_task

__all__ = ["register", "verify_task"]


def register(app: Application) -> None:
    conversation.register("draw.conflict", conflict.conflict_reason)
    conversation.register("draw.import", platform.platform_answer, accepts=(conversation.DOCUMENT,))
    for name, handler in (
        ("draw", run.draw_command),
        ("drawimport", platform.drawimport_command),
        ("verify", verify.verify_command),
        ("acks", ack.acks_command),
        ("swap", swap.swap_command),
        ("notice", enterprise.notice_command),
    ):
        app.add_handler(CommandHandler(name, handler))
    app.add_handler(CallbackQueryHandler(buttons.draw_button, pattern=r"^dr:"))
    reminders.register()
