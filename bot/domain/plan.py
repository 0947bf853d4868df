"""The annual random-inspection plan (年度抽查计划): reading the plan file and comparing the plan
with the tasks actually proposed. Pure: no database, no Telegram, no clock.

Columns (Chinese header · English alias; more aliases, those of published county plans among
them, in `COLUMNS`):
  任务名称 name · 行业 industry (optional) · 牵头部门编码 lead (发起部门, 牵头部门 …) ·
  配合部门编码 partners (配合, 参与, 联查部门 …; may be empty) · 抽查比例 ratio (抽查比例及频次 …) ·
  开始日期 start and 结束日期 end, or one 抽查时间 column (抽查检查起止时间 …) ·
  抽查事项 items · 抽查对象范围 scope · 模式 mode (kept as written).
The header may span two rows (抽查时间 merged over 开始日期｜结束日期); titles, notes and 填报人
rows are skipped and named; every column that is not used is named in the report.

Partner departments: several in one cell, split on 、，,;；/ and line breaks, or one per row under
the task (the rows below a task whose 任务名称 is empty, or repeats the task's cells as a merged
block does, add their partners and items to it). Department cells take the code (any case), the
full name or an alias from the departments' 简称/别名 column (`department_resolver`).

The ratio (`parse_ratio_phrase`): "5%" (or "5％") is 5 per cent; a bare number greater than 1 is a
percentage too ("5" and 5 are 5%); a bare number from 0 to 1 is a fraction ("0.05" is 5%, an
Excel cell formatted as a percentage holds 0.05, and "1" is 100%: write "1%" or 0.01 for one per
cent). The result must lie in (0, 100%]. Phrases keep what they say beyond the ratio:
"≥20%", "抽查比例不低于3%" (the ratio), "3%;2次/年" (and the frequency 2次/年),
"10%（20户）" (and the count, 20). Two different percentages in one cell are refused.

The period (`parse_period`): full dates "2026年2月24日-2026年11月30日", months "3月—12月" (the
first day of the first month to the last day of the last, in the plan year), "2024年4月至9月",
one month "6月", 全年, 上半年, 下半年, 第二季度. The plan year is the one the caption, the file's
title or the file name names (`year`); a period without a year and no plan year is refused.

Industry: the 行业 cell; else the known industry (the object directory's tags) that the task
name or its items name; else the task name without 联合检查, 一业一查 … ("养老机构联合检查" ->
养老机构), which the report names; else the row is refused, asking for the 行业 column.

A plan item belongs to the year its start date falls in. Names are unique within a year. One bad
cell and nothing is imported (`PlanResult.ok`); errors are `RowError`s with the Excel row and the
Chinese column header.

Plan against actual (`match`): a plan item is *started* when some task of the same industry and
lead department, not cancelled, has an inspection window overlapping the item's window; it is
*done* when such a task is 已完成. The task shown is the most advanced one (then the lowest id).
"""

from __future__ import annotations

import calendar
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from itertools import chain

from bot.domain.directories import (
    MSG_DUPLICATE,
    MSG_HEADER_MISSING,
    MSG_HEADER_NONE_FOUND,
    MSG_HEADER_NOT_FOUND,
    MSG_NO_ROWS,
    MSG_REQUIRED,
    WARN_IGNORED_COLUMNS,
    WARN_IGNORED_ONLY,
    WARN_SKIPPED_ROWS,
    CellError,
    CellValue,
    Row,
    RowError,
    cell_text,
    department_resolver,
    display_header,
    is_blank,
    locate_header,
    normalize_header,
    parse_date,
    parse_text,
    skipped_row,
)

