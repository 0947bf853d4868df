"""Task notices to drawn inspectors (outbox); the liaisons of those who never opened the
bot get fresh invitation links."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from bot import clock
from bot import reminders as engine
from bot.domain import invites as invite_rules
from bot.features.draw.reminders import series
from bot.features.draw.views import notice_view
from bot.services import Services
from bot.store import audit, outbox
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task


async def send_notices(
    conn: Conn, svc: Services, task: Task, inspector_ids: Iterable[int], *, key: str = ""
) -> list[str]:
    """A private notice to each inspector who can be messaged; the liaisons of the others are
    told who, with fresh invitation links; the task's acknowledgement reminders reconciled
    (also dropping those of an inspector just replaced). Returns the names of those
    unreachable."""
    ids = sorted(set(inspector_ids))
    if not ids:
        return []
    rows = await conn.execute_fetchall(
        "SELECT i.id, i.name, i.certificate_no, i.department_code, p.tg_user_id"
        " FROM inspectors i LEFT JOIN people p ON p.id = i.person_id"
        f" WHERE i.id IN ({','.join('?' * len(ids))}) ORDER BY i.department_code, i.certificate_no",
        ids,
    )
    lost: dict[str, list[dict[str, Any]]] = defaultdict(list)
    names: list[str] = []
    for inspector_id, name, cert, dept, tg_user_id in rows:
        await store.add_notice(conn, task.id, inspector_id, tg_user_id is not None)
        if tg_user_id is not None:
            view = await notice_view(conn, task, inspector_id)
            await outbox.enqueue(
                conn,
                tg_user_id,
                svc.renderer.message("draw/notice.j2", **view),
                dedup_key=f"draw:{task.id}:notice:{inspector_id}{key}",
            )
            continue
        code = invite_rules.new_code()
        await conn.execute(
            "INSERT INTO invite_codes (code, role, department_code, inspector_id, created_by,"
            " created_at, expires_at) VALUES (?, 'inspector', ?, ?, 0, ?, ?)",
            (
                code,
                dept,
                inspector_id,
                clock.now_db(),
                clock.to_db(
                    invite_rules.expiry(clock.now(), svc.settings.tunables.invite_ttl_days)
                ),
            ),
        )
        link = invite_rules.deep_link(svc.bot_username, code)
        lost[dept].append({"name": name, "cert": cert, "link": link})
        names.append(name)
    if lost:
        liaisons = await task_store.liaisons(conn, lost)
        dept_names = await task_store.department_names(conn)
        for dept, people in lost.items():
            rendered = svc.renderer.message(
                "draw/unreachable.j2",
                task=task,
                department=dept_names.get(dept, dept),
                people=people,
            )
            for uid in liaisons.get(dept, []):
                await outbox.enqueue(
                    conn, uid, rendered, dedup_key=f"draw:{task.id}:lost:{dept}:{uid}{key}"
                )
        await audit.record(
            conn,
            actor=None,
            action="draw.unreachable",
            entity="task",
            entity_id=task.id,
            detail={d: [p["cert"] for p in ps] for d, ps in lost.items()},
        )
    await engine.reconcile(conn, svc, series(task.id))
    return names
