"""The county coordination group: /bindgroup, the bot joining or leaving, supergroup upgrades."""

from __future__ import annotations

import logging

from telegram import BotCommandScopeChat, ChatMemberUpdated, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.callbacks import Pressed
from bot.domain.roles import Identity, Role, Where
from bot.features.common import Context, command, edit, identify, pressed, reply, stale
from bot.features.onboarding import menu_for
from bot.services import services
from bot.store import chats, people

log = logging.getLogger(__name__)

_PRESENT = {ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER}


@command("bindgroup")
async def bindgroup(update: Update, context: Context, identity: Identity) -> None:
    """Bind this group; if another group is bound, ask first (it would silently move the
    county's invitations and reminders)."""
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    current = await chats.coordination_chat(svc.db)
    if current is not None and int(current["chat_id"]) != chat.id:
        await reply(
            update,
            context,
            "groups/confirm_rebind.j2",
            title=chat.title or "",
            old_title=current["title"] or str(current["chat_id"]),
            chat_id=chat.id,
        )
        return
    await _bind(update, context, identity)


async def _bind(update: Update, context: Context, identity: Identity) -> None:
    chat = update.effective_chat
    assert chat is not None
    svc = services(context)
    previous = await chats.bind_coordination(
        svc.db,
        chat.id,
        chat.title or "",
        chat.type,
        identity.tg_user_id,
        tell_previous=svc.renderer.message("groups/unbound_notice.j2", title=chat.title or ""),
    )
    await reply(update, context, "groups/bound.j2", title=chat.title or "", previous=previous)
    await sync_group_menu(context, chat.id)


@pressed("bg", Role.ADMIN, parts=1, numbers=())
async def rebind_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    """bg:ok:<chat> (replace the bound group by this one) or bg:no."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None
    if cb.text(0) == "no":
        await query.answer()
        await edit(update, context, "groups/rebind_cancelled.j2", done=False)
        return
    if cb.text(0) != "ok" or cb.text(1) != str(chat.id):
        await stale(update, context)
        return
    await query.answer()
    await edit(update, context, "groups/rebind_cancelled.j2", done=True)
    await _bind(update, context, identity)


async def sync_group_menu(context: Context, chat_id: int) -> None:
    """The coordination group's own command menu: what its members (liaisons) use there."""
    member = Identity(tg_user_id=0, full_name="", liaison_departments=("*",))
    try:
        await context.bot.set_my_commands(
            menu_for(services(context), member, Where.GROUP), scope=BotCommandScopeChat(chat_id)
        )
    except TelegramError as exc:
        log.info("could not set the group menu for %s: %s", chat_id, exc)


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
    # If this was the coordination group, every administrator must know it can't be reached.
    notice = svc.renderer.message(
        "groups/removed_notice.j2", title=change.chat.title or "", by=change.from_user.full_name
    )
    await chats.record_membership(
        svc.db,
        change.chat.id,
        change.chat.title or "",
        change.chat.type,
        present,
        change.from_user.id,
        lost_coordination_notice=notice,
        admin_ids=await people.admin_user_ids(svc.db, svc.settings.admins),
    )
    if present:
        identity = await identify(update, context)
        await reply(update, context, "groups/added.j2", by_admin=identity.is_admin)


async def migrated(update: Update, context: Context) -> None:
    """Group upgraded to a supergroup: Telegram posts a service message in each chat."""
    message = update.effective_message
    if message is None:
        return
    svc = services(context)
    if message.migrate_to_chat_id:
        old, new = message.chat.id, message.migrate_to_chat_id
    elif message.migrate_from_chat_id:
        old, new = message.migrate_from_chat_id, message.chat.id
    else:
        return
    if await chats.migrate(svc.db, old, new, message.chat.title):
        coordination = await chats.coordination_chat(svc.db)
        if coordination is not None and coordination["chat_id"] == new:
            await sync_group_menu(context, new)


def register(app: Application) -> None:
    app.add_handler(CommandHandler("bindgroup", bindgroup))
    app.add_handler(CallbackQueryHandler(rebind_button, pattern=r"^bg:"))
    app.add_handler(ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
