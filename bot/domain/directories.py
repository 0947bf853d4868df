"""The county directories (一单两库): kinds, column headers, typed records and row validation.

Pure functions only: no database, no Telegram, no clock (callers pass `today`).

Flow: `find_header(kind, rows)` locates the header row and maps columns to fields; then
`validate_rows(header, rows, ...)` turns data rows into records and `RowError`s; `diff_records`
compares records with what the database holds. All user-facing wording is Chinese and lives in
the MSG_* constants below.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain, repeat
from operator import attrgetter
from typing import Any, Union

from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import from_excel

from bot.domain.credit_code import credit_code_error, normalize_credit_code
from bot.domain.onboarding import active_flag

# time / timedelta: time-only and duration cells of a workbook (shown as text).
CellValue = Union[str, int, float, bool, datetime, date, time, timedelta, None]  # noqa: UP007
Row = tuple[int, Sequence[CellValue]]

# -- kinds -----------------------------------------------------------------------------------

KINDS: tuple[str, ...] = ("departments", "inspectors", "objects", "items")
KIND_LABELS: dict[str, str] = {
    "departments": "部门",
    "inspectors": "执法检查人员",
    "objects": "检查对象",
    "items": "抽查事项",
}
_KIND_WORDS: dict[str, str] = {
    "departments": "departments",
    "department": "departments",
    "dept": "departments",
    "depts": "departments",
    "部门": "departments",
    "inspectors": "inspectors",
    "inspector": "inspectors",
    "人员": "inspectors",
    "检查人员": "inspectors",
    "执法人员": "inspectors",
    "执法检查人员": "inspectors",
    "执法检查人员名录": "inspectors",
    "objects": "objects",
    "object": "objects",
    "对象": "objects",
    "企业": "objects",
    "检查对象": "objects",
    "检查对象名录": "objects",
    "市场主体": "objects",
    "items": "items",
    "item": "items",
    "事项": "items",
    "抽查事项": "items",
    "检查事项": "items",
    "抽查事项清单": "items",
}


def parse_kind(text: str) -> str | None:
    """'objects', '企业', '检查对象名录库', ' Items ' … -> kind, or None."""
    word = unicodedata.normalize("NFKC", text).strip().lower().replace(" ", "")
    for candidate in (word, word.removesuffix("库"), word.removesuffix("清单")):
        found = _KIND_WORDS.get(candidate)
        if found:
            return found
    return None


# -- messages (Chinese, shown to users) ------------------------------------------------------

MSG_REQUIRED = "不能为空"
MSG_DUPLICATE = "与第 {first} 行重复 ({value})"
MSG_NUMBER_LOST = (
    "Excel 把它存成了数字，超过 15 位的部分已丢失 ({value})。请把该列设为「文本」格式后重新填写"
)
MSG_SCIENTIFIC = (
    "显示成了科学计数法，数字已不完整 ({value})。请在 Excel 中把该列设为「文本」格式后重新填写"
)
MSG_CREDIT_NUMBER = (
    "Excel 把信用代码存成了数字，末尾几位已丢失 ({value})。"
    "请把该列设为「文本」格式后重新填写完整的 18 位代码"
)
MSG_RISK = "应为 A、B、C、D 之一（也可写 低、一般、较高、高）({value})"
MSG_DATE = "不是可识别的日期，请写成 2027-12-31、2027/12/31 或 2027年12月31日 ({value})"
MSG_DATE_INVALID = "日期不存在 ({value})"
MSG_DATE_RANGE = "日期超出合理范围 ({value})"
MSG_MONTH = "不是可识别的月份，请写成 2026-03、2026年3月 或 202603 ({value})"
MSG_CATEGORY = "应为「一般」或「重点」({value})"
MSG_UNKNOWN_DEPARTMENT = "部门编码「{code}」不存在，请先导入部门名录或核对编码"
MSG_CLOSEST_DEPARTMENTS = (
    "。最接近的已知部门：{names}（可写部门编码、全称，或在部门名录的「简称/别名」列登记这个写法）"
)
MSG_KNOWN_DEPARTMENTS = (
    "。已知部门：{names}（可写部门编码、全称，或在部门名录的「简称/别名」列登记）"
)
MSG_AMBIGUOUS_DEPARTMENT = "「{name}」可指不止一个部门：{names}，请写部门编码"
MSG_NO_DEPARTMENTS = "部门编码「{code}」不存在：系统里还没有任何部门，请先导入部门名录"
MSG_ACTIVE = "无法识别的状态「{value}」：请写 在岗，或 离岗、调离、退休、停用（留空视为在岗）"
MSG_TOO_LONG = "内容过长（{length} 个字符，上限 {limit}）"

MSG_HEADER_MISSING = "缺少必填列：{missing}。文件中的列：{found}。"
MSG_HEADER_NONE_FOUND = "（没有找到任何列名）"
MSG_HEADER_DUPLICATE = "列「{label}」出现了不止一次（第 {letters} 列），请只保留一列。"
MSG_HEADER_NOT_FOUND = "没有找到表头。第一行应为列名，例如：{expected}。"
MSG_NO_ROWS = "文件里没有数据行（只有表头或全是空行）。"
MSG_TOO_MANY_ROWS = "文件超过 {limit:,} 行数据，请拆分后分批导入。"

WARN_IGNORED_COLUMNS = "已忽略的列：{columns}（无法识别，内容未导入）。"
WARN_HEADER_ROW = "表头在第 {row} 行，前面的 {skipped} 行已跳过。"
WARN_SKIPPED_ROWS = "已跳过第 {rows} 行（标题、注释、填报人等说明行，不是数据）。"
WARN_IGNORED_ONLY = "第 {rows} 行只在已忽略的列中有内容，未导入。"
WARN_GENERATED_CODES = (
    "文件中没有「事项编码」列：编码按部门和事项名称生成（如「{example}」），"
    "再次导入同一部门的同名事项会更新同一条。"
)
WARN_SHEET = "使用了工作表「{sheet}」。"
WARN_EXPIRED = "{count} 名人员的执法证已过期（第 {rows} 行），请核实或更新有效期。"
WARN_NO_RISK = "{count} 个检查对象未填信用风险分类（第 {rows} 行），抽取时无法按风险分层。"
WARN_COLUMN_ABSENT = "文件中没有「{labels}」列，已有记录的这些字段保持不变。"

MAX_TEXT = 2000  # characters per cell; longer is surely a paste accident
MAX_ROWS = 300_000  # data rows per file


# -- records ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Department:
    code: str
    name: str
    aliases: str = ""  # '、'-separated short names people write (县市场监管局, 市场监管部门)


@dataclass(slots=True)
class Inspector:
    name: str
    department_code: str
    certificate_no: str
    certificate_valid_until: str | None = None  # ISO date, inclusive; None = no expiry given
    specialties: str = ""  # '、'-separated
    active: int = 1  # 0: left (状态 离岗/调离/退休/停用 …); never drawn, sent nothing


@dataclass(slots=True)
class DirectoryObject:
    credit_code: str
    name: str
    industry: str = ""  # '、'-separated
    address: str = ""
    risk_class: str | None = None  # 'A'..'D'
    risk_month: str | None = None  # 'YYYY-MM'
    legal_rep: str = ""
    phone: str = ""
    status: str = ""


@dataclass(slots=True)
class Item:
    code: str
    name: str
    department_code: str
    legal_basis: str = ""
    method: str = ""
    category: str = ""  # '一般' / '重点' / ''
    object_type: str = ""
    content: str = ""
    category_name: str = ""  # 抽查类别名称, as the published list writes it
    note: str = ""  # 备注


Record = Union[Department, Inspector, DirectoryObject, Item]  # noqa: UP007


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem in one cell. `row` is the Excel row number (header = row 1)."""

    row: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        if self.row is not None and self.column:
            return f"第 {self.row} 行「{self.column}」：{self.message}"
        if self.row is not None:
            return f"第 {self.row} 行：{self.message}"
        if self.column:
            return f"「{self.column}」：{self.message}"
        return self.message


