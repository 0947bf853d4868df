"""/qr <task> <no> (the verification link as a QR code) and `/start v_<token>`, what the
enterprise sees: is this inspection genuine?"""

from __future__ import annotations

from typing import Any

from telegram import Update

from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.results.board import ENTRY_STATES, board, local
from bot.features.results.views import qr_png, task_arg, verify_link
from bot.services import services
from bot.store import audit
from bot.store import results as store
from bot.store import tasks as task_store


@command("qr")
async def qr_command(update: Update, context: Context, identity: Identity) -> None:
    found = await task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    args = context.args or []
    seq = int(args[1]) if len(args) > 1 and args[1].isdigit() else None
    if seq is None or seq not in b.seqs:
        await reply(update, context, "results/problem.j2", problem="no_object",
                    given=args[1] if len(args) > 1 else "", task=task, labels={})  # fmt: skip
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        link = verify_link(svc, await store.verify_token(conn, task.id, seq))
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_photo(
        chat.id,
        photo=qr_png(link),
        caption=svc.renderer.text(
            "results/qr_caption.j2", task=task, seq=seq, name=b.name_of(seq), link=link
        ),
    )


async def verify_start(update: Update, context: Context, token: str) -> None:
    """/start v_<token>: what anyone, the enterprise included, sees. No phone numbers or other
    personal data; once the task is done or cancelled it no longer confirms."""
    svc = services(context)
    async with svc.db.transaction() as conn:
        found = await store.by_token(conn, token)
        task = await task_store.load(conn, found[0]) if found else None
        view: dict[str, Any] = {"valid": False, "closed": False}
        if found is not None and task is not None:
            seq = found[1]
            if task.state in ENTRY_STATES:
                b = await board(conn, task)
                checks = await store.checkins(conn, task.id, seq)
                view = {
                    "valid": True,
                    "task": task,
                    "seq": seq,
                    "name": b.name_of(seq),
                    "names": b.names,
                    "departments": b.departments(seq),
                    "team": [
                        {"name": a.name, "cert": a.certificate_no, "dept": a.department_code}
                        for a in b.inspectors(seq)
                    ],
                    "checkins": [local(svc, c.at) for c in checks],
                }
            else:
                view = {"valid": False, "closed": True, "task": task}
        await audit.record(
            conn,
            actor=update.effective_user.id if update.effective_user else None,
            action="results.verify_link",
            entity="task",
            entity_id=task.id if task else None,
            outcome="ok" if view["valid"] else "refused",
        )
    await reply(update, context, "results/verify.j2", **view)
