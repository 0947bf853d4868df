"""The sandbox: the Bot API emulator, the real bot pointed at it, and a movable clock.

Everything runs in one process on 127.0.0.1. The bot is the one `build_application` builds for
Telegram; only three things differ: its Bot API URL (the emulator), its token (a fixed fake) and
its clock source (`bot.clock.set_source` with an offset that the fast-forward control moves).
The emulator's chats are pickled next to the database, so a restart keeps the conversation and
the bot can still edit the messages it sent before.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import pickle
import shutil
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger
from telegram.ext import Application

from bot import clock
from bot.config import Settings
from bot.db import Database
from bot.emulator import FakeBotApi, Limits
from bot.sandbox import demo, texts

log = logging.getLogger(__name__)

SANDBOX_TOKEN = "777000111:SANDBOXsandboxSANDBOXsandboxSANDBOX"
BOT_USERNAME = "qinghe_inspect_bot"
DEFAULT_DATA_DIR = Path("data/sandbox")
MAX_FAST_FORWARD_DAYS = 31
_WORLD_FILE = "emulator.pickle"
_CLOCK_FILE = "clock.json"
_DB_FILE = "bot.sqlite3"


def sandbox_settings(base: Settings, data_dir: Path, api: FakeBotApi) -> Settings:
    """The operator's settings (time zone, tunables) with the sandbox's token, URLs and roster."""
    return replace(
        base,
        token=SANDBOX_TOKEN,
        api_url=api.base_url,
        file_url=api.base_file_url,
        db_path=data_dir / _DB_FILE,
        admins=frozenset({demo.ADMIN_ID}),
        tunables=replace(base.tunables, county_name=base.tunables.county_name or demo.COUNTY),
    )


async def start_application(app: Application) -> None:
    """What Application.run_polling does before it blocks, hooks included."""
    from bot.app import ALLOWED_UPDATES

    await app.initialize()
    if app.post_init:
        await app.post_init(app)
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    await app.start()


async def stop_application(app: Application) -> None:
    """What Application.run_polling does on SIGTERM, hooks included."""
    if app.updater is not None and app.updater.running:
        await app.updater.stop()
    if app.running:
        await app.stop()
    if app.post_stop:
        await app.post_stop(app)
    await app.shutdown()
    if app.post_shutdown:
        await app.post_shutdown(app)


class Sandbox:
    """One demo county: emulator + bot + clock. `start()`, use, `stop()`."""

    def __init__(
        self,
        data_dir: Path = DEFAULT_DATA_DIR,
        settings: Settings | None = None,
        *,
        start_at: datetime | None = None,
    ) -> None:
        """`start_at`: where a freshly seeded sandbox's clock starts (default: the real time)."""
        self.data_dir = data_dir
        self.start_at = start_at
        self.base_settings = settings or Settings(token=None)
        self.api = FakeBotApi(
            token=SANDBOX_TOKEN,
            bot_username=BOT_USERNAME,
            bot_first_name=texts.label("bot_name"),
            limits=Limits(enabled=False),  # the bot paces itself; no 429 pauses in a demo
        )
        # messages are dated by the sandbox's clock, so the page shows the time the bot saw
        self.api.world.clock = lambda: (datetime.now(UTC) + self.offset).timestamp()
        self.app: Application | None = None
        self.offset = timedelta(0)
        self.seeded_now = False  # this start seeded the demo data

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self, *, reset: bool = False) -> None:
        if reset and self.data_dir.exists():
            shutil.rmtree(self.data_dir)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        fresh = not (self.data_dir / _DB_FILE).exists()
        if fresh:  # a database without its chats (or the reverse) is no use
            for name in (_WORLD_FILE, _CLOCK_FILE):
                (self.data_dir / name).unlink(missing_ok=True)
        self._load_clock()
        if fresh and self.start_at is not None:
            self.offset = self.start_at - datetime.now(UTC)
        clock.set_source(lambda: datetime.now(UTC) + self.offset)
        restored = self._load_world()
        if not restored:  # before the bot starts: it sets the administrators' command menus
            self._open_chats(bot_in_group=not fresh)
        await self.api.start()
        from bot.app import build_application

        self.app = build_application(sandbox_settings(self.base_settings, self.data_dir, self.api))
        await start_application(self.app)
        if fresh:
            await self._seed()
            self.seeded_now = True
        self.save()

    async def stop(self) -> None:
        if self.app is not None:
            await stop_application(self.app)
            self.app = None
        self.save()
        await self.api.stop()
        clock.reset()

    @property
    def db(self) -> Database:
        assert self.app is not None, "the sandbox is not started"
        db = self.app.bot_data["services"].db
        assert isinstance(db, Database)
        return db

    # -- demo data ---------------------------------------------------------------------------
    def _open_chats(self, *, bot_in_group: bool) -> None:
        """Every persona has pressed Start; the administrator made the coordination group."""
        world = self.api.world
        for persona in demo.PERSONAS:
            if persona.user_id not in world.users:
                self.api.add_user(persona.user_id, persona.name)
            world.users[persona.user_id].started = True
        if demo.GROUP_ID not in world.chats:
            self.api.add_group(demo.GROUP_ID, demo.GROUP_TITLE, creator_id=demo.ADMIN_ID)
            chat = world.chats[demo.GROUP_ID]
            chat.bot_status = "member" if bot_in_group else "left"
            for persona in demo.PERSONAS:
                if persona.in_group and persona.user_id != demo.ADMIN_ID:
                    chat.members[persona.user_id] = "member"

    async def _seed(self) -> None:
        await demo.seed_directories(self.db)
        await demo.seed_people(self.db)
        await self._set_menus()
        # The administrator adds the bot to the group and binds it, as in real life.
        self.api.add_bot_to_group(demo.GROUP_ID, demo.ADMIN_ID)
        await self.api.wait_for_messages(demo.GROUP_ID, 1, timeout=10)
        self.api.send_text(demo.ADMIN_ID, "/bindgroup", chat_id=demo.GROUP_ID)
        await self.api.wait_for_messages(demo.GROUP_ID, 2, timeout=10)

    async def _set_menus(self) -> None:
        """Each persona's command menu, as onboarding sets it when an invitation is redeemed."""
        from telegram import BotCommandScopeChat

        from bot.domain.roles import Where
        from bot.features.onboarding import menu_for
        from bot.store.people import load_identity

        assert self.app is not None
        svc = self.app.bot_data["services"]
        for persona in demo.PERSONAS:
            identity = await load_identity(
                self.db, persona.user_id, persona.name, svc.settings.admins
            )
            await self.app.bot.set_my_commands(
                menu_for(svc, identity, Where.PRIVATE), scope=BotCommandScopeChat(persona.user_id)
            )

    # -- persistence of the emulator's chats and of the clock --------------------------------
    def save(self) -> None:
        world = self.api.world
        counters = {}
        for name in ("_update_ids", "_file_ids", "_callback_ids"):
            value = next(getattr(world, name))
            setattr(world, name, itertools.count(value))
            counters[name] = value
        state = {
            "users": world.users,
            "chats": world.chats,
            "files": world.files,
            "files_by_path": world.files_by_path,
            "counters": counters,
        }
        if self.data_dir.exists():
            target = self.data_dir / _WORLD_FILE
            temp = target.with_suffix(".tmp")
            temp.write_bytes(pickle.dumps(state))
            temp.replace(target)
            (self.data_dir / _CLOCK_FILE).write_text(
                json.dumps({"offset_seconds": self.offset.total_seconds()}), encoding="utf-8"
            )

    def _load_world(self) -> bool:
        path = self.data_dir / _WORLD_FILE
        if not path.exists():
            return False
        try:
            # The sandbox's own file, written by save() above.
            state: dict[str, Any] = pickle.loads(path.read_bytes())
        except Exception:
            log.warning("sandbox: %s is unreadable; starting with empty chats", path)
            return False
        world = self.api.world
        world.users = state["users"]
        world.chats = state["chats"]
        world.files = state["files"]
        world.files_by_path = state["files_by_path"]
        for name, value in state["counters"].items():
            setattr(world, name, itertools.count(value))
        return True

    def _load_clock(self) -> None:
        path = self.data_dir / _CLOCK_FILE
        self.offset = timedelta(0)
        if path.exists():
            try:
                seconds = float(json.loads(path.read_text(encoding="utf-8"))["offset_seconds"])
                self.offset = timedelta(seconds=seconds)
            except (ValueError, KeyError, TypeError):
                log.warning("sandbox: %s is unreadable; the clock starts at the real time", path)

    # -- the clock ---------------------------------------------------------------------------
    def now(self) -> datetime:
        return clock.now()

    def clock_state(self) -> dict[str, Any]:
        tz = self.base_settings.tz
        now = self.now().astimezone(tz)
        return {
            "now": now.isoformat(timespec="seconds"),
            "display": now.strftime("%Y-%m-%d %H:%M"),
            "weekday": texts.label("weekday", index=now.weekday()),
            "offset_seconds": int(self.offset.total_seconds()),
            "tz": str(tz),
        }

    async def advance(self, delta: timedelta) -> None:
        """Move the clock forward by `delta`, then run every due scan."""
        if delta < timedelta(0):
            raise ValueError("the sandbox clock only moves forward")
        self.offset += delta
        await self.run_scanners()
        self.save()

    async def advance_to(self, moment: datetime) -> None:
        await self.advance(moment - self.now())

    async def advance_to_next(self, max_days: int = MAX_FAST_FORWARD_DAYS) -> bool:
        """Move forward hour by hour (and to any message the outbox holds back) until the bot
        has something to send; False if nothing happened within `max_days`."""
        before = await self._signature()
        limit = self.now() + timedelta(days=max_days)
        while self.now() < limit:
            now = self.now()
            target = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)
            row = await self.db.fetchone(
                "SELECT min(not_before) FROM outbox WHERE status = 'pending' AND not_before > ?",
                (clock.to_db(now),),
            )
            if row is not None and row[0] is not None:
                target = min(target, clock.from_db(str(row[0])))
            self.offset += target - now
            await self.run_scanners()
            if await self._signature() != before:
                self.save()
                return True
        self.save()
        return False

    async def _signature(self) -> tuple[int, int]:
        row = await self.db.fetchone(
            "SELECT count(*) FROM outbox WHERE not_before <= ?", (clock.now_db(),)
        )
        sent = sum(chat.bot_sent_total for chat in self.api.world.chats.values())
        return int(row[0] if row else 0), sent

    async def run_scanners(self) -> None:
        """Run every periodic scan now (the JobQueue's repeating jobs: task reminders, draw
        acknowledgements, whatever features register later), then wake the outbox sender."""
        assert self.app is not None
        if self.app.job_queue is not None:
            for job in self.app.job_queue.jobs():
                if isinstance(job.job.trigger, IntervalTrigger):
                    await job.run(self.app)
        sender = self.app.bot_data.get("outbox")
        if sender is not None:
            sender.wake()
        await asyncio.sleep(0)
