"""Task rules without Telegram or a database: states, answers, dates, reminders, overlaps."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from bot.domain import tasks as rules
from bot.domain.tasks import Answer, AnswerRefusal, DateProblem, QuietHours, TaskState
from bot.domain.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def at(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def test_state_machine() -> None:
    assert rules.move(TaskState.INVITING, TaskState.CONFIRMED) is TaskState.CONFIRMED
    assert rules.can_move(TaskState.CONFIRMED, TaskState.CANCELLED)
    assert rules.can_move(TaskState.INVITING, TaskState.CANCELLED)
    assert not rules.can_move(TaskState.CANCELLED, TaskState.INVITING)
    assert not rules.can_move(TaskState.DONE, TaskState.CANCELLED)
    with pytest.raises(rules.TransitionError):
        rules.move(TaskState.INVITING, TaskState.DRAWN)
    assert rules.is_joint([Answer.DECLINED, Answer.JOINED])
    assert not rules.is_joint([Answer.DECLINED, Answer.PENDING])
    assert not rules.is_joint([])


def test_who_may_answer_when() -> None:
    deadline = at(2026, 12, 2, 18)
    before, after = at(2026, 12, 1, 10), at(2026, 12, 3, 10)
    ok = rules.answer_refusal
    assert ok(TaskState.INVITING, deadline, before, Answer.PENDING, Answer.JOINED) is None
    assert ok(TaskState.INVITING, deadline, before, Answer.JOINED, Answer.DECLINED) is None
    assert (
        ok(TaskState.INVITING, deadline, before, Answer.JOINED, Answer.JOINED) is AnswerRefusal.SAME
    )
    # late: a first answer is still welcome, a change is not
    assert ok(TaskState.INVITING, deadline, after, Answer.PENDING, Answer.DECLINED) is None
    assert (
        ok(TaskState.INVITING, deadline, after, Answer.JOINED, Answer.DECLINED)
        is AnswerRefusal.TOO_LATE
    )
    assert (
        ok(TaskState.CONFIRMED, deadline, before, Answer.PENDING, Answer.JOINED)
        is AnswerRefusal.CLOSED
    )


def test_typed_windows_and_deadlines() -> None:
    today = date(2026, 11, 30)
    assert rules.parse_window("2026-12-01 2026-12-15", today) == (
        date(2026, 12, 1),
        date(2026, 12, 15),
    )
    assert rules.parse_window("12月1日至12月15日", today) == (date(2026, 12, 1), date(2026, 12, 15))
    assert rules.parse_window("２０２６／１２／３", today) == (date(2026, 12, 3), date(2026, 12, 3))
    assert rules.parse_window("1月5日-1月9日", today) == (date(2027, 1, 5), date(2027, 1, 9))
    assert rules.parse_window("下周", today) is DateProblem.UNREADABLE
    assert rules.parse_window("2026-02-30 2026-03-01", today) is DateProblem.UNREADABLE
    assert rules.parse_window("2026-11-01 2026-12-01", today) is DateProblem.PAST
    assert rules.parse_window("2026-12-15 2026-12-01", today) is DateProblem.REVERSED
    assert rules.parse_window("2026-12-01 2028-12-01", today) is DateProblem.TOO_LONG
    now = at(2026, 11, 30, 10)
    start = date(2026, 12, 7)
    assert rules.parse_deadline("2026-12-03", now, time(18), start) == at(2026, 12, 3, 18)
    assert rules.parse_deadline("12月3日 17:30", now, time(18), start) == at(2026, 12, 3, 17, 30)
    assert rules.parse_deadline("2026-11-29", now, time(18), start) is DateProblem.PAST
    assert rules.parse_deadline("2026-12-08", now, time(18), start) is DateProblem.AFTER_START
    assert rules.parse_deadline("2026-12-03 25:00", now, time(18), start) is DateProblem.UNREADABLE
    assert rules.parse_deadline("2026-12-03 随便", now, time(18), start) is DateProblem.UNREADABLE


def test_default_and_extended_deadlines_count_working_days() -> None:
    # Wednesday 30 September 2026: the National Day week is skipped.
    assert rules.default_deadline(at(2026, 9, 30, 10), CAL, 2, time(18)) == at(2026, 10, 9, 18)
    deadline = at(2026, 12, 2, 18)
    assert rules.extend_deadline(deadline, at(2026, 12, 2, 19), CAL, 1) == at(2026, 12, 3, 18)
    # extended long after the deadline: counted from today
    assert rules.extend_deadline(deadline, at(2026, 12, 9, 9), CAL, 2) == at(2026, 12, 11, 18)


def test_reminder_slots_and_quiet_hours() -> None:
    quiet = QuietHours(time(21), time(8))
    deadline = at(2026, 12, 2, 18)  # Wednesday
    slots = rules.reminder_slots(deadline, at(2026, 11, 30, 10), CAL, (1, 0), time(9), quiet)
    assert slots == [at(2026, 12, 1, 9), at(2026, 12, 2, 9)]
    # proposed on Tuesday at 10:00: Tuesday's slot is already past and is left out
    late = rules.reminder_slots(deadline, at(2026, 12, 1, 10), CAL, (1, 0), time(9), quiet)
    assert late == [at(2026, 12, 2, 9)]
    # the working day before a Monday deadline is the Friday
    monday = at(2026, 12, 7, 18)
    assert rules.reminder_slots(monday, at(2026, 12, 1), CAL, (1,), time(9), quiet) == [
        at(2026, 12, 4, 9)
    ]
    # a reminder time in the quiet hours waits until 08:00
    assert rules.reminder_slots(deadline, at(2026, 11, 30), CAL, (0,), time(6), quiet) == [
        at(2026, 12, 2, 8)
    ]
    assert quiet.adjust(at(2026, 12, 2, 22)) == at(2026, 12, 3, 8)
    assert quiet.adjust(at(2026, 12, 2, 12)) == at(2026, 12, 2, 12)
    # a deadline at 23:00 is escalated at 08:00 the next morning
    assert rules.escalation_time(at(2026, 12, 2, 23), quiet) == at(2026, 12, 3, 8)


def test_overlaps_same_industry_same_quarter_other_lead() -> None:
    def task(i: int, industry: str, lead: str, start: date, end: date, state: str = "inviting"):
        return rules.TaskSummary(i, industry, lead, start, end, TaskState(state))

    existing = [
        task(1, "养老机构", "MZJ", date(2026, 12, 1), date(2026, 12, 10)),
        task(2, "养老机构", "WJW", date(2027, 1, 5), date(2027, 1, 9)),  # next quarter
        task(3, "网吧", "WLJ", date(2026, 12, 1), date(2026, 12, 10)),  # another industry
        task(4, "养老机构", "ZJJ", date(2026, 10, 1), date(2026, 10, 9), "cancelled"),
        task(5, "养老机构", "SCJG", date(2026, 11, 1), date(2026, 11, 9)),  # the same lead
    ]
    found = rules.overlapping("养老机构 ", "SCJG", date(2026, 12, 20), date(2026, 12, 28), existing)
    assert [t.id for t in found] == [1]
    spanning = rules.overlapping("养老机构", "SCJG", date(2026, 12, 20), date(2027, 1, 6), existing)
    assert [t.id for t in spanning] == [1, 2]
    assert rules.quarters(date(2026, 11, 1), date(2027, 2, 1)) == {(2026, 4), (2027, 1)}


def test_invitation_tunables_from_toml() -> None:
    from bot.config import ConfigError, InvitationTunables

    values = InvitationTunables.from_toml(
        {
            "invitations": {"reply_working_days": 3, "reminder_time": "08:30"},
            "calendar": {"holidays": [date(2027, 1, 1), "2027-02-16"], "workdays": ["2027-02-20"]},
        }
    )
    assert values.reply_working_days == 3 and values.reminder_time == time(8, 30)
    assert values.holidays == (date(2027, 1, 1), date(2027, 2, 16))
    for bad in (
        {"invitations": {"reminder_time": "9点"}},
        {"invitations": {"reply_working_days": 0}},
        {"invitations": {"extend_options": []}},
        {"invitations": {"no_such": 1}},
        {"calendar": {"holidays": ["2027-13-01"]}},
        {"calendar": {"holidays": ["2027-01-01"], "workdays": ["2027-01-01"]}},
    ):
        with pytest.raises(ConfigError):
            InvitationTunables.from_toml(bad)


def test_a_late_change_is_too_late_even_if_it_looks_the_same() -> None:
    deadline = at(2026, 12, 2, 18)
    after = at(2026, 12, 2, 18, 1)
    ok = rules.answer_refusal
    for answer in (Answer.JOINED, Answer.DECLINED):
        assert ok(TaskState.INVITING, deadline, after, answer, answer) is AnswerRefusal.TOO_LATE
    assert (
        ok(TaskState.INVITING, deadline, after, Answer.PENDING, Answer.JOINED) is None
    )  # a first answer may still come late


def test_quiet_hours_within_one_day_and_across_midnight() -> None:
    night = QuietHours(time(21), time(8))
    assert night.is_quiet(at(2026, 12, 2, 21)) and night.is_quiet(at(2026, 12, 3, 7, 59))
    assert not night.is_quiet(at(2026, 12, 2, 8)) and not night.is_quiet(at(2026, 12, 2, 20))
    early = QuietHours(time(0), time(6))  # does not wrap
    assert early.adjust(at(2026, 12, 2, 3)) == at(2026, 12, 2, 6)
    assert early.adjust(at(2026, 12, 2, 22)) == at(2026, 12, 2, 22)
    assert early.adjust(at(2026, 12, 2, 12)) == at(2026, 12, 2, 12)
    assert not early.is_quiet(at(2026, 12, 2, 23, 59))
    assert rules.escalation_time(at(2026, 12, 2, 18), early) == at(2026, 12, 2, 18)


def test_a_quiet_window_of_no_length_is_refused() -> None:
    from bot.config import ConfigError, InvitationTunables

    with pytest.raises(ConfigError):
        InvitationTunables.from_toml({"invitations": {"quiet_start": "08:00"}})
    with pytest.raises(ConfigError):
        InvitationTunables.from_toml({"invitations": {"quiet_start": "6:00", "quiet_end": "06:00"}})
