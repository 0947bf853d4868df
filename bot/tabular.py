"""Read an uploaded spreadsheet (.xlsx or .csv) into header + rows, streaming.

No database, no Telegram. Every failure a user can cause (wrong file type, broken zip, unknown
text encoding, file too large) raises `TableError` whose message is one Chinese sentence meant
for the user.

Rows come out as `(row_number, values)` where `row_number` is the row number the user sees in
Excel (the first row is 1) and `values` is a tuple of cell values: `str`, `int`, `float`, `bool`,
`datetime` (Excel date cells) or `None` (empty cell). CSV cells are always `str`.

The .xlsx reader is a small streaming parser over the worksheet XML instead of openpyxl: openpyxl
in read-only mode manages about 9,000 rows/s on a 9-column sheet, which is too slow for a
100,000-row object directory. The parser handles shared and inline strings, rich text, phonetic
runs, numbers, booleans, errors, formulas (cached values), date-formatted numbers (1900 and 1904
date systems), sparse rows and cells, and namespace prefixes.
"""

from __future__ import annotations

import codecs
import csv
import html
import io
import re
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePosixPath
from typing import Union
from xml.etree import ElementTree

from openpyxl.styles.numbers import BUILTIN_FORMATS, is_date_format
from openpyxl.utils.datetime import CALENDAR_MAC_1904, CALENDAR_WINDOWS_1900, from_excel

CellValue = Union[str, int, float, bool, datetime, None]  # noqa: UP007 (used at run time)
Row = tuple[int, tuple[CellValue, ...]]

XLSX_EXTENSIONS = frozenset({".xlsx", ".xlsm"})
CSV_EXTENSIONS = frozenset({".csv"})
SUPPORTED_EXTENSIONS = XLSX_EXTENSIONS | CSV_EXTENSIONS

_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # .xls, .doc, encrypted .xlsx
_CHUNK = 1 << 20

# Messages shown to the user (Chinese).
MSG_EMPTY = "文件是空的（0 字节）。"
MSG_TOO_LARGE = "文件太大（{size:.1f} MB），上限为 {limit} MB。请拆分后分批导入。"
MSG_XLS = (
    "不支持旧版 Excel 文件（.xls）。"
    "请在 Excel 或 WPS 中打开，「另存为」Excel 工作簿（.xlsx）后再发送。"
)
MSG_WPS = "不支持 WPS 表格格式（{ext}）。请在 WPS 中「另存为」Excel 工作簿（.xlsx）后再发送。"
MSG_UNSUPPORTED = "不支持的文件类型「{ext}」。请发送 Excel 工作簿（.xlsx）或 CSV 文件（.csv）。"
MSG_OLE = (
    "无法读取：这是旧版 Office 文件（.xls 或 .doc）或加了密码的工作簿。"
    "请在 Excel 中取消密码并「另存为」Excel 工作簿（.xlsx）后再发送。"
)
MSG_NOT_ZIP = (
    "文件不是有效的 Excel 工作簿（.xlsx），可能已损坏或只是改了扩展名。"
    "请在 Excel 中重新「另存为」.xlsx。"
)
MSG_BROKEN = "Excel 文件已损坏，无法读取（{detail}）。请在 Excel 中重新「另存为」.xlsx 后再发送。"
MSG_WORD = "这是 Word 文档，不是 Excel 工作簿。请发送 .xlsx 或 .csv 文件。"
MSG_PPT = "这是 PowerPoint 演示文稿，不是 Excel 工作簿。请发送 .xlsx 或 .csv 文件。"
MSG_NO_WORKBOOK = "压缩包里没有 Excel 工作簿内容，不是有效的 .xlsx 文件。"
MSG_NO_SHEET = "Excel 工作簿里没有工作表。"
MSG_ENCODING = (
    "无法识别 CSV 文件的文字编码（支持 UTF-8 和 GBK/GB18030）。"
    "请在 Excel 中「另存为」CSV UTF-8（逗号分隔）或 Excel 工作簿（.xlsx）。"
)
MSG_BINARY = "文件内容不是文本，不是有效的 CSV 文件。请发送 .xlsx 或 .csv 文件。"
MSG_CSV_BROKEN = "CSV 文件格式有误，无法读取（第 {line} 行：{detail}）。"
MSG_INFLATED = "Excel 文件解压后超过 {limit} MB，可能已损坏。请拆分后分批导入。"

# A worksheet may inflate to this many times the upload limit (plain openpyxl files with
# inline strings inflate about 10x; anything far beyond is a damaged file or a zip bomb).
INFLATE_FACTOR = 50


