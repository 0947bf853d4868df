"""行政指导 on a saved entry: the `rs:g:<result>` button, then the typed guidance (prompt
results.guidance)."""

from __future__ import annotations

from telegram import Update

from bot import conversation
from bot.callbacks import Pressed
from bot.domain.roles import Identity, Role
from bot.features.common import (
    Context,
    pressed,
    reply,
    stale,
)
from bot.features.results.board import may_touch
from bot.features.results.views import typed
from bot.services import services
from bot.store import results as store
from bot.store.prompts import Prompt


@pressed("rs", Role.INSPECTOR, Role.LIAISON, parts=2, numbers=(1,))
async def guidance_button(
    update: Update, context: Context, identity: Identity, press: Pressed
) -> None:
    """`rs:g:<result>` under a saved entry: 行政指导, then the typed guidance."""
    query = update.callback_query
    assert query is not None
    if press.text(0) != "g":
        await stale(update, context, "malformed")
        return
    result_id = press.number(1)
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        ok = result is not None and await may_touch(conn, identity, result)
    await query.answer()
    if not ok:
        await reply(update, context, "results/ask.j2", kind="forbidden")
        return
    await conversation.ask(
        context,
        identity.tg_user_id,
        identity.tg_user_id,
        "results.guidance",
        {"r": result_id},
        lambda: reply(update, context, "results/ask.j2", kind="guidance"),
    )


async def _guidance(
    update: Update, context: Context, identity: Identity, result_id: int, text: str
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        if result is None or not await may_touch(conn, identity, result):
            ok = False
        else:
            await store.update_fields(conn, result, identity.tg_user_id, "guidance", guidance=text)
            ok = True
    await reply(update, context, "results/ask.j2", kind="guidance_saved" if ok else "forbidden")


@typed
async def take_guidance(
    update: Update, context: Context, identity: Identity, prompt: Prompt, text: str
) -> None:
    """The guidance typed after 行政指导 (prompt kind results.guidance)."""
    await _guidance(update, context, identity, int(prompt.target["r"]), text)
