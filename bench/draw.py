"""Benchmark the draw: 100,000 objects, 2,000 inspectors, 10 departments, one task over all of
them. Prints draw time, verify time (canonical inputs + hash + re-run + compare) and peak memory,
each as wall-clock and as this process's CPU time (the machine may be shared). The draw uses the
current algorithm (random teams, version 2); the same inputs recorded as version 1 are re-run
too, as verification does for draws recorded before random teams.

    .venv/bin/python bench/draw.py
"""

from __future__ import annotations

import random
import time
import tracemalloc
from dataclasses import replace as dc_replace
from datetime import date

from bot.domain import draw as d


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


def run(inputs: d.DrawInputs, *, report: bool) -> None:
    c0, t0 = time.process_time(), time.perf_counter()
    text = d.canonical(inputs)
    digest = d.input_hash(text)
    result = d.draw(inputs, "bench-seed")
    c1, t1 = time.process_time(), time.perf_counter()
    recorded = result.to_json()
    c2, t2 = time.process_time(), time.perf_counter()
    check = d.verify(
        source="bot",
        seed="bench-seed",
        algorithm=d.ALGORITHM_VERSION,
        recorded_hash=digest,
        inputs_text=text,
        result_text=recorded,
    )
    c3, t3 = time.process_time(), time.perf_counter()
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
        f"verify (parse inputs + hash + re-run + compare): {t3 - t2:.3f} s (CPU {c3 - c2:.3f} s);"
        f" identical: {check.identical}"
    )


if __name__ == "__main__":
    main()
