"""/followup: list open follow-ups, set a measure (整改 with a due date, 移送, 抄告 a department,
told through the outbox) or close one (完结)."""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot import reminders as engine
from bot.domain import results as rules
from bot.domain.results import Measure
from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.results.board import board, today
from bot.features.results.views import entry_view
from bot.services import services
from bot.store import audit, outbox
from bot.store import results as store
from bot.store import tasks as task_store


@command("followup")
async def followup_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    args = context.args or []
    if not args:
        departments = list(identity.liaison_departments)
        if identity.inspector_department:
            departments.append(identity.inspector_department)
        async with svc.db.transaction() as conn:
            found = await store.open_followups(conn, sorted(set(departments)))
            names = await task_store.department_names(conn)
        await reply(update, context, "results/followup.j2", outcome="list", open=found,
                    names=names, measures=rules.MEASURE_LABELS)  # fmt: skip
        return
    parsed = rules.parse_followup(args)
    if isinstance(parsed, rules.FollowupProblem):
        await reply(update, context, "results/followup.j2", outcome=parsed.value)
        return
    outcome = "no_result"
    view: dict[str, Any] = {}
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, parsed.task_id)
        b = await board(conn, task) if task is not None else None
        seq = parsed.obj.seq
        if b is not None and parsed.obj.credit_code:
            seq = b.seq_of(parsed.obj.credit_code)
        dept = b.department_for(identity, seq) if b is not None and seq is not None else None
        result = b.results.get((seq, dept)) if b is not None and seq and dept else None
        if task is None or b is None or result is None:
            outcome = "no_result"
        elif parsed.measure is None:
            if result.followup is None or result.followup is Measure.NONE:
                outcome = "nothing_open"
            else:
                closed = parsed.due or today(svc)
                result = await store.update_fields(
                    conn,
                    result,
                    identity.tg_user_id,
                    "followup_closed",
                    followup_state="closed",
                    followup_closed_on=closed.isoformat(),
                    followup_note=parsed.note,
                )
                outcome = "closed"
        else:
            target = None
            if parsed.measure is Measure.NOTIFY:
                assert parsed.department is not None
                wanted = parsed.department
                target = next(
                    (c for c, n in b.names.items() if wanted in (c, n) or wanted in n), None
                )
            if parsed.measure is Measure.NOTIFY and target is None:
                outcome = "unknown_department"
                view["given"] = parsed.department
            else:
                result = await store.update_fields(
                    conn,
                    result,
                    identity.tg_user_id,
                    "followup",
                    followup=parsed.measure.value,
                    followup_due=parsed.due.isoformat() if parsed.due else None,
                    followup_department=target,
                    followup_state="open",
                    followup_closed_on=None,
                    followup_note=parsed.note,
                )
                outcome = "set"
                if target is not None:
                    entry = await entry_view(conn, svc, task, b, result)
                    liaisons = (await task_store.liaisons(conn, [target])).get(target, [])
                    for uid in liaisons:
                        await outbox.enqueue(
                            conn,
                            uid,
                            svc.renderer.message(
                                "results/notify_department.j2",
                                target=b.names.get(target, target),
                                note=parsed.note,
                                **entry,
                            ),
                            dedup_key=f"results:notify:{result.id}:{target}:{uid}",
                        )
        if outcome in ("set", "closed") and result is not None:
            await engine.reconcile(conn, svc, f"followup:{result.task_id}")
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action=f"results.followup.{outcome}",
                entity="result",
                entity_id=result.id,
            )
            view.update(result=result, names=b.names if b else {})
    await reply(update, context, "results/followup.j2", outcome=outcome,
                measures=rules.MEASURE_LABELS, **view)  # fmt: skip
