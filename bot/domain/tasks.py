"""Joint inspection tasks (一业一查): states, answers, dates, reminder slots, overlaps.

Pure: no Telegram, no database, no clock. Every function that needs "now" takes it, already in
Beijing time.

    邀请中 inviting -> 已确认 confirmed -> 已抽取 drawn -> 检查中 inspecting -> 待公示 publishing
    -> 已完成 done;  any state before done -> 已取消 cancelled.

A confirmed task with at least one partner that joined is a joint inspection; with none it is a
single-department inspection and does not count as joint.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum

from bot.domain.workdays import WorkCalendar


class TaskState(StrEnum):
    INVITING = "inviting"
    CONFIRMED = "confirmed"
    DRAWN = "drawn"
    INSPECTING = "inspecting"
    PUBLISHING = "publishing"
    DONE = "done"
    CANCELLED = "cancelled"


TRANSITIONS: dict[TaskState, frozenset[TaskState]] = {
    TaskState.INVITING: frozenset({TaskState.CONFIRMED, TaskState.CANCELLED}),
    TaskState.CONFIRMED: frozenset({TaskState.DRAWN, TaskState.CANCELLED}),
    TaskState.DRAWN: frozenset({TaskState.INSPECTING, TaskState.CANCELLED}),
    TaskState.INSPECTING: frozenset({TaskState.PUBLISHING, TaskState.CANCELLED}),
    TaskState.PUBLISHING: frozenset({TaskState.DONE, TaskState.CANCELLED}),
    TaskState.DONE: frozenset(),
    TaskState.CANCELLED: frozenset(),
}
OPEN_STATES = frozenset(s for s in TaskState if s not in (TaskState.DONE, TaskState.CANCELLED))


class TransitionError(ValueError):
    pass


def can_move(current: TaskState, target: TaskState) -> bool:
    return target in TRANSITIONS[current]


def move(current: TaskState, target: TaskState) -> TaskState:
    if not can_move(current, target):
        raise TransitionError(f"a task cannot go from {current.value} to {target.value}")
    return target


class Answer(StrEnum):
    PENDING = "pending"
    JOINED = "joined"
    DECLINED = "declined"


class AnswerRefusal(StrEnum):
    CLOSED = "closed"  # the task is no longer inviting
    SAME = "same"  # joined again, declined again: nothing to change
    TOO_LATE = "too_late"  # an answer can be changed only until the deadline


def answer_refusal(
    state: TaskState, deadline: datetime, now: datetime, current: Answer, new: Answer
) -> AnswerRefusal | None:
    """Why a department may not give `new` now; None if it may.

    A department that has not answered may still answer after the deadline while the task is
    inviting (the lead has not proceeded yet); an answer given can be changed only until the
    deadline.
    """
    if state is not TaskState.INVITING:
        return AnswerRefusal.CLOSED
    if current is not Answer.PENDING and now >= deadline:  # before SAME: a late change is late
        return AnswerRefusal.TOO_LATE
    if current is new:
        return AnswerRefusal.SAME
    return None


def is_joint(answers: Iterable[Answer]) -> bool:
    return any(a is Answer.JOINED for a in answers)


# -- what people see: recomputed from the current state, never remembered ---------------------


class AnswerStatus(StrEnum):
    """A department's answer as shown on the card, /task and the private messages."""

    PENDING = "pending"  # the task is inviting: it may still answer (待回复)
    JOINED = "joined"
    DECLINED = "declined"
    SILENT = "silent"  # no answer when the task was confirmed: counts as not taking part
    UNANSWERED = "unanswered"  # no answer, and the task was cancelled


def answer_status(state: TaskState, answer: Answer) -> AnswerStatus:
    if answer is Answer.JOINED:
        return AnswerStatus.JOINED
    if answer is Answer.DECLINED:
        return AnswerStatus.DECLINED
    if state is TaskState.INVITING:
        return AnswerStatus.PENDING
    if state is TaskState.CANCELLED:
        return AnswerStatus.UNANSWERED
    return AnswerStatus.SILENT