class CellError(ValueError):
    """A cell value cannot be used; the argument is the Chinese reason."""


class TooManyRows(ValueError):
    """The file has more than MAX_ROWS data rows; the argument is the Chinese message."""


# -- cell parsing ----------------------------------------------------------------------------

# Whitespace str.strip() knows, plus zero-width characters and the BOM.
_STRIP = " \t\r\n\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
_STRIP += "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\u200b\u200c\u200d"
_STRIP += "\u2060\ufeff"
_INNER_SPACE = re.compile(r"[\s\u200b\u200c\u200d\u2060\ufeff]+")
# Excel shows big numbers as 9.14403E+17 (always with a sign), and CSV keeps what is shown.
_SCIENTIFIC = re.compile(r"[+-]?\d+(?:\.\d+)?[eE][+-]\d+")
_FLOAT_INTEGER = re.compile(r"(\d+)\.0+")
_TAG_SPLIT = re.compile(r"[、,，;；/／\\|｜\s]+")


def _show(value: CellValue, limit: int = 40) -> str:
    text = cell_text(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _float_text(value: float) -> str:
    if value.is_integer():
        return str(int(value))
    text = repr(value)
    if "e" in text or "E" in text:
        text = format(value, ".15f").rstrip("0").rstrip(".")
    return text


def cell_text(value: CellValue) -> str:
    """Any cell value as trimmed text; Excel floats like 1234.0 or 1.38e10 become digits."""
    if value is None:
        return ""
    if type(value) is str:
        return value.strip(_STRIP)
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float_text(value)
    if isinstance(value, datetime):
        if value.hour == value.minute == value.second == value.microsecond == 0:
            return value.date().isoformat()
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value).strip(_STRIP)


def is_blank(value: CellValue) -> bool:
    if value is None:
        return True
    if type(value) is str:
        return not value.strip(_STRIP)
    return False


def parse_text(value: CellValue) -> str:
    text = value.strip(_STRIP) if type(value) is str else cell_text(value)
    if len(text) > MAX_TEXT:
        raise CellError(MSG_TOO_LONG.format(length=len(text), limit=MAX_TEXT))
    return text


def _digits_guard(value: CellValue) -> str:
    """Text of a number-like cell, refusing numbers Excel has already damaged."""
    if type(value) is str:
        text = value.strip(_STRIP)
        if text and text[0] in "+-0123456789" and ("e" in text or "E" in text):
            if _SCIENTIFIC.fullmatch(text):
                raise CellError(MSG_SCIENTIFIC.format(value=text))
        elif text and text[-1] == "0" and "." in text:
            match = _FLOAT_INTEGER.fullmatch(text)
            if match:
                return match.group(1)
        return text
    if isinstance(value, float) and not isinstance(value, bool):
        if value.is_integer() and abs(value) >= 1e15:
            raise CellError(MSG_NUMBER_LOST.format(value=_float_text(value)))
    return cell_text(value)


def parse_code(value: CellValue) -> str:
    """Identifiers (department / item codes, certificate numbers): no spaces, half-width."""
    text = _digits_guard(value)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if " " in text or not text.isprintable():
        text = _INNER_SPACE.sub("", text)
    if len(text) > 100:
        raise CellError(MSG_TOO_LONG.format(length=len(text), limit=100))
    return text


def parse_phone(value: CellValue) -> str:
    text = _digits_guard(value)
    if len(text) > 100:
        raise CellError(MSG_TOO_LONG.format(length=len(text), limit=100))
    return text


def parse_tags(value: CellValue) -> str:
    """'食品、餐饮, 住宿/ 食品' -> '食品、餐饮、住宿' (split, trimmed, de-duplicated)."""
    text = parse_text(value)
    if not text:
        return ""
    parts = [p for p in _TAG_SPLIT.split(text) if p]
    if len(parts) == 1:
        return parts[0]
    return "、".join(dict.fromkeys(parts))


def parse_aliases(value: CellValue) -> str:
    """'县市场监管局，市场监管部门\n市场监管' -> '县市场监管局、市场监管部门、市场监管'."""
    return "、".join(split_aliases(parse_text(value)))


def parse_credit_code(value: CellValue) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if credit_code_error(str(value)) is None:  # an exact all-digit code (not from Excel)
            return str(value)
        raise CellError(MSG_CREDIT_NUMBER.format(value=value))
    if isinstance(value, float):
        raise CellError(MSG_CREDIT_NUMBER.format(value=_float_text(value)))
    text = value.strip(_STRIP) if type(value) is str else cell_text(value)
    if not text:
        return ""
    if _SCIENTIFIC.fullmatch(text):
        raise CellError(MSG_CREDIT_NUMBER.format(value=text))
    code = normalize_credit_code(text)
    problem = credit_code_error(code)
    if problem:
        raise CellError(problem)
    return code


_RISK_WORDS = {"低": "A", "一般": "B", "较高": "C", "高": "D"}
_RISK_LETTER = re.compile(r"([ABCD])(?:类|级|类企业)?(?:\((低|一般|较高|高)(?:风险)?\))?")
_RISK_WORD = re.compile(r"(低|一般|较高|高)(?:风险)?(?:类|级)?(?:\(([ABCD])(?:类|级)?\))?")


