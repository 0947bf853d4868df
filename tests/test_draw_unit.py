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


# -- version 2: random teams, declared counts, rotation --------------------------------------------

THREE = ("AAA", "BBB", "CCC")


def three_by_three(**changes: object) -> d.DrawInputs:
    """3 departments × 3 eligible inspectors, 30 enterprises (all class D: all drawn)."""
    values: dict[str, object] = dict(
        industry="养老机构",
        window_start=START,
        window_end=END,
        lead="AAA",
        departments=tuple(d.DepartmentIn(c, f"县{c}局") for c in THREE),
        objects=objects({"D": 30}),
        inspectors=tuple(d.InspectorIn(f"{c}{j}", c) for c in THREE for j in range(3)),
    )
    values.update(changes)
    return d.DrawInputs(**values)  # type: ignore[arg-type]


def teams(result: d.DrawResult) -> list[tuple[str, ...]]:
    return [tuple(c for _, c in o.inspectors) for o in result.objects]


def test_new_draws_record_version_2_and_old_inputs_replay_version_1() -> None:
    inp = three_by_three()
    assert inp.version == d.TEAMS_VERSION == 2
    text = d.canonical(inp)
    assert '"version":2' in text and d.canonical(d.from_canonical(text)) == text
    old = d.DrawInputs(**{**inp.__dict__, "version": 1})
    old_text = d.canonical(old)
    assert "version" not in old_text and "rotation" not in old_text  # the text hashed before
    assert d.from_canonical(old_text).version == 1
    # version 1: one shuffle, then rotation: the same trio every third enterprise
    assert len(set(teams(d.draw(old, "s")))) == 3
    assert d.draw(d.from_canonical(old_text), "s") == d.draw(old, "s")


def test_teams_are_random_close_to_what_balance_allows() -> None:
    # balance allows at most 27 different teams (3 × 3 × 3) over 30 enterprises
    distinct = [len(set(teams(d.draw(three_by_three(), f"seed-{n}")))) for n in range(40)]
    assert min(distinct) >= 21, distinct
    assert sum(distinct) / len(distinct) >= 24, distinct
    first, second = d.draw(three_by_three(), "seed-a"), d.draw(three_by_three(), "seed-b")
    assert teams(first) != teams(second)
    assert d.draw(three_by_three(), "seed-a") == first  # and the same seed, the same teams


def test_constraints_hold_over_many_seeds() -> None:
    people = [d.InspectorIn(f"AAA{j}", "AAA") for j in range(4)]
    people += [d.InspectorIn(f"BBB{j}", "BBB") for j in range(3)]
    people += [d.InspectorIn(f"CCC{j}", "CCC", specialties=("消防",)) for j in range(3)]
    people += [
        d.InspectorIn("CCC8", "CCC", specialties=("财务",)),  # wrong specialty
        d.InspectorIn("CCC9", "CCC", date(2026, 12, 17), ("消防",)),  # expires in the window
        d.InspectorIn("BBB9", "BBB", active=False),
    ]
    depts = (
        d.DepartmentIn("AAA", "县AAA局"),
        d.DepartmentIn("BBB", "县BBB局"),
        d.DepartmentIn("CCC", "县CCC局", ("消防检查",)),
    )
    objs = objects({"D": 23})
    for n in range(150):
        inp = three_by_three(departments=depts, inspectors=tuple(people), objects=objs)
        result = d.draw(inp, f"prop-{n}")
        assert len(result.objects) == 23
        for obj in result.objects:
            certs = [c for _, c in obj.inspectors]
            assert len(certs) >= 2 and len(set(certs)) == len(certs)
            assert {dept for dept, _ in obj.inspectors} == set(THREE)
            assert not {"CCC8", "CCC9", "BBB9"} & set(certs)
        loads = result.loads()
        for dept in THREE:
            mine = [
                loads.get(i.certificate_no, 0) for i in d.eligible(inp, depts[THREE.index(dept)])
            ]
            assert max(mine) - min(mine) <= 1, (n, dept, mine)


def test_conflicts_and_rotation_hold_over_many_seeds() -> None:
    objs = objects({"D": 12})
    conflicts = frozenset({("AAA0", objs[0].credit_code), ("BBB1", objs[1].credit_code)})
    for n in range(100):
        first = d.draw(three_by_three(objects=objs, conflicts=conflicts), f"rot-{n}")
        pairs = frozenset((c, o.credit_code) for o in first.objects for _, c in o.inspectors)
        assert not pairs & conflicts
        second = d.draw(three_by_three(objects=objs, previous=pairs), f"rot-{n}-next")
        again = {(c, o.credit_code) for o in second.objects for _, c in o.inspectors}
        assert not again & pairs  # nobody back at the same enterprise
        loose = d.draw(
            three_by_three(objects=objs, previous=pairs, rules=d.Rules(rotation=False)),
            f"rot-{n}-next",
        )
        assert len(loose.objects) == 12
    # when nobody else of the department can go, the rule gives way (a conflict never does)
    lonely = three_by_three(
        objects=objs[:1],
        inspectors=tuple(d.InspectorIn(f"{c}0", c) for c in THREE),
        previous=frozenset({("BBB0", objs[0].credit_code)}),
    )
    assert "BBB0" in d.draw(lonely, "s").loads()
    with pytest.raises(d.ShortageError) as err:
        d.draw(
            d.DrawInputs(
                **{**lonely.__dict__, "conflicts": frozenset({("BBB0", objs[0].credit_code)})}
            ),
            "s",
        )
    assert "县BBB局" in str(err.value) and objs[0].credit_code in str(err.value)


def test_declared_counts_are_honoured() -> None:
    depts = (
        d.DepartmentIn("AAA", "县AAA局"),
        d.DepartmentIn("BBB", "县BBB局", declared=2),
        d.DepartmentIn("CCC", "县CCC局", declared=1),
    )
    people = tuple(d.InspectorIn(f"{c}{j}", c) for c in THREE for j in range(5))
    chosen: set[frozenset[str]] = set()
    for n in range(60):
        inp = three_by_three(departments=depts, inspectors=people)
        result = d.draw(inp, f"decl-{n}")
        by_dept: dict[str, set[str]] = {c: set() for c in THREE}
        for obj in result.objects:
            for dept, cert in obj.inspectors:
                by_dept[dept].add(cert)
        assert len(by_dept["AAA"]) == 5  # no declaration: every eligible inspector takes part
        assert len(by_dept["BBB"]) == 2 and len(by_dept["CCC"]) == 1
        chosen.add(frozenset(by_dept["BBB"]))
        loads = result.loads()
        assert abs(loads[min(by_dept["BBB"])] - loads[max(by_dept["BBB"])]) <= 1
    assert len(chosen) > 3  # which two is drawn at random too
    # 派出 2 with per_department 3: two per object, not three
    rich = three_by_three(departments=depts, inspectors=people, rules=d.Rules(per_department=3))
    for obj in d.draw(rich, "s").objects:
        assert [dept for dept, _ in obj.inspectors].count("BBB") == 2
    # a replacement (回避) stays within the two once both take part
    inp = three_by_three(departments=depts, inspectors=people)
    result = d.draw(inp, "r")
    obj = result.objects[0]
    team = [c for _, c in obj.inspectors]
    old = next(c for dept, c in obj.inspectors if dept == "BBB")
    busy = d.DrawInputs(**{**inp.__dict__, "conflicts": frozenset({(old, obj.credit_code)})})
    new = d.replacement(busy, "r", 1, "BBB", obj.credit_code, team, result.loads())
    assert new != old and result.loads().get(new, 0) > 0
