"""A running sandbox (emulator + bot + web page) for the sandbox tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from bot.config import Settings
from bot.sandbox.core import Sandbox
from bot.sandbox.web import SandboxWeb

# Monday 30 November 2026, 10:00 in Beijing: the reply deadline of a task proposed now is
# Wednesday 2 December 18:00, with reminders on Tuesday and Wednesday at 09:00.
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


@asynccontextmanager
async def running_sandbox(
    data_dir: Path, *, reset: bool = False, start_at: datetime | None = MONDAY_10
) -> AsyncIterator[tuple[Sandbox, SandboxWeb]]:
    sandbox = Sandbox(data_dir, Settings(token=None), start_at=start_at)
    await sandbox.start(reset=reset)
    page = SandboxWeb(sandbox)
    try:
        await page.start()
        yield sandbox, page
    finally:
        await page.stop()
        await sandbox.stop()
