"""Directory imports through Telegram uploads and the command line."""

from __future__ import annotations

import dataclasses
import io
import os
import subprocess
import sys
from pathlib import Path

import openpyxl

from bot.domain.credit_code import make_credit_code
from tests.conftest import ADMIN_ID, Harness
from tests.pg_support import cli_on_sqlite
from tests.seed import DEPARTMENTS

ROOT = Path(__file__).resolve().parent.parent

GOOD_A = make_credit_code("91130534MA0000001")
GOOD_B = make_credit_code("91130534MA0000002")


def objects_csv(*rows: str) -> str:
    return "统一社会信用代码,企业名称,行业,信用风险分类\n" + "\n".join(rows) + "\n"


async def count(h: Harness, table: str) -> int:
    row = await h.db.fetchone(f"SELECT count(*) FROM {table}")
    assert row is not None
    return int(row[0])


async def test_upload_with_caption_gbk_and_report(bot: Harness) -> None:
    h = bot
    [_, report] = await h.upload(
        ADMIN_ID, "部门.csv", DEPARTMENTS.encode("utf-8"), "部门", expect=2
    )
    assert "✅" in report.text and "新增 3" in report.text
    # Excel on Chinese Windows saves CSV as GBK
    data = objects_csv(f"{GOOD_A},清河县<阳光>&养老院,养老机构,B", f"{GOOD_B},清河宾馆,宾馆旅店,低")
    [_, report] = await h.upload(ADMIN_ID, "对象.csv", data.encode("gbk"), "对象", expect=2)
    assert "新增 2" in report.text
    row = await h.db.fetchone(
        "SELECT name, risk_class FROM objects WHERE credit_code = ?", (GOOD_A,)
    )
    assert row is not None and tuple(row) == ("清河县<阳光>&养老院", "B")
    # the same file again: nothing changes
    [_, report] = await h.upload(ADMIN_ID, "对象.csv", data.encode("gbk"), "对象", expect=2)
    assert "未变 2" in report.text
    # a changed row in UTF-8 with an emoji is an update
    data = objects_csv(
        f"{GOOD_A},清河县<阳光>&养老院😀,养老机构,B", f"{GOOD_B},清河宾馆,宾馆旅店,低"
    )
    [_, report] = await h.upload(ADMIN_ID, "对象.csv", data.encode("utf-8"), "对象", expect=2)
    assert "更新 1" in report.text and "未变 1" in report.text
    row = await h.db.fetchone("SELECT name FROM objects WHERE credit_code = ?", (GOOD_A,))
    assert row is not None and row[0] == "清河县<阳光>&养老院😀"


async def test_bad_files_change_nothing(bot: Harness) -> None:
    h = bot
    await h.import_csv("departments", DEPARTMENTS)
    bad_code = GOOD_A[:-1] + ("0" if GOOD_A[-1] != "0" else "1")
    data = objects_csv(f"{GOOD_A},甲,养老机构,A", f"{bad_code},乙,养老机构,E", f"{GOOD_A},丙,,A")
    [_, report] = await h.upload(ADMIN_ID, "对象.csv", data.encode("utf-8-sig"), "对象", expect=2)
    assert "❌" in report.text
    assert "第 3 行" in report.text and "统一社会信用代码" in report.text
    assert "第 4 行" in report.text  # the duplicate
    assert await count(h, "objects") == 0

    [_, report] = await h.upload(
        ADMIN_ID, "对象.xlsx", b"PK\x03\x04 not really a zip", "对象", expect=2
    )
    assert "❌" in report.text and "Traceback" not in report.text
    # a damaged old-format workbook is read, and refused with the reason
    [_, report] = await h.upload(ADMIN_ID, "对象.xls", b"\xd0\xcf\x11\xe0", "对象", expect=2)
    assert "旧版 Excel" in report.text and "另存为" in report.text and ".xlsx" in report.text
    [answer] = await h.upload(ADMIN_ID, "对象.numbers", b"whatever", "对象")
    assert "只支持" in answer.text and ".xls" in answer.text and ".ods" in answer.text
    wrong_headers = "名称,代码\n甲,乙\n"
    [_, report] = await h.upload(ADMIN_ID, "x.csv", wrong_headers.encode(), "对象", expect=2)
    assert "统一社会信用代码" in report.text and "❌" in report.text
    assert await count(h, "objects") == 0


