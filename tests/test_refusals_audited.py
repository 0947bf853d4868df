"""Every refusal is audited (issue 13 §3), end to end over HTTP: 入企登记 or 申请回避 on an
enterprise that is not the presser's, 通过/退回 of another department's result. Each press is
answered, changes nothing, and leaves one refused row in the audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.fakeapi import FakeBotApi
from tests.outbox_support import crafted, db_of
from tests.test_results import (
    INS1,
    INS2,
    WJW_L,
    api,  # noqa: F401 - fixture
    drawn,
    fixed_clock,  # noqa: F401 - fixture
    say,
)


async def press(app: Any, fake: FakeBotApi, uid: int, data: str) -> None:
    message = await crafted(app, fake, uid, data)
    answers = len(fake.callback_answers)
    fake.press_button(uid, uid, message.message_id, data)
    await fake.wait_for(lambda: len(fake.callback_answers) > answers)


async def refused(app: Any, action: str, actor: int) -> int:
    row = await db_of(app).fetchone(
        "SELECT count(*) FROM audit_log WHERE action = ? AND actor = ? AND outcome = 'refused'",
        (action, actor),
    )
    assert row is not None
    return int(row[0])


async def test_presses_on_what_is_not_yours_are_refused_and_audited(
    api: FakeBotApi,  # noqa: F811
    tmp_path: Path,
) -> None:
    async with drawn(api, tmp_path) as app:
        # 民政乙 was onboarded after the draw: no enterprise of task 1 is theirs
        await press(app, api, INS2, "rc:1:1")
        await press(app, api, INS2, "dr:1:cf:1")
        await press(app, api, INS2, "dr:1:ack")
        assert await refused(app, "results.checkin", INS2) == 1
        assert await refused(app, "draw.conflict", INS2) == 1
        assert await refused(app, "draw.ack", INS2) == 1
        rows = await db_of(app).fetchall("SELECT * FROM result_checkins")
        assert rows == []
        # 民政甲's entry awaits the 民政 liaison; the 卫健 liaison may neither pass nor return it
        [saved] = await say(api, INS1, "/r 1 1 1 书面")
        assert "已录入检查结果" in saved.text
        row = await db_of(app).fetchone("SELECT id FROM results WHERE department_code = 'MZJ'")
        assert row is not None
        await press(app, api, WJW_L, f"rv:p:{row[0]}")
        await press(app, api, WJW_L, f"rv:r:{row[0]}")
        assert await refused(app, "results.publish", WJW_L) == 1
        assert await refused(app, "results.return", WJW_L) == 1
        state = await db_of(app).fetchone("SELECT state FROM results WHERE id = ?", (row[0],))
        assert state is not None and state[0] == "pending"
