"""The tasks package's seams, end to end: chasing and escalation as reminder-engine series
(listed by /reminders, reconciled when a department answers, nothing sent twice across the
switch from the feature's own scan), and malformed button data for each of its prefixes.

The rig of tests/test_tasks.py: the real Application, the outbox and the fake Bot API."""

from __future__ import annotations

from typing import Any

from bot import clock
from bot import reminders as engine
from bot.render import Renderer
from tests.fakeapi import FakeBotApi
from tests.outbox_support import ADMIN_ID, db_of, until
from tests.test_tasks import (
    LEAD,
    SCJG,
    WJW,
    Person,
    api,
    audit,
    beijing,
    confirmed_proposal,
    county,
    crafted,
    fixed_clock,
    private_invitation,
    set_now,
    settle,
)

__all__ = ["api", "fixed_clock"]  # the fixtures of tests/test_tasks.py

REMIND = "联合检查邀请答复提醒"
ESCALATE = "邀请截止未答复上报"


async def listed(api: FakeBotApi, uid: int, kind: str) -> list[str]:
    """This person's own /reminders lines naming `kind`, as "MM-DD HH:MM"."""
    seen = len([m for m in api.chat_messages(uid) if "我的待发提醒" in m.text])
    api.send_text(uid, "/reminders")
    found = await until(
        lambda: [m for m in api.chat_messages(uid) if "我的待发提醒" in m.text][seen:]
    )
    mine = found[0].text.split("全部提醒系列")[0]
    return [line[7:18] for line in mine.splitlines() if kind in line]


def chased(api: FakeBotApi, uid: int) -> list[str]:
    return [m.text for m in api.chat_messages(uid) if "还没有答复联合检查邀请" in m.text]


def escalations(api: FakeBotApi, uid: int) -> list[str]:
    return [m.text for m in api.chat_messages(uid) if "答复截止时间已过" in m.text]


async def test_reminders_lists_the_chasing_and_the_escalation_and_follows_answers(
    api: FakeBotApi, tmp_path: Any
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)  # deadline Wednesday 2 December 18:00
        invitations = {uid: await private_invitation(api, uid) for uid in (SCJG, WJW)}
        assert await listed(api, SCJG, REMIND) == ["12-01 09:00", "12-02 09:00"]
        assert await listed(api, WJW, REMIND) == ["12-01 09:00", "12-02 09:00"]
        assert await listed(api, LEAD, ESCALATE) == ["12-02 18:00"]
        assert await listed(api, ADMIN_ID, ESCALATE) == ["12-02 18:00"]
        # the health department declines: it is not chased any more, at once
        wjw = Person(api, WJW)
        await wjw.press(invitations[WJW], "不参加", new=1)
        await wjw.say("辖区内无相关机构")
        assert await listed(api, WJW, REMIND) == []
        assert await listed(api, SCJG, REMIND) == ["12-01 09:00", "12-02 09:00"]
        # the admin's overview names the series
        api.send_text(ADMIN_ID, "/reminders")
        overview = await until(
            lambda: [m for m in api.chat_messages(ADMIN_ID) if "邀请答复 任务#1" in m.text]
        )
        assert "全部提醒系列" in overview[-1].text
        # Tuesday 09:00: exactly what was listed is sent
        set_now(beijing(1, 9, 0))
        await engine.run_due(app)
        await engine.run_due(app)
        await settle(app)
        assert len(chased(api, SCJG)) == 1 and chased(api, WJW) == []
        assert await listed(api, SCJG, REMIND) == ["12-02 09:00"]
        # the market department joins: nobody is silent, so no escalation is planned; at the
        # deadline the task is confirmed instead
        scjg = Person(api, SCJG)
        await scjg.press(invitations[SCJG], "参加", new=1)
        await scjg.press(scjg.last(), "下一步", edit=True)
        await scjg.press(scjg.last(), "1", edit=True)
        assert await listed(api, SCJG, REMIND) == []
        assert await listed(api, LEAD, ESCALATE) == []
        set_now(beijing(2, 18, 0))
        await engine.run_due(app)
        await settle(app)
        row = await db_of(app).fetchone("SELECT state, joint FROM tasks WHERE id = 1")
        assert row is not None and tuple(row) == ("confirmed", 1)
        assert escalations(api, LEAD) == [] and escalations(api, ADMIN_ID) == []


