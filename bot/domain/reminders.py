"""Reminder rules: when each reminder is due, quiet hours, grace and digests, quarterly report
deadlines, training offsets, result deadlines. Pure: no Telegram, no database, no clock; every
function that needs "now" takes it, already in Beijing time.

Deadlines of quarterly reports stay the date the county set (24 March, June, September,
December by default) even when that day is a weekend or a holiday: the county's notice names the
date, not a working day. Only the reminders before it move: a reminder that falls on a
non-working day moves to the working day before.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from bot.domain.workdays import WorkCalendar


@dataclass(frozen=True)
class Quiet:
    """No reminder between `start` (21:00) and `end` (08:00) unless what it is about happens
    within that night."""

    start: time = time(21, 0)
    end: time = time(8, 0)

    def is_quiet(self, moment: datetime) -> bool:
        local = moment.timetz().replace(tzinfo=None)
        return local >= self.start or local < self.end

    def night_end(self, moment: datetime) -> datetime:
        """The end of the quiet night `moment` is in (the next `end`)."""
        local = moment.timetz().replace(tzinfo=None)
        day = moment.date() if local < self.end else moment.date() + timedelta(days=1)
        return datetime.combine(day, self.end, tzinfo=moment.tzinfo)

    def urgent(self, moment: datetime, purpose: datetime | None) -> bool:
        """Whether the event a reminder is about happens before this night ends."""
        return purpose is not None and purpose <= self.night_end(moment)

    def place(self, moment: datetime, purpose: datetime | None = None) -> datetime:
        """When a reminder planned for `moment` may go out."""
        if not self.is_quiet(moment) or self.urgent(moment, purpose):
            return moment
        return self.night_end(moment)


class Decision(StrEnum):
    WAIT = "wait"  # not yet, or quiet hours
    SEND = "send"  # due and within the grace window
    DIGEST = "digest"  # missed by more than the grace window: fold into one digest
    DROP = "drop"  # what it was about is over: no longer useful


def decide(
    now: datetime,
    due: datetime,
    purpose: datetime | None,
    quiet: Quiet,
    grace: timedelta,
    *,
    expires_with_purpose: bool = True,
) -> Decision:
    """What to do with a pending reminder now."""
    if now < due:
        return Decision.WAIT
    if expires_with_purpose and purpose is not None and now >= purpose:
        return Decision.DROP
    if quiet.is_quiet(now) and not quiet.urgent(now, purpose):
        return Decision.WAIT
    if now - due > grace:
        return Decision.DIGEST
    return Decision.SEND


# -- quarterly reports -------------------------------------------------------------------------


@dataclass(frozen=True)
class Period:
    """A reporting period: '2026Q4', its deadline."""

    key: str
    deadline: date

    @property
    def label(self) -> str:
        return f"{self.key[:4]}年第{'一二三四'[int(self.key[-1]) - 1]}季度"


def report_deadlines(year: int, deadlines: Sequence[str]) -> list[Period]:
    """The year's deadlines ("MM-DD") as periods, numbered by the deadline's quarter."""
    found: list[Period] = []
    for text in sorted(deadlines):
        day = date.fromisoformat(f"{year:04d}-{text}")
        found.append(Period(f"{year}Q{(day.month - 1) // 3 + 1}", day))
    return found


def current_period(today: date, deadlines: Sequence[str]) -> Period:
    """The period a report sent today counts for: the next deadline on or after today."""
    for year in (today.year, today.year + 1):
        for period in report_deadlines(year, deadlines):
            if period.deadline >= today:
                return period
    raise ValueError("no report deadline configured")


def period_by_key(key: str, deadlines: Sequence[str]) -> Period | None:
    for period in report_deadlines(int(key[:4]), deadlines):
        if period.key == key:
            return period
    return None


def moved_to_workday(day: date, calendar: WorkCalendar) -> date:
    """A reminder day that is not a working day moves to the working day before."""
    return day if calendar.is_workday(day) else calendar.previous_workday(day)


def report_slots(
    deadline: date, days_before: Sequence[int], at: time, calendar: WorkCalendar, tz: tzinfo
) -> list[tuple[int, datetime]]:
    """(days before, when) for each reminder before a report deadline, moved off non-working
    days; two offsets landing on the same day are sent once (the larger offset is dropped)."""
    slots: dict[date, int] = {}
    for n in sorted(set(days_before), reverse=True):
        day = moved_to_workday(deadline - timedelta(days=n), calendar)
        if day < deadline:
            slots[day] = n
    return sorted(
        ((n, datetime.combine(day, at, tzinfo=tz)) for day, n in slots.items()),
        key=lambda item: item[1],
    )


def overdue_slots(
    deadline: date, times: int, at: time, calendar: WorkCalendar, tz: tzinfo
) -> list[datetime]:
    """Daily reminders after a missed deadline: the next `times` working days at `at`."""
    found: list[datetime] = []
    day = deadline
    for _ in range(times):
        day = calendar.add_workdays(day, 1)
        found.append(datetime.combine(day, at, tzinfo=tz))
    return found


# -- training ------------------------------------------------------------------------------------


def training_slots(
    starts: datetime, offsets_minutes: Sequence[int], quiet: Quiet
) -> list[tuple[int, datetime]]:
    """(offset, when) for each reminder before a session; quiet hours move a reminder to 08:00
    unless the session is within that night, and never past the session itself."""
    found: list[tuple[int, datetime]] = []
    for minutes in sorted(set(offsets_minutes), reverse=True):
        when = quiet.place(starts - timedelta(minutes=minutes), starts)
        if when < starts:
            found.append((minutes, when))
    return found


def offset_label(minutes: int) -> str:
    if minutes % 1440 == 0:
        return f"{minutes // 1440} 天"
    if minutes % 60 == 0:
        return f"{minutes // 60} 小时"
    return f"{minutes} 分钟"


# -- result deadlines ----------------------------------------------------------------------------


def result_deadline(window_end: date, calendar: WorkCalendar, working_days: int) -> date:
    """Results entered, reviewed and published within `working_days` working days of the end
    of the inspection: the last day allowed."""
    return calendar.add_workdays(window_end, working_days)


def result_slots(
    deadline: date, days_before: Sequence[int], at: time, calendar: WorkCalendar, tz: tzinfo
) -> list[tuple[int, datetime]]:
    """(working days before, when) for each reminder before a result deadline."""
    found: list[tuple[int, datetime]] = []
    for n in sorted(set(days_before), reverse=True):
        day = deadline
        for _ in range(n):
            day = calendar.previous_workday(day)
        found.append((n, datetime.combine(day, at, tzinfo=tz)))
    return found