class MessageKind(StrEnum):
    """What a private message of a task was sent as; it stays that kind when rewritten."""

    INVITE = "invite"
    REMINDER = "reminder"
    EXTENDED = "extended"  # the deadline was extended: answer by the new one
    ADDED = "added"  # a department added to the invited ones
    ESCALATION = "escalation"  # to the lead and the administrators: the deadline passed


class MessageStatus(StrEnum):
    LIVE = "live"  # buttons work
    SUPERSEDED = "superseded"  # an escalation whose deadline was extended since
    ENDED = "ended"  # the task was confirmed or cancelled: no buttons, marked ended


def message_status(
    state: TaskState, kind: MessageKind, about: datetime | None, deadline: datetime
) -> MessageStatus:
    """How a private message of a task shows now. `about`: the reply deadline an escalation
    was about (None: not known, taken as the current one); `deadline`: the current one."""
    if state is not TaskState.INVITING:
        return MessageStatus.ENDED
    if kind is MessageKind.ESCALATION and about is not None and about != deadline:
        return MessageStatus.SUPERSEDED
    return MessageStatus.LIVE


# -- dates typed by people ------------------------------------------------------------------------

_DATE = re.compile(
    r"(?:(?P<y>\d{4})\s*[-/.年]\s*)?(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?"
)
_TIME = re.compile(r"(?P<h>\d{1,2})\s*[:点]\s*(?P<mi>\d{2})?")
MAX_WINDOW = timedelta(days=366)


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).strip()


def _to_date(match: re.Match[str], today: date) -> date | None:
    year = int(match["y"]) if match["y"] else today.year
    try:
        found = date(year, int(match["m"]), int(match["d"]))
    except ValueError:
        return None
    if not match["y"] and found < today:  # "12月1日" in December means next year's
        try:
            found = found.replace(year=year + 1)
        except ValueError:
            return None
    return found


def parse_dates(text: str, today: date) -> list[date] | None:
    """Every date in `text` ("2026-12-01 2026-12-15", "12月1日至12月15日"); None if one is
    not a real date."""
    found: list[date] = []
    for match in _DATE.finditer(_normalize(text)):
        day = _to_date(match, today)
        if day is None:
            return None
        found.append(day)
    return found


class DateProblem(StrEnum):
    UNREADABLE = "unreadable"
    PAST = "past"
    REVERSED = "reversed"
    TOO_LONG = "too_long"
    AFTER_START = "after_start"


def parse_window(text: str, today: date) -> tuple[date, date] | DateProblem:
    """The inspection window: two dates, start first, not in the past, at most a year long."""
    days = parse_dates(text, today)
    if not days or len(days) > 2:
        return DateProblem.UNREADABLE
    start, end = days[0], days[-1]
    if start < today:
        return DateProblem.PAST
    if end < start:
        return DateProblem.REVERSED
    if end - start > MAX_WINDOW:
        return DateProblem.TOO_LONG
    return start, end


def parse_deadline(
    text: str, now: datetime, default_time: time, window_start: date
) -> datetime | DateProblem:
    """A reply deadline typed as a date, optionally with a time ("2026-12-03 17:00")."""
    normalized = _normalize(text)
    days = parse_dates(normalized, now.date())
    if not days or len(days) != 1:
        return DateProblem.UNREADABLE
    rest = _DATE.sub("", normalized, count=1)
    at = default_time
    if rest.strip():
        match = _TIME.search(rest)
        if match is None or rest.strip() != match.group(0).strip():
            return DateProblem.UNREADABLE
        hour, minute = int(match["h"]), int(match["mi"] or 0)
        if hour > 23 or minute > 59:
            return DateProblem.UNREADABLE
        at = time(hour, minute)
    deadline = datetime.combine(days[0], at, tzinfo=now.tzinfo)
    return check_deadline(deadline, now, window_start) or deadline