def parse_risk_class(value: CellValue) -> str | None:
    """'A', 'a', 'A类', '低', '低风险', 'B类（一般风险）' … -> 'A'..'D'; blank -> None."""
    text = cell_text(value)
    if not text:
        return None
    if text in ("A", "B", "C", "D"):
        return text
    key = unicodedata.normalize("NFKC", text).upper().replace(" ", "")
    match = _RISK_LETTER.fullmatch(key)
    if match:
        letter, word = match.groups()
        if word is None or _RISK_WORDS[word] == letter:
            return letter
    match = _RISK_WORD.fullmatch(key)
    if match:
        word, letter = match.groups()
        if letter is None or _RISK_WORDS[word] == letter:
            return _RISK_WORDS[word]
    raise CellError(MSG_RISK.format(value=_show(text)))


_DATE_TEXT = re.compile(
    r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[ T]+\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?"
)
_DATE_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_MONTH_TEXT = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*月?(?:份)?")
_MONTH_COMPACT = re.compile(r"(\d{4})(\d{2})")
_NO_EXPIRY = frozenset({"长期", "长期有效", "无期限", "永久", "永久有效", "无固定期限"})
MIN_YEAR, MAX_YEAR = 1950, 2100


def _make_date(year: int, month: int, day: int, shown: str) -> date:
    try:
        result = date(year, month, day)
    except ValueError:
        raise CellError(MSG_DATE_INVALID.format(value=shown)) from None
    if not MIN_YEAR <= result.year <= MAX_YEAR:
        raise CellError(MSG_DATE_RANGE.format(value=shown))
    return result


def _serial_date(number: float, shown: str) -> date:
    """Excel serial day number (1900 date system) -> date."""
    if not 1 <= number < 2958466:
        raise CellError(MSG_DATE_RANGE.format(value=shown))
    moment = from_excel(number)
    if not isinstance(moment, datetime):
        raise CellError(MSG_DATE.format(value=shown))
    return _make_date(moment.year, moment.month, moment.day, shown)


def _to_date(value: CellValue) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return _make_date(value.year, value.month, value.day, cell_text(value))
    if isinstance(value, date):
        return _make_date(value.year, value.month, value.day, value.isoformat())
    if isinstance(value, bool):
        raise CellError(MSG_DATE.format(value=cell_text(value)))
    if isinstance(value, (int, float)):
        shown = _float_text(float(value))
        if float(value).is_integer() and 10000000 <= value <= 99991231:
            return _from_compact(shown)
        return _serial_date(float(value), shown)
    text = cell_text(value)
    if not text:
        return None
    key = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    match = _DATE_TEXT.fullmatch(key)
    if match:
        return _make_date(int(match[1]), int(match[2]), int(match[3]), text)
    if _DATE_COMPACT.fullmatch(key):
        return _from_compact(key)
    if key.isdigit() and len(key) == 5:  # a date cell exported as its serial number
        return _serial_date(float(key), text)
    raise CellError(MSG_DATE.format(value=_show(text)))


def _from_compact(text: str) -> date:
    match = _DATE_COMPACT.fullmatch(text)
    if not match:
        raise CellError(MSG_DATE.format(value=text))
    return _make_date(int(match[1]), int(match[2]), int(match[3]), text)


def parse_date(value: CellValue) -> str | None:
    """'2027-12-31', '2027/12/31', '2027年12月31日', 20271231, date cells, Excel serials
    -> '2027-12-31'; '长期' (no expiry) and blank -> None."""
    if type(value) is str:
        text = value.strip(_STRIP)
        if text in _NO_EXPIRY:
            return None
    result = _to_date(value)
    return None if result is None else result.isoformat()


def parse_month(value: CellValue) -> str | None:
    """'2026-03', '2026-3', '2026年3月', '202603', 202603, dates, Excel serials -> '2026-03'."""
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
        if number.is_integer() and 100000 <= number <= 999999:
            return _month_from(str(int(number)), _MONTH_COMPACT)
        try:
            day = _to_date(value)
        except CellError:
            raise CellError(MSG_MONTH.format(value=_float_text(number))) from None
        return None if day is None else f"{day.year:04d}-{day.month:02d}"
    if isinstance(value, (datetime, date)):
        day = _to_date(value)
        return None if day is None else f"{day.year:04d}-{day.month:02d}"
    text = cell_text(value)
    if not text:
        return None
    key = unicodedata.normalize("NFKC", text) if not text.isascii() else text
    for pattern in (_MONTH_TEXT, _MONTH_COMPACT):
        if pattern.fullmatch(key):
            return _month_from(key, pattern)
    try:
        day = _to_date(key)
    except CellError:
        raise CellError(MSG_MONTH.format(value=_show(text))) from None
    return None if day is None else f"{day.year:04d}-{day.month:02d}"


def _month_from(text: str, pattern: re.Pattern[str]) -> str:
    match = pattern.fullmatch(text)
    if not match:
        raise CellError(MSG_MONTH.format(value=text))
    year, month = int(match[1]), int(match[2])
    if not 1 <= month <= 12:
        raise CellError(MSG_MONTH.format(value=text))
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise CellError(MSG_DATE_RANGE.format(value=text))
    return f"{year:04d}-{month:02d}"


_CATEGORIES = {
    "一般": "一般",
    "一般事项": "一般",
    "一般检查事项": "一般",
    "一般抽查事项": "一般",
    "重点": "重点",
    "重点事项": "重点",
    "重点检查事项": "重点",
    "重点抽查事项": "重点",
}


def parse_active(value: CellValue) -> int:
    """The inspectors' 状态 column: '在岗' (or blank) -> 1; '离岗', '调离', '退休' … -> 0."""
    flag = active_flag(cell_text(value))
    if flag is None:
        raise CellError(MSG_ACTIVE.format(value=_show(value)))
    return flag


def parse_category(value: CellValue) -> str:
    text = cell_text(value)
    if not text:
        return ""
    found = _CATEGORIES.get(text.replace(" ", "").replace("\u3000", ""))
    if found is None:
        raise CellError(MSG_CATEGORY.format(value=_show(text)))
    return found


_ALIAS_SPLIT = re.compile(r"[、,，;；/／|｜\n]+")


def department_key(value: CellValue) -> str:
    """A department name or alias as compared: NFKC, no spaces, brackets kept."""
    return _INNER_SPACE.sub("", unicodedata.normalize("NFKC", cell_text(value)))


def split_aliases(value: str) -> list[str]:
    """'县市场监管局、市场监管部门' -> the aliases, trimmed, without repeats."""
    parts = (p.strip(_STRIP) for p in _ALIAS_SPLIT.split(value))
    return list(dict.fromkeys(p for p in parts if p))