RATIO_FORMS = "5%、0.05、5、≥20%、不低于3%、3%;2次/年 或 10%（20户）"
MSG_RATIO = "不是可识别的比例，请写成 " + RATIO_FORMS + " ({value})"
MSG_RATIO_RANGE = "抽查比例应大于 0 且不超过 100% ({value})"
MSG_RATIO_TWO = "写了不止一个比例（{values}），无法确定用哪一个；请只写一个，如 " + RATIO_FORMS
MSG_END_BEFORE_START = "结束日期 {end} 早于开始日期 {start}"
MSG_PARTNER_IS_LEAD = "配合部门「{code}」就是牵头部门"
MSG_TOO_MANY_ROWS = "计划超过 {limit} 行，请核对文件。"
PERIOD_FORMS = "3月—12月、2024年4月至9月、2026年2月24日-2026年11月30日、全年 或 第二季度"
MSG_PERIOD = "不是可识别的起止时间，请写成 " + PERIOD_FORMS + " ({value})"
MSG_PERIOD_YEAR = (
    "「{value}」没有写年份，文件说明、标题和文件名里也没有计划年度；"
    "请写成 2026年3月至12月，或在发送文件时说明写“2026年计划”"
)
MSG_PERIOD_MISSING = "开始日期、结束日期（或一列「抽查时间」，如 3月—12月）"
MSG_INDUSTRY = (
    "没有填写行业，也无法从任务名称或抽查事项判断；请加上「行业」列并填写（如 {examples}）"
)
MSG_INDUSTRY_TWO = "任务名称或抽查事项提到不止一个行业（{values}），请在「行业」列写明是哪一个"
MSG_CONTINUES = (
    "任务名称为空，这一行算作第 {row} 行任务「{name}」的配合部门或抽查事项，"
    "但这里的「{column}」与该任务不同；另起一项任务请填写任务名称"
)
WARN_INDUSTRY = "没有「行业」的任务已按名称或抽查事项取行业：{pairs}。"
WARN_PARTNER_ROWS = "第 {rows} 行属于上面的任务，其配合部门和抽查事项已并入该任务。"
MAX_ROWS = 2000

# field -> (Chinese header, aliases); the first seven are the export's columns, in order.
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("任务名称", ("name", "计划名称", "抽查任务", "任务", "抽查任务名称", "名称")),
    "industry": ("行业", ("industry", "行业领域", "行业/场景", "场景", "检查行业", "所属行业")),
    "lead": (
        "牵头部门编码",
        (
            "lead",
            "牵头部门",
            "牵头单位",
            "牵头部门名称",
            "lead_department",
            "发起部门",
            "发起单位",
            "发起部门名称",
            "牵头发起部门",
            "发起牵头部门",
            "牵头(发起)部门",
            "发起(牵头)部门",
        ),
    ),
    "partners": (
        "配合部门编码",
        (
            "partners",
            "配合部门",
            "配合单位",
            "配合部门名称",
            "partner_departments",
            "参与部门",
            "参与单位",
            "联查部门",
            "联查单位",
            "联合部门",
            "联合检查部门",
            "配合参与部门",
            "协同部门",
        ),
    ),
    "ratio": (
        "抽查比例",
        (
            "ratio",
            "比例",
            "抽取比例",
            "抽查比率",
            "抽查比例及频次",
            "抽查比例和频次",
            "抽查比例及频率",
            "抽查比例、频次",
            "抽查比例/频次",
            "比例及频次",
            "抽查频次及比例",
            "抽查比例频次",
        ),
    ),
    "start": ("开始日期", ("start", "start_date", "开始时间", "起始日期", "计划开始日期")),
    "end": ("结束日期", ("end", "end_date", "结束时间", "截止日期", "计划结束日期")),
    "period": (
        "抽查时间",
        (
            "period",
            "抽查检查起止时间",
            "起止时间",
            "抽查起止时间",
            "检查起止时间",
            "抽查检查时间",
            "检查时间",
            "实施时间",
            "时间安排",
            "完成时限",
            "计划时间",
            "抽查时限",
            "实施期限",
        ),
    ),
    "items": ("抽查事项", ("items", "检查事项", "抽查事项名称", "抽查内容", "检查内容")),
    "scope": (
        "抽查对象范围",
        ("scope", "抽查对象", "检查对象", "检查对象范围", "对象范围", "抽查范围"),
    ),
    "mode": ("模式", ("mode", "抽查模式", "检查模式", "抽查方式", "组织方式", "联查模式")),
}
REQUIRED = ("name", "lead", "ratio")
TASK_FIELDS = ("industry", "lead", "ratio", "start", "end", "period", "scope", "mode")
_ALIASES: dict[str, str] = {}
for _field, (_header, _aliases) in COLUMNS.items():
    for _name in (_header, _field, *_aliases):
        _ALIASES.setdefault(normalize_header(_name), _field)
