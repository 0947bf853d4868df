"""/export <task> [csv]: the platform's result sheet (.xlsx or .csv) and the 公示 text."""

from __future__ import annotations

import csv
import io
from typing import Any

from openpyxl import Workbook
from telegram import Update

from bot.domain import results as rules
from bot.domain.results import Measure, ResultState
from bot.domain.roles import Identity
from bot.features.common import Context, command, reply
from bot.features.results.board import board
from bot.features.results.views import task_arg
from bot.services import services
from bot.store import draw as draw_store
from bot.store import results as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task


async def export_rows(conn: Conn, task: Task) -> list[list[Any]]:
    """The published results of a task, one row per object and department, EXPORT_COLUMNS order,
    every text cell neutralised against formula injection."""
    b = await board(conn, task)
    cats = {c.code: c.label for c in await store.categories(conn)}
    methods = {m.code: m.label for m in await store.methods(conn)}
    items = draw_store.task_items(task)
    item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
    title = f"{task.industry}联合检查（#{task.id}）"
    rows: list[list[Any]] = []
    for (seq, dept), r in sorted(b.results.items()):
        if r.state is not ResultState.PUBLISHED:
            continue
        measure = ""
        if r.followup is not None:
            measure = rules.MEASURE_LABELS[r.followup]
            if r.followup_due:
                measure += f"（{r.followup_due.isoformat()} 前）"
            if r.followup_department:
                measure += f"：{b.names.get(r.followup_department, r.followup_department)}"
        state = {"open": "未完结", "closed": "已完结"}.get(r.followup_state or "", "")
        notes = [n for n in (r.note, f"行政指导：{r.guidance}" if r.guidance else "") if n]
        rows.append(
            [
                rules.neutralise(v)
                for v in (
                    len(rows) + 1,
                    title,
                    b.code_of(seq) or "",
                    b.name_of(seq),
                    b.names.get(dept, dept),
                    "、".join(item_names.get(c, c) for c in items.get(dept, [])),
                    methods.get(r.method.value, r.method.value),
                    "；".join(cats.get(c, str(c)) for c in r.categories),
                    r.checked_on.isoformat(),
                    measure or rules.MEASURE_LABELS[Measure.NONE],
                    state,
                    "；".join(notes),
                )
            ]
        )
    return rows


def xlsx_bytes(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "检查结果"
    sheet.append(list(rules.EXPORT_COLUMNS))
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_bytes(rows: list[list[Any]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(rules.EXPORT_COLUMNS)
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8-sig")  # Excel on Chinese Windows reads the BOM


@command("export")
async def export_command(update: Update, context: Context, identity: Identity) -> None:
    found = await task_arg(update, context, identity)
    if found is None:
        return
    task, _ = found
    svc = services(context)
    as_csv = len(context.args or []) > 1 and (context.args or [])[1].lower() == "csv"
    async with svc.db.transaction() as conn:
        rows = await export_rows(conn, task)
    if not rows:
        await reply(update, context, "results/problem.j2", problem="nothing_published",
                    task=task, labels={})  # fmt: skip
        return
    chat = update.effective_chat
    assert chat is not None
    data = csv_bytes(rows) if as_csv else xlsx_bytes(rows)
    await context.bot.send_document(
        chat.id,
        document=io.BytesIO(data),
        filename=f"检查结果_任务{task.id}.{'csv' if as_csv else 'xlsx'}",
        caption=svc.renderer.text("results/export_caption.j2", task=task, count=len(rows)),
    )
    await reply(update, context, "results/publicity.j2", task=task, rows=rows)
