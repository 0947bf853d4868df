"""Workbooks laid out like the files counties publish (issue 18), built with openpyxl.

The tests build them in memory; `python -m tests.data.published DIR` writes them to DIR as
.xlsx (and the department list as .csv) to try them by hand in the sandbox or the CLI.

- `anhui_plan`: the Anhui "一业一查" plan template (亳州 2024, 宣城 2023 …): a title merged
  across, one row per partner department (联查部门) under its task, the task's other cells
  merged over those rows, a 填报人 line and a note under the table.
- `published_plan`: a county plan's columns (长治 2024, 潞州 2025 …): 抽查任务名称 · 抽查事项 ·
  抽查对象范围 · 抽查比例及频次 · 抽查检查起止时间 · 发起部门 · 配合部门 · 模式, ratio and period
  phrases as written, several partners in one cell, multi-line cells.
- `two_row_plan`: 抽查时间 merged over 开始日期｜结束日期, the other header cells merged over
  both rows (or, `merged_down=False`, written in the upper row only), 参与部门 in one cell.
- `dingzhou_items` / `fenyang_items`: item lists without 事项编码, the department (单位名称)
  named once per merged block, 抽查类别名称 · 检查内容及要求 · 备注 columns.
- `zhejiang_objects`: the Zhejiang platform's object template: title, instructions, the header
  on row 3 with 「统一社会信用代码/注册号」, data from row 4.
- `DEPARTMENTS_CSV`: departments with the 简称/别名 people write ("县市场监管局", "市场监管部门").
"""

from __future__ import annotations

import io
import sys
from datetime import datetime
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Alignment
from openpyxl.worksheet.worksheet import Worksheet

from bot.domain.credit_code import make_credit_code

DEPARTMENTS_CSV = """部门编码,部门名称,简称/别名
MZJ,县民政局,民政部门
WJW,县卫生健康委员会,县卫健委、卫健部门
ZJJ,县住房和城乡建设局,县住建局
SCJG,县市场监督管理局,县市场监管局、市场监管部门、市场监管局
GAJ,县公安局,
XFJY,县消防救援大队,消防部门
WLJ,县文化和旅游局,县文旅局
JYJ,县教育局,
"""

OBJECT_CODES = [make_credit_code(f"91330100MA000000{n}") for n in range(1, 4)]


def _book() -> tuple[Workbook, Worksheet]:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    return book, sheet


def _bytes(book: Workbook) -> bytes:
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _put(sheet: Worksheet, row: int, values: list[object]) -> None:
    for column, value in enumerate(values, start=1):
        if value is not None:
            cell = sheet.cell(row=row, column=column, value=value)
            cell.alignment = Alignment(wrap_text=True, vertical="center")


def _merge_down(sheet: Worksheet, first: int, last: int, columns: str) -> None:
    """Merge each column letter of `columns` from row `first` to `last`."""
    for letter in columns:
        sheet.merge_cells(f"{letter}{first}:{letter}{last}")


ANHUI_HEADER = [
    "序号", "行业领域", "抽查任务名称", "发起部门", "联查部门", "抽查事项", "抽查比例",
    "计划实施时间", "备注",
]  # fmt: skip


def anhui_plan() -> bytes:
    book, sheet = _book()
    sheet.title = "一业一查计划"
    _put(sheet, 1, ["某某县2024年度“一业一查”部门联合双随机抽查计划"])
    sheet.merge_cells("A1:I1")
    _put(sheet, 2, ANHUI_HEADER)
    # task 1: rows 3-5, one partner a row; every other cell merged over the three rows
    _put(sheet, 3, [1, "养老机构", "养老机构一业一查", "县民政局", "县卫健委",
                    "医疗卫生服务检查", "5%", "2024年4月至9月", None])  # fmt: skip
    _put(sheet, 4, [None, None, None, None, "县住建局", "房屋建筑安全检查"])
    _put(sheet, 5, [None, None, None, None, "县市场监管局", "食品安全检查"])
    _merge_down(sheet, 3, 5, "ABCDGHI")
    # task 2: rows 6-7, no 行业 (derived from the name), month period in the title's year
    _put(sheet, 6, [2, None, "宾馆旅店联合检查", "县公安局", "县消防救援大队",
                    "消防安全检查", "≥10%", "5月—10月", "与治安检查同步"])  # fmt: skip
    _put(sheet, 7, [None, None, None, None, "市场监管部门", "公共场所卫生检查"])
    _merge_down(sheet, 6, 7, "ABCDGHI")
    _put(sheet, 9, ["填报人：张三", None, "联系电话：0558-1234567", None, "填报日期：2024年1月5日"])
    _put(sheet, 10, ["注：联查部门每行填写一个。"])
    sheet.merge_cells("A10:I10")
    return _bytes(book)


