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


def test_chart_png_and_cjk_font() -> None:
    data = charts.render_png(
        "一业一查指标",
        ["县民政局", "县卫健委"],
        [charts.Series("联合抽查占比", 0.6, [0.5, None])] * 3,
        target_word="目标",
    )
    assert png_size(data) == (1000, 800)
    assert charts.cjk_font() == "Noto Sans SC"  # packaged (tests/test_fonts.py)


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
    assert _plain.text("stats/county_name.j2") == "全县"


async def test_stats_and_draft_end_to_end(tmp_path: Path) -> None:
    api = FakeBotApi(limits=FAST_CLOCK)
    await api.start()
    clock.set_source(lambda: datetime(2026, 11, 30, 2, 0, tzinfo=UTC))
    try:
        open_chat(api, ADMIN_ID, "县局管理员")
        open_chat(api, 3001, "民政联络员")
        async with running_bot(settings_for(api, tmp_path / "s.sqlite3")) as app:
            db = db_of(app)
            await add_department(db, "MZJ", "县民政局")
            await add_department(db, "WJW", "县卫健委")
            await add_person(db, 3001, "民政联络员", liaison_of="MZJ")
            before = len(api.chat_messages(ADMIN_ID))
            api.send_text(ADMIN_ID, "/stats")
            sent = (await api.wait_for_messages(ADMIN_ID, before + 2))[before:]
            assert "全县" in sent[0].text and "县卫健委" in sent[0].text and "—" in sent[0].text
            assert sent[1].kind == "photo" and sent[1].photo is not None
            assert png_size(sent[1].photo) == (1000, 800)

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
    finally:
        clock.reset()
        await api.stop()


def test_chart_drops_glyphs_no_font_has() -> None:
    """A department named with an emoji still charts (pytest turns the glyph warning into an
    error), and the label keeps its Chinese characters."""
    from bot import charts

    series = [charts.Series("联合抽查占比", 0.6, [0.5, None])]
    png = charts.render_png(
        "清河县 😀", ["县文化和旅游局 😀", "县民政局"], series, target_word="目标"
    )
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    if charts.cjk_font():
        assert charts.drawable("县文化和旅游局 😀", [charts.cjk_font() or ""]) == "县文化和旅游局"
