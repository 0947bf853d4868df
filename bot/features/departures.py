"""People leave: an inspector marked inactive in a re-imported directory (状态 离岗/调离/退休/
停用 …) is sent nothing from then on and never drawn (bot.store.onboarding.inactive_users,
the draw's inputs), and the liaisons of their department are told, once, which of their
assignments are still open, so they can /swap them. A reminder-engine source: the planner
stamps `inspectors.left_at` (the directory import itself knows nothing of it), the series
`left:<inspector>` plans one message per liaison, kind onboard.left, composed when sent."""

from __future__ import annotations

from datetime import datetime

from bot import clock
from bot import reminders as engine
from bot.domain.reminders import Planned
from bot.services import Services
from bot.store import onboarding as store
from bot.store import reminders as reminder_store
from bot.store import tasks as task_store
from bot.store.onboarding import Conn

PREFIX = "left"
KIND = "onboard.left"


def series(inspector_id: int) -> str:
    return f"{PREFIX}:{inspector_id}"


async def note(conn: Conn, svc: Services, now: datetime) -> None:
    """Planner: stamp who became inactive (and clear who is back) before the sources plan."""
    await store.note_departures(conn)


async def desired(conn: Conn, svc: Services, name: str, now: datetime) -> list[Planned]:
    inspector_id = int(name.partition(":")[2])
    found = await store.departed(conn, inspector_id)
    if not found:
        return []
    person = found[0]
    liaisons = (await task_store.liaisons(conn, [person.department_code])).get(
        person.department_code, []
    )
    due = clock.from_db(person.left_at).astimezone(svc.settings.tz)
    return [
        Planned(
            key=f"{PREFIX}:{inspector_id}:{person.left_at}:{uid}",
            kind=KIND,
            user=uid,
            due=due,
            payload={"inspector": inspector_id},
        )
        for uid in sorted(set(liaisons))
    ]


async def live(conn: Conn, svc: Services, now: datetime) -> list[str]:
    return [series(d.id) for d in await store.departed(conn)]


async def compose(
    conn: Conn, svc: Services, reminder: reminder_store.Reminder, now: datetime
) -> engine.Composed | None:
    inspector_id = int(reminder.payload["inspector"])
    found = await store.departed(conn, inspector_id)
    if not found:
        return None
    assignments = await store.open_assignments(conn, inspector_id)
    if not assignments:
        return None
    names = await task_store.department_names(conn)
    person = found[0]
    return engine.composed(
        svc.renderer.message(
            "onboarding/left_notice.j2",
            person=person,
            department=names.get(person.department_code, person.department_code),
            assignments=assignments,
        )
    )


def register() -> None:
    engine.register_planner("departures", note)
    engine.register_source(PREFIX, desired, live)
    engine.register_kind(KIND, compose, expires_with_purpose=False)
