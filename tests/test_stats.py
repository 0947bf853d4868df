"""Statistics: the ratios on a constructed data set with known answers (no inspections, a
cancelled task, a department only joining), the chart PNG, the report draft .docx, and /stats
and /reportdraft end to end through the fake Bot API."""

from __future__ import annotations

import io
import struct
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

from docx import Document

from bot import charts, clock
from bot.docx_builder import build_docx
from bot.domain import kpi
from bot.features.stats import _plain, draft_lines
from tests.fakeapi import FakeBotApi
from tests.outbox_support import (
    ADMIN_ID,
    FAST_CLOCK,
    add_department,
    add_person,
    db_of,
    open_chat,
    running_bot,
    settings_for,
)

Q4 = kpi.quarter_of(date(2026, 11, 1))
TODAY = date(2026, 12, 30)
Obj = kpi.ObjectFact


def facts() -> kpi.Facts:
    """MZJ leads a joint task (WJW joins, 2 objects, bot draw) and a single task (1 object,
    platform draw without classes); SCJG leads a cancelled joint task and a still-inviting one;
    WJW only joins; XFJ has nothing."""
    tasks = (
        kpi.TaskFact(
            1,
            "done",
            "MZJ",
            date(2026, 10, 10),
            ("WJW",),
            "bot",
            (Obj(1, "E1", "D"), Obj(2, "E2", "A")),
            date(2026, 12, 1),
        ),
        kpi.TaskFact(
            2,
            "drawn",
            "MZJ",
            date(2026, 11, 2),
            (),
            "platform",
            (Obj(1, "E3", "-"),),
            date(2026, 12, 31),
        ),
        kpi.TaskFact(3, "cancelled", "SCJG", date(2026, 11, 5), ("MZJ",), None),
        kpi.TaskFact(4, "inviting", "SCJG", date(2026, 12, 1)),
        kpi.TaskFact(5, "done", "MZJ", date(2026, 9, 1), ("WJW",), "bot", (Obj(1, "E9", "B"),)),
    )
    results = (
        kpi.ResultFact(1, 1, "MZJ", "published", (1,)),
        kpi.ResultFact(1, 1, "WJW", "published", (6,), "rectify", "closed"),
        kpi.ResultFact(1, 2, "MZJ", "published", (2, 6), "refer", "open"),
        kpi.ResultFact(1, 2, "WJW", "pending", (1,)),
        kpi.ResultFact(2, 1, "MZJ", "published", (1,)),
    )
    trainings = (kpi.TrainingFact(1, "MZJ", attend=3, leave=1), kpi.TrainingFact(1, "WJW", 2, 0))
    return kpi.Facts(
        period=Q4,
        today=TODAY,
        departments={
            "MZJ": "县民政局",
            "SCJG": "县市场监管局",
            "WJW": "县卫健委",
            "XFJ": "县消防救援大队",
        },
        tasks=tasks,
        results=results,
        trainings=trainings,
        reports=frozenset({("2026Q4", "MZJ"), ("2026Q4", "WJW")}),
        reports_due=("2026Q4",),
    )


def test_county_ratios_known_answers() -> None:
    k = kpi.compute(facts(), kpi.KpiRules())
    # counted: #1 (joint) and #2 (single); #3 cancelled, #4 inviting, #5 in Q3 are out
    assert (k.tasks, k.joint.numerator, k.joint.denominator) == (2, 1, 2)
    assert k.joint.shown == "50.0%" and k.joint.mark == "⚠️"
    assert (k.joint_enterprises.numerator, k.joint_enterprises.denominator) == (2, 3)
    # the platform draw without classes does not use credit-risk classes
    assert (k.risk.numerator, k.risk.denominator) == (1, 2)
    # entries: #1 2 objects × 2 departments + #2 1 × 1 = 5; published 4
    assert (k.completion.numerator, k.completion.denominator) == (4, 5)
    assert (k.followup.numerator, k.followup.denominator) == (1, 2)
    assert k.overdue == 1  # #1's WJW entry for object 2, deadline 12-01 passed
    assert (k.training.numerator, k.training.denominator) == (5, 6)
    assert k.trainings_held == 2
    assert (k.reports.numerator, k.reports.denominator) == (2, 4)
    assert k.categories == {1: 3, 2: 1, 6: 2}
    assert (k.problems, k.problems_followup_closed, k.problems_followup_open) == (2, 1, 1)


