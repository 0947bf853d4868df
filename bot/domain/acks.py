"""When an unacknowledged task notice (收到 not pressed) is chased: the inspector once, at
`at` on the working day after the notice; the department's liaisons `escalate_working_days`
working days after that reminder. Pure: no Telegram, no database, no clock."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, tzinfo

from bot.domain.reminders import Planned
from bot.domain.workdays import WorkCalendar

REMIND = "draw.remind"
ESCALATE = "draw.escalate"


@dataclass(frozen=True)
class Waiting:
    """A notice not yet acknowledged by an inspector who can be messaged.

    `reminded_on` / `escalated`: what the bot sent about it before the reminder engine took
    these over (draw_notices.reminded_at / escalated_at without a reminder row): never again."""

    task_id: int
    inspector_id: int
    user: int  # the inspector's Telegram user id
    notified_on: date  # Beijing date of the notice
    liaisons: Sequence[int]  # Telegram user ids of the inspector's department's liaisons
    reminded_on: date | None = None
    escalated: bool = False


def remind_key(task_id: int, inspector_id: int) -> str:
    return f"draw:{task_id}:ackrem:{inspector_id}"


def escalate_prefix(task_id: int, inspector_id: int) -> str:
    """What the keys of one notice's escalations (one per liaison) start with."""
    return f"draw:{task_id}:ackesc:{inspector_id}:"


def escalate_key(task_id: int, inspector_id: int, user: int) -> str:
    return f"{escalate_prefix(task_id, inspector_id)}{user}"


def ack_plan(
    waiting: Waiting,
    *,
    at: time,
    escalate_working_days: int,
    calendar: WorkCalendar,
    tz: tzinfo,
) -> list[Planned]:
    """The reminder and the liaisons' escalation one waiting notice calls for. The keys are
    the outbox keys the draw used before the engine, so a slot keeps its name."""
    w = waiting
    payload = {"task": w.task_id, "inspector": w.inspector_id}
    remind_on = calendar.add_workdays(w.notified_on, 1)
    found: list[Planned] = []
    if w.reminded_on is None:
        found.append(
            Planned(
                remind_key(w.task_id, w.inspector_id),
                REMIND,
                w.user,
                datetime.combine(remind_on, at, tzinfo=tz),
                None,
                payload,
            )
        )
    if w.escalated:
        return found
    base = w.reminded_on or remind_on
    escalate_at = datetime.combine(
        calendar.add_workdays(base, escalate_working_days), at, tzinfo=tz
    )
    for uid in sorted(set(w.liaisons)):
        found.append(
            Planned(
                escalate_key(w.task_id, w.inspector_id, uid),
                ESCALATE,
                uid,
                escalate_at,
                None,
                payload,
            )
        )
    return found
