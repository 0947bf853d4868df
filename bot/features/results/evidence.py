"""Evidence: a photo or document sent in reply to an entry's confirmation is attached to
that entry (handler group -5; anything else falls through)."""

from __future__ import annotations

from telegram import Document, PhotoSize, Update
from telegram.ext import (
    ApplicationHandlerStop,
)

from bot.features.common import Context, identify, reply
from bot.features.results.board import may_touch
from bot.services import services
from bot.store import audit
from bot.store import results as store


async def capture_evidence(update: Update, context: Context) -> None:
    message = update.effective_message
    user = update.effective_user
    chat = update.effective_chat
    if message is None or user is None or chat is None or message.reply_to_message is None:
        return
    file: PhotoSize | Document
    if message.photo:
        kind, file = "photo", message.photo[-1]
        file_name = None
    elif message.document is not None:
        kind, file = "document", message.document
        file_name = message.document.file_name
    else:
        return
    svc = services(context)
    async with svc.db.transaction() as conn:
        result_id = await store.result_of_message(
            conn, chat.id, message.reply_to_message.message_id
        )
    if result_id is None:
        return
    identity = await identify(update, context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        count = 0
        if result is not None and await may_touch(conn, identity, result):
            count = await store.add_evidence(
                conn,
                result_id,
                kind,
                file.file_id,
                file.file_unique_id,
                file_name,
                identity.tg_user_id,
            )
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="results.evidence",
                entity="result",
                entity_id=result_id,
                detail={"kind": kind},
            )
    await reply(update, context, "results/ask.j2", kind="evidence" if count else "forbidden",
                count=count)  # fmt: skip
    raise ApplicationHandlerStop
