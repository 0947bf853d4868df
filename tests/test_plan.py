"""The annual plan's parser and validator, and plan against actual (pure, bot/domain/plan.py)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from bot.domain.directories import CellError
from bot.domain.plan import TaskWindow, match, parse_plan, parse_ratio
from bot.tabular import open_table

DEPTS = {"MZJ": "县民政局", "SCJG": "县市场监管局", "WJW": "县卫健委"}
HEADER = ("任务名称", "行业", "牵头部门编码", "配合部门编码", "抽查比例", "开始日期", "结束日期")


def rows(*data: tuple[object, ...]) -> list[tuple[int, tuple[object, ...]]]:
    return [(1, HEADER), *((n, r) for n, r in enumerate(data, start=2))]


def test_ratio_rule() -> None:
    assert parse_ratio("5%") == pytest.approx(0.05)
    assert parse_ratio("５％") == pytest.approx(0.05)
    assert parse_ratio("0.05") == pytest.approx(0.05)
    assert parse_ratio(0.05) == pytest.approx(0.05)  # an Excel percentage cell
    assert parse_ratio("5") == pytest.approx(0.05)
    assert parse_ratio(12.5) == pytest.approx(0.125)
    assert parse_ratio("1") == 1.0 and parse_ratio("100%") == 1.0
    assert parse_ratio(None) is None
    for bad in ("0", "0%", "-3%", "150%", "101", "abc", True):
        with pytest.raises(CellError):
            parse_ratio(bad)  # type: ignore[arg-type]


def test_good_plan_with_names_partners_and_dates() -> None:
    result = parse_plan(
        rows(
            (
                "养老机构联合检查",
                "养老机构",
                "mzj",
                "WJW、县市场监管局",
                "5%",
                "2026-03-01",
                "2026/6/30",
            ),
            ("宾馆", "宾馆旅店", "县市场监管局", "", "0.1", datetime(2026, 4, 1), "2026年9月30日"),
            (None, None, None, None, None, None, None),
        ),
        DEPTS,
    )
    assert result.ok, result.errors
    a, b = result.items
    assert (a.year, a.seq, a.lead, a.partners) == (2026, 1, "MZJ", ("WJW", "SCJG"))
    assert a.start == date(2026, 3, 1) and a.end == date(2026, 6, 30) and a.ratio_shown == "5%"
    assert (b.lead, b.partners, b.ratio_shown, b.end) == ("SCJG", (), "10%", date(2026, 9, 30))
    assert result.years == {2026: 2} and result.total_rows == 2


def test_every_kind_of_bad_row_and_all_or_nothing() -> None:
    result = parse_plan(
        rows(
            ("好的一行", "养老机构", "MZJ", "", "5%", "2026-03-01", "2026-06-30"),
            ("未知牵头", "养老机构", "XXX", "", "5%", "2026-03-01", "2026-06-30"),
            ("未知配合", "养老机构", "MZJ", "WJW,YYY", "5%", "2026-03-01", "2026-06-30"),
            ("倒序", "养老机构", "MZJ", "", "5%", "2026-06-30", "2026-03-01"),
            ("比例过大", "养老机构", "MZJ", "", "150%", "2026-03-01", "2026-06-30"),
            ("比例为零", "养老机构", "MZJ", "", "0", "2026-03-01", "2026-06-30"),
            ("好的一行", "宾馆旅店", "SCJG", "", "5%", "2026-07-01", "2026-08-30"),
            ("好的一行", "宾馆旅店", "SCJG", "", "5%", "2027-07-01", "2027-08-30"),
            ("坏日期", "养老机构", "MZJ", "", "5%", "明年", "2026-06-30"),
            ("", "养老机构", "MZJ", "MZJ", "5%", "2026-03-01", "2026-06-30"),
        ),
        DEPTS,
        max_errors=50,
    )
    assert not result.ok and result.items == []
    shown = [str(e) for e in result.errors]
    assert "第 3 行「牵头部门编码」：部门编码「XXX」不存在" in shown[0]
    assert shown[1].startswith("第 4 行「配合部门编码」") and "YYY" in shown[1]
    assert shown[2].startswith("第 5 行「结束日期」") and "早于" in shown[2]
    assert shown[3].startswith("第 6 行「抽查比例」") and "不超过 100%" in shown[3]
    assert shown[4].startswith("第 7 行「抽查比例」")
    assert shown[5] == "第 8 行「任务名称」：与第 2 行重复 (好的一行)"  # same year
    # row 9: the same name in another year is fine
    assert shown[6].startswith("第 10 行「开始日期」")
    # row 11 has no name: it belongs to the task above, but its dates differ from that task's
    assert any(
        s.startswith("第 11 行「任务名称」：任务名称为空，这一行算作第 10 行任务「坏日期」")
        and "「开始日期」与该任务不同" in s
        for s in shown
    )
    assert any(s.startswith("第 11 行「配合部门编码」") and "牵头部门" in s for s in shown)
    assert result.error_count == len(shown) == 9


def test_header_problems_and_empty_file() -> None:
    missing = parse_plan([(1, ("任务名称", "行业"))], DEPTS)
    assert missing.file_error is not None and "牵头部门编码" in missing.file_error
    empty = parse_plan([(1, HEADER)], DEPTS)
    assert not empty.ok and empty.file_error is not None and "没有数据行" in empty.file_error
    # a title row above the header and English aliases
    titled = parse_plan(
        [
            (1, ("清河县2026年度抽查计划",)),
            (2, ("name", "industry", "lead", "ratio", "start", "end")),
            (3, ("甲", "养老机构", "MZJ", "3", "2026-01-05", "2026-02-05")),
        ],
        DEPTS,
    )
    assert titled.ok and titled.items[0].ratio_shown == "3%"


def test_gbk_csv() -> None:
    text = ",".join(HEADER) + "\n养老机构联合检查,养老机构,MZJ,WJW；SCJG,5%,2026-03-01,2026-06-30\n"
    table = open_table("计划.csv", text.encode("gbk"))
    assert table.encoding == "gb18030"
    result = parse_plan(table.sheets[0].rows(), DEPTS)
    assert result.ok and result.items[0].partners == ("WJW", "SCJG")


def test_match_plan_against_tasks() -> None:
    result = parse_plan(
        rows(
            ("上半年养老", "养老机构", "MZJ", "WJW", "5%", "2026-03-01", "2026-06-30"),
            ("下半年养老", "养老机构", "MZJ", "", "5%", "2026-10-01", "2026-12-31"),
            ("宾馆", "宾馆旅店", "SCJG", "MZJ", "5%", "2026-04-01", "2026-05-31"),
        ),
        DEPTS,
    )
    tasks = [
        TaskWindow(1, "养老机构", "MZJ", date(2026, 5, 1), date(2026, 5, 10), "drawn"),
        TaskWindow(2, "养老机构", "MZJ", date(2026, 6, 1), date(2026, 6, 10), "done"),
        TaskWindow(3, "养老机构", "MZJ", date(2026, 11, 1), date(2026, 11, 5), "cancelled"),
        TaskWindow(4, "宾馆旅店", "MZJ", date(2026, 4, 1), date(2026, 4, 5), "done"),  # wrong lead
    ]
    view = match(result.items, tasks)
    assert (view.planned, view.started, view.done) == (3, 1, 1)
    first = view.statuses[0]
    assert first.task is not None and first.task.task_id == 2 and first.matches == 2
    assert view.statuses[1].task is None  # only a cancelled task
    q4 = match(result.items, tasks, period=(date(2026, 10, 1), date(2026, 12, 31)))
    assert [s.item.name for s in q4.statuses] == ["下半年养老"]
    wjw = match(result.items, tasks, departments=["WJW"])
    assert [s.item.name for s in wjw.statuses] == ["上半年养老"]
    mzj = match(result.items, tasks, departments=["MZJ"])
    assert mzj.planned == 3  # leads two, joins the third
