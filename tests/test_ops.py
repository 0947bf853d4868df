"""Operations: `python -m bot doctor` against the fake Bot API (passing, and each kind of
failure), and `python -m bot backup DIR` of a database the running bot is writing to, restored
and migrated."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
import threading
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from bot import clock, ops
from bot.config import Settings
from bot.db import Database, discover_migrations, open_database
from bot.render import Renderer
from tests.conftest import TOKEN
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, open_chat, running_bot, settings_for
from tests.pg_support import cli_on_sqlite, sqlite_only

ROOT = Path(__file__).resolve().parent.parent


async def cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    """Runs `python -m bot ARGS` as an operator would; returns the exit status and stdout."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    environ.update(env, PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        env=environ,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode()


async def migrated(path: Path) -> None:
    async with open_database(path):
        pass


def line(output: str, word: str) -> str:
    found = [row for row in output.splitlines() if word in row]
    assert len(found) >= 1, f"no line with {word!r} in:\n{output}"
    return found[0]


@cli_on_sqlite
async def test_doctor_passes_against_the_emulator(api: FakeBotApi, tmp_path: Path) -> None:
    db = tmp_path / "bot.sqlite3"
    await migrated(db)
    # a county that set its holidays for this year and next: passes in any year, whether or
    # not chinese-calendar already has that year
    year = datetime.now(UTC).year
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[calendar]\nholidays = ["{year}-10-01", "{year + 1}-10-01"]\n', encoding="utf-8"
    )
    env = {
        "BOT_TOKEN": TOKEN,
        "BOT_API_URL": api.base_url,
        "BOT_DB": str(db),
        "BOT_CONFIG": str(config),
    }
    status, out = await cli("doctor", env=env, cwd=tmp_path)
    assert status == 0, out
    assert line(out, "BOT_TOKEN").startswith("✅")
    assert line(out, "Bot API").startswith("✅") and "@" + api.world.bot_username in out
    assert any(r.method == "getMe" for r in api.requests)
    assert line(out, "数据库").startswith("✅") and f"{len(discover_migrations())} 个迁移" in out
    assert "中文字体" in out  # ✅ or ⚠️ (the chart is still sent without a CJK font)
    assert line(out, f"{year} 年工作日历")[0] in "✅⚠"  # official data, or the county's days
    assert line(out, f"{year + 1} 年工作日历")[0] in "✅⚠"
    assert line(out, "磁盘空间")[0] in "✅⚠"  # ⚠️ only below 1 GB free
    assert "❌" not in out
    # nothing was written: the write probe rolled back
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    conn.close()
    assert "doctor_write_probe" not in tables


@cli_on_sqlite
async def test_doctor_fails_on_token_api_database_and_disk(api: FakeBotApi, tmp_path: Path) -> None:
    # malformed token: a failure, and getMe is not tried
    env = {"BOT_TOKEN": "not-a-token", "BOT_API_URL": api.base_url, "BOT_DB": str(tmp_path / "x")}
    status, out = await cli("doctor", env=env, cwd=tmp_path)
    assert status == 1
    assert line(out, "BOT_TOKEN").startswith("❌") and "格式不对" in out
    assert line(out, "Bot API").startswith("⏭️")
    assert line(out, "数据库").startswith("❌") and "文件不存在" in out
    assert not (tmp_path / "x").exists()  # the doctor creates no database
    assert out.rstrip().splitlines()[-1].startswith("❌ 有 2 项检查未通过")

    # a well-formed token the Bot API rejects, and a database with a migration pending
    db = tmp_path / "old.sqlite3"
    old = Database(db)
    await old.connect()
    await old.migrate(discover_migrations()[:-1])
    await old.close()
    wrong = "999999:" + "A" * 35
    env = {"BOT_TOKEN": wrong, "BOT_API_URL": api.base_url, "BOT_DB": str(db)}
    status, out = await cli("doctor", "--min-free-mb", str(10**9), env=env, cwd=tmp_path)
    assert status == 1
    assert line(out, "Bot API").startswith("❌") and "令牌被拒绝" in out
    assert wrong not in out  # the token is never printed
    pending = discover_migrations()[-1].name
    assert line(out, "数据库").startswith("❌") and f"1 个迁移未执行（{pending}）" in out
    assert line(out, "磁盘空间").startswith("❌") and "低于 1000000000 MB" in out

    # nothing listening at the Bot API address
    settings = Settings(token=TOKEN, api_url="http://127.0.0.1:9/bot", db_path=db)
    checks = await ops.doctor(settings, api_timeout=2.0)
    api_check = next(c for c in checks if c.name == "api")
    assert api_check.status == "fail" and "error" in api_check.facts
    text = Renderer(html=False).text("ops/doctor_line.j2", c=api_check)
    assert text.startswith("❌ Bot API（http://127.0.0.1:9/bot）：连接失败：")


async def test_doctor_names_a_missing_calendar_year(tmp_path: Path) -> None:
    """chinese-calendar has no data for 2100: that year fails by name; next year only warns;
    days the county set itself (here [calendar] in the TOML file) count as a calendar."""
    settings = Settings(token=None, db_path=tmp_path / "none.sqlite3")
    this, following = ops.check_calendar(settings, date(2100, 3, 1))
    assert (this.status, this.facts["year"]) == ("fail", 2100)
    assert (following.status, following.facts["year"]) == ("warn", 2101)
    render = Renderer(html=False).text
    assert "缺少 2100 年官方数据" in render("ops/doctor_line.j2", c=this)
    assert render("ops/doctor_line.j2", c=this).startswith("❌ 2100 年工作日历")
    ok_this, _ = ops.check_calendar(settings, date(2026, 3, 1))
    assert ok_this.status == "ok"
    invitations = replace(settings.tunables.invitations, holidays=(date(2100, 1, 1),))
    configured = replace(settings, tunables=replace(settings.tunables, invitations=invitations))
    this, _ = ops.check_calendar(configured, date(2100, 3, 1))
    assert (this.status, this.facts["configured"]) == ("warn", 1)