class TableError(Exception):
    """The file cannot be read; `str(exc)` is a Chinese message for the user."""


@dataclass(frozen=True)
class Sheet:
    """One worksheet (a CSV file has exactly one). `rows()` may be called more than once."""

    name: str
    rows: Callable[[], Iterator[Row]]


@dataclass(frozen=True)
class Table:
    format: str  # "xlsx" | "csv"
    sheets: list[Sheet]
    encoding: str | None = None  # CSV only: "utf-8", "utf-8-sig", "gb18030", "utf-16"


def file_extension(filename: str) -> str:
    return PurePosixPath(filename.replace("\\", "/")).suffix.lower()


def open_table(filename: str, data: bytes, *, max_mb: int = 20) -> Table:
    """Check size and type, then prepare a lazy reader. Raises TableError."""
    if len(data) > max_mb * 1024 * 1024:
        raise TableError(MSG_TOO_LARGE.format(size=len(data) / 1024 / 1024, limit=max_mb))
    ext = file_extension(filename)
    if ext == ".xls":
        raise TableError(MSG_XLS)
    if ext in (".et", ".ett"):
        raise TableError(MSG_WPS.format(ext=ext))
    if ext and ext not in SUPPORTED_EXTENSIONS:
        raise TableError(MSG_UNSUPPORTED.format(ext=ext))
    if not data:
        raise TableError(MSG_EMPTY)
    if data.startswith(_OLE_MAGIC):
        raise TableError(MSG_OLE)
    if data.startswith((_ZIP_MAGIC, _EMPTY_ZIP_MAGIC)):
        # A workbook, whatever the name says (some tools save .xlsx under a .csv name).
        return _open_xlsx(data, max_inflated=max_mb * INFLATE_FACTOR * 1024 * 1024)
    if ext in XLSX_EXTENSIONS:
        raise TableError(MSG_NOT_ZIP)
    return _open_csv(filename, data)


# -- CSV -------------------------------------------------------------------------------------


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode CSV bytes: UTF-16 by BOM, else UTF-8 (with or without BOM), else GB18030."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise TableError(MSG_ENCODING) from None
    try:
        text = data.decode("utf-8-sig")
        return text, "utf-8-sig" if data.startswith(codecs.BOM_UTF8) else "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        raise TableError(MSG_ENCODING) from None


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _open_csv(filename: str, data: bytes) -> Table:
    text, encoding = decode_text(data)
    sample = text[:65536]
    if "\x00" in sample or len(_CONTROL.findall(sample)) > max(8, len(sample) // 1000):
        raise TableError(MSG_BINARY)
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
            raise TableError(MSG_CSV_BROKEN.format(line=reader.line_num, detail=exc)) from None

    name = PurePosixPath(filename.replace("\\", "/")).stem or "CSV"
    return Table("csv", [Sheet(name, rows)], encoding=encoding)


# -- XLSX ------------------------------------------------------------------------------------

_REL_OFFICE_DOCUMENT = "/officeDocument"
_REL_WORKSHEET = "/worksheet"
_REL_SHARED_STRINGS = "/sharedStrings"
_REL_STYLES = "/styles"
_NS_REL_ID = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
_NS_REL_ID_STRICT = "{http://purl.oclc.org/ooxml/officeDocument/relationships}id"

# Built-in number formats that are dates in the Chinese (and other CJK) locales of Excel.
_BUILTIN_DATE_IDS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47}) | frozenset(
    {27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 50, 51, 52, 53, 54, 55, 56, 57, 58}
)
_PREFIX_RE = re.compile(r"<(\w+:)?(?:worksheet|sst)\b")
_ESCAPED_CHAR = re.compile(r"_x([0-9A-Fa-f]{4})_")
_ATTR_T = re.compile(r"\bt=[\"'](\w+)[\"']")
_ATTR_S = re.compile(r"\bs=[\"'](\d+)[\"']")
_ATTR_R = re.compile(r"\br=[\"']([A-Z]{1,3})\d*[\"']")
_ATTR_ROW = re.compile(r"\br=[\"'](\d+)[\"']")


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _xml_text(raw: str) -> str:
    """XML character data as stored by Excel -> Python text."""
    if "&" in raw:
        raw = html.unescape(raw)
    if "_x" in raw:
        raw = _ESCAPED_CHAR.sub(lambda m: chr(int(m.group(1), 16)), raw)
    return raw


_COLUMNS: dict[str, int] = {}  # "A" -> 0, memo shared by all readers (bounded: 3 letters)


def _column_index(letters: str) -> int:
    index = _COLUMNS.get(letters)
    if index is None:
        index = 0
        for ch in letters:
            index = index * 26 + (ord(ch) - 64)
        index -= 1
        _COLUMNS[letters] = index
    return index