def check_deadline(deadline: datetime, now: datetime, window_start: date) -> DateProblem | None:
    if deadline <= now:
        return DateProblem.PAST
    if deadline.date() > window_start:
        return DateProblem.AFTER_START
    return None


def default_deadline(
    now: datetime, calendar: WorkCalendar, working_days: int, at: time
) -> datetime:
    """`working_days` working days from today, at `at` (Beijing time)."""
    day = calendar.add_workdays(now.date(), working_days)
    return datetime.combine(day, at, tzinfo=now.tzinfo)


def extend_deadline(
    deadline: datetime, now: datetime, calendar: WorkCalendar, working_days: int
) -> datetime:
    """Move a deadline `working_days` working days on, counted from today if it has passed."""
    base = max(deadline.date(), now.date())
    day = calendar.add_workdays(base, working_days)
    return datetime.combine(day, deadline.timetz())


# -- reminders and escalation -----------------------------------------------------------------


@dataclass(frozen=True)
class QuietHours:
    """Nothing goes out from `start` until `end` (Beijing time); it waits until `end`.

    The window may wrap midnight (21:00–08:00) or not (00:00–06:00). `start == end` would be
    ambiguous: the configuration refuses it, and here it means no quiet hours at all.
    """

    start: time = time(21, 0)
    end: time = time(8, 0)

    def is_quiet(self, moment: datetime) -> bool:
        local = moment.timetz().replace(tzinfo=None)
        if self.start == self.end:
            return False
        if self.start < self.end:  # within one day
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # across midnight

    def adjust(self, moment: datetime) -> datetime:
        """`moment`, or the end of the quiet hours it falls in."""
        if not self.is_quiet(moment):
            return moment
        local = moment.timetz().replace(tzinfo=None)
        day = moment.date() if local < self.end else moment.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=moment.tzinfo)


def reminder_slots(
    deadline: datetime,
    since: datetime,
    calendar: WorkCalendar,
    days_before: Sequence[int],
    at: time,
    quiet: QuietHours,
) -> list[datetime]:
    """When to remind unanswered departments: `days_before` working days before the deadline's
    day (0: that day's morning), at `at`. Slots before `since` (when the deadline was set) or
    at/after the deadline itself are left out."""
    slots: set[datetime] = set()
    for n in days_before:
        day = deadline.date()
        for _ in range(n):
            day = calendar.previous_workday(day)
        slot = quiet.adjust(datetime.combine(day, at, tzinfo=deadline.tzinfo))
        if since <= slot < deadline:
            slots.add(slot)
    return sorted(slots)


def escalation_time(deadline: datetime, quiet: QuietHours) -> datetime:
    return quiet.adjust(deadline)


# -- overlap ("能联合的不多头") -------------------------------------------------------------------


def quarters(start: date, end: date) -> set[tuple[int, int]]:
    found: set[tuple[int, int]] = set()
    year, q = start.year, (start.month - 1) // 3
    while (year, q) <= (end.year, (end.month - 1) // 3):
        found.add((year, q + 1))
        q += 1
        if q == 4:
            year, q = year + 1, 0
    return found


@dataclass(frozen=True)
class TaskSummary:
    id: int
    industry: str
    lead_department: str
    start: date
    end: date
    state: TaskState


def same_industry(a: str, b: str) -> bool:
    return _normalize(a).casefold() == _normalize(b).casefold()


def overlapping(
    industry: str, lead: str, start: date, end: date, tasks: Iterable[TaskSummary]
) -> list[TaskSummary]:
    """Open tasks of another lead department, same industry, sharing a quarter with the window."""
    wanted = quarters(start, end)
    return [
        t
        for t in tasks
        if t.state in OPEN_STATES
        and t.state is not TaskState.DONE
        and t.lead_department != lead
        and same_industry(t.industry, industry)
        and wanted & quarters(t.start, t.end)
    ]
