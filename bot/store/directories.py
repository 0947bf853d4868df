"""SQL for the county directories (departments, inspectors, objects, items).

Bulk paths for the importer (load the stored rows of one directory in one query, write the
changes with executemany) and the small look-ups the bot needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from bot.db import Database
from bot.domain.directories import (
    CellError,
    Department,
    KindSpec,
    fingerprint,
    parse_code,
    spec_for,
    values_getter,
)


@dataclass(frozen=True)
class StoredInspector:
    """An inspector row as stored, with the columns the import does not manage."""

    id: int
    name: str
    department_code: str
    certificate_no: str
    certificate_valid_until: str | None
    specialties: str
    active: bool
    person_id: int | None


# -- the importer's bulk paths -----------------------------------------------------------------


def _existing_sql(spec: KindSpec, fields: Sequence[str]) -> str:
    columns = ", ".join((spec.key, *fields))
    return f"SELECT {columns} FROM {spec.table}"


_BATCH = 5000


async def load_fingerprints(
    conn: aiosqlite.Connection, kind: str, fields: Sequence[str]
) -> dict[str, int]:
    """Every stored row of a directory, in one query: key -> `fingerprint` of `fields`.

    Fingerprints instead of the values keep 100,000 stored rows at a few MB. Call inside the
    transaction that will write, so the comparison and the writes see the same data."""
    cursor = await conn.execute(_existing_sql(spec_for(kind), fields))
    cursor.row_factory = None  # plain tuples
    found: dict[str, int] = {}
    try:
        while batch := await cursor.fetchmany(_BATCH):
            found.update((row[0], fingerprint(row[1:])) for row in batch)
    finally:
        await cursor.close()
    return found


async def write_changes(
    conn: aiosqlite.Connection,
    kind: str,
    inserts: Sequence[Any],
    updates: Sequence[Any],
    fields: Sequence[str],
    now: str,
) -> None:
    """Insert new records (every column; defaults for columns the file lacked) and update
    changed ones (only `fields`, the columns the file had). Call inside a transaction."""
    spec = spec_for(kind)
    if inserts:
        columns = (*spec.fields, "created_at", "updated_at")
        marks = ", ".join("?" * len(columns))
        get_all = values_getter(spec.fields)
        stamp = (now, now)
        await conn.executemany(
            f"INSERT INTO {spec.table} ({', '.join(columns)}) VALUES ({marks})",
            [(*get_all(record), *stamp) for record in inserts],
        )
    if updates and fields:
        assignments = ", ".join(f"{f} = ?" for f in fields)
        get_changed = values_getter(fields)
        key_of = values_getter((spec.key,))
        tail = (now,)
        await conn.executemany(
            f"UPDATE {spec.table} SET {assignments}, updated_at = ? WHERE {spec.key} = ?",
            [(*get_changed(record), *tail, *key_of(record)) for record in updates],
        )


# -- look-ups ----------------------------------------------------------------------------------


async def department_names(db: Database) -> dict[str, str]:
    """code -> name of every department."""
    rows = await db.fetchall("SELECT code, name FROM departments")
    return {row[0]: row[1] for row in rows}


async def department_aliases(db: Database) -> dict[str, str]:
    """code -> '、'-separated aliases (简称/别名) of the departments that have any."""
    rows = await db.fetchall("SELECT code, aliases FROM departments WHERE aliases != ''")
    return {row[0]: row[1] for row in rows}


async def list_departments(db: Database) -> list[Department]:
    rows = await db.fetchall("SELECT code, name, aliases FROM departments ORDER BY code")
    return [Department(row[0], row[1], row[2]) for row in rows]


async def get_department(db: Database, code: str) -> Department | None:
    row = await db.fetchone("SELECT code, name FROM departments WHERE code = ?", (code.strip(),))
    return Department(row[0], row[1]) if row else None


_INSPECTOR_COLUMNS = (
    "SELECT id, name, department_code, certificate_no, certificate_valid_until, specialties,"
    " active, person_id FROM inspectors"
)


def _inspector(row: Sequence[Any]) -> StoredInspector:
    return StoredInspector(
        id=int(row[0]),
        name=row[1],
        department_code=row[2],
        certificate_no=row[3],
        certificate_valid_until=row[4],
        specialties=row[5],
        active=bool(row[6]),
        person_id=row[7],
    )


async def find_inspector_by_certificate(
    db: Database, certificate_no: str
) -> StoredInspector | None:
    """Look up an inspector by certificate number (spaces ignored, full-width tolerated).
    Inactive inspectors are returned too: check `active`."""
    try:
        certificate = parse_code(certificate_no)
    except CellError:
        return None
    row = await db.fetchone(f"{_INSPECTOR_COLUMNS} WHERE certificate_no = ?", (certificate,))
    return _inspector(row) if row else None


async def get_inspector(db: Database, inspector_id: int) -> StoredInspector | None:
    row = await db.fetchone(f"{_INSPECTOR_COLUMNS} WHERE id = ?", (inspector_id,))
    return _inspector(row) if row else None


async def list_inspectors(
    db: Database, department_code: str | None = None, *, active_only: bool = True
) -> list[StoredInspector]:
    """Inspectors of one department (or all), by name then certificate number."""
    where: list[str] = []
    params: list[Any] = []
    if department_code is not None:
        where.append("department_code = ?")
        params.append(department_code)
    if active_only:
        where.append("active = 1")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    rows = await db.fetchall(f"{_INSPECTOR_COLUMNS}{clause} ORDER BY name, certificate_no", params)
    return [_inspector(row) for row in rows]


async def count_directory(db: Database, kind: str) -> int:
    """Number of rows in a directory ('departments', 'inspectors', 'objects', 'items')."""
    row = await db.fetchone(f"SELECT count(*) FROM {spec_for(kind).table}")
    return int(row[0]) if row else 0