PUBLISHED_HEADER = [
    "序号", "抽查任务名称", "抽查事项", "抽查对象范围", "抽查比例及频次", "抽查检查起止时间",
    "发起部门", "配合部门", "模式",
]  # fmt: skip


def published_plan(year_in_title: bool = True) -> bytes:
    book, sheet = _book()
    title = "某某县2026年部门联合双随机抽查工作计划" if year_in_title else "部门联合抽查工作计划"
    _put(sheet, 1, [title])
    sheet.merge_cells("A1:I1")
    _put(sheet, 2, PUBLISHED_HEADER)
    rows: list[list[object]] = [
        [1, "养老机构联合检查", "1.消防安全\n2.食品安全", "全县养老机构", "3%;2次/年",
         "3月—12月", "县民政局", "县卫健委、县市场监管局\n县住建局", "一业一查"],
        [2, "宾馆旅店联合抽查", "治安、消防、卫生", "宾馆旅店", "≥20%",
         "2024年4月至9月", "县公安局", "市场监管部门,县消防救援大队", "一业一查"],
        [3, "网吧联合检查", "经营许可", "网吧", "抽查比例不低于3%;抽查1次",
         "2026年2月24日-2026年11月30日", "县文旅局", "市场监管局", "部门联合"],
        [4, "民办学校联合检查", "办学许可", "民办学校", "10%（20户）",
         "6月", "县教育局", "县市场监管局；县卫健委", "部门联合"],
    ]  # fmt: skip
    for offset, values in enumerate(rows):
        _put(sheet, 3 + offset, values)
    return _bytes(book)


def two_row_plan(merged_down: bool = True) -> bytes:
    book, sheet = _book()
    _put(sheet, 1, ["某某县2026年度双随机抽查计划"])
    sheet.merge_cells("A1:H1")
    _put(sheet, 2, ["序号", "抽查任务名称", "行业", "发起部门", "参与部门", "抽查比例", "抽查时间"])
    _put(sheet, 3, [None, None, None, None, None, None, "开始日期", "结束日期"])
    sheet.merge_cells("G2:H2")
    if merged_down:
        _merge_down(sheet, 2, 3, "ABCDEF")
    _put(sheet, 4, [1, "歌舞娱乐场所联合检查", "歌舞娱乐", "县文旅局", "消防部门",
                    "5%", datetime(2026, 3, 1), datetime(2026, 6, 30)])  # fmt: skip
    _put(sheet, 5, [2, "校外培训机构联合检查", "校外培训", "县教育局", "民政部门/市场监管部门",
                    "10%", "2026-07-01", "2026年10月31日"])  # fmt: skip
    return _bytes(book)


ITEM_HEADER = [
    "序号", "单位名称", "抽查类别名称", "抽查事项名称", "抽查依据", "抽查主体", "抽查对象",
    "抽查方式", "检查内容及要求", "备注",
]  # fmt: skip


