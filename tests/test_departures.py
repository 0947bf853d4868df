"""People leave (issue 16): an inspector marked 离岗 in a re-imported directory is sent no
reminder, never drawn again (not even as a replacement), and their liaison is told once which
of their assignments are still open. The real Application against the fake Bot API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import clock
from bot import reminders as engine
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, FAST_CLOCK, Admin, db_of, open_chat, sender_of, until
from tests.test_draw import GROUP, INS1, INS3, INS4, LEAD, MONDAY_10, WJW_L, county, say

NEXT_MORNING = datetime(2026, 12, 1, 1, 5, tzinfo=UTC)  # Tuesday 09:05 in Beijing

DIRECTORY = """姓名,所属部门编码,执法证号,状态
民政甲,MZJ,MZ001,在岗
民政乙,MZJ,MZ002,在岗
卫健甲,WJW,WJ001,在岗
卫健乙,WJW,WJ002,{status}
"""


@pytest.fixture(autouse=True)
def fixed_clock() -> Any:
    clock.set_source(lambda: MONDAY_10)
    yield
    clock.reset()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = FakeBotApi(limits=FAST_CLOCK)
    await fake.start()
    for uid, name in (
        (ADMIN_ID, "县局管理员"),
        (LEAD, "民政联络员"),
        (WJW_L, "卫健联络员"),
        (INS1, "民政甲"),
        (INS3, "卫健甲"),
        (INS4, "小乙的手机"),  # 卫健乙 in the directory
    ):
        open_chat(fake, uid, name)
    fake.add_group(GROUP, "县联合抽查协调群", creator_id=ADMIN_ID)
    try:
        yield fake
    finally:
        await fake.stop()


def reminders_to(api: FakeBotApi, uid: int) -> int:
    return len([m for m in api.chat_messages(uid) if "提醒" in m.text])


async def test_an_inspector_who_left_gets_nothing_and_their_liaison_is_told(
    api: FakeBotApi, tmp_path: Path
) -> None:
    admin = Admin(api)
    async with county(api, tmp_path) as app:
        db = db_of(app)
        await say(api, LEAD, "/draw 1")
        await sender_of(app).idle()
        held = await db.fetchall(
            "SELECT a.seq FROM draw_assignments a JOIN inspectors i ON i.id = a.inspector_id"
            " WHERE i.certificate_no = 'WJ002' AND a.replaced_at IS NULL ORDER BY a.seq"
        )
        assert held, "卫健乙 holds at least one object"
        # /acks shows the directory's name, not the Telegram one
        [acks] = await say(api, LEAD, "/acks 1")
        assert "卫健乙" in acks.text and "小乙的手机" not in acks.text

        # the directory comes back with 卫健乙 离岗
        await admin.upload(
            "人员.csv", DIRECTORY.format(status="离岗").encode("utf-8"), "人员", expect=2
        )
        [report] = await until(
            lambda: [
                m for m in api.chat_messages(ADMIN_ID) if "执法检查人员名录 “人员.csv”" in m.text
            ]
        )
        assert "更新 1" in report.text and "未变 3" in report.text
        row = await db.fetchone("SELECT active FROM inspectors WHERE certificate_no = 'WJ002'")
        assert row is not None and row[0] == 0

        # next morning: the others are reminded to acknowledge, 卫健乙 is not; their liaison
        # gets the list of what is still open, once
        before = reminders_to(api, INS4)
        clock.set_source(lambda: NEXT_MORNING)
        await engine.run_due(app)
        await engine.run_due(app)
        told = await until(lambda: [m for m in api.chat_messages(WJW_L) if "离岗" in m.text])
        assert "卫健乙" in told[0].text and "未完成" in told[0].text
        for seq in (r[0] for r in held):
            assert f"/swap 1 {seq} WJ002" in told[0].text
        await until(lambda: reminders_to(api, INS1) > 0)
        await sender_of(app).idle()
        assert reminders_to(api, INS4) == before
        await engine.run_due(app)
        await sender_of(app).idle()
        assert len([m for m in api.chat_messages(WJW_L) if "离岗" in m.text]) == 1
        assert not [m for m in api.chat_messages(LEAD) if "已在名录中标记为离岗" in m.text]
        # 卫健乙 no longer holds the inspector's role (the refusal is audited)
        [refused] = await say(api, INS4, "/r")
        assert "还没有注册" in refused.text
        row = await db.fetchone(
            "SELECT count(*) FROM audit_log WHERE actor = ? AND action = 'command.r'"
            " AND outcome = 'refused'",
            (INS4,),
        )
        assert row is not None and row[0] == 1

        # the liaison moves their objects to 卫健甲; 卫健乙 can never be swapped back in
        seq = held[0][0]
        await say(api, WJW_L, f"/swap 1 {seq} WJ002 WJ001 人员离岗")
        await until(lambda: [m for m in api.chat_messages(WJW_L) if "已调换" in m.text])
        await until(lambda: [m for m in api.chat_messages(WJW_L) if "理由：人员离岗" in m.text])
        await sender_of(app).idle()
        api.send_text(WJW_L, f"/swap 1 {seq} WJ001 WJ002 测试")
        [refused] = await until(
            lambda: [m for m in api.chat_messages(WJW_L) if "不符合条件" in m.text]
        )
        assert "在岗" in refused.text
        rows = await db.fetchall(
            "SELECT i.certificate_no FROM draw_assignments a JOIN inspectors i"
            " ON i.id = a.inspector_id WHERE a.seq = ? AND a.department_code = 'WJW'"
            " AND a.replaced_at IS NULL",
            (seq,),
        )
        assert [r[0] for r in rows] == ["WJ001"]
        # /verify still re-runs the recorded draw unchanged
        [verified] = await say(api, LEAD, "/verify 1")
        assert "✅ 结果一致" in verified.text
