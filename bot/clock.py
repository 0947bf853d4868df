"""The one source of "now" for the whole bot.

Everything that needs the current time asks this module, so that tests and the sandbox can move
time without touching the code that schedules or compares it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

_source: Callable[[], datetime] = lambda: datetime.now(UTC)  # noqa: E731


def now() -> datetime:
    """Current time, timezone-aware UTC."""
    return _source()


def set_source(source: Callable[[], datetime]) -> None:
    """Replace the clock (tests, sandbox). The callable must return aware datetimes."""
    global _source
    _source = source


def reset() -> None:
    set_source(lambda: datetime.now(UTC))


def to_db(moment: datetime) -> str:
    """UTC ISO string as stored in the database."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_db(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def now_db() -> str:
    return to_db(now())
