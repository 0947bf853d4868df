"""The annual plan (年度抽查计划) in the database: import a file (all or nothing, replacing each
year it covers), load a year, plan against actual, and the .xlsx for publication.

    report = await import_plan(db, "2026年度计划.xlsx", data, actor=user_id)

Parsing and validating are pure (bot/domain/plan.py) and run in a worker thread.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass, field
from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font

from bot import clock
from bot.config import Tunables
from bot.db import DB_ERRORS, Database
from bot.domain import plan as domain
from bot.domain.directories import RowError
from bot.domain.results import neutralise
from bot.importer import file_message
from bot.store import audit
from bot.store import directories as directory_store
from bot.store import tasks as task_store
from bot.tabular import TableError, open_table

log = logging.getLogger(__name__)


@dataclass
class PlanReport:
    filename: str
    ok: bool = False
    dry_run: bool = False
    years: dict[int, int] = field(default_factory=dict)  # year -> items written (or checked)
    replaced: dict[int, int] = field(default_factory=dict)  # year -> items there before
    total_rows: int = 0
    errors: list[RowError] = field(default_factory=list)
    error_count: int = 0
    file_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    partners: int = 0  # partner departments over all tasks written (or checked)


@dataclass(frozen=True)
class _Directory:
    """What the parser needs from the database: departments, their aliases, known industries."""

    departments: dict[str, str]
    aliases: dict[str, str]
    industries: list[str]


def _prepare(
    filename: str,
    data: bytes,
    directory: _Directory,
    tunables: Tunables,
    year: int | None = None,
) -> tuple[domain.PlanResult, list[str]]:
    try:
        table = open_table(
            filename,
            data,
            max_mb=tunables.max_import_mb,
            inflate_factor=tunables.inflate_factor,
            max_inflated_mb=tunables.max_inflated_mb,
        )
        warnings = [file_message("csv_encoding")] if table.encoding == "gb18030" else []
        result: domain.PlanResult | None = None
        for sheet in table.sheets:  # the first sheet with a usable header
            candidate = domain.parse_plan(
                sheet.rows(),
                directory.departments,
                aliases=directory.aliases,
                industries=directory.industries,
                year=year,
                default_year=domain.title_year(filename),
                max_errors=tunables.error_rows_shown,
            )
            if result is None or candidate.header_row is not None:
                result = candidate
            if candidate.header_row is not None:
                break
        assert result is not None
        return result, warnings
    except TableError as exc:
        return domain.PlanResult(file_error=str(exc)), []
    except Exception:  # a bug, not the user's fault
        log.exception("plan import of %s failed unexpectedly", filename)
        return domain.PlanResult(file_error=file_message("internal_error")), []


async def import_plan(
    db: Database,
    filename: str,
    data: bytes,
    *,
    dry_run: bool = False,
    actor: int | None = None,
    tunables: Tunables = Tunables(),  # noqa: B008 (frozen dataclass)
    year: int | None = None,
) -> PlanReport:
    """Validate the whole file; then replace the plan of every year it covers, or write nothing.

    `year` is the plan year the caption names ("2026年双随机抽查计划"); without it, the year of
    a title row above the header, then the one in the file name, dates periods written without
    a year ("3月—12月")."""
    async with db.transaction() as conn:  # one consistent read
        industries = await task_store.industries(conn, 500)
    directory = _Directory(
        await directory_store.department_names(db),
        await directory_store.department_aliases(db),
        industries,
    )
    result, warnings = await asyncio.to_thread(_prepare, filename, data, directory, tunables, year)
    report = PlanReport(
        filename=filename,
        dry_run=dry_run,
        total_rows=result.total_rows,
        errors=list(result.errors),
        error_count=result.error_count,
        file_error=result.file_error,
        warnings=[*warnings, *result.warnings],
        ignored_columns=list(result.ignored_columns),
    )
    if not result.ok:
        if not dry_run:
            await _audit(db, report, actor, "failed")
        return report
    report.years = result.years
    report.partners = sum(len(i.partners) for i in result.items)
    for year in report.years:
        row = await db.fetchone("SELECT count(*) FROM plan_items WHERE year = ?", (year,))
        report.replaced[year] = int(row[0]) if row else 0
    report.ok = True
    if dry_run:
        return report
    now = clock.now_db()
    try:
        async with db.transaction() as conn:
            for year in report.years:
                await conn.execute("DELETE FROM plan_items WHERE year = ?", (year,))
            await conn.executemany(
                "INSERT INTO plan_items (year, seq, name, industry, lead_department,"
                " partner_departments, ratio, start_date, end_date, imported_at, imported_by,"
                " frequency, object_count, items, scope, mode)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    (
                        i.year,
                        i.seq,
                        i.name,
                        i.industry,
                        i.lead,
                        json.dumps(list(i.partners), ensure_ascii=False),
                        i.ratio,
                        i.start.isoformat(),
                        i.end.isoformat(),
                        now,
                        actor,
                        i.frequency,
                        i.count,
                        i.items,
                        i.scope,
                        i.mode,
                    )
                    for i in result.items
                ],
            )
            await audit.record(
                conn,
                actor=actor,
                action="import.plan",
                entity="plan",
                entity_id=",".join(str(y) for y in report.years),
                detail=_detail(report),
            )
    except DB_ERRORS as exc:
        log.warning("plan import of %s could not be written: %s", filename, exc)
        report.ok = False
        report.file_error = file_message("write_failed", detail=type(exc).__name__)
        await _audit(db, report, actor, "failed")
    return report


def _detail(report: PlanReport) -> dict[str, object]:
    detail: dict[str, object] = {
        "file": report.filename,
        "years": {str(y): n for y, n in report.years.items()},
        "rows": report.total_rows,
    }
    if not report.ok:
        detail["error_count"] = report.error_count
        detail["errors"] = [str(e) for e in report.errors[:3]]
        if report.file_error:
            detail["file_error"] = report.file_error
    return detail


async def _audit(db: Database, report: PlanReport, actor: int | None, outcome: str) -> None:
    try:
        async with db.transaction() as conn:
            await audit.record(
                conn,
                actor=actor,
                action="import.plan",
                entity="plan",
                outcome=outcome,
                detail=_detail(report),
            )
    except DB_ERRORS as exc:
        log.warning("could not audit the plan import of %s: %s", report.filename, exc)


async def load_items(db: Database, year: int) -> list[domain.PlanItem]:
    rows = await db.fetchall(
        "SELECT year, seq, name, industry, lead_department, partner_departments, ratio,"
        " start_date, end_date, frequency, object_count, items, scope, mode"
        " FROM plan_items WHERE year = ? ORDER BY seq",
        (year,),
    )
    return [
        domain.PlanItem(
            year=int(r["year"]),
            seq=int(r["seq"]),
            name=r["name"],
            industry=r["industry"],
            lead=r["lead_department"],
            partners=tuple(json.loads(r["partner_departments"] or "[]")),
            ratio=float(r["ratio"]),
            start=date.fromisoformat(r["start_date"]),
            end=date.fromisoformat(r["end_date"]),
            frequency=r["frequency"],
            count=None if r["object_count"] is None else int(r["object_count"]),
            items=r["items"],
            scope=r["scope"],
            mode=r["mode"],
        )
        for r in rows
    ]


async def plan_view(
    db: Database,
    year: int,
    *,
    period: tuple[date, date] | None = None,
    departments: list[str] | None = None,
) -> domain.PlanView | None:
    """Plan against actual for a year (optionally a quarter of it and some departments); None
    when that year has no plan."""
    items = await load_items(db, year)
    if not items:
        return None
    first = min(i.start for i in items).isoformat()
    last = max(i.end for i in items).isoformat()
    rows = await db.fetchall(
        "SELECT id, industry, lead_department, window_start, window_end, state FROM tasks"
        " WHERE state != 'cancelled' AND window_start <= ? AND window_end >= ? ORDER BY id",
        (last, first),
    )
    tasks = [
        domain.TaskWindow(
            task_id=int(r["id"]),
            industry=r["industry"],
            lead=r["lead_department"],
            start=date.fromisoformat(r["window_start"]),
            end=date.fromisoformat(r["window_end"]),
            state=r["state"],
        )
        for r in rows
    ]
    return domain.match(items, tasks, period=period, departments=departments)


def export_rows(items: list[domain.PlanItem], names: dict[str, str]) -> list[list[object]]:
    """One row per item, EXPORT_HEADERS order, department names spelled out, every text cell
    neutralised against formula injection (= + - @ get a leading apostrophe)."""
    rows: list[list[object]] = []
    for item in items:
        values: list[object] = [
            item.seq,
            item.name,
            item.industry,
            names.get(item.lead, item.lead),
            "、".join(names.get(p, p) for p in item.partners),
            domain.ratio_phrase_text(item),
            item.start.isoformat(),
            item.end.isoformat(),
        ]
        rows.append([neutralise(v) for v in values])
    return rows


def export_xlsx(title: str, headers: list[str], rows: list[list[object]]) -> bytes:
    """The plan as .xlsx; `title` and `headers` come from templates/zh/plan/export_sheet.j2."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]  # Excel's limit for a sheet name
    sheet.append(headers)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for row in rows:
        sheet.append(row)
    for letter, width in zip("ABCDEFGH", (6, 36, 16, 22, 36, 10, 12, 12), strict=True):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
