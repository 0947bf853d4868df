"""Import a directory file (.xlsx / .xls / .ods / .csv) into the database, all or nothing.

    report = await import_file(db, "objects", "对象.xlsx", data, actor=user_id)

Reading and validating run in a worker thread (pure code: `bot.tabular`, `bot.domain`), so a
100,000-row file does not stall the event loop; comparing with the stored rows and writing happen
in one transaction. Rendering the report is the caller's job (templates/zh/directories/).
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from bot import clock
from bot.config import Tunables
from bot.db import DB_ERRORS, Database
from bot.domain.directories import (
    KIND_LABELS,
    KINDS,
    MSG_HEADER_NOT_FOUND,
    MSG_NO_ROWS,
    SPECS,
    WARN_COLUMN_ABSENT,
    WARN_HEADER_ROW,
    WARN_IGNORED_COLUMNS,
    WARN_SHEET,
    Diff,
    HeaderMap,
    RowError,
    TooManyRows,
    ValidationResult,
    compared_fields,
    diff_records,
    find_header,
    parse_kind,
    spec_for,
    validate_rows,
)
from bot.render import Renderer
from bot.store import audit
from bot.store import directories as store
from bot.tabular import Table, TableError, open_table

log = logging.getLogger(__name__)

BEIJING = ZoneInfo("Asia/Shanghai")

# File-level messages of every import (directories, the annual plan), from templates/zh/imports/.
# Plain text: the report templates escape them when they are shown in Telegram.
_texts = Renderer(html=False)


def file_message(name: str, /, **context: Any) -> str:
    """'internal_error', 'write_failed' (detail=…) or 'csv_encoding'."""
    return _texts.text(f"imports/{name}.j2", **context)


__all__ = [
    "KINDS",
    "KIND_LABELS",
    "ImportReport",
    "RowError",
    "import_file",
    "parse_kind",
    "template_xlsx",
]


@dataclass
class ImportReport:
    kind: str
    filename: str
    ok: bool
    dry_run: bool
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    total_rows: int = 0  # non-blank data rows in the file
    errors: list[RowError] = field(default_factory=list)  # the first `error_rows_shown`
    error_count: int = 0  # all errors, shown or not
    warnings: list[str] = field(default_factory=list)
    file_error: str | None = None  # the file could not be read or its header is unusable
    missing_columns: list[str] = field(default_factory=list)  # required headers not found
    found_columns: list[str] = field(default_factory=list)  # headers in the file
    ignored_columns: list[str] = field(default_factory=list)  # headers not recognised
    file_format: str | None = None  # "xlsx" | "xls" | "ods" | "csv"
    encoding: str | None = None  # CSV only
    sheet: str | None = None  # worksheet used (xlsx)
    header_row: int | None = None  # Excel row number of the header
    seconds: float = 0.0

    @property
    def label(self) -> str:
        return KIND_LABELS.get(self.kind, self.kind)

    @property
    def errors_truncated(self) -> bool:
        return self.error_count > len(self.errors)

    @property
    def written(self) -> int:
        return self.added + self.updated

    @classmethod
    def unreadable(
        cls, kind: str, filename: str, message: str, *, dry_run: bool = False
    ) -> ImportReport:
        """A report for a file that never got read (download failed, wrong type …)."""
        return cls(kind=kind, filename=filename, ok=False, dry_run=dry_run, file_error=message)


@dataclass
class _Prepared:
    """What the worker thread hands back: a validation result or a file-level error."""

    file_error: str | None = None
    result: ValidationResult | None = None
    header: HeaderMap | None = None
    file_format: str | None = None
    encoding: str | None = None
    sheet: str | None = None
    warnings: list[str] = field(default_factory=list)

    @classmethod
    def of(cls, table: Table, **values: Any) -> _Prepared:
        # Keep only the table's format and encoding: the table holds the decoded file.
        return cls(file_format=table.format, encoding=table.encoding, **values)


def _prepare(
    kind: str,
    filename: str,
    data: bytes,
    departments: dict[str, str],
    today: date,
    tunables: Tunables,
    aliases: dict[str, str] | None = None,
) -> _Prepared:
    """Read and validate (runs in a worker thread; no database access)."""
    try:
        table = open_table(
            filename,
            data,
            max_mb=tunables.max_import_mb,
            inflate_factor=tunables.inflate_factor,
            max_inflated_mb=tunables.max_inflated_mb,
        )
        first_candidate: HeaderMap | None = None
        for index, sheet in enumerate(table.sheets):
            rows = sheet.rows()
            header = find_header(kind, rows)
            if header is None:
                continue
            if not header.ok:
                first_candidate = first_candidate or header
                continue
            warnings: list[str] = []
            if index > 0:
                warnings.append(WARN_SHEET.format(sheet=sheet.name))
            if header.top_row > 1:
                warnings.append(
                    WARN_HEADER_ROW.format(row=header.rows_shown, skipped=header.top_row - 1)
                )
            result = validate_rows(
                header,
                rows,
                departments=departments,
                aliases=aliases,
                today=today,
                max_errors=tunables.error_rows_shown,
            )
            return _Prepared.of(
                table, result=result, header=header, sheet=sheet.name, warnings=warnings
            )
        if first_candidate is not None:
            return _Prepared.of(table, file_error=first_candidate.problem(), header=first_candidate)
        expected = "、".join(f"「{c.header}」" for c in spec_for(kind).columns)
        return _Prepared.of(table, file_error=MSG_HEADER_NOT_FOUND.format(expected=expected))
    except (TableError, TooManyRows) as exc:
        return _Prepared(str(exc))
    except Exception:  # a bug, not the user's fault: log it, answer in Chinese
        log.exception("import of %s (%s) failed unexpectedly", filename, kind)
        return _Prepared(file_message("internal_error"))


def _report_from(
    kind: str, filename: str, dry_run: bool, prepared: _Prepared, started: float
) -> ImportReport:
    report = ImportReport(kind=kind, filename=filename, ok=False, dry_run=dry_run)
    report.file_error = prepared.file_error
    header = prepared.header
    if header is not None:
        report.found_columns = list(header.found)
        report.missing_columns = list(header.missing)
        report.ignored_columns = list(header.unknown)
        report.header_row = header.row
    report.file_format = prepared.file_format
    report.encoding = prepared.encoding
    report.sheet = prepared.sheet if report.file_format not in (None, "csv") else None
    result = prepared.result
    if result is not None:
        report.total_rows = result.total_rows
        report.errors = list(result.errors)
        report.error_count = result.error_count
        report.ok = result.ok and prepared.file_error is None
        report.warnings = list(prepared.warnings)
        if header is not None and header.unknown:
            report.warnings.append(
                WARN_IGNORED_COLUMNS.format(columns="、".join(f"「{h}」" for h in header.unknown))
            )
        if report.encoding == "gb18030":
            report.warnings.append(file_message("csv_encoding"))
        report.warnings.extend(result.warnings)
        if result.total_rows == 0:
            report.warnings.append(MSG_NO_ROWS)
    report.seconds = time.perf_counter() - started
    return report


def _absent_warning(kind: str, present: tuple[str, ...]) -> str | None:
    spec = spec_for(kind)
    absent = [c.header for c in spec.columns if c.field not in present]
    if not absent:
        return None
    return WARN_COLUMN_ABSENT.format(labels="」「".join(absent))


async def import_file(
    db: Database,
    kind: str,
    filename: str,
    data: bytes,
    *,
    dry_run: bool = False,
    actor: int | None = None,
    tunables: Tunables = Tunables(),  # noqa: B008 (frozen dataclass)
    tz: ZoneInfo = BEIJING,
) -> ImportReport:
    """Validate a whole file, then write all of it or nothing.

    `kind` is 'departments', 'inspectors', 'objects' or 'items' (Chinese names are accepted
    too, see `parse_kind`). A refused import writes an audit row with outcome 'failed'; a
    dry run writes nothing at all."""
    resolved = kind if kind in SPECS else parse_kind(kind)
    if resolved is None:
        raise ValueError(f"unknown directory kind: {kind!r}")
    kind = resolved
    started = time.perf_counter()
    wants_departments = kind in ("inspectors", "items")
    departments = await store.department_names(db) if wants_departments else {}
    aliases = await store.department_aliases(db) if wants_departments else {}
    today = clock.now().astimezone(tz).date()  # "today" for certificate expiry warnings
    prepared = await asyncio.to_thread(
        _prepare, kind, filename, data, departments, today, tunables, aliases
    )
    report = _report_from(kind, filename, dry_run, prepared, started)
    result = prepared.result
    if result is None or not report.ok:
        if not dry_run:
            await _record_failure(db, report, actor)
        return report

    spec = spec_for(kind)
    fields = compared_fields(spec, result.present_fields)
    if dry_run:
        async with db.transaction() as conn:  # a consistent read; nothing is written
            existing = await store.load_fingerprints(conn, kind, fields)
        diff = diff_records(spec, result.records, existing, fields)
    else:
        try:
            async with db.transaction() as conn:
                existing = await store.load_fingerprints(conn, kind, fields)
                diff = diff_records(spec, result.records, existing, fields)
                del existing
                await store.write_changes(
                    conn, kind, diff.inserts, diff.updates, fields, clock.now_db()
                )
                _count(report, diff)
                await audit.record(
                    conn,
                    actor=actor,
                    action=f"import.{kind}",
                    entity="directory",
                    entity_id=kind,
                    detail=_audit_detail(report),
                )
        except DB_ERRORS as exc:
            log.warning("import of %s (%s) could not be written: %s", filename, kind, exc)
            report.ok = False
            report.added = report.updated = report.unchanged = 0
            report.file_error = file_message("write_failed", detail=type(exc).__name__)
            await _record_failure(db, report, actor)
            return report
    _count(report, diff)
    if diff.updates or diff.unchanged:
        absent = _absent_warning(kind, result.present_fields)
        if absent:
            report.warnings.append(absent)
    report.seconds = time.perf_counter() - started
    return report


def _count(report: ImportReport, diff: Diff) -> None:
    report.added, report.updated, report.unchanged = (
        len(diff.inserts),
        len(diff.updates),
        diff.unchanged,
    )


def _audit_detail(report: ImportReport) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "file": report.filename,
        "format": report.file_format,
        "rows": report.total_rows,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
    }
    if report.encoding:
        detail["encoding"] = report.encoding
    if report.sheet:
        detail["sheet"] = report.sheet
    if not report.ok:
        detail["error_count"] = report.error_count
        detail["errors"] = [str(e) for e in report.errors[:3]]
        if report.file_error:
            detail["file_error"] = report.file_error
    return detail


async def _record_failure(db: Database, report: ImportReport, actor: int | None) -> None:
    try:
        async with db.transaction() as conn:
            await audit.record(
                conn,
                actor=actor,
                action=f"import.{report.kind}",
                entity="directory",
                entity_id=report.kind,
                outcome="failed",
                detail=_audit_detail(report),
            )
    except DB_ERRORS as exc:  # the report still reaches the user
        log.warning("could not audit the failed import of %s: %s", report.filename, exc)


# -- templates -------------------------------------------------------------------------------

_HEADER_FONT = Font(bold=True)
_REQUIRED_FONT = Font(bold=True, color="C00000")
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_TEXT_COLUMNS = frozenset({"code", "credit_code", "phone", "department"})
_TEMPLATE_ROWS = 2000  # rows that get the text format / drop-down lists


def _notes(kind: str) -> list[str]:
    spec = spec_for(kind)
    key = spec.column(spec.key).header
    notes = [
        "第一行是表头，请不要修改列名；带 * 的列（红色）必须填写。列的顺序可以调整，"
        "多出的列会被忽略。",
        "整个文件要么全部导入，要么（只要有一处错误）一条都不导入；出错时会列出行号和列名。",
        f"再次导入时按「{key}」更新已有记录；文件中没有的记录保持不变，不会被删除。",
        "编码、证号、信用代码、电话等列已设为文本格式，请保持，"
        "以免 Excel 改成科学计数法或丢掉开头的 0。",
        "也可以另存为 CSV（UTF-8 或 GBK 编码）后导入；旧版 .xls 请先另存为 .xlsx。",
    ]
    if kind in ("inspectors", "items"):
        notes.append("部门编码必须是已经导入的部门；请先导入「部门」名录。")
    return notes


def template_xlsx(kind: str) -> bytes:
    """An empty workbook for one directory: the header row, formats and an explanation sheet.
    `import_file` accepts it back (with rows filled in)."""
    spec = spec_for(kind)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = spec.label
    for index, column in enumerate(spec.columns, start=1):
        letter = get_column_letter(index)
        cell = sheet.cell(
            row=1, column=index, value=column.header + ("*" if column.required else "")
        )
        cell.font = _REQUIRED_FONT if column.required else _HEADER_FONT
        cell.fill = _HEADER_FILL
        cell.alignment = Alignment(horizontal="center", vertical="center")
        width = max(column.width, 2 * len(column.header) + 4)
        sheet.column_dimensions[letter].width = width
        if column.parse in _TEXT_COLUMNS:
            # Column-wide text format: Excel keeps long digit strings (and leading zeros) as typed.
            sheet.column_dimensions[letter].number_format = "@"
        elif column.parse == "date":
            sheet.column_dimensions[letter].number_format = "yyyy-mm-dd"
        choices = {
            "risk": '"A,B,C,D"',
            "category": '"一般,重点"',
            "active": '"在岗,离岗,调离,退休,停用"',
        }.get(column.parse)
        if choices:
            validation = DataValidation(
                type="list", formula1=choices, allow_blank=True, showErrorMessage=False
            )
            validation.add(f"{letter}2:{letter}{_TEMPLATE_ROWS}")
            sheet.add_data_validation(validation)
    sheet.freeze_panes = "A2"

    notes = book.create_sheet("说明")
    notes.append([f"{spec.label}名录填写说明"])
    notes["A1"].font = Font(bold=True, size=14)
    for number, text in enumerate(_notes(kind), start=1):
        notes.append([f"{number}. {text}"])
    notes.append([])
    notes.append(["列名", "是否必填", "格式与说明", "示例", "也认可的列名"])
    header_row = notes.max_row
    for cell in notes[header_row]:
        cell.font = _HEADER_FONT
        cell.fill = _HEADER_FILL
    for column in spec.columns:
        aliases = [a for a in column.aliases if a != column.header]
        notes.append(
            [
                column.header,
                "必填" if column.required else "选填",
                column.description,
                column.example,
                "、".join(aliases),
            ]
        )
    for letter, width in zip("ABCDE", (18, 10, 70, 28, 48), strict=True):
        notes.column_dimensions[letter].width = width
    for row in notes.iter_rows(min_row=header_row + 1):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