def department_resolver(
    departments: Mapping[str, str], aliases: Mapping[str, str] | None = None
) -> Callable[[CellValue], str]:
    """Parser for a department reference: the code (exact or case-insensitive), the
    department's full name, or one of its aliases (`aliases` maps code -> '、'-separated
    aliases, the departments' 简称/别名 column), names compared without spaces and in NFKC.
    A name two departments share is refused with both named; an unknown one lists the
    closest known departments. `departments` maps code -> name."""
    codes = set(departments)
    by_upper: dict[str, str] = {}
    for code in departments:
        by_upper.setdefault(code.upper(), code)
    by_key: dict[str, set[str]] = {}
    for code, name in departments.items():
        by_key.setdefault(department_key(name), set()).add(code)
    for code, text in (aliases or {}).items():
        if code in codes:
            for alias in split_aliases(text):
                by_key.setdefault(department_key(alias), set()).add(code)

    def shown(code: str) -> str:
        return f"{departments[code]}（{code}）"

    def resolve(value: CellValue) -> str:
        code = parse_code(value)
        if not code or code in codes:
            return code
        found = by_upper.get(code.upper())
        if found:
            return found
        hits = by_key.get(department_key(value))
        if hits and len(hits) == 1:
            return next(iter(hits))
        if hits:
            names = "、".join(shown(c) for c in sorted(hits))
            raise CellError(MSG_AMBIGUOUS_DEPARTMENT.format(name=_show(value), names=names))
        if not codes:
            raise CellError(MSG_NO_DEPARTMENTS.format(code=_show(code)))
        message = MSG_UNKNOWN_DEPARTMENT.format(code=_show(value))
        close = difflib.get_close_matches(department_key(value), list(by_key), n=3, cutoff=0.4)
        closest = list(dict.fromkeys(c for key in close for c in sorted(by_key[key])))[:3]
        if closest:
            names = "、".join(shown(c) for c in closest)
            raise CellError(message + MSG_CLOSEST_DEPARTMENTS.format(names=names))
        if len(codes) <= 8:
            names = "、".join(shown(c) for c in sorted(codes))
            raise CellError(message + MSG_KNOWN_DEPARTMENTS.format(names=names))
        raise CellError(message)

    return resolve


def item_code(department_code: str, name: str) -> str:
    """A stable item code for a list without 事项编码: the department and a digest of the name
    (NFKC, spaces removed), e.g. 'SCJG-3F2A9C1B'. The same department and name give the same
    code on every import."""
    key = _INNER_SPACE.sub("", unicodedata.normalize("NFKC", name))
    digest = hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:8].upper()
    return f"{department_code}-{digest}"


# -- rows that are not data --------------------------------------------------------------------

# The first cell of a note under (or above) a table: 注：…, 说明：…, 填报人：…, 审核人：…
_NOTE = re.compile(
    r"(?:注|附注|备注|说明|填报说明|填表说明|填报人|填表人|填报单位|填报日期|填表日期|制表人|制表"
    r"|制表日期|审核人|审核|联系人|联系电话|负责人|单位负责人|统计人|单位\s*[(（]\s*盖章\s*[)）])"
    r"\s*[:：0-9１-９、.．(（]"
)
_NOTE_FIRST = frozenset("注附备说填制审联负统单")


def skipped_row(cells: Sequence[CellValue]) -> str | None:
    """The text of a row that is a title, a note or a 填报人 line rather than data, else None.

    A title merged across the table reads as the same text in every cell (bot.tabular fills
    merged cells); a note starts with 注：, 说明：, 填报人： … in its first non-empty cell."""
    first: str | None = None
    count = 0
    for value in cells:
        if value is None or value == "":
            continue
        if type(value) is not str:
            return None
        count += 1
        if first is None:
            first = value.strip(_STRIP)
            if not first:
                first, count = None, 0
                continue
            if first[0] in _NOTE_FIRST and _NOTE.match(first):
                return first
        elif value.strip(_STRIP) != first:
            return None
    return first if count >= 2 else None


# -- columns and kinds -----------------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    field: str
    header: str  # the Chinese header as the county writes it
    parse: str  # key of the parser: text, code, phone, tags, credit_code, risk, date, …
    required: bool = False
    aliases: tuple[str, ...] = ()
    description: str = ""
    example: str = ""
    width: int = 16


def _col(
    field_name: str,
    header: str,
    parse: str,
    *,
    required: bool = False,
    aliases: str = "",
    note: str = "",
    example: str = "",
    width: int = 16,
) -> Column:
    """`aliases` is space-separated; the field name itself is always an alias."""
    return Column(
        field_name, header, parse, required, (field_name, *aliases.split()), note, example, width
    )


@dataclass(frozen=True)
class KindSpec:
    kind: str
    label: str
    table: str
    key: str
    record: type[Any]
    columns: tuple[Column, ...]

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(c.field for c in self.columns)

    @property
    def required(self) -> tuple[Column, ...]:
        return tuple(c for c in self.columns if c.required)

    def column(self, field_name: str) -> Column:
        for column in self.columns:
            if column.field == field_name:
                return column
        raise KeyError(field_name)


_TEXT_FORMAT_NOTE = "请把该列设为「文本」格式，以免 Excel 改成科学计数法。"

_DEPARTMENTS = KindSpec(
    "departments",
    KIND_LABELS["departments"],
    "departments",
    "code",
    Department,
    (
        _col(
            "code",
            "部门编码",
            "code",
            required=True,
            aliases="dept_code department_code 部门代码 编码 代码",
            note="部门的唯一编码（如 SCJG）。导入人员、事项时用它指明所属部门。",
            example="SCJG",
            width=14,
        ),
        _col(
            "name",
            "部门名称",
            "text",
            required=True,
            aliases="department_name department 部门 名称 部门全称 单位名称",
            note="部门全称。",
            example="县市场监督管理局",
            width=28,
        ),
        _col(
            "aliases",
            "简称/别名",
            "aliases",
            aliases="简称 别名 别称 简称别名 部门简称 其他名称 常用名称 alias",
            note="人们实际写的其他名称，可填多个，用顿号「、」分隔，如 县市场监管局、市场监管部门。"
            "导入计划、事项、人员时这些写法都能认出该部门。",
            example="县市场监管局、市场监管部门",
            width=30,
        ),
    ),
)