# Not data, and not worth a warning.
_SILENT = frozenset({"序号", "no", "no.", "#", "行号"})
_PARTNER_SPLIT = re.compile(r"[、,，;；/／\n]+")
HEADER_SCAN_ROWS = 10


@dataclass(frozen=True)
class PlanItem:
    year: int
    seq: int
    name: str
    industry: str
    lead: str
    partners: tuple[str, ...]
    ratio: float  # a fraction in (0, 1]
    start: date
    end: date
    frequency: str = ""  # "2次/年" of "3%;2次/年"
    count: int | None = None  # 20 of "10%（20户）"
    items: str = ""  # 抽查事项, as written (one line per row of the task)
    scope: str = ""  # 抽查对象范围
    mode: str = ""  # 模式

    @property
    def ratio_shown(self) -> str:
        return ratio_text(self.ratio)

    def overlaps(self, start: date, end: date) -> bool:
        return self.start <= end and start <= self.end


@dataclass
class PlanResult:
    items: list[PlanItem] = field(default_factory=list)  # empty unless ok
    errors: list[RowError] = field(default_factory=list)  # the first `max_errors`
    error_count: int = 0
    total_rows: int = 0
    file_error: str | None = None  # header problem, no rows, too many rows
    header_row: int | None = None
    warnings: list[str] = field(default_factory=list)  # ignored columns, skipped rows …
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.file_error is None and self.error_count == 0 and bool(self.items)

    @property
    def years(self) -> dict[int, int]:
        """year -> number of plan items, in year order."""
        counts: dict[int, int] = {}
        for item in sorted(self.items, key=lambda i: i.year):
            counts[item.year] = counts.get(item.year, 0) + 1
        return counts


def ratio_text(ratio: float) -> str:
    """0.05 -> '5%', 0.125 -> '12.5%'."""
    return f"{round(ratio * 100, 4):g}%"


def ratio_phrase_text(item: PlanItem) -> str:
    """The ratio as the plan writes it, read back by `parse_ratio_phrase`: '3%;2次/年',
    '10%（20户）', '5%'."""
    text = item.ratio_shown
    if item.frequency:
        text += f";{item.frequency}"
    if item.count is not None:
        text += f"（{item.count}户）"
    return text


def _bare_ratio(number: float, percent: bool, shown: str) -> float:
    if number != number or number in (float("inf"), float("-inf")):
        raise CellError(MSG_RATIO.format(value=shown))
    ratio = number / 100 if percent or number > 1 else number
    if not 0 < ratio <= 1 + 1e-12:
        raise CellError(MSG_RATIO_RANGE.format(value=shown))
    return min(ratio, 1.0)


def parse_ratio(value: CellValue) -> float | None:
    """See the module docstring: '5%' / '5' / 5 -> 0.05; '0.05' / 0.05 -> 0.05; blank -> None."""
    phrase = parse_ratio_phrase(value)
    return None if phrase is None else phrase.ratio


@dataclass(frozen=True)
class RatioPhrase:
    ratio: float
    frequency: str = ""
    count: int | None = None


_PERCENT = re.compile(r"(-?\d+(?:\.\d+)?)%")
_NUMERALS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8}
_NUMERALS |= {"九": 9, "十": 10}
_N = r"(\d+|[一二两三四五六七八九十])"
_UNIT = r"(年|半年|季度|季|月)"
_FREQ_AFTER = re.compile(_N + r"次(?:/|每)?" + _UNIT + r"?")  # 2次/年, 1次
_FREQ_BEFORE = re.compile(r"(?:每|一)" + _UNIT + r"(?:度)?(?:抽查|检查)?" + _N + r"次")  # 每年1次
_COUNT = re.compile(r"(\d+)(?:户|家|个|家次|户次)")
_RATIO_WORDS = re.compile(r"抽查比例|抽取比例|比例|不低于|不少于|不小于|≥|>=|以上|抽查|约|:")


def _number(text: str) -> int:
    return int(text) if text.isdigit() else _NUMERALS[text]


