"""Benchmark the draw: 100,000 objects, 2,000 inspectors, 10 departments, one task over all of
them. Prints draw time, verify time (wall clock, and the process's CPU time, which a machine
shared with other work inflates less) (parse inputs + hash + re-run + compare with the recorded
result, then the chain of 100 later swaps checked and replayed and the outcome compared with the
rows people act on, bot/domain/draw_audit.py) and peak memory. The draw uses the current
algorithm (random teams, version 2); the same inputs recorded as version 1 are re-run too, as
verification does for draws recorded before random teams.

    .venv/bin/python bench/draw.py
"""

from __future__ import annotations

import random
import time
import tracemalloc
from dataclasses import replace as dc_replace
from datetime import date

from bot.domain import draw as d
from bot.domain import draw_audit as a


def build() -> d.DrawInputs:
    rnd = random.Random(7)
    depts = tuple(d.DepartmentIn(f"D{k:02d}", f"部门{k}") for k in range(10))
    objects = tuple(
        d.ObjectIn(
            f"91{i:016d}",
            rnd.choice("ABCD"),
            "注销" if rnd.random() < 0.02 else "在业",
            "养老机构",
        )
        for i in range(100_000)
    )
    inspectors = tuple(
        d.InspectorIn(f"C{j:05d}", f"D{j % 10:02d}", date(2027, 12, 31)) for j in range(2000)
    )
    conflicts = frozenset((f"C{j:05d}", f"91{j * 37:016d}") for j in range(200))
    return d.DrawInputs(
        "养老机构",
        date(2026, 12, 7),
        date(2026, 12, 18),
        "D00",
        depts,
        objects,
        inspectors,
        conflicts,
    )


def main() -> None:
    inputs = build()
    run(inputs, report=True)
    print("-- the same inputs recorded as version 1 (before random teams):")
    run(dc_replace(inputs, version=1), report=True)
    tracemalloc.start()  # a second run for memory (tracemalloc slows Python several times)
    run(inputs, report=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory traced (draw + verify): {peak / 1024 / 1024:.1f} MB")


def swaps(inputs: d.DrawInputs, result: d.DrawResult, count: int = 100) -> list[a.Change]:
    """`count` legal /swap changes: object k's lead-department inspector for another one."""
    lead = sorted(i.certificate_no for i in inputs.inspectors if i.department == inputs.lead)
    changes = []
    for obj in result.objects[:count]:
        team = {c for _, c in obj.inspectors}
        old = next(c for dept, c in obj.inspectors if dept == inputs.lead)
        new = next(
            c for c in lead if c not in team and (c, obj.credit_code) not in inputs.conflicts
        )
        changes.append(
            a.Change("swap", obj.seq, obj.credit_code, inputs.lead, old, new, "借调", 1, "t")
        )
    return changes


def rows_after(result: d.DrawResult, changes: list[a.Change]) -> a.Rows:
    teams = {o.seq: list(o.inspectors) for o in result.objects}
    for c in changes:
        teams[c.seq].remove((c.department, c.old))  # as in draw_assignments: the
        teams[c.seq].append((c.department, c.new))  # replacement row comes last
    return a.Rows(
        tuple((o.seq, o.credit_code, o.risk_class) for o in result.objects),
        tuple((seq, dept, cert) for seq, team in teams.items() for dept, cert in team),
    )


def run(inputs: d.DrawInputs, *, report: bool) -> None:
    c0 = time.process_time()
    t0 = time.perf_counter()
    text = d.canonical(inputs)
    digest = d.input_hash(text)
    result = d.draw(inputs, "bench-seed")
    t1 = time.perf_counter()
    c1 = time.process_time()
    changes = swaps(inputs, result)
    record = a.Record(
        task_id=1,
        source="bot",
        seed="bench-seed",
        algorithm=d.ALGORITHM_VERSION,
        input_hash=digest,
        inputs_text=text,
        result_text=result.to_json(),
    )
    chain = a.build_chain(record.genesis(), digest, changes)
    record = a.Record(**{**record.__dict__, "chain_head": chain[-1].hash})
    rows = rows_after(result, changes)
    c2 = time.process_time()
    t2 = time.perf_counter()
    check = a.audit(record, rows, chain=chain)
    t3 = time.perf_counter()
    c3 = time.process_time()
    if not report:
        return
    loads = result.loads()
    teams = len({tuple(c for _, c in o.inspectors) for o in result.objects})
    print(f"algorithm: {d.ALGORITHM_VERSION}, teams version {inputs.version}")
    print(f"objects drawn: {len(result.objects)} of 100000; inspectors used: {len(loads)}")
    print(f"distinct teams: {teams}")
    print(f"strata: {[(s.risk_class, s.candidates, s.drawn) for s in result.strata]}")
    print(f"load per inspector: min {min(loads.values())} max {max(loads.values())}")
    print(f"draw (canonical inputs + SHA-256 + draw): {t1 - t0:.3f} s (CPU {c1 - c0:.3f} s)")
    print(
        f"verify (parse inputs + hash + re-run + compare, chain of {len(changes)} swaps checked"
        f" and replayed, {len(rows.assignments)} assignment rows compared): {t3 - t2:.3f} s"
        f" (CPU {c3 - c2:.3f} s);"
        f" identical: {check.identical}; findings: {len(check.findings)}"
    )


if __name__ == "__main__":
    main()
