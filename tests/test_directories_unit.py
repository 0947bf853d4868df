"""Pure unit tests of directory validation: credit codes, headers, cell parsing, rows."""

from __future__ import annotations

import random
from datetime import date, datetime

import pytest
from stdnum.cn import uscc

from bot.domain.credit_code import (
    ALPHABET,
    check_character,
    credit_code_error,
    is_valid_credit_code,
    make_credit_code,
    normalize_credit_code,
    stdnum_check_character,
)
from bot.domain.directories import (
    KIND_LABELS,
    KINDS,
    MAX_TEXT,
    SPECS,
    CellError,
    Department,
    DirectoryObject,
    RowError,
    TooManyRows,
    cell_text,
    compared_fields,
    diff_records,
    find_header,
    fingerprint,
    header_field,
    map_header,
    parse_category,
    parse_code,
    parse_credit_code,
    parse_date,
    parse_kind,
    parse_month,
    parse_phone,
    parse_risk_class,
    parse_tags,
    spec_for,
    validate_rows,
)

# Published codes (python-stdnum's own example and business-licence codes found online).
PUBLISHED = ["91110000600037341L", "91350100M000100Y43", "91110108551385082Q"]


# -- credit codes ----------------------------------------------------------------------------


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code: str) -> None:
    assert uscc.is_valid(code)
    assert credit_code_error(code) is None
    assert make_credit_code(code[:17]) == code


def test_brief_example_code_is_not_valid() -> None:
    # "911100001000077350" appeared in the brief with a question mark: its check is N, not 0.
    assert not uscc.is_valid("911100001000077350")
    assert credit_code_error("911100001000077350") == "校验位不正确 (911100001000077350)"


def test_check_character_matches_stdnum() -> None:
    rng = random.Random(32100)
    for _ in range(5000):
        prefix = "".join(rng.choice(ALPHABET) for _ in range(17))
        assert check_character(prefix) == stdnum_check_character(prefix)


def test_make_credit_code_is_valid_for_stdnum() -> None:
    for i in range(200):
        code = make_credit_code(f"91130534MA{i:07d}")
        assert uscc.is_valid(code), code
    with pytest.raises(ValueError):
        make_credit_code("9113")
    with pytest.raises(ValueError):
        make_credit_code("91130534MA000000I")  # I is not in the alphabet


def test_normalisation() -> None:
    assert normalize_credit_code(" 9111 0000 6000 3734 1l ") == "91110000600037341L"
    assert normalize_credit_code("９１１１００００６０００３７３４１Ｌ") == "91110000600037341L"
    assert normalize_credit_code("\ufeff91110000600037341L\u200b") == "91110000600037341L"
    assert is_valid_credit_code("91110000-600037341-l")


def test_credit_code_reasons_are_precise() -> None:
    good = PUBLISHED[0]
    assert credit_code_error("") == "不能为空"
    assert credit_code_error(good[:-1]) == f"应为 18 位，实际 17 位 ({good[:-1]})"
    wrong_check = good[:-1] + ("A" if good[-1] != "A" else "B")
    assert credit_code_error(wrong_check) == f"校验位不正确 ({wrong_check})"
    with_o = good[:10] + "O" + good[11:]
    reason = credit_code_error(with_o)
    assert reason is not None and "第 11 位「O」" in reason
    letters_in_region = "91AB0000600037341L"
    assert "行政区划码" in (credit_code_error(letters_in_region) or "")


def test_non_digit_authorities_are_accepted() -> None:
    # GB 32100 authority codes include letters (N: agriculture, Y: other); stdnum rejects them.
    for prefix in ("N2130534MA0000001", "Y1130534MA0000001", "A1130534MA0000001"):
        code = make_credit_code(prefix)
        assert credit_code_error(code) is None
        assert not uscc.is_valid(code)


def test_credit_code_cells() -> None:
    good = PUBLISHED[1]
    assert parse_credit_code(f"  {good.lower()} ") == good
    assert parse_credit_code("".join(chr(ord(c) + 0xFEE0) for c in good)) == good  # full-width
    assert parse_credit_code(None) == ""
    with pytest.raises(CellError, match="存成了数字"):
        parse_credit_code(9.14403001922038e17)
    with pytest.raises(CellError, match="存成了数字"):
        parse_credit_code("9.14403E+17")  # CSV written by Excel
    with pytest.raises(CellError, match="校验位不正确"):
        parse_credit_code(good[:-1] + "0")


