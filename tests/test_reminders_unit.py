"""Pure reminder rules: quiet hours, grace and digests, report deadlines moved off holidays and
weekends, training offsets, result deadlines, a year without calendar data."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, Tunables
from bot.domain import reminders as rules
from bot.domain.reminders import Decision, Quiet
from bot.domain.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()
DEADLINES = ("03-24", "06-24", "09-24", "12-24")
QUIET = Quiet()
GRACE = timedelta(hours=12)


def bj(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def test_quiet_hours_wait_for_eight_unless_the_event_is_that_night() -> None:
    assert QUIET.place(bj(2026, 12, 1, 22)) == bj(2026, 12, 2, 8)
    assert QUIET.place(bj(2026, 12, 2, 6)) == bj(2026, 12, 2, 8)
    assert QUIET.place(bj(2026, 12, 1, 20, 59)) == bj(2026, 12, 1, 20, 59)
    # a 2-hour reminder for a 23:00 session goes at 21:00; for a 07:00 session at 05:00
    assert QUIET.place(bj(2026, 12, 1, 21), bj(2026, 12, 1, 23)) == bj(2026, 12, 1, 21)
    assert QUIET.place(bj(2026, 12, 2, 5), bj(2026, 12, 2, 7)) == bj(2026, 12, 2, 5)
    # … but a 1-day reminder falling in the night for tomorrow evening's session waits
    assert QUIET.place(bj(2026, 12, 1, 22), bj(2026, 12, 2, 22)) == bj(2026, 12, 2, 8)


def test_decide_send_wait_digest_drop() -> None:
    due = bj(2026, 12, 1, 9)
    purpose = bj(2026, 12, 10, 0)
    assert rules.decide(bj(2026, 12, 1, 8), due, purpose, QUIET, GRACE) is Decision.WAIT
    assert rules.decide(bj(2026, 12, 1, 9), due, purpose, QUIET, GRACE) is Decision.SEND
    assert rules.decide(bj(2026, 12, 1, 20), due, purpose, QUIET, GRACE) is Decision.SEND
    assert rules.decide(bj(2026, 12, 1, 23), due, purpose, QUIET, GRACE) is Decision.WAIT
    assert rules.decide(bj(2026, 12, 2, 8), due, purpose, QUIET, GRACE) is Decision.DIGEST
    assert rules.decide(bj(2026, 12, 10, 9), due, purpose, QUIET, GRACE) is Decision.DROP
    late = rules.decide(bj(2026, 12, 10, 9), due, purpose, QUIET, GRACE, expires_with_purpose=False)
    assert late is Decision.DIGEST


def test_current_period_and_labels() -> None:
    assert rules.current_period(date(2026, 12, 1), DEADLINES).key == "2026Q4"
    assert rules.current_period(date(2026, 12, 24), DEADLINES).deadline == date(2026, 12, 24)
    nxt = rules.current_period(date(2026, 12, 25), DEADLINES)
    assert (nxt.key, nxt.deadline, nxt.label) == ("2027Q1", date(2027, 3, 24), "2027年第一季度")


def slot_days(deadline: date, cal: WorkCalendar = CAL) -> list[tuple[int, date]]:
    return [
        (n, when.date()) for n, when in rules.report_slots(deadline, (7, 3, 1), time(9), cal, TZ)
    ]


def test_report_reminders_move_to_the_working_day_before() -> None:
    # 24 September 2023 was a Sunday: the deadline stays; 1 day before is Saturday 23rd ->
    # Friday 22nd; 3 days before Thursday 21st; 7 days before
    # Sunday 17th -> Friday 15th.
    assert slot_days(date(2023, 9, 24)) == [
        (7, date(2023, 9, 15)),
        (3, date(2023, 9, 21)),
        (1, date(2023, 9, 22)),
    ]
    # 24 June 2023 fell inside the Dragon Boat holiday (22–24 June, Sunday 25th a make-up
    # working day): 1 day before (23rd, holiday) moves to Wednesday 21st, where the 3-day
    # reminder already is; 7 days before (Saturday 17th) moves to Friday 16th.
    assert slot_days(date(2023, 6, 24)) == [(7, date(2023, 6, 16)), (1, date(2023, 6, 21))]


def test_two_offsets_on_one_day_are_one_reminder() -> None:
    days = slot_days(date(2023, 6, 24))
    assert [d for _, d in days] == sorted(set(d for _, d in days))
    assert days == [(7, date(2023, 6, 16)), (1, date(2023, 6, 21))]


def test_a_2027_deadline_without_calendar_data() -> None:
    cal = WorkCalendar()
    assert cal.is_workday(date(2027, 12, 24))  # no crash, whatever the package knows
    fallback = WorkCalendar(holidays=[date(2027, 12, 23)])
    # 2027-12-24 is a Friday; the day before is an administrator's holiday -> Wednesday 22nd
    got = [
        (n, when.date())
        for n, when in rules.report_slots(date(2027, 12, 24), (7, 3, 1), time(9), fallback, TZ)
    ]
    assert got == [(7, date(2027, 12, 17)), (3, date(2027, 12, 21)), (1, date(2027, 12, 22))]
    assert rules.current_period(date(2027, 12, 1), DEADLINES).deadline == date(2027, 12, 24)


def test_overdue_slots_are_the_next_working_days() -> None:
    after = rules.overdue_slots(date(2026, 12, 24), 3, time(9), CAL, TZ)
    assert [d.date() for d in after] == [date(2026, 12, 25), date(2026, 12, 28), date(2026, 12, 29)]


def test_training_slots() -> None:
    starts = bj(2026, 12, 10, 22)
    got = rules.training_slots(starts, (4320, 1440, 120), QUIET)
    # 3 days and 1 day before 22:00 fall in quiet hours -> 08:00 the next morning
    assert got == [
        (4320, bj(2026, 12, 8, 8)),
        (1440, bj(2026, 12, 10, 8)),
        (120, bj(2026, 12, 10, 20)),
    ]
    late = rules.training_slots(bj(2026, 12, 10, 23), (120,), QUIET)
    assert late == [(120, bj(2026, 12, 10, 21))]  # within that night: not held back


def test_result_deadline_counts_working_days() -> None:
    # a window ending Friday 25 September 2026: National Day holiday 1–8 October 2026
    deadline = rules.result_deadline(date(2026, 9, 25), CAL, 20)
    assert CAL.is_workday(deadline)
    assert deadline > date(2026, 10, 20)
    slots = rules.result_slots(deadline, (5, 2, 1), time(9), CAL, TZ)
    assert [n for n, _ in slots] == [5, 2, 1]
    assert all(CAL.is_workday(when.date()) for _, when in slots)


def test_tunables_parse_and_refuse() -> None:
    t = Tunables.from_toml(
        {
            "reminders": {"grace_hours": 6, "quiet_start": "22:00"},
            "training": {"offsets": ["2d", "3h"]},
            "reports": {"deadlines": ["06-30", "12-31"], "days_before": [5], "max_file_mb": 5},
            "results": {
                "working_days": 15,
                "days_before": [3],
                "followup_days_before": [1, 5],
                "followup_time": "08:30",
            },
        }
    ).reminders
    assert t.grace_hours == 6 and t.quiet_start == time(22)
    assert t.training_offsets_minutes == (2880, 180)
    assert t.report_deadlines == ("06-30", "12-31") and t.report_max_file_mb == 5
    assert t.result_working_days == 15 and t.result_days_before == (3,)
    assert t.followup_days_before == (5, 1) and t.followup_time == time(8, 30)
    for bad in (
        {"reminders": {"grace": 1}},
        {"training": {"offsets": ["soon"]}},
        {"reports": {"deadlines": ["02-30"]}},
        {"results": {"working_days": 0}},
        {"results": {"followup_days_before": [0]}},
    ):
        with pytest.raises(ConfigError):
            Tunables.from_toml(bad)
