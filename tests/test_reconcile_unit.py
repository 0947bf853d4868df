"""The pure side of reconciled reminders: each source's plan as a function of its state
(reports, result deadlines, follow-ups, training), the reconciliation of a plan with the rows
already there, and what a reminder says when it is sent (working days left, time left)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.domain import reminders as rules
from bot.domain.reminders import Existing, Period, Planned, Quiet
from bot.domain.workdays import WorkCalendar
from bot.reminders import composed
from bot.render import Rendered

TZ = ZoneInfo("Asia/Shanghai")
NINE = time(9, 0)
NO_DATA = WorkCalendar()  # 2027: Monday to Friday
NEW_YEAR_OFF = WorkCalendar(holidays=[date(2027, 1, 1)])


def bj(y: int, m: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=TZ)


def row(p: Planned, row_id: int, status: str = "pending") -> Existing:
    return Existing(row_id, p.key, p.kind, p.user, p.due, p.purpose, p.payload, status)


# -- reconcile ---------------------------------------------------------------------------------


def test_reconcile_keeps_adds_cancels_and_moves() -> None:
    a = Planned("a", "k", 1, bj(2026, 12, 17))
    b = Planned("b", "k", 1, bj(2026, 12, 21))
    c = Planned("c", "k", 1, bj(2026, 12, 23))
    old_b = Planned("b", "k", 1, bj(2026, 12, 18))  # its day moved (a holiday was added)
    gone = Planned("z", "k", 1, bj(2026, 12, 22))
    change = rules.reconcile(
        [a, b, c], [row(a, 1), row(old_b, 2), row(gone, 3)], bj(2026, 12, 10, 8)
    )
    assert change.keep == (1,)
    assert change.update == ((2, b),)
    assert change.add == (c,)
    assert change.cancel == (3,)
    assert change.changed


def test_reconcile_twice_changes_nothing_and_never_doubles() -> None:
    a = Planned("a", "k", 1, bj(2026, 12, 17), payload={"n": 1})
    change = rules.reconcile([a, a], [row(a, 1)], bj(2026, 12, 10))
    assert change.keep == (1,) and not change.changed


def test_reconcile_revives_a_cancelled_slot_but_never_resends_a_sent_one() -> None:
    a = Planned("a", "k", 1, bj(2026, 12, 17))
    b = Planned("b", "k", 1, bj(2026, 12, 18))
    s = Planned("s", "k", 1, bj(2026, 12, 19))
    existing = [row(a, 1, "cancelled"), row(b, 2, "fired"), row(s, 3, "skipped")]
    change = rules.reconcile([a, b, s], existing, bj(2026, 12, 10))
    assert change.update == ((1, a),) and not change.add and not change.cancel


def test_reconcile_records_a_slot_already_too_late_as_skipped() -> None:
    late = Planned("late", "k", 1, bj(2026, 12, 1))
    moved = Planned("m", "k", 1, bj(2026, 12, 2))
    change = rules.reconcile(
        [late, moved], [row(Planned("m", "k", 1, bj(2026, 12, 20)), 5)], bj(2026, 12, 10)
    )
    assert change.add_skipped == (late,) and change.skip == (5,) and not change.add


# -- plans -------------------------------------------------------------------------------------


def test_report_plan_leaves_out_who_submitted_and_escalates_while_anyone_is_missing() -> None:
    period = Period("2026Q4", date(2026, 12, 24))
    args = {
        "days_before": (7, 3, 1),
        "overdue_times": 3,
        "at": NINE,
        "calendar": WorkCalendar(),
        "tz": TZ,
    }
    plan = rules.report_plan(period, {"MZJ": [1], "WJW": [2]}, {"MZJ"}, [9], **args)
    assert {p.user for p in plan} == {2, 9}
    assert [p.kind for p in plan].count("report.before") == 3
    assert [p.kind for p in plan].count("report.overdue") == 3
    [escalate] = [p for p in plan if p.kind == "report.escalate"]
    assert escalate.user == 9 and escalate.due == bj(2026, 12, 25)
    assert rules.report_plan(period, {"MZJ": [1], "WJW": [2]}, {"MZJ", "WJW"}, [9], **args) == []


def test_a_holiday_moves_a_report_slot_under_the_same_key() -> None:
    period = Period("2027Q4", date(2027, 12, 24))
    args = {"days_before": (1,), "overdue_times": 1, "at": NINE, "tz": TZ}
    plain = rules.report_plan(period, {"MZJ": [1]}, set(), [], calendar=NO_DATA, **args)
    off = WorkCalendar(holidays=[date(2027, 12, 23)])
    moved = rules.report_plan(period, {"MZJ": [1]}, set(), [], calendar=off, **args)
    assert [p.key for p in plain] == [p.key for p in moved]
    assert plain[0].due == bj(2027, 12, 23) and moved[0].due == bj(2027, 12, 22)


def test_result_plan_follows_the_calendar_into_new_keys() -> None:
    args = {"working_days": 20, "days_before": (5, 2, 1), "at": NINE, "tz": TZ}
    before = rules.result_plan(1, date(2026, 12, 25), [7], [9], calendar=NO_DATA, **args)
    after = rules.result_plan(1, date(2026, 12, 25), [7], [9], calendar=NEW_YEAR_OFF, **args)
    assert [p.due.date().isoformat() for p in before] == [
        "2027-01-15",
        "2027-01-20",
        "2027-01-21",
        "2027-01-25",
        "2027-01-25",
    ]
    assert [p.due.date().isoformat() for p in after if p.kind == "result.before"] == [
        "2027-01-18",
        "2027-01-21",
        "2027-01-22",
    ]
    assert all(":2027-01-25:" in p.key for p in after)
    assert not {p.key for p in before} & {p.key for p in after}
    assert {p.user for p in after if p.kind == "result.overdue"} == {7, 9}
    assert rules.result_plan(1, None, [7], [9], calendar=NO_DATA, **args) == []


def test_followup_plan_and_a_closed_one() -> None:
    args = {"days_before": (3, 1), "at": NINE, "calendar": NO_DATA, "tz": TZ}
    plan = rules.followup_plan(4, date(2027, 3, 10), [7, 8], [9], **args)
    assert [(p.kind, p.user) for p in plan if p.kind == "followup.overdue"] == [
        ("followup.overdue", 7),
        ("followup.overdue", 8),
        ("followup.overdue", 9),
    ]
    assert {p.due.date() for p in plan if p.kind == "followup.before"} == {
        date(2027, 3, 5),
        date(2027, 3, 9),
    }
    assert rules.followup_plan(4, None, [7], [9], **args) == []


def test_training_plan_applies_quiet_hours_and_names_the_version() -> None:
    starts = bj(2026, 12, 14, 9)
    plan = rules.training_plan(
        3, 2, starts, [5, 6], [5], offsets_minutes=(4320, 1440, 120), quiet=Quiet()
    )
    reminders = [p for p in plan if p.user == 6]
    assert [p.due for p in reminders] == [
        bj(2026, 12, 11, 9),
        bj(2026, 12, 13, 9),
        bj(2026, 12, 14, 8),  # 07:00 is in quiet hours
    ]
    assert all(p.key.startswith("training:3:v2:") for p in plan)
    [summary] = [p for p in plan if p.kind == "training.summary"]
    assert summary.user == 5 and summary.due == bj(2026, 12, 13, 9)
    assert rules.training_plan(3, 2, None, [5], [5], offsets_minutes=(120,), quiet=Quiet()) == []


def test_missed_periods_since_a_department_was_added() -> None:
    deadlines = ("03-24", "06-24", "09-24", "12-24")
    missed = rules.periods_missed(date(2026, 3, 10), date(2026, 8, 3), deadlines)
    assert [p.key for p in missed] == ["2026Q1", "2026Q2"]
    assert rules.periods_missed(date(2026, 8, 1), date(2026, 8, 3), deadlines) == []


# -- texts at send time --------------------------------------------------------------------------


def test_working_days_left_on_the_day_it_is_said() -> None:
    deadline = date(2027, 1, 22)
    assert rules.workdays_left(date(2027, 1, 15), deadline, NO_DATA) == 5
    assert rules.workdays_left(date(2027, 1, 21), deadline, NO_DATA) == 1
    assert rules.workdays_left(deadline, deadline, NO_DATA) == 0
    assert rules.workdays_left(date(2027, 1, 25), deadline, NO_DATA) == 0
    assert rules.workdays_left(date(2026, 12, 31), date(2027, 1, 4), NEW_YEAR_OFF) == 1


def test_time_left_before_a_session() -> None:
    starts = bj(2026, 12, 14, 9)
    assert rules.remaining_label(starts, bj(2026, 12, 14, 8)) == "1 小时"
    assert rules.remaining_label(starts, bj(2026, 12, 14, 7)) == "2 小时"
    assert rules.remaining_label(starts, bj(2026, 12, 11, 9)) == "3 天"
    assert rules.remaining_label(starts, bj(2026, 12, 13, 10)) == "1 天"
    assert rules.remaining_label(starts, starts - timedelta(minutes=20)) == "20 分钟"


def test_a_digest_line_keeps_the_list_under_it() -> None:
    text = "🚨 <b>逾期未报</b>：共 2 个部门尚未报送：\n• 县民政局\n• 县卫健委\n已每日提醒其联络员。"
    assert (
        composed(Rendered(text)).line
        == "🚨 <b>逾期未报</b>：共 2 个部门尚未报送：\n• 县民政局\n• 县卫健委"
    )
    assert composed(Rendered("⏰ 提醒\n地点：三楼")).line == "⏰ 提醒"
