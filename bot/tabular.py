"""Read an uploaded spreadsheet (.xlsx, .xls, .ods or .csv) into header + rows.

No database, no Telegram. Every failure a user can cause (wrong file type, broken workbook,
unknown text encoding, file too large) raises `TableError` whose message is one Chinese sentence
meant for the user (templates/zh/imports/unreadable.j2).

Rows come out as `(row_number, values)` where `row_number` is the row number the user sees in
Excel (the first row is 1) and `values` is a tuple of cell values: `str`, `int`, `float`, `bool`,
`date` / `datetime` (date cells; `time` / `timedelta` for time-only and duration cells), `None`,
or `""` for an empty cell. Rows without any content are left out. CSV cells are always `str`.

Merged cells (xlsx/xlsm/xls, where calamine reports them) are filled: every cell of a merged
range takes the value of its top-left cell, down and across, in the rows that have content of
their own. So a task name merged over the rows of its partner departments, a department named
once per block of items, or a header 抽查时间 merged over 开始日期｜结束日期 reads as if written
out in every row. A title merged across the sheet then shows the same text in every column:
`bot.domain.directories.banner_text` recognises such rows. A cell's line breaks are kept.

Workbooks are read by python-calamine (the Rust calamine library): xlsx/xlsm, the old binary
.xls that county offices still send, and OpenDocument .ods. It handles shared and inline strings,
rich text, formulas (cached values), date formats and the 1904 date system. Before calamine sees
a zip-based workbook, the inflated size of its parts is checked against a limit (a damaged file
or a zip bomb would otherwise fill the memory).
"""

from __future__ import annotations

import codecs
import csv
import io
import multiprocessing
import re
import resource
import zipfile
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cache, partial
from pathlib import PurePosixPath
from typing import Any

from python_calamine import CalamineError, CalamineWorkbook, SheetTypeEnum

from bot.domain.directories import CellValue
from bot.render import Renderer

Row = tuple[int, tuple[CellValue, ...]]

XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
XLS_EXTENSIONS = frozenset({".xls"})
ODS_EXTENSIONS = frozenset({".ods"})
CSV_EXTENSIONS = frozenset({".csv"})
WORKBOOK_EXTENSIONS = XLSX_EXTENSIONS | XLS_EXTENSIONS | ODS_EXTENSIONS
SUPPORTED_EXTENSIONS = WORKBOOK_EXTENSIONS | CSV_EXTENSIONS

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc, encrypted .xlsx
_ODS_MIMETYPE = b"application/vnd.oasis.opendocument.spreadsheet"
_CHUNK = 1 << 20

# A workbook may inflate to this many times its own size, and never beyond MAX_INFLATED_MB
# (plain openpyxl files with inline strings inflate about 10x, a real 20 MB directory stays far
# below 100 MB; anything beyond is a damaged file or a zip bomb). `[imports] inflate_factor`
# and `max_inflated_mb` in the TOML file change them.
INFLATE_FACTOR = 50
MAX_INFLATED_MB = 100


class TableError(Exception):
    """The file cannot be read; `str(exc)` is a Chinese message for the user."""


@cache
def _texts() -> Renderer:
    return Renderer(html=False)  # plain text: the report templates escape it for Telegram


def _error(reason: str, **context: Any) -> TableError:
    return TableError(_texts().text("imports/unreadable.j2", reason=reason, **context))


@dataclass(frozen=True)
class Sheet:
    """One worksheet (a CSV file has exactly one). `rows()` may be called more than once."""

    name: str
    rows: Callable[[], Iterator[Row]]


@dataclass(frozen=True)
class Table:
    format: str  # "xlsx" | "xls" | "ods" | "csv"
    sheets: list[Sheet]
    encoding: str | None = None  # CSV only: "utf-8", "utf-8-sig", "gb18030", "utf-16"


def file_extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def inflation_limit(
    size: int, *, factor: int = INFLATE_FACTOR, cap_mb: int = MAX_INFLATED_MB
) -> int:
    """Bytes a zip-based workbook of `size` bytes may inflate to: min(cap, factor x size)."""
    return min(cap_mb * 1024 * 1024, factor * size)


def _size_text(size: int) -> str:
    """A byte count as the refusal names it: "100 MB", "2.4 MB", "500 KB"."""
    mb = size / (1024 * 1024)
    if mb >= 10:
        return f"{mb:.0f} MB"
    if mb >= 1:
        return f"{mb:.1f} MB"
    return f"{max(1, round(size / 1024))} KB"