def dingzhou_items() -> bytes:
    book, sheet = _book()
    _put(sheet, 1, ["定州市随机抽查事项清单（2024年版）"])
    sheet.merge_cells("A1:J1")
    _put(sheet, 2, ITEM_HEADER)
    _put(sheet, 3, [1, "市场监管部门", "食品经营监督检查", "食品经营许可情况的检查",
                    "《中华人民共和国食品安全法》\n第一百一十条", "县市场监管局", "食品经营者",
                    "现场检查", "许可证件、经营场所与许可一致情况", None])  # fmt: skip
    _put(sheet, 4, [2, None, "食品经营监督检查", "食品贮存情况的检查",
                    "《食品安全法》第三十三条", "县市场监管局", "食品经营者", "现场检查",
                    "贮存条件、温度记录", "重点"])  # fmt: skip
    _put(sheet, 5, [3, None, "特种设备监督检查", "电梯维保情况的检查", "《特种设备安全法》",
                    "县市场监管局", "电梯使用单位", "现场检查", "维保记录", None])  # fmt: skip
    _merge_down(sheet, 3, 5, "B")
    _put(sheet, 6, [4, "县卫健委", "公共场所卫生监督检查", "公共场所卫生许可的检查",
                    "《公共场所卫生管理条例》", "县卫健委", "住宿场所", "现场检查",
                    "卫生许可证、从业人员健康证明", None])  # fmt: skip
    _put(sheet, 7, [5, None, "公共场所卫生监督检查", "集中空调通风系统的检查",
                    "《公共场所卫生管理条例实施细则》", "县卫健委", "住宿场所", "书面核查",
                    "清洗消毒记录", None])  # fmt: skip
    _merge_down(sheet, 6, 7, "B")
    return _bytes(book)


def fenyang_items() -> bytes:
    book, sheet = _book()
    _put(sheet, 1, ["汾阳市2021年随机抽查事项清单"])
    sheet.merge_cells("A1:H1")
    header = ["序号", "单位名称", "抽查类别名称", "抽查事项", "检查对象", "检查方式",
              "检查内容及要求", "备注"]  # fmt: skip
    _put(sheet, 2, header)
    _put(sheet, 3, [1, "县民政局", "养老机构监督检查", "养老机构服务质量的检查", "养老机构",
                    "现场检查", "服务质量、安全管理", None])  # fmt: skip
    _put(sheet, 4, [2, None, "养老机构监督检查", "养老机构消防安全的检查", "养老机构",
                    "现场检查", "消防设施", "与消防部门联合"])  # fmt: skip
    _merge_down(sheet, 3, 4, "B")
    _put(sheet, 5, [3, "县文旅局", "文化市场监督检查", "网吧经营的检查", "网吧",
                    "现场检查", "上网登记、未成年人入场", None])  # fmt: skip
    _put(sheet, 7, ["注：本清单根据法律法规动态调整。"])
    sheet.merge_cells("A7:H7")
    return _bytes(book)


def zhejiang_objects() -> bytes:
    book, sheet = _book()
    sheet.title = "检查对象"
    _put(sheet, 1, ["检查对象名录导入模板"])
    sheet.merge_cells("A1:G1")
    _put(
        sheet,
        2,
        ["填写说明：1.带*号为必填项；2.统一社会信用代码请填写18位代码；3.数据从第4行开始填写。"],
    )
    sheet.merge_cells("A2:G2")
    _put(sheet, 3, ["*统一社会信用代码/注册号", "*企业名称", "法定代表人（负责人）", "住所",
                    "行业类别", "信用风险分类", "登记机关"])  # fmt: skip
    names = ["某某养老服务中心", "某某宾馆有限公司", "某某网吧"]
    industries = ["养老机构", "宾馆旅店", "网吧"]
    for offset, (code, name, industry) in enumerate(
        zip(OBJECT_CODES, names, industries, strict=True)
    ):
        _put(sheet, 4 + offset, [code, name, "王五", "某某镇某某路1号", industry, "B类",
                                 "某某县市场监督管理局"])  # fmt: skip
    return _bytes(book)


LAYOUTS = {
    "安徽一业一查计划.xlsx": anhui_plan,
    "公布的抽查计划.xlsx": published_plan,
    "两行表头计划.xlsx": two_row_plan,
    "定州事项清单.xlsx": dingzhou_items,
    "汾阳事项清单.xlsx": fenyang_items,
    "浙江平台检查对象.xlsx": zhejiang_objects,
}


def main(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "部门（含简称）.csv").write_text(DEPARTMENTS_CSV, encoding="utf-8")
    for name, build in LAYOUTS.items():
        (directory / name).write_bytes(build())
        print(directory / name)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/out"))
