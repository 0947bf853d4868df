"""The PRC working-day calendar, with the fallback for years the package has no data for."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain.workdays import WorkCalendar


def test_2026_national_day_holidays_and_make_up_days() -> None:
    cal = WorkCalendar()
    assert cal.has_data(2026)
    assert not cal.is_workday(date(2026, 10, 1))  # National Day, a Thursday
    assert not cal.is_workday(date(2026, 10, 7))
    assert cal.is_workday(date(2026, 9, 20))  # a make-up Sunday
    assert cal.is_workday(date(2026, 10, 10))  # a make-up Saturday
    # Two working days after 30 September: the holiday week is skipped.
    assert cal.add_workdays(date(2026, 9, 30), 2) == date(2026, 10, 9)
    assert cal.add_workdays(date(2026, 10, 8), 2) == date(2026, 10, 10)
    assert cal.previous_workday(date(2026, 10, 8)) == date(2026, 9, 30)
    assert cal.next_or_same_workday(date(2026, 10, 3)) == date(2026, 10, 8)


def test_an_ordinary_week_skips_the_weekend() -> None:
    cal = WorkCalendar()
    assert cal.add_workdays(date(2026, 11, 26), 2) == date(2026, 11, 30)  # Thursday -> Monday
    assert cal.add_workdays(date(2026, 11, 28), 1) == date(2026, 11, 30)  # from a Saturday


def test_a_year_without_data_falls_back_to_weekdays_and_configured_days() -> None:
    plain = WorkCalendar()
    assert not plain.has_data(2027)
    assert plain.is_workday(date(2027, 1, 1))  # a Friday, and nobody said it is a holiday
    assert plain.years_without_data([date(2026, 12, 31), date(2027, 1, 4)]) == [2027]
    configured = WorkCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 9)])
    assert not configured.is_workday(date(2027, 1, 1))
    assert configured.is_workday(date(2027, 1, 9))  # a configured make-up Saturday
    assert configured.add_workdays(date(2026, 12, 31), 1) == date(2027, 1, 4)
    assert not configured.is_workday(date(2027, 1, 10))  # an ordinary Sunday


def test_configured_days_override_the_package_and_may_not_contradict() -> None:
    cal = WorkCalendar(workdays=[date(2026, 10, 1)])
    assert cal.is_workday(date(2026, 10, 1))
    with pytest.raises(ValueError):
        WorkCalendar(holidays=[date(2027, 1, 1)], workdays=[date(2027, 1, 1)])
    with pytest.raises(ValueError):
        WorkCalendar().add_workdays(date(2026, 1, 1), 0)
