"""Benchmark: import 100,000 inspection objects from .xlsx and .csv, then re-import changed data.

    .venv/bin/python bench/import_objects.py [--rows 100000]

Files are generated first (not timed). Each measurement runs in a fresh child process with a
fresh temporary database, so peak RSS (ru_maxrss) belongs to that import alone; a second child
run under tracemalloc gives the peak of Python allocations (tracemalloc slows Python down, so its
timing is not reported). Every figure is end to end through `bot.importer.import_file`: reading,
validating, comparing with the stored rows, writing and the audit row; the last lines time the
reading alone (bot.tabular), without validation.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from openpyxl import Workbook  # noqa: E402

from bot.domain.credit_code import make_credit_code  # noqa: E402

HEADERS = [
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
INDUSTRIES = [
    "餐饮服务",
    "食品销售",
    "宾馆旅店",
    "养老机构",
    "网吧",
    "歌舞娱乐",
    "加油站",
    "民办学校",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英"
STATUSES = ["存续", "在业", "存续", "存续", "停业"]


def make_rows(count: int, version: int) -> list[list[object]]:
    """`version` 2 changes every row (new grading month, some new classes and names)."""
    rng = random.Random(20260326)
    rows: list[list[object]] = []
    for i in range(count):
        code = make_credit_code(f"91130534MA{i:07d}")
        tags = rng.sample(INDUSTRIES, rng.choice((1, 1, 2)))
        risk = rng.choice("AAABBBBCCD")
        name = f"清河县{rng.choice(SURNAMES)}{rng.choice(GIVEN)}{i}号商贸有限公司"
        if version == 2:
            risk = "ABCD"[("ABCD".index(risk) + (i % 3 == 0)) % 4]
            if i % 10 == 0:
                name += "（分店）"
        rows.append(
            [
                code,
                name,
                "、".join(tags),
                f"清河县{rng.choice(('城关镇', '葛仙庄镇', '连庄镇', '油坊镇'))}"
                f"{rng.randint(1, 300)}号",
                risk,
                "2026-03" if version == 1 else "2026-06",
                rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                13800000000 + i,  # a number cell, as Excel stores phone numbers
                rng.choice(STATUSES),
            ]
        )
    return rows


def write_xlsx(rows: list[list[object]], path: Path) -> None:
    book = Workbook(write_only=True)
    sheet = book.create_sheet("检查对象")
    sheet.append(HEADERS)
    for row in rows:
        sheet.append(row)
    book.save(path)


def write_csv(rows: list[list[object]], path: Path) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADERS)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("gb18030"))  # as Excel on Chinese Windows saves


async def _import(db_path: Path, files: list[Path]) -> list[dict[str, object]]:
    from bot.db import open_database
    from bot.importer import import_file

    results: list[dict[str, object]] = []
    async with open_database(db_path) as db:
        for path in files:
            data = path.read_bytes()
            started = time.perf_counter()
            report = await import_file(db, "objects", path.name, data, actor=None)
            elapsed = time.perf_counter() - started
            assert report.ok, (report.file_error, [str(e) for e in report.errors])
            results.append(
                {
                    "file": path.name,
                    "rows": report.total_rows,
                    "seconds": elapsed,
                    "added": report.added,
                    "updated": report.updated,
                    "unchanged": report.unchanged,
                    # ru_maxrss only grows: after step 1 it is the first import's peak
                    "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                }
            )
    return results


def child(files: list[Path], trace: bool) -> None:
    """One measurement in this (fresh) process; prints JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        if trace:
            tracemalloc.start()
        results = asyncio.run(_import(Path(tmp) / "bench.sqlite3", files))
        peak_traced = tracemalloc.get_traced_memory()[1] if trace else 0
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(
        json.dumps({"results": results, "rss_mb": rss_kib / 1024, "traced_mb": peak_traced / 2**20})
    )


def run_child(files: list[Path], trace: bool) -> dict[str, object]:
    command = [sys.executable, __file__, "--child", *(str(f) for f in files)]
    if trace:
        command.append("--trace")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--child", nargs="+", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.trace)
        return

    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        started = time.perf_counter()
        first, second = make_rows(args.rows, 1), make_rows(args.rows, 2)
        files = {
            "xlsx": (directory / "objects.xlsx", directory / "objects_v2.xlsx"),
            "csv": (directory / "objects.csv", directory / "objects_v2.csv"),
        }
        write_xlsx(first, files["xlsx"][0])
        write_xlsx(second, files["xlsx"][1])
        write_csv(first, files["csv"][0])
        write_csv(second, files["csv"][1])
        print(f"generated {args.rows:,} rows x 2 versions in {time.perf_counter() - started:.1f}s")
        for fmt, (path, _) in files.items():
            print(f"  {fmt}: {path.stat().st_size / 2**20:.1f} MB")
        print()
        header = (
            f"{'format':6} {'step':22} {'rows':>8} {'seconds':>8} {'rows/s':>9}"
            f" {'added':>7} {'updated':>7} {'unchanged':>9} {'peak RSS':>9}"
        )
        print(header)
        print("-" * len(header))
        memory: list[str] = []
        for fmt, (path, changed) in files.items():
            measured = run_child([path, path, changed], trace=False)
            traced = run_child([path], trace=True)
            steps = ("first import", "same file again", "changed file (update)")
            for step, result in zip(steps, measured["results"], strict=True):  # type: ignore[call-overload]
                rate = result["rows"] / result["seconds"]
                print(
                    f"{fmt:6} {step:22} {result['rows']:>8,} {result['seconds']:>8.2f}"
                    f" {rate:>9,.0f} {result['added']:>7,} {result['updated']:>7,}"
                    f" {result['unchanged']:>9,} {result['rss_mb']:>6.0f} MB"
                )
            memory.append(
                f"{fmt}: peak traced Python allocations during the first import (tracemalloc):"
                f" {traced['traced_mb']:.0f} MB"
            )
        print("(peak RSS: whole process so far, interpreter and libraries included)")
        print()
        for line in memory:
            print(line)
        print()
        for fmt, (path, _) in files.items():
            print(read_only(fmt, path))


def read_only(fmt: str, path: Path) -> str:
    """Reading alone (bot.tabular: python-calamine for workbooks, csv for CSV), no validation."""
    from bot.tabular import open_table

    data = path.read_bytes()
    started = time.perf_counter()
    count = sum(1 for _ in open_table(path.name, data).sheets[0].rows())
    elapsed = time.perf_counter() - started
    return f"{fmt}: reading alone (bot.tabular): {count:,} rows in {elapsed:.2f}s"


if __name__ == "__main__":
    main()
