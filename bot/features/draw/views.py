"""Read models and renderings of a draw: an inspector's task notice, the group's .xlsx list."""

from __future__ import annotations

import io
import zipfile
from collections import defaultdict
from typing import Any

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException

from bot.render import Renderer
from bot.store import draw as store
from bot.store import tasks as task_store
from bot.store.tasks import Conn, Task

NOTICE_OBJECTS = 20  # enterprises listed in one notice (the rest: the group's .xlsx)
PAGE_ENTERPRISES = 5  # enterprises whose buttons (申请回避, 📍 入企登记) one keyboard page shows


_PLAIN: Renderer | None = None


def plain() -> Renderer:
    global _PLAIN
    if _PLAIN is None:
        _PLAIN = Renderer(html=False)
    return _PLAIN


EXPORT_CHUNK = 30_000  # characters per cell (Excel holds at most 32,767)


async def group_list(
    conn: Conn,
    task: Task,
    names: dict[str, str],
    *,
    export: bytes | None = None,
    export_sheet: tuple[str, str] = ("", ""),
) -> bytes:
    """The group's list; with `export` (bot.domain.draw_audit.export), a second sheet carries
    it (`export_sheet`: its title and first-row note) so `verify-draw --file` takes the .xlsx."""
    rows = await store.assignments(conn, task.id)
    details = await store.objects(conn, {a.credit_code for a in rows})
    teams: dict[int, list[store.Assignment]] = defaultdict(list)
    for a in rows:
        teams[a.seq].append(a)
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("抽取结果")
    ws.append(["序号", "统一社会信用代码", "企业名称", "地址", "信用风险分类", "检查人员"])
    for seq in sorted(teams):
        team = teams[seq]
        obj = details.get(team[0].credit_code)
        ws.append(
            [
                seq,
                team[0].credit_code,
                obj["name"] if obj else "",
                obj["address"] if obj else "",
                team[0].risk_class,
                "、".join(
                    f"{a.name}（{names.get(a.department_code, a.department_code)}"
                    f" {a.certificate_no}）"
                    for a in team
                ),
            ]
        )
    if export is not None:
        sheet = wb.create_sheet(export_sheet[0])
        sheet.append([export_sheet[1]])
        text = export.decode("utf-8")
        for i in range(0, len(text), EXPORT_CHUNK):
            sheet.append([text[i : i + EXPORT_CHUNK]])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


def export_in_xlsx(data: bytes) -> bytes | None:
    """The export a group list carries (its second sheet, from the second row), if any."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError):
        return None
    try:
        for sheet in wb.worksheets[1:]:
            parts = [str(row[0]) for row in sheet.iter_rows(min_row=2, values_only=True) if row]
            if parts:
                return "".join(p for p in parts if p != "None").encode("utf-8")
        return None
    finally:
        wb.close()


def pages(total: int) -> int:
    return max(1, -(-total // PAGE_ENTERPRISES))


async def notice_view(conn: Conn, task: Task, inspector_id: int, page: int = 0) -> dict[str, Any]:
    """An inspector's task notice: up to NOTICE_OBJECTS enterprises listed; the buttons of
    every one of their enterprises, PAGE_ENTERPRISES a page (`page` from 0, kept in range)."""
    rows = await store.assignments(conn, task.id)
    mine = sorted({a.seq for a in rows if a.inspector_id == inspector_id})
    names = await task_store.department_names(conn)
    items = store.task_items(task)
    item_names = await task_store.item_names(conn, [c for cs in items.values() for c in cs])
    count = pages(len(mine))
    page = min(max(page, 0), count - 1)
    shown = set(mine[:NOTICE_OBJECTS])
    details = await store.objects(conn, {a.credit_code for a in rows if a.seq in shown})
    enterprises = []
    for seq in mine[:NOTICE_OBJECTS]:
        team = [a for a in rows if a.seq == seq]
        enterprises.append(
            {
                "seq": seq,
                "code": team[0].credit_code,
                "object": details.get(team[0].credit_code),
                "team": [a for a in team if a.inspector_id != inspector_id],
            }
        )
    return dict(
        task=task,
        names=names,
        enterprises=enterprises,
        more=len(mine) - len(enterprises),
        total=len(mine),
        items={d: [item_names.get(c, c) for c in cs] for d, cs in items.items()},
        buttons=mine[page * PAGE_ENTERPRISES : (page + 1) * PAGE_ENTERPRISES],
        page=page,
        pages=count,
        page_size=PAGE_ENTERPRISES,
    )
