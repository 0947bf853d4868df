"""Inspection results: the one-line `/r` form, who may enter, states, follow-up, completion and
the publication sheet. Pure: no Telegram, no database, no clock.

Result states (per object, per department): 未录入 (no row) -> 待审核 pending -> 已公示 published,
or pending -> 审核退回 returned -> (edited) pending. An entry can be edited until it is published.
Category labels are data (table result_categories); this module only knows their codes.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from bot.domain.credit_code import normalize_credit_code
from bot.domain.workdays import WorkCalendar

NO_PROBLEM = 1  # 未发现问题: cannot be combined with another category
MAX_NOTE = 500


class ResultState(StrEnum):
    PENDING = "pending"  # 待审核
    RETURNED = "returned"  # 审核退回
    PUBLISHED = "published"  # 已公示


STATE_LABELS = {
    None: "未录入",
    ResultState.PENDING: "待审核",
    ResultState.RETURNED: "审核退回",
    ResultState.PUBLISHED: "已公示",
}


class Method(StrEnum):
    ONSITE = "onsite"  # 现场
    DOCUMENT = "document"  # 书面核查
    SHARING = "sharing"  # 信息共享
    ONLINE = "online"  # 网络监测
    REMOTE = "remote"  # 远程/视频


# Words typed in the one-line form for a method (the labels themselves live in result_methods).
METHOD_WORDS: dict[str, Method] = {
    "现场": Method.ONSITE,
    "现场检查": Method.ONSITE,
    "书面": Method.DOCUMENT,
    "书面核查": Method.DOCUMENT,
    "信息共享": Method.SHARING,
    "共享": Method.SHARING,
    "网络": Method.ONLINE,
    "网络监测": Method.ONLINE,
    "远程": Method.REMOTE,
    "视频": Method.REMOTE,
    "远程/视频": Method.REMOTE,
}


class Measure(StrEnum):
    NONE = "none"  # 无须后续处置
    RECTIFY = "rectify"  # 责令限期整改 (with a due date)
    REFER = "refer"  # 移送办案机构
    NOTIFY = "notify"  # 抄告相关部门 (another department)


MEASURE_LABELS = {
    Measure.NONE: "无须后续处置",
    Measure.RECTIFY: "责令限期整改",
    Measure.REFER: "移送办案机构",
    Measure.NOTIFY: "抄告相关部门",
}
MEASURE_WORDS: dict[str, Measure] = {
    "整改": Measure.RECTIFY,
    "责令整改": Measure.RECTIFY,
    "责令限期整改": Measure.RECTIFY,
    "移送": Measure.REFER,
    "移送办案机构": Measure.REFER,
    "抄告": Measure.NOTIFY,
    "抄告相关部门": Measure.NOTIFY,
}
CLOSE_WORDS = frozenset({"完结", "已完结", "办结"})


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


# -- the one-line form ----------------------------------------------------------------------------


class LineProblem(StrEnum):
    USAGE = "usage"  # fewer than three parts
    TASK = "task"  # the task id is not a number
    OBJECT = "object"  # neither a number within the task nor an 18-character credit code
    NO_CATEGORY = "no_category"  # no category code after the enterprise
    CATEGORY_SYNTAX = "category_syntax"  # "1,x": a code that is not a number
    NOTE_TOO_LONG = "note_too_long"


@dataclass(frozen=True)
class ObjectRef:
    seq: int | None = None
    credit_code: str | None = None


@dataclass(frozen=True)
class Line:
    task_id: int
    obj: ObjectRef
    codes: tuple[int, ...]
    method: Method | None
    note: str


@dataclass(frozen=True)
class LineError:
    problem: LineProblem
    given: str = ""


_CODES_TOKEN = re.compile(r"^\d+(?:[,，、;；]\d*)*[,，、;；]?$")
_SPLIT = re.compile(r"[,，、;；]")


def parse_object(token: str) -> ObjectRef | None:
    token = _normalize(token).lstrip("#")
    if token.isdigit() and len(token) <= 6:
        return ObjectRef(seq=int(token)) if int(token) > 0 else None
    code = normalize_credit_code(token)
    if len(code) == 18 and code.isascii() and code.isalnum():
        return ObjectRef(credit_code=code)
    return None


def parse_line(args: Sequence[str]) -> Line | LineError:
    """`<task> <object no or credit code> <codes…> [method] [note…]`.

    Codes are separated by commas (also 、，；) or spaces: every token made of digits and commas
    right after the enterprise is a code list. A method word (现场, 书面, 远程 …) may follow.
    Whatever remains is the note.
    """
    tokens = [t for t in (_normalize(a) for a in args) if t]
    if len(tokens) < 3:
        return LineError(LineProblem.USAGE)
    task = tokens[0].lstrip("#")
    if not task.isdigit() or int(task) <= 0:
        return LineError(LineProblem.TASK, tokens[0])
    obj = parse_object(tokens[1])
    if obj is None:
        return LineError(LineProblem.OBJECT, tokens[1])
    codes: list[int] = []
    index = 2
    while index < len(tokens):
        token = tokens[index]
        if _CODES_TOKEN.match(token):
            codes.extend(int(p) for p in _SPLIT.split(token) if p)
            index += 1
            continue
        if (
            index == 2
            and re.match(r"^[\d,，、;；]*[^\d,，、;；\s]", token)
            and re.search(r"\d", token)
        ):
            return LineError(LineProblem.CATEGORY_SYNTAX, token)
        break
    if not codes:
        return LineError(LineProblem.NO_CATEGORY, tokens[2])
    method = None
    if index < len(tokens) and tokens[index] in METHOD_WORDS:
        method = METHOD_WORDS[tokens[index]]
        index += 1
    note = " ".join(tokens[index:])
    if len(note) > MAX_NOTE:
        return LineError(LineProblem.NOTE_TOO_LONG, str(MAX_NOTE))
    return Line(int(task), obj, tuple(dict.fromkeys(codes)), method, note)


class CategoryProblem(StrEnum):
    UNKNOWN = "unknown"
    EXCLUSIVE = "exclusive"  # 未发现问题 together with a problem
    EMPTY = "empty"


def check_categories(
    codes: Iterable[int], known: Mapping[int, str]
) -> tuple[CategoryProblem, list[int]] | None:
    """Why these category codes cannot be recorded, with the offending codes; None if fine."""
    wanted = list(dict.fromkeys(codes))
    if not wanted:
        return CategoryProblem.EMPTY, []
    unknown = [c for c in wanted if c not in known]
    if unknown:
        return CategoryProblem.UNKNOWN, unknown
    if NO_PROBLEM in wanted and len(wanted) > 1:
        return CategoryProblem.EXCLUSIVE, [c for c in wanted if c != NO_PROBLEM]
    return None


def toggle(codes: Sequence[int], code: int) -> list[int]:
    """Multi-select: pressing 未发现问题 clears the problems, pressing a problem clears it."""
    if code in codes:
        return [c for c in codes if c != code]
    if code == NO_PROBLEM:
        return [NO_PROBLEM]
    return sorted([c for c in codes if c != NO_PROBLEM] + [code])


def needs_followup(codes: Iterable[int], followup_codes: Iterable[int]) -> bool:
    return bool(set(codes) & set(followup_codes))


# -- who may enter ----------------------------------------------------------------------------


class EntryRefusal(StrEnum):
    TASK_STATE = "task_state"  # not drawn yet, or closed/cancelled
    NOT_YOURS = "not_yours"  # not assigned to this object, not the liaison of a department on it
    PUBLISHED = "published"  # reviewed already: no more edits
    CHECKIN = "checkin"  # on-site check without check-in


def entry_department(
    inspector_department: str | None,
    assigned_departments: Iterable[str],
    inspector_assigned: bool,
    liaison_departments: Iterable[str],
) -> str | None:
    """The department an entry is for: the inspector's own when they are assigned to the object,
    else the first of the person's liaison departments that takes part in it."""
    assigned = list(dict.fromkeys(assigned_departments))
    if inspector_assigned and inspector_department in assigned:
        return inspector_department
    for dept in liaison_departments:
        if dept in assigned:
            return dept
    return None


