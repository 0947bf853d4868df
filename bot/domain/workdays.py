"""Working days on the PRC calendar (holidays and make-up workdays, 调休). Pure: no I/O.

`chinese_calendar` carries the State Council's calendar for the years it knows; a year it has
no data for (it raises NotImplementedError) falls back to Monday–Friday, corrected by the
holidays and make-up workdays an administrator configures ([calendar] in the TOML file).
Configured days win over the package in every year, so a late correction can be made too.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import chinese_calendar

# Longest stretch searched for a working day: no real calendar has a year without one.
_MAX_SCAN_DAYS = 366


class WorkCalendar:
    def __init__(self, holidays: Iterable[date] = (), workdays: Iterable[date] = ()) -> None:
        self.holidays = frozenset(holidays)
        self.workdays = frozenset(workdays)
        overlap = self.holidays & self.workdays
        if overlap:
            raise ValueError(f"days both holiday and workday: {sorted(overlap)}")
        self._known: dict[int, bool] = {}

    def has_data(self, year: int) -> bool:
        """Whether the package knows this year's official calendar."""
        if year not in self._known:
            try:
                chinese_calendar.is_workday(date(year, 1, 1))
            except NotImplementedError:
                self._known[year] = False
            else:
                self._known[year] = True
        return self._known[year]

    def is_workday(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        if self.has_data(day.year):
            return bool(chinese_calendar.is_workday(day))
        return day.weekday() < 5

    def add_workdays(self, day: date, count: int) -> date:
        """The `count`-th working day after `day` (`day` itself is not counted); count >= 1."""
        if count < 1:
            raise ValueError("count must be at least 1")
        current = day
        for _ in range(count):
            current = self._step(current, 1)
        return current

    def previous_workday(self, day: date) -> date:
        """The last working day strictly before `day`."""
        return self._step(day, -1)

    def next_or_same_workday(self, day: date) -> date:
        return day if self.is_workday(day) else self._step(day, 1)

    def years_without_data(self, days: Iterable[date]) -> list[int]:
        return sorted({d.year for d in days if not self.has_data(d.year)})

    def _step(self, day: date, direction: int) -> date:
        current = day
        for _ in range(_MAX_SCAN_DAYS):
            current += timedelta(days=direction)
            if self.is_workday(current):
                return current
        raise ValueError(f"no working day within {_MAX_SCAN_DAYS} days of {day}")