def open_table(
    filename: str,
    data: bytes,
    *,
    max_mb: int = 20,
    inflate_factor: int = INFLATE_FACTOR,
    max_inflated_mb: int = MAX_INFLATED_MB,
) -> Table:
    """Check size and type, then prepare a lazy reader. Raises TableError."""
    if len(data) > max_mb * 1024 * 1024:
        raise _error("too_large", size=len(data) / 1024 / 1024, limit=max_mb)
    ext = file_extension(filename)
    if ext in (".et", ".ett"):
        raise _error("wps", ext=ext)
    if ext and ext not in SUPPORTED_EXTENSIONS:
        raise _error("unsupported", ext=ext)
    if not data:
        raise _error("empty")
    if data.startswith(_OLE_MAGIC):
        # An old binary workbook, or a Word .doc / a password-protected .xlsx in the same box.
        return _open_xls(data, broken="xls_broken" if ext == ".xls" else "ole")
    if data.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        # A workbook, whatever the name says (some tools save .xlsx under a .csv name).
        limit = inflation_limit(len(data), factor=inflate_factor, cap_mb=max_inflated_mb)
        return _open_zip(data, max_inflated=limit, rule=(inflate_factor, max_inflated_mb))
    if ext in XLS_EXTENSIONS:
        raise _error("xls_broken")
    if ext in WORKBOOK_EXTENSIONS:
        raise _error("not_zip")
    return _open_csv(filename, data)


# -- CSV -------------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-16 by BOM, else UTF-8 (with or without BOM), else GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise _error("encoding") from None
    try:
        text = data.decode("utf-8-sig")
        return text, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise _error("encoding") from None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _open_csv(filename: str, data: bytes) -> Table:
    text, encoding = decode_text(data)
    sample = text[:65536]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 1000):
        raise _error("binary")
    first_line = sample.split("\n", 1)[0].rstrip("\r")
    skip = 0
    if first_line.lower().startswith("sep=") and len(first_line) == 5:
        # Excel's delimiter hint; Excel does not show it as a row
        delimiter, skip = first_line[4], text.find("\n") + 1 or len(text)
    else:
        delimiter = max((",", "\t", ";"), key=lambda d: (first_line.count(d), d == ","))

    def rows() -> Iterator[Row]:
        reader = csv.reader(io.StringIO(text[skip:], newline=""), delimiter=delimiter)
        number = 0
        try:
            for values in reader:
                number += 1
                yield number, tuple(values)
        except csv.Error as exc:
            raise _error("csv_broken", line=reader.line_num, detail=exc) from None

    name = PurePosixPath(filename.replace("\\", "/")).stem or "CSV"
    return Table("csv", [Sheet(name, rows)], encoding=encoding)


# -- workbooks (python-calamine) -------------------------------------------------------------


def _open_zip(
    data: bytes, *, max_inflated: int, rule: tuple[int, int] = (INFLATE_FACTOR, MAX_INFLATED_MB)
) -> Table:
    """A zip container: an .xlsx/.xlsm or .ods workbook, or something else that is refused."""
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
        if "word/document.xml" in names:
            raise _error("word")
        if any(n.startswith("ppt/") for n in names):
            raise _error("ppt")
        is_ods = "mimetype" in names and zf.read("mimetype").strip() == _ODS_MIMETYPE
        if not is_ods and "[Content_Types].xml" not in names:  # every OOXML package has it
            raise _error("no_workbook")
        _check_inflated(zf, max_inflated, rule)
    except TableError:
        raise
    except zipfile.BadZipFile:
        raise _error("not_zip") from None
    except (zlib.error, EOFError, OSError, KeyError, ValueError, IndexError, RuntimeError) as exc:
        # RuntimeError: encrypted member; NotImplementedError (a RuntimeError): compression;
        # IndexError: a member without a name.
        raise _error("broken", detail=type(exc).__name__) from None
    return _open_workbook(data, "ods" if is_ods else "xlsx", broken="broken")


def _check_inflated(zf: zipfile.ZipFile, max_inflated: int, rule: tuple[int, int]) -> None:
    """Refuse a zip whose parts inflate beyond `max_inflated` bytes (`rule`: the factor and the
    cap it came from, named in the refusal).

    The sizes in the zip's directory are checked first; then every part is inflated in chunks
    and counted, so a directory that under-states a part's size is caught too (zipfile stops at
    the stated size and fails the CRC check)."""
    members = [info for info in zf.infolist() if not info.is_dir()]
    stated = sum(info.file_size for info in members)
    if stated > max_inflated:
        raise _inflated(max_inflated, rule)
    inflated = 0
    for info in members:
        with zf.open(info) as part:
            while chunk := part.read(_CHUNK):
                inflated += len(chunk)
                if inflated > max_inflated:
                    raise _inflated(max_inflated, rule)


def _inflated(max_inflated: int, rule: tuple[int, int]) -> TableError:
    factor, cap = rule
    return _error("inflated", limit=_size_text(max_inflated), factor=factor, cap=cap)


def _open_xls(data: bytes, *, broken: str) -> Table:
    """An old binary workbook, read in a child process.

    calamine's .xls reader trusts the record lengths of the file: a damaged .xls can make it
    ask for a huge allocation, and Rust then aborts the whole process (tests/test_importer.py
    keeps such a file). The child has a memory cap; if it dies, the file is reported as
    unreadable and the bot goes on. An .xls holds at most 65,536 rows, so the rows are simply
    sent back."""
    context = multiprocessing.get_context("spawn")  # no fork of a process with threads
    try:
        with ProcessPoolExecutor(1, mp_context=context, initializer=_limit_memory) as pool:
            sheets = pool.submit(_read_all_sheets, data, broken).result(timeout=XLS_TIMEOUT)
    except TableError:
        raise
    except (BrokenProcessPool, TimeoutError, OSError) as exc:
        raise _error(broken, detail=type(exc).__name__) from None
    return Table("xls", [Sheet(name, partial(iter, rows)) for name, rows in sheets])