# -- kinds and headers -----------------------------------------------------------------------


def test_kinds() -> None:
    assert KINDS == ("departments", "inspectors", "objects", "items")
    assert KIND_LABELS["objects"] == "检查对象"
    cases = {
        "部门": "departments",
        "人员": "inspectors",
        "检查人员": "inspectors",
        "执法人员": "inspectors",
        "对象": "objects",
        "企业": "objects",
        "检查对象名录库": "objects",
        "事项": "items",
        "抽查事项清单": "items",
        " Objects ": "objects",
        "ITEMS": "items",
        "执法检查人员": "inspectors",
    }
    for text, kind in cases.items():
        assert parse_kind(text) == kind, text
    assert parse_kind("天气") is None
    assert parse_kind("") is None


@pytest.mark.parametrize(
    ("kind", "header", "field"),
    [
        ("objects", "统一社会信用代码", "credit_code"),
        ("objects", "统一社会信用代码*", "credit_code"),
        ("objects", "*统一社会信用代码", "credit_code"),
        ("objects", " 统一社会信用代码＊ ", "credit_code"),
        ("objects", "Credit Code", "credit_code"),
        ("objects", "credit_code", "credit_code"),
        ("objects", "CREDIT-CODE", "credit_code"),
        ("objects", "企业名称（全称）", "name"),
        ("objects", "法定代表人（负责人）", "legal_rep"),
        ("objects", "法定代表人(负责人)", "legal_rep"),
        ("objects", "信用风险分类", "risk_class"),
        ("objects", "risk class", "risk_class"),
        ("objects", "分类月份", "risk_month"),
        ("objects", "联系\u3000电话", "phone"),
        ("inspectors", "证件有效期至", "certificate_valid_until"),
        ("inspectors", "valid_until", "certificate_valid_until"),
        ("inspectors", "Certificate Valid Until", "certificate_valid_until"),
        ("inspectors", "执法证号*", "certificate_no"),
        ("inspectors", "所属部门编码", "department_code"),
        ("inspectors", "专业领域", "specialties"),
        ("items", "事项编码", "code"),
        ("items", "抽查主体", "department_code"),
        ("items", "检查对象类型", "object_type"),
        ("departments", "部门编码", "code"),
        ("departments", "Name", "name"),
    ],
)
def test_header_aliases(kind: str, header: str, field: str) -> None:
    assert header_field(kind, header) == field


def test_header_map_reports_missing_found_unknown() -> None:
    spec = spec_for("objects")
    header = map_header(spec, 1, ["序号", "企业名称", "备注", None, "行业"])
    assert not header.ok
    assert header.missing == ["统一社会信用代码"]
    assert header.found == ["序号", "企业名称", "备注", "行业"]
    assert header.unknown == ["备注"]  # 序号 is ignored silently
    problem = header.problem()
    assert problem is not None
    assert "缺少必填列：「统一社会信用代码」" in problem and "「企业名称」" in problem


def test_header_map_duplicate_column() -> None:
    header = map_header(spec_for("departments"), 1, ["部门编码", "部门名称", "名称"])
    assert not header.ok
    assert header.problem() == "列「部门名称」出现了不止一次（第 B、C 列），请只保留一列。"


def test_find_header_skips_a_title_row() -> None:
    rows = iter(
        [
            (1, ("清河县检查对象名录（2026 年 3 月）", None)),
            (2, (None, None)),
            (3, ("统一社会信用代码", "企业名称")),
            (4, (PUBLISHED[0], "甲公司")),
        ]
    )
    header = find_header("objects", rows)
    assert header is not None and header.ok and header.row == 3
    # the row after the header was read to see whether the header goes on over two rows:
    # it is data, handed back in `pending` (validate_rows reads it first)
    assert [n for n, _ in header.pending] == [4] and next(rows, None) is None


