"""`python -m bot sandbox`: the whole bot in a browser, with no token and no internet.

`core.Sandbox` runs the Bot API emulator (bot.emulator), the real bot pointed at it and a
movable clock; `web.SandboxWeb` serves the chat page (static/) and its JSON endpoints;
`demo` is the seeded demo county.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from bot.config import Settings


async def serve(
    settings: Settings,
    data_dir: Path,
    *,
    port: int,
    reset: bool = False,
    stop: asyncio.Event | None = None,
) -> None:
    """Start everything, print the address, run until SIGINT/SIGTERM (or `stop` is set)."""
    from bot.sandbox.core import Sandbox
    from bot.sandbox.web import SandboxWeb

    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
        except (NotImplementedError, RuntimeError):  # pragma: no cover - not the main thread
            pass
    sandbox = Sandbox(data_dir, settings)
    await sandbox.start(reset=reset)
    page = SandboxWeb(sandbox, port=port)
    try:
        await page.start()
    except OSError:
        await sandbox.stop()
        raise
    seeded = "demo data seeded" if sandbox.seeded_now else "demo data kept (--reset starts over)"
    print(f"sandbox ready: open {page.url} in a browser ({seeded}, data in {data_dir})", flush=True)
    print("Ctrl+C stops it; everything runs on 127.0.0.1, no token, no internet.", flush=True)
    try:
        await stop.wait()
    finally:
        await page.stop()
        await sandbox.stop()
