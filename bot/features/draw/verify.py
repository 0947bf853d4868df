"""/verify <task>: re-run the recorded draw and say whether it is identical."""

from __future__ import annotations

import asyncio

from telegram import Update
from telegram.constants import ChatType

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.draw.helpers import task_arg
from bot.services import services
from bot.store import audit, chats
from bot.store import draw as store
from bot.store.tasks import Conn


async def verify_task(
    conn: Conn, task_id: int
) -> tuple[store.Record | None, rules.Verification | None]:
    record = await store.record(conn, task_id)
    if record is None:
        return None, None
    return record, await verify_record(record)


async def verify_record(record: store.Record) -> rules.Verification:
    """Re-run a recorded draw in a worker thread (outside any transaction: the database stays
    free for everyone else while it runs)."""
    return await asyncio.to_thread(
        rules.verify,
        source=record.source,
        seed=record.seed,
        algorithm=record.algorithm,
        recorded_hash=record.input_hash,
        inputs_text=record.inputs_text,
        result_text=record.result_text,
    )


@command("verify")
async def verify_command(update: Update, context: Context, identity: Identity) -> None:
    """Any registered person, for any task, in private chat or the coordination group only: a
    draw's seed and hash are not for whatever other group the bot is in."""
    chat = update.effective_chat
    assert chat is not None
    if chat.type != ChatType.PRIVATE:
        bound = await chats.coordination_chat(services(context).db)
        if bound is None or int(bound["chat_id"]) != chat.id:
            async with services(context).db.transaction() as conn:
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="command.verify",
                    outcome="refused",
                    detail={"reason": "not_coordination_group", "chat": chat.id},
                )
            await reply(update, context, "draw/verify_where.j2")
            return
    task = await task_arg(update, context, identity, lead=False, anyone=True)
    if task is None:
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        record = await store.record(conn, task.id)
    outcome = await verify_record(record) if record is not None else None
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.verify",
            entity="task",
            entity_id=task.id,
            detail={"identical": outcome.identical if outcome else None},
        )
    await reply(update, context, "draw/verify.j2", task_id=task.id, record=record, v=outcome)
