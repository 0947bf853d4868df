"""Replacing an inspector on an object: a fresh draw from the recorded rules and seed (回避) or
the liaison's choice (/swap); the replacement and the liaisons are told."""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from bot import clock
from bot.domain import draw as rules
from bot.domain import draw_audit as chain_rules
from bot.features.draw.notices import send_notices
from bot.features.draw.views import notice_view
from bot.render import split_html
from bot.services import Services
from bot.store import audit, outbox
from bot.store import draw as store
from bot.store import onboarding as onboarding_store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task


async def replace(
    conn: Conn,
    svc: Services,
    task: Task,
    old: store.Assignment,
    *,
    kind: str,
    reason: str,
    actor: int,
    new_cert: str | None = None,
) -> store.InspectorRow:
    """Replace `old` on its object: a fresh draw from the recorded rules and seed (conflict) or
    the liaison's choice (swap). Raises DrawError when nobody eligible is left."""
    record = await store.record(conn, task.id)
    assert record is not None
    recorded = rules.from_canonical(record.inputs_text)
    inputs = recorded
    certs = {i.certificate_no for i in inputs.inspectors}
    live = await store.conflicts_of(conn, certs | {old.certificate_no})
    # Someone who left since the draw (directory 状态) is never drawn as a replacement.
    left = await onboarding_store.inactive_certificates(conn, certs)
    inspectors = tuple(
        dataclasses.replace(i, active=False) if i.certificate_no in left else i
        for i in inputs.inspectors
    )
    inputs = rules.DrawInputs(
        **{**inputs.__dict__, "conflicts": inputs.conflicts | live, "inspectors": inspectors}
    )
    current = await store.assignments(conn, task.id)
    team = [a.certificate_no for a in current if a.seq == old.seq]
    counter = await store.replacements_so_far(conn, task.id) + 1
    if new_cert is None:
        loads: dict[str, int] = defaultdict(int)
        for a in current:
            loads[a.certificate_no] += 1
        excluded = await store.replaced_out(conn, task.id, old.seq)
        new_cert = rules.replacement(
            inputs,
            record.seed or f"task{task.id}",
            counter,
            old.department_code,
            old.credit_code,
            team,
            loads,
            excluded,
        )
    else:
        dept = next((d for d in inputs.departments if d.code == old.department_code), None)
        allowed = {i.certificate_no for i in rules.eligible(inputs, dept)} if dept else set()
        if (
            new_cert not in allowed
            or new_cert in team
            or (new_cert, old.credit_code) in inputs.conflicts
        ):
            raise rules.DrawError(
                f"执法证号 {new_cert} 不符合条件（须为同一部门、在岗、证件在检查期内有效、"
                "未申请回避且不在该对象的检查组中）。"
            )
    found = await store.inspectors_by_cert(conn, [new_cert])
    new = found[new_cert]
    recorded_conflicts = {c for c, code in recorded.conflicts if code == old.credit_code}
    entry = await store.append_change(
        conn,
        task.id,
        chain_rules.Change(
            kind=kind,
            seq=old.seq,
            credit_code=old.credit_code,
            department=old.department_code,
            old=old.certificate_no,
            new=new_cert,
            reason=reason,
            actor=actor,
            at=clock.now_db(),
            conflicts=tuple(
                sorted(
                    c
                    for c, code in inputs.conflicts
                    if code == old.credit_code and c not in recorded_conflicts
                )
            ),
        ),
    )
    await store.replace(conn, old, task.id, new.id, kind, reason)
    await audit.record(
        conn,
        actor=actor,
        action=f"draw.{kind}",
        entity="task",
        entity_id=task.id,
        detail={
            "seq": old.seq,
            "credit_code": old.credit_code,
            "old": old.certificate_no,
            "new": new_cert,
            "reason": reason,
            "counter": counter,
            "chain_head": entry.hash,
        },
    )
    await send_notices(conn, svc, task, [new.id], key=f":{kind}:{counter}")
    await tell_removed(conn, svc, task, old, kind=kind, reason=reason, counter=counter)
    names = await task_store.department_names(conn)
    users = await task_store.liaisons(conn, {task.lead_department, old.department_code})
    rendered = svc.renderer.message(
        "draw/replaced.j2",
        task=task,
        kind=kind,
        seq=old.seq,
        credit_code=old.credit_code,
        old=old,
        new=new,
        reason=reason,
        department=names.get(old.department_code, old.department_code),
        entry=entry,
    )
    for uid in sorted({u for us in users.values() for u in us}):
        await outbox.enqueue(conn, uid, rendered, dedup_key=f"draw:{task.id}:repl:{counter}:{uid}")
    return new


async def tell_removed(
    conn: Conn,
    svc: Services,
    task: Task,
    old: store.Assignment,
    *,
    kind: str,
    reason: str,
    counter: int,
) -> None:
    """The inspector taken off an object: told why when a liaison swapped them (/swap), and
    their task notice updated (edited in place, or sent again when it no longer fits one
    message) so it lists only the enterprises they still hold."""
    if old.tg_user_id is None:
        return
    view = await notice_view(conn, task, old.inspector_id)
    if kind == "swap":
        found = (await store.objects(conn, [old.credit_code])).get(old.credit_code)
        await outbox.enqueue(
            conn,
            old.tg_user_id,
            svc.renderer.message(
                "draw/swapped_out.j2",
                task=task,
                seq=old.seq,
                credit_code=old.credit_code,
                object=found,
                reason=reason,
                remaining=view["total"],
            ),
            dedup_key=f"draw:{task.id}:out:{counter}",
        )
    of = await store.notice_message(conn, task.id, old.inspector_id)
    if of is None:
        return
    if view["total"]:
        rendered = svc.renderer.message("draw/notice.j2", **view)
    else:
        rendered = svc.renderer.message("draw/notice_withdrawn.j2", task=task)
    if len(split_html(rendered.text)) == 1:
        await outbox.enqueue_edit(
            conn, of, rendered, dedup_key=f"draw:{task.id}:notice-edit:{old.inspector_id}:{counter}"
        )
    else:
        await outbox.enqueue(
            conn,
            old.tg_user_id,
            rendered,
            dedup_key=f"draw:{task.id}:notice:{old.inspector_id}:{kind}:{counter}",
        )
