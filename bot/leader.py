"""The leader lease: of several instances on one database, one receives updates and runs the
periodic scans.

Telegram lets one consumer fetch a bot's updates (a second getUpdates answers 409), and a
chat's updates must be handled in order, so one instance at a time receives them: the holder
of the `leader` lease (bot.store.leases). It polls getUpdates (or, in webhook mode, listens
on the webhook port, so the reverse proxy reaches the leader only) and hands the updates to
its own workers (bot.updates.PerChatUpdateProcessor: chats concurrently, each chat in order).
It also runs the reminder engine's scans and the broadcast monitor (`leads`). Every instance
drains the outbox (claims, bot.outbox).

The leader renews the lease every third of its length; the others try to take it every
`STANDBY_SECONDS` (or a third of the lease, if shorter) and get it once it has run out, so a
dead leader is replaced within about one lease length. A leader that cannot renew (its database
unreachable, or another instance took the lease) stops receiving at once. A clean shutdown
stops receiving, lets the updates taken finish, then releases the lease for the next instance.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

from telegram.ext import Application

from bot.config import InstanceSettings
from bot.db import Database
from bot.store import leases

log = logging.getLogger(__name__)

LEADER = "leader"
STANDBY_SECONDS = 2.0


class Leadership:
    """Holds (or waits for) the leader lease; calls `lead` when this instance becomes the
    leader and `follow` when it stops being it."""

    def __init__(
        self,
        db: Database,
        instance: InstanceSettings,
        lead: Callable[[], Awaitable[None]],
        follow: Callable[[], Awaitable[None]],
    ) -> None:
        self.db = db
        self.instance = instance
        self._lead = lead
        self._follow = follow
        self.leading = False
        self.terms = 0  # times this instance became the leader
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Try once right away (a single instance leads from its first second), then keep
        renewing or waiting in the background."""
        await self._step()
        if not self.leading:
            log.info("instance %s stands by: another instance leads", self.instance.id)
        self._task = asyncio.create_task(self._run(), name="leader-lease")

    async def stop(self) -> None:
        """Stop renewing and stop receiving; the lease is kept until `release`."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.leading:
            self.leading = False
            await self._follow()

    async def release(self) -> None:
        """After the updates taken are handled: let the next instance lead at once."""
        try:
            await leases.release(self.db, LEADER, self.instance.id)
        except Exception:
            log.exception("could not release the leader lease; it runs out by itself")

    def _pause(self) -> float:
        third = self.instance.leader_seconds / 3
        return third if self.leading else min(STANDBY_SECONDS, third)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._pause())
            await self._step()

    async def _step(self) -> None:
        try:
            held = await leases.acquire(
                self.db, LEADER, self.instance.id, time.time(), self.instance.leader_seconds
            )
        except Exception:
            log.exception("leader lease: the database did not answer")
            held = False
        if held and not self.leading:
            try:
                await self._lead()
            except Exception:
                log.exception("instance %s could not start receiving updates", self.instance.id)
                await self.release()
                return
            self.leading = True
            self.terms += 1
            log.info(
                "instance %s leads: it receives the updates and runs the scans", self.instance.id
            )
        elif not held and self.leading:
            self.leading = False
            log.warning("instance %s lost the leader lease: it stands by", self.instance.id)
            await self._follow()


def leads(app: Application) -> bool:
    """Whether this instance runs the periodic scans: the leader, or the only instance (no
    leadership in place, as in the tests' and the sandbox's own start-up)."""
    leadership = app.bot_data.get("leadership")
    return not isinstance(leadership, Leadership) or leadership.leading
