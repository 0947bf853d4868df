"""The coordination group: binding, refusals, supergroup migration, the bot being removed."""

from __future__ import annotations

from tests.conftest import ADMIN_ID, Harness, eventually
from tests.seed import DEPARTMENTS

GROUP = -4001
SUPERGROUP = -1004001


async def coordination_id(h: Harness) -> int | None:
    row = await h.db.fetchone("SELECT chat_id FROM chats WHERE is_coordination = 1")
    return None if row is None else int(row[0])


async def test_bind_migrate_and_remove(bot: Harness) -> None:
    h = bot
    await h.import_csv("departments", DEPARTMENTS)
    h.api.add_group(GROUP, "县联合抽查协调群 <一业一查> & 😀")
    h.api.add_user(2001, "路人")
    h.api.add_bot_to_group(GROUP, ADMIN_ID)
    [hello] = await h.api.wait_for_messages(GROUP, 1)
    assert "/bindgroup" in hello.text

    [refused] = await h.say(2001, "/bindgroup", chat_id=GROUP)
    assert "还没有注册" in refused.text
    assert await coordination_id(h) is None

    [private] = await h.say(ADMIN_ID, "/bindgroup")
    assert "群里发送" in private.text
    row = await h.db.fetchone(
        "SELECT outcome, detail FROM audit_log WHERE action = 'command.bindgroup' AND actor = ?"
        " ORDER BY id DESC LIMIT 1",
        (ADMIN_ID,),
    )
    assert row is not None and row[0] == "refused" and "wrong_chat" in row[1]  # audited too

    [bound] = await h.say(ADMIN_ID, "/bindgroup", chat_id=GROUP)
    assert "县联合抽查协调群 <一业一查> & 😀" in bound.text
    assert await coordination_id(h) == GROUP
    await h.api.wait_for(lambda: f"chat:{GROUP}" in h.api.commands)
    assert "help" in [c["command"] for c in h.api.commands[f"chat:{GROUP}"]]

    h.api.migrate_group(GROUP, SUPERGROUP)
    await eventually(lambda: coordination_id(h), SUPERGROUP)
    await h.api.wait_for(lambda: f"chat:{SUPERGROUP}" in h.api.commands)
    row = await h.db.fetchone("SELECT migrated_to FROM chats WHERE chat_id = ?", (GROUP,))
    assert row is not None and row[0] == SUPERGROUP

    before = len(h.api.chat_messages(ADMIN_ID))
    h.api.remove_bot_from_group(SUPERGROUP, 2001)
    [notice] = (await h.api.wait_for_messages(ADMIN_ID, before + 1))[before:]
    assert "移出协调群" in notice.text and "路人" in notice.text
    row = await h.db.fetchone("SELECT bot_is_member FROM chats WHERE chat_id = ?", (SUPERGROUP,))
    assert row is not None and row[0] == 0


async def test_rebinding_moves_the_flag(bot: Harness) -> None:
    h = bot
    h.api.add_group(GROUP, "旧群")
    h.api.add_group(-4002, "新群", type="supergroup")
    h.api.add_bot_to_group(GROUP, ADMIN_ID)
    h.api.add_bot_to_group(-4002, ADMIN_ID)
    await h.api.wait_for_messages(GROUP, 1)
    await h.api.wait_for_messages(-4002, 1)
    await h.say(ADMIN_ID, "/bindgroup", chat_id=GROUP)
    # another group: nothing moves before the administrator confirms
    [ask] = await h.say(ADMIN_ID, "/bindgroup", chat_id=-4002)
    assert "目前的县级协调群是“旧群”" in ask.text
    assert await coordination_id(h) == GROUP
    await h.press(ADMIN_ID, ask, "bg:no", expect_edit=True)
    assert "已取消" in h.api.chat_messages(-4002)[-1].text
    assert await coordination_id(h) == GROUP
    [ask] = await h.say(ADMIN_ID, "/bindgroup", chat_id=-4002)
    old_before = len(h.api.chat_messages(GROUP))
    [bound] = await h.press(ADMIN_ID, ask, "bg:ok:-4002", expect_new=1)
    assert "解除绑定" in bound.text and str(GROUP) in bound.text
    assert await coordination_id(h) == -4002
    told = await h.api.wait_for_messages(GROUP, old_before + 1, timeout=15)
    assert "不再是县级协调群" in told[-1].text and "新群" in told[-1].text
