"""The pure rules of results (bot/domain/results.py): the one-line form, categories, who may
enter, completion, follow-up commands and formula neutralisation."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import results as r
from bot.domain.results import (
    EntryRefusal,
    LineError,
    LineProblem,
    Measure,
    Method,
    ObjectRef,
    ResultState,
)
from bot.domain.workdays import WorkCalendar

LABELS = {i: f"label{i}" for i in range(1, 14)}


def test_parse_line_good() -> None:
    line = r.parse_line(["12", "3", "1"])
    assert isinstance(line, r.Line)
    assert (line.task_id, line.obj, line.codes, line.method, line.note) == (
        12,
        ObjectRef(seq=3),
        (1,),
        None,
        "",
    )
    line = r.parse_line(["#12", "91130123ma07xxxxxx", "2,5", "6", "书面", "已当场", "责令改正"])
    assert isinstance(line, r.Line)
    assert line.obj == ObjectRef(credit_code="91130123MA07XXXXXX")
    assert line.codes == (2, 5, 6) and line.method is Method.DOCUMENT
    assert line.note == "已当场 责令改正"
    full_width = r.parse_line(["１２", "３", "２，５"])
    assert isinstance(full_width, r.Line) and full_width.codes == (2, 5)
    dupes = r.parse_line(["1", "1", "2、2;5"])
    assert isinstance(dupes, r.Line) and dupes.codes == (2, 5)


@pytest.mark.parametrize(
    ("args", "problem"),
    [
        ([], LineProblem.USAGE),
        (["12", "3"], LineProblem.USAGE),
        (["x", "3", "1"], LineProblem.TASK),
        (["0", "3", "1"], LineProblem.TASK),
        (["12", "abc", "1"], LineProblem.OBJECT),
        (["12", "0", "1"], LineProblem.OBJECT),
        (["12", "3", "合格"], LineProblem.NO_CATEGORY),
        (["12", "3", "1,x"], LineProblem.CATEGORY_SYNTAX),
        (["12", "3", "1", "x" * 501], LineProblem.NOTE_TOO_LONG),
    ],
)
def test_parse_line_problems(args: list[str], problem: LineProblem) -> None:
    found = r.parse_line(args)
    assert isinstance(found, LineError) and found.problem is problem


def test_categories() -> None:
    assert r.check_categories([1], LABELS) is None
    assert r.check_categories([2, 5], LABELS) is None
    assert r.check_categories([], LABELS) == (r.CategoryProblem.EMPTY, [])
    assert r.check_categories([2, 99, 0], LABELS) == (r.CategoryProblem.UNKNOWN, [99, 0])
    assert r.check_categories([1, 5], LABELS) == (r.CategoryProblem.EXCLUSIVE, [5])
    assert r.toggle([], 2) == [2]
    assert r.toggle([2], 5) == [2, 5]
    assert r.toggle([2, 5], 2) == [5]
    assert r.toggle([2, 5], 1) == [1]
    assert r.toggle([1], 3) == [3]
    assert r.needs_followup([2, 6], [6]) and not r.needs_followup([1], [6])


def test_who_may_enter() -> None:
    # an assigned inspector enters for their own department
    assert r.entry_department("MZJ", ["MZJ", "WJW"], True, ()) == "MZJ"
    # an inspector not on the object: nobody
    assert r.entry_department("MZJ", ["MZJ", "WJW"], False, ()) is None
    # the liaison of a department on the object
    assert r.entry_department(None, ["MZJ", "WJW"], False, ("WJW",)) == "WJW"
    assert r.entry_department(None, ["MZJ"], False, ("WJW",)) is None
    ok = dict(task_open=True, department="MZJ", current=None, method=Method.DOCUMENT)
    assert r.entry_refusal(**ok, checked_in=False) is None
    assert r.entry_refusal(**{**ok, "task_open": False}, checked_in=True) is (
        EntryRefusal.TASK_STATE
    )
    assert r.entry_refusal(**{**ok, "department": None}, checked_in=True) is (
        EntryRefusal.NOT_YOURS
    )
    assert r.entry_refusal(**{**ok, "current": ResultState.PUBLISHED}, checked_in=True) is (
        EntryRefusal.PUBLISHED
    )
    assert r.entry_refusal(**{**ok, "current": ResultState.RETURNED}, checked_in=True) is None
    assert r.entry_refusal(**{**ok, "method": Method.ONSITE}, checked_in=False) is (
        EntryRefusal.CHECKIN
    )


def test_completion_and_deadline() -> None:
    pairs = [(1, "MZJ"), (1, "WJW"), (2, "MZJ")]
    assert r.progress_stage(pairs, {}) == "drawn"
    states = {(1, "MZJ"): ResultState.PUBLISHED, (1, "WJW"): ResultState.RETURNED}
    assert r.progress_stage(pairs, states) == "inspecting"
    assert [(m.seq, m.department, m.state) for m in r.missing(pairs, states)] == [
        (1, "WJW", ResultState.RETURNED),
        (2, "MZJ", None),
    ]
    states[(1, "WJW")] = ResultState.PENDING
    states[(2, "MZJ")] = ResultState.PENDING
    assert r.progress_stage(pairs, states) == "publishing"
    done = dict.fromkeys(pairs, ResultState.PUBLISHED)
    assert r.progress_stage(pairs, done) == "done" and r.missing(pairs, done) == []
    calendar = WorkCalendar(holidays=[date(2026, 12, 25)])
    # Friday 18 December + 20 working days, the 25th a holiday
    assert r.result_deadline(date(2026, 12, 18), calendar, 20) == date(2027, 1, 18)


def test_followup_commands() -> None:
    rect = r.parse_followup(["12", "3", "整改", "2026-12-31", "消防通道"])
    assert isinstance(rect, r.FollowupCommand)
    assert rect.measure is Measure.RECTIFY and rect.due == date(2026, 12, 31)
    assert rect.note == "消防通道"
    assert r.parse_followup(["12", "3", "整改"]) is r.FollowupProblem.DUE
    assert r.parse_followup(["12", "3", "整改", "2026-02-30"]) is r.FollowupProblem.DUE
    notify = r.parse_followup(["12", "3", "抄告", "县消防救援大队"])
    assert isinstance(notify, r.FollowupCommand) and notify.department == "县消防救援大队"
    assert r.parse_followup(["12", "3", "抄告"]) is r.FollowupProblem.DEPARTMENT
    refer = r.parse_followup(["12", "3", "移送"])
    assert isinstance(refer, r.FollowupCommand) and refer.measure is Measure.REFER
    close = r.parse_followup(["12", "3", "完结", "2026年12月20日", "已整改"])
    assert isinstance(close, r.FollowupCommand) and close.measure is None
    assert close.due == date(2026, 12, 20) and close.note == "已整改"
    assert r.parse_followup(["12", "3", "罚款"]) is r.FollowupProblem.MEASURE
    assert r.parse_followup(["12"]) is r.FollowupProblem.USAGE


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+86", "'+86"),
        ("-5", "'-5"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("幸福养老院", "幸福养老院"),
        ("a=1", "a=1"),
        (3, 3),
    ],
)
def test_neutralise(value: object, expected: object) -> None:
    assert r.neutralise(value) == expected


def test_export_columns_order() -> None:
    assert r.EXPORT_COLUMNS[:4] == ("序号", "任务名称", "统一社会信用代码", "企业名称")
    assert r.EXPORT_COLUMNS[-3:] == ("后续处置", "处置状态", "备注")
