"""Database access: one connection, explicit transactions, numbered migrations.

SQLite through aiosqlite is the embedded default (BOT_DB is a file path); BOT_DB=postgresql://…
selects PostgreSQL (bot.pgdb), behind the same interface: `transaction()` yields a connection
with aiosqlite's `execute`/`executemany`/`execute_fetchall`, rows read by index and by name.
`Database.dialect` says which one ("sqlite" or "postgresql") for the few statements that differ.

All access goes through a lock, so a coroutine never reads another coroutine's uncommitted
writes on the shared connection. Keep Telegram calls outside `transaction()` blocks.
"""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import aiosqlite
import psycopg

from bot import clock, pgdb
from bot.resources import data_dir

log = logging.getLogger(__name__)

MIGRATIONS_DIR = data_dir("migrations")
_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    pass


# What a failed statement raises, on either store (for callers that report it, e.g. imports).
DB_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error, psycopg.Error)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path


def discover_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The numbered migrations in `directory`, in order (empty when there are none)."""
    found: list[Migration] = []
    for path in sorted(directory.glob("*.sql")):
        match = _MIGRATION_NAME.match(path.name)
        if not match:
            raise MigrationError(f"migration file name not understood: {path.name}")
        found.append(Migration(int(match.group(1)), path.name, path))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a number")
    return found


def require_migrations(directory: Path | None = None) -> list[Migration]:
    """The migrations, or MigrationError when there are none: an installation without its
    migrations would otherwise start on an empty database and fail at the first query."""
    directory = directory or MIGRATIONS_DIR
    found = discover_migrations(directory) if directory.is_dir() else []
    if not found:
        raise MigrationError(
            f"no database migrations found in {directory}: the installation is incomplete"
            " (reinstall the package)"
        )
    return found


def row_locks(dialect: str) -> str:
    """What a SELECT that claims rows ends with: PostgreSQL locks the rows it returns and skips
    those another instance holds; SQLite needs nothing (BEGIN IMMEDIATE serialises writers)."""
    return " FOR UPDATE SKIP LOCKED" if dialect == "postgresql" else ""


def row_lock_wait(dialect: str) -> str:
    """Like `row_locks`, but waits for a row another instance holds (a shared counter)."""
    return " FOR UPDATE" if dialect == "postgresql" else ""


class Database:
    """A single shared connection, serialized by an asyncio lock.

    `target` is an SQLite file path, or a postgresql:// (postgres://) URL."""

    def __init__(self, target: Path | str) -> None:
        self._pg: pgdb.PostgresStore | None = None
        if pgdb.is_url(target):
            url = str(target).strip()
            self._pg = pgdb.PostgresStore(url)
            self.dialect = "postgresql"
            self.name = pgdb.safe_url(url)
            self.path = Path()
        else:
            self.dialect = "sqlite"
            self.path = Path(target)
            self.name = str(self.path)
        self._conn: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    async def connect(self) -> None:
        if self._pg is not None:
            await self._pg.connect()
            return
        if str(self.path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: autocommit; transactions are opened explicitly below.
        conn = await aiosqlite.connect(self.path, isolation_level=None)
        conn.row_factory = sqlite3.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        self._conn = conn

    async def close(self) -> None:
        if self._pg is not None:
            await self._pg.close()
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    @property
    def conn(self) -> aiosqlite.Connection:
        if self._pg is not None:
            return cast(aiosqlite.Connection, self._pg.conn)
        if self._conn is None:
            raise RuntimeError("database is not connected")
        return self._conn

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE … COMMIT, rolled back on any exception."""
        if self._pg is not None:
            async with self._pg.transaction() as pg_conn:
                yield cast(aiosqlite.Connection, pg_conn)
            return
        async with self._lock:
            conn = self.conn
            await conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                await conn.execute("ROLLBACK")
                raise
            else:
                await conn.execute("COMMIT")

    async def fetchall(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> list[sqlite3.Row]:
        if self._pg is not None:
            return cast(list[sqlite3.Row], await self._pg.fetchall(sql, params))
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            rows = await cursor.fetchall()
            await cursor.close()
            return list(rows)

    async def fetchone(
        self, sql: str, params: Sequence[Any] | dict[str, Any] = ()
    ) -> sqlite3.Row | None:
        if self._pg is not None:
            return cast(sqlite3.Row | None, await self._pg.fetchone(sql, params))
        async with self._lock:
            cursor = await self.conn.execute(sql, params)
            row = await cursor.fetchone()
            await cursor.close()
            return row

    async def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> None:
        """One statement in its own transaction."""
        async with self.transaction() as conn:
            await conn.execute(sql, params)

    # -- migrations -------------------------------------------------------------------------

    async def applied_versions(self) -> set[int]:
        if self._pg is not None:
            return await self._pg.applied_versions()
        async with self._lock:
            await self.conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
            )
            cursor = await self.conn.execute("SELECT version FROM schema_migrations")
            rows = await cursor.fetchall()
            await cursor.close()
        return {int(r[0]) for r in rows}

    async def migrate(self, migrations: Iterable[Migration] | None = None) -> list[str]:
        """Apply pending migrations in order. Each one is atomic: on failure nothing of it stays."""
        pending = [
            m
            for m in (migrations if migrations is not None else require_migrations())
            if m.version not in await self.applied_versions()
        ]
        applied: list[str] = []
        for migration in sorted(pending, key=lambda m: m.version):
            if self._pg is not None:
                try:
                    await self._pg.apply(migration.version, migration.name, migration.path)
                except psycopg.Error as exc:
                    raise MigrationError(f"{migration.name}: {exc}") from exc
                log.info("applied migration %s", migration.name)
                applied.append(migration.name)
                continue
            sql = migration.path.read_text(encoding="utf-8")
            async with self._lock:
                conn = self.conn
                # executescript runs the whole file; BEGIN/COMMIT around it keeps it atomic
                # (SQLite DDL is transactional).
                try:
                    await conn.executescript(
                        "BEGIN IMMEDIATE;\n"
                        + sql
                        + "\n;INSERT INTO schema_migrations (version, name, applied_at) VALUES ("
                        + f"{migration.version}, '{migration.name}', '{clock.now_db()}');\nCOMMIT;"
                    )
                except sqlite3.Error as exc:
                    if conn.in_transaction:
                        await conn.execute("ROLLBACK")
                    failure: sqlite3.Error | None = exc
                else:
                    failure = None
            if failure is not None:
                # Another instance starting at the same moment applied it first: fine.
                if migration.version in await self.applied_versions():
                    log.info("migration %s was applied by another instance", migration.name)
                    continue
                raise MigrationError(f"{migration.name}: {failure}") from failure
            log.info("applied migration %s", migration.name)
            applied.append(migration.name)
        return applied


@asynccontextmanager
async def open_database(path: Path | str, *, migrate: bool = True) -> AsyncIterator[Database]:
    db = Database(path)
    await db.connect()
    try:
        if migrate:
            await db.migrate()
        yield db
    finally:
        await db.close()
