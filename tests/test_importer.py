"""Directory imports against a real temporary SQLite database (no Telegram)."""

from __future__ import annotations

import io
import json
import warnings
import zipfile
from collections.abc import AsyncIterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
import xlwt

from bot import importer
from bot.config import Tunables
from bot.db import Database, open_database
from bot.domain.credit_code import make_credit_code
from bot.store import directories as store
from bot.tabular import TableError, _open_zip, decode_text, open_table

CODES = [make_credit_code(f"91130534MA{i:07d}") for i in range(1, 8)]
A, B, C, D = CODES[:4]

DEPARTMENTS_CSV = "部门编码,部门名称\nSCJG,县市场监管局\nMZJ,县民政局\nWLJ,县文化和旅游局\n"
OBJECT_HEADERS = [
    "统一社会信用代码",
    "企业名称",
    "行业",
    "地址",
    "信用风险分类",
    "分类月份",
    "法定代表人",
    "联系电话",
    "经营状态",
]


ITEM_HEADERS = "事项编码 事项名称 部门编码 抽查依据 检查方式 事项类别 检查对象类型 检查内容".split()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with open_database(tmp_path / "t.sqlite3") as database:
        yield database


def xlsx(
    *rows: Sequence[Any], title: str = "Sheet1", extra: dict[str, list[list[Any]]] | None = None
) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title
    for row in rows:
        sheet.append(list(row))
    for name, more in (extra or {}).items():
        other = book.create_sheet(name)
        for row in more:
            other.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_text(*rows: Sequence[Any]) -> str:
    return "".join(",".join("" if v is None else str(v) for v in row) + "\r\n" for row in rows)


async def rows(db: Database, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in await db.fetchall(sql, params)]


async def audit_rows(db: Database) -> list[tuple[str, str, dict[str, Any]]]:
    found = await rows(db, "SELECT action, outcome, detail FROM audit_log ORDER BY id")
    return [(a, o, json.loads(d)) for a, o, d in found]


async def seed_departments(db: Database) -> None:
    report = await importer.import_file(db, "departments", "部门.csv", DEPARTMENTS_CSV.encode())
    assert report.ok and report.added == 3


# -- good files, every kind ------------------------------------------------------------------


async def test_departments_csv_and_xlsx(db: Database) -> None:
    report = await importer.import_file(db, "departments", "部门.csv", DEPARTMENTS_CSV.encode())
    assert (report.ok, report.added, report.total_rows, report.file_format) == (True, 3, 3, "csv")
    assert await rows(db, "SELECT code, name FROM departments ORDER BY code") == [
        ("MZJ", "县民政局"),
        ("SCJG", "县市场监管局"),
        ("WLJ", "县文化和旅游局"),
    ]
    data = xlsx(("部门编码*", "部门名称*"), ("SCJG", "县市场监督管理局"), ("JYJ", "县教育局"))
    report = await importer.import_file(db, "部门", "部门.xlsx", data)
    assert (report.ok, report.added, report.updated, report.unchanged) == (True, 1, 1, 0)
    assert report.sheet == "Sheet1" and report.file_format == "xlsx"
    assert await store.count_directory(db, "departments") == 4  # MZJ, WLJ left alone
    assert await store.get_department(db, "SCJG") == store.Department("SCJG", "县市场监督管理局")
    assert await store.get_department(db, "NONE") is None
    assert [d.code for d in await store.list_departments(db)] == ["JYJ", "MZJ", "SCJG", "WLJ"]


async def test_inspectors_xlsx_with_excel_dates_and_numbers(db: Database) -> None:
    await seed_departments(db)
    data = xlsx(
        ("姓名", "所属部门编码", "执法证号", "证件有效期至", "专业领域"),
        ("张三", "SCJG", 13010001, datetime(2028, 12, 31), "食品安全、特种设备"),
        ("李四", "scjg", 13010002.0, 46568, "价格监管，广告"),  # serial number for 2027-06-30
        ("王五", "县民政局", "13020001", "2028年1月1日", None),
        ("赵六", "MZJ", "13020002", "长期", " 养老服务 "),
    )
    report = await importer.import_file(db, "inspectors", "人员.xlsx", data)
    assert report.ok, report
    assert report.added == 4
    assert await rows(
        db,
        "SELECT certificate_no, name, department_code, certificate_valid_until, specialties,"
        " active, person_id FROM inspectors ORDER BY certificate_no",
    ) == [
        ("13010001", "张三", "SCJG", "2028-12-31", "食品安全、特种设备", 1, None),
        ("13010002", "李四", "SCJG", "2027-06-30", "价格监管、广告", 1, None),
        ("13020001", "王五", "MZJ", "2028-01-01", "", 1, None),
        ("13020002", "赵六", "MZJ", None, "养老服务", 1, None),
    ]
    found = await store.find_inspector_by_certificate(db, " 1301 0001 ")
    assert found is not None and found.name == "张三" and found.active and found.person_id is None
    assert await store.find_inspector_by_certificate(db, "404") is None
    assert await store.get_inspector(db, found.id) == found
    assert await store.get_inspector(db, 999) is None
    await db.execute("UPDATE inspectors SET active = 0 WHERE certificate_no = '13020002'")
    assert [i.name for i in await store.list_inspectors(db, "MZJ")] == ["王五"]
    everyone = await store.list_inspectors(db, active_only=False)
    assert len(everyone) == 4 and not everyone[-1].active  # 赵六 sorts last