def test_department_counting_and_edge_cases() -> None:
    f = facts()
    lead_only = kpi.KpiRules()
    wjw = kpi.compute(f, lead_only, "WJW")  # only joins: no tasks of its own under lead_only
    assert wjw.tasks == 0 and wjw.joint.value is None and wjw.joint.shown == "—"
    assert wjw.joint.mark == "—" and wjw.tasks_joined == 1
    assert (wjw.completion.numerator, wjw.completion.denominator) == (1, 2)
    everyone = replace(lead_only, partner_counting="all_participants")
    wjw_all = kpi.compute(f, everyone, "WJW")
    assert (wjw_all.joint.numerator, wjw_all.joint.denominator) == (1, 1)
    assert wjw_all.joint.mark == "✅"
    scjg = kpi.compute(f, lead_only, "SCJG")  # cancelled and inviting: no inspections
    assert scjg.tasks == 0 and scjg.risk.shown == "—" and scjg.completion.shown == "—"
    mzj = kpi.compute(f, lead_only, "MZJ")
    assert (mzj.joint.numerator, mzj.joint.denominator) == (1, 2)
    # the cancelled task MZJ had joined does not count, even with all_participants
    assert kpi.compute(f, everyone, "MZJ").tasks == 2
    # single-department tasks left out of the 95% ratio
    joint_only = replace(lead_only, risk_single_counts=False)
    assert kpi.compute(f, joint_only).risk.shown == "100.0%"
    # counting still-inviting tasks too
    with_inviting = replace(lead_only, counted_states=(*lead_only.counted_states, "inviting"))
    assert kpi.compute(f, with_inviting).tasks == 3
    empty = kpi.compute(replace(f, tasks=(), results=(), trainings=()), lead_only)
    assert [r.shown for r in empty.targets] == ["—", "—", "—"]
    assert empty.overdue == 0


def test_periods() -> None:
    assert kpi.parse_period(None, date(2026, 11, 30)) == Q4
    assert Q4.start == date(2026, 10, 1) and Q4.end == date(2026, 12, 31)
    year = kpi.parse_period("year", date(2026, 11, 30))
    assert year is not None and year.quarters[0] == "2026Q1" and year.label == "2026年度"
    assert kpi.parse_period("2025q1", TODAY) == kpi.quarter_of(date(2025, 2, 1))
    assert kpi.parse_period("nonsense", TODAY) is None


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


DEPARTMENTS_30 = [f"县第{i + 1}管理局" for i in range(27)] + [
    "县城市管理综合行政执法局",
    "县人力资源和社会保障局",
    "县住房和城乡建设局",
]


def test_chart_png_and_cjk_font() -> None:
    data = charts.render_png(
        "一业一查指标",
        ["县民政局", "县卫健委"],
        [charts.Series("联合抽查占比", 0.6, [0.5, None], 0.5)] * 3,
        words=charts.Words("目标", "清河县", "暂无数据"),
    )
    assert data.startswith(b"\x89PNG")
    assert charts.cjk_font() == "Noto Sans SC"  # packaged (tests/test_fonts.py)


def test_chart_rows_sorted_and_sized_for_thirty_departments() -> None:
    """Highest value on top, ties by name, — last; the picture grows with the departments
    (one row each) and stays within what Telegram shows without shrinking it (1380 px wide)."""
    rows = charts.sorted_rows(["B局", "A局", "C局", "D局"], [0.5, 0.5, None, 0.9])
    assert rows == [("D局", 0.9), ("A局", 0.5), ("B局", 0.5), ("C局", None)]
    series = [
        charts.Series("比例", 0.6, [(i % 11) / 10 for i in range(30)], 0.55) for _ in range(3)
    ]
    words = charts.Words("目标", "清河县", "暂无数据")
    width30, height30 = png_size(charts.render_png("指标", DEPARTMENTS_30, series, words=words))
    few = [charts.Series("比例", 0.6, s.values[:8], 0.55) for s in series]
    width8, height8 = png_size(charts.render_png("指标", DEPARTMENTS_30[:8], few, words=words))
    assert width30 == width8 == 1380
    assert height8 < height30 <= 1100  # 0.27 inch per row: 31 rows, title, axis
    # each of the 22 more departments adds one row of 0.27 inch (27 px), nothing else changes
    assert abs((height30 - height8) - 22 * charts.ROW_IN * charts.DPI) <= 1


