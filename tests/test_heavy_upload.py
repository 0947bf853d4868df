"""Issue 13 §2 end to end: a big workbook is parsed off the event loop, and a zip that inflates
past its cap (min(100 MB, 50 x the file)) is refused with a message naming the limit."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bench.heavy_upload import worst_xlsx
from bot.tabular import TableError, inflation_limit, open_table
from tests.conftest import ADMIN_ID, Harness
from tests.outbox_support import add_department, add_person

MB = 1024 * 1024
LIAISON = 2001


async def liaison(h: Harness) -> None:
    await add_department(h.db, "MZJ", "县民政局")
    await add_person(h.db, LIAISON, "联络员", liaison_of="MZJ")
    h.api.add_user(LIAISON, "联络员")


def final_answers(h: Harness, before: int) -> list[str]:
    return [m.text for m in h.api.chat_messages(ADMIN_ID)[before:] if not m.text.startswith("⏳")]


async def test_another_users_me_is_answered_while_a_big_upload_is_parsed(
    bot: Harness, tmp_path: Path
) -> None:
    h = bot
    await liaison(h)
    path = tmp_path / "big.xlsx"
    size, inflated = worst_xlsx(path, 40 * MB, 45.0)
    assert inflated <= inflation_limit(size)  # within the cap: the bot reads it all
    before = len(h.api.chat_messages(ADMIN_ID))
    h.api.send_document(ADMIN_ID, "对象名录.xlsx", path.read_bytes(), caption="对象")
    await h.api.wait_for_messages(ADMIN_ID, before + 1)  # "⏳ 正在导入" : parsing has begun
    loop = asyncio.get_running_loop()
    started = loop.time()
    [me] = await h.say(LIAISON, "/me")
    took = loop.time() - started
    assert "Telegram ID" in me.text
    assert took < 1.0, took
    assert final_answers(h, before) == []  # answered while the file was still being read
    await h.api.wait_for(lambda: bool(final_answers(h, before)), timeout=60.0)


async def test_a_workbook_inflating_past_its_cap_is_refused_naming_the_limit(
    bot: Harness, tmp_path: Path
) -> None:
    h = bot
    path = tmp_path / "bomb.xlsx"
    size, inflated = worst_xlsx(path, 8 * MB, 1000.0)
    assert inflated > inflation_limit(size)
    before = len(h.api.chat_messages(ADMIN_ID))
    h.api.send_document(ADMIN_ID, "对象名录.xlsx", path.read_bytes(), caption="对象")
    await h.api.wait_for(lambda: bool(final_answers(h, before)), timeout=30.0)
    [answer] = final_answers(h, before)
    limit = inflation_limit(size) / MB
    assert f"解压后超过 {limit:.1f} MB" in answer, answer
    assert "50 倍" in answer and "最多 100 MB" in answer


def test_the_cap_is_the_lower_of_the_two_and_configurable(tmp_path: Path) -> None:
    assert inflation_limit(10 * MB) == 100 * MB  # 50 x 10 MB = 500 MB: the 100 MB cap
    assert inflation_limit(1 * MB) == 50 * MB
    assert inflation_limit(1 * MB, factor=10, cap_mb=5) == 5 * MB
    path = tmp_path / "b.xlsx"
    worst_xlsx(path, 8 * MB, 45.0)
    data = path.read_bytes()
    try:
        open_table("b.xlsx", data, inflate_factor=10)
    except TableError as exc:
        assert "10 倍" in str(exc)
    else:
        raise AssertionError("a file inflating 45 x passed a factor of 10")
