"""Operations: `python -m bot doctor` (is this installation ready to run?) and
`python -m bot backup DIR` (a consistent copy of the database while the bot runs).

The doctor runs each check on its own and says one line per check (templates/zh/ops/); a
failed check makes the exit status non-zero, a warning does not. The backup uses SQLite's
online backup API, which copies a consistent snapshot even while the bot writes (WAL mode).
On PostgreSQL (BOT_DB=postgresql://…) the doctor checks the server instead of a file and the
disk, and backups are the server's business: pg_dump / pg_restore (README).
"""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal

from bot import clock
from bot.config import ConfigError, Settings
from bot.db import discover_migrations
from bot.domain.workdays import WorkCalendar

Status = Literal["ok", "warn", "fail", "skip"]
DEFAULT_MIN_FREE_MB = 200  # below this the doctor fails: SQLite needs room for WAL and backups
WARN_FREE_MB = 1024


@dataclass(frozen=True)
class Check:
    """One doctor line: which check, how it went, and the facts its template needs."""

    name: str
    status: Status
    facts: dict[str, Any] = field(default_factory=dict)


def check_token(settings: Settings) -> Check:
    try:
        settings.require_token()
    except ConfigError:
        return Check("token", "fail", {"missing": not settings.token})
    bot_id = (settings.token or "").split(":", 1)[0]
    return Check("token", "ok", {"bot_id": bot_id})


async def check_api(settings: Settings, token_ok: bool, wait_seconds: float = 10.0) -> Check:
    """getMe against the configured Bot API (BOT_API_URL), so it can be pointed at the
    emulator or at a self-hosted Bot API server."""
    if not token_ok:
        return Check("api", "skip", {"url": settings.api_url})
    from telegram import Bot
    from telegram.error import InvalidToken, TelegramError
    from telegram.request import HTTPXRequest

    request = HTTPXRequest(connect_timeout=wait_seconds, read_timeout=wait_seconds)
    bot = Bot(settings.token or "", base_url=settings.api_url, request=request)
    try:
        async with bot:  # initialize() calls getMe
            me = bot.bot
    except InvalidToken:
        return Check("api", "fail", {"url": settings.api_url, "rejected": True})
    except (TelegramError, OSError) as exc:
        detail = settings.redact(str(exc))
        return Check("api", "fail", {"url": settings.api_url, "error": detail})
    return Check("api", "ok", {"url": settings.api_url, "username": me.username})


def check_database(path: Path, busy_ms: int = 5000) -> Check:
    """The file exists, every migration in the package is applied, and it takes a write (a
    table created and dropped inside a transaction that is rolled back: nothing changes)."""
    if not path.is_file():
        return Check("database", "fail", {"path": str(path), "missing": True})
    known = {m.version: m.name for m in discover_migrations()}
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        return Check("database", "fail", {"path": str(path), "error": str(exc)})
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_ms)}")
        try:
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
        except sqlite3.Error:
            rows = []
        applied = {int(r[0]) for r in rows}
        pending = sorted(name for version, name in known.items() if version not in applied)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("CREATE TABLE doctor_write_probe (x INTEGER)")
            conn.execute("DROP TABLE doctor_write_probe")
            conn.execute("ROLLBACK")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            return Check("database", "fail", {"path": str(path), "readonly": str(exc)})
    finally:
        conn.close()
    if pending:
        return Check("database", "fail", {"path": str(path), "pending": pending})
    return Check("database", "ok", {"path": str(path), "applied": len(applied)})


def check_postgres(url: str, timeout: float = 10.0) -> Check:
    """The server answers, every migration in the package is applied, and it takes a write
    (a table created and dropped in a transaction that is rolled back: nothing changes)."""
    import psycopg

    from bot.config import redact_db_url

    label = redact_db_url(url)
    known = {m.version: m.name for m in discover_migrations()}
    try:
        conn = psycopg.connect(url, connect_timeout=max(1, int(timeout)), autocommit=True)
    except psycopg.Error as exc:
        return Check("database", "fail", {"path": label, "error": str(exc).strip()})
    try:
        server = str(conn.execute("SHOW server_version").fetchone()[0])  # type: ignore[index]
        try:
            rows = conn.execute("SELECT version FROM schema_migrations").fetchall()
        except psycopg.Error:
            rows = []
        applied = {int(r[0]) for r in rows}
        pending = sorted(name for version, name in known.items() if version not in applied)
        try:
            with conn.transaction(force_rollback=True):
                conn.execute("CREATE TABLE doctor_write_probe (x BIGINT)")
                conn.execute("DROP TABLE doctor_write_probe")
        except psycopg.Error as exc:
            return Check("database", "fail", {"path": label, "readonly": str(exc).strip()})
    finally:
        conn.close()
    facts: dict[str, Any] = {"path": label, "server": server}
    if pending:
        return Check("database", "fail", {**facts, "pending": pending})
    return Check("database", "ok", {**facts, "applied": len(applied)})


def check_fonts() -> Check:
    """Whether matplotlib has a CJK font for the /stats chart. Without one the chart is still
    sent but its Chinese labels are dropped: a warning, not a failure."""
    from bot import charts

    family = charts.cjk_font()
    return Check("fonts", "ok" if family else "warn", {"family": family})