def test_chart_folds_departments_without_data() -> None:
    """A department with no value in any panel gets no bar, only a name in the footnote line:
    the chart is the same height as one without it, plus that line."""
    words = charts.Words("目标", None, "暂无数据")
    with_idle = charts.render_png(
        "指标",
        ["甲局", "乙局", "丙局"],
        [charts.Series("比例", 0.6, [0.7, 0.2, None])] * 3,
        words=words,
    )
    without = charts.render_png(
        "指标", ["甲局", "乙局"], [charts.Series("比例", 0.6, [0.7, 0.2])] * 3, words=words
    )
    assert png_size(with_idle)[1] - png_size(without)[1] == 40  # the footnote, not a row


def test_idle_departments() -> None:
    f = facts()
    rules = kpi.KpiRules()
    assert kpi.compute(f, rules, "XFJ").idle  # nothing at all
    assert not kpi.compute(f, rules, "WJW").idle  # only joins, but has entries to make
    assert not kpi.compute(f, rules, "MZJ").idle
    assert kpi.compute(f, rules, "SCJG").idle  # a cancelled and an inviting task only


def test_report_draft_docx_numbers() -> None:
    f = facts()
    k = kpi.compute(f, kpi.KpiRules(), "MZJ")
    lines = draft_lines(
        f, kpi.KpiRules(), k, {1: "未发现问题", 2: "未按规定公示", 6: "待后续处理"}, "全县"
    )
    doc = Document(io.BytesIO(build_docx(lines)))
    text = "\n".join(p.text for p in doc.paragraphs)
    assert "县民政局2026年第四季度" in text
    for heading in ("好的做法", "存在问题", "下一步打算"):
        assert heading in text
    cells = {
        row.cells[0].text: [c.text for c in row.cells[1:]] for t in doc.tables for row in t.rows
    }
    assert cells["牵头任务"] == ["2"] and cells["参加任务（配合）"] == ["0"]
    assert cells["检查企业（户）"] == ["3"]
    assert cells["联合抽查占比"][:2] == ["50.0%", "1/2"]
    assert cells["信用风险分类应用率"][:2] == ["50.0%", "1/2"]
    assert cells["未发现问题"] == ["2"] and cells["待后续处理"] == ["1"]
    assert "发现问题 1 条" in text
    assert _plain.text("stats/county_name.j2", name="") == "全县"
    assert _plain.text("stats/county_name.j2", name="清河县") == "清河县"
    county = draft_lines(f, kpi.KpiRules(), kpi.compute(f, kpi.KpiRules()), {}, "清河县")
    assert county[0] == "# 清河县2026年第四季度“一业一查”联合抽查工作进展报告"
    # no "0/0": a ratio without a denominator is "—" in its fraction column
    xfj = draft_lines(f, kpi.KpiRules(), kpi.compute(f, kpi.KpiRules(), "XFJ"), {}, "清河县")
    assert not any("0/0" in line for line in xfj)
    assert "| 联合抽查占比 | — | — | ≥60.0% | — |" in xfj


