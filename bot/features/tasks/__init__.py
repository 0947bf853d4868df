"""Joint inspections (一业一查), one module per flow: propose (/newtask), answer (参加 / 不参加),
decide (the lead extends or confirms), cancel, detail (/tasks, /task), reminders (chasing and
escalation, sources of the reminder engine). Shared: views (rendering, outbox messages),
flows (flow cards and their prompts), callbacks (codes in button data).

Button data: nt:<flow>:<action>[:<arg>] (the /newtask card), tk:<task>:<action>[:<arg>…]
(invitation card, private invitations, escalations), tf:<flow>:<action>[:<arg>] (a liaison's
join card, the cancel confirmation).
"""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler

from bot import conversation
from bot.features.tasks import answer, detail, propose, reminders
from bot.features.tasks.detail import show_progress
from bot.features.tasks.flows import HELD, abandon, drop_flow
from bot.features.tasks.views import work_calendar

__all__ = ["HELD", "register", "show_progress", "work_calendar"]


def register(app: Application) -> None:
    # A dropped question's card says so (retire), then its flow goes (on_drop).
    conversation.register(
        "tasks.propose", propose.take_text, on_drop=drop_flow, retire=propose.retired_card
    )
    for kind in ("tasks.decline", "tasks.cancel", "tasks.count"):
        conversation.register(
            kind, answer.take_text, on_drop=drop_flow, retire=propose.retired_card
        )
    conversation.register_abandon(abandon)
    app.add_handler(CommandHandler("newtask", propose.newtask_command))
    app.add_handler(CommandHandler("tasks", detail.tasks_command))
    app.add_handler(CommandHandler("task", detail.task_command))
    app.add_handler(CallbackQueryHandler(propose.propose_button, pattern=r"^nt:"))
    app.add_handler(CallbackQueryHandler(answer.task_button, pattern=r"^tk:"))
    app.add_handler(CallbackQueryHandler(answer.flow_button, pattern=r"^tf:"))
    reminders.register()
