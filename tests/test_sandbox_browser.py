"""The sandbox end to end in a real browser: Debian's Chromium driven by Playwright.

A liaison proposes a joint inspection through the page, a second department's liaison joins
from the group card, the card changes, the clock is fast-forwarded to the reminder, and a
screenshot is kept in tests/artifacts/. Skipped (with the reason) only where Chromium or
Playwright is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.pg_support import sqlite_only
from tests.sandbox_support import running_sandbox

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
SCREENSHOT = ARTIFACTS / "sandbox_reminder.png"
CARD_SCREENSHOT = ARTIFACTS / "sandbox_group_card.png"
CHART_SCREENSHOT = ARTIFACTS / "sandbox_stats_chart.png"
PHONE_SCREENSHOT = ARTIFACTS / "sandbox_phone.png"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

try:
    from playwright.async_api import async_playwright, expect
except ImportError:  # pragma: no cover - playwright is in the dev extra
    async_playwright = None  # type: ignore[assignment]

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="Chromium is not installed (apt-get install chromium); the browser test needs it",
    ),
    pytest.mark.skipif(
        async_playwright is None, reason="playwright is not installed (pip install -e '.[dev]')"
    ),
    # `python -m bot sandbox` always keeps its demo county in an SQLite file of its own.
    sqlite_only("the sandbox runs on its own SQLite file; its fast-forward is timed for it"),
]

LEAD, SCJG, WJW = 2001, 2002, 2003  # 民政, 市场监管, 卫健 liaisons of the demo county
ADMIN, INSPECTOR = 1001, 3001  # the administrator; an inspector, not in the group
GROUP = -1001234500001


async def test_propose_join_fast_forward_in_the_browser(tmp_path: Path) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_sandbox(tmp_path / "sandbox") as (sandbox, web):
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(
                executable_path=CHROMIUM,
                args=FLAGS,  # playwright gives every launch a fresh, empty profile itself
            )
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(10_000)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(web.url)
                await run_scenario(page, sandbox)
                await page.screenshot(path=str(SCREENSHOT), full_page=True)
                assert errors == []
            finally:
                await browser.close()
    assert SCREENSHOT.stat().st_size > 10_000


async def run_scenario(page: Any, sandbox: Any) -> None:
    messages = page.locator("#messages")
    last_bot = page.locator(".msg.bot").last

    async def act_as(user_id: int, chat: str = "private") -> None:
        await page.locator(f'[data-persona="{user_id}"]').click()
        if chat == "group":
            await page.locator("#chat-group").click()
            await expect(page.locator("#chat-title")).to_contain_text("协调群")
        else:
            await expect(page.locator("#chat-title")).to_contain_text("机器人")

    async def press(text: str, message: Any = None) -> None:
        await (message or last_bot).get_by_role("button", name=text, exact=True).click()

    async def type_text(text: str) -> None:
        await page.locator("#text").fill(text)
        await page.locator("#send").click()

    # The 民政 liaison proposes a joint inspection of 养老机构 with 市场监管 and 卫健.
    await act_as(LEAD)
    await type_text("/newtask")
    await expect(last_bot).to_contain_text("第一步")
    await press("养老机构")
    await expect(last_bot).to_contain_text("第三步")
    await press("养老机构安全管理检查")
    await expect(last_bot).to_contain_text("已选 1 项")
    await press("下一步")
    await expect(last_bot).to_contain_text("第四步")
    await press("县市场监管局")
    await press("县卫生健康委员会")
    await expect(last_bot).to_contain_text("已选：县市场监管局、县卫生健康委员会")
    await press("下一步")
    await expect(last_bot).to_contain_text("第五步")
    await type_text("2026-12-07 2026-12-18")
    await expect(last_bot).to_contain_text("第六步")
    await press("使用默认截止时间")
    await expect(last_bot).to_contain_text("第七步")
    await press("无备注")
    await expect(last_bot).to_contain_text("请核对以上内容")
    await expect(last_bot).to_contain_text("检查时间：2026-12-07 至 2026-12-18")
    await press("确认发出邀请")

    # The 市场监管 liaison sees the card in the group and joins from it.
    await act_as(SCJG, "group")
    card = page.locator(".msg.bot", has_text="养老机构").last
    await expect(card).to_contain_text("县市场监管局")
    await press("参加", card)
    await act_as(SCJG)
    await expect(last_bot).to_contain_text("选择本部门的检查事项")
    await press("食品经营安全检查")
    await press("下一步")
    await expect(last_bot).to_contain_text("派出几名检查人员")
    await press("2")
    await expect(last_bot).to_contain_text("已答复：县市场监管局参加联合检查")

    # The group card changed in place.
    await act_as(SCJG, "group")
    await expect(card).to_contain_text("✅ 县市场监管局：参加（2 名检查人员，1 个事项）")
    await expect(card.locator(".edited")).to_be_visible()
    await page.screenshot(path=str(CARD_SCREENSHOT))

    # Fast-forward to the next reminder while looking at another chat: the health
    # commission's liaison, who has not answered, gets an unread marker in the list.
    await act_as(LEAD)
    wjw_badge = page.locator(f'[data-persona="{WJW}"] .badge')
    for _ in range(5):
        await page.locator("#ff-next").click()
        await expect(page.locator("#ff-next")).to_be_enabled()
        try:
            await expect(wjw_badge).to_be_visible(timeout=3_000)
            break
        except AssertionError:
            continue
    await expect(wjw_badge).to_be_visible()
    await act_as(WJW)
    divider = page.get_by_test_id("unread-divider")
    await expect(divider).to_be_visible()
    reminder = page.locator(".msg.bot", has_text="提醒").last
    await expect(reminder).to_contain_text("县卫生健康委员会还没有答复")
    # everything after the divider is new to this persona (the invitation, then the reminder),
    # and the reminder carries its time on the sandbox clock
    after = await divider.evaluate(
        "d => [...document.querySelectorAll('.msg')].filter("
        "m => d.compareDocumentPosition(m) & Node.DOCUMENT_POSITION_FOLLOWING"
        ").map(m => m.textContent)"
    )
    assert any("提醒" in text for text in after) and any("邀请" in text for text in after)
    await expect(reminder.locator(".time")).to_have_text("12-01 09:00")
    await expect(page.locator("#chat-private .badge")).to_have_count(0)  # read now
    await expect(page.locator("#chat-group .badge")).to_be_visible()  # the card, not yet seen
    await expect(page.locator("#clock-now")).to_contain_text("2026-12-01 09:00")
    await expect(messages).to_contain_text("⏰")
    await page.locator("#chat-group").click()
    await expect(wjw_badge).to_have_count(0)  # both chats read
    await page.locator("#chat-private").click()


async def test_photos_errors_refusals_and_phone_width_in_the_browser(tmp_path: Path) -> None:
    """The /stats chart shows as an image, a clock move backwards says why in Chinese, the
    send endpoint refuses an inspector posting into the group, and at phone width the chat
    gets the screen's width."""
    ARTIFACTS.mkdir(exist_ok=True)
    async with running_sandbox(tmp_path / "sandbox") as (_sandbox, web):
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
            try:
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(15_000)
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(web.url + f"#{ADMIN}/{ADMIN}")
                await expect(page.locator("#chat-title")).to_contain_text("机器人")

                await page.locator("#text").fill("/stats")
                await page.locator("#send").click()
                photo = page.locator(".msg.bot img.photo").last
                await expect(photo).to_be_visible()
                await photo.scroll_into_view_if_needed()
                await page.wait_for_function(
                    "() => [...document.querySelectorAll('img.photo')].some("
                    "i => i.complete && i.naturalWidth >= 1000)"
                )
                chart = page.locator(".msg.bot", has=page.locator("img.photo")).last
                await expect(chart).to_contain_text("按完成值排序")  # the caption under it
                await expect(chart.locator(".time")).to_have_text("11-30 10:00")
                await chart.screenshot(path=str(CHART_SCREENSHOT))

                await page.locator("#ff-date").fill("2026-11-01T09:00")
                await page.locator("#ff-to").click()
                await expect(page.locator(".toast.error")).to_contain_text(
                    "沙盒时钟只能向前拨，不能回到过去"
                )

                refused = await page.evaluate(
                    """async ([user, chat]) => {
                        const r = await fetch("/api/send", {method: "POST",
                            headers: {"Content-Type": "application/json"},
                            body: JSON.stringify({user, chat, text: "我也来说两句"})});
                        return [r.status, (await r.json()).error];
                    }""",
                    [INSPECTOR, GROUP],
                )
                assert refused[0] == 400 and "赵磊不在群" in refused[1]
                await page.locator(f'[data-persona="{INSPECTOR}"]').click()
                await expect(page.locator("#chat-group")).to_be_disabled()

                phone = await browser.new_page(
                    viewport={"width": 390, "height": 844}, device_scale_factor=2
                )
                phone.on("pageerror", lambda exc: errors.append(str(exc)))
                await phone.goto(web.url + f"#{ADMIN}/{ADMIN}")
                await expect(phone.locator(".msg.bot img.photo").last).to_be_visible()
                box = await phone.locator("#messages").bounding_box()
                assert box is not None and box["width"] >= 370, box
                composer = await phone.locator("#text").bounding_box()
                assert composer is not None and composer["width"] >= 250, composer
                commands = await phone.locator("#commands").bounding_box()
                assert commands is not None and commands["height"] <= 60, commands  # one row
                overflow = await phone.evaluate(
                    "document.documentElement.scrollWidth - window.innerWidth"
                )
                assert overflow <= 0
                await phone.screenshot(path=str(PHONE_SCREENSHOT))
                assert errors == []
            finally:
                await browser.close()
    assert CHART_SCREENSHOT.stat().st_size > 2_000 and PHONE_SCREENSHOT.stat().st_size > 10_000