def parse_ratio_phrase(value: CellValue) -> RatioPhrase | None:
    """A ratio cell as published: see the module docstring. Blank -> None."""
    if isinstance(value, bool):
        raise CellError(MSG_RATIO.format(value=cell_text(value)))
    if isinstance(value, (int, float)):
        return RatioPhrase(_bare_ratio(float(value), False, cell_text(value)))
    shown = cell_text(value)
    if not shown:
        return None
    text = unicodedata.normalize("NFKC", shown)
    text = re.sub(r"\s+", "", text).replace("(", "（").replace(")", "）")
    frequency = ""
    match = _FREQ_BEFORE.search(text)
    if match:
        frequency = f"{_number(match[2])}次/{match[1]}"
    else:
        match = _FREQ_AFTER.search(text)
        if match:
            frequency = f"{_number(match[1])}次" + (f"/{match[2]}" if match[2] else "")
    rest = text[: match.start()] + text[match.end() :] if match else text
    count_match = _COUNT.search(rest)
    count = int(count_match[1]) if count_match else None
    if count_match:
        rest = rest[: count_match.start()] + rest[count_match.end() :]
    percents = list(dict.fromkeys(_PERCENT.findall(rest)))
    if len(percents) > 1:
        raise CellError(MSG_RATIO_TWO.format(values="、".join(f"{p}%" for p in percents)))
    if percents:
        ratio = _bare_ratio(float(percents[0]), True, shown)
    else:
        bare = _RATIO_WORDS.sub("", rest).strip("（）;,，、。")
        try:
            number = float(bare)
        except ValueError:
            raise CellError(MSG_RATIO.format(value=shown)) from None
        ratio = _bare_ratio(number, False, shown)
    return RatioPhrase(ratio, frequency, count)


# -- periods -----------------------------------------------------------------------------------

_SEP = r"(?:至|到|—+|–+|-+|~+|〜|─|－)"
_YMD = r"(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?"
_FULL = re.compile(_YMD + _SEP + _YMD)
_TAIL = r"(?:份|初|底|末|上旬|中旬|下旬)?"
_MONTHS = re.compile(
    r"(?:(\d{4})年度?)?(\d{1,2})月?(?:(\d{1,2})日)?"
    + _TAIL
    + _SEP
    + r"(?:(\d{4})年)?(\d{1,2})月(?:(\d{1,2})日)?"
    + _TAIL
)
_ONE_MONTH = re.compile(r"(?:(\d{4})年度?)?(\d{1,2})月" + _TAIL)
_QUARTER = re.compile(r"(?:(\d{4})年度?)?第?([一二三四1-4])季度")
_HALVES = {"全年": (1, 12), "全年度": (1, 12), "上半年": (1, 6), "下半年": (7, 12)}
_WHOLE = re.compile(r"(?:(\d{4})年度?)?(全年度|全年|上半年|下半年)")
_YEAR_ONLY = re.compile(r"(\d{4})年度?")


def _day(year: int, month: int, day: int | None, *, last: bool, shown: str) -> date:
    if day is None:
        if not 1 <= month <= 12:
            raise CellError(MSG_PERIOD.format(value=shown))
        day = calendar.monthrange(year, month)[1] if last else 1
    try:
        return date(year, month, day)
    except ValueError:
        raise CellError(MSG_PERIOD.format(value=shown)) from None


def parse_period(value: CellValue, year: int | None) -> tuple[date, date] | None:
    """An 起止时间 cell -> (first day, last day); blank -> None. See the module docstring."""
    shown = cell_text(value)
    if not shown:
        return None
    if not isinstance(value, str):
        raise CellError(MSG_PERIOD.format(value=shown))
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", shown))

    def plan_year(given: str | None) -> int:
        if given:
            return int(given)
        if year is None:
            raise CellError(MSG_PERIOD_YEAR.format(value=shown))
        return year

    match = _FULL.fullmatch(text)
    if match:
        g = [int(x) for x in match.groups()]
        first = _day(g[0], g[1], g[2], last=False, shown=shown)
        return first, _day(g[3], g[4], g[5], last=True, shown=shown)
    match = _MONTHS.fullmatch(text)
    if match:
        y1 = plan_year(match[1] or match[4])
        y2 = int(match[4]) if match[4] else y1
        d1 = int(match[3]) if match[3] else None
        d2 = int(match[6]) if match[6] else None
        first = _day(y1, int(match[2]), d1, last=False, shown=shown)
        return first, _day(y2, int(match[5]), d2, last=True, shown=shown)
    match = _ONE_MONTH.fullmatch(text)
    if match:
        y = plan_year(match[1])
        month = int(match[2])
        return _day(y, month, None, last=False, shown=shown), _day(
            y, month, None, last=True, shown=shown
        )
    match = _QUARTER.fullmatch(text)
    if match:
        y = plan_year(match[1])
        q = "一二三四".find(match[2]) + 1 if not match[2].isdigit() else int(match[2])
        return date(y, 3 * q - 2, 1), _day(y, 3 * q, None, last=True, shown=shown)
    match = _WHOLE.fullmatch(text)
    if match:
        y = plan_year(match[1])
        m1, m2 = _HALVES[match[2]]
        return date(y, m1, 1), _day(y, m2, None, last=True, shown=shown)
    match = _YEAR_ONLY.fullmatch(text)
    if match:
        return date(int(match[1]), 1, 1), date(int(match[1]), 12, 31)
    raise CellError(MSG_PERIOD.format(value=shown))