def entry_refusal(
    *,
    task_open: bool,
    department: str | None,
    current: ResultState | None,
    method: Method,
    checked_in: bool,
) -> EntryRefusal | None:
    if not task_open:
        return EntryRefusal.TASK_STATE
    if department is None:
        return EntryRefusal.NOT_YOURS
    if current is ResultState.PUBLISHED:
        return EntryRefusal.PUBLISHED
    if method is Method.ONSITE and not checked_in:
        return EntryRefusal.CHECKIN
    return None


# -- completion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Missing:
    seq: int
    department: str
    state: ResultState | None  # None: 未录入


def missing(
    pairs: Iterable[tuple[int, str]], states: Mapping[tuple[int, str], ResultState]
) -> list[Missing]:
    """Every (object, department) pair that has no published result yet, in order."""
    return [
        Missing(seq, dept, states.get((seq, dept)))
        for seq, dept in sorted(set(pairs))
        if states.get((seq, dept)) is not ResultState.PUBLISHED
    ]


def progress_stage(
    pairs: Iterable[tuple[int, str]], states: Mapping[tuple[int, str], ResultState]
) -> str:
    """'drawn' (nothing entered), 'inspecting', 'publishing' (all entered), 'done' (all
    published); matches TaskState values."""
    wanted = set(pairs)
    if not wanted:
        return "drawn"
    got = [states.get(p) for p in wanted]
    if all(s is ResultState.PUBLISHED for s in got):
        return "done"
    if all(s in (ResultState.PENDING, ResultState.PUBLISHED) for s in got):
        return "publishing"
    if any(s is not None for s in got):
        return "inspecting"
    return "drawn"


