"""`python -m bot run`, as an operator starts it, answers /start through the fake Bot API."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from tests.conftest import TOKEN
from tests.fakeapi import FakeBotApi
from tests.pg_support import cli_on_sqlite

ROOT = Path(__file__).resolve().parent.parent


@cli_on_sqlite
async def test_run_answers_start_and_hides_the_token(api: FakeBotApi, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    env.update(
        BOT_TOKEN=TOKEN,
        BOT_API_URL=api.base_url,
        BOT_DB=str(tmp_path / "run.sqlite3"),
        BOT_ADMINS="1001",
        PYTHONPATH=str(ROOT),
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        "--log-level",
        "DEBUG",
        "run",
        env=env,
        cwd=tmp_path,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        api.add_user(2001, "新用户")
        await api.wait_for(lambda: any(r.method == "getUpdates" for r in api.requests), timeout=30)
        api.send_text(2001, "/start")
        [greeting] = await api.wait_for_messages(2001, 1, timeout=15)
        assert "还没有注册" in greeting.text
    finally:
        process.terminate()
        output, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    log = output.decode("utf-8", errors="replace")
    assert TOKEN not in log and TOKEN.split(":")[1] not in log
    assert (tmp_path / "run.sqlite3").exists()
