"""The error handler keeps the bot alive; long texts respect Telegram's limits."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.features import common
from bot.render import Rendered, visible_length
from bot.replies import Queued
from bot.store import people
from tests.conftest import ADMIN_ID, Harness
from tests.outbox_support import sender_of


async def test_a_crashing_handler_gets_a_short_answer_and_the_bot_survives(
    bot: Harness, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(*args: Any, **kwargs: Any) -> dict[str, str]:
        raise RuntimeError("database exploded: secret details")

    monkeypatch.setattr(people, "department_names", broken)
    [answer] = await bot.say(ADMIN_ID, "/me")
    assert "出了点问题" in answer.text
    assert "Traceback" not in answer.text and "secret details" not in answer.text
    assert "database exploded" in caplog.text  # logged for the operator, with the traceback
    assert bot.settings.token is not None and bot.settings.token not in caplog.text

    monkeypatch.undo()
    [answer] = await bot.say(ADMIN_ID, "/me")
    assert "管理员" in answer.text


async def test_long_text_is_split_or_sent_as_a_document(bot: Harness) -> None:
    context: Any = SimpleNamespace(bot=bot.app.bot, application=bot.app)
    await bot.say(ADMIN_ID, "/me")  # Telegram only lets the bot write to people who wrote first
    start = len(bot.api.chat_messages(ADMIN_ID))
    lines = [f"<b>{i:05d}</b> 清河县某某企业 &lt;测试&gt; & 😀" for i in range(400)]
    sent = await common.send(context, ADMIN_ID, Rendered("\n".join(lines)))
    # parts past the chat's burst would wait for their turn: they go through the outbox
    await sender_of(bot.app).idle()
    received = bot.api.chat_messages(ADMIN_ID)[start:]
    assert 2 <= len(received) <= common.MAX_PARTS
    assert isinstance(sent, Queued) or len(sent) == len(received)
    assert all(visible_length(m.html or "") <= 4096 for m in received)
    assert "".join(m.text for m in received).count("清河县某某企业 <测试> & 😀") == 400

    many = [f"第 {i} 行：清河县某某企业" for i in range(3000)]
    before = len(bot.api.chat_messages(ADMIN_ID))
    await common.send(context, ADMIN_ID, Rendered("\n".join(many)), title="列表")
    await sender_of(bot.app).idle()
    new = bot.api.chat_messages(ADMIN_ID)[before:]
    assert len(new) == 2
    document = next(m for m in new if m.document is not None)
    assert document.document is not None and document.document.file_name == "列表.txt"
    assert document.document.content.decode("utf-8").count("清河县某某企业") == 3000
