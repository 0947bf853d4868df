"""When unacknowledged task notices are chased (bot/domain/acks.py): pure, no Telegram, no
database. 2027 has no official calendar in the package: Monday to Friday plus given days."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.domain import acks
from bot.domain.reminders import Existing, reconcile
from bot.domain.workdays import WorkCalendar

TZ = ZoneInfo("Asia/Shanghai")
FRIDAY = date(2027, 3, 5)


def plan(waiting: acks.Waiting, calendar: WorkCalendar | None = None, days: int = 1) -> dict:
    return {
        p.key: (p.kind, p.user, p.due)
        for p in acks.ack_plan(
            waiting,
            at=time(9, 0),
            escalate_working_days=days,
            calendar=calendar or WorkCalendar(),
            tz=TZ,
        )
    }


def at9(day: date) -> datetime:
    return datetime.combine(day, time(9, 0), tzinfo=TZ)


def test_reminder_the_next_working_day_and_each_liaison_a_working_day_later() -> None:
    found = plan(acks.Waiting(7, 3, 4001, FRIDAY, liaisons=[3002, 3001, 3001]))
    assert found == {
        "draw:7:ackrem:3": ("draw.remind", 4001, at9(date(2027, 3, 8))),  # Monday
        "draw:7:ackesc:3:3001": ("draw.escalate", 3001, at9(date(2027, 3, 9))),
        "draw:7:ackesc:3:3002": ("draw.escalate", 3002, at9(date(2027, 3, 9))),
    }


def test_holidays_move_both_and_escalate_working_days_counts() -> None:
    off = WorkCalendar(holidays=[date(2027, 3, 8), date(2027, 3, 10)])
    found = plan(acks.Waiting(7, 3, 4001, FRIDAY, liaisons=[3001]), off, days=2)
    assert found["draw:7:ackrem:3"][2] == at9(date(2027, 3, 9))  # Tuesday
    assert found["draw:7:ackesc:3:3001"][2] == at9(date(2027, 3, 12))  # Thu 11, Fri 12


def test_what_an_earlier_version_sent_is_not_planned_again() -> None:
    waiting = acks.Waiting(7, 3, 4001, FRIDAY, liaisons=[3001], reminded_on=date(2027, 3, 10))
    found = plan(waiting)
    assert "draw:7:ackrem:3" not in found
    assert found["draw:7:ackesc:3:3001"][2] == at9(date(2027, 3, 11))  # after the real one
    escalated = acks.Waiting(
        7, 3, 4001, FRIDAY, liaisons=[3001], reminded_on=date(2027, 3, 10), escalated=True
    )
    assert plan(escalated) == {}


def test_a_calendar_change_moves_pending_slots_in_place() -> None:
    waiting = acks.Waiting(7, 3, 4001, FRIDAY, liaisons=[3001])
    before = acks.ack_plan(
        waiting, at=time(9), escalate_working_days=1, calendar=WorkCalendar(), tz=TZ
    )
    rows = [
        Existing(i, p.key, p.kind, p.user, p.due, p.purpose, p.payload, "pending")
        for i, p in enumerate(before, 1)
    ]
    after = acks.ack_plan(
        waiting,
        at=time(9),
        escalate_working_days=1,
        calendar=WorkCalendar(holidays=[date(2027, 3, 8)]),
        tz=TZ,
    )
    change = reconcile(after, rows, at9(FRIDAY))
    assert not change.add and not change.cancel
    assert [(row_id, p.due) for row_id, p in change.update] == [
        (1, at9(date(2027, 3, 9))),
        (2, at9(date(2027, 3, 10))),
    ]
