"""Verification end to end (issue 14, parts 1 and 3): /verify and `python -m bot verify-draw`
report tampered draw rows and chain entries by name; an exported draw verifies alone on a fresh
machine; a draw from before the chain still verifies; the platform import applies the draw's
rules. The real Application against the fake Bot API, the CLI as a user runs it."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot import __main__ as cli
from tests import test_draw as base
from tests.fakeapi import FakeBotApi
from tests.outbox_support import add_department, db_of, sender_of, until
from tests.test_draw import CODES, GROUP, LEAD, county, notice_of, say

api = base.api  # the fixtures of test_draw.py: its county, its fixed Monday 10:00
fixed_clock = base.fixed_clock

EXTRA = "910000000000000099"


@pytest.fixture
def run_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """`python -m bot …` in a worker thread (it runs its own event loop); (exit code, stdout)."""
    root = logging.getLogger()  # main() sets up logging: keep pytest's handlers afterwards
    monkeypatch.setattr(root, "handlers", list(root.handlers))
    monkeypatch.setattr(root, "level", root.level)

    async def run(db: Path, *argv: str) -> tuple[int, str]:
        monkeypatch.setenv("BOT_DB", str(db))
        capsys.readouterr()
        code = await asyncio.to_thread(cli.main, list(argv))
        return code, capsys.readouterr().out

    return run


async def verify(api: FakeBotApi) -> str:
    [answer] = await say(api, LEAD, "/verify 1")
    return answer.text


async def add_substitute(app: Any) -> None:
    db = db_of(app)
    now = "2026-11-30T02:00:00Z"
    await db.execute(
        "INSERT INTO objects (credit_code, name, industry, address, risk_class, status,"
        " created_at, updated_at) VALUES (?, '替换养老院', '网吧', '别处', 'D', '在业', ?, ?)",
        (EXTRA, now, now),
    )


async def cert_on(app: Any, seq: int, dept: str) -> str:
    row = await db_of(app).fetchone(
        "SELECT i.certificate_no FROM draw_assignments a JOIN inspectors i"
        " ON i.id = a.inspector_id WHERE a.seq = ? AND a.department_code = ?"
        " AND a.replaced_at IS NULL",
        (seq, dept),
    )
    assert row is not None
    return str(row[0])


async def swap(api: FakeBotApi, app: Any, seq: int, reason: str) -> tuple[str, str]:
    old = await cert_on(app, seq, "MZJ")
    new = "MZ002" if old == "MZ001" else "MZ001"
    await say(api, LEAD, f"/swap 1 {seq} {old} {new} {reason}")
    await sender_of(app).idle()
    return old, new


async def test_tampered_rows_are_named_by_verify_and_the_cli(
    api: FakeBotApi, tmp_path: Path, run_cli: Any
) -> None:
    async with county(api, tmp_path) as app:
        await add_substitute(app)
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        text = await verify(api)
        assert "✅ 结果一致" in text and "后续变更：0 项" in text
        assert "人员分配第 2 版：逐个对象随机组队" in text  # new draws use random teams
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 0 and "✅ 结果一致" in out

        # one drawn enterprise's credit code changed in the database file: /notice would
        # print the substitute, verification names it
        db = db_of(app)
        await db.execute("UPDATE draw_objects SET credit_code = ? WHERE seq = 2", (EXTRA,))
        [notice] = await say(api, LEAD, "/notice 1 2")
        assert notice.document is not None and "替换养老院" in notice.document.content.decode(
            "utf-8-sig"
        )
        named = (
            f"对象 2（{CODES[1]} 幸福养老院1）：应为统一社会信用代码 {CODES[1]}，"
            f"记录中是 {EXTRA}（替换养老院）"
        )
        text = await verify(api)
        assert "❌ 结果不一致（1 处）" in text and named in text
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 1 and named in out
        await db.execute("UPDATE draw_objects SET credit_code = ? WHERE seq = 2", (CODES[1],))

        # an assignment's inspector changed
        old = await cert_on(app, 1, "MZJ")
        new = "MZ002" if old == "MZ001" else "MZ001"
        names = {"MZ001": "民政甲", "MZ002": "民政乙"}
        await db.execute(
            "UPDATE draw_assignments SET inspector_id ="
            " (SELECT id FROM inspectors WHERE certificate_no = ?)"
            " WHERE seq = 1 AND department_code = 'MZJ'",
            (new,),
        )
        where = f"对象 1（{CODES[0]} 幸福养老院0）："
        missing = f"{where}检查人员应有 {names[old]} {old}（县民政局），记录中没有"
        extra = f"{where}记录中的检查人员 {names[new]} {new}（县民政局）不在复核结果中"
        text = await verify(api)
        assert "❌ 结果不一致（2 处）" in text and missing in text and extra in text
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 1 and f"• {missing}\n• {extra}\n" in out  # one difference a line


async def test_tampered_chain_entries_are_detected(
    api: FakeBotApi, tmp_path: Path, run_cli: Any
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        await swap(api, app, 1, "借调外出")
        await swap(api, app, 2, "外出培训")
        text = await verify(api)
        assert "✅ 结果一致" in text and "后续变更：2 项" in text
        db = db_of(app)
        rows = await db.fetchall("SELECT n, content FROM draw_chain WHERE task_id = 1 ORDER BY n")
        assert [r[0] for r in rows] == [0, 1, 2]
        first = json.loads(rows[1][1])
        assert first["kind"] == "swap" and first["reason"] == "借调外出" and first["actor"] == LEAD
        # the liaisons keep each head outside the database: the replacement message carries it
        head = await db.fetchone("SELECT chain_head FROM draws WHERE task_id = 1")
        assert head is not None
        told = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "已记入变更链第 2 项" in m.text]
        )
        assert head[0] in told[-1].text and f"变更链末项哈希：{head[0]}" in text

        # an edited entry (its reason)
        await db.execute(
            "UPDATE draw_chain SET content = ? WHERE task_id = 1 AND n = 1",
            (rows[1][1].replace("借调外出", "另有任务"),),
        )
        text = await verify(api)
        assert "❌ 结果不一致" in text and "变更链第 1 项的内容与其哈希不符：该项被改动" in text
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 1 and "变更链第 1 项的内容与其哈希不符" in out
        await db.execute(
            "UPDATE draw_chain SET content = ? WHERE task_id = 1 AND n = 1", (rows[1][1],)
        )
        assert "✅ 结果一致" in await verify(api)

        # a removed entry in the middle: the link breaks, and object 1's rows no longer match
        saved = await db.fetchone("SELECT * FROM draw_chain WHERE task_id = 1 AND n = 1")
        assert saved is not None
        await db.execute("DELETE FROM draw_chain WHERE task_id = 1 AND n = 1")
        text = await verify(api)
        assert "变更链第 1 项缺失或编号不连续" in text
        assert "变更链第 2 项的前项哈希与上一项不符" in text
        assert f"对象 1（{CODES[0]} 幸福养老院0）：记录中的检查人员" in text
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 1 and "变更链第 2 项的前项哈希与上一项不符" in out
        await db.execute(
            "INSERT INTO draw_chain (task_id, n, prev_hash, hash, content, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            tuple(saved),
        )

        # the last entry removed: it no longer matches the head recorded with the draw
        await db.execute("DELETE FROM draw_chain WHERE task_id = 1 AND n = 2")
        text = await verify(api)
        assert "变更链止于第 1 项，与抽取记录中的末项哈希不符" in text
        assert f"对象 2（{CODES[1]} 幸福养老院1）：记录中的检查人员" in text
        code, out = await run_cli(tmp_path / "d.sqlite3", "verify-draw", "1")
        assert code == 1 and "末尾的变更被删除或改动" in out


async def test_an_exported_draw_verifies_on_a_fresh_machine(
    api: FakeBotApi, tmp_path: Path, run_cli: Any
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        old, new = await swap(api, app, 3, "借调外出")
        before = api.sent_total(GROUP)
        api.send_text(LEAD, "/verify 1 文件", GROUP)
        await api.wait_for_messages(GROUP, before + 2)
        answer, document = api.chat_messages(GROUP)[-2:]
        assert "✅ 结果一致" in answer.text and document.document is not None
        assert document.document.file_name == "抽取复核_任务1.json"
        assert "verify-draw --file" in document.text
        exported = tmp_path / "elsewhere" / "draw.json"
        exported.parent.mkdir()
        exported.write_bytes(document.document.content)

    # another machine: no bot, an empty folder, a database that does not exist
    fresh = tmp_path / "reviewer" / "none.sqlite3"
    fresh.parent.mkdir()
    code, out = await run_cli(fresh, "verify-draw", "--file", str(exported))
    assert code == 0 and "✅ 结果一致" in out and "依据导出文件" in out
    assert "后续变更：1 项" in out and not fresh.exists()

    doc = json.loads(exported.read_bytes())
    for row in doc["rows"]["assignments"]:
        if row[0] == 3 and row[1] == "MZJ":
            row[2] = old  # the swap undone in the rows only
    forged = tmp_path / "elsewhere" / "forged.json"
    forged.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    code, out = await run_cli(fresh, "verify-draw", "--file", str(forged))
    assert code == 1 and f"对象 3（{CODES[2]} 幸福养老院2）：检查人员应有" in out and new in out
    code, out = await run_cli(fresh, "verify-draw", "--file", str(tmp_path / "elsewhere"))
    assert code == 2


async def test_the_groups_xlsx_carries_a_verifiable_export(
    api: FakeBotApi, tmp_path: Path, run_cli: Any
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        [sheet] = [m for m in api.chat_messages(GROUP) if m.document is not None]
        assert sheet.document is not None and "复核数据" in sheet.text
        listed = tmp_path / "抽取结果_任务1.xlsx"
        listed.write_bytes(sheet.document.content)
        workbook = load_workbook(listed, read_only=True)
        assert workbook.sheetnames == ["抽取结果", "复核数据"]
        workbook.close()
    code, out = await run_cli(tmp_path / "none.sqlite3", "verify-draw", "--file", str(listed))
    assert code == 0 and "✅ 结果一致" in out and "后续变更：0 项" in out
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"PK not really a workbook")
    code, _ = await run_cli(tmp_path / "none.sqlite3", "verify-draw", "--file", str(broken))
    assert code == 2


async def test_export_draw_cli_writes_the_same_file(
    api: FakeBotApi, tmp_path: Path, run_cli: Any
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        out_path = tmp_path / "out.json"
        code, out = await run_cli(
            tmp_path / "d.sqlite3", "export-draw", "1", "--out", str(out_path)
        )
        assert code == 0 and out_path.exists()
        code, out = await run_cli(tmp_path / "none.sqlite3", "verify-draw", "--file", str(out_path))
        assert code == 0 and "✅ 结果一致" in out


async def test_a_draw_from_before_the_chain_still_verifies(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        await swap(api, app, 1, "借调外出")
        db = db_of(app)
        # a chain removed from a draw made after chains existed is not mistaken for an old draw
        await db.execute("DELETE FROM draw_chain")
        text = await verify(api)
        assert "❌ 结果不一致" in text and "变更链缺失" in text
        await db.execute("UPDATE draws SET chain_head = NULL")
        assert "变更链缺失" in await verify(api)  # drawn after migration 0013 was applied
        # the database as the version before migration 0013 left it: the draw is older than
        # the migration, no chain, no head
        await db.execute(
            "UPDATE schema_migrations SET applied_at = '2026-11-30T03:00:00Z' WHERE version = 13"
        )
        text = await verify(api)
        assert "✅ 结果一致" in text and "后续变更：1 项。此抽取记录于变更链启用之前" in text
        # its replaced rows are the history replayed: tampering with them is still seen
        await db.execute(
            "UPDATE draw_assignments SET replace_reason = '改过' WHERE replaced_at IS NOT NULL"
        )
        assert "✅ 结果一致" in await verify(api)  # a reason alone is not what people act on
        # the next change seals the earlier history into a chain
        await swap(api, app, 2, "外出培训")
        text = await verify(api)
        assert "✅ 结果一致" in text and "后续变更：2 项" in text
        assert "其中 1 项发生在变更链启用前" in text
        rows = await db.fetchall("SELECT content FROM draw_chain WHERE task_id = 1 ORDER BY n")
        assert [json.loads(r[0]).get("legacy") for r in rows] == [None, True, False]
        assert json.loads(rows[0][0])["sealed_at"]


async def test_platform_import_applies_the_draw_rules(api: FakeBotApi, tmp_path: Path) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        await db.execute(
            "UPDATE inspectors SET certificate_valid_until = '2025-06-30'"
            " WHERE certificate_no = 'MZ002'"
        )
        await say(api, LEAD, "/drawimport 1")
        bad = (
            "统一社会信用代码,执法证号\n"
            f"{CODES[0]},MZ002、WJ001\n"  # row 2: certificate expired in 2025
            f"{CODES[1]},MZ001\n"  # row 3: one inspector, no 卫健
            f"{CODES[2]},WJ001、WJ002\n"  # row 4: no 民政
        ).encode()
        before = api.sent_total(LEAD)
        api.send_document(LEAD, "平台.csv", bad)
        await api.wait_for_messages(LEAD, before + 1)
        report = api.chat_messages(LEAD)[-1].text
        assert "未导入" in report
        assert (
            "第 2 行：执法证号 MZ002 的执法证有效期至 2025-06-30，未覆盖检查期（至 2026-12-18）"
            in report
        )
        assert "第 3 行：只有 1 名检查人员，每个对象至少 2 名" in report
        assert "第 3 行：缺少参加部门 县卫健委 的检查人员" in report
        assert "第 4 行：缺少参加部门 县民政局 的检查人员" in report
        row = await db.fetchone("SELECT count(*) FROM draws")
        assert row is not None and row[0] == 0
        row = await db.fetchone("SELECT count(*) FROM draw_assignments")
        assert row is not None and row[0] == 0

        good = (
            f"统一社会信用代码,执法证号\n{CODES[0]},MZ001、WJ001\n{CODES[1]},MZ001、WJ002\n"
        ).encode()
        digest = hashlib.sha256(good).hexdigest()
        before = api.sent_total(LEAD)
        api.send_document(LEAD, "平台.csv", good)
        done = await until(
            lambda: [m for m in api.chat_messages(LEAD) if "平台抽取结果导入" in m.text]
        )
        assert f"平台文件 SHA-256：{digest}" in done[-1].text
        assert "对象和检查人员均由省级平台指定" in done[-1].text
        summary = await until(lambda: [m for m in api.chat_messages(GROUP) if "抽取结果" in m.text])
        assert digest in summary[-1].text and "不能重现平台的随机抽取" in summary[-1].text
        await notice_of(api, 4001)
        await sender_of(app).idle()
        text = await verify(api)
        assert "✅ 结果一致" in text and f"平台文件 SHA-256：{digest}" in text
        assert "不能重现平台的随机抽取" in text
        row = await db.fetchone("SELECT file_sha256 FROM draws WHERE task_id = 1")
        assert row is not None and row[0] == digest


async def test_platform_import_names_unknown_foreign_and_unqualified_inspectors(
    api: FakeBotApi, tmp_path: Path
) -> None:
    async with county(api, tmp_path) as app:
        db = db_of(app)
        await add_department(db, "XFJ", "县消防救援大队")
        await db.execute(
            "INSERT INTO inspectors (certificate_no, name, department_code, created_at,"
            " updated_at) VALUES ('XF001', '消防甲', 'XFJ', ?, ?)",
            ("2026-11-30T02:00:00Z", "2026-11-30T02:00:00Z"),
        )
        # item 养老机构安全 names 养老, a specialty of 民政甲 only: as in /draw, only he qualifies
        await db.execute(
            "UPDATE inspectors SET specialties = '养老' WHERE certificate_no = 'MZ001'"
        )
        await db.execute(
            "UPDATE inspectors SET specialties = '食品' WHERE certificate_no = 'MZ002'"
        )
        await say(api, LEAD, "/drawimport 1")
        bad = (
            "统一社会信用代码,执法证号\n"
            f"{CODES[0]},MZ001、WJ001、XF001、ZZ999、MZ001\n"
            f"{CODES[1]},MZ002、WJ002\n"
        ).encode()
        before = api.sent_total(LEAD)
        api.send_document(LEAD, "平台.csv", bad)
        await api.wait_for_messages(LEAD, before + 1)
        report = api.chat_messages(LEAD)[-1].text
        assert "第 2 行：执法证号 XF001 属于县消防救援大队，不是参加部门的执法检查人员" in report
        assert "第 2 行：执法证号 ZZ999 不在执法检查人员名录中" in report
        assert "第 2 行：执法证号 MZ001 填写了两次" in report
        assert "第 3 行：执法证号 MZ002 的人员专业不符（本任务事项要求：养老）" in report
        row = await db.fetchone("SELECT count(*) FROM draws")
        assert row is not None and row[0] == 0
