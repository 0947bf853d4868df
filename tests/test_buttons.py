"""Malformed or meaningless button data always gets one answer (the "no longer valid" alert),
changes nothing, and is written to the audit log; end to end over HTTP. The task, result and
draw buttons have their own tests beside their features."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fakeapi import FakeBotApi
from tests.outbox_support import crafted, db_of
from tests.test_conversation import P, api, county, fixed_clock  # noqa: F401 - fixtures

MALFORMED = [
    "imp:1",
    "imp:x:objects",
    "imp:1:nonsense",
    "tpl:",
    "tpl:nonsense",
    "inv:",
    "inv:r",
    "inv:zz:q",
    "inv:p:x",
    "rm:",
    "rm:pause",
    "rm:boom:x",
    "rp:",
    "rp:zz:MZJ",
    "tr:x:a",
    "tr:1:zz",
    "bc:",
    "bc:x:go",
]


# Of these, the ones whose shape is wrong (the rest are well formed but mean nothing).
MALFORMED_SHAPE = {
    "imp:1",
    "imp:x:objects",
    "tpl:",
    "inv:",
    "inv:r",
    "rm:",
    "rm:pause",
    "rp:",
    "tr:x:a",
    "bc:",
    "bc:x:go",
}


@pytest.mark.parametrize("data", [MALFORMED])
async def test_malformed_button_data_gets_the_stale_alert(
    api: FakeBotApi,  # noqa: F811
    tmp_path: Path,
    data: list[str],
) -> None:
    async with county(api, tmp_path) as c:
        for one in data:
            message = await crafted(c.app, api, P, one)
            answers = len(api.callback_answers)
            sent = api.sent_total(P)
            api.press_button(P, P, message.message_id, one)
            await api.wait_for(lambda a=answers: len(api.callback_answers) > a)
            answer = api.callback_answers[answers]
            assert "已失效" in str(answer.get("text")), one
            assert answer.get("show_alert"), one
            assert api.sent_total(P) == sent, one  # nothing else said, nothing done
        refused = [
            (detail.get("data"), detail.get("reason"))
            for detail in (
                json.loads(r[0])
                for r in await db_of(c.app).fetchall(
                    "SELECT detail FROM audit_log"
                    " WHERE outcome = 'refused' AND action LIKE 'button.%'"
                )
            )
        ]
        assert sorted(r[0] for r in refused) == sorted(data)  # every refusal audited
        assert {r[0] for r in refused if r[1] == "malformed"} == MALFORMED_SHAPE