def result_deadline(window_end: date, calendar: WorkCalendar, working_days: int) -> date:
    """Entry, review and publication within `working_days` working days of the window's end."""
    return calendar.add_workdays(window_end, working_days)


# -- follow-up (后续处置) -------------------------------------------------------------------------


class FollowupProblem(StrEnum):
    USAGE = "usage"
    MEASURE = "measure"  # not a measure word
    DUE = "due"  # 整改 without a readable due date
    DEPARTMENT = "department"  # 抄告 without a department


@dataclass(frozen=True)
class FollowupCommand:
    task_id: int
    obj: ObjectRef
    measure: Measure | None  # None: closing (完结)
    due: date | None
    department: str | None
    note: str


_DATE = re.compile(r"^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$")


def parse_date(text: str) -> date | None:
    match = _DATE.match(_normalize(text))
    if match is None:
        return None
    try:
        return date(int(match[1]), int(match[2]), int(match[3]))
    except ValueError:
        return None


def parse_followup(args: Sequence[str]) -> FollowupCommand | FollowupProblem:
    """`<task> <no> 整改 <date> [note]` · `移送 [note]` · `抄告 <department> [note]` ·
    `完结 [date] [note]`."""
    tokens = [t for t in (_normalize(a) for a in args) if t]
    if len(tokens) < 3 or not tokens[0].lstrip("#").isdigit():
        return FollowupProblem.USAGE
    obj = parse_object(tokens[1])
    if obj is None:
        return FollowupProblem.USAGE
    word, rest = tokens[2], tokens[3:]
    task_id = int(tokens[0].lstrip("#"))
    if word in CLOSE_WORDS:
        closed = parse_date(rest[0]) if rest else None
        if closed is not None:
            rest = rest[1:]
        return FollowupCommand(task_id, obj, None, closed, None, " ".join(rest))
    measure = MEASURE_WORDS.get(word)
    if measure is None:
        return FollowupProblem.MEASURE
    if measure is Measure.RECTIFY:
        due = parse_date(rest[0]) if rest else None
        if due is None:
            return FollowupProblem.DUE
        return FollowupCommand(task_id, obj, measure, due, None, " ".join(rest[1:]))
    if measure is Measure.NOTIFY:
        if not rest:
            return FollowupProblem.DEPARTMENT
        return FollowupCommand(task_id, obj, measure, None, rest[0], " ".join(rest[1:]))
    return FollowupCommand(task_id, obj, measure, None, None, " ".join(rest))


# -- publication sheet ------------------------------------------------------------------------

# The platform's result sheet, in this column order.
EXPORT_COLUMNS = (
    "序号",
    "任务名称",
    "统一社会信用代码",
    "企业名称",
    "检查部门",
    "检查事项",
    "检查方式",
    "检查结果",
    "检查日期",
    "后续处置",
    "处置状态",
    "备注",
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: object) -> object:
    """Spreadsheet formula injection: a text cell beginning with = + - @ (or a tab / carriage
    return) gets a leading apostrophe, so it stays text in Excel, WPS and LibreOffice."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
