"""build_application(settings): the one place that wires python-telegram-bot, the database,
the templates and every feature's handlers."""

from __future__ import annotations

import logging
import os

from telegram import (
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllGroupChats,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
    BotCommandScopeDefault,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import Application, ApplicationBuilder, Defaults

from bot import conversation, reminders
from bot.config import Settings
from bot.db import Database
from bot.domain.pacing import Pacer
from bot.domain.roles import Identity, Where
from bot.features import (
    broadcast,
    directories,
    fallback,
    flood,
    groups,
    onboarding,
    reachability,
    tasks,
)
from bot.features import draw as draw_feature
from bot.features import plan as plan_feature
from bot.features import reminders as reminder_features
from bot.features import results as results_feature
from bot.features import stats as stats_feature
from bot.outbox import PacedRateLimiter, Sender
from bot.render import Renderer
from bot.replies import Replies
from bot.services import Services
from bot.updates import PerChatUpdateProcessor

log = logging.getLogger(__name__)

# The update types the bot asks Telegram for (getUpdates' allowed_updates; run_polling passes
# them). my_chat_member tells when a person blocks or unblocks the bot (bot.features.reachability)
# and when the bot joins or leaves a group (bot.features.groups).
ALLOWED_UPDATES: list[str] = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.MY_CHAT_MEMBER,
]


async def _set_command_menus(app: Application, svc: Services) -> None:
    """Menus per scope: strangers see /start and /help; administrators see theirs."""
    stranger = Identity(tg_user_id=0, full_name="")
    group_admin = Identity(tg_user_id=0, full_name="", is_admin=True)
    menus = [
        (BotCommandScopeDefault(), onboarding.menu_for(svc, stranger, Where.PRIVATE)),
        (BotCommandScopeAllPrivateChats(), onboarding.menu_for(svc, stranger, Where.PRIVATE)),
        (BotCommandScopeAllGroupChats(), onboarding.menu_for(svc, stranger, Where.GROUP)),
        (
            BotCommandScopeAllChatAdministrators(),
            onboarding.menu_for(svc, group_admin, Where.GROUP),
        ),
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


def build_application(settings: Settings) -> Application:
    token = settings.require_token()
    # Opt into PTB's timedelta time periods now: otherwise every 429 (RetryAfter) raises a
    # deprecation warning.
    os.environ.setdefault("PTB_TIMEDELTA", "true")
    svc = Services(settings=settings, db=Database(settings.database), renderer=Renderer())
    # One pacer for the outbox sender and for direct replies (the rate limiter below), so the
    # two together stay under Telegram's limits. See bot/outbox.py.
    pacer = Pacer(settings.tunables.outbox.pacing())

    async def post_init(app: Application) -> None:
        await svc.db.connect()
        await svc.db.migrate()
        svc.bot_username = app.bot.username
        await _set_command_menus(app, svc)
        await sender.start()
        await broadcast.start(app)
        await reminders.start(app)
        log.info("bot @%s ready, database %s", svc.bot_username, settings.database_label)

    async def post_stop(app: Application) -> None:
        # SIGTERM: take no new work; in-flight sends finish or are parked for the next start.
        await reminders.stop(app)
        await broadcast.stop(app)
        await sender.stop()

    async def post_shutdown(app: Application) -> None:
        await broadcast.stop(app)
        await sender.stop()
        await svc.db.close()

    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(settings.api_url)
        .base_file_url(settings.file_url)
        .defaults(Defaults(tzinfo=settings.tz))
        .rate_limiter(
            PacedRateLimiter(
                pacer, max_retries=3, divert_after=settings.tunables.outbox.divert_after_seconds
            )
        )
        # Chats are served concurrently, each chat's updates in order (bot.updates).
        .concurrent_updates(PerChatUpdateProcessor())
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
        .build()
    )
    app.bot_data["services"] = svc
    sender = Sender(
        app.bot,
        svc.db,
        pacer,
        settings.tunables.outbox,
        instance=settings.instance.id,
        claim_seconds=settings.instance.claim_seconds,
    )
    app.bot_data["outbox"] = sender
    # Direct replies that would wait go through the outbox instead (bot.replies).
    replies = Replies(svc.db, pacer, settings.tunables.outbox.divert_after_seconds)
    app.bot_data["replies"] = replies
    if isinstance(app.bot.rate_limiter, PacedRateLimiter):
        app.bot.rate_limiter.replies = replies

    # Order matters: reachability sees every update (group -100, never stops one); then the
    # conversation service (an answer owed to a prompt; any command drops it); then the
    # features, the catch-all fallback and error handler last.
    reachability.register(app)
    flood.register(app)  # group -90: strangers told once per window, fast typers slowed
    conversation.register_handlers(app)
    onboarding.register(app)
    groups.register(app)
    plan_feature.register(app)  # /plan; files captioned 计划 (before the directory uploads)
    directories.register(app)
    broadcast.register(app)
    tasks.register(app)
    tasks.show_progress(results_feature.task_progress)  # /task shows results once drawn
    reminder_features.register(app)  # /reminders, /holiday, /report(s), /training
    draw_feature.register(app)
    results_feature.register(app)  # /r, /results, /review, /followup, /export, /qr
    stats_feature.register(app)  # /stats, /reportdraft
    fallback.register(app)
    return app
