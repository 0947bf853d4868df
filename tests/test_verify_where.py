"""/verify answers in private chat and in the coordination group only (issue 13 §3): a draw's
seed and hash are not shown in whatever other group the bot happens to be in."""

from __future__ import annotations

from pathlib import Path

from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, db_of, sender_of
from tests.test_draw import (
    GROUP,
    LEAD,
    api,  # noqa: F401 - fixture
    county,
    fixed_clock,  # noqa: F401 - fixture
    say,
)

OTHER = -5100


async def test_verify_only_in_private_and_the_coordination_group(
    api: FakeBotApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        api.add_group(OTHER, "闲聊群", creator_id=ADMIN_ID)
        api.add_bot_to_group(OTHER, ADMIN_ID)
        await api.wait_for_messages(OTHER, 1)

        async def ask(chat: int) -> str:
            before = len(api.chat_messages(chat))
            api.send_text(LEAD, "/verify 1", chat_id=chat)
            return (await api.wait_for_messages(chat, before + 1))[-1].text

        refused = await ask(OTHER)
        assert "只在与我的私聊或县级协调群" in refused and "种子：" not in refused
        assert "结果一致" in await ask(GROUP)
        [private] = await say(api, LEAD, "/verify 1")
        assert "结果一致" in private.text
        row = await db_of(app).fetchone(
            "SELECT outcome FROM audit_log WHERE action = 'command.verify' AND actor = ?", (LEAD,)
        )
        assert row is not None and row[0] == "refused"


async def test_a_swap_reason_too_long_is_refused_not_cut(
    api: FakeBotApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with county(api, tmp_path) as app:
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        [answer] = await say(api, LEAD, "/swap 1 1 MZ001 MZ002 " + "借调" * 151)
        assert "内容太长" in answer.text
        rows = await db_of(app).fetchall("SELECT * FROM audit_log WHERE action = 'draw.swap'")
        assert rows == []