def _resolve(base_dir: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    parts: list[str] = [p for p in base_dir.split("/") if p]
    for piece in target.split("/"):
        if piece == "..":
            if parts:
                parts.pop()
        elif piece and piece != ".":
            parts.append(piece)
    return "/".join(parts)


def _rels(zf: zipfile.ZipFile, part: str) -> dict[str, tuple[str, str]]:
    """Relationships of a part: id -> (type, resolved target path)."""
    directory, _, name = part.rpartition("/")
    rels_path = f"{directory}/_rels/{name}.rels" if directory else f"_rels/{name}.rels"
    try:
        root = ElementTree.fromstring(zf.read(rels_path))
    except KeyError:
        return {}
    found: dict[str, tuple[str, str]] = {}
    for rel in root:
        if _local(rel.tag) != "Relationship" or rel.get("TargetMode") == "External":
            continue
        found[rel.get("Id", "")] = (rel.get("Type", ""), _resolve(directory, rel.get("Target", "")))
    return found


def _tag_patterns(prefix: str) -> tuple[re.Pattern[str], re.Pattern[str]]:
    p = re.escape(prefix)
    text = re.compile(rf"<{p}t(?:\s[^>]*)?>(.*?)</{p}t>|<{p}t(?:\s[^>]*)?/>", re.S)
    phonetic = re.compile(rf"<{p}rPh\b.*?</{p}rPh>", re.S)
    return text, phonetic


def _rich_text(inner: str, text_re: re.Pattern[str], phonetic_re: re.Pattern[str]) -> str:
    if "rPh" in inner:
        inner = phonetic_re.sub("", inner)
    return _xml_text("".join(text_re.findall(inner)))


def _shared_strings(zf: zipfile.ZipFile, path: str | None, max_inflated: int) -> list[str]:
    if not path:
        return []
    try:
        if zf.getinfo(path).file_size > max_inflated:
            raise TableError(MSG_INFLATED.format(limit=max_inflated // (1024 * 1024)))
        xml = zf.read(path).decode("utf-8")
    except KeyError:
        return []
    match = _PREFIX_RE.search(xml)
    prefix = (match.group(1) or "") if match else ""
    p = re.escape(prefix)
    si_re = re.compile(rf"<{p}si\b[^>]*?(?:/>|>(.*?)</{p}si>)", re.S)
    simple_re = re.compile(rf"<{p}t(?:\s[^>]*)?>([^<]*)</{p}t>")
    text_re, phonetic_re = _tag_patterns(prefix)
    strings: list[str] = []
    append = strings.append
    for inner in si_re.findall(xml):
        simple = simple_re.fullmatch(inner)
        if simple is not None:
            value = simple.group(1)
            append(_xml_text(value) if ("&" in value or "_x" in value) else value)
        else:
            append(_rich_text(inner, text_re, phonetic_re))
    return strings


def _date_styles(zf: zipfile.ZipFile, path: str | None) -> frozenset[int]:
    """Indexes of cellXfs whose number format is a date or time."""
    if not path:
        return frozenset()
    try:
        root = ElementTree.fromstring(zf.read(path))
    except KeyError:
        return frozenset()
    custom: dict[int, str] = {}
    dates: set[int] = set()
    for child in root:
        name = _local(child.tag)
        if name == "numFmts":
            for fmt in child:
                custom_id = fmt.get("numFmtId", "")
                if custom_id.isdigit():
                    custom[int(custom_id)] = fmt.get("formatCode", "")
        elif name == "cellXfs":
            for index, xf in enumerate(child):
                fmt_id_text = xf.get("numFmtId", "0")
                fmt_id = int(fmt_id_text) if fmt_id_text.isdigit() else 0
                if fmt_id in custom:
                    if is_date_format(custom[fmt_id]):
                        dates.add(index)
                elif fmt_id in _BUILTIN_DATE_IDS or (
                    fmt_id in BUILTIN_FORMATS and is_date_format(BUILTIN_FORMATS[fmt_id])
                ):
                    dates.add(index)
    return frozenset(dates)


def _open_xlsx(data: bytes, *, max_inflated: int = 1 << 30) -> Table:
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
        names = set(zf.namelist())
        if "word/document.xml" in names:
            raise TableError(MSG_WORD)
        if any(n.startswith("ppt/") for n in names):
            raise TableError(MSG_PPT)
        workbook_path = "xl/workbook.xml"
        for rel_type, target in _rels(zf, "").values():
            if rel_type.endswith(_REL_OFFICE_DOCUMENT):
                workbook_path = target
                break
        if workbook_path not in names:
            raise TableError(MSG_NO_WORKBOOK)
        workbook = ElementTree.fromstring(zf.read(workbook_path))
        rels = _rels(zf, workbook_path)
        date1904 = False
        sheet_refs: list[tuple[str, str]] = []
        for child in workbook:
            name = _local(child.tag)
            if name == "workbookPr":
                date1904 = child.get("date1904", "").lower() in ("1", "true")
            elif name == "sheets":
                for sheet in child:
                    rel_id = sheet.get(_NS_REL_ID) or sheet.get(_NS_REL_ID_STRICT) or ""
                    rel = rels.get(rel_id)
                    if rel and rel[0].endswith(_REL_WORKSHEET) and rel[1] in names:
                        sheet_refs.append((sheet.get("name", ""), rel[1]))
        if not sheet_refs:
            raise TableError(MSG_NO_SHEET)
        shared_path = next((t for r, t in rels.values() if r.endswith(_REL_SHARED_STRINGS)), None)
        styles_path = next((t for r, t in rels.values() if r.endswith(_REL_STYLES)), None)
        shared = _shared_strings(zf, shared_path, max_inflated)
        date_styles = _date_styles(zf, styles_path)
    except TableError:
        raise
    except zipfile.BadZipFile:
        raise TableError(MSG_NOT_ZIP) from None
    except (zlib.error, ElementTree.ParseError, UnicodeDecodeError, EOFError, OSError) as exc:
        raise TableError(MSG_BROKEN.format(detail=type(exc).__name__)) from None
    except (KeyError, ValueError, RuntimeError, NotImplementedError) as exc:
        # RuntimeError: encrypted member; NotImplementedError: unknown compression.
        raise TableError(MSG_BROKEN.format(detail=type(exc).__name__)) from None

    epoch = CALENDAR_MAC_1904 if date1904 else CALENDAR_WINDOWS_1900
    sheets = [
        Sheet(name, _sheet_reader(zf, path, shared, date_styles, epoch, max_inflated))
        for name, path in sheet_refs
    ]
    return Table("xlsx", sheets)


def _sheet_reader(
    zf: zipfile.ZipFile,
    path: str,
    shared: list[str],
    date_styles: frozenset[int],
    epoch: datetime,
    max_inflated: int,
) -> Callable[[], Iterator[Row]]:
    def rows() -> Iterator[Row]:
        try:
            yield from _iter_sheet(zf, path, shared, date_styles, epoch, max_inflated)
        except TableError:
            raise
        except zipfile.BadZipFile:
            raise TableError(MSG_BROKEN.format(detail="BadZipFile")) from None
        except (zlib.error, UnicodeDecodeError, EOFError, OSError, ValueError, IndexError) as exc:
            raise TableError(MSG_BROKEN.format(detail=type(exc).__name__)) from None

    return rows


def _iter_sheet(
    zf: zipfile.ZipFile,
    path: str,
    shared: list[str],
    date_styles: frozenset[int],
    epoch: datetime,
    max_inflated: int = 1 << 30,
) -> Iterator[Row]:
    with zf.open(path) as stream:
        head = stream.read(_CHUNK)
        match = _PREFIX_RE.search(head[:4096].decode("utf-8", "ignore"))
        prefix = (match.group(1) or "") if match else ""
        p = re.escape(prefix)
        row_end = f"</{prefix}row>".encode()
        # One pass over the XML finds rows and cells. Groups: 1 "row" marks a row start,
        # 2 its attributes, 3 "/" when the row is empty (self-closing). For a cell: 4 = column
        # letters when `r` is the first attribute (Excel, WPS, openpyxl and xlsxwriter all write
        # it first), 5 = the other attributes (ending in "/" for an empty cell), 6 = the value
        # when the content is just <v>…</v> or <is><t>…</t></is> (nearly always), 7 = any
        # other content (formulas, rich text). Content patterns are "unrolled" ([^<]* runs):
        # a lazy .*? is much slower.
        token_re = re.compile(
            rf"<{p}(?:(row)\b([^>]*?)(/?)>"
            rf"|c(?=[\s/>])(?:\s+r=[\"']([A-Z]{{1,3}})\d+[\"'])?([^>]*)>"
            rf"(?:(?<=/>)"
            rf"|(?:<{p}v>|<{p}is><{p}t>)([^<]*)(?:</{p}v>|</{p}t></{p}is>)</{p}c>"
            rf"|([^<]*(?:<(?!/{p}c>)[^<]*)*)</{p}c>))",
            re.S,
        )
        text_re, phonetic_re = _tag_patterns(prefix)
        value_re = re.compile(rf"<{p}v(?:\s[^>]*)?>(.*?)</{p}v>", re.S)
        attr_cache: dict[str, tuple[str | None, int | None, str | None]] = {}
        columns = _COLUMNS

        def cell_attrs(attrs: str) -> tuple[str | None, int | None, str | None]:
            """-> (type, style index, column letters when `r` was not the first attribute)."""
            kind = _ATTR_T.search(attrs)
            style = _ATTR_S.search(attrs)
            ref = _ATTR_R.search(attrs)
            found = (
                kind.group(1) if kind else None,
                int(style.group(1)) if style else None,
                ref.group(1) if ref else None,
            )
            if ref is None and len(attr_cache) < 4096:
                attr_cache[attrs] = found
            return found

        row_no = 0
        values: list[CellValue] = []
        append = values.append
        in_row = False
        buffer = b""
        chunk = head
        inflated = 0
        while True:
            if chunk:
                inflated += len(chunk)
                if inflated > max_inflated:
                    raise TableError(MSG_INFLATED.format(limit=max_inflated // (1024 * 1024)))
                buffer += chunk
                cut = buffer.rfind(row_end)
                if cut < 0:
                    chunk = stream.read(_CHUNK)
                    continue
                cut += len(row_end)
                text = buffer[:cut].decode("utf-8")
                buffer = buffer[cut:]
            elif buffer:
                text = buffer.decode("utf-8")
                buffer = b""
            else:
                break
            for is_row, row_attrs, empty_row, letters, attrs, simple, inner in token_re.findall(
                text
            ):
                if is_row:
                    if in_row:
                        yield row_no, tuple(values)
                    ref_match = _ATTR_ROW.search(row_attrs)
                    row_no = int(ref_match.group(1)) if ref_match else row_no + 1
                    values = []
                    append = values.append
                    in_row = not empty_row
                    continue
                if attrs:
                    kind, style, late_letters = attr_cache.get(attrs) or cell_attrs(attrs)
                    if late_letters:
                        letters = late_letters
                else:
                    kind = style = None
                if letters:
                    col = columns.get(letters)
                    if col is None:
                        col = _column_index(letters)
                    if col != len(values):
                        if col > len(values):
                            values.extend([None] * (col - len(values)))
                        else:
                            del values[col:]  # a repeated cell reference: the later one wins
                if simple:
                    if kind == "s":
                        append(shared[int(simple)])
                    elif kind is None or kind == "n":
                        if simple.isdigit() and (style is None or style not in date_styles):
                            append(int(simple))
                        else:
                            append(_number(simple, style, date_styles, epoch))
                    elif kind == "b":
                        append(simple.strip() in ("1", "true"))
                    elif kind == "d":
                        append(_iso_datetime(_xml_text(simple)))
                    elif "&" in simple or "_x" in simple:  # inlineStr, str, e (#N/A …)
                        append(_xml_text(simple))
                    else:
                        append(simple)
                    continue
                if not inner:
                    append("" if kind == "inlineStr" else None)
                    continue
                if kind == "inlineStr":
                    append(_rich_text(inner, text_re, phonetic_re))
                    continue
                raw = _first(value_re, inner)
                if raw is None:
                    append(None)
                elif kind == "s":
                    append(shared[int(raw)])
                elif kind is None or kind == "n":
                    append(_number(raw, style, date_styles, epoch))
                elif kind == "b":
                    append(raw.strip() in ("1", "true"))
                elif kind == "d":
                    append(_iso_datetime(_xml_text(raw)))
                else:  # "str" (formula result), "e" (error such as #N/A), unknown
                    append(_xml_text(raw))
            if not chunk:
                break
            chunk = stream.read(_CHUNK)
        if in_row:
            yield row_no, tuple(values)


def _first(pattern: re.Pattern[str], inner: str) -> str | None:
    match = pattern.search(inner)
    return match.group(1) if match else None


def _number(
    raw: str, style: int | None, date_styles: frozenset[int], epoch: datetime
) -> int | float | datetime | str:
    raw = raw.strip()
    try:
        if raw.isdigit() or (raw.startswith("-") and raw[1:].isdigit()):
            number: int | float = int(raw)
        else:
            number = float(raw)
    except ValueError:
        return _xml_text(raw)
    if style is not None and style in date_styles:
        try:
            moment = from_excel(number, epoch)
        except (ValueError, OverflowError, TypeError):
            return number
        if isinstance(moment, datetime):
            return moment
        return number
    return number


def _iso_datetime(text: str) -> datetime | str:
    try:
        return datetime.fromisoformat(text.strip().rstrip("Z"))
    except ValueError:
        return text