_INSPECTORS = KindSpec(
    "inspectors",
    KIND_LABELS["inspectors"],
    "inspectors",
    "certificate_no",
    Inspector,
    (
        _col(
            "name",
            "姓名",
            "text",
            required=True,
            aliases="full_name 人员姓名 执法人员姓名 检查人员姓名 执法人员",
            note="执法检查人员的姓名。",
            example="张三",
            width=12,
        ),
        _col(
            "department_code",
            "所属部门编码",
            "department",
            required=True,
            aliases="department dept_code dept 部门编码 所属部门 部门 部门代码 所属部门代码 单位",
            note="须是已导入的部门编码（也可填部门全称）。",
            example="SCJG",
            width=14,
        ),
        _col(
            "certificate_no",
            "执法证号",
            "code",
            required=True,
            aliases="certificate certificate_number cert_no 执法证号码 执法证件号 执法证件号码"
            " 执法证编号 执法证 证号",
            note="执法证件号码，每人唯一，作为人员的识别依据。" + _TEXT_FORMAT_NOTE,
            example="35012345678",
            width=18,
        ),
        _col(
            "certificate_valid_until",
            "证件有效期至",
            "date",
            aliases="valid_until expires 有效期至 证件有效期 执法证有效期 执法证有效期至 有效期"
            " 有效期限 证件有效期限",
            note="执法证有效期的最后一天：2027-12-31、2027/12/31 或 2027年12月31日；"
            "长期有效写「长期」；可留空。",
            example="2027-12-31",
            width=14,
        ),
        _col(
            "specialties",
            "专业领域",
            "tags",
            aliases="specialty fields 专业 擅长领域 执法领域 业务领域 专长",
            note="可填多个，用顿号「、」或逗号分隔。抽取人员时按专业匹配。",
            example="食品安全、特种设备",
            width=24,
        ),
        _col(
            "active",
            "状态",
            "active",
            aliases="status 在岗状态 人员状态 是否在岗 在岗情况 在岗 在职状态",
            note="在岗（或留空）；离岗、调离、退休、停用的人员不再接收通知，也不会被抽中。"
            "没有这一列时，已有人员的状态保持不变。",
            example="在岗",
            width=10,
        ),
    ),
)

_OBJECTS = KindSpec(
    "objects",
    KIND_LABELS["objects"],
    "objects",
    "credit_code",
    DirectoryObject,
    (
        _col(
            "credit_code",
            "统一社会信用代码",
            "credit_code",
            required=True,
            aliases="uscc 信用代码 社会信用代码 统一信用代码 统一社会信用代码/注册号"
            " 信用代码/注册号 统一社会信用代码或注册号",
            note="18 位，含校验位（GB 32100-2015），作为检查对象的唯一标识。" + _TEXT_FORMAT_NOTE,
            example="91350100M000100Y43",
            width=22,
        ),
        _col(
            "name",
            "企业名称",
            "text",
            required=True,
            aliases="company company_name 名称 单位名称 主体名称 对象名称 检查对象名称"
            " 市场主体名称 企业（单位）名称",
            note="登记的全称。",
            example="某某县某某宾馆有限公司",
            width=30,
        ),
        _col(
            "industry",
            "行业",
            "tags",
            aliases="industries 行业类别 所属行业 行业标签 行业场景 行业类型",
            note="一业一查的行业场景，可填多个，用顿号「、」分隔，如 宾馆旅店、养老机构。",
            example="宾馆旅店",
        ),
        _col(
            "address",
            "地址",
            "text",
            aliases="住所 经营场所 住所（经营场所） 注册地址 经营地址 企业地址 详细地址",
            note="住所（经营场所）。",
            example="某某镇某某路 1 号",
            width=30,
        ),
        _col(
            "risk_class",
            "信用风险分类",
            "risk",
            aliases="risk 风险分类 信用风险等级 风险等级 信用风险分类结果 信用风险类别 风险类别",
            note="A、B、C、D 之一：A 低风险，B 一般风险，C 较高风险，D 高风险"
            "（也可写 低、一般、较高、高 或 A类）。",
            example="B",
            width=12,
        ),
        _col(
            "risk_month",
            "分类月份",
            "month",
            aliases="classified_month 分类时间 分类日期 评定月份 评定时间 风险分类月份",
            note="信用风险分类的评定月份：2026-03、2026年3月 或 202603。",
            example="2026-03",
            width=12,
        ),
        _col(
            "legal_rep",
            "法定代表人",
            "text",
            aliases="legal_representative 法定代表人（负责人） 负责人 法人 经营者"
            " 法定代表人/负责人 法人代表",
            note="法定代表人或负责人。",
            example="李四",
            width=12,
        ),
        _col(
            "phone",
            "联系电话",
            "phone",
            aliases="tel telephone 电话 联系方式 手机 手机号码 电话号码",
            note=_TEXT_FORMAT_NOTE,
            example="13800000000",
        ),
        _col(
            "status",
            "经营状态",
            "text",
            aliases="登记状态 状态 企业状态",
            note="如 存续、在业、停业、注销、吊销。",
            example="存续",
            width=10,
        ),
    ),
)

_ITEMS = KindSpec(
    "items",
    KIND_LABELS["items"],
    "items",
    "code",
    Item,
    (
        _col(
            "code",
            "事项编码",
            "code",
            required=True,
            aliases="item_code 编码 事项代码 代码 抽查事项编码",
            note="事项的唯一编码。文件里整列没有时，按部门和事项名称生成（再次导入时保持不变）。",
            example="SCJG-001",
            width=14,
        ),
        _col(
            "name",
            "事项名称",
            "text",
            required=True,
            aliases="item_name 名称 抽查事项 检查事项 抽查事项名称 检查事项名称 抽查项目 事项",
            note="抽查事项的名称。",
            example="食品经营许可情况的检查",
            width=30,
        ),
        _col(
            "department_code",
            "部门编码",
            "department",
            required=True,
            aliases="department dept_code dept 抽查主体 所属部门编码 所属部门 部门 部门代码"
            " 抽查部门 单位名称 单位 部门名称 实施部门 实施单位 责任单位 检查单位 抽查单位",
            note="抽查主体（负责部门）的编码，须是已导入的部门（也可填部门全称）。",
            example="SCJG",
            width=14,
        ),
        _col(
            "legal_basis",
            "抽查依据",
            "text",
            aliases="basis 依据 检查依据 法律依据",
            note="法律法规依据。",
            example="《中华人民共和国食品安全法》第一百一十条",
            width=36,
        ),
        _col(
            "method",
            "检查方式",
            "text",
            aliases="methods 抽查方式 检查方法",
            note="如 现场检查、书面核查、信息共享、网络监测、视频/远程。",
            example="现场检查",
        ),
        _col(
            "category",
            "事项类别",
            "category",
            aliases="类别 事项类型 检查类别",
            note="一般 或 重点。",
            example="一般",
            width=10,
        ),
        _col(
            "object_type",
            "检查对象类型",
            "text",
            aliases="抽查对象 检查对象 对象类型 抽查对象类型",
            note="如 食品经营者。",
            example="食品经营者",
        ),
        _col(
            "content",
            "检查内容",
            "text",
            aliases="抽查内容 检查项目 检查要点 检查内容及要求 抽查内容及要求 检查内容和要求",
            note="具体检查内容。",
            example="许可证件、经营场所与许可一致情况",
            width=36,
        ),
        _col(
            "category_name",
            "抽查类别名称",
            "text",
            aliases="类别名称 抽查类别名称 检查类别名称",
            note="公布的清单里的抽查类别，如 食品经营监督检查。",
            example="食品经营监督检查",
            width=20,
        ),
        _col(
            "note",
            "备注",
            "text",
            aliases="说明 附注",
            note="备注。",
            example="",
            width=20,
        ),
    ),
)

