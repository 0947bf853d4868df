"""Who the bot can write to, kept current from every update (a cross-cutting concern).

One handler, in its own group before every feature, sees each update and goes no further
(it never stops the update): a `my_chat_member` change of a private chat (blocked → not
reachable, unblocked → reachable again) and any message or button press in a person's private
chat (reachable) update `people.reachable`. The outbox marks a person unreachable when Telegram
refuses a message with 403; this is how they become reachable again. Follow-up reminders and
broadcasts read the flag. Rules: bot.domain.reachability.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import Application, TypeHandler

from bot.domain import reachability as rules
from bot.features.common import Context
from bot.services import services
from bot.store import people

log = logging.getLogger(__name__)

# Before every other handler, the flood gate (-90) and the conversation service's capture
# (-11/-10) included, which stop some of the updates they see.
GROUP = -100


def _verdict(update: Update) -> tuple[int, bool, rules.Evidence] | None:
    change = update.my_chat_member
    if change is not None:
        found = rules.after_membership(change.chat.type, change.new_chat_member.status)
        if found is None:
            return None
        return change.chat.id, found, rules.Evidence.MEMBERSHIP
    user = update.effective_user
    if user is None or user.is_bot:
        return None
    if update.callback_query is not None:
        message = update.callback_query.message
        chat_type = message.chat.type if message is not None else None
        found = rules.after_activity(chat_type)
        return (user.id, found, rules.Evidence.BUTTON) if found is not None else None
    if update.message is not None or update.edited_message is not None:
        chat = update.effective_chat
        found = rules.after_activity(chat.type if chat is not None else None)
        return (user.id, found, rules.Evidence.MESSAGE) if found is not None else None
    return None


async def track(update: Update, context: Context) -> None:
    verdict = _verdict(update)
    if verdict is None:
        return
    user_id, reachable, evidence = verdict
    db = services(context).db
    if await people.is_reachable(db, user_id) in (None, reachable):
        return  # unknown account, or nothing new: no write
    async with db.transaction() as conn:
        if await people.set_reachable(conn, user_id, reachable, evidence=evidence.value):
            log.info("person %s is %sreachable (%s)", user_id, "" if reachable else "un", evidence)


def register(app: Application) -> None:
    app.add_handler(TypeHandler(Update, track), group=GROUP)
