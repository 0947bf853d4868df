"""`python -m bot run [--webhook]`: the Application's lifecycle, the same in both modes.

Like `Application.run_polling`: initialize, post_init (database, outbox sender, broadcast
monitor, reminder engine: bot.app), start; then the leader lease (bot.leader) decides whether
this instance receives updates, by long polling (the default) or through PTB's webhook server
(`--webhook`: Telegram posts to the public URL, the reverse proxy forwards to listen:port/path,
and PTB refuses any request without the secret token with 403). On SIGINT/SIGTERM: stop
receiving, stop the Application (the updates taken finish; post_stop stops the scans and parks
the sends in flight), release the lease, shut down (post_shutdown closes the database).
Starting to poll deletes a webhook set earlier (PTB does so when polling starts).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from telegram.ext import Application

from bot.config import Settings
from bot.leader import Leadership
from bot.services import Services

log = logging.getLogger(__name__)


class Receiver:
    """Starts and stops receiving updates in the chosen mode."""

    def __init__(
        self,
        app: Application,
        settings: Settings,
        allowed_updates: list[str],
        *,
        webhook: bool,
        poll_timeout: int = 10,
    ) -> None:
        self.app = app
        self.settings = settings
        self.allowed_updates = allowed_updates
        self.webhook = webhook
        self.poll_timeout = poll_timeout

    async def start(self) -> None:
        updater = self.app.updater
        assert updater is not None
        if self.webhook:
            hook = self.settings.webhook
            await updater.start_webhook(
                listen=hook.listen,
                port=hook.port,
                url_path=hook.path,
                webhook_url=hook.url,
                secret_token=hook.secret,
                allowed_updates=self.allowed_updates,
            )
            log.info(
                "webhook: listening on %s:%s/%s for %s", hook.listen, hook.port, hook.path, hook.url
            )
        else:
            await updater.start_polling(
                timeout=self.poll_timeout, allowed_updates=self.allowed_updates
            )

    async def stop(self) -> None:
        updater = self.app.updater
        if updater is not None and updater.running:
            await updater.stop()


async def serve(
    app: Application,
    settings: Settings,
    *,
    webhook: bool = False,
    stop: asyncio.Event | None = None,
    poll_timeout: int = 10,
) -> None:
    """Run `app` until `stop` is set (SIGINT or SIGTERM when no event is given)."""
    from bot.app import ALLOWED_UPDATES

    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    receiver = Receiver(app, settings, ALLOWED_UPDATES, webhook=webhook, poll_timeout=poll_timeout)
    svc = app.bot_data["services"]
    assert isinstance(svc, Services)
    leadership = Leadership(svc.db, settings.instance, receiver.start, receiver.stop)
    app.bot_data["leadership"] = leadership
    await app.initialize()
    try:
        if app.post_init is not None:
            await app.post_init(app)
        await app.start()
        await leadership.start()
        await stop.wait()
    finally:
        await leadership.stop()
        if app.running:
            await app.stop()
            if app.post_stop is not None:
                await app.post_stop(app)
        await leadership.release()
        await app.shutdown()
        if app.post_shutdown is not None:
            await app.post_shutdown(app)


def run(app: Application, settings: Settings, *, webhook: bool = False) -> None:
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(app, settings, webhook=webhook))
