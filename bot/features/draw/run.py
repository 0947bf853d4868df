"""/draw <task> [A=5 B=10 …]: the bot's own draw (ratios in percent override [draw] per task)."""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Sequence

from telegram import Update

from bot.domain import draw as rules
from bot.domain.roles import Identity
from bot.domain.tasks import TaskState
from bot.features.common import Context, command, reply
from bot.features.draw.commit import commit
from bot.features.draw.helpers import base_rules, task_arg
from bot.services import Services, services
from bot.store import audit
from bot.store import draw as store
from bot.store.tasks import Task

_RATIO = re.compile(r"^([ABCDabcd])\s*[=:：]\s*(\d+(?:\.\d+)?)%?$")


def _parse_ratios(args: Sequence[str]) -> dict[str, float] | None:
    found: dict[str, float] = {}
    for arg in args:
        match = _RATIO.match(arg.strip())
        if match is None:
            return None
        value = float(match.group(2))
        if not 0 < value <= 100:
            return None
        found[match.group(1).upper()] = value
    return found


@command("draw")
async def draw_command(update: Update, context: Context, identity: Identity) -> None:
    svc = services(context)
    task = await task_arg(update, context, identity, lead=True)
    if task is None:
        return
    overrides = _parse_ratios((context.args or [])[1:])
    if overrides is None:
        await reply(update, context, "draw/usage.j2", problem="ratios")
        return
    if task.state is not TaskState.CONFIRMED:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    base = base_rules(svc)
    chosen = rules.Rules(
        ratios={**base.ratios, **overrides},
        yearly_cap=base.yearly_cap,
        per_department=base.per_department,
        min_per_object=base.min_per_object,
        rotation=base.rotation,
    )
    async with svc.db.transaction() as conn:
        inputs = await store.inputs(conn, task, chosen)
    seed = secrets.token_hex(8)
    try:
        text, result = await asyncio.to_thread(_run, inputs, seed)
    except rules.DrawError as exc:
        await _record_failure(svc, identity, task, str(exc))
        await reply(update, context, "draw/problem.j2", task=task, message=str(exc))
        return
    done = await commit(svc, identity, task, "bot", seed, text, result)
    if done is None:
        await reply(update, context, "draw/usage.j2", problem="state", task=task)
        return
    await reply(update, context, "draw/done.j2", **done)


def _run(inputs: rules.DrawInputs, seed: str) -> tuple[str, rules.DrawResult]:
    return rules.canonical(inputs), rules.draw(inputs, seed)


async def _record_failure(svc: Services, identity: Identity, task: Task, message: str) -> None:
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.run",
            entity="task",
            entity_id=task.id,
            outcome="failed",
            detail={"error": message},
        )