def test_find_header_without_any_match_returns_the_best_candidate() -> None:
    rows = iter([(1, ("名称", "代码")), (2, ("甲", "乙"))])
    header = find_header("objects", rows)
    assert header is not None and not header.ok
    assert header.missing == ["统一社会信用代码"]
    assert find_header("objects", iter([])) is None


# -- cell parsing ----------------------------------------------------------------------------


def test_cell_text_renders_excel_numbers_as_digits() -> None:
    assert cell_text(1234.0) == "1234"
    assert cell_text(1.38e10) == "13800000000"
    assert cell_text(13800000000) == "13800000000"
    assert cell_text(3.5) == "3.5"
    assert cell_text(1e-05) == "0.00001"
    assert cell_text("  甲 \u3000") == "甲"
    assert cell_text(None) == ""
    assert cell_text(datetime(2027, 12, 31)) == "2027-12-31"
    assert cell_text(True) == "是"


def test_codes_and_phones() -> None:
    assert parse_code(1234.0) == "1234"
    assert parse_code("1234.0") == "1234"
    assert parse_code(" 1301 0001 ") == "13010001"
    assert parse_code("ＳＣＪＧ") == "SCJG"
    assert parse_phone(1.38e10) == "13800000000"
    assert parse_phone("0319-1234567") == "0319-1234567"
    with pytest.raises(CellError, match="科学计数法"):
        parse_phone("1.38E+10")
    with pytest.raises(CellError, match="超过 15 位"):
        parse_code(1.301012345678901e17)


def test_tags() -> None:
    assert parse_tags("食品安全、特种设备") == "食品安全、特种设备"
    assert parse_tags("食品安全,特种设备；价格/ 广告  食品安全") == "食品安全、特种设备、价格、广告"
    assert parse_tags("食品安全，特种设备;价格") == "食品安全、特种设备、价格"
    assert parse_tags(" ") == ""
    assert parse_tags(None) == ""


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("A", "A"),
        ("a", "A"),
        (" B ", "B"),
        ("A类", "A"),
        ("Ｃ类", "C"),
        ("D级", "D"),
        ("低", "A"),
        ("一般", "B"),
        ("较高", "C"),
        ("高", "D"),
        ("高风险", "D"),
        ("较高风险", "C"),
        ("B类（一般风险）", "B"),
        ("低风险(A类)", "A"),
        ("", None),
        (None, None),
    ],
)
def test_risk_class(raw: str | None, expected: str | None) -> None:
    assert parse_risk_class(raw) == expected


@pytest.mark.parametrize("raw", ["E", "中", "A类（高风险）", "AB", "1"])
def test_risk_class_rejects(raw: str) -> None:
    with pytest.raises(CellError, match="应为 A、B、C、D 之一"):
        parse_risk_class(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2027-12-31", "2027-12-31"),
        ("2027/12/31", "2027-12-31"),
        ("2027/1/2", "2027-01-02"),
        ("2027.12.31", "2027-12-31"),
        ("2027年12月31日", "2027-12-31"),
        ("2027 年 1 月 2 日", "2027-01-02"),
        ("２０２７年１２月３１日", "2027-12-31"),
        ("20271231", "2027-12-31"),
        (20271231, "2027-12-31"),
        ("2027/12/31 0:00", "2027-12-31"),
        (datetime(2027, 12, 31, 0, 0), "2027-12-31"),
        (date(2027, 12, 31), "2027-12-31"),
        (46752, "2027-12-31"),  # Excel serial number
        (46752.0, "2027-12-31"),
        ("46752", "2027-12-31"),
        ("长期", None),
        ("长期有效", None),
        ("", None),
        (None, None),
    ],
)
def test_dates(raw: object, expected: str | None) -> None:
    assert parse_date(raw) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("2027-02-30", "日期不存在"),
        ("2027-13-01", "日期不存在"),
        ("明年", "不是可识别的日期"),
        ("12/31/2027", "不是可识别的日期"),
        ("3027-01-01", "超出合理范围"),
    ],
)
def test_dates_rejected(raw: str, reason: str) -> None:
    with pytest.raises(CellError, match=reason):
        parse_date(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-03", "2026-03"),
        ("2026-3", "2026-03"),
        ("2026/03", "2026-03"),
        ("2026.3", "2026-03"),
        ("2026年3月", "2026-03"),
        ("2026年03月", "2026-03"),
        ("202603", "2026-03"),
        (202603, "2026-03"),
        ("2026-03-15", "2026-03"),
        ("2026年3月15日", "2026-03"),
        (datetime(2026, 3, 1), "2026-03"),
        (date(2026, 3, 1), "2026-03"),
        (46082, "2026-03"),  # Excel serial for 2026-03-01
        ("46082", "2026-03"),
        ("", None),
        (None, None),
    ],
)
def test_months(raw: object, expected: str | None) -> None:
    assert parse_month(raw) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("raw", ["2026-13", "三月", "202613", "2026"])