def _date_cell(value: CellValue, year: int | None, *, last: bool) -> str | None:
    """开始日期 / 结束日期: a date as the directories take it, or a month ("3月", the first or
    the last day of it, in the plan year)."""
    try:
        return parse_date(value)
    except CellError:
        if not isinstance(value, str):
            raise
        try:
            period = parse_period(value, year)
        except CellError:
            raise CellError(MSG_PERIOD.format(value=cell_text(value))) from None
        if period is None:
            return None
        return (period[1] if last else period[0]).isoformat()


# -- industry ----------------------------------------------------------------------------------

_NAME_PREFIX = re.compile(r"^(?:\d{4}年度?|对|全县|本县|县|辖区|开展)+")
_NAME_SUFFIX = re.compile(
    r"(?:一业一查|跨部门|部门|联合|双随机|专项|抽查|检查|监管|监督|任务|行业|领域|的|工作)+$"
)


def derive_industry(name: str, items: str, known: Sequence[str]) -> str:
    """The industry of a task without a 行业 cell; CellError when it cannot be told."""
    for text in (name, items):
        found = [tag for tag in known if tag and tag in text]
        found = [t for t in found if not any(t != o and t in o for o in found)]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            raise CellError(MSG_INDUSTRY_TWO.format(values="、".join(sorted(found))))
    core = _NAME_SUFFIX.sub("", _NAME_PREFIX.sub("", re.sub(r"\s+", "", name)))
    if 2 <= len(core) <= 10 and re.fullmatch(r"[\u4e00-\u9fff]+", core):
        return core
    examples = "、".join(list(known)[:5]) or "养老机构、宾馆旅店"
    raise CellError(MSG_INDUSTRY.format(examples=examples))


def header_field(value: CellValue) -> str | None:
    key = normalize_header(value)
    if not key:
        return None
    found = _ALIASES.get(key)
    if found is None:
        bare = re.sub(r"[(（][^)）]*[)）]", "", unicodedata.normalize("NFKC", cell_text(value)))
        key = normalize_header(bare)
        found = _ALIASES.get(key)
    if found is None and ("起止" in key or key.endswith(("时间", "时限", "期限"))):
        found = "period"  # 计划实施时间, 抽查检查实施时间 …: one column for the period
    return found


@dataclass
class _Header:
    row: int
    columns: dict[str, int]
    labels: dict[str, str]
    found: list[str]
    top_row: int = 0
    unknown: list[str] = field(default_factory=list)
    unknown_columns: list[int] = field(default_factory=list)
    pending: list[Row] = field(default_factory=list)

    @property
    def missing(self) -> list[str]:
        missing = [COLUMNS[f][0] for f in REQUIRED if f not in self.columns]
        if "period" not in self.columns and not {"start", "end"} <= set(self.columns):
            missing.append(MSG_PERIOD_MISSING)
        return missing

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def recognised(self) -> int:
        return len(self.columns)


def _map_header(row_no: int, cells: Sequence[CellValue], top_row: int = 0) -> _Header:
    header = _Header(row_no, {}, {}, [], top_row or row_no)
    for index, cell in enumerate(cells):
        shown = display_header(cell)
        if not shown:
            continue
        header.found.append(shown)
        name = header_field(cell)
        if name is not None and name not in header.columns:
            header.columns[name] = index
            header.labels[name] = shown
        elif name is None and normalize_header(cell) not in _SILENT:
            header.unknown.append(shown)
            header.unknown_columns.append(index)
        elif name is not None:  # a second column for the same field is not read
            header.unknown.append(shown)
            header.unknown_columns.append(index)
    return header