async def test_objects_csv_all_columns(db: Database) -> None:
    text = csv_text(
        OBJECT_HEADERS,
        (
            A,
            "阳光养老院",
            "养老机构",
            "城关镇 1 号",
            "低",
            "2026年3月",
            "张三",
            "13800000000",
            "存续",
        ),
        (B.lower(), "清河宾馆", "宾馆旅店/餐饮", "", "C类", "202603", "", "", "在业"),
    )
    report = await importer.import_file(db, "objects", "对象.csv", text.encode())
    assert report.ok and report.added == 2, report
    columns = (
        "credit_code, name, industry, address, risk_class, risk_month, legal_rep, phone, status"
    )
    assert await rows(db, f"SELECT {columns} FROM objects ORDER BY credit_code") == [
        (A, "阳光养老院", "养老机构", "城关镇 1 号", "A", "2026-03", "张三", "13800000000", "存续"),
        (B, "清河宾馆", "宾馆旅店、餐饮", "", "C", "2026-03", "", "", "在业"),
    ]
    [(created, updated)] = await rows(db, "SELECT created_at, updated_at FROM objects LIMIT 1")
    assert created == updated and created.endswith("Z")


async def test_objects_xlsx_numbers_from_excel(db: Database) -> None:
    data = xlsx(
        OBJECT_HEADERS,
        (A, "甲", "餐饮", None, "B", datetime(2026, 3, 1), None, 1.38e10, "存续"),
        (B, "乙", None, None, "D", 202604, None, 13912345678, None),
    )
    report = await importer.import_file(db, "objects", "对象.xlsx", data)
    assert report.ok, report
    assert await rows(db, "SELECT credit_code, risk_month, phone FROM objects ORDER BY 1") == [
        (A, "2026-03", "13800000000"),
        (B, "2026-04", "13912345678"),
    ]