def test_months_rejected(raw: str) -> None:
    with pytest.raises(CellError):
        parse_month(raw)


def test_category() -> None:
    assert parse_category("一般") == "一般"
    assert parse_category("重点事项") == "重点"
    assert parse_category(None) == ""
    with pytest.raises(CellError, match="「一般」或「重点」"):
        parse_category("特别")


# -- rows ------------------------------------------------------------------------------------


def _validate(kind: str, rows: list[tuple[object, ...]], **kwargs: object):  # type: ignore[no-untyped-def]
    numbered = iter(list(enumerate(rows, start=1)))
    header = find_header(kind, numbered)  # type: ignore[arg-type]
    assert header is not None and header.ok, header and header.problem()
    return validate_rows(header, numbered, **kwargs)  # type: ignore[arg-type]


def test_row_numbers_blank_rows_and_trimming() -> None:
    a, b = PUBLISHED[0], PUBLISHED[1]
    result = _validate(
        "objects",
        [
            ("统一社会信用代码*", "企业名称*", "行业", "序号"),
            (f" {a} ", " 甲公司 ", "餐饮、住宿", 1),
            (None, None, None, 2),  # only 序号: blank
            ("  ", "\u3000", None, None),  # whitespace only: blank
            (b, "乙公司", None),  # short row
        ],
    )
    assert result.ok and result.total_rows == 2
    assert result.records == [
        DirectoryObject(credit_code=a, name="甲公司", industry="餐饮、住宿"),
        DirectoryObject(credit_code=b, name="乙公司"),
    ]
    assert result.present_fields == ("credit_code", "name", "industry")


def test_errors_are_numbered_as_in_excel_and_ordered() -> None:
    a = PUBLISHED[0]
    bad = a[:-1] + "0"
    result = _validate(
        "objects",
        [
            ("企业名称", "统一社会信用代码", "信用风险分类"),
            ("甲", a, "A"),
            (None, None, None),
            ("乙", bad, "E"),
            ("", a, "B"),
        ],
        max_errors=10,
    )
    assert not result.ok and result.records == []
    assert [str(e) for e in result.errors] == [
        f"第 4 行「统一社会信用代码」：校验位不正确 ({bad})",
        "第 4 行「信用风险分类」：应为 A、B、C、D 之一（也可写 低、一般、较高、高）(E)",
        "第 5 行「企业名称」：不能为空",
        f"第 5 行「统一社会信用代码」：与第 2 行重复 ({a})",
    ]
    assert result.error_count == 4


def test_error_list_is_capped_but_counted() -> None:
    rows: list[tuple[object, ...]] = [("部门编码", "部门名称")]
    rows += [(f"D{i}", None) for i in range(25)]
    result = _validate("departments", rows, max_errors=10)
    assert result.error_count == 25 and len(result.errors) == 10
    assert result.errors[0] == RowError(2, "部门名称", "不能为空")
    assert result.errors[-1].row == 11


def test_duplicates_after_normalisation() -> None:
    code = PUBLISHED[2]
    result = _validate(
        "objects",
        [("统一社会信用代码", "企业名称"), (code, "甲"), (code.lower(), "乙"), (f" {code} ", "丙")],
    )
    assert [e.row for e in result.errors] == [3, 4]
    assert all("与第 2 行重复" in e.message for e in result.errors)


