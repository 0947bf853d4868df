"""The annual random-inspection plan (年度抽查计划): reading the plan file and comparing the plan
with the tasks actually proposed. Pure: no database, no Telegram, no clock.

Columns (Chinese header · English alias; more aliases in `COLUMNS`):
  任务名称 name · 行业 industry · 牵头部门编码 lead · 配合部门编码 partners (may be empty; several
  separated by 、 , ， ; ；) · 抽查比例 ratio · 开始日期 start · 结束日期 end.

Department cells take the code (any case) or the department's full name when no other
department has the same name, exactly as the directories do (`department_resolver`). Dates take
what the directories take (2026-03-01, 2026/3/1, 2026年3月1日, 20260301, Excel dates).

The ratio rule (`parse_ratio`): "5%" (or "5％") is 5 per cent; a bare number greater than 1 is a
percentage too ("5" and 5 are 5%); a bare number from 0 to 1 is a fraction ("0.05" is 5%, an
Excel cell formatted as a percentage holds 0.05, and "1" is 100%: write "1%" or 0.01 for one per
cent). The result must lie in (0, 100%].

A plan item belongs to the year its start date falls in. Names are unique within a year. One bad
cell and nothing is imported (`PlanResult.ok`); errors are `RowError`s with the Excel row and the
Chinese column header.

Plan against actual (`match`): a plan item is *started* when some task of the same industry and
lead department, not cancelled, has an inspection window overlapping the item's window; it is
*done* when such a task is 已完成. The task shown is the most advanced one (then the lowest id).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date

from bot.domain.directories import (
    MSG_DUPLICATE,
    MSG_HEADER_MISSING,
    MSG_HEADER_NONE_FOUND,
    MSG_HEADER_NOT_FOUND,
    MSG_NO_ROWS,
    MSG_REQUIRED,
    CellError,
    CellValue,
    Row,
    RowError,
    cell_text,
    department_resolver,
    display_header,
    is_blank,
    normalize_header,
    parse_date,
    parse_text,
)

MSG_RATIO = "不是可识别的比例，请写成 5%、0.05 或 5 ({value})"
MSG_RATIO_RANGE = "抽查比例应大于 0 且不超过 100% ({value})"
MSG_END_BEFORE_START = "结束日期 {end} 早于开始日期 {start}"
MSG_PARTNER_IS_LEAD = "配合部门「{code}」就是牵头部门"
MSG_TOO_MANY_ROWS = "计划超过 {limit} 行，请核对文件。"
MAX_ROWS = 2000

# field -> (Chinese header, aliases); the header order is the export's column order.
COLUMNS: dict[str, tuple[str, tuple[str, ...]]] = {
    "name": ("任务名称", ("name", "计划名称", "抽查任务", "任务", "抽查任务名称", "名称")),
    "industry": ("行业", ("industry", "行业领域", "行业/场景", "场景", "检查行业")),
    "lead": (
        "牵头部门编码",
        ("lead", "牵头部门", "牵头单位", "牵头部门名称", "lead_department"),
    ),
    "partners": (
        "配合部门编码",
        ("partners", "配合部门", "配合单位", "配合部门名称", "partner_departments"),
    ),
    "ratio": ("抽查比例", ("ratio", "比例", "抽取比例", "抽查比率")),
    "start": ("开始日期", ("start", "start_date", "开始时间", "起始日期", "计划开始日期")),
    "end": ("结束日期", ("end", "end_date", "结束时间", "截止日期", "计划结束日期")),
}
REQUIRED = ("name", "industry", "lead", "ratio", "start", "end")
_ALIASES: dict[str, str] = {}
for _field, (_header, _aliases) in COLUMNS.items():
    for _name in (_header, _field, *_aliases):
        _ALIASES.setdefault(normalize_header(_name), _field)
_IGNORED = frozenset({"序号", "no", "no.", "#", "行号", "备注"})
_PARTNER_SPLIT = re.compile(r"[、,，;；\n]+")
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


def parse_ratio(value: CellValue) -> float | None:
    """See the module docstring: '5%' / '5' / 5 -> 0.05; '0.05' / 0.05 -> 0.05; blank -> None."""
    if isinstance(value, bool):
        raise CellError(MSG_RATIO.format(value=cell_text(value)))
    if isinstance(value, (int, float)):
        number, percent = float(value), False
        shown = cell_text(value)
    else:
        shown = cell_text(value)
        if not shown:
            return None
        text = unicodedata.normalize("NFKC", shown).replace(" ", "")
        percent = text.endswith("%")
        text = text.removesuffix("%")
        try:
            number = float(text)
        except ValueError:
            raise CellError(MSG_RATIO.format(value=shown)) from None
        if number != number or number in (float("inf"), float("-inf")):
            raise CellError(MSG_RATIO.format(value=shown))
    ratio = number / 100 if percent or number > 1 else number
    if not 0 < ratio <= 1 + 1e-12:
        raise CellError(MSG_RATIO_RANGE.format(value=shown))
    return min(ratio, 1.0)


def header_field(value: CellValue) -> str | None:
    key = normalize_header(value)
    if not key:
        return None
    found = _ALIASES.get(key)
    if found is None:
        bare = re.sub(r"[(（][^)）]*[)）]", "", unicodedata.normalize("NFKC", cell_text(value)))
        found = _ALIASES.get(normalize_header(bare))
    return found


@dataclass
class _Header:
    row: int
    columns: dict[str, int]
    labels: dict[str, str]
    found: list[str]

    @property
    def missing(self) -> list[str]:
        return [COLUMNS[f][0] for f in REQUIRED if f not in self.columns]


def _map_header(row_no: int, cells: Sequence[CellValue]) -> _Header:
    header = _Header(row_no, {}, {}, [])
    for index, cell in enumerate(cells):
        shown = display_header(cell)
        if not shown:
            continue
        header.found.append(shown)
        name = header_field(cell)
        if name is not None and name not in header.columns:
            header.columns[name] = index
            header.labels[name] = shown
    return header


def _find_header(rows: Iterator[Row]) -> _Header | None:
    best: _Header | None = None
    scanned = 0
    for row_no, cells in rows:
        if all(is_blank(c) for c in cells):
            continue
        candidate = _map_header(row_no, cells)
        if not candidate.missing:
            return candidate
        if best is None or len(candidate.columns) > len(best.columns):
            best = candidate
        scanned += 1
        if scanned >= HEADER_SCAN_ROWS:
            break
    return best


def header_problem(header: _Header | None) -> str | None:
    if header is None:
        expected = "、".join(f"「{h}」" for h, _ in COLUMNS.values())
        return MSG_HEADER_NOT_FOUND.format(expected=expected)
    if header.missing:
        found = "、".join(f"「{h}」" for h in header.found) or MSG_HEADER_NONE_FOUND
        missing = "、".join(f"「{h}」" for h in header.missing)
        return MSG_HEADER_MISSING.format(missing=missing, found=found)
    return None


def parse_plan(
    rows: Iterable[Row], departments: Mapping[str, str], *, max_errors: int = 10
) -> PlanResult:
    """Read a plan sheet (header row, then one row per planned task). All or nothing."""
    iterator = iter(rows)
    header = _find_header(iterator)
    problem = header_problem(header)
    if problem is not None or header is None:
        return PlanResult(file_error=problem)
    resolve = department_resolver(departments)
    problems: list[RowError] = []
    items: list[PlanItem] = []
    first_row: dict[tuple[int, str], int] = {}
    seq_by_year: dict[int, int] = {}
    total = 0

    def cell(cells: Sequence[CellValue], name: str) -> CellValue:
        index = header.columns.get(name)
        return cells[index] if index is not None and index < len(cells) else None

    for row_no, cells in iterator:
        if all(is_blank(cell(cells, f)) for f in header.columns):
            continue
        total += 1
        if total > MAX_ROWS:
            return PlanResult(file_error=MSG_TOO_MANY_ROWS.format(limit=MAX_ROWS))
        row_errors: list[RowError] = []

        def fail(
            name: str, message: str, row: int = row_no, out: list[RowError] = row_errors
        ) -> None:
            out.append(RowError(row, header.labels.get(name, COLUMNS[name][0]), message))

        values: dict[str, object] = {}
        parsers = {
            "name": parse_text,
            "industry": parse_text,
            "lead": resolve,
            "ratio": parse_ratio,
            "start": parse_date,
            "end": parse_date,
        }
        for name, parse in parsers.items():
            try:
                values[name] = parse(cell(cells, name))
            except CellError as exc:
                fail(name, str(exc))
                continue
            if not values[name] and name in REQUIRED:
                fail(name, MSG_REQUIRED)
        partners: list[str] = []
        raw = parse_text(cell(cells, "partners")) if "partners" in header.columns else ""
        for part in (p.strip() for p in _PARTNER_SPLIT.split(raw) if p.strip()):
            try:
                code = resolve(part)
            except CellError as exc:
                fail("partners", str(exc))
                continue
            if code == values.get("lead"):
                fail("partners", MSG_PARTNER_IS_LEAD.format(code=part))
            elif code not in partners:
                partners.append(code)
        start, end = values.get("start"), values.get("end")
        if isinstance(start, str) and isinstance(end, str) and end < start:
            fail("end", MSG_END_BEFORE_START.format(start=start, end=end))
        name_value = values.get("name")
        if isinstance(start, str) and isinstance(name_value, str) and name_value:
            key = (int(start[:4]), name_value)
            first = first_row.setdefault(key, row_no)
            if first != row_no:
                fail("name", MSG_DUPLICATE.format(first=first, value=name_value))
        if row_errors:
            problems.extend(row_errors)
            continue
        assert isinstance(start, str) and isinstance(end, str)
        year = int(start[:4])
        seq_by_year[year] = seq_by_year.get(year, 0) + 1
        ratio = values["ratio"]
        assert isinstance(ratio, float)
        items.append(
            PlanItem(
                year=year,
                seq=seq_by_year[year],
                name=str(values["name"]),
                industry=str(values["industry"]),
                lead=str(values["lead"]),
                partners=tuple(partners),
                ratio=ratio,
                start=date.fromisoformat(start),
                end=date.fromisoformat(end),
            )
        )
    result = PlanResult(
        errors=problems[:max_errors],
        error_count=len(problems),
        total_rows=total,
        header_row=header.row,
    )
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