async def test_what_the_previous_version_sent_is_not_sent_again(
    api: FakeBotApi, tmp_path: Any
) -> None:
    """A database of the version that scanned on its own: the Tuesday slot of the market
    department recorded in task_reminders, the deadline marked escalated, no engine rows."""
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        db = db_of(app)
        # One transaction: the bot's own scan must see the old version's database whole.
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM reminders WHERE series = 'task:1'")
            await conn.execute(
                "INSERT INTO task_reminders (task_id, department_code, slot, sent_at)"
                " VALUES (1, 'SCJG', ?, ?)",
                (clock.to_db(beijing(1, 9, 0)), clock.to_db(beijing(1, 9, 0))),
            )
            await conn.execute("UPDATE tasks SET escalated_deadline = reply_deadline WHERE id = 1")
        set_now(beijing(1, 9, 0))
        await engine.run_due(app)
        await settle(app)
        assert chased(api, SCJG) == [] and len(chased(api, WJW)) == 1
        set_now(beijing(2, 9, 0))  # a slot the previous version never reached: sent
        await engine.run_due(app)
        await settle(app)
        assert len(chased(api, SCJG)) == 1 and len(chased(api, WJW)) == 2
        set_now(beijing(2, 18, 0))  # already escalated: not again
        await engine.run_due(app)
        await settle(app)
        assert escalations(api, LEAD) == [] and escalations(api, ADMIN_ID) == []
        rows = await db.fetchall(
            "SELECT status FROM reminders WHERE series = 'task:1' AND kind = 'task.escalate'"
        )
        assert rows == []


async def test_escalation_is_sent_once_and_marks_the_task(api: FakeBotApi, tmp_path: Any) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        set_now(beijing(2, 18, 0))
        await engine.run_due(app)
        await engine.run_due(app)
        await settle(app)
        assert len(escalations(api, LEAD)) == 1 and len(escalations(api, ADMIN_ID)) == 1
        [(_, _, detail)] = await audit(app, "task.escalate")
        assert f"{LEAD}" in detail and f"{ADMIN_ID}" in detail
        [(rows,)] = await db_of(app).fetchall(
            "SELECT COUNT(*) FROM task_messages WHERE kind = 'escalation'"
        )
        assert rows == 2  # kept, so that extending or confirming rewrites them


STALE = Renderer().text("common/stale_alert.j2")


async def press_crafted(app: Any, api: FakeBotApi, uid: int, data: str) -> str:
    message = await crafted(app, api, uid, data)
    return await Person(api, uid).press(message, "crafted")


async def test_malformed_button_data_gets_the_no_longer_valid_alert(
    api: FakeBotApi, tmp_path: Any
) -> None:
    async with county(api, tmp_path) as app:
        await confirmed_proposal(api)
        cases = {
            "nt": ["nt:x:go", "nt:1", "nt:"],
            "tk": ["tk:abc:join", "tk:1", "tk:1:zz", "tk:1:ext:x:1", "tk:1:ext:1"],
            "tf": ["tf:1", "tf:x:i:SC-01", "tf:99999999999999:x"],
        }
        for prefix, datas in cases.items():
            for data in datas:
                assert await press_crafted(app, api, LEAD, data) == STALE, data
            refused = [
                detail
                for _, outcome, detail in await audit(app, f"button.{prefix}")
                if outcome == "refused" and "malformed" in detail
            ]
            assert len(refused) == len(datas), prefix
        # nothing changed: the task still invites, no flow was started
        row = await db_of(app).fetchone("SELECT state, reply_deadline FROM tasks WHERE id = 1")
        assert row is not None and row[0] == "inviting"
        assert await db_of(app).fetchall("SELECT id FROM task_flows") == []