def header_problem(header: _Header | None) -> str | None:
    if header is None:
        expected = "、".join(f"「{h}」" for h, _ in COLUMNS.values())
        return MSG_HEADER_NOT_FOUND.format(expected=expected)
    if header.missing:
        found = "、".join(f"「{h}」" for h in header.found) or MSG_HEADER_NONE_FOUND
        missing = "、".join(f"「{h}」" for h in header.missing)
        return MSG_HEADER_MISSING.format(missing=missing, found=found)
    return None


_TITLE_YEAR = re.compile(r"(20\d{2})\s*年")


def title_year(text: str) -> int | None:
    """The year a caption, a file name or a sheet title names: '2026年双随机抽查计划' -> 2026."""
    match = _TITLE_YEAR.search(unicodedata.normalize("NFKC", text))
    return int(match[1]) if match else None


@dataclass
class _Task:
    row: int
    raw: dict[str, str]
    values: dict[str, object]
    partners: list[str]
    items: list[str]
    errors: list[RowError]
    rows: list[int]


def _row_list(rows: list[int], shown: int = 8) -> str:
    text = "、".join(str(r) for r in rows[:shown])
    return text + " 等" if len(rows) > shown else text


def parse_plan(
    rows: Iterable[Row],
    departments: Mapping[str, str],
    *,
    aliases: Mapping[str, str] | None = None,
    industries: Sequence[str] = (),
    year: int | None = None,
    default_year: int | None = None,
    max_errors: int = 10,
) -> PlanResult:
    """Read a plan sheet (header, then the rows of each planned task). All or nothing.

    `year` is the plan year the caption names (a period without a year needs one); when it
    is None, a year in a title row above the header, then `default_year` (the file name's);
    `industries` are the known industry tags (derive_industry)."""
    iterator = iter(rows)
    titles: list[tuple[int, str]] = []

    def watched() -> Iterator[Row]:
        for row in iterator:
            titles.append((row[0], " ".join(cell_text(c) for c in row[1] if not is_blank(c))))
            yield row

    header: _Header | None = locate_header(watched(), _map_header, lambda c: bool(header_field(c)))
    problem = header_problem(header)
    if problem is not None or header is None:
        return PlanResult(file_error=problem)
    if year is None:
        above = (text for row_no, text in titles if row_no < header.top_row)
        year = next((y for text in above if (y := title_year(text))), None) or default_year
    resolve = department_resolver(departments, aliases)
    known = sorted({t for t in industries if t}, key=len, reverse=True)
    tasks: list[_Task] = []
    skipped: list[int] = []
    ignored_only: list[int] = []
    joined: list[int] = []
    total = 0

    def cell(cells: Sequence[CellValue], name: str) -> CellValue:
        index = header.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    def label(name: str) -> str:
        return header.labels.get(name, COLUMNS[name][0])

    def add_partners(task: _Task, cells: Sequence[CellValue], row_no: int) -> None:
        raw = parse_text(cell(cells, "partners")) if "partners" in header.columns else ""
        for part in (p.strip() for p in _PARTNER_SPLIT.split(raw) if p.strip()):
            try:
                code = resolve(part)
            except CellError as exc:
                task.errors.append(RowError(row_no, label("partners"), str(exc)))
                continue
            if code == task.values.get("lead"):
                task.errors.append(
                    RowError(row_no, label("partners"), MSG_PARTNER_IS_LEAD.format(code=part))
                )
            elif code not in task.partners:
                task.partners.append(code)
        try:
            text = parse_text(cell(cells, "items"))
        except CellError as exc:
            task.errors.append(RowError(row_no, label("items"), str(exc)))
            text = ""
        if text and text not in task.items:
            task.items.append(text)

    for row_no, cells in chain(header.pending, iterator):
        if all(is_blank(c) for c in cells):
            continue
        if skipped_row(cells) is not None:
            skipped.append(row_no)
            continue
        if all(is_blank(cell(cells, f)) for f in header.columns):
            if any(i < len(cells) and not is_blank(cells[i]) for i in header.unknown_columns):
                ignored_only.append(row_no)
            continue
        raw = {f: cell_text(cell(cells, f)) for f in ("name", *TASK_FIELDS)}
        current = tasks[-1] if tasks else None
        if current is not None and (
            not raw["name"]
            or (
                raw["name"] == current.raw["name"]
                and all(raw[f] == current.raw[f] for f in TASK_FIELDS)
            )
        ):
            # A row under the task: its partner departments and items belong to it.
            different = [f for f in TASK_FIELDS if raw[f] and raw[f] != current.raw[f]]
            if different:
                message = MSG_CONTINUES.format(
                    row=current.row, name=current.raw["name"], column=label(different[0])
                )
                current.errors.append(RowError(row_no, label("name"), message))
            add_partners(current, cells, row_no)
            current.rows.append(row_no)
            joined.append(row_no)
            continue
        total += 1
        if total > MAX_ROWS:
            return PlanResult(file_error=MSG_TOO_MANY_ROWS.format(limit=MAX_ROWS))
        task = _Task(row_no, raw, {}, [], [], [], [row_no])
        tasks.append(task)

        def fail(name: str, message: str, row: int = row_no, out: _Task = task) -> None:
            out.errors.append(RowError(row, label(name), message))

        for name, parse in (("name", parse_text), ("industry", parse_text), ("lead", resolve)):
            try:
                task.values[name] = parse(cell(cells, name))
            except CellError as exc:
                fail(name, str(exc))
                continue
            if not task.values[name] and name in REQUIRED:
                fail(name, MSG_REQUIRED)
        try:
            phrase = parse_ratio_phrase(cell(cells, "ratio"))
        except CellError as exc:
            fail("ratio", str(exc))
        else:
            if phrase is None:
                fail("ratio", MSG_REQUIRED)
            task.values["ratio"] = phrase
        for name in ("scope", "mode"):
            try:
                task.values[name] = parse_text(cell(cells, name))
            except CellError as exc:
                fail(name, str(exc))
        start = end = None
        try:
            start = _date_cell(cell(cells, "start"), year, last=False)
        except CellError as exc:
            fail("start", str(exc))
        try:
            end = _date_cell(cell(cells, "end"), year, last=True)
        except CellError as exc:
            fail("end", str(exc))
        if (start is None or end is None) and "period" in header.columns:
            try:
                period = parse_period(cell(cells, "period"), year)
            except CellError as exc:
                fail("period", str(exc))
            else:
                if period is not None:
                    start = start or period[0].isoformat()
                    end = end or period[1].isoformat()
        if not any(
            e.column in (label("start"), label("end"), label("period")) for e in task.errors
        ):
            if start is None:
                fail("start" if "start" in header.columns else "period", MSG_REQUIRED)
            if end is None and start is not None:
                fail("end" if "end" in header.columns else "period", MSG_REQUIRED)
        if isinstance(start, str) and isinstance(end, str) and end < start:
            fail(
                "end" if "end" in header.columns else "period",
                MSG_END_BEFORE_START.format(start=start, end=end),
            )
        task.values["start"], task.values["end"] = start, end
        add_partners(task, cells, row_no)

    # Each task once its rows are all read: industry, duplicates, the item.
    problems: list[RowError] = []
    items: list[PlanItem] = []
    first_row: dict[tuple[int, str], int] = {}
    seq_by_year: dict[int, int] = {}
    derived: list[str] = []
    for task in tasks:
        values = task.values
        name_value = values.get("name")
        industry = values.get("industry")
        if not industry and isinstance(name_value, str) and name_value:
            try:
                industry = derive_industry(name_value, "\n".join(task.items), known)
            except CellError as exc:
                task.errors.append(RowError(task.row, label("industry"), str(exc)))
            else:
                derived.append(f"第 {task.row} 行「{name_value}」→ {industry}")
        first_day, last_day = values.get("start"), values.get("end")
        if isinstance(first_day, str) and isinstance(name_value, str) and name_value:
            key = (int(first_day[:4]), name_value)
            first = first_row.setdefault(key, task.row)
            if first != task.row:
                task.errors.append(
                    RowError(
                        task.row, label("name"), MSG_DUPLICATE.format(first=first, value=name_value)
                    )
                )
        if task.errors:
            problems.extend(task.errors)
            continue
        assert isinstance(first_day, str) and isinstance(last_day, str)
        ratio = values["ratio"]
        assert isinstance(ratio, RatioPhrase)
        item_year = int(first_day[:4])
        seq_by_year[item_year] = seq_by_year.get(item_year, 0) + 1
        items.append(
            PlanItem(
                year=item_year,
                seq=seq_by_year[item_year],
                name=str(name_value),
                industry=str(industry),
                lead=str(values["lead"]),
                partners=tuple(task.partners),
                ratio=ratio.ratio,
                start=date.fromisoformat(first_day),
                end=date.fromisoformat(last_day),
                frequency=ratio.frequency,
                count=ratio.count,
                items="\n".join(task.items),
                scope=str(values.get("scope") or ""),
                mode=str(values.get("mode") or ""),
            )
        )
    problems.sort(key=lambda e: e.row or 0)
    result = PlanResult(
        errors=problems[:max_errors],
        error_count=len(problems),
        total_rows=total,
        header_row=header.row,
        ignored_columns=list(header.unknown),
    )
    if header.unknown:
        columns = "、".join(f"「{h}」" for h in header.unknown)
        result.warnings.append(WARN_IGNORED_COLUMNS.format(columns=columns))
    if skipped:
        result.warnings.append(WARN_SKIPPED_ROWS.format(rows=_row_list(skipped)))
    if joined:
        result.warnings.append(WARN_PARTNER_ROWS.format(rows=_row_list(joined)))
    if ignored_only:
        result.warnings.append(WARN_IGNORED_ONLY.format(rows=_row_list(ignored_only)))
    if derived:
        result.warnings.append(WARN_INDUSTRY.format(pairs="；".join(derived)))
    if total == 0:
        result.file_error = MSG_NO_ROWS
    elif not problems:
        result.items = items
    return result


