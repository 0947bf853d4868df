"""/verify <task> [文件]: re-run the recorded draw, replay its later changes along their hash
chain and compare the outcome with the rows notices, lists and results are built from
(bot/domain/draw_audit.py); with 文件 (or `file`), also the export that `python -m bot
verify-draw --file` verifies alone."""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from typing import Any

from telegram import Update
from telegram.constants import ChatType

from bot import clock
from bot.domain import draw_audit as chain_rules
from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.draw.helpers import task_arg
from bot.services import services
from bot.store import audit, chats
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn

FINDINGS_SHOWN = 20
EXPORT_WORDS = ("文件", "导出", "file", "export")


@dataclass(frozen=True)
class Loaded:
    """Everything verification reads from the database, read in one transaction."""

    record: store.Record
    rows: chain_rules.Rows
    chain: list[chain_rules.Entry] | None
    history: list[chain_rules.Change]
    enterprises: dict[str, str]
    inspectors: dict[str, str]
    departments: dict[str, str]
    chain_required: bool  # drawn after migration 0013 (chains) was applied

    def export(self) -> bytes:
        return chain_rules.export(
            self.record,
            self.rows,
            chain=self.chain,
            history=self.history,
            enterprises=self.enterprises,
            inspectors=self.inspectors,
            exported_at=clock.now_db(),
            chain_required=self.chain_required,
        )


async def load(conn: Conn, task_id: int) -> Loaded | None:
    record = await store.record(conn, task_id)
    if record is None:
        return None
    entries = await store.chain(conn, task_id)
    enterprises, inspectors = await store.names(conn, record)
    return Loaded(
        record=record,
        rows=await store.acted_rows(conn, task_id),
        chain=entries,
        history=await store.history(conn, task_id) if entries is None else [],
        enterprises=enterprises,
        inspectors=inspectors,
        departments=await task_store.department_names(conn),
        chain_required=await store.chain_required(conn, record),
    )


async def run_audit(loaded: Loaded) -> chain_rules.Audit:
    """Verify in a worker thread (outside any transaction: the database stays free for
    everyone else while the draw is re-run)."""
    return await asyncio.to_thread(
        chain_rules.audit,
        loaded.record,
        loaded.rows,
        chain=loaded.chain,
        history=loaded.history,
        chain_required=loaded.chain_required,
    )


def view(
    task_id: int,
    record: chain_rules.Record | None,
    outcome: chain_rules.Audit | None,
    *,
    enterprises: dict[str, str] | None = None,
    inspectors: dict[str, str] | None = None,
    departments: dict[str, str] | None = None,
    exported_at: str | None = None,
) -> dict[str, Any]:
    """The context of draw/verify.j2."""
    findings = list(outcome.findings) if outcome else []
    return dict(
        task_id=task_id,
        record=record,
        a=outcome,
        v=outcome.verification if outcome else None,
        findings=findings[:FINDINGS_SHOWN],
        more=max(0, len(findings) - FINDINGS_SHOWN),
        ent=enterprises or {},
        ppl=inspectors or {},
        depts=departments or {},
        exported_at=exported_at,
    )


async def verify_task(
    conn: Conn, task_id: int
) -> tuple[store.Record | None, chain_rules.Audit | None]:
    loaded = await load(conn, task_id)
    if loaded is None:
        return None, None
    return loaded.record, await run_audit(loaded)


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
    args = context.args or []
    wants_file = len(args) > 1 and args[1].strip().lower() in EXPORT_WORDS
    svc = services(context)
    async with svc.db.transaction() as conn:
        loaded = await load(conn, task.id)
    outcome = await run_audit(loaded) if loaded is not None else None
    async with svc.db.transaction() as conn:
        await audit.record(
            conn,
            actor=identity.tg_user_id,
            action="draw.verify",
            entity="task",
            entity_id=task.id,
            detail={
                "identical": outcome.identical if outcome else None,
                "findings": [f.key for f in outcome.findings][:FINDINGS_SHOWN] if outcome else [],
                "chain_head": outcome.head if outcome else None,
                "export": wants_file and loaded is not None,
            },
        )
    context_ = view(
        task.id,
        loaded.record if loaded else None,
        outcome,
        enterprises=loaded.enterprises if loaded else None,
        inspectors=loaded.inspectors if loaded else None,
        departments=loaded.departments if loaded else None,
    )
    await reply(update, context, "draw/verify.j2", **context_)
    if wants_file and loaded is not None:
        await context.bot.send_document(
            chat.id,
            document=io.BytesIO(loaded.export()),
            filename=f"抽取复核_任务{task.id}.json",
            caption=svc.renderer.text("draw/export_caption.j2", task_id=task.id),
            parse_mode="HTML",
        )
