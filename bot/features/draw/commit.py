"""Recording a draw (the bot's or the platform's): task to 已抽取, summary, list and notices
queued in the same transaction."""

from __future__ import annotations

from typing import Any

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.draw import verify
from bot.features.draw.notices import send_notices
from bot.features.draw.views import group_list
from bot.services import Services
from bot.store import audit, outbox
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.tasks import Task


async def commit(
    svc: Services,
    identity: Identity,
    task: Task,
    source: str,
    seed: str,
    inputs_text: str,
    result: rules.DrawResult,
    *,
    file_sha256: str | None = None,
) -> dict[str, Any] | None:
    """Record the draw, move the task to 已抽取 and queue the summary, the list and notices.
    `file_sha256`: the SHA-256 of the provincial platform's file (an imported draw)."""
    certs = {cert for o in result.objects for _, cert in o.inspectors}
    async with svc.db.transaction() as conn:
        if not await task_store.move(conn, task.id, TaskState.CONFIRMED, TaskState.DRAWN):
            return None
        people = await store.inspectors_by_cert(conn, certs)
        ids = {cert: row.id for cert, row in people.items()}
        await store.save(
            conn,
            task.id,
            source=source,
            seed=seed,
            inputs_text=inputs_text,
            result=result,
            actor=identity.tg_user_id,
            ids=ids,
            file_sha256=file_sha256,
        )
        fresh = await task_store.load(conn, task.id)
        assert fresh is not None
        names = await task_store.department_names(conn)
        view = dict(
            task=fresh,
            names=names,
            source=source,
            seed=seed,
            input_hash=rules.input_hash(inputs_text),
            file_sha256=file_sha256,
            strata=result.strata,
            excluded_closed=result.excluded_closed,
            excluded_cap=result.excluded_cap,
            objects=len(result.objects),
            inspectors=len(certs),
        )
        unreachable = await send_notices(conn, svc, fresh, [row.id for row in people.values()])
        view["unreachable"] = unreachable
        group = await task_store.coordination_chat(conn)
        target = group if group is not None else identity.tg_user_id
        await outbox.enqueue(
            conn,
            target,
            svc.renderer.message("draw/summary.j2", **view),
            dedup_key=f"draw:{task.id}:summary",
        )
        loaded = await verify.load(conn, task.id)
        assert loaded is not None
        title, note = svc.renderer.text("draw/export_sheet.j2", task=fresh).splitlines()[:2]
        data = await group_list(
            conn, fresh, names, export=loaded.export(), export_sheet=(title, note)
        )
        await outbox.enqueue_document(
            conn,
            target,
            file_name=f"抽取结果_任务{task.id}.xlsx",
            data=data,
            caption=svc.renderer.text("draw/list_caption.j2", task=fresh, seed=seed),
            dedup_key=f"draw:{task.id}:list",
        )
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.run",
            entity="task",
            entity_id=task.id,
            detail={
                "source": source,
                "seed": seed,
                "algorithm": rules.ALGORITHM_VERSION,
                "input_hash": view["input_hash"],
                "file_sha256": file_sha256,
                "objects": len(result.objects),
                "inspectors": len(certs),
                "strata": [[s.risk_class, s.candidates, s.drawn, s.ratio] for s in result.strata],
                "unreachable": unreachable,
                "from": "confirmed",
                "to": "drawn",
            },
        )
    view["group"] = group
    return view