async def test_upload_without_caption_asks_for_the_kind(bot: Harness) -> None:
    h = bot
    [pick] = await h.upload(ADMIN_ID, "departments.csv", DEPARTMENTS.encode("utf-8"))
    assert "哪一个名录" in pick.text
    data = next(d for row in pick.buttons for label, d in row if label == "部门")
    # a double tap: both presses reach the bot before it handles the first one
    answers = len(h.api.callback_answers)
    h.api.press_button(ADMIN_ID, pick.chat_id, pick.message_id, data)
    h.api.press_button(ADMIN_ID, pick.chat_id, pick.message_id, data)
    await h.api.wait_for(lambda: len(h.api.callback_answers) >= answers + 2)
    await h.api.wait_for(lambda: "新增 3" in h.api.chat_messages(ADMIN_ID)[-1].text)
    assert await count(h, "departments") == 3
    assert any("已经处理过" in (a.get("text") or "") for a in h.api.callback_answers)
    assert sum("新增 3" in m.text for m in h.api.chat_messages(ADMIN_ID)) == 1


async def test_dry_run_and_size_limit_and_permissions(bot: Harness) -> None:
    h = bot
    [_, report] = await h.upload(ADMIN_ID, "d.csv", DEPARTMENTS.encode(), "部门 试导入", expect=2)
    assert "试导入" in report.text and "新增 3" in report.text
    assert await count(h, "departments") == 0

    h.services.settings = dataclasses.replace(
        h.settings, tunables=dataclasses.replace(h.settings.tunables, max_import_mb=1)
    )
    [answer] = await h.upload(ADMIN_ID, "big.csv", b"x" * (5 * 1024 * 1024), "对象")
    assert "超过了 1 MB" in answer.text

    h.api.add_user(7001, "路人")
    [refused] = await h.upload(7001, "d.csv", DEPARTMENTS.encode(), "部门")
    assert "还没有注册" in refused.text
    assert await count(h, "departments") == 0


async def test_template_download_round_trips(bot: Harness) -> None:
    h = bot
    [doc] = await h.say(ADMIN_ID, "/template 对象")
    assert doc.document is not None and doc.document.file_name.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(doc.document.content))
    headers = [c.value for c in book.worksheets[0][1]]
    assert any("统一社会信用代码" in str(h) for h in headers)
    [pick] = await h.say(ADMIN_ID, "/template")
    assert len(pick.buttons) == 4


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BOT_")}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=60,
    )


@cli_on_sqlite
def test_cli_import_and_help(tmp_path: Path) -> None:
    env = {"BOT_DB": str(tmp_path / "cli.sqlite3")}
    helped = run_cli("--help", env=env)
    assert helped.returncode == 0
    for name in ("run", "migrate", "import", "template"):
        assert name in helped.stdout
    deps = tmp_path / "部门.csv"
    deps.write_bytes(DEPARTMENTS.encode("gbk", errors="ignore"))
    dry = run_cli("import", "departments", str(deps), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr
    assert "新增 3" in dry.stdout
    done = run_cli("import", "部门", str(deps), env=env)
    assert done.returncode == 0 and "新增 3" in done.stdout
    again = run_cli("import", "departments", str(deps), env=env)
    assert "未变 3" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text(objects_csv("123,甲,,A"), encoding="utf-8")
    failed = run_cli("import", "objects", str(bad), env=env)
    assert failed.returncode == 1 and "第 2 行" in failed.stdout and "&lt;" not in failed.stdout
    out = tmp_path / "t.xlsx"
    assert run_cli("template", "items", str(out), env=env).returncode == 0
    assert out.stat().st_size > 0


@cli_on_sqlite
def test_cli_token_errors(tmp_path: Path) -> None:
    missing = run_cli("run", env={"BOT_DB": str(tmp_path / "x.sqlite3")}, cwd=tmp_path)
    assert missing.returncode == 2
    assert missing.stderr.strip().count("\n") == 0 and "BOT_TOKEN" in missing.stderr
    bad = run_cli("run", env={"BOT_TOKEN": "secret-but-wrong"}, cwd=tmp_path)
    assert (
        bad.returncode == 2 and "malformed" in bad.stderr and "secret-but-wrong" not in bad.stderr
    )


async def test_captions_that_follow_the_template_instructions_import(bot: Harness) -> None:
    """The template caption tells admins to write the label (检查对象, 执法检查人员, 抽查事项)."""
    h = bot
    await h.import_csv("departments", DEPARTMENTS)
    data = objects_csv(f"{GOOD_A},甲,养老机构,A")
    [_, report] = await h.upload(ADMIN_ID, "o.csv", data.encode(), "检查对象", expect=2)
    assert "新增 1" in report.text and "试导入" not in report.text
    assert await count(h, "objects") == 1
    data = objects_csv(f"{GOOD_B},乙,养老机构,A")
    [_, report] = await h.upload(ADMIN_ID, "o.csv", data.encode(), "检查对象试导入", expect=2)
    assert "试导入" in report.text and "新增 1" in report.text
    assert await count(h, "objects") == 1
