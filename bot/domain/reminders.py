"""Reminder rules: when each reminder is due, quiet hours, grace and digests, quarterly report
deadlines, training offsets, result deadlines. Pure: no Telegram, no database, no clock; every
function that needs "now" takes it, already in Beijing time.

Deadlines of quarterly reports stay the date the county set (24 March, June, September,
December by default) even when that day is a weekend or a holiday: the county's notice names the
date, not a working day. Only the reminders before it move: a reminder that falls on a
non-working day moves to the working day before.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, tzinfo
from enum import StrEnum
from typing import Any

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


def periods_missed(since: date, today: date, deadlines: Sequence[str]) -> list[Period]:
    """Periods whose deadline is on or after `since` and before `today`, oldest first: the
    quarters a department created on `since` owes a report for by now."""
    found: list[Period] = []
    for year in range(since.year, today.year + 1):
        for period in report_deadlines(year, deadlines):
            if since <= period.deadline < today:
                found.append(period)
    return found


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


def workdays_left(today: date, deadline: date, calendar: WorkCalendar) -> int:
    """Working days after `today` up to and including `deadline` (0 on the deadline day and
    after it): what "还有 N 个工作日" says on the day it is sent."""
    count = 0
    day = today
    while day < deadline:
        day += timedelta(days=1)
        if calendar.is_workday(day):
            count += 1
    return count


def remaining_label(starts: datetime, now: datetime) -> str:
    """How long until `starts`, as a reminder sent at `now` says it ("约 N 小时"): whole days
    from 20 hours on, whole hours from 50 minutes on, else minutes (at least 1)."""
    minutes = max(1, round((starts - now).total_seconds() / 60))
    if minutes >= 20 * 60:
        return f"{max(1, round(minutes / 1440))} 天"
    if minutes >= 50:
        return f"{max(1, round(minutes / 60))} 小时"
    return f"{minutes} 分钟"


# -- plans and their reconciliation --------------------------------------------------------------


@dataclass(frozen=True)
class Planned:
    """One reminder a source's current state calls for. `key` names the slot (same slot, same
    key), the rest is when and what."""

    key: str
    kind: str
    user: int
    due: datetime
    purpose: datetime | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Existing:
    """A row already in the table for the same source (any status)."""

    id: int
    key: str
    kind: str
    user: int
    due: datetime
    purpose: datetime | None
    payload: Mapping[str, Any]
    status: str

    def same(self, planned: Planned) -> bool:
        return (
            self.kind == planned.kind
            and self.user == planned.user
            and self.due == planned.due
            and self.purpose == planned.purpose
            and dict(self.payload) == dict(planned.payload)
        )


@dataclass(frozen=True)
class Reconciliation:
    """What to do to the table so its pending rows are exactly the plan (`skip_before`: a slot
    whose time is already that far behind is not sent any more)."""

    add: tuple[Planned, ...] = ()  # new slots, pending
    add_skipped: tuple[Planned, ...] = ()  # new slots already too late: recorded as skipped
    update: tuple[tuple[int, Planned], ...] = ()  # pending (or cancelled) rows, now this
    skip: tuple[int, ...] = ()  # pending rows moved to a time already too late
    cancel: tuple[int, ...] = ()  # pending rows no longer in the plan
    keep: tuple[int, ...] = ()  # pending rows exactly as planned

    @property
    def changed(self) -> bool:
        return bool(self.add or self.add_skipped or self.update or self.skip or self.cancel)


def reconcile(
    planned: Sequence[Planned], existing: Sequence[Existing], skip_before: datetime
) -> Reconciliation:
    """Compare a source's plan with its rows. A pending row whose slot is still planned is
    kept (or updated in place when its time or text data changed), so nothing is doubled; a
    pending row whose slot is no longer planned is cancelled; a cancelled row planned again is
    revived; a slot already fired, digested or skipped is never planned again."""
    by_key = {row.key: row for row in existing}
    wanted: dict[str, Planned] = {}
    for p in planned:
        wanted.setdefault(p.key, p)
    add: list[Planned] = []
    add_skipped: list[Planned] = []
    update: list[tuple[int, Planned]] = []
    skip: list[int] = []
    keep: list[int] = []
    for key, p in wanted.items():
        row = by_key.get(key)
        if row is None:
            (add_skipped if p.due < skip_before else add).append(p)
        elif row.status == "pending":
            if row.same(p):
                keep.append(row.id)
            elif p.due < skip_before:
                skip.append(row.id)
            else:
                update.append((row.id, p))
        elif row.status == "cancelled" and p.due >= skip_before:
            update.append((row.id, p))
    cancel = [r.id for r in existing if r.status == "pending" and r.key not in wanted]
    return Reconciliation(
        tuple(add), tuple(add_skipped), tuple(update), tuple(skip), tuple(cancel), tuple(keep)
    )


def report_plan(
    period: Period,
    liaisons: Mapping[str, Sequence[int]],
    submitted: Collection[str],
    admins: Sequence[int],
    *,
    days_before: Sequence[int],
    overdue_times: int,
    at: time,
    calendar: WorkCalendar,
    tz: tzinfo,
) -> list[Planned]:
    """A quarter's reminders: before the deadline and on the working days after it for each
    liaison of a department that has not submitted; one escalation to each administrator on
    the first working day after it while any department is missing."""
    end = datetime.combine(period.deadline + timedelta(days=1), time(0), tzinfo=tz)
    before = report_slots(period.deadline, days_before, at, calendar, tz)
    after = overdue_slots(period.deadline, overdue_times, at, calendar, tz)
    found: list[Planned] = []
    missing = [d for d in liaisons if d not in submitted]
    for department in missing:
        for uid in liaisons[department]:
            for days, when in before:
                found.append(
                    Planned(
                        f"report:{period.key}:before:{days}:{department}:{uid}",
                        "report.before",
                        uid,
                        when,
                        end,
                        {"period": period.key, "department": department, "days": days},
                    )
                )
            for n, when in enumerate(after, start=1):
                found.append(
                    Planned(
                        f"report:{period.key}:overdue:{n}:{department}:{uid}",
                        "report.overdue",
                        uid,
                        when,
                        None,
                        {"period": period.key, "department": department, "n": n},
                    )
                )
    if missing and after:
        for uid in admins:
            found.append(
                Planned(
                    f"report:{period.key}:escalate:{uid}",
                    "report.escalate",
                    uid,
                    after[0],
                    None,
                    {"period": period.key},
                )
            )
    return found


def result_plan(
    task_id: int,
    window_end: date | None,
    liaisons: Sequence[int],
    admins: Sequence[int],
    *,
    working_days: int,
    days_before: Sequence[int],
    at: time,
    calendar: WorkCalendar,
    tz: tzinfo,
) -> list[Planned]:
    """A task's result-deadline reminders while its results are due (`window_end` None: the
    task is not, or no longer, waiting for results): the participating liaisons before the
    deadline, and the liaisons and administrators on the working day after it. The deadline
    is part of each key, so a calendar change that moves it replaces every slot."""
    if window_end is None:
        return []
    deadline = result_deadline(window_end, calendar, working_days)
    end = datetime.combine(deadline + timedelta(days=1), time(0), tzinfo=tz)
    overdue_at = datetime.combine(calendar.add_workdays(deadline, 1), at, tzinfo=tz)
    payload = {"task": task_id, "deadline": deadline.isoformat()}
    base = f"result:{task_id}:{deadline}"
    found: list[Planned] = []
    users = sorted(set(liaisons))
    slots = result_slots(deadline, days_before, at, calendar, tz)
    for uid in users:
        for n, when in slots:
            found.append(
                Planned(
                    f"{base}:before:{n}:{uid}",
                    "result.before",
                    uid,
                    when,
                    end,
                    {**payload, "days": n},
                )
            )
    for uid in sorted(set(users) | set(admins)):
        found.append(
            Planned(f"{base}:overdue:{uid}", "result.overdue", uid, overdue_at, None, payload)
        )
    return found


def followup_plan(
    result_id: int,
    due: date | None,
    people: Sequence[int],
    admins: Sequence[int],
    *,
    days_before: Sequence[int],
    at: time,
    calendar: WorkCalendar,
    tz: tzinfo,
) -> list[Planned]:
    """An open 责令限期整改's reminders (`due` None: closed, changed to another measure, or
    its task cancelled): before the due date, and on the working day after it (also to the
    administrators)."""
    if due is None:
        return []
    payload = {"result": result_id, "due": due.isoformat()}
    end = datetime.combine(due + timedelta(days=1), time(0), tzinfo=tz)
    base = f"followup:{result_id}:{due}"
    users = sorted(set(people))
    found: list[Planned] = []
    slots = result_slots(due, days_before, at, calendar, tz)
    for uid in users:
        for n, when in slots:
            found.append(
                Planned(
                    f"{base}:before:{n}:{uid}",
                    "followup.before",
                    uid,
                    when,
                    end,
                    {**payload, "days": n},
                )
            )
    overdue_at = datetime.combine(calendar.add_workdays(due, 1), at, tzinfo=tz)
    for uid in sorted(set(users) | set(admins)):
        found.append(
            Planned(f"{base}:overdue:{uid}", "followup.overdue", uid, overdue_at, None, payload)
        )
    return found


def training_plan(
    training_id: int,
    version: int,
    starts: datetime | None,
    people: Sequence[int],
    organisers: Sequence[int],
    *,
    offsets_minutes: Sequence[int],
    quiet: Quiet,
) -> list[Planned]:
    """A session's reminders (`starts` None: cancelled, or its task closed): each person
    invited before the session at each offset (quiet hours applied), and the organising
    liaisons' attendance summary a day before. The version is part of each key, so moving
    the session replaces every slot."""
    if starts is None:
        return []
    base = f"training:{training_id}:v{version}"
    payload = {"training": training_id, "version": version}
    slots = training_slots(starts, offsets_minutes, quiet)
    found: list[Planned] = []
    for uid in sorted(set(people)):
        for minutes, when in slots:
            found.append(
                Planned(
                    f"{base}:{minutes}:{uid}",
                    "training.remind",
                    uid,
                    when,
                    starts,
                    {**payload, "minutes": minutes},
                )
            )
    summary_at = quiet.place(starts - timedelta(days=1), starts)
    for uid in sorted(set(organisers)):
        found.append(
            Planned(f"{base}:summary:{uid}", "training.summary", uid, summary_at, starts, payload)
        )
    return found
