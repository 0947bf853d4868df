"""Flood control at the door (a cross-cutting concern, before every feature).

One handler in group -90 (after reachability, before the typed-input captures) sees each
message in a private chat and each command in a group, and asks `bot.domain.flood` whether to
handle it. A message that is not to be handled stops there (`ApplicationHandlerStop`): a
stranger's are dropped silently, and a registered person typing faster than a person types
gets one polite notice (templates/zh/flood/slow_down.j2). The stranger's explanation itself
is given at most once per window by `bot.features.common.tell_stranger`, wherever it is due
(refusals, the fallback). The state is in the database (`flood_state`), read and written in
one transaction, so a restart changes nothing. Button presses are not counted: each
is answered by its own handler, and Telegram's spinner already paces them.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import Application, ApplicationHandlerStop, MessageHandler, filters

from bot import clock
from bot.domain import flood as rules
from bot.features.common import Context, identify, reply
from bot.services import services
from bot.store import audit
from bot.store import flood as store

log = logging.getLogger(__name__)

# After reachability (-100, which must see every update), before the captures (-10 …).
GROUP = -90


def _counted(update: Update) -> bool:
    """Messages the bot would answer: everything in a private chat, commands in a group."""
    message = update.message
    chat = update.effective_chat
    if message is None or chat is None or update.effective_user is None:
        return False
    if update.effective_user.is_bot:
        return False
    if chat.type == ChatType.PRIVATE:
        return True
    return bool(message.text and message.text.startswith("/"))


async def gate(update: Update, context: Context) -> None:
    if not _counted(update):
        return
    user = update.effective_user
    assert user is not None
    svc = services(context)
    identity = await identify(update, context)
    limits = svc.settings.tunables.flood
    now = clock.now().timestamp()
    async with svc.db.transaction() as conn:
        decision = rules.judge(
            await store.load(conn, user.id),
            now,
            limits,
            stranger=not identity.is_known,
        )
        if decision.changed:
            await store.save(conn, user.id, decision.state)
        if decision.verdict is rules.Verdict.NOTICE:
            await audit.record(conn, actor=user.id, action="flood.slowed", outcome="refused")
    if decision.verdict is rules.Verdict.PASS:
        return
    if decision.verdict is rules.Verdict.NOTICE:
        log.info("user %s sends faster than a person types: slowed", user.id)
        await reply(update, context, "flood/slow_down.j2")
    raise ApplicationHandlerStop


def register(app: Application) -> None:
    app.add_handler(MessageHandler(filters.ALL, gate), group=GROUP)
