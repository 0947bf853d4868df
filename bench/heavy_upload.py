"""Benchmark: the worst workbook upload, and another user's /me meanwhile.

    .venv/bin/python bench/heavy_upload.py

The worst file the bot still reads: an .xlsx whose parts inflate to just under the cap
(`[imports]` min(max_inflated_mb = 100 MB, inflate_factor = 50 x the file)), so about 2 MB that
inflate to about 100 MB of worksheet XML (object-directory rows). A second file, the same
worksheet made to inflate past the cap for its size, shows the refusal. While the administrator
uploads each (caption 对象), a liaison sends /me every second.

Printed: the bot's peak RSS (this process: the bot runs in it, against the fake Bot API with
Telegram's limits) sampled during the upload, over the baseline before it; ru_maxrss of any
child processes; the liaison's /me reply times; and the bot's answer to the upload.
"""

from __future__ import annotations

import asyncio
import os
import resource
import statistics
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.config import Settings  # noqa: E402
from bot.db import open_database  # noqa: E402
from bot.domain.credit_code import make_credit_code  # noqa: E402
from tests.fakeapi import FakeBotApi, Limits  # noqa: E402
from tests.outbox_support import (  # noqa: E402
    ADMIN_ID,
    TOKEN,
    add_department,
    add_person,
    open_chat,
    running_bot,
)

LIAISON = 2001
MB = 1024 * 1024
CODES = [make_credit_code(f"91330000{n:09d}") for n in range(50)]

_PKG = "http://schemas.openxmlformats.org/package/2006"
_DOC = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_SML = "application/vnd.openxmlformats-officedocument.spreadsheetml"
_CONTENT_TYPES = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Types xmlns="{_PKG}/content-types">'
    '<Default Extension="rels"'
    ' ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    f'<Override PartName="/xl/workbook.xml" ContentType="{_SML}.sheet.main+xml"/>'
    f'<Override PartName="/xl/worksheets/sheet1.xml" ContentType="{_SML}.worksheet+xml"/>'
    "</Types>"
)
_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/officeDocument" Target="xl/workbook.xml"/>'
    "</Relationships>"
)
_WORKBOOK = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    ' xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
    '<sheets><sheet name="名录" sheetId="1" r:id="rId1"/></sheets></workbook>'
)
_WORKBOOK_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
    f'<Relationships xmlns="{_PKG}/relationships">'
    f'<Relationship Id="rId1" Type="{_DOC}/worksheet" Target="worksheets/sheet1.xml"/>'
    "</Relationships>"
)


def _row(number: int, values: list[str]) -> str:
    """Cells without references (optional in OOXML): rows in order, columns from A."""
    del number
    cells = "".join(f'<c t="inlineStr"><is><t>{v}</t></is></c>' for v in values)
    return f"<row>{cells}</row>"


def worst_xlsx(path: Path, inflated: int, ratio: float) -> tuple[int, int]:
    """Write an xlsx whose parts inflate to about `inflated` bytes and whose own size is about
    `inflated / ratio` (padded with an incompressible part). Returns (size, inflated)."""
    written = 0
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for name, text in (
            ("[Content_Types].xml", _CONTENT_TYPES),
            ("_rels/.rels", _RELS),
            ("xl/workbook.xml", _WORKBOOK),
            ("xl/_rels/workbook.xml.rels", _WORKBOOK_RELS),
        ):
            zf.writestr(name, text)
            written += len(text.encode())
        budget = inflated - written - 2 * MB  # room for the padding
        with zf.open("xl/worksheets/sheet1.xml", "w") as part:
            head = (
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
                '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                "<sheetData>" + _row(1, ["统一社会信用代码", "企业名称", "法定代表人", "住所"])
            ).encode()
            part.write(head)
            size = len(head)
            number = 1
            while size < budget:
                chunk = []
                for _ in range(1000):
                    number += 1
                    code = CODES[number % len(CODES)]
                    chunk.append(_row(number, [code, f"企业{number % 97}有限公司", "张三", "某路"]))
                data = "".join(chunk).encode()
                part.write(data)
                size += len(data)
            tail = b"</sheetData></worksheet>"
            part.write(tail)
            written += size + len(tail)
    compressed = path.stat().st_size
    pad = max(0, int(written / ratio) - compressed)
    if pad:
        with zipfile.ZipFile(path, "a", zipfile.ZIP_STORED) as zf:
            zf.writestr("docProps/thumbnail.bin", os.urandom(pad))
        written += pad
    return path.stat().st_size, written


def rss() -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


async def measure(api: FakeBotApi, label: str, content: bytes) -> None:
    loop = asyncio.get_running_loop()
    baseline = rss()
    peak = baseline
    before = api.sent_total(ADMIN_ID)
    api.send_document(ADMIN_ID, "对象名录.xlsx", content, caption="对象")
    started = loop.time()
    latencies: list[float] = []

    def answered() -> bool:
        got = api.chat_messages(ADMIN_ID)[before:]
        return any(not m.text.startswith("⏳") for m in got)

    while not answered() and loop.time() - started < 300:
        sent = loop.time()
        got = api.sent_total(LIAISON)
        api.send_text(LIAISON, "/me")
        while api.sent_total(LIAISON) <= got and loop.time() - sent < 30:
            peak = max(peak, rss())
            await asyncio.sleep(0.01)
        latencies.append(loop.time() - sent)
        peak = max(peak, rss())
        await asyncio.sleep(max(0.0, 1.0 - (loop.time() - sent)))
    took = loop.time() - started
    final = [m.text for m in api.chat_messages(ADMIN_ID)[before:] if not m.text.startswith("⏳")]
    answer = final[-1] if final else ""
    print(f"{label}:")
    print(f"  upload answered after              {took:.1f} s")
    print(f"  bot RSS baseline / peak            {baseline / MB:.0f} MB / {peak / MB:.0f} MB")
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"  child processes' peak RSS          {children:.0f} MB")
    if latencies:
        print(
            f"  liaison's /me replies              {len(latencies)},"
            f" median {statistics.median(latencies):.2f} s, max {max(latencies):.2f} s"
        )
    print(f"  the bot's answer                   {' '.join(answer.split())[:160] or '-'}")


async def run(workdir: Path) -> None:
    worst = workdir / "worst.xlsx"
    size, inflated = worst_xlsx(worst, 99 * MB, 45.0)
    print(f"worst file: {size / MB:.2f} MB, inflating to {inflated / MB:.1f} MB")
    refused = workdir / "bomb.xlsx"
    bsize, binflated = worst_xlsx(refused, 99 * MB, 1000.0)
    print(f"refused file: {bsize / MB:.2f} MB, inflating to {binflated / MB:.1f} MB")
    worst_bytes, refused_bytes = worst.read_bytes(), refused.read_bytes()
    async with FakeBotApi(token=TOKEN, limits=Limits()) as api:
        open_chat(api, ADMIN_ID, "县局管理员")
        open_chat(api, LIAISON, "联络员")
        db_path = workdir / "heavy.sqlite3"
        async with open_database(db_path) as db:
            await add_department(db, "MZJ", "县民政局")
            await add_person(db, LIAISON, "联络员", liaison_of="MZJ")
        settings = Settings(
            token=TOKEN,
            api_url=api.base_url,
            file_url=api.base_file_url,
            db_path=db_path,
            admins=frozenset({ADMIN_ID}),
        )
        async with running_bot(settings):
            await measure(api, "the worst file the bot reads", worst_bytes)
            await measure(api, "a file inflating past its cap", refused_bytes)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-heavy-") as tmp:
        asyncio.run(run(Path(tmp)))


if __name__ == "__main__":
    main()
