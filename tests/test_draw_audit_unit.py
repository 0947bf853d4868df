"""Verification of a draw against the rows people act on, and its chain of later changes
(bot/domain/draw_audit.py): pure, no Telegram, no database."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import date

import pytest

from bot.domain import draw as d
from bot.domain import draw_audit as a

START, END = date(2026, 12, 7), date(2026, 12, 18)
DEPTS = (d.DepartmentIn("MZJ", "县民政局"), d.DepartmentIn("WJW", "县卫健委"))
SEED = "s1"


def inputs(**changes: object) -> d.DrawInputs:
    values: dict[str, object] = dict(
        industry="养老机构",
        window_start=START,
        window_end=END,
        lead="MZJ",
        departments=DEPTS,
        objects=tuple(d.ObjectIn(f"D{i:017d}", "D", "在业", "养老机构") for i in range(6)),
        inspectors=(
            *(d.InspectorIn(f"{dp}{j:03d}", dp) for dp in ("MZJ", "WJW") for j in range(4)),
            d.InspectorIn("MZJ900", "MZJ", date(2025, 6, 30)),  # expired
        ),
    )
    values.update(changes)
    return d.DrawInputs(**values)  # type: ignore[arg-type]


def recorded(source: str = "bot", seed: str = SEED, result: d.DrawResult | None = None) -> a.Record:
    text = d.canonical(inputs())
    result = result or d.draw(inputs(), seed)
    return a.Record(
        task_id=7,
        source=source,
        seed=seed,
        algorithm=d.ALGORITHM_VERSION,
        input_hash=d.input_hash(text),
        inputs_text=text,
        result_text=result.to_json(),
        drawn_by=42,
        created_at="2026-11-30T02:00:00Z",
    )


def rows_of(objects: dict[int, tuple[str, str]], teams: dict[int, list[tuple[str, str]]]) -> a.Rows:
    return a.Rows(
        tuple((s, c, k) for s, (c, k) in sorted(objects.items())),
        tuple((s, dept, cert) for s in sorted(teams) for dept, cert in teams[s]),
    )


def chained(record: a.Record, changes: list[a.Change]) -> tuple[a.Record, list[a.Entry]]:
    entries = a.build_chain(record.genesis(), record.input_hash, changes)
    return replace(record, chain_head=entries[-1].hash), entries


def swap_on(result: d.DrawResult, seq: int, new: str, **extra: object) -> a.Change:
    obj = result.objects[seq - 1]
    dept, old = next((dp, c) for dp, c in obj.inspectors if dp == "MZJ")
    values: dict[str, object] = dict(
        kind="swap",
        seq=seq,
        credit_code=obj.credit_code,
        department=dept,
        old=old,
        new=new,
        reason="借调外出",
        actor=3001,
        at="2026-11-30T03:00:00Z",
    )
    values.update(extra)
    return a.Change(**values)  # type: ignore[arg-type]


def free_mzj(result: d.DrawResult, seq: int) -> str:
    team = {c for _, c in result.objects[seq - 1].inspectors}
    return next(f"MZJ{j:03d}" for j in range(4) if f"MZJ{j:03d}" not in team)


def after(result: d.DrawResult, changes: list[a.Change]) -> a.Rows:
    objects, teams, found = a.replay(result.objects, changes, inputs(), SEED)
    assert found == []
    return rows_of(objects, teams)


def keys(outcome: a.Audit) -> list[str]:
    return [f.key for f in outcome.findings]


def test_an_untouched_draw_with_changes_verifies() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    outcome = a.audit(record, after(result, changes), chain=entries)
    assert outcome.identical and outcome.findings == () and outcome.changes == 2
    assert outcome.head == entries[-1].hash and outcome.chained and outcome.legacy == 0


def test_each_entry_hash_covers_the_previous_hash_and_its_content() -> None:
    record = recorded()
    [genesis] = a.build_chain(record.genesis(), record.input_hash, [])
    assert genesis.prev_hash == record.input_hash
    assert genesis.hash == a.sha256(f"{record.input_hash}\n{genesis.content}")
    assert json.loads(genesis.content)["result_hash"] == a.sha256(record.result_text)


def test_a_changed_drawn_enterprise_is_named() -> None:
    result = d.draw(inputs(), SEED)
    record, entries = chained(recorded(result=result), [])
    rows = after(result, [])
    forged = a.Rows(
        tuple((s, "X" * 18 if s == 2 else c, k) for s, c, k in rows.objects), rows.assignments
    )
    outcome = a.audit(record, forged, chain=entries)
    assert not outcome.identical
    [finding] = outcome.findings
    assert finding == a.Finding(
        "object_code", {"seq": 2, "expected": result.objects[1].credit_code, "found": "X" * 18}
    )


def test_a_changed_inspector_is_named_both_ways() -> None:
    result = d.draw(inputs(), SEED)
    record, entries = chained(recorded(result=result), [])
    rows = after(result, [])
    seq, dept, old = rows.assignments[0]
    forged = a.Rows(rows.objects, ((seq, dept, "MZJ900"), *rows.assignments[1:]))
    outcome = a.audit(record, forged, chain=entries)
    assert keys(outcome) == ["inspector_missing", "inspector_extra"]
    assert (
        outcome.findings[0].facts["cert"] == old and outcome.findings[1].facts["cert"] == "MZJ900"
    )
    assert outcome.findings[0].facts["code"] == result.objects[seq - 1].credit_code


def test_missing_extra_and_reclassified_objects() -> None:
    result = d.draw(inputs(), SEED)
    record, entries = chained(recorded(result=result), [])
    rows = after(result, [])
    objects = [o for o in rows.objects if o[0] != 3]
    objects[0] = (objects[0][0], objects[0][1], "A")
    objects.append((99, "Y" * 18, "D"))
    outcome = a.audit(record, a.Rows(tuple(objects), rows.assignments), chain=entries)
    assert keys(outcome) == ["object_class", "object_missing", "object_extra"]
    assert outcome.findings[0].facts == {
        "seq": 1,
        "code": result.objects[0].credit_code,
        "expected": "D",
        "found": "A",
    }
    assert outcome.findings[2].facts == {"seq": 99, "code": "Y" * 18}


def test_an_edited_entry_is_detected() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    edited = entries[1].content.replace("借调外出", "另有任务")
    entries[1] = replace(entries[1], content=edited)
    outcome = a.audit(record, after(result, changes), chain=entries)
    assert keys(outcome) == ["chain_edited"] and outcome.findings[0].facts == {"n": 1}


def test_an_edited_and_rehashed_entry_breaks_the_next_link() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    edited = entries[1].content.replace("借调外出", "另有任务")
    entries[1] = a.next_entry(entries[0].hash, 1, edited)
    outcome = a.audit(record, after(result, changes), chain=entries)
    assert keys(outcome) == ["chain_broken"] and outcome.findings[0].facts == {"n": 2}


def test_a_removed_entry_is_detected_and_the_rows_no_longer_match() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    outcome = a.audit(record, after(result, changes), chain=[entries[0], entries[2]])
    assert keys(outcome)[:2] == ["chain_gap", "chain_broken"]
    assert {"inspector_missing", "inspector_extra"} <= set(keys(outcome))  # object 1's swap


def test_a_removed_last_entry_no_longer_matches_the_head() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    outcome = a.audit(record, after(result, changes), chain=entries[:2])
    assert keys(outcome)[0] == "chain_head" and outcome.findings[0].facts == {"n": 1}
    assert outcome.findings[1].facts["seq"] == 3  # the rows carry the dropped swap


def test_reordered_entries_are_detected() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1)), swap_on(result, 3, free_mzj(result, 3))]
    record, entries = chained(recorded(result=result), changes)
    moved = [entries[0], replace(entries[2], n=1), replace(entries[1], n=2)]
    outcome = a.audit(record, after(result, changes), chain=moved)
    assert "chain_broken" in keys(outcome) and "chain_head" in keys(outcome)


def test_a_genesis_that_does_not_match_the_record() -> None:
    result = d.draw(inputs(), SEED)
    record, entries = chained(recorded(result=result), [])
    outcome = a.audit(replace(record, drawn_by=1), after(result, []), chain=entries)
    assert keys(outcome) == ["chain_genesis"] and outcome.findings[0].facts["fields"] == ["actor"]


def test_an_illegal_swap_is_named() -> None:
    result = d.draw(inputs(), SEED)
    expired = swap_on(result, 1, "MZJ900")
    wjw = next(c for dp, c in result.objects[1].inspectors if dp == "WJW")
    other_department = swap_on(result, 2, wjw)
    _, _, found = a.replay(result.objects, [expired, other_department], inputs(), SEED)
    assert [f.key for f in found] == ["change_not_eligible", "change_not_eligible"]
    mzj = next(c for dp, c in result.objects[2].inspectors if dp == "MZJ")
    _, _, found = a.replay(result.objects, [swap_on(result, 3, mzj)], inputs(), SEED)
    assert [f.key for f in found] == ["change_on_team"]
    conflicted = swap_on(result, 1, free_mzj(result, 1), conflicts=(free_mzj(result, 1),))
    _, _, found = a.replay(result.objects, [conflicted], inputs(), SEED)
    assert [f.key for f in found] == ["change_conflict"]
    stranger = replace(swap_on(result, 1, free_mzj(result, 1)), old="MZJ777")
    _, _, found = a.replay(result.objects, [stranger], inputs(), SEED)
    assert [f.key for f in found] == ["change_not_on_team"]


def test_a_conflict_replacement_must_be_the_one_the_seed_draws() -> None:
    result = d.draw(inputs(), SEED)
    obj = result.objects[0]
    dept, old = next((dp, c) for dp, c in obj.inspectors if dp == "WJW")
    loads = Counter(c for o in result.objects for _, c in o.inspectors)
    ins = replace(inputs(), conflicts=frozenset({(old, obj.credit_code)}))
    team = [c for _, c in obj.inspectors]
    drawn = d.replacement(ins, SEED, 1, dept, obj.credit_code, team, loads, [])
    fair = a.Change("conflict", 1, obj.credit_code, dept, old, drawn, "亲属", 4003, "t")
    _, teams, found = a.replay(result.objects, [fair], inputs(), SEED)
    assert found == [] and (dept, drawn) in teams[1]
    other = next(f"WJW{j:03d}" for j in range(4) if f"WJW{j:03d}" not in {drawn, *team})
    chosen = replace(fair, new=other)
    _, _, found = a.replay(result.objects, [chosen], inputs(), SEED)
    assert [f.key for f in found] == ["change_redrawn"]
    assert found[0].facts["expected"] == drawn and found[0].facts["new"] == other


def test_a_draw_without_chain_replays_its_history_and_says_so() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 1, free_mzj(result, 1), legacy=True)]
    outcome = a.audit(recorded(result=result), after(result, changes), chain=None, history=changes)
    assert outcome.identical and not outcome.chained and outcome.legacy == 1
    removed = a.audit(
        recorded(result=result),
        after(result, changes),
        chain=None,
        history=changes,
        chain_required=True,  # drawn after chains existed: its chain was removed
    )
    assert keys(removed) == ["chain_missing"] and not removed.identical
    sealed = a.build_chain(
        recorded(result=result).genesis(sealed_at="2026-12-01T00:00:00Z"),
        recorded().input_hash,
        changes,
    )
    record = replace(recorded(result=result), chain_head=sealed[-1].hash)
    outcome = a.audit(record, after(result, changes), chain=sealed)
    assert outcome.identical and outcome.chained and outcome.legacy == 1
    assert outcome.sealed_at == "2026-12-01T00:00:00Z"


def test_an_imported_team_is_the_base_when_nothing_can_be_re_run() -> None:
    picked = d.draw(inputs(), SEED)
    imported = d.DrawResult(picked.objects, (), 0, 0)
    record, entries = chained(recorded("platform", "", imported), [])
    outcome = a.audit(record, after(picked, []), chain=entries)
    assert outcome.identical and outcome.verification.result_ok is None and outcome.replayed


def test_the_export_round_trip_and_a_forged_export() -> None:
    result = d.draw(inputs(), SEED)
    changes = [swap_on(result, 2, free_mzj(result, 2))]
    record, entries = chained(recorded(result=result), changes)
    rows = after(result, changes)
    data = a.export(record, rows, chain=entries, inspectors={"MZJ000": "甲"}, exported_at="t")
    back = a.read_export(data)
    assert back.record == record and back.chain == entries and back.rows == rows
    assert a.audit_export(back).identical and back.inspectors == {"MZJ000": "甲"}
    doc = json.loads(data)
    doc["rows"]["assignments"][0][2] = "MZJ900"
    assert not a.audit_export(a.read_export(json.dumps(doc).encode())).identical
    doc["inputs"] = doc["inputs"].replace("养老机构", "网吧", 1)
    forged = a.audit_export(a.read_export(json.dumps(doc).encode()))
    assert not forged.verification.hash_ok and not forged.identical


@pytest.mark.parametrize(
    ("data", "key"),
    [
        (b"\xff\xfe", "not_json"),
        (b'{"format": "x"}', "format"),
        (b'{"format": "draw-export-1"}', "fields"),
    ],
)
def test_an_unreadable_export(data: bytes, key: str) -> None:
    with pytest.raises(a.ExportError) as caught:
        a.read_export(data)
    assert caught.value.key == key
