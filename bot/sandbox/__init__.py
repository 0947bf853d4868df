"""`python -m bot sandbox`: the whole bot in a browser, with no token and no internet.

`core.Sandbox` runs the Bot API emulator (bot.emulator), the real bot pointed at it and a
movable clock; `web.SandboxWeb` serves the chat page (static/) and its JSON endpoints;
`demo` is the seeded demo county.
"""

from __future__ import annotations

import asyncio
import errno
import signal
import socket
import sys
from pathlib import Path

from bot.config import Settings


class PortInUse(OSError):
    """The page's port is taken (another sandbox, another program)."""

    def __init__(self, port: int) -> None:
        super().__init__(errno.EADDRINUSE, f"port {port} is already in use")
        self.port = port


def probe_port(port: int, host: str = "127.0.0.1") -> None:
    """Raise PortInUse when `port` on `host` cannot be bound (0: any free port, never taken)."""
    if port == 0:
        return
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        if sys.platform != "win32":
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(port) from None
            raise


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

    probe_port(port)  # before anything starts: a port in use changes nothing on disk
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
    except OSError as exc:
        await sandbox.stop()
        if exc.errno == errno.EADDRINUSE:  # taken between the probe and now
            raise PortInUse(port) from None
        raise
    seeded = "demo data seeded" if sandbox.seeded_now else "demo data kept (--reset starts over)"
    print(f"sandbox ready: open {page.url} in a browser ({seeded}, data in {data_dir})", flush=True)
    print("Ctrl+C stops it; everything runs on 127.0.0.1, no token, no internet.", flush=True)
    try:
        await stop.wait()
    finally:
        await page.stop()
        await sandbox.stop()
