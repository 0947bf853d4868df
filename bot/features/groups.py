"""The county coordination group: /bindgroup, the bot joining or leaving, supergroup upgrades."""

from __future__ import annotations

import logging

from telegram import ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import Application, ChatMemberHandler, CommandHandler, MessageHandler, filters

from bot.domain.roles import Identity
from bot.features.common import Context, command, identify, reply, send
from bot.services import services
from bot.store import chats, people

log = logging.getLogger(__name__)

_PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


@command("bindgroup")
async def bindgroup(update: Update, context: Context, identity: Identity) -> None:
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    previous = await chats.bind_coordination(
        svc.db, chat.id, chat.title or "", chat.type, identity.tg_user_id
    )
    await reply(update, context, "groups/bound.j2", title=chat.title or "", previous=previous)


async def bot_membership(update: Update, context: Context) -> None:
    """The bot was added to or removed from a group."""
    change: ChatMemberUpdated | None = update.my_chat_member
    if change is None or change.chat.type not in ("group", "supergroup"):
        return
    svc = services(context)
    present = change.new_chat_member.status in _PRESENT
    was_present = change.old_chat_member.status in _PRESENT
    if present == was_present:
        return
    before = await chats.record_membership(
        svc.db,
        change.chat.id,
        change.chat.title or "",
        change.chat.type,
        present,
        change.from_user.id,
    )
    if present:
        identity = await identify(update, context)
        await reply(update, context, "groups/added.j2", by_admin=identity.is_admin)
        return
    if before is not None and before["is_coordination"]:
        # The bot can no longer reach the coordination group: every administrator must know.
        rendered = svc.renderer.message(
            "groups/removed_notice.j2", title=change.chat.title or "", by=change.from_user.full_name
        )
        for admin_id in await people.admin_user_ids(svc.db, svc.settings.admins):
            try:
                await send(context, admin_id, rendered)
            except TelegramError as exc:
                log.warning("could not tell admin %s the group was left: %s", admin_id, exc)


async def migrated(update: Update, context: Context) -> None:
    """Group upgraded to a supergroup: Telegram posts a service message in each chat."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    if message.migrate_to_chat_id:
        await chats.migrate(svc.db, message.chat.id, message.migrate_to_chat_id, message.chat.title)
    elif message.migrate_from_chat_id:
        await chats.migrate(
            svc.db, message.migrate_from_chat_id, message.chat.id, message.chat.title
        )


def register(app: Application) -> None:
    app.add_handler(CommandHandler("bindgroup", bindgroup))
    app.add_handler(ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