XLS_TIMEOUT = 60  # seconds for the child to read an .xls (20 MB at most)
XLS_MEMORY = 2 << 30  # address space the child may use


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (XLS_MEMORY, XLS_MEMORY))


def _read_all_sheets(data: bytes, broken: str) -> list[tuple[str, list[Row]]]:
    """In the child: every worksheet's rows (TableError pickles back as itself)."""
    table = _open_workbook(data, "xls", broken=broken)
    return [(sheet.name, list(sheet.rows())) for sheet in table.sheets]


def _open_workbook(data: bytes, fmt: str, *, broken: str) -> Table:
    try:
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        names = [m.name for m in book.sheets_metadata if m.typ == SheetTypeEnum.WorkSheet]
    except BaseException as exc:
        raise _reader_error(exc, broken) from None
    if not names:
        raise _error("no_sheet")
    return Table(fmt, [Sheet(name, _sheet_reader(book, name, broken)) for name in names])


def _sheet_reader(book: CalamineWorkbook, name: str, broken: str) -> Callable[[], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        try:
            sheet = book.get_sheet_by_name(name)  # calamine reads the whole worksheet here
        except BaseException as exc:
            raise _reader_error(exc, broken) from None
        merged = _merged_ranges(sheet)
        rows = _iter_sheet(sheet.start, sheet.iter_rows())
        return _fill_merged(rows, merged) if merged else rows

    return rows


def _reader_error(exc: BaseException, broken: str) -> BaseException:
    """calamine's errors (CalamineError and its kin, or a Rust panic, which pyo3 raises as a
    BaseException) become the Chinese "cannot read" message; anything else passes through."""
    if isinstance(exc, _CALAMINE_ERRORS) or type(exc).__name__ == "PanicException":
        return _error(broken, detail=type(exc).__name__)
    return exc


# What calamine raises for a file it cannot read (besides a panic).
_CALAMINE_ERRORS = (CalamineError, ValueError, OSError, EOFError, UnicodeDecodeError)


MergedRange = tuple[tuple[int, int], tuple[int, int]]  # 0-based (row, column), inclusive


def _merged_ranges(sheet: Any) -> list[MergedRange]:
    """The sheet's merged ranges larger than one cell (calamine knows them for xlsx and xls)."""
    try:
        found = sheet.merged_cell_ranges
    except (AttributeError, ValueError, CalamineError):
        return []
    return [((r0, c0), (r1, c1)) for (r0, c0), (r1, c1) in found or () if (r0, c0) != (r1, c1)]


def _fill_merged(rows: Iterator[Row], merged: list[MergedRange]) -> Iterator[Row]:
    """Fill every cell of a merged range with its top-left value (the only one Excel keeps).

    Rows are Excel-numbered and arrive in order; a range whose top row has no content fills
    nothing. Rows without content of their own stay left out (a merged block reaching below the
    data does not create rows)."""
    by_row: dict[int, list[tuple[int, int, int]]] = {}  # Excel row -> (first col, last col, id)
    tops: dict[int, int] = {}  # range id -> its top Excel row
    for index, ((r0, c0), (r1, c1)) in enumerate(merged):
        tops[index] = r0 + 1
        for row in range(r0 + 1, r1 + 2):
            by_row.setdefault(row, []).append((c0, c1, index))
    values: dict[int, CellValue] = {}  # range id -> value of its top-left cell
    for number, cells in rows:
        spans = by_row.get(number)
        if not spans:
            yield number, cells
            continue
        out = list(cells)
        for c0, c1, index in spans:
            if tops[index] == number:
                values[index] = out[c0] if c0 < len(out) else None
            value = values.get(index)
            if value is None or value == "":
                continue
            if len(out) <= c1:
                out.extend([None] * (c1 + 1 - len(out)))
            for column in range(c0, c1 + 1):
                out[column] = value
        yield number, tuple(out)


def _iter_sheet(start: tuple[int, int] | None, cells: Iterator[list[Any]]) -> Iterator[Row]:
    """calamine's dense rows -> (Excel row number, values), empty rows left out.

    python-calamine's `iter_rows` yields every row from the sheet's first (row 1, blank rows
    above the data included) but the columns only from the first used one: a sheet whose data
    begins right of column A gets its leading columns back as None, so column positions (and
    the letters shown in errors) stay Excel's."""
    if start is None:
        return
    pad: tuple[CellValue, ...] = (None,) * start[1]
    number = 0
    for values in cells:
        number += 1
        # any() is False for a row of "" (empty cells) but also for 0 / False: check those.
        if any(values) or not all(v == "" for v in values):
            yield number, (pad + tuple(values)) if pad else tuple(values)