def test_department_references() -> None:
    departments = {"SCJG": "县市场监管局", "MZJ": "县民政局"}
    rows: list[tuple[object, ...]] = [
        ("姓名", "所属部门编码", "执法证号", "证件有效期至", "专业领域"),
        ("张三", "SCJG", 13010001.0, "2028-12-31", "食品安全 特种设备"),
        ("李四", "scjg", "13010002", "2027/6/30", None),
        ("王五", "县民政局", "13020001", "长期", None),
        ("赵六", "XXX", "13020002", None, None),
    ]
    result = _validate("inspectors", rows, departments=departments)
    assert [str(e) for e in result.errors] == [
        "第 5 行「所属部门编码」：部门编码「XXX」不存在，请先导入部门名录或核对编码。"
        "已知部门：县民政局（MZJ）、县市场监管局（SCJG）"
        "（可写部门编码、全称，或在部门名录的「简称/别名」列登记）"
    ]
    result = _validate("inspectors", rows[:-1], departments=departments)
    assert result.ok
    assert [(r.department_code, r.certificate_no) for r in result.records] == [
        ("SCJG", "13010001"),
        ("SCJG", "13010002"),
        ("MZJ", "13020001"),
    ]
    assert result.records[0].specialties == "食品安全、特种设备"
    assert result.records[2].certificate_valid_until is None
    empty = _validate("inspectors", rows[:2], departments={})
    assert "还没有任何部门" in empty.errors[0].message


def test_expired_certificates_and_missing_risk_classes_warn() -> None:
    inspectors = _validate(
        "inspectors",
        [
            ("姓名", "所属部门编码", "执法证号", "证件有效期至"),
            ("张三", "SCJG", "1", "2025-12-31"),
            ("李四", "SCJG", "2", "2027-12-31"),
        ],
        departments={"SCJG": "县市场监管局"},
        today=date(2026, 3, 1),
    )
    assert inspectors.ok
    assert inspectors.warnings == ["1 名人员的执法证已过期（第 2 行），请核实或更新有效期。"]
    objects = _validate(
        "objects",
        [("统一社会信用代码", "企业名称", "信用风险分类"), (PUBLISHED[0], "甲", None)],
    )
    assert objects.ok and "未填信用风险分类" in objects.warnings[0]


def test_special_characters_survive() -> None:
    result = _validate(
        "departments",
        [("部门编码", "部门名称"), ("WLJ", "县文化和旅游局 <文旅> & 😀"), ("X", "a\nb")],
    )
    assert [r.name for r in result.records] == ["县文化和旅游局 <文旅> & 😀", "a\nb"]


def test_too_long_text_is_refused() -> None:
    result = _validate("departments", [("部门编码", "部门名称"), ("X", "长" * (MAX_TEXT + 1))])
    assert result.errors[0].message.startswith("内容过长")


def test_too_many_rows() -> None:
    rows: list[tuple[object, ...]] = [("部门编码", "部门名称")] + [
        (f"D{i}", "甲") for i in range(6)
    ]
    with pytest.raises(TooManyRows, match="超过 5 行"):
        _validate("departments", rows, max_rows=5)
    assert _validate("departments", rows, max_rows=6).ok


def test_exact_integer_codes_and_short_exponents() -> None:
    assert parse_credit_code(914403001922038216) == "914403001922038216"
    with pytest.raises(CellError, match="存成了数字"):
        parse_credit_code(914403001922038000)
    assert parse_code("3E5") == "3E5"  # a code, not Excel's 3E+05


def test_diff_counts_by_key_and_values() -> None:
    spec = SPECS["departments"]
    records = [Department("A", "甲"), Department("B", "乙2"), Department("C", "丙")]
    existing = {"A": fingerprint(("甲",)), "B": fingerprint(("乙",)), "Z": fingerprint(("z",))}
    diff = diff_records(spec, records, existing, ("name",))
    assert [r.code for r in diff.inserts] == ["C"]
    assert [r.code for r in diff.updates] == ["B"]
    assert diff.unchanged == 1


def test_compared_fields_only_cover_columns_in_the_file() -> None:
    spec = SPECS["objects"]
    assert compared_fields(spec, ("credit_code", "name", "risk_class")) == ("name", "risk_class")
