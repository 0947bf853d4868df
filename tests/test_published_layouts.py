"""Files laid out as counties publish them (issue 18): plans, item lists, the Zhejiang
platform's object template and department names as people write them.

The workbooks come from tests/data/published.py. The pure parts are checked directly; each
layout is then imported end to end by upload (the real Application against the fake Bot API)
and by the command line, and the resulting rows and the report text are checked."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import openpyxl
import pytest

from bot.domain.directories import (
    CellError,
    department_resolver,
    find_header,
    item_code,
    skipped_row,
    validate_rows,
)
from bot.domain.plan import (
    PlanResult,
    derive_industry,
    parse_period,
    parse_plan,
    parse_ratio_phrase,
)
from bot.features.draw.platform import _read_platform
from bot.tabular import open_table
from tests.conftest import ADMIN_ID, Harness
from tests.data import published as pub
from tests.test_imports_bot import count, run_cli

DEPARTMENTS = {row.split(",")[0]: row.split(",")[1] for row in pub.DEPARTMENTS_CSV.splitlines()[1:]}
ALIASES = {
    row.split(",")[0]: row.split(",")[2]
    for row in pub.DEPARTMENTS_CSV.splitlines()[1:]
    if row.split(",")[2]
}


def _plan(data: bytes, *, year: int | None = None, industries: Sequence[str] = ()) -> PlanResult:
    table = open_table("plan.xlsx", data)
    return parse_plan(
        table.sheets[0].rows(), DEPARTMENTS, aliases=ALIASES, year=year, industries=industries
    )


# -- reading the sheet -------------------------------------------------------------------------


def test_merged_cells_are_filled_down_and_across_in_rows_with_content() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["A1"] = "标题"
    sheet.merge_cells("A1:C1")
    sheet["A2"] = "养老机构"
    sheet.merge_cells("A2:A6")  # reaches below the data: rows 5-6 are not created
    sheet["B2"], sheet["B3"], sheet["C4"] = "县卫健委", "第一行\n第二行", "x"
    buffer = io.BytesIO()
    book.save(buffer)
    rows = list(open_table("m.xlsx", buffer.getvalue()).sheets[0].rows())
    assert rows == [
        (1, ("标题", "标题", "标题")),
        (2, ("养老机构", "县卫健委", "")),
        (3, ("养老机构", "第一行\n第二行", "")),  # a cell's line breaks are kept
        (4, ("养老机构", "", "x")),
    ]
    assert skipped_row(rows[0][1]) == "标题"  # a title merged across is not data
    assert skipped_row(("填报人：张三", None, "联系电话：1")) == "填报人：张三"
    assert skipped_row(("注：联查部门每行一个",)) is not None
    assert skipped_row(("养老机构", "县卫健委")) is None and skipped_row((1, 1)) is None
    assert skipped_row(("注册登记检查",)) is None  # 注 without a colon is a word


def test_ratio_phrases_keep_ratio_frequency_and_count() -> None:
    def parsed(text: str) -> tuple[float, str, int | None]:
        phrase = parse_ratio_phrase(text)
        assert phrase is not None
        return round(phrase.ratio, 6), phrase.frequency, phrase.count

    assert parsed("3%;2次/年") == (0.03, "2次/年", None)
    assert parsed("≥20%") == (0.2, "", None)
    assert parsed("抽查比例不低于3%;抽查1次") == (0.03, "1次", None)
    assert parsed("10%（20户）") == (0.1, "", 20)
    assert parsed("每年一次，5%") == (0.05, "1次/年", None)
    assert parsed("5") == (0.05, "", None) and parsed("0.05") == (0.05, "", None)
    with pytest.raises(CellError) as two:
        parse_ratio_phrase("A类3%，B类5%")
    assert "不止一个比例（3%、5%）" in str(two.value) and "3%;2次/年" in str(two.value)
    with pytest.raises(CellError) as words:
        parse_ratio_phrase("按风险分类确定")
    assert "10%（20户）" in str(words.value) and "≥20%" in str(words.value)


def test_period_phrases() -> None:
    assert parse_period("3月—12月", 2026) == (date(2026, 3, 1), date(2026, 12, 31))
    assert parse_period("2月-11月", 2024) == (date(2024, 2, 1), date(2024, 11, 30))
    assert parse_period("2024年4月至9月", None) == (date(2024, 4, 1), date(2024, 9, 30))
    assert parse_period("2026年2月24日-2026年11月30日", None) == (
        date(2026, 2, 24),
        date(2026, 11, 30),
    )
    assert parse_period("2026-02-24至2026-11-30", None) == (date(2026, 2, 24), date(2026, 11, 30))
    assert parse_period("6月", 2026) == (date(2026, 6, 1), date(2026, 6, 30))
    assert parse_period("第二季度", 2026) == (date(2026, 4, 1), date(2026, 6, 30))
    assert parse_period("全年", 2026) == (date(2026, 1, 1), date(2026, 12, 31))
    assert parse_period("下半年", 2026) == (date(2026, 7, 1), date(2026, 12, 31))
    assert parse_period("", 2026) is None
    with pytest.raises(CellError) as no_year:
        parse_period("3月—12月", None)
    assert "没有写年份" in str(no_year.value) and "2026年计划" in str(no_year.value)
    with pytest.raises(CellError) as vague:
        parse_period("年底前完成", 2026)
    assert "3月—12月、2024年4月至9月" in str(vague.value) and "年底前完成" in str(vague.value)


def test_industry_from_the_task_name_or_items() -> None:
    known = ["养老机构", "宾馆旅店", "网吧"]
    assert derive_industry("2026年养老机构一业一查", "", known) == "养老机构"
    assert derive_industry("联合检查", "网吧经营许可", known) == "网吧"
    assert derive_industry("民办学校联合检查", "", known) == "民办学校"  # from the name alone
    with pytest.raises(CellError) as two:
        derive_industry("网吧和宾馆旅店联合检查", "", known)
    assert "网吧" in str(two.value) and "宾馆旅店" in str(two.value)
    with pytest.raises(CellError) as none:
        derive_industry("对全县重点行业领域开展跨部门联合抽查检查工作的安排", "", known)
    assert "「行业」列" in str(none.value)


def test_departments_by_code_name_alias_and_the_closest_ones() -> None:
    resolve = department_resolver(DEPARTMENTS, ALIASES)
    assert resolve("scjg") == "SCJG" and resolve("县市场监督管理局") == "SCJG"
    assert resolve("县市场监管局") == "SCJG" and resolve(" 市场监管 部门 ") == "SCJG"
    assert resolve("县卫健委") == "WJW" and resolve("消防部门") == "XFJY"
    with pytest.raises(CellError) as unknown:
        resolve("县市场监管所")
    message = str(unknown.value)
    assert "「县市场监管所」不存在" in message and "最接近的已知部门：" in message
    assert "县市场监督管理局（SCJG）" in message and "简称/别名" in message
    shared = department_resolver(DEPARTMENTS, {**ALIASES, "GAJ": "市场监管局"})
    with pytest.raises(CellError) as ambiguous:
        shared("市场监管局")
    assert "县公安局（GAJ）" in str(ambiguous.value) and "SCJG" in str(ambiguous.value)
    assert item_code("SCJG", "食品 经营") == item_code("SCJG", "食品经营")  # stable


# -- the layouts, parsed -----------------------------------------------------------------------


def test_anhui_plan_keeps_every_partner_row() -> None:
    result = _plan(pub.anhui_plan(), industries=["养老机构", "宾馆旅店"])
    assert result.ok, result.errors
    first, second = result.items
    assert (first.name, first.lead, first.partners) == (
        "养老机构一业一查",
        "MZJ",
        ("WJW", "ZJJ", "SCJG"),
    )
    assert (first.start, first.end, first.ratio_shown) == (
        date(2024, 4, 1),
        date(2024, 9, 30),
        "5%",
    )
    assert first.items == "医疗卫生服务检查\n房屋建筑安全检查\n食品安全检查"
    assert (second.industry, second.lead, second.partners) == ("宾馆旅店", "GAJ", ("XFJY", "SCJG"))
    # "5月—10月" in the year of the title row (2024)
    assert (second.start, second.end, second.ratio_shown) == (
        date(2024, 5, 1),
        date(2024, 10, 31),
        "10%",
    )
    assert "已忽略的列：「备注」（无法识别，内容未导入）。" in result.warnings
    assert "已跳过第 9、10 行（标题、注释、填报人等说明行，不是数据）。" in result.warnings
    assert "第 4、5、7 行属于上面的任务，其配合部门和抽查事项已并入该任务。" in result.warnings


def test_published_plan_columns_and_phrases() -> None:
    result = _plan(pub.published_plan())
    assert result.ok, result.errors
    by_name = {i.name: i for i in result.items}
    care = by_name["养老机构联合检查"]
    assert (care.industry, care.lead, care.partners) == ("养老机构", "MZJ", ("WJW", "SCJG", "ZJJ"))
    assert (care.ratio_shown, care.frequency) == ("3%", "2次/年")
    assert (care.start, care.end) == (date(2026, 3, 1), date(2026, 12, 31))
    assert (care.items, care.scope, care.mode) == (
        "1.消防安全\n2.食品安全",
        "全县养老机构",
        "一业一查",
    )
    hotel = by_name["宾馆旅店联合抽查"]
    assert (hotel.year, hotel.start, hotel.end) == (2024, date(2024, 4, 1), date(2024, 9, 30))
    assert hotel.partners == ("SCJG", "XFJY") and hotel.ratio_shown == "20%"
    net = by_name["网吧联合检查"]
    assert (net.start, net.end, net.frequency) == (date(2026, 2, 24), date(2026, 11, 30), "1次")
    school = by_name["民办学校联合检查"]
    assert (school.ratio_shown, school.count, school.partners) == ("10%", 20, ("SCJG", "WJW"))
    assert (school.start, school.end) == (date(2026, 6, 1), date(2026, 6, 30))
    # no year in the title, none given: the month periods are refused with row, column, forms
    undated = _plan(pub.published_plan(year_in_title=False))
    assert not undated.ok
    shown = [str(e) for e in undated.errors]
    assert any(s.startswith("第 3 行「抽查检查起止时间」：「3月—12月」没有写年份") for s in shown)
    assert _plan(pub.published_plan(year_in_title=False), year=2026).ok  # the caption's year


@pytest.mark.parametrize("merged_down", [True, False])
def test_two_row_header(merged_down: bool) -> None:
    result = _plan(pub.two_row_plan(merged_down))
    assert result.ok, (result.file_error, result.errors)
    ktv, school = result.items
    assert (ktv.start, ktv.end, ktv.lead, ktv.partners) == (
        date(2026, 3, 1),
        date(2026, 6, 30),
        "WLJ",
        ("XFJY",),
    )
    assert (school.start, school.end, school.partners) == (
        date(2026, 7, 1),
        date(2026, 10, 31),
        ("MZJ", "SCJG"),
    )
    assert result.warnings == []  # every column used, no row skipped


def test_item_lists_without_codes_and_the_platform_template() -> None:
    table = open_table("dz.xlsx", pub.dingzhou_items())
    rows = table.sheets[0].rows()
    header = find_header("items", rows)
    assert header is not None and header.ok and header.unknown == ["抽查主体"]
    result = validate_rows(header, rows, departments=DEPARTMENTS, aliases=ALIASES)
    assert result.ok, result.errors
    assert [(r.department_code, r.name) for r in result.records] == [
        ("SCJG", "食品经营许可情况的检查"),
        ("SCJG", "食品贮存情况的检查"),
        ("SCJG", "电梯维保情况的检查"),
        ("WJW", "公共场所卫生许可的检查"),
        ("WJW", "集中空调通风系统的检查"),
    ]
    first = result.records[0]
    assert first.code == item_code("SCJG", "食品经营许可情况的检查")
    assert first.legal_basis == "《中华人民共和国食品安全法》\n第一百一十条"
    assert (first.category_name, first.content) == (
        "食品经营监督检查",
        "许可证件、经营场所与许可一致情况",
    )
    assert result.records[1].note == "重点"
    # the platform's draw file takes the Zhejiang header too
    found = _read_platform("zj.xlsx", pub.zhejiang_objects())
    assert [(n, code) for n, code, _ in found] == [
        (4, pub.OBJECT_CODES[0]),
        (5, pub.OBJECT_CODES[1]),
        (6, pub.OBJECT_CODES[2]),
    ]


# -- end to end --------------------------------------------------------------------------------


async def _plan_rows(h: Harness) -> dict[str, dict[str, object]]:
    rows = await h.db.fetchall(
        "SELECT name, industry, lead_department, partner_departments, ratio, start_date,"
        " end_date, frequency, object_count, items, scope, mode FROM plan_items"
    )
    return {r["name"]: {**dict(r), "partners": json.loads(r["partner_departments"])} for r in rows}


async def test_published_layouts_by_upload(bot: Harness) -> None:
    h = bot
    [_, report] = await h.upload(
        ADMIN_ID, "部门.csv", pub.DEPARTMENTS_CSV.encode("gbk"), "部门", expect=2
    )
    assert "新增 8" in report.text
    [overview] = await h.say(ADMIN_ID, "/directories")
    assert "SCJG 县市场监督管理局（县市场监管局、市场监管部门、市场监管局）" in overview.text

    # the Anhui template, captioned as people caption it
    [_, report] = await h.upload(
        ADMIN_ID, "计划.xlsx", pub.anhui_plan(), "2024年双随机抽查计划", expect=2
    )
    assert "✅" in report.text and "已替换 2024 年度计划，共 2 项" in report.text, report.text
    assert "各任务的配合部门共 5 个" in report.text
    assert "已忽略的列：「备注」" in report.text and "已跳过第 9、10 行" in report.text
    assert "第 4、5、7 行属于上面的任务" in report.text
    plan = await _plan_rows(h)
    assert plan["养老机构一业一查"]["partners"] == ["WJW", "ZJJ", "SCJG"]
    assert plan["宾馆旅店联合检查"]["partners"] == ["XFJY", "SCJG"]
    assert plan["宾馆旅店联合检查"]["industry"] == "宾馆旅店"
    [summary] = await h.say(ADMIN_ID, "/plan 2024")
    assert "配合 县卫生健康委员会、县住房和城乡建设局、县市场监督管理局" in summary.text

    # a published plan sent without a caption: the picker offers 年度计划
    [pick] = await h.upload(ADMIN_ID, "抽查计划表.xlsx", pub.published_plan(year_in_title=False))
    labels = [label for row in pick.buttons for label, _ in row]
    assert "年度计划" in labels and "部门" in labels
    data = next(d for row in pick.buttons for label, d in row if label == "年度计划")
    [report] = await h.press(ADMIN_ID, pick, data, expect_new=1)
    # no year anywhere: row, column and the accepted forms are named, nothing is written
    assert "❌" in report.text and "第 3 行「抽查检查起止时间」" in report.text
    assert "2026年计划" in report.text
    # the same file with the year in the caption
    undated = pub.published_plan(year_in_title=False)
    caption = "2026年双随机抽查计划"
    [_, report] = await h.upload(ADMIN_ID, "抽查计划表.xlsx", undated, caption, expect=2)
    assert (
        "已替换 2026 年度计划，共 3 项" in report.text and "2024 年度计划，共 1 项" in report.text
    )
    plan = await _plan_rows(h)
    care = plan["养老机构联合检查"]
    assert care["partners"] == ["WJW", "SCJG", "ZJJ"] and care["frequency"] == "2次/年"
    assert (care["start_date"], care["end_date"]) == ("2026-03-01", "2026-12-31")
    assert care["scope"] == "全县养老机构" and care["mode"] == "一业一查"
    school = plan["民办学校联合检查"]
    assert school["object_count"] == 20 and school["ratio"] == pytest.approx(0.1)
    assert "养老机构一业一查" not in plan  # 2024 is covered again (宾馆旅店), so it is replaced
    [summary] = await h.say(ADMIN_ID, "/plan 2026")
    assert "3%，2次/年" in summary.text and "10%（20户）" in summary.text
    [doc] = await h.say(ADMIN_ID, "/plan export 2026")
    assert doc.document is not None
    sheet = openpyxl.load_workbook(io.BytesIO(doc.document.content)).worksheets[0]
    ratios = [row[5].value for row in sheet.iter_rows(min_row=2)]
    assert ratios == ["3%;2次/年", "3%;1次", "10%（20户）"]  # the export imports back

    [_, report] = await h.upload(
        ADMIN_ID, "两行表头.xlsx", pub.two_row_plan(False), "计划", expect=2
    )
    assert "已替换 2026 年度计划，共 2 项" in report.text and "原有 3 项" in report.text

    # item lists: codes generated, departments from the merged blocks and the aliases
    [_, report] = await h.upload(ADMIN_ID, "定州.xlsx", pub.dingzhou_items(), "事项", expect=2)
    assert "新增 5" in report.text and "已忽略的列：「抽查主体」" in report.text
    assert "文件中没有「事项编码」列" in report.text
    [_, report] = await h.upload(ADMIN_ID, "定州.xlsx", pub.dingzhou_items(), "事项", expect=2)
    assert "未变 5" in report.text  # the same codes again
    [_, report] = await h.upload(ADMIN_ID, "汾阳.xlsx", pub.fenyang_items(), "事项", expect=2)
    assert "新增 3" in report.text and "已跳过第 7 行" in report.text
    rows = await h.db.fetchall(
        "SELECT department_code, name, category_name, content, note FROM items ORDER BY code"
    )
    assert ("WJW", "集中空调通风系统的检查", "公共场所卫生监督检查", "清洗消毒记录", "") in [
        tuple(r) for r in rows
    ]
    assert sum(r["department_code"] == "SCJG" for r in rows) == 3

    # the Zhejiang platform's object template
    [_, report] = await h.upload(ADMIN_ID, "浙江.xlsx", pub.zhejiang_objects(), "对象", expect=2)
    assert "新增 3" in report.text and "表头在第 3 行" in report.text
    assert "已忽略的列：「登记机关」" in report.text
    assert await count(h, "objects") == 3

    # a name nobody registered: refused, with the closest departments
    text = "任务名称,行业,发起部门,抽查比例,抽查时间\n甲,养老机构,县市场监管所,5%,2026年3月至5月\n"
    [_, report] = await h.upload(ADMIN_ID, "p.csv", text.encode(), "计划", expect=2)
    assert "第 2 行「发起部门」" in report.text and "县市场监督管理局（SCJG）" in report.text


def test_published_layouts_by_cli(tmp_path: Path) -> None:
    env = {"BOT_DB": str(tmp_path / "cli.sqlite3")}
    pub.main(tmp_path)
    done = run_cli("import", "departments", str(tmp_path / "部门（含简称）.csv"), env=env)
    assert done.returncode == 0 and "新增 8" in done.stdout, done.stdout + done.stderr
    anhui = run_cli("import", "plan", str(tmp_path / "安徽一业一查计划.xlsx"), env=env)
    assert anhui.returncode == 0 and "已替换 2024 年度计划，共 2 项" in anhui.stdout, anhui.stdout
    assert "已忽略的列：「备注」" in anhui.stdout
    with sqlite3.connect(env["BOT_DB"]) as conn:
        partners = dict(conn.execute("SELECT name, partner_departments FROM plan_items"))
        assert json.loads(partners["养老机构一业一查"]) == ["WJW", "ZJJ", "SCJG"]
    published = run_cli("import", "plan", str(tmp_path / "公布的抽查计划.xlsx"), env=env)
    assert "已替换 2026 年度计划，共 3 项" in published.stdout, published.stdout
    two = run_cli("import", "plan", str(tmp_path / "两行表头计划.xlsx"), "--dry-run", env=env)
    assert "试导入" in two.stdout and "共 2 项" in two.stdout, two.stdout
    items = run_cli("import", "items", str(tmp_path / "定州事项清单.xlsx"), env=env)
    assert items.returncode == 0 and "新增 5" in items.stdout, items.stdout
    objects = run_cli("import", "objects", str(tmp_path / "浙江平台检查对象.xlsx"), env=env)
    assert objects.returncode == 0 and "新增 3" in objects.stdout, objects.stdout
    with sqlite3.connect(env["BOT_DB"]) as conn:
        partners = dict(conn.execute("SELECT name, partner_departments FROM plan_items"))
        assert json.loads(partners["养老机构联合检查"]) == ["WJW", "SCJG", "ZJJ"]
        departments = dict(conn.execute("SELECT name, department_code FROM items"))
        assert departments["电梯维保情况的检查"] == "SCJG"
        assert departments["集中空调通风系统的检查"] == "WJW"