@sqlite_only("an SQLite file locked by another connection")
async def test_doctor_database_that_takes_no_write(tmp_path: Path) -> None:
    """Another process holding the write lock (a stuck second bot, a long manual session):
    the write probe times out and the database check fails, naming SQLite's reason."""
    db = tmp_path / "locked.sqlite3"
    await migrated(db)
    assert ops.check_database(db).status == "ok"
    holder = sqlite3.connect(db, isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")
        check = ops.check_database(db, busy_ms=200)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert check.status == "fail" and "locked" in check.facts["readonly"]
    text = Renderer(html=False).text("ops/doctor_line.j2", c=check)
    assert text.startswith("❌ 数据库") and "不可写：database is locked" in text


@sqlite_only("SQLite's online backup API (PostgreSQL: pg_dump)")
async def test_backup_while_the_bot_writes_restores_and_migrates(
    api: FakeBotApi, tmp_path: Path
) -> None:
    """The bot runs and another connection keeps writing while `backup` copies: the copy is
    one consistent snapshot (every batch whole), passes the integrity check, and once
    restored over BOT_DB it migrates (nothing pending) and the bot runs on it."""
    db = tmp_path / "live.sqlite3"
    clock.set_source(lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    open_chat(api, ADMIN_ID, "县局管理员")
    stop = threading.Event()
    batches = 0

    def writer() -> None:
        """Batches of 50 audit rows, each batch in one transaction."""
        nonlocal batches
        conn = sqlite3.connect(db, isolation_level=None, timeout=10)
        while not stop.is_set():
            conn.execute("BEGIN IMMEDIATE")
            for _ in range(50):
                conn.execute(
                    "INSERT INTO audit_log (at, actor, action, entity, entity_id, outcome)"
                    " VALUES ('2026-11-30T02:00:00Z', 0, 'bench.write', 'batch', ?, 'ok')",
                    (str(batches),),
                )
            conn.execute("COMMIT")
            batches += 1
        conn.close()

    try:
        async with running_bot(settings_for(api, db)):
            thread = threading.Thread(target=writer)
            thread.start()
            await api.wait_for(lambda: batches >= 5, 10.0)
            env = {"BOT_DB": str(db)}
            status, out = await cli("backup", str(tmp_path / "backups"), env=env, cwd=tmp_path)
            await api.wait_for(lambda: batches >= 10, 10.0)  # still writing after the copy
            stop.set()
            await asyncio.to_thread(thread.join)
        assert status == 0, out
        copies = list((tmp_path / "backups").glob("live-*.sqlite3"))
        assert len(copies) == 1 and out.startswith(f"✅ 已备份到 {copies[0]}")
        assert "完整性检查 ok" in out
        assert not list((tmp_path / "backups").glob("*.partial"))

        restored = tmp_path / "restored.sqlite3"
        restored.write_bytes(copies[0].read_bytes())
        conn = sqlite3.connect(restored)
        rows = conn.execute(
            "SELECT entity_id, count(*) FROM audit_log WHERE action = 'bench.write'"
            " GROUP BY entity_id"
        ).fetchall()
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
        conn.close()
        assert rows and all(count == 50 for _, count in rows)  # no batch cut in half
        assert len(rows) < batches  # the copy is a snapshot, not the final state
        assert mode == "delete"  # one self-contained file, no -wal beside it

        status, out = await cli("migrate", env={"BOT_DB": str(restored)}, cwd=tmp_path)
        assert status == 0 and "applied 0 migration(s)" in out
        async with running_bot(settings_for(api, restored)):
            before = len(api.chat_messages(ADMIN_ID))
            api.send_text(ADMIN_ID, "/start")
            await api.wait_for_messages(ADMIN_ID, before + 1)
    finally:
        stop.set()
        clock.reset()


@sqlite_only("SQLite's online backup API (PostgreSQL: pg_dump)")
async def test_backup_of_an_older_schema_migrates_after_restore(tmp_path: Path) -> None:
    db = tmp_path / "old.sqlite3"
    old = Database(db)
    await old.connect()
    await old.migrate(discover_migrations()[:3])
    await old.close()
    result = ops.backup(db, tmp_path / "b", Settings(token=None).tz)
    assert result.integrity == "ok" and result.path.name.startswith("old-")
    fresh = Database(result.path)
    await fresh.connect()
    try:
        applied = await fresh.migrate()
    finally:
        await fresh.close()
    assert applied == [m.name for m in discover_migrations()[3:]]


@sqlite_only("SQLite's online backup API (PostgreSQL: pg_dump)")
async def test_backup_of_a_missing_database(tmp_path: Path) -> None:
    status, out = await cli(
        "backup", str(tmp_path / "b"), env={"BOT_DB": str(tmp_path / "none.sqlite3")}, cwd=tmp_path
    )
    assert status == 1 and out == ""
    assert not (tmp_path / "none.sqlite3").exists()