# -- plan against actual -----------------------------------------------------------------------

STATE_ORDER = ("inviting", "confirmed", "drawn", "inspecting", "publishing", "done")


@dataclass(frozen=True)
class TaskWindow:
    task_id: int
    industry: str
    lead: str
    start: date
    end: date
    state: str


@dataclass(frozen=True)
class PlanStatus:
    item: PlanItem
    task: TaskWindow | None  # the most advanced matching task, if any
    matches: int = 0  # how many tasks match

    @property
    def started(self) -> bool:
        return self.task is not None

    @property
    def done(self) -> bool:
        return self.task is not None and self.task.state == "done"


@dataclass(frozen=True)
class PlanView:
    statuses: tuple[PlanStatus, ...]

    @property
    def planned(self) -> int:
        return len(self.statuses)

    @property
    def started(self) -> int:
        return sum(s.started for s in self.statuses)

    @property
    def done(self) -> int:
        return sum(s.done for s in self.statuses)


def _same(a: str, b: str) -> bool:
    def key(s: str) -> str:
        return unicodedata.normalize("NFKC", s).strip().replace(" ", "")

    return key(a) == key(b)


def match(
    items: Iterable[PlanItem],
    tasks: Iterable[TaskWindow],
    *,
    period: tuple[date, date] | None = None,
    departments: Iterable[str] | None = None,
) -> PlanView:
    """Plan against actual. `period` keeps the items whose window overlaps it (a quarter);
    `departments` keeps the items those departments lead or join (a department's view)."""
    pool = [t for t in tasks if t.state != "cancelled"]
    wanted = set(departments) if departments is not None else None
    statuses: list[PlanStatus] = []
    for item in sorted(items, key=lambda i: (i.year, i.seq)):
        if period is not None and not item.overlaps(*period):
            continue
        if wanted is not None and not ({item.lead, *item.partners} & wanted):
            continue
        found = [
            t
            for t in pool
            if t.lead == item.lead
            and _same(t.industry, item.industry)
            and item.overlaps(t.start, t.end)
        ]
        best = max(
            found,
            key=lambda t: (
                STATE_ORDER.index(t.state) if t.state in STATE_ORDER else -1,
                -t.task_id,
            ),
            default=None,
        )
        statuses.append(PlanStatus(item, best, len(found)))
    return PlanView(tuple(statuses))
