from pathlib import Path

import pytest

from bot.db import Database, MigrationError, discover_migrations, open_database
from tests.pg_support import sqlite_only


@sqlite_only("the SQLite file, WAL and its pragmas")
async def test_fresh_database_has_schema_and_pragmas(tmp_path: Path) -> None:
    async with open_database(tmp_path / "sub" / "bot.sqlite3") as db:
        assert (tmp_path / "sub" / "bot.sqlite3").exists()
        row = await db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        row = await db.fetchone("PRAGMA foreign_keys")
        assert row is not None and row[0] == 1
        versions = await db.applied_versions()
        assert versions == {m.version for m in discover_migrations()}
        assert await db.migrate() == []  # idempotent


@sqlite_only("reads sqlite_master (tests/test_postgres.py has the PostgreSQL twin)")
async def test_failing_migration_leaves_database_as_it_was(tmp_path: Path) -> None:
    migrations = tmp_path / "m"
    migrations.mkdir()
    (migrations / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER);", encoding="utf-8")
    (migrations / "0002_b.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (1);\nTHIS IS NOT SQL;", encoding="utf-8"
    )
    db = Database(tmp_path / "t.sqlite3")
    await db.connect()
    try:
        with pytest.raises(MigrationError, match=r"0002_b\.sql"):
            await db.migrate(discover_migrations(migrations))
        assert await db.applied_versions() == {1}
        assert await db.fetchone("SELECT name FROM sqlite_master WHERE name = 'b'") is None
        row = await db.fetchone("SELECT count(*) FROM a")
        assert row is not None and row[0] == 0
    finally:
        await db.close()


async def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    async with open_database(tmp_path / "t.sqlite3") as db:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO departments (code, name, created_at, updated_at)"
                    " VALUES ('X', 'x', '', '')"
                )
                raise RuntimeError("boom")
        assert await db.fetchall("SELECT * FROM departments") == []


async def test_foreign_keys_enforced(tmp_path: Path) -> None:
    import sqlite3

    import psycopg

    async with open_database(tmp_path / "t.sqlite3") as db:
        with pytest.raises((sqlite3.IntegrityError, psycopg.IntegrityError)):
            await db.execute(
                "INSERT INTO items (code, name, department_code, created_at, updated_at)"
                " VALUES ('I1', 'n', 'NOPE', '', '')"
            )
