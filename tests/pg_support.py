"""The PostgreSQL pass of the test suite.

With `BOT_TEST_PG=postgresql://user@host:port/dbname` (a server the tests may create schemas in;
`.ci/run` starts a throw-away cluster and sets it) every test that opens a `bot.db.Database` on an
SQLite file path gets, instead, a fresh schema on that server: the same path in the same test is
the same schema (so restart tests reopen their data), a new path or a new test a new, empty
schema that the bot migrates as it would a new file. Schemas are cheap to create and drop, and
pytest-xdist workers create them side by side (names carry the worker and the process id).

Tests that are about SQLite itself (the file, WAL, its backup API, the CLI run on a file in a
subprocess) are marked `sqlite_only` and skipped in this pass, with their reason. Without
BOT_TEST_PG the PostgreSQL-only tests (`needs_postgres`) are skipped with a reason.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest

from bot.db import Database

PG_URL = os.environ.get("BOT_TEST_PG", "").strip() or None
NO_PG_REASON = (
    "PostgreSQL tests need BOT_TEST_PG=postgresql://… (a server to create schemas in);"
    " .ci/run starts a throw-away cluster and sets it"
)

needs_postgres = pytest.mark.skipif(PG_URL is None, reason=NO_PG_REASON)


def sqlite_only(reason: str) -> pytest.MarkDecorator:
    """A test about SQLite itself: skipped in the PostgreSQL pass, saying why."""
    return pytest.mark.sqlite_only(reason=reason)


cli_on_sqlite = sqlite_only(
    "runs the CLI in a subprocess on an SQLite file (tests/test_postgres.py runs it on a server)"
)


def with_schema(url: str, schema: str) -> str:
    """`url` with every connection's search_path set to `schema`."""
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


class SchemaPerTest:
    """Hands out one schema per (test, SQLite path) and drops them after the test."""

    _counter = itertools.count(1)

    def __init__(self, url: str) -> None:
        self.url = url
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        self.prefix = f"t_{worker}_{os.getpid()}"
        self.schemas: dict[str, str] = {}
        self._admin: psycopg.Connection | None = None

    def admin(self) -> psycopg.Connection:
        if self._admin is None or self._admin.closed:
            self._admin = psycopg.connect(self.url, autocommit=True)
            self._admin.execute("SET lock_timeout = '5s'")
        return self._admin

    def fresh(self) -> str:
        """A URL on a new, empty schema (for tests that want one directly)."""
        schema = f"{self.prefix}_{next(self._counter)}"
        self.admin().execute(f'CREATE SCHEMA "{schema}"')
        self.schemas[f"<fresh {schema}>"] = schema
        return with_schema(self.url, schema)

    def target(self, target: Path | str) -> Path | str:
        if isinstance(target, str) and target.lower().startswith(("postgresql:", "postgres:")):
            return target
        key = str(Path(target).resolve())
        schema = self.schemas.get(key)
        if schema is None:
            schema = f"{self.prefix}_{next(self._counter)}"
            self.admin().execute(f'CREATE SCHEMA "{schema}"')
            self.schemas[key] = schema
        return with_schema(self.url, schema)

    def drop_all(self) -> None:
        for schema in self.schemas.values():
            try:
                self.admin().execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            except psycopg.Error:  # still in use by a connection a test left open: leave it
                pass
        self.schemas.clear()

    def close(self) -> None:
        if self._admin is not None:
            self._admin.close()


def redirect_databases(monkeypatch: pytest.MonkeyPatch, rig: SchemaPerTest) -> None:
    """Every `Database(path)` of this test opens its schema on the PostgreSQL server."""
    original = Database.__init__

    def init(self: Database, target: Path | str) -> None:
        original(self, rig.target(target))

    monkeypatch.setattr(Database, "__init__", init)
