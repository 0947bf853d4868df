"""The annual plan end to end: upload through the fake Bot API, replace on re-import, /plan,
/plan export, plan against actual in /stats, the command line, and directory uploads untouched."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import openpyxl

from bot import clock
from tests.conftest import ADMIN_ID, Harness, eventually
from tests.pg_support import cli_on_sqlite
from tests.test_imports_bot import count, run_cli

# No emoji in department names here: /stats draws them in its chart (CJK font only).
DEPARTMENTS = "部门编码,部门名称\nMZJ,县民政局\nSCJG,县市场监管局\nWLJ,县文化和旅游局 <文旅> &\n"
HEADER = "任务名称,行业,牵头部门编码,配合部门编码,抽查比例,开始日期,结束日期\n"
PLAN = (
    HEADER
    + "养老机构联合检查,养老机构,MZJ,SCJG、县文化和旅游局 <文旅> &,5%,2026-03-01,2026-06-30\n"
    '=HYPERLINK("x"),宾馆旅店,SCJG,,0.1,2026-10-01,2026-12-31\n'
    "-负号开头,@餐饮,SCJG,MZJ,5,2026-04-01,2026-04-30\n"
)


async def add_task(h: Harness, industry: str, lead: str, start: str, end: str, state: str) -> int:
    now = "2026-01-01 00:00:00"
    async with h.db.transaction() as conn:
        cursor = await conn.execute(
            "INSERT INTO tasks (industry, lead_department, window_start, window_end,"
            " reply_deadline, deadline_set_at, state, proposed_by, created_at, updated_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
            (industry, lead, start, end, now, now, state, ADMIN_ID, now, now),
        )
        return int((await cursor.fetchone())[0])


async def test_upload_replace_export_and_stats(bot: Harness) -> None:
    h = bot
    await h.import_csv("departments", DEPARTMENTS)
    # bad rows: nothing written, errors by row and column
    bad = (
        HEADER
        + "甲,养老机构,NOPE,,5%,2026-03-01,2026-06-30\n乙,养老机构,MZJ,,0,2026-3-1,2026-2-1\n"
    )
    [_, report] = await h.upload(ADMIN_ID, "计划.csv", bad.encode("gbk"), "计划", expect=2)
    assert "❌" in report.text and "第 2 行「牵头部门编码」" in report.text
    assert "第 3 行「抽查比例」" in report.text and "第 3 行「结束日期」" in report.text
    assert await count(h, "plan_items") == 0

    # dry run: checked, nothing written
    [_, report] = await h.upload(ADMIN_ID, "计划.csv", PLAN.encode(), "计划 试导入", expect=2)
    assert "试导入（未写入）：将替换 2026 年度计划（现有 0 项），共 3 项" in report.text
    assert await count(h, "plan_items") == 0
    # partners by code and by full name (with spaces, < and &)
    [_, report] = await h.upload(ADMIN_ID, "计划.csv", PLAN.encode("utf-8"), "年度计划", expect=2)
    assert "✅" in report.text and "已替换 2026 年度计划，共 3 项" in report.text
    assert await count(h, "plan_items") == 3

    # re-import replaces the year entirely
    one = HEADER + "只剩一项,养老机构,MZJ,,5%,2026-03-01,2026-06-30\n"
    [_, report] = await h.upload(ADMIN_ID, "p.csv", one.encode("gbk"), "计划", expect=2)
    assert "已替换 2026 年度计划，共 1 项" in report.text and "原有 3 项" in report.text
    assert "GBK" in report.text
    assert await count(h, "plan_items") == 1
    [_, report] = await h.upload(ADMIN_ID, "计划.csv", PLAN.encode("utf-8"), "计划", expect=2)
    assert await count(h, "plan_items") == 3

    clock.set_source(lambda: datetime(2026, 6, 15, 2, 0, tzinfo=UTC))
    try:
        [summary] = await h.say(ADMIN_ID, "/plan")
        assert "2026 年度抽查计划" in summary.text and "养老机构联合检查" in summary.text
        assert "县文化和旅游局 <文旅> &" in summary.text

        [doc] = await h.say(ADMIN_ID, "/plan export 2026")
        assert doc.document is not None and doc.document.file_name == "2026年度抽查计划.xlsx"
        sheet = openpyxl.load_workbook(io.BytesIO(doc.document.content)).worksheets[0]
        values = [[c.value for c in row] for row in sheet.iter_rows()]
        assert values[0] == [
            "序号", "任务名称", "行业", "牵头部门", "配合部门", "抽查比例", "开始日期", "结束日期"
        ]  # fmt: skip
        assert values[1] == [
            1,
            "养老机构联合检查",
            "养老机构",
            "县民政局",
            "县市场监管局、县文化和旅游局 <文旅> &",
            "5%",
            "2026-03-01",
            "2026-06-30",
        ]
        assert values[2][1] == '\'=HYPERLINK("x")' and values[2][5] == "10%"
        assert values[3][1] == "'-负号开头" and values[3][2] == "'@餐饮"
        [empty] = await h.say(ADMIN_ID, "/plan export 2030")
        assert "没有" in empty.text

        # plan against actual: a task for the first item, a cancelled one for the second
        task = await add_task(h, "养老机构", "MZJ", "2026-05-01", "2026-05-20", "drawn")
        await add_task(h, "宾馆旅店", "SCJG", "2026-10-10", "2026-10-20", "cancelled")
        [stats, photo] = await h.say(ADMIN_ID, "/stats year", expect=2)
        assert photo.kind == "photo"
        assert "计划 3 项，已开展 1 项，已完成 0 项" in stats.text
        assert f"养老机构联合检查（养老机构，县民政局，03-01至06-30）：#{task} 已抽取" in stats.text
        assert "未开展" in stats.text
        # the quarter: only the items whose window overlaps 2026Q2
        [stats, _] = await h.say(ADMIN_ID, "/stats 2026Q2", expect=2)
        assert "计划 2 项" in stats.text and "HYPERLINK" not in stats.text
        [stats, _] = await h.say(ADMIN_ID, "/stats 2025", expect=2)
        assert "年度抽查计划执行情况" not in stats.text
    finally:
        clock.reset()


async def test_plan_is_for_administrators_and_directories_still_import(bot: Harness) -> None:
    h = bot
    [_, report] = await h.upload(ADMIN_ID, "d.csv", DEPARTMENTS.encode(), "部门", expect=2)
    assert "新增 3" in report.text
    h.api.add_user(7001, "路人")
    [refused] = await h.upload(7001, "p.csv", PLAN.encode(), "计划")
    assert "还没有注册" in refused.text
    # Told once per [flood] stranger_every_seconds (tests/test_flood.py); still refused, audited.
    h.api.send_text(7001, "/plan")
    await eventually(_plan_refused(h), True)
    assert len(h.api.chat_messages(7001)) == 1
    [_, report] = await h.upload(ADMIN_ID, "计划.xls", b"\xd0\xcf\x11\xe0", "计划", expect=2)
    assert "旧版 Excel" in report.text and ".xlsx" in report.text
    [answer] = await h.upload(ADMIN_ID, "计划.numbers", b"whatever", "计划")
    assert ".xlsx" in answer.text and ".ods" in answer.text
    assert await count(h, "plan_items") == 0
    [usage] = await h.say(ADMIN_ID, "/plan nonsense")
    assert "用法" in usage.text


@cli_on_sqlite
def test_cli_import_plan(tmp_path: Path) -> None:
    env = {"BOT_DB": str(tmp_path / "cli.sqlite3")}
    deps = tmp_path / "部门.csv"
    deps.write_text(DEPARTMENTS, encoding="utf-8")
    assert run_cli("import", "departments", str(deps), env=env).returncode == 0
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(HEADER.strip().split(","))
    sheet.append(["养老", "养老机构", "MZJ", "SCJG", 0.05, datetime(2027, 3, 1), "2027-06-30"])
    path = tmp_path / "计划.xlsx"
    book.save(path)
    dry = run_cli("import", "plan", str(path), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "试导入" in dry.stdout and "2027" in dry.stdout
    done = run_cli("import", "计划", str(path), env=env)
    assert done.returncode == 0 and "已替换 2027 年度计划，共 1 项" in done.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "甲,养老机构,MZJ,,5%,2027-03-01,2026-06-30\n", encoding="utf-8")
    failed = run_cli("import", "plan", str(bad), env=env)
    assert failed.returncode == 1 and "第 2 行「结束日期」" in failed.stdout


def _plan_refused(h: Harness) -> Callable[[], Awaitable[bool]]:
    async def probe() -> bool:
        row = await h.db.fetchone(
            "SELECT count(*) FROM audit_log WHERE action = 'command.plan' AND outcome = 'refused'"
        )
        return row is not None and row[0] >= 1

    return probe
