"""What the results flows share: an entry's view, the `<task>` argument of /results, /review,
/export and /qr, typed-text prompts, and the verification link and its QR code."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import qrcode
from qrcode.image.pure import PyPNGImage
from telegram import Update

from bot import conversation
from bot.domain import results as rules
from bot.domain.roles import Identity
from bot.features.common import Context, identify, reply
from bot.features.results.board import Board, board, concerned
from bot.services import Services, services
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn, Task

MAX_TEXT_INPUT = 500

TextAnswer = Callable[[Update, Context, Identity, Prompt, str], Awaitable[None]]


def typed(answer: TextAnswer) -> conversation.Handle:
    """A prompt handler for a typed text answer of at most MAX_TEXT_INPUT characters; a longer
    one is refused and the question stays open."""

    async def take(update: Update, context: Context, prompt: Prompt) -> bool:
        message = update.effective_message
        if message is None or not message.text:
            return False
        text = message.text.strip()
        if len(text) > MAX_TEXT_INPUT:
            await reply(update, context, "results/input_problem.j2", limit=MAX_TEXT_INPUT)
            await conversation.again(context, prompt)
            return True
        await answer(update, context, await identify(update, context), prompt, text)
        return True

    return take


async def entry_view(
    conn: Conn, svc: Services, task: Task, b: Board, result: store.Result, *, edited: bool = False
) -> dict[str, Any]:
    cats = {c.code: c for c in await store.categories(conn)}
    methods = {m.code: m.label for m in await store.methods(conn)}
    followup_codes = [c.code for c in cats.values() if c.needs_followup]
    return dict(
        task=task,
        result=result,
        enterprise=b.name_of(result.seq),
        credit_code=b.code_of(result.seq),
        dept=b.names.get(result.department_code, result.department_code),
        labels=[cats[c].label if c in cats else str(c) for c in result.categories],
        method=methods.get(result.method.value, result.method.value),
        state=rules.STATE_LABELS[result.state],
        needs_measure=rules.needs_followup(result.categories, followup_codes)
        and result.followup is None,
        measure=rules.MEASURE_LABELS.get(result.followup) if result.followup else None,
        edited=edited,
    )


async def task_arg(
    update: Update, context: Context, identity: Identity
) -> tuple[Task, Board] | None:
    args = context.args or []
    given = args[0].lstrip("#") if args else ""
    if not given.isdigit():
        await reply(update, context, "results/problem.j2", problem="task_usage", labels={})
        return None
    async with services(context).db.transaction() as conn:
        task = await task_store.load(conn, int(given))
        b = await board(conn, task) if task is not None else None
    if task is None or b is None or not concerned(identity, b):
        await reply(update, context, "results/problem.j2", problem="no_task", given=given,
                    labels={})  # fmt: skip
        return None
    if not b.assignments:
        await reply(update, context, "results/problem.j2", problem="not_drawn", task=task,
                    labels={})  # fmt: skip
        return None
    return task, b


def verify_link(svc: Services, token: str) -> str:
    return f"https://t.me/{svc.bot_username}?start=v_{token}"


def qr_png(link: str) -> bytes:
    buffer = io.BytesIO()
    qrcode.make(link, image_factory=PyPNGImage).save(buffer)
    return buffer.getvalue()