async def test_stats_and_draft_end_to_end(tmp_path: Path) -> None:
    api = FakeBotApi(limits=FAST_CLOCK)
    await api.start()
    clock.set_source(lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    try:
        open_chat(api, ADMIN_ID, "县局管理员")
        open_chat(api, 3001, "民政联络员")
        settings = settings_for(api, tmp_path / "s.sqlite3")
        settings = replace(settings, tunables=replace(settings.tunables, county_name="清河县"))
        async with running_bot(settings) as app:
            db = db_of(app)
            await add_department(db, "MZJ", "县民政局")
            await add_department(db, "WJW", "县卫健委")
            await add_department(db, "XFJ", "县消防救援大队")
            await add_person(db, 3001, "民政联络员", liaison_of="MZJ")
            before = len(api.chat_messages(ADMIN_ID))
            api.send_text(ADMIN_ID, "/stats")
            sent = (await api.wait_for_messages(ADMIN_ID, before + 2))[before:]
            text = sent[0].text
            assert "清河县" in text and "全县" not in text and "—" in text
            # nothing to show: the three departments folded into one line, no "0/0" anywhere
            assert "本期无检查活动（3 个部门）：县民政局、县卫健委、县消防救援大队。" in text
            assert "0/0" not in text and "· 季度报告报送：—" in text
            # the states in Chinese, never the database's words
            assert "状态为已确认、已抽取、检查中、待公示、已完成的任务" in text
            for word in ("confirmed", "drawn", "inspecting", "publishing", "done"):
                assert word not in text
            assert sent[1].kind == "photo" and sent[1].photo is not None
            assert png_size(sent[1].photo)[0] == 1380
            assert "按完成值排序" in sent[1].text

            before = len(api.chat_messages(ADMIN_ID))
            api.send_text(ADMIN_ID, "/reportdraft")
            sent = (await api.wait_for_messages(ADMIN_ID, before + 1))[before:]
            assert sent[0].document is not None
            doc = Document(io.BytesIO(sent[0].document.content))
            assert doc.paragraphs[0].text.startswith("清河县2026年第四季度")
            assert "/report" not in sent[0].text and "清河县" in sent[0].text

            before = len(api.chat_messages(3001))
            api.send_text(3001, "/stats year")
            sent = (await api.wait_for_messages(3001, before + 2))[before:]
            assert "县民政局" in sent[0].text and "县卫健委" not in sent[0].text
            assert "2026年度" in sent[0].text

            before = len(api.chat_messages(3001))
            api.send_text(3001, "/reportdraft")
            sent = (await api.wait_for_messages(3001, before + 1))[before:]
            assert sent[0].document is not None
            assert sent[0].document.file_name.endswith("县民政局.docx")
            doc = Document(io.BytesIO(sent[0].document.content))
            assert any("下一步打算" in p.text for p in doc.paragraphs)
            assert "通过 /report 报送" in sent[0].text  # liaisons submit with /report
    finally:
        clock.reset()
        await api.stop()


def test_chart_drops_glyphs_no_font_has() -> None:
    """A department named with an emoji still charts (pytest turns the glyph warning into an
    error), and the label keeps its Chinese characters."""
    from bot import charts

    series = [charts.Series("联合抽查占比", 0.6, [0.5, None])]
    png = charts.render_png(
        "清河县 😀",
        ["县文化和旅游局 😀", "县民政局"],
        series,
        words=charts.Words("目标 😀", "清河县", "暂无数据"),
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    if charts.cjk_font():
        assert charts.drawable("县文化和旅游局 😀", [charts.cjk_font() or ""]) == "县文化和旅游局"


def test_risk_use_needs_a_classified_population() -> None:
    def task(
        n: int, source: str, objs: tuple[kpi.ObjectFact, ...], pop: tuple[int, int] | None
    ) -> kpi.TaskFact:
        return kpi.TaskFact(
            n, "drawn", "MZJ", date(2026, 11, 2), ("WJW",), source, objs, population=pop
        )

    graded = (Obj(1, "E1", "A"),)
    tasks = (
        task(1, "bot", graded, (0, 40)),  # no grades at all: stratum "-" only
        task(2, "bot", graded, (85, 100)),  # 85% classified: below the default 90%
        task(3, "bot", graded, (95, 100)),
        task(4, "platform", tuple(Obj(i, f"P{i}", "B" if i < 9 else "-") for i in range(10)), None),
        task(5, "platform", (Obj(1, "P1", "-"), Obj(2, "P2", "C")), None),  # 50%
    )
    f = replace(facts(), tasks=tasks, results=(), trainings=())
    k = kpi.compute(f, kpi.KpiRules())
    assert (k.risk.numerator, k.risk.denominator) == (2, 5)  # #3 and #4 (9 of 10 drawn)
    lenient = kpi.compute(f, replace(kpi.KpiRules(), risk_classified_share=0.5))
    assert (lenient.risk.numerator, lenient.risk.denominator) == (4, 5)
    none = replace(f, tasks=(task(1, "bot", graded, (0, 40)),))
    assert kpi.compute(none, kpi.KpiRules()).risk.shown == "0.0%"