SPECS: dict[str, KindSpec] = {
    spec.kind: spec for spec in (_DEPARTMENTS, _INSPECTORS, _OBJECTS, _ITEMS)
}
for _spec in SPECS.values():  # records are built positionally in column order
    assert tuple(f.name for f in dataclasses.fields(_spec.record)) == _spec.fields, _spec.kind


def spec_for(kind: str) -> KindSpec:
    try:
        return SPECS[kind]
    except KeyError:
        raise ValueError(f"unknown directory kind: {kind!r}") from None


# -- headers ---------------------------------------------------------------------------------

_HEADER_DROP = re.compile(r"[\s_\-–—:：*]+")
_HEADER_BRACKETS = re.compile(r"\([^)]*\)|\[[^\]]*\]|【[^】]*】|〔[^〕]*〕")
_IGNORED_HEADERS = frozenset({"序号", "no", "no.", "#", "行号"})
# Fields a file may leave out although they are required: the importer makes them up.
GENERATED: dict[str, frozenset[str]] = {"items": frozenset({"code"})}
# Headers that name a field only when no other column does (a published item list names the
# department as 单位名称 and again as 抽查主体: the second is ignored, and named as such).
_SECONDARY: dict[str, frozenset[str]] = {"items": frozenset({"抽查主体"})}


def normalize_header(value: CellValue) -> str:
    """'统一社会信用代码*', ' Credit_Code ', '法定代表人（负责人）' -> comparable keys."""
    text = unicodedata.normalize("NFKC", cell_text(value))
    return _HEADER_DROP.sub("", text).lower()


def display_header(value: CellValue) -> str:
    """A header as the user wrote it, minus the '*' marking required columns."""
    return cell_text(value).strip("*＊ \u3000").strip()


def _alias_table(spec: KindSpec) -> dict[str, str]:
    table: dict[str, str] = {}
    for column in spec.columns:
        for name in (column.header, column.field, *column.aliases):
            table.setdefault(normalize_header(name), column.field)
    return table


_ALIASES: dict[str, dict[str, str]] = {kind: _alias_table(spec) for kind, spec in SPECS.items()}


def header_field(kind: str, value: CellValue) -> str | None:
    """The field a header names, or None."""
    key = normalize_header(value)
    if not key:
        return None
    table = _ALIASES[kind]
    found = table.get(key)
    if found is None:
        text = _HEADER_BRACKETS.sub("", unicodedata.normalize("NFKC", cell_text(value)))
        bare = _HEADER_DROP.sub("", text).lower()
        if bare and bare != key:
            found = table.get(bare)
    return found


@dataclass
class HeaderMap:
    spec: KindSpec
    row: int  # Excel row number of the header
    columns: dict[str, int]  # field -> 0-based column index
    labels: dict[str, str]  # field -> header as written (without '*')
    found: list[str]  # every non-empty header as written
    unknown: list[str]  # headers not recognised (warned about, ignored)
    missing: list[str]  # Chinese headers of required fields not found
    duplicates: dict[str, list[int]]  # field -> column indexes when named more than once
    unknown_columns: list[int] = field(default_factory=list)  # 0-based, of `unknown`
    top_row: int = 0  # first Excel row of the header (`row` - 1 for a two-row header)
    pending: list[Row] = field(default_factory=list)  # read past the header: data (`locate_header`)

    def __post_init__(self) -> None:
        self.top_row = self.top_row or self.row

    @property
    def rows_shown(self) -> str:
        """'3' or '3–4' (a two-row header)."""
        return str(self.row) if self.top_row == self.row else f"{self.top_row}–{self.row}"

    @property
    def ok(self) -> bool:
        return not self.missing and not self.duplicates

    @property
    def recognised(self) -> int:
        return len(self.columns)

    def problem(self) -> str | None:
        """The Chinese header error, or None when the header is usable."""
        if self.duplicates:
            field_name, indexes = next(iter(self.duplicates.items()))
            letters = "、".join(get_column_letter(i + 1) for i in indexes)
            return MSG_HEADER_DUPLICATE.format(label=self.labels[field_name], letters=letters)
        if self.missing:
            found = "、".join(f"「{h}」" for h in self.found) or MSG_HEADER_NONE_FOUND
            missing = "、".join(f"「{h}」" for h in self.missing)
            return MSG_HEADER_MISSING.format(missing=missing, found=found)
        return None


def map_header(
    spec: KindSpec, row_no: int, cells: Sequence[CellValue], *, top_row: int = 0
) -> HeaderMap:
    columns: dict[str, int] = {}
    labels: dict[str, str] = {}
    found: list[str] = []
    unknown: list[str] = []
    unknown_columns: list[int] = []
    duplicates: dict[str, list[int]] = {}
    secondary_keys = _SECONDARY.get(spec.kind, frozenset())
    secondary: dict[str, tuple[int, str]] = {}
    for index, cell in enumerate(cells):
        shown = display_header(cell)
        if not shown:
            continue
        found.append(shown)
        field_name = header_field(spec.kind, cell)
        if field_name is None:
            if normalize_header(cell) not in _IGNORED_HEADERS:
                unknown.append(shown)
                unknown_columns.append(index)
            continue
        if normalize_header(cell) in secondary_keys:
            secondary.setdefault(field_name, (index, shown))
            continue
        if field_name in columns:
            duplicates.setdefault(field_name, [columns[field_name]]).append(index)
            continue
        columns[field_name] = index
        labels[field_name] = shown
    for field_name, (index, shown) in secondary.items():
        if field_name in columns:  # another column names it: this one is ignored, and said so
            unknown.append(shown)
            unknown_columns.append(index)
        else:
            columns[field_name] = index
            labels[field_name] = shown
    generated = GENERATED.get(spec.kind, frozenset())
    missing = [
        c.header
        for c in spec.required
        if c.field not in columns
        and not (
            c.field in generated
            and all(r.field in columns for r in spec.required if r.field not in generated)
        )
    ]
    return HeaderMap(
        spec,
        row_no,
        columns,
        labels,
        found,
        unknown,
        missing,
        duplicates,
        unknown_columns,
        top_row or row_no,
    )


