"""The draw's rules (bot/domain/draw.py): pure, no Telegram, no database."""

from __future__ import annotations

from datetime import date

import pytest

from bot.domain import draw as d

START, END = date(2026, 12, 7), date(2026, 12, 18)
DEPTS = (d.DepartmentIn("MZJ", "县民政局"), d.DepartmentIn("WJW", "县卫健委"))


def objects(per_class: dict[str, int], industry: str = "养老机构") -> tuple[d.ObjectIn, ...]:
    found = []
    for cls, n in per_class.items():
        for i in range(n):
            found.append(d.ObjectIn(f"{cls}{i:017d}", cls, "在业", industry))
    return tuple(found)


def inspectors(per_dept: int = 6) -> tuple[d.InspectorIn, ...]:
    return tuple(
        d.InspectorIn(f"{dept}{j:03d}", dept) for dept in ("MZJ", "WJW") for j in range(per_dept)
    )


def inputs(**changes: object) -> d.DrawInputs:
    values: dict[str, object] = dict(
        industry="养老机构",
        window_start=START,
        window_end=END,
        lead="MZJ",
        departments=DEPTS,
        objects=objects({"A": 100, "B": 40, "C": 10, "D": 3}),
        inspectors=inspectors(),
    )
    values.update(changes)
    return d.DrawInputs(**values)  # type: ignore[arg-type]


def test_stratified_counts_and_ceil_rounding() -> None:
    result = d.draw(inputs(), "s1")
    counts = {s.risk_class: (s.candidates, s.drawn) for s in result.strata}
    # A 3% of 100 = 3; B 5% of 40 = 2; C 20% of 10 = 2; D 100% of 3 = 3
    assert counts == {"A": (100, 3), "B": (40, 2), "C": (10, 2), "D": (3, 3)}
    assert [o.seq for o in result.objects] == list(range(1, 11))


def test_rounding_never_yields_zero_for_a_non_empty_class() -> None:
    assert d.stratum_size(1, 3) == 1
    assert d.stratum_size(34, 3) == 2  # 1.02 -> 2
    assert d.stratum_size(33, 3) == 1  # 0.99 -> 1
    assert d.stratum_size(0, 50) == 0
    assert d.stratum_size(5, 100) == 5


def test_closed_other_industries_and_yearly_cap_are_left_out() -> None:
    objs = (
        d.ObjectIn("X1", "D", "注销", "养老机构"),
        d.ObjectIn("X2", "D", "吊销，未注销", "养老机构"),
        d.ObjectIn("X3", "D", "在业", "网吧"),
        d.ObjectIn("X4", "D", "存续", "养老机构、学校食堂"),
        d.ObjectIn("X5", "D", "在业", "养老机构"),
    )
    result = d.draw(inputs(objects=objs, prior={"X5": 1}), "s")
    assert [o.credit_code for o in result.objects] == ["X4"]
    assert (result.excluded_closed, result.excluded_cap) == (2, 1)
    capped = d.draw(inputs(objects=objs, prior={"X5": 1}, rules=d.Rules(yearly_cap=2)), "s")
    assert [o.credit_code for o in capped.objects] == ["X4", "X5"]


def test_inspectors_per_object_and_per_department() -> None:
    result = d.draw(inputs(), "s")
    for obj in result.objects:
        assert len(obj.inspectors) >= 2
        assert {dept for dept, _ in obj.inspectors} == {"MZJ", "WJW"}
    single = d.draw(inputs(departments=DEPTS[:1]), "s")
    assert all(len(o.inspectors) == 2 for o in single.objects)  # the lead makes up two


def test_certificate_expiring_inside_the_window_and_inactive_are_not_drawn() -> None:
    people = (
        d.InspectorIn("MZJ001", "MZJ", date(2026, 12, 10)),  # expires mid-window
        d.InspectorIn("MZJ002", "MZJ", date(2026, 12, 18)),  # valid through the last day
        d.InspectorIn("MZJ003", "MZJ", active=False),
        d.InspectorIn("WJW001", "WJW"),
    )
    result = d.draw(inputs(inspectors=people), "s")
    assert set(result.loads()) == {"MZJ002", "WJW001"}