def xls(*rows: Sequence[Any], title: str = "Sheet1") -> bytes:
    """An old binary Excel workbook (BIFF8), as Excel 2003 and WPS save .xls; dates as dates."""
    book = xlwt.Workbook(encoding="utf-8")
    sheet = book.add_sheet(title)
    date_style = xlwt.easyxf(num_format_str="yyyy-mm-dd")
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            if isinstance(value, date):
                sheet.write(r, c, value, date_style)
            elif value is not None:
                sheet.write(r, c, value)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def ods(*rows: Sequence[Any], title: str = "Sheet1") -> bytes:
    """A minimal OpenDocument spreadsheet, as LibreOffice and WPS save .ods."""
    out = []
    for row in rows:
        cells = []
        for value in row:
            if value is None:
                cells.append("<table:table-cell/>")
            elif isinstance(value, (int, float)):
                cells.append(
                    f'<table:table-cell office:value-type="float" office:value="{value}">'
                    f"<text:p>{value}</text:p></table:table-cell>"
                )
            elif isinstance(value, date):
                cells.append(
                    '<table:table-cell office:value-type="date" '
                    f'office:date-value="{value.isoformat()}"><text:p>{value}</text:p>'
                    "</table:table-cell>"
                )
            else:
                cells.append(
                    '<table:table-cell office:value-type="string">'
                    f"<text:p>{value}</text:p></table:table-cell>"
                )
        out.append("<table:table-row>" + "".join(cells) + "</table:table-row>")
    content = (
        '<?xml version="1.0" encoding="UTF-8"?><office:document-content'
        ' xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
        ' xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.2">'
        f'<office:body><office:spreadsheet><table:table table:name="{title}">'
        + "".join(out)
        + "</table:table></office:spreadsheet></office:body></office:document-content>"
    )
    mime = "application/vnd.oasis.opendocument.spreadsheet"
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest'
        ' xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        f' manifest:version="1.2"><manifest:file-entry manifest:full-path="/"'
        f' manifest:media-type="{mime}"/><manifest:file-entry manifest:full-path="content.xml"'
        ' manifest:media-type="text/xml"/></manifest:manifest>'
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("mimetype", mime, compress_type=zipfile.ZIP_STORED)  # first, uncompressed
        zf.writestr("META-INF/manifest.xml", manifest, compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("content.xml", content, compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["xls", "ods"])
async def test_objects_from_xls_and_ods_with_dates_and_numbers(db: Database, fmt: str) -> None:
    make = xls if fmt == "xls" else ods
    data = make(
        ("某某县检查对象名录",),
        OBJECT_HEADERS,
        (A, "清河县甲商贸有限公司", "餐饮、住宿", None, "低", date(2026, 3, 1), None, 13800000000),
        (B, "乙", None, None, "D", 202604, None, 13912345678.0, None),
        title="检查对象",
    )
    report = await importer.import_file(db, "objects", f"对象.{fmt}", data)
    assert report.ok, (report.file_error, [str(e) for e in report.errors])
    assert (report.file_format, report.sheet, report.header_row) == (fmt, "检查对象", 2)
    assert report.added == 2
    assert await rows(
        db,
        "SELECT credit_code, name, industry, risk_class, risk_month, phone FROM objects ORDER BY 1",
    ) == [
        (A, "清河县甲商贸有限公司", "餐饮、住宿", "A", "2026-03", "13800000000"),
        (B, "乙", "", "D", "2026-04", "13912345678"),
    ]
    # row numbers in errors are the ones the user sees in the spreadsheet
    bad = make(("统一社会信用代码", "企业名称"), (A, "甲"), (None, None), (A, None))
    report = await importer.import_file(db, "objects", f"坏.{fmt}", bad)
    assert [str(e) for e in report.errors] == [
        f"第 4 行「统一社会信用代码」：与第 2 行重复 ({A})",
        "第 4 行「企业名称」：不能为空",
    ]


def test_an_xls_renamed_xlsx_and_an_xlsx_renamed_csv_are_read_by_content() -> None:
    table = open_table("名录.xlsx", xls(("部门编码", "部门名称"), ("SCJG", "县市场监管局")))
    assert table.format == "xls"
    assert list(table.sheets[0].rows()) == [
        (1, ("部门编码", "部门名称")),
        (2, ("SCJG", "县市场监管局")),
    ]
    table = open_table("名录.csv", ods(("部门编码",), ("SCJG",)))
    assert table.format == "ods" and list(table.sheets[0].rows())[-1] == (2, ("SCJG",))


def test_a_sheet_starting_right_of_column_a_keeps_its_column_positions() -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    sheet["C3"], sheet["D3"], sheet["C4"] = "部门编码", "部门名称", 0
    buffer = io.BytesIO()
    book.save(buffer)
    got = list(open_table("d.xlsx", buffer.getvalue()).sheets[0].rows())
    # a row holding only a zero is not blank
    assert got == [(3, (None, None, "部门编码", "部门名称")), (4, (None, None, 0.0, ""))]


def test_a_zip_that_understates_its_inflated_size_is_refused() -> None:
    data = bytearray(xlsx(("统一社会信用代码", "企业名称"), *[(A, "甲" * 50)] * 200))
    # shrink the stated size of the worksheet in the central directory and the local header
    name = b"xl/worksheets/sheet1.xml"
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        real = zf.getinfo(name.decode()).file_size
    stated = (real // 10).to_bytes(4, "little")
    for at in (i for i in range(len(data)) if data.startswith(name, i)):
        header = data.rfind(b"PK", 0, at)
        offset = 22 if data[header + 2 : header + 4] == b"\x03\x04" else 24
        data[header + offset : header + offset + 4] = stated
    with pytest.raises(TableError):
        list(_open_zip(bytes(data), max_inflated=real // 2).sheets[0].rows())


async def test_items_csv_with_optional_columns(db: Database) -> None:
    await seed_departments(db)
    text = csv_text(
        ITEM_HEADERS,
        (
            "SCJG-001",
            "食品经营许可情况的检查",
            "SCJG",
            "《食品安全法》第一百一十条",
            "现场检查",
            "重点事项",
            "食品经营者",
            "许可证件",
        ),
        ("MZJ-001", "养老机构服务质量检查", "县民政局", "", "书面核查", "一般", "", ""),
    )
    report = await importer.import_file(db, "事项", "事项.csv", text.encode())
    assert report.ok, report
    assert await rows(
        db, "SELECT code, department_code, method, category, object_type FROM items ORDER BY 1"
    ) == [
        ("MZJ-001", "MZJ", "书面核查", "一般", ""),
        ("SCJG-001", "SCJG", "现场检查", "重点", "食品经营者"),
    ]
    # the minimal item file: only the required columns
    minimal = csv_text(("code", "name", "department_code"), ("WLJ-001", "网吧检查", "WLJ"))
    report = await importer.import_file(db, "items", "items.csv", minimal.encode())
    assert report.ok and report.added == 1
    assert await store.count_directory(db, "items") == 3


# -- encodings -------------------------------------------------------------------------------


async def test_gbk_bom_and_utf16_csv(db: Database) -> None:
    text = csv_text(("统一社会信用代码", "企业名称", "信用风险分类"), (A, "清河县供销社", "一般"))
    report = await importer.import_file(db, "objects", "gbk.csv", text.encode("gbk"))
    assert report.ok and report.encoding == "gb18030", report
    assert any("GBK" in w for w in report.warnings)
    assert await rows(db, "SELECT name, risk_class FROM objects") == [("清河县供销社", "B")]

    text = csv_text(("统一社会信用代码", "企业名称"), (A, "清河县供销社（改）"), (B, "鑫源商贸"))
    report = await importer.import_file(db, "objects", "bom.csv", text.encode("utf-8-sig"))
    assert report.ok and report.encoding == "utf-8-sig"
    assert (report.added, report.updated) == (1, 1)

    tabbed = "统一社会信用代码\t企业名称\r\n" + f"{C}\t文本导出\r\n"
    report = await importer.import_file(db, "objects", "u16.csv", tabbed.encode("utf-16"))
    assert report.ok and report.encoding == "utf-16" and report.added == 1


def test_decode_text_order() -> None:
    assert decode_text("甲".encode())[1] == "utf-8"
    assert decode_text("甲".encode("gb18030"))[1] == "gb18030"
    assert decode_text(b"\xef\xbb\xbfa")[1] == "utf-8-sig"


async def test_undecodable_and_binary_csv(db: Database) -> None:
    report = await importer.import_file(db, "objects", "bad.csv", b"\x81\x20\xff\xfe\x80abc")
    assert not report.ok and report.file_error is not None
    assert "文字编码" in report.file_error
    binary = bytes(range(1, 32)) * 50
    report = await importer.import_file(db, "objects", "bin.csv", binary)
    assert report.file_error is not None and "不是文本" in report.file_error


# -- unreadable files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "data", "phrase"),
    [
        ("对象.xlsx", b"PK\x03\x04 not really a zip", "不是有效的 Excel 工作簿"),
        ("对象.xlsx", b"", "文件是空的"),
        ("对象.csv", b"", "文件是空的"),
        ("对象.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "旧版 Office 文件"),
        ("对象.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600, "另存为"),
        ("对象.doc", b"whatever", "不支持的文件类型「.doc」"),
        ("对象.et", b"whatever", "WPS"),
        ("对象.xlsx", b"plain text renamed", "不是有效的 Excel 工作簿"),
    ],
)
async def test_unreadable_files_get_a_chinese_reason(
    db: Database, name: str, data: bytes, phrase: str
) -> None:
    report = await importer.import_file(db, "objects", name, data)
    assert not report.ok and report.file_error is not None
    assert phrase in report.file_error, report.file_error
    assert "Traceback" not in report.file_error
    assert await audit_rows(db) == [
        (
            "import.objects",
            "failed",
            {
                "file": name,
                "format": None,
                "rows": 0,
                "added": 0,
                "updated": 0,
                "unchanged": 0,
                "error_count": 0,
                "errors": [],
                "file_error": report.file_error,
            },
        ),
    ]


async def test_truncated_and_corrupted_xlsx(db: Database) -> None:
    good = xlsx(("统一社会信用代码", "企业名称"), *[(code, "甲") for code in CODES])
    report = await importer.import_file(db, "objects", "cut.xlsx", good[: len(good) // 2])
    assert report.file_error is not None and "Excel" in report.file_error
    # a zip whose worksheet is garbage (CRC mismatch)
    broken = bytearray(good)
    sheet_at = broken.find(b"xl/worksheets/sheet1.xml")
    start = sheet_at + len(b"xl/worksheets/sheet1.xml")
    broken[start + 10 : start + 40] = b"\x00" * 30
    report = await importer.import_file(db, "objects", "crc.xlsx", bytes(broken))
    assert not report.ok and report.file_error is not None
    assert await store.count_directory(db, "objects") == 0


async def test_word_document_renamed(db: Database) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("word/document.xml", "<document/>")
    report = await importer.import_file(db, "objects", "名录.xlsx", buffer.getvalue())
    assert report.file_error is not None and "Word" in report.file_error


async def test_size_limit(db: Database) -> None:
    data = b"x" * (1024 * 1024 + 1)
    report = await importer.import_file(
        db, "objects", "big.csv", data, tunables=Tunables(max_import_mb=1)
    )
    assert report.file_error is not None and "上限为 1 MB" in report.file_error


# -- headers ---------------------------------------------------------------------------------


async def test_wrong_headers_list_missing_and_found(db: Database) -> None:
    text = csv_text(("名称", "代码", "地址"), ("甲", "乙", "丙"))
    report = await importer.import_file(db, "objects", "x.csv", text.encode())
    assert not report.ok
    assert report.file_error == (
        "缺少必填列：「统一社会信用代码」。文件中的列：「名称」、「代码」、「地址」。"
    )
    assert report.missing_columns == ["统一社会信用代码"]
    assert report.found_columns == ["名称", "代码", "地址"]
    report = await importer.import_file(db, "inspectors", "x.csv", "姓名\n张三\n".encode())
    assert report.missing_columns == ["所属部门编码", "执法证号"]


async def test_title_row_extra_columns_and_english_headers(db: Database) -> None:
    data = xlsx(
        ("清河县检查对象名录库", None, None, None),
        ("序号", "Credit Code", "Name", "备注"),
        (1, A, "甲", "新开业"),
        (2, B, "乙", None),
        (3, None, None, None),  # only 序号: blank
    )
    report = await importer.import_file(db, "objects", "o.xlsx", data)
    assert report.ok and report.added == 2 and report.header_row == 2, report
    assert "表头在第 2 行，前面的 1 行已跳过。" in report.warnings
    assert "已忽略的列：「备注」（无法识别，内容未导入）。" in report.warnings
    assert report.ignored_columns == ["备注"]


async def test_data_on_a_later_sheet(db: Database) -> None:
    data = xlsx(
        ("说明：请看第二个工作表",),
        title="封面",
        extra={"对象": [["统一社会信用代码", "企业名称"], [A, "甲"]]},
    )
    report = await importer.import_file(db, "objects", "o.xlsx", data)
    assert report.ok and report.sheet == "对象" and report.added == 1
    assert "使用了工作表「对象」。" in report.warnings


async def test_header_only_file_is_accepted_with_a_warning(db: Database) -> None:
    report = await importer.import_file(
        db, "objects", "o.csv", "统一社会信用代码,企业名称\n".encode()
    )
    assert report.ok and report.total_rows == 0
    assert any("没有数据行" in w for w in report.warnings)


# -- row errors and all-or-nothing -----------------------------------------------------------


async def test_bad_credit_codes_and_duplicates(db: Database) -> None:
    wrong = A[:-1] + ("0" if A[-1] != "0" else "1")
    text = csv_text(
        ("统一社会信用代码", "企业名称", "信用风险分类"),
        (A, "甲", "A"),
        (wrong, "乙", "E"),
        ("9113053", "丙", ""),
        (A, "丁", "B"),
        (B, "", "B"),
    )
    report = await importer.import_file(db, "objects", "对象.csv", text.encode())
    assert not report.ok and report.error_count == 5
    assert [str(e) for e in report.errors] == [
        f"第 3 行「统一社会信用代码」：校验位不正确 ({wrong})",
        "第 3 行「信用风险分类」：应为 A、B、C、D 之一（也可写 低、一般、较高、高）(E)",
        "第 4 行「统一社会信用代码」：应为 18 位，实际 7 位 (9113053)",
        f"第 5 行「统一社会信用代码」：与第 2 行重复 ({A})",
        "第 6 行「企业名称」：不能为空",
    ]
    assert await store.count_directory(db, "objects") == 0
    [(action, outcome, detail)] = await audit_rows(db)
    assert (action, outcome, detail["error_count"]) == ("import.objects", "failed", 5)
    assert detail["errors"][0].startswith("第 3 行")


async def test_errors_shown_are_capped(db: Database) -> None:
    text = csv_text(("部门编码", "部门名称"), *[(f"D{i}", "") for i in range(30)])
    report = await importer.import_file(
        db, "departments", "d.csv", text.encode(), tunables=Tunables(error_rows_shown=5)
    )
    assert report.error_count == 30 and len(report.errors) == 5 and report.errors_truncated


async def test_unknown_department_codes(db: Database) -> None:
    await seed_departments(db)
    text = csv_text(
        ("姓名", "所属部门编码", "执法证号"), ("张三", "SCJG", "1"), ("李四", "GAJ", "2")
    )
    report = await importer.import_file(db, "inspectors", "人员.csv", text.encode())
    assert [str(e) for e in report.errors] == [
        "第 3 行「所属部门编码」：部门编码「GAJ」不存在，请先导入部门名录或核对编码。已知部门："
        "县民政局（MZJ）、县市场监管局（SCJG）、县文化和旅游局（WLJ）"
        "（可写部门编码、全称，或在部门名录的「简称/别名」列登记）"
    ]
    assert await store.count_directory(db, "inspectors") == 0


async def test_error_on_the_last_row_leaves_everything_unchanged(db: Database) -> None:
    first = csv_text(
        ("统一社会信用代码", "企业名称", "信用风险分类"), (A, "甲", "A"), (B, "乙", "B")
    )
    assert (await importer.import_file(db, "objects", "1.csv", first.encode())).ok
    before = await rows(db, "SELECT * FROM objects ORDER BY 1")
    body = [(code, f"新名称{i}", "C") for i, code in enumerate(CODES)]
    last = make_credit_code("91130534MA0009999")
    second = csv_text(("统一社会信用代码", "企业名称", "信用风险分类"), *body, (last, "末行", "X"))
    report = await importer.import_file(db, "objects", "2.csv", second.encode())
    assert not report.ok and [e.row for e in report.errors] == [len(CODES) + 2]
    assert await rows(db, "SELECT * FROM objects ORDER BY 1") == before
    assert [(a, o) for a, o, _ in await audit_rows(db)] == [
        ("import.objects", "ok"),
        ("import.objects", "failed"),
    ]


async def test_write_failure_rolls_back(db: Database, monkeypatch: pytest.MonkeyPatch) -> None:
    """A department that disappears between validation and writing: nothing is written."""
    await seed_departments(db)

    async def ghost_departments(_db: Database) -> dict[str, str]:
        return {"SCJG": "县市场监管局", "GHOST": "不存在的部门"}

    monkeypatch.setattr(store, "department_names", ghost_departments)
    text = csv_text(
        ("姓名", "所属部门编码", "执法证号"), ("张三", "SCJG", "1"), ("李四", "GHOST", "2")
    )
    report = await importer.import_file(db, "inspectors", "人员.csv", text.encode())
    assert not report.ok and report.file_error is not None and "写入数据库失败" in report.file_error
    assert (report.added, report.updated, report.unchanged) == (0, 0, 0)
    assert await store.count_directory(db, "inspectors") == 0
    assert [(a, o) for a, o, _ in await audit_rows(db)][-1] == ("import.inspectors", "failed")


# -- re-import, dry run, audit ---------------------------------------------------------------


async def test_reimport_counts_and_leaves_absent_rows(db: Database) -> None:
    header = ("统一社会信用代码", "企业名称", "信用风险分类", "分类月份")
    first = csv_text(
        header, (A, "甲", "A", "2026-03"), (B, "乙", "B", "2026-03"), (C, "丙", "", "")
    )
    report = await importer.import_file(db, "objects", "1.csv", first.encode(), actor=1001)
    assert (report.added, report.updated, report.unchanged) == (3, 0, 0)
    stamp = await rows(db, "SELECT updated_at FROM objects WHERE credit_code = ?", A)

    again = await importer.import_file(db, "objects", "1.csv", first.encode())
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)

    second = csv_text(
        header,
        (A, "甲", "A", "2026-03"),
        (B, "乙（改名）", "B", "2026-03"),
        (D, "丁", "D", "2026-06"),
    )
    report = await importer.import_file(db, "objects", "2.csv", second.encode())
    assert (report.added, report.updated, report.unchanged, report.total_rows) == (1, 1, 1, 3)
    assert await store.count_directory(db, "objects") == 4  # C is still there
    assert await rows(db, "SELECT updated_at FROM objects WHERE credit_code = ?", A) == stamp

    audits = await audit_rows(db)
    assert [(a, o) for a, o, _ in audits] == [("import.objects", "ok")] * 3
    assert audits[0][2] == {
        "file": "1.csv",
        "format": "csv",
        "rows": 3,
        "added": 3,
        "updated": 0,
        "unchanged": 0,
        "encoding": "utf-8",
    }
    actors = await rows(db, "SELECT actor FROM audit_log ORDER BY id")
    assert actors == [(1001,), (None,), (None,)]


async def test_columns_missing_from_the_file_are_left_alone(db: Database) -> None:
    full = csv_text(
        ("统一社会信用代码", "企业名称", "信用风险分类", "联系电话"), (A, "甲", "C", "123")
    )
    assert (await importer.import_file(db, "objects", "1.csv", full.encode())).ok
    names_only = csv_text(("统一社会信用代码", "企业名称"), (A, "甲"), (B, "乙"))
    report = await importer.import_file(db, "objects", "2.csv", names_only.encode())
    assert (report.added, report.updated, report.unchanged) == (1, 0, 1)
    assert any("已有记录的这些字段保持不变" in w for w in report.warnings)
    assert await rows(db, "SELECT credit_code, risk_class, phone FROM objects ORDER BY 1") == [
        (A, "C", "123"),
        (B, None, ""),
    ]
    # an empty cell in a column that is present does overwrite
    cleared = csv_text(("统一社会信用代码", "企业名称", "信用风险分类"), (A, "甲", ""))
    report = await importer.import_file(db, "objects", "3.csv", cleared.encode())
    assert report.updated == 1
    assert await rows(db, "SELECT risk_class, phone FROM objects WHERE credit_code = ?", A) == [
        (None, "123")
    ]


async def test_dry_run_writes_nothing(db: Database) -> None:
    await seed_departments(db)
    before = await audit_rows(db)
    text = csv_text(
        ("部门编码", "部门名称"),
        ("SCJG", "县市场监督管理局"),
        ("JYJ", "县教育局"),
        ("MZJ", "县民政局"),
    )
    report = await importer.import_file(db, "departments", "d.csv", text.encode(), dry_run=True)
    assert report.ok and report.dry_run
    assert (report.added, report.updated, report.unchanged) == (1, 1, 1)
    assert await rows(db, "SELECT name FROM departments WHERE code = 'SCJG'") == [("县市场监管局",)]
    assert await store.count_directory(db, "departments") == 3
    bad = await importer.import_file(db, "departments", "d.csv", b"x,y\n1,2\n", dry_run=True)
    assert not bad.ok and bad.dry_run
    assert await audit_rows(db) == before


async def test_special_characters_kept_intact(db: Database) -> None:
    name = "清河县<阳光>&养老院 \"甲\" '乙' 😀"
    data = xlsx(("统一社会信用代码", "企业名称", "地址"), (A, name, "a & b <c>"))
    assert (await importer.import_file(db, "objects", "o.xlsx", data)).ok
    text = csv_text(("统一社会信用代码", "企业名称"), (B, "鑫<&>源😀"))
    assert (await importer.import_file(db, "objects", "o.csv", text.encode())).ok
    assert await rows(db, "SELECT name, address FROM objects ORDER BY 1") == [
        (name, "a & b <c>"),
        ("鑫<&>源😀", ""),
    ]


async def test_kind_names_and_unreadable_report() -> None:
    assert importer.parse_kind("执法人员") == "inspectors"
    assert importer.KIND_LABELS == {
        "departments": "部门",
        "inspectors": "执法检查人员",
        "objects": "检查对象",
        "items": "抽查事项",
    }
    report = importer.ImportReport.unreadable("objects", "x.xlsx", "下载失败", dry_run=True)
    assert (report.ok, report.dry_run, report.file_error) == (False, True, "下载失败")


async def test_unknown_kind_is_a_programming_error(db: Database) -> None:
    with pytest.raises(ValueError):
        await importer.import_file(db, "weather", "x.csv", b"a\n")


# -- templates -------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["departments", "inspectors", "objects", "items"])
async def test_template_round_trips(db: Database, kind: str) -> None:
    await seed_departments(db)
    data = importer.template_xlsx(kind)
    book = openpyxl.load_workbook(io.BytesIO(data))
    assert book.sheetnames == [importer.KIND_LABELS[kind], "说明"]
    sheet = book.worksheets[0]
    headers = [c.value for c in sheet[1]]
    assert all(isinstance(h, str) for h in headers)
    assert sheet["A1"].font.bold
    assert any(str(h).endswith("*") for h in headers)
    notes = "\n".join(str(c.value) for row in book["说明"].iter_rows() for c in row if c.value)
    assert "必填" in notes and "示例" in notes

    # the empty template is accepted as it is
    empty = await importer.import_file(db, kind, "template.xlsx", data)
    assert empty.ok and empty.total_rows == 0, empty

    # and with its example row filled in
    examples = {
        "departments": ["TEST", "测试部门"],
        "inspectors": ["张三", "SCJG", "35012345678", datetime(2027, 12, 31), "食品安全、特种设备"],
        "objects": [
            A,
            "某某宾馆",
            "宾馆旅店",
            "某某路 1 号",
            "B",
            "2026-03",
            "李四",
            "13800000000",
            "存续",
        ],
        "items": [
            "SCJG-001",
            "食品经营许可情况的检查",
            "SCJG",
            "《食品安全法》",
            "现场检查",
            "一般",
            "食品经营者",
            "许可证件",
        ],
    }
    sheet.append(examples[kind])
    buffer = io.BytesIO()
    book.save(buffer)
    report = await importer.import_file(db, kind, "filled.xlsx", buffer.getvalue())
    assert report.ok and report.total_rows == 1 and (report.added + report.updated) == 1, report
    assert not report.ignored_columns


def test_template_marks_text_columns() -> None:
    book = openpyxl.load_workbook(io.BytesIO(importer.template_xlsx("objects")))
    sheet = book.worksheets[0]
    assert sheet.column_dimensions["A"].number_format == "@"  # credit code
    assert sheet.freeze_panes == "A2"
    assert sheet.data_validations.dataValidation  # risk class drop-down


# -- hand-built workbooks (shapes openpyxl does not write) -----------------------------------

_NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
_REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'


_CT = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels"'
    ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_CT}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_CT}.worksheet+xml"/>'
    f'<Override PartName="/xl/sharedStrings.xml" ContentType="{_CT}.sharedStrings+xml"/>'
    f'<Override PartName="/xl/styles.xml" ContentType="{_CT}.styles+xml"/>'
    "</Types>"
)


def handmade_xlsx(
    sheet_xml: str,
    shared: list[str] | None = None,
    *,
    date1904: bool = False,
    styles: str | None = None,
) -> bytes:
    """A minimal workbook the way Excel writes it: shared strings, styles, relationships."""
    rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    flag = ' date1904="1"' if date1904 else ""
    workbook = (
        f"<workbook {_NS} {_REL_NS}><workbookPr{flag}/>"
        '<sheets><sheet name="名录" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    base = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    workbook_rels = (
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f'<Relationship Id="rId1" Type="{base}/worksheet" Target="worksheets/sheet1.xml"/>'
        f'<Relationship Id="rId2" Type="{base}/sharedStrings" Target="sharedStrings.xml"/>'
        f'<Relationship Id="rId3" Type="{base}/styles" Target="styles.xml"/>'
        "</Relationships>"
    )
    sst = "".join(f"<si>{s}</si>" for s in (shared or []))
    styles = styles or (
        f'<styleSheet {_NS}><numFmts count="1"><numFmt numFmtId="176" '
        'formatCode="yyyy&quot;年&quot;m&quot;月&quot;d&quot;日&quot;"/></numFmts>'
        '<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="14"/><xf numFmtId="176"/></cellXfs>'
        "</styleSheet>"
    )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", _CONTENT_TYPES)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("xl/workbook.xml", workbook)
        zf.writestr("xl/_rels/workbook.xml.rels", workbook_rels)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
        zf.writestr("xl/sharedStrings.xml", f"<sst {_NS}>{sst}</sst>")
        zf.writestr("xl/styles.xml", styles)
    return buffer.getvalue()


def test_excel_style_shared_strings_rich_text_and_dates() -> None:
    shared = [
        "<t>统一社会信用代码</t>",
        "<t>企业名称</t>",
        # rich text with a phonetic guide (rPh) that must not leak into the value
        '<r><t>清河</t></r><r><rPr><b/></rPr><t xml:space="preserve">县 &lt;甲&gt; &amp; 乙</t></r>'
        '<rPh sb="0" eb="2"><t>qinghe</t></rPh>',
        "<t>行_x000D_内</t>",
        "<t/>",
    ]
    sheet = (
        f"<worksheet {_NS}><sheetData>"
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c>'
        '<c r="C1" t="inlineStr"><is><t>日期</t></is></c></row>'
        '<row r="3" spans="1:4"><c r="A3" s="0" t="s"><v>2</v></c><c r="C3" s="1"><v>46752</v></c>'
        '<c r="D3" s="2"><v>46082.5</v></c><c r="E3" t="b"><v>1</v></c></row>'
        '<row r="4"><c t="s" r="B4"><v>3</v></c><c r="C4" t="e"><v>#N/A</v></c>'
        '<c r="D4" t="str"><f>A1&amp;"x"</f><v>甲x</v></c><c r="E4" t="s"><v>4</v></c></row>'
        '<row r="5"/>'
        '<row><c><v>-1.5</v></c><c><v>1.38E10</v></c><c/><c t="inlineStr"/></row>'
        "</sheetData></worksheet>"
    )
    table = open_table("名录.xlsx", handmade_xlsx(sheet, shared))
    assert [s.name for s in table.sheets] == ["名录"]
    got = list(table.sheets[0].rows())
    # calamine: rows as wide as the sheet, "" for an empty cell (and for an error such as
    # #N/A), a date-only cell as a date; rows 2 and 5 have no content and are left out
    assert got == [
        (1, ("统一社会信用代码", "企业名称", "日期", "", "")),
        (3, ("清河县 <甲> & 乙", "", date(2027, 12, 31), datetime(2026, 3, 1, 12), True)),
        (4, ("", "行\r内", "", "甲x", "")),
        (6, (-1.5, 13800000000.0, "", "", "")),
    ]
    # openpyxl agrees (it pads the missing row 2; the minimal styles make it warn)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        book = openpyxl.load_workbook(io.BytesIO(handmade_xlsx(sheet, shared)), read_only=True)
        expected = [row for row in book.worksheets[0].iter_rows(values_only=True)]
    assert expected[2][0] == got[1][1][0]
    assert expected[2][2] == datetime.combine(got[1][1][2], datetime.min.time())  # type: ignore[arg-type]


def test_namespace_prefixes_and_1904_dates() -> None:
    sheet = (
        '<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<x:sheetData><x:row r="1"><x:c r="A1" t="inlineStr"><x:is><x:t>日期</x:t></x:is></x:c>'
        '</x:row><x:row r="2"><x:c r="A2" s="1"><x:v>1</x:v></x:c></x:row></x:sheetData>'
        "</x:worksheet>"
    )
    table = open_table("p.xlsx", handmade_xlsx(sheet, date1904=True))
    assert list(table.sheets[0].rows()) == [(1, ("日期",)), (2, (date(1904, 1, 2),))]


async def test_row_numbers_follow_excel_when_rows_are_missing_from_the_xml(db: Database) -> None:
    shared = ["<t>部门编码</t>", "<t>部门名称</t>", "<t>SCJG</t>", "<t>县市场监管局</t>"]
    sheet = (
        f"<worksheet {_NS}><sheetData>"
        '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row>'
        '<row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2" t="s"><v>3</v></c></row>'
        '<row r="9"><c r="A9" t="s"><v>2</v></c></row>'
        "</sheetData></worksheet>"
    )
    report = await importer.import_file(db, "departments", "d.xlsx", handmade_xlsx(sheet, shared))
    assert [str(e) for e in report.errors] == [
        "第 9 行「部门编码」：与第 2 行重复 (SCJG)",
        "第 9 行「部门名称」：不能为空",
    ]


def test_open_table_errors_are_table_errors() -> None:
    with pytest.raises(TableError, match="旧版 Excel"):
        open_table("a.xls", b"anything")
    table = open_table("a.CSV", "甲,乙\n".encode())
    assert table.format == "csv" and list(table.sheets[0].rows()) == [(1, ("甲", "乙"))]


async def test_objects_by_date_cells_from_openpyxl(db: Database) -> None:
    data = xlsx(("统一社会信用代码", "企业名称", "分类月份"), (A, "甲", date(2026, 5, 20)))
    report = await importer.import_file(db, "objects", "o.xlsx", data)
    assert report.ok
    assert await rows(db, "SELECT risk_month FROM objects") == [("2026-05",)]


async def test_blank_file_and_excel_sep_line(db: Database) -> None:
    report = await importer.import_file(db, "objects", "blank.csv", b",,\r\n ,\r\n")
    assert report.file_error is not None and report.file_error.startswith("没有找到表头")
    text = f"sep=;\r\n统一社会信用代码;企业名称\r\n{A};甲\r\n{A};乙\r\n"
    report = await importer.import_file(db, "objects", "sep.csv", text.encode())
    assert [str(e) for e in report.errors] == [f"第 3 行「统一社会信用代码」：与第 2 行重复 ({A})"]


def test_inflated_worksheet_is_refused() -> None:
    data = xlsx(("统一社会信用代码", "企业名称"), *[(A, "甲" * 50)] * 200)
    with pytest.raises(TableError, match="解压后超过"):
        list(_open_zip(data, max_inflated=4096).sheets[0].rows())


async def test_a_damaged_xls_that_crashes_calamine_is_refused_and_the_bot_lives_on(
    db: Database,
) -> None:
    """tests/samples/damaged.xls (a 50-row xlwt workbook with a few bytes changed) makes calamine
    ask for 171 GB and abort its process: the .xls is read in a child process."""
    data = (Path(__file__).parent / "samples" / "damaged.xls").read_bytes()
    report = await importer.import_file(db, "objects", "对象.xls", data)
    assert not report.ok and report.file_error is not None
    assert "旧版 Excel" in report.file_error and "另存为" in report.file_error
    # and a good .xls still reads (in its own child process)
    good = xls(("部门编码", "部门名称"), ("SCJG", "县市场监管局"))
    report = await importer.import_file(db, "departments", "部门.xls", good)
    assert report.ok and report.added == 1