HEADER_SCAN_ROWS = 10


def combine_header(
    top: Sequence[CellValue], bottom: Sequence[CellValue], known: Callable[[CellValue], bool]
) -> list[CellValue]:
    """One header from two rows: 抽查时间 (merged over two columns) above 开始日期｜结束日期.

    Per column the lower cell wins when it is filled and different (unless only the upper one
    names a known column); a column filled in one row only takes that cell."""
    width = max(len(top), len(bottom))
    combined: list[CellValue] = []
    for index in range(width):
        upper = top[index] if index < len(top) else None
        lower = bottom[index] if index < len(bottom) else None
        if is_blank(lower):
            combined.append(upper)
        elif is_blank(upper) or cell_text(upper) == cell_text(lower):
            combined.append(lower)
        elif not known(lower) and known(upper):
            combined.append(upper)
        else:
            combined.append(lower)
    return combined


def locate_header(
    rows: Iterator[Row],
    build: Callable[[int, Sequence[CellValue], int], Any],
    known: Callable[[CellValue], bool],
    *,
    scan: int = HEADER_SCAN_ROWS,
) -> Any:
    """Consume rows up to and including the header and return `build(row, cells, top_row)`
    for it; the header is one row, or two rows read as one (`combine_header`). A built header
    has `.ok`, `.recognised` and `.pending`; the first usable one wins, else the best candidate
    (most recognised columns), else None (no non-blank row).

    A usable one-row header is read together with the next non-blank row when that names more
    columns (抽查时间 above 开始日期｜结束日期); otherwise that row is data, handed back in
    `.pending` (the caller reads it before the rest)."""
    best: Any = None
    previous: Row | None = None
    scanned = 0
    for row_no, cells in rows:
        if all(is_blank(c) for c in cells):
            continue
        candidate = build(row_no, cells, row_no)
        if previous is not None:
            top_no, top_cells = previous
            pair = build(row_no, combine_header(top_cells, cells, known), top_no)
            if pair.recognised > candidate.recognised and (pair.ok or not candidate.ok):
                candidate = pair
        if candidate.ok:
            if candidate.top_row != row_no:
                return candidate
            for next_no, next_cells in rows:
                if all(is_blank(c) for c in next_cells):
                    continue
                pair = build(next_no, combine_header(cells, next_cells, known), row_no)
                if pair.ok and pair.recognised > candidate.recognised:
                    return pair
                candidate.pending = [(next_no, next_cells)]
                break
            return candidate
        if best is None or candidate.recognised > best.recognised:
            best = candidate
        previous = (row_no, cells)
        scanned += 1
        if scanned >= scan:
            break
    return best


def find_header(kind: str, rows: Iterator[Row]) -> HeaderMap | None:
    """Consume rows up to and including the header row and return its map.

    The header is the first of the first few non-blank rows that names every required column,
    or two rows read as one (a header merged over two rows, `combine_header`); titles such as
    "某某县检查对象名录" above the header are skipped. When no row qualifies, returns the best
    candidate (most recognised columns; first non-blank row on a tie), whose `problem()`
    explains what is missing; None when the sheet has no non-blank row at all.
    """
    spec = spec_for(kind)
    found: HeaderMap | None = locate_header(
        rows,
        lambda row_no, cells, top: map_header(spec, row_no, cells, top_row=top),
        lambda cell: header_field(kind, cell) is not None,
    )
    return found


# -- validation ------------------------------------------------------------------------------


@dataclass
class ValidationResult:
    kind: str
    records: list[Any]
    errors: list[RowError]  # the first `max_errors`
    error_count: int
    total_rows: int  # non-blank data rows
    warnings: list[str] = field(default_factory=list)
    present_fields: tuple[str, ...] = ()  # fields whose column is in the file (key included)

    @property
    def ok(self) -> bool:
        return self.error_count == 0


def _row_list(rows: list[int], shown: int = 5) -> str:
    text = "、".join(str(r) for r in rows[:shown])
    return text + " 等" if len(rows) > shown else text


def _parse_column(
    parse: Callable[[CellValue], Any], raws: list[CellValue]
) -> tuple[list[Any], dict[int, str]]:
    """Parse one column -> (values, {row index: error}). A column with many repeated values
    (risk class, month, industry, department …) has each distinct value parsed once."""
    distinct = set(raws)
    if len(distinct) * 2 <= len(raws) and bool not in set(map(type, distinct)):
        table: dict[CellValue, Any] = {}
        bad: dict[CellValue, str] = {}
        for raw in distinct:
            try:
                table[raw] = parse(raw)
            except CellError as exc:
                table[raw] = None
                bad[raw] = str(exc)
        values = list(map(table.__getitem__, raws))
        if not bad:
            return values, {}
        return values, {j: bad[raw] for j, raw in enumerate(raws) if raw in bad}
    try:
        return list(map(parse, raws)), {}
    except CellError:
        pass
    values = []
    errors: dict[int, str] = {}
    for j, raw in enumerate(raws):
        try:
            values.append(parse(raw))
        except CellError as exc:
            values.append(None)
            errors[j] = str(exc)
    return values, errors


