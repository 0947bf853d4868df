"""/review: the liaison approves (已公示) or returns (审核退回, with a typed reason: prompt
results.return) entries on `rv:…` buttons; returned entries are told through the outbox."""

from __future__ import annotations

from telegram import Update

from bot import conversation
from bot.callbacks import Pressed
from bot.domain import results as rules
from bot.domain.results import ResultState
from bot.domain.roles import Identity, Role
from bot.features.common import (
    Context,
    command,
    pressed,
    reply,
    stale,
)
from bot.features.results.board import board
from bot.features.results.stage import advance
from bot.features.results.views import entry_view, task_arg, typed
from bot.services import Services, services
from bot.store import audit, outbox
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.prompts import Prompt
from bot.store.tasks import Conn


@command("review")
async def review_command(update: Update, context: Context, identity: Identity) -> None:
    found = await task_arg(update, context, identity)
    if found is None:
        return
    task, b = found
    svc = services(context)
    mine = [
        r
        for r in b.results.values()
        if r.department_code in identity.liaison_departments and r.state is ResultState.PENDING
    ]
    async with svc.db.transaction() as conn:
        views = [await entry_view(conn, svc, task, b, r) for r in mine]
    await reply(update, context, "results/review.j2", task=task, entries=views)


@pressed("rv", Role.LIAISON, parts=2, numbers=(1,))
async def review_button(
    update: Update, context: Context, identity: Identity, press: Pressed
) -> None:
    """`rv:p:<result>` approves, `rv:r:<result>` returns (then the typed reason),
    `rv:a:<task>` approves all of this liaison's pending entries."""
    query = update.callback_query
    assert query is not None
    action, ident = press.text(0), press.number(1)
    if action not in ("p", "r", "a"):
        await stale(update, context, "malformed")
        return
    if action == "a":
        await _review_all(update, context, identity, ident)
        return
    if action == "r":
        svc = services(context)
        async with svc.db.transaction() as conn:
            result = await store.by_id(conn, ident)
            ok = result is not None and result.department_code in identity.liaison_departments
            if not ok:
                await audit.record(
                    conn,
                    actor=identity.tg_user_id,
                    action="results.return",
                    entity="result",
                    entity_id=ident,
                    outcome="refused",
                    detail={"reason": "other_department" if result else "no_result"},
                )
        await query.answer()
        if not ok:
            await reply(update, context, "results/ask.j2", kind="forbidden")
            return
        await conversation.ask(
            context,
            identity.tg_user_id,
            identity.tg_user_id,
            "results.return",
            {"r": ident},
            lambda: reply(update, context, "results/ask.j2", kind="return"),
        )
        return
    await query.answer()
    await _review_one(update, context, identity, ident, True)


async def _publish(
    conn: Conn, svc: Services, identity: Identity, result: store.Result
) -> tuple[str, store.Result | None]:
    """Approve one entry; 'needs_measure' if 发现问题待后续处理 has no follow-up measure yet."""
    cats = await store.categories(conn)
    if (
        rules.needs_followup(result.categories, [c.code for c in cats if c.needs_followup])
        and result.followup is None
    ):
        return "needs_measure", result
    saved = await store.review(conn, result, ResultState.PUBLISHED, identity.tg_user_id)
    if saved is None:
        return "changed", result
    await audit.record(
        conn,
        actor=identity.tg_user_id,
        action="results.publish",
        entity="result",
        entity_id=result.id,
    )
    return "published", saved


async def _review_one(
    update: Update,
    context: Context,
    identity: Identity,
    result_id: int,
    approve: bool,
    *,
    reason: str = "",
) -> None:
    svc = services(context)
    async with svc.db.transaction() as conn:
        result = await store.by_id(conn, result_id)
        outcome = "forbidden"
        task = await task_store.load(conn, result.task_id) if result else None
        if result is not None and task is not None:
            if result.department_code not in identity.liaison_departments:
                outcome = "forbidden"
            elif result.state is not ResultState.PENDING:
                outcome = "not_pending"
            elif approve:
                outcome, _ = await _publish(conn, svc, identity, result)
                if outcome == "published":
                    await advance(conn, svc, task, identity.tg_user_id)
            else:
                saved = await store.review(
                    conn, result, ResultState.RETURNED, identity.tg_user_id, reason
                )
                outcome = "changed" if saved is None else "returned"
                if saved is not None:
                    b = await board(conn, task)
                    view = await entry_view(conn, svc, task, b, saved)
                    await outbox.enqueue(
                        conn,
                        result.entered_by,
                        svc.renderer.message("results/returned.j2", reason=reason, **view),
                        dedup_key=f"results:returned:{result.id}:{saved.version}",
                    )
                    await audit.record(
                        conn,
                        actor=identity.tg_user_id,
                        action="results.return",
                        entity="result",
                        entity_id=result.id,
                        detail={"reason": reason},
                    )
        if outcome == "forbidden":  # another department's entry (or none): refused, audited
            await audit.record(
                conn,
                actor=identity.tg_user_id,
                action="results.publish" if approve else "results.return",
                entity="result",
                entity_id=result_id,
                outcome="refused",
                detail={"reason": "other_department" if result else "no_result"},
            )
    await reply(update, context, "results/reviewed.j2", outcome=outcome, result=result)


async def _review_all(update: Update, context: Context, identity: Identity, task_id: int) -> None:
    query = update.callback_query
    assert query is not None
    svc = services(context)
    published = held = 0
    async with svc.db.transaction() as conn:
        task = await task_store.load(conn, task_id)
        if task is not None:
            for result in await store.of_task(conn, task_id):
                if (
                    result.department_code in identity.liaison_departments
                    and result.state is ResultState.PENDING
                ):
                    outcome, _ = await _publish(conn, svc, identity, result)
                    published += outcome == "published"
                    held += outcome == "needs_measure"
            if published:
                await advance(conn, svc, task, identity.tg_user_id)
    await query.answer()
    await reply(update, context, "results/reviewed.j2", outcome="batch", published=published,
                held=held, result=None)  # fmt: skip


@typed
async def take_return(
    update: Update, context: Context, identity: Identity, prompt: Prompt, text: str
) -> None:
    """The reason typed after 退回 (prompt kind results.return)."""
    await _review_one(update, context, identity, int(prompt.target["r"]), False, reason=text)
