"""Inspection results (谁检查、谁录入、谁公开): entry, review, completion, export, follow-up,
on-site check-in (扫码入企), the enterprise's verification link, evidence and guidance.

    /r                                   guided: task → enterprise → categories → method → confirm
    /r <task> <no|credit code> <codes> [method] [note…]     one line, e.g. /r 12 3 1
    /results <task>                      what is entered, reviewed, missing and from whom
    /review <task>                       the liaison approves (已公示) or returns (审核退回)
    /followup [<task> <no> 整改 <date>|移送|抄告 <dept>|完结 [date] [note]]
    /export <task> [csv]                 the platform's result sheet (.xlsx or .csv) + 公示 text
    /qr <task> <no>                      the enterprise's verification link and QR code (PNG)
    /start v_<token>                     what the enterprise sees: is this inspection genuine?

One module per flow (guided, review, guidance, evidence, followup, export, checkin, verify,
overview), the follow-up reminder series (reminders), and what they share: the task's board
(board), saving an entry (entry), the stage it moves the task to (stage), the progress read
model /task uses too (progress) and the entry views and helpers (views). This module only wires.
"""

from __future__ import annotations

from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot import conversation
from bot import reminders as engine
from bot.features.results import (
    checkin,
    evidence,
    export,
    followup,
    guidance,
    guided,
    overview,
    reminders,
    review,
    verify,
)
from bot.features.results.progress import Progress, task_progress
from bot.features.results.verify import verify_start

__all__ = ["Progress", "register", "task_progress", "verify_start"]


def register(app: Application) -> None:
    conversation.register("results.note", guided.take_note)
    conversation.register("results.guidance", guidance.take_guidance)
    conversation.register("results.return", review.take_return)
    conversation.register_abandon(guided.abandon)
    # Group -5: evidence sent in reply to an entry's confirmation; everything else falls through.
    app.add_handler(
        MessageHandler(
            filters.ChatType.PRIVATE & filters.REPLY & (filters.PHOTO | filters.Document.ALL),
            evidence.capture_evidence,
        ),
        group=-5,
    )
    for name, handler in (
        ("r", guided.r_command),
        ("results", overview.results_command),
        ("review", review.review_command),
        ("followup", followup.followup_command),
        ("export", export.export_command),
        ("qr", verify.qr_command),
    ):
        app.add_handler(CommandHandler(name, handler))
    # Each prefix as a whole: data of the wrong shape gets the "no longer valid" alert
    # (bot.features.common.pressed) rather than no answer at all.
    app.add_handler(CallbackQueryHandler(guided.guided_button, pattern=r"^rg:"))
    app.add_handler(CallbackQueryHandler(review.review_button, pattern=r"^rv:"))
    app.add_handler(CallbackQueryHandler(guidance.guidance_button, pattern=r"^rs:"))
    app.add_handler(CallbackQueryHandler(checkin.checkin_button, pattern=r"^rc:"))
    engine.register_source(
        "followup",
        reminders.desired_followups,
        reminders.followup_series,
        of_task=reminders.followup_of_task,
        calendar=True,
    )
    engine.register_kind("followup.before", reminders.compose_followup)
    engine.register_kind("followup.overdue", reminders.compose_followup, expires_with_purpose=False)
