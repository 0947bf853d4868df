"""Department names of any length never push a card past Telegram's limits (issue 13 §3): a card
edited in place with 2,000-character department names still updates; names are shortened."""

from __future__ import annotations

from pathlib import Path

from bot.render import visible_length
from tests.fakeapi import FakeBotApi
from tests.outbox_support import db_of
from tests.test_tasks import (
    LEAD,
    WJW,
    Person,
    api,  # noqa: F401 - fixture
    county,
    current,
    fixed_clock,  # noqa: F401 - fixture
    group_card,
    propose,
    wait_edit,
)


async def test_cards_with_very_long_department_names_keep_updating(
    api: FakeBotApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with county(api, tmp_path) as app:
        await db_of(app).execute("UPDATE departments SET name = name || ?", ("长" * 2000,))
        summary = await propose(api)
        assert visible_length(current(api, summary).html) <= 4096
        await Person(api, LEAD).press(summary, "确认发出", edit=True)
        card = await group_card(api)
        assert visible_length(card.html) <= 4096 and "…" in card.text
        wjw = Person(api, WJW)
        await wjw.press(card, "不参加", new=1)
        await wjw.say("人员不足")
        text = await wait_edit(api, card, lambda t: "不参加（人员不足）" in t)
        assert visible_length(current(api, card).html) <= 4096 and "长" * 41 not in text
        assert not [e for e in api.errors if e.status == 400]
