"""build_application(settings): the one place that wires python-telegram-bot, the database,
the templates and every feature's handlers."""

from __future__ import annotations

import logging

from telegram import (
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
)
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, Application, ApplicationBuilder, Defaults

from bot.config import Settings
from bot.db import Database
from bot.domain.roles import Identity, Where
from bot.features import directories, fallback, groups, onboarding
from bot.render import Renderer
from bot.services import Services

log = logging.getLogger(__name__)


async def _set_command_menus(app: Application, svc: Services) -> None:  # type: ignore[type-arg]
    """Menus per scope: strangers see /start and /help; administrators see theirs."""
    stranger = Identity(tg_user_id=0, full_name="")
    group_admin = Identity(tg_user_id=0, full_name="", is_admin=True)
    menus = [
        (BotCommandScopeDefault(), onboarding.menu_for(svc, stranger, Where.PRIVATE)),
        (BotCommandScopeAllPrivateChats(), onboarding.menu_for(svc, stranger, Where.PRIVATE)),
        (BotCommandScopeAllGroupChats(), onboarding.menu_for(svc, stranger, Where.GROUP)),
        (BotCommandScopeAllChatAdministrators(), onboarding.menu_for(svc, group_admin, Where.GROUP)),
    ]
    for scope, commands in menus:
        await app.bot.set_my_commands(commands, scope=scope)
    for admin_id in sorted(svc.settings.admins):
        admin = Identity(tg_user_id=admin_id, full_name="", is_admin=True)
        try:
            await app.bot.set_my_commands(
                onboarding.menu_for(svc, admin, Where.PRIVATE), scope=BotCommandScopeChat(admin_id)
            )
        except TelegramError as exc:  # an administrator who has not opened the bot yet
            log.info("command menu for administrator %s not set: %s", admin_id, exc)


def build_application(settings: Settings) -> Application:  # type: ignore[type-arg]
    token = settings.require_token()
    svc = Services(settings=settings, db=Database(settings.db_path), renderer=Renderer())

    async def post_init(app: Application) -> None:  # type: ignore[type-arg]
        await svc.db.connect()
        await svc.db.migrate()
        svc.bot_username = app.bot.username
        await _set_command_menus(app, svc)
        log.info("bot @%s ready, database %s", svc.bot_username, settings.db_path)

    async def post_shutdown(app: Application) -> None:  # type: ignore[type-arg]
        await svc.db.close()

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.api_url)
        .base_file_url(settings.file_url)
        .defaults(Defaults(tzinfo=settings.tz))
        .rate_limiter(AIORateLimiter(max_retries=3))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.bot_data["services"] = svc

    # Order matters: feature handlers first, the catch-all fallback and error handler last.
    onboarding.register(app)
    groups.register(app)
    directories.register(app)
    fallback.register(app)
    return app