def test_conflicts_are_honoured() -> None:
    objs = objects({"D": 4})
    conflicts = frozenset(("MZJ000", o.credit_code) for o in objs[:3])
    result = d.draw(inputs(objects=objs, conflicts=conflicts), "s")
    assert "MZJ000" in result.loads()  # still drawn for the fourth enterprise
    for obj in result.objects:
        assert all((c, obj.credit_code) not in conflicts for _, c in obj.inspectors)


def test_specialty_matching() -> None:
    depts = (d.DepartmentIn("MZJ", "县民政局", ("养老机构消防安全",)), DEPTS[1])
    people = (
        d.InspectorIn("MZJ001", "MZJ", specialties=("消防",)),
        d.InspectorIn("MZJ002", "MZJ", specialties=("财务",)),
        d.InspectorIn("WJW001", "WJW", specialties=("医疗",)),
    )
    result = d.draw(inputs(departments=depts, inspectors=people), "s")
    assert "MZJ002" not in result.loads() and "MZJ001" in result.loads()
    assert "WJW001" in result.loads()  # WJW's items name no specialty: not used


def test_workload_is_spread_evenly() -> None:
    result = d.draw(inputs(objects=objects({"D": 37})), "s")
    loads = result.loads()
    for dept in ("MZJ", "WJW"):
        mine = [n for c, n in loads.items() if c.startswith(dept)]
        assert max(mine) <= sum(mine) / len(mine) + 1
        assert max(mine) - min(mine) <= 1


def test_shortage_names_the_department_and_how_many() -> None:
    people = (d.InspectorIn("MZJ001", "MZJ"),)
    with pytest.raises(d.ShortageError) as err:
        d.draw(inputs(inspectors=people), "s")
    assert "县卫健委" in str(err.value) and "还差 1 名" in str(err.value)
    lonely = (d.InspectorIn("MZJ001", "MZJ"),)
    with pytest.raises(d.ShortageError) as err:
        d.draw(inputs(departments=DEPTS[:1], inspectors=lonely), "s")
    assert "县民政局" in str(err.value) and "还差 1 名" in str(err.value)


def test_same_seed_same_result_different_seed_different_result() -> None:
    big = inputs(objects=objects({"A": 500, "B": 300, "C": 100}))
    assert d.draw(big, "seed-1") == d.draw(big, "seed-1")
    assert d.draw(big, "seed-1").to_json() != d.draw(big, "seed-2").to_json()
    # input order does not matter: the inputs are sorted canonically first
    shuffled = inputs(objects=tuple(reversed(big.objects)))
    assert d.draw(shuffled, "seed-1") == d.draw(big, "seed-1")
    assert d.canonical(shuffled) == d.canonical(big)


def test_verify_round_trip_and_tampering() -> None:
    inp = inputs()
    text = d.canonical(inp)
    result = d.draw(inp, "abc")
    assert d.from_canonical(text) == inp or d.canonical(d.from_canonical(text)) == text
    ok = d.verify(
        source="bot",
        seed="abc",
        algorithm=d.ALGORITHM_VERSION,
        recorded_hash=d.input_hash(text),
        inputs_text=text,
        result_text=result.to_json(),
    )
    assert ok.identical
    bad = d.verify(
        source="bot",
        seed="abd",
        algorithm=d.ALGORITHM_VERSION,
        recorded_hash=d.input_hash(text),
        inputs_text=text,
        result_text=result.to_json(),
    )
    assert not bad.identical and bad.result_ok is False


def test_replacement_is_deterministic_and_avoids_the_team_and_conflicts() -> None:
    inp = inputs(objects=objects({"D": 2}))
    result = d.draw(inp, "s")
    obj = result.objects[0]
    team = [c for _, c in obj.inspectors]
    old = next(c for dept, c in obj.inspectors if dept == "MZJ")
    conflicted = d.DrawInputs(**{**inp.__dict__, "conflicts": frozenset({(old, obj.credit_code)})})
    first = d.replacement(conflicted, "s", 1, "MZJ", obj.credit_code, team, result.loads())
    again = d.replacement(conflicted, "s", 1, "MZJ", obj.credit_code, team, result.loads())
    assert first == again and first not in team and first.startswith("MZJ")
