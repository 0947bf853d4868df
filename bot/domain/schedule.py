"""Reading a send time an administrator typed, in Beijing time. Pure: no Telegram, no database.

Understood: "2026-12-01 09:00", "2026/12/1 9:00", "2026年12月1日 9点30", "12月1日 下午3点",
"12-01 09:00", "明天 9:00", "今天 18:30", "后天上午9点半", "9:00" (today, or tomorrow if that
time has passed). Full-width digits and colons are accepted.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime, time, timedelta
from enum import StrEnum

_WHEN = re.compile(
    r"^(?:(?P<rel>今天|今日|明天|明日|后天)"
    r"|(?:(?P<y>\d{4})\s*[-/.年]\s*)?(?P<m>\d{1,2})\s*[-/.月]\s*(?P<d>\d{1,2})\s*[日号]?)?"
    r"[\sT]*(?P<period>凌晨|早上|早晨|上午|中午|下午|傍晚|晚上)?\s*"
    r"(?P<h>\d{1,2})\s*(?::\s*(?P<mi>\d{2})|[点時时]\s*(?:(?P<mi2>\d{1,2})\s*分?|(?P<half>半))?)$"
)
_RELATIVE_DAYS = {"今天": 0, "今日": 0, "明天": 1, "明日": 1, "后天": 2}
_AFTERNOON = {"下午", "傍晚", "晚上"}

# The latest a broadcast may be scheduled ahead.
MAX_AHEAD = timedelta(days=366)


class WhenProblem(StrEnum):
    UNREADABLE = "unreadable"
    PAST = "past"
    TOO_FAR = "too_far"


def parse_when(text: str, now: datetime) -> datetime | None:
    """The moment `text` names, in `now`'s time zone; None if it cannot be read.

    `now` must be timezone-aware and already in the local (Beijing) zone.
    """
    normalized = unicodedata.normalize("NFKC", text).strip()
    match = _WHEN.match(normalized)
    if match is None:
        return None
    hour = int(match["h"])
    minute = int(match["mi"] or match["mi2"] or 0) + (30 if match["half"] else 0)
    period = match["period"]
    if period in _AFTERNOON and hour < 12:
        hour += 12
    elif period == "中午" and hour < 11:
        hour += 12
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        return None
    at = time(hour, minute)
    today = now.date()
    explicit_year = match["y"] is not None
    try:
        if match["rel"]:
            day = today + timedelta(days=_RELATIVE_DAYS[match["rel"]])
        elif match["m"]:
            year = int(match["y"]) if explicit_year else today.year
            day = date(year, int(match["m"]), int(match["d"]))
        else:
            day = today
    except ValueError:
        return None
    moment = datetime.combine(day, at, tzinfo=now.tzinfo)
    if moment <= now and not match["rel"]:
        # "9:00" after nine means tomorrow; "12月1日" after 1 December means next year.
        if not match["m"]:
            moment += timedelta(days=1)
        elif not explicit_year:
            try:
                moment = moment.replace(year=moment.year + 1)
            except ValueError:
                return None
    return moment


def check_when(moment: datetime | None, now: datetime) -> WhenProblem | None:
    if moment is None:
        return WhenProblem.UNREADABLE
    if moment <= now:
        return WhenProblem.PAST
    if moment - now > MAX_AHEAD:
        return WhenProblem.TOO_FAR
    return None