def configured_days(path: Path | str, settings: Settings) -> dict[int, int]:
    """Days per year that the county set itself: [calendar] in the TOML file and /holiday."""
    t = settings.tunables.invitations
    days: list[date] = [*t.holidays, *t.workdays]
    if isinstance(path, str):
        days += _postgres_days(path)
    elif path.is_file():
        try:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
            try:
                days += [
                    date.fromisoformat(r[0]) for r in conn.execute("SELECT day FROM calendar_days")
                ]
            finally:
                conn.close()
        except sqlite3.Error:
            pass  # the database check says what is wrong with the file
    counts: dict[int, int] = {}
    for day in days:
        counts[day.year] = counts.get(day.year, 0) + 1
    return counts


def _postgres_days(url: str) -> list[date]:
    import psycopg

    try:
        with psycopg.connect(url, connect_timeout=10) as conn:
            return [date.fromisoformat(r[0]) for r in conn.execute("SELECT day FROM calendar_days")]
    except psycopg.Error:
        return []  # the database check says what is wrong with the server


def check_calendar(settings: Settings, today: date) -> list[Check]:
    """This year's and next year's working-day calendar. A year the package has no data for
    and the county set no days for is a failure this year, a warning next year (the State
    Council publishes it late in the year before)."""
    cal = WorkCalendar()
    configured = configured_days(settings.database, settings)
    checks = []
    for year, missing_status in ((today.year, "fail"), (today.year + 1, "warn")):
        facts: dict[str, Any] = {"year": year, "configured": configured.get(year, 0)}
        if cal.has_data(year):
            checks.append(Check("calendar", "ok", {**facts, "official": True}))
        elif configured.get(year):
            checks.append(Check("calendar", "warn", {**facts, "official": False}))
        else:
            status: Status = "fail" if missing_status == "fail" else "warn"
            checks.append(Check("calendar", status, {**facts, "official": False}))
    return checks


def check_disk(path: Path, min_free_mb: int) -> Check:
    folder = path.parent if str(path.parent) else Path(".")
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free_mb = shutil.disk_usage(folder).free // (1024 * 1024)
    status: Status = "ok"
    if free_mb < min_free_mb:
        status = "fail"
    elif free_mb < max(WARN_FREE_MB, min_free_mb):
        status = "warn"
    return Check("disk", status, {"folder": str(folder), "free_mb": free_mb, "min_mb": min_free_mb})


async def doctor(
    settings: Settings,
    *,
    min_free_mb: int = DEFAULT_MIN_FREE_MB,
    today: date | None = None,
    api_timeout: float = 10.0,
) -> list[Check]:
    day = today or clock.now().astimezone(settings.tz).date()
    token = check_token(settings)
    checks = [token, await check_api(settings, token.status == "ok", api_timeout)]
    blocking: list[Callable[[], Check | list[Check]]] = [
        (
            (lambda: check_postgres(settings.db_url or "", api_timeout))
            if settings.db_url
            else (lambda: check_database(settings.db_path))
        ),
        check_fonts,
        lambda: check_calendar(settings, day),
    ]
    if not settings.db_url:  # PostgreSQL's disk is the server's: its operators watch it
        blocking.append(lambda: check_disk(settings.db_path, min_free_mb))
    for run in blocking:
        result = await asyncio.to_thread(run)
        checks.extend(result if isinstance(result, list) else [result])
    return checks


def failed(checks: list[Check]) -> bool:
    return any(c.status == "fail" for c in checks)


# -- backup -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BackupResult:
    path: Path
    size: int
    pages: int
    integrity: str


class BackupError(RuntimeError):
    """The backup could not be made; the message is one line for the operator."""


POSTGRES_BACKUP = (
    "BOT_DB is a PostgreSQL server: back it up with pg_dump, e.g."
    ' pg_dump --format=custom --file=bot-$(date +%Y%m%d-%H%M%S).dump "$BOT_DB"'
    ' (restore: pg_restore --clean --if-exists --dbname="$BOT_DB" FILE); see the README,'
    " Running at province scale"
)


def backup_settings(settings: Settings, folder: Path, now: datetime | None = None) -> BackupResult:
    """`python -m bot backup DIR`: the SQLite copy below; on PostgreSQL, what to run instead."""
    if settings.db_url:
        raise BackupError(POSTGRES_BACKUP)
    return backup(settings.db_path, folder, settings.tz, now)


def backup(db_path: Path, folder: Path, tz: tzinfo, now: datetime | None = None) -> BackupResult:
    """Copies the database into `folder` as bot-YYYYMMDD-HHMMSS.sqlite3 (Beijing time) with
    SQLite's online backup API: one consistent snapshot, even while the bot writes. The copy
    is written under a temporary name, checked (PRAGMA integrity_check) and then renamed, so
    a file with the final name is always a complete backup."""
    if not db_path.is_file():
        raise BackupError(f"database not found: {db_path}")
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or clock.now()).astimezone(tz).strftime("%Y%m%d-%H%M%S")
    target = folder / f"{db_path.stem}-{stamp}.sqlite3"
    partial = target.with_name(target.name + ".partial")
    source = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        source.execute("PRAGMA busy_timeout=5000")
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)  # pages=-1: the whole database in one step
            copy.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            integrity = str(copy.execute("PRAGMA integrity_check").fetchone()[0])
            pages = int(copy.execute("PRAGMA page_count").fetchone()[0])
        finally:
            copy.close()
    except sqlite3.Error as exc:
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed: {exc}") from exc
    finally:
        source.close()
    if integrity != "ok":
        partial.unlink(missing_ok=True)
        raise BackupError(f"backup failed its integrity check: {integrity}")
    partial.replace(target)
    return BackupResult(target, target.stat().st_size, pages, integrity)