def validate_rows(
    header: HeaderMap,
    rows: Iterable[Row],
    *,
    departments: Mapping[str, str] | None = None,
    aliases: Mapping[str, str] | None = None,
    today: date | None = None,
    max_errors: int = 10,
    max_rows: int = MAX_ROWS,
) -> ValidationResult:
    """Validate the data rows that follow `header`. Blank rows are skipped (a row counts as
    blank when every recognised column is empty); every error is counted and the first
    `max_errors` kept, in row then column order. Keys must be unique within the file.

    Works column by column (`map` over whole columns) rather than cell by cell: at 100,000
    rows the per-cell interpreter overhead would otherwise dominate."""
    spec = header.spec
    parsers: dict[str, Callable[[CellValue], Any]] = {
        "text": parse_text,
        "code": parse_code,
        "phone": parse_phone,
        "tags": parse_tags,
        "credit_code": parse_credit_code,
        "risk": parse_risk_class,
        "date": parse_date,
        "month": parse_month,
        "category": parse_category,
        "active": parse_active,
        "department": department_resolver(departments or {}, aliases),
        "aliases": parse_aliases,
    }
    present = [c for c in spec.columns if c.field in header.columns]
    width = max(header.columns.values()) + 1
    ignored_columns = header.unknown_columns

    # 1. Collect the rows (padded to the header's width), dropping rows with no value at all
    # and naming the rows that are titles or notes (`skipped_row`).
    row_numbers: list[int] = []
    data: list[Sequence[CellValue]] = []
    skipped: list[int] = []
    # A title or note has no key of its own, or the key cell holds the note, or the same text
    # as the next column (a title merged across): only such rows get the full look.
    key_at = header.columns.get(spec.key, header.columns.get("name", 0))
    other_at = next((i for i in sorted(header.columns.values()) if i != key_at), key_at)
    for row_no, cells in chain(header.pending, rows):
        if not any(cells):
            continue
        if len(cells) < width:
            cells = (*cells, *([None] * (width - len(cells))))
        key = cells[key_at]
        if (
            key is None
            or key == ""
            or (type(key) is str and (key[:1] in _NOTE_FIRST or key == cells[other_at]))
        ) and skipped_row(cells) is not None:
            skipped.append(row_no)
            continue
        if len(data) >= max_rows:
            raise TooManyRows(MSG_TOO_MANY_ROWS.format(limit=max_rows))
        row_numbers.append(row_no)
        data.append(cells)

    # 2. Parse column by column.
    parsed: dict[str, list[Any]] = {}
    problems: list[tuple[int, int, str]] = []  # (row index, file column index, message)
    for column in present:
        index = header.columns[column.field]
        raws = [cells[index] for cells in data]
        values, errors = _parse_column(parsers[column.parse], raws)
        parsed[column.field] = values
        problems.extend((j, index, message) for j, message in errors.items())
    generated = spec.key not in header.columns  # items without 事项编码 (GENERATED)
    if generated:
        parsed[spec.key] = [
            item_code(d, n) if d and n else ""
            for d, n in zip(parsed["department_code"], parsed["name"], strict=True)
        ]
    count = len(data)
    error_cells = {(j, index) for j, index, _ in problems}
    error_rows = {j for j, _, _ in problems}

    # 3. Blank rows: every recognised cell empty after trimming (and no error in the row).
    filled = list(map(any, zip(*parsed.values(), strict=True))) if count else []
    blank = {j for j, has in enumerate(filled) if not has and j not in error_rows}
    ignored_only = [
        row_numbers[j]
        for j in sorted(blank)
        if any(i < len(data[j]) and not is_blank(data[j][i]) for i in ignored_columns)
    ]
    data.clear()  # the parsed columns hold what is needed from here on

    # 4. Required cells, duplicate keys.
    for column in present:
        if not column.required:
            continue
        index = header.columns[column.field]
        for j, value in enumerate(parsed[column.field]):
            if not value and j not in blank and (j, index) not in error_cells:
                problems.append((j, index, MSG_REQUIRED))
    keys = parsed[spec.key]
    if len(set(keys)) + len(blank) < len(keys):  # some key occurs twice (or is empty)
        key_index = header.columns["name" if generated else spec.key]
        seen: dict[str, int] = {}
        for j, key in enumerate(keys):
            if not key or j in blank:
                continue
            first = seen.setdefault(key, j)
            if first != j:
                value = parsed["name"][j] if generated else key
                message = MSG_DUPLICATE.format(first=row_numbers[first], value=value)
                problems.append((j, key_index, message))

    total = count - len(blank)
    problems.sort(key=lambda p: (p[0], p[1]))
    field_at = {index: field_name for field_name, index in header.columns.items()}
    shown = [
        RowError(row_numbers[j], header.labels[field_at[index]], message)
        for j, index, message in problems[:max_errors]
    ]
    result = ValidationResult(
        kind=spec.kind,
        records=[],
        errors=shown,
        error_count=len(problems),
        total_rows=total,
        present_fields=tuple(c.field for c in spec.columns if c.field in parsed),
    )
    if skipped:
        result.warnings.append(WARN_SKIPPED_ROWS.format(rows=_row_list(skipped)))
    if ignored_only:
        result.warnings.append(WARN_IGNORED_ONLY.format(rows=_row_list(ignored_only)))
    if problems:  # all or nothing: no records to build
        return result

    # 5. Records, positionally in column order; absent columns take the record's default.
    columns: list[Iterable[Any]] = []
    for column in spec.columns:
        if column.field in parsed:
            columns.append(parsed[column.field])
        else:
            default = {f.name: f.default for f in dataclasses.fields(spec.record)}[column.field]
            columns.append(repeat(default))
    records = list(map(spec.record, *columns))
    if blank:
        records = [r for j, r in enumerate(records) if j not in blank]
        kept = [n for j, n in enumerate(row_numbers) if j not in blank]
    else:
        kept = row_numbers
    result.records = records

    # 6. Warnings.
    if generated and records:
        result.warnings.append(WARN_GENERATED_CODES.format(example=records[0].code))
    if spec.kind == "inspectors" and today is not None and "certificate_valid_until" in parsed:
        limit = today.isoformat()
        expired = [
            n
            for n, r in zip(kept, records, strict=True)
            if r.certificate_valid_until and r.certificate_valid_until < limit
        ]
        if expired:
            result.warnings.append(WARN_EXPIRED.format(count=len(expired), rows=_row_list(expired)))
    if spec.kind == "objects" and "risk_class" in parsed:
        no_risk = [n for n, r in zip(kept, records, strict=True) if r.risk_class is None]
        if no_risk:
            result.warnings.append(WARN_NO_RISK.format(count=len(no_risk), rows=_row_list(no_risk)))
    return result


# -- comparing with the database -------------------------------------------------------------


def values_getter(fields: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """record -> tuple of the named attributes (always a tuple, even for one field)."""
    if not fields:
        return lambda _record: ()
    getter = attrgetter(*fields)
    if len(fields) == 1:
        return lambda record: (getter(record),)
    return getter


def fingerprint(values: tuple[Any, ...]) -> int:
    """A stand-in for a stored row's values when comparing (64-bit hash of the tuple)."""
    return hash(values)


@dataclass
class Diff:
    inserts: list[Any]
    updates: list[Any]
    unchanged: int


def compared_fields(spec: KindSpec, present_fields: Sequence[str]) -> tuple[str, ...]:
    """Fields to compare and update: those in the file, minus the key."""
    return tuple(f for f in spec.fields if f in present_fields and f != spec.key)


def diff_records(
    spec: KindSpec,
    records: Sequence[Any],
    existing: Mapping[str, int],
    fields: Sequence[str],
) -> Diff:
    """Split records into new, changed and unchanged ones. `existing` maps each stored key to
    the `fingerprint` of its `fields`."""
    key_of = attrgetter(spec.key)
    values_of = values_getter(fields)
    inserts: list[Any] = []
    updates: list[Any] = []
    unchanged = 0
    for record in records:
        stored = existing.get(key_of(record))
        if stored is None:
            inserts.append(record)
        elif stored == hash(values_of(record)):
            unchanged += 1
        else:
            updates.append(record)
    return Diff(inserts, updates, unchanged)
