"""/notice <task> <no>: the one notice to the enterprise (一次告知), a .txt document."""

from __future__ import annotations

import io

from telegram import Update

from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.draw.helpers import task_arg
from bot.features.draw.views import plain
from bot.services import services
from bot.store import audit
from bot.store import draw as store
from bot.store import tasks as task_store


@command("notice")
async def notice_command(update: Update, context: Context, identity: Identity) -> None:
    args = context.args or []
    if len(args) < 2 or not args[1].isdigit():
        await reply(update, context, "draw/usage.j2", problem="notice")
        return
    task = await task_arg(update, context, identity, lead=False)
    if task is None:
        return
    seq = int(args[1])
    svc = services(context)
    async with svc.db.transaction() as conn:
        team = await store.assignments(conn, task.id, seq=seq)
        if not team:
            obj = None
        else:
            obj = (await store.objects(conn, [team[0].credit_code])).get(team[0].credit_code)
        names = await task_store.department_names(conn)
        items = store.task_items(task)
        item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
        if team:
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="draw.enterprise_notice",
                entity="task",
                entity_id=task.id,
                detail={"seq": seq, "credit_code": team[0].credit_code},
            )
    if not team:
        await reply(update, context, "draw/usage.j2", problem="no_object", task=task, seq=seq)
        return
    text = plain().text(
        "draw/enterprise_notice.j2",
        task=task,
        seq=seq,
        code=team[0].credit_code,
        object=obj,
        team=team,
        names=names,
        items={d: [item_names.get(c, c) for c in cs] for d, cs in items.items()},
    )
    chat = update.effective_chat
    assert chat is not None
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(text.replace("\n", "\r\n").encode("utf-8-sig")),
        filename=f"一次告知书_任务{task.id}_对象{seq}.txt",
        caption=svc.renderer.text("draw/notice_caption.j2", task=task, seq=seq, object=obj),
        parse_mode="HTML",
    )
