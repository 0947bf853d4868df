"""Tests of the fake Telegram Bot API (tests/fakeapi), driven by the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import datetime as dtm
import json
import time
from collections.abc import AsyncIterator

import aiohttp
import pytest
from telegram import (
    Bot,
    BotCommand,
    BotCommandScopeAllGroupChats,
    BotCommandScopeChat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakeapi import FakeBotApi, Limits, parse_html
from tests.fakeapi.html_entities import HtmlParseError
from tests.fakeapi.ratelimit import RateLimiter

TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"
USER = 1001
OTHER_USER = 1002
GROUP = -4001
SUPERGROUP = -1004001
# 1x1 transparent PNG
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)


def make_api(limits: Limits | None = None) -> FakeBotApi:
    return FakeBotApi(
        token=TOKEN, bot_id=123456, bot_username="county_inspect_bot", limits=limits or Limits()
    )


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    fake = make_api()
    await fake.start()
    fake.add_user(USER, "张", "三", username="zhangsan")
    fake.add_user(OTHER_USER, "李四")
    fake.send_text(USER, "/start")  # the user has started the bot
    yield fake
    await fake.stop()


async def make_bot(api: FakeBotApi, token: str = TOKEN) -> Bot:
    bot = Bot(token, base_url=api.base_url, base_file_url=api.base_file_url)
    await bot.initialize()
    return bot


@pytest.fixture
async def bot(api: FakeBotApi) -> AsyncIterator[Bot]:
    real_bot = await make_bot(api)
    yield real_bot
    await real_bot.shutdown()


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(t, callback_data=d)] for t, d in buttons])


# -- HTML parse mode -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "reason"),
    [
        ("a < b", 'Unsupported start tag "" at byte offset 2'),
        ("<foo>x</foo>", 'Unsupported start tag "foo" at byte offset 0'),
        ("<b>加粗", 'Can\'t find end tag corresponding to start tag "b"'),
        ("x</b>", "Unexpected end tag at byte offset 1"),
        ("<b>x</i>", 'Unmatched end tag at byte offset 4, expected "</b>", found "</i>"'),
        ("中<b", "Unclosed start tag at byte offset 3"),
        ('<span class="x">s</span>', 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ("<a href=x y>l</a>", None),  # attribute without '=' is ignored
        ('<b class="a>x</b>', "Unclosed start tag at byte offset 0"),
    ],
)
def test_html_parser_errors(html: str, reason: str | None) -> None:
    if reason is None:
        parse_html(html)
        return
    with pytest.raises(HtmlParseError) as info:
        parse_html(html)
    assert info.value.reason == reason


def test_html_parser_entities() -> None:
    parsed = parse_html(
        '😀 <b>粗<i>斜</i></b> AT&T &lt;&#36;&#x41;&amp <a href="example.com">链接</a>\n'
        '<pre><code class="language-python">print(1)</code></pre>'
        "<tg-spoiler>秘</tg-spoiler><blockquote expandable>引用</blockquote>"
        '<a href="tg://user?id=1001">张三</a><code>x</code>'
    )
    assert parsed.text == "😀 粗斜 AT&T <$A& 链接\nprint(1)秘引用张三x"
    entities = {(e["type"], e["offset"], e["length"]) for e in parsed.entities}
    # The emoji is two UTF-16 code units, so "粗" starts at offset 3.
    assert ("bold", 3, 2) in entities
    assert ("italic", 4, 1) in entities
    assert ("text_link", 16, 2) in entities
    assert ("pre", 19, 8) in entities
    assert ("spoiler", 27, 1) in entities
    assert ("expandable_blockquote", 28, 2) in entities
    assert ("text_mention", 30, 2) in entities
    assert ("code", 32, 1) in entities
    link = next(e for e in parsed.entities if e["type"] == "text_link")
    assert link["url"] == "http://example.com/"
    pre = next(e for e in parsed.entities if e["type"] == "pre")
    assert pre["language"] == "python"


async def test_html_errors_surface_as_bad_request(api: FakeBotApi, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities: unsupported start tag"):
        await bot.send_message(USER, "检查 <未知> 标签", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)can't find end tag corresponding to start tag"):
        await bot.send_message(USER, "<b>未闭合", parse_mode="HTML")
    assert [e.description for e in api.errors] == [
        'Bad Request: can\'t parse entities: Unsupported start tag "未知" at byte offset 7',
        "Bad Request: can't parse entities: Can't find end tag corresponding to start tag \"b\"",
    ]
    assert all(e.status == 400 for e in api.errors)
    # A literal '&' is fine, exactly like on Telegram.
    await bot.send_message(USER, "A&B 公司 <b>&lt;重要&gt;</b>", parse_mode="HTML")
    sent = api.last_message(USER)
    assert sent.text == "A&B 公司 <重要>"
    assert sent.html == "A&B 公司 <b>&lt;重要&gt;</b>"
    assert sent.parse_mode == "HTML"
    assert sent.entities == [{"type": "bold", "offset": 7, "length": 4}]


# -- text limits ---------------------------------------------------------------------------


async def test_text_length_limits(api: FakeBotApi, bot: Bot) -> None:
    await bot.send_message(USER, "检" * 4096)
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "检" * 4097)
    # An emoji is two UTF-16 code units: 2049 emoji are 4098 units.
    with pytest.raises(BadRequest, match=r"(?i)message is too long"):
        await bot.send_message(USER, "😀" * 2049)
    # The raw HTML is far longer than 4096, the parsed text is exactly 4096: accepted.
    html = "<b>" + "查" * 4000 + "</b>" + "&amp;" * 96
    assert len(html) > 4096
    await bot.send_message(USER, html, parse_mode="HTML")
    assert len(api.last_message(USER).text) == 4096
    with pytest.raises(BadRequest, match=r"(?i)message text is empty"):
        await bot.send_message(USER, "<b> </b>\n", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)message caption is too long"):
        await bot.send_document(USER, b"x", filename="a.txt", caption="长" * 1025)
    # Telegram trims the text and turns tabs into spaces.
    await bot.send_message(USER, "\n  整改\t通知  \n")
    assert api.last_message(USER).text == "整改 通知"


# -- reply markup ----------------------------------------------------------------------------


async def test_callback_data_is_limited_to_64_bytes(api: FakeBotApi, bot: Bot) -> None:
    ok = "检" * 21 + "x"  # 63 + 1 = 64 bytes
    await bot.send_message(USER, "按钮", reply_markup=keyboard(("好", ok)))
    assert api.last_message(USER).buttons == [[("好", ok)]]
    for data in ("a" * 65, "检" * 22):  # 65 and 66 bytes
        with pytest.raises(BadRequest, match=r"(?i)button_data_invalid"):
            await bot.send_message(USER, "按钮", reply_markup=keyboard(("好", data)))
    assert api.errors[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(BadRequest, match=r"(?i)text buttons are unallowed"):
        await bot.send_message(
            USER, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("无动作")]])
        )
    await bot.send_message(USER, "选择", reply_markup=ReplyKeyboardMarkup([["是", "否"]]))
    sent = api.last_message(USER)
    assert sent.reply_markup is not None and "keyboard" in sent.reply_markup
    assert sent.buttons == [[("是", ""), ("否", "")]]


# -- flood control ---------------------------------------------------------------------------


async def test_private_chat_rate_limit_raises_retry_after(
    api: FakeBotApi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")  # RetryAfter.retry_after as timedelta
    limited = make_api(Limits(private_burst=2, private_per_second=1.0))
    await limited.start()
    limited.add_user(USER, "张三")
    limited.send_text(USER, "/start")
    bot = await make_bot(limited)
    try:
        await bot.send_message(USER, "1")
        await bot.send_message(USER, "2")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(USER, "3")
        assert info.value.retry_after == dtm.timedelta(seconds=1)
        error = limited.errors[-1]
        assert (error.status, error.description) == (429, "Too Many Requests: retry after 1")
        assert error.parameters == {"retry_after": 1}
        assert len(limited.chat_messages(USER)) == 2
    finally:
        await bot.shutdown()
        await limited.stop()


async def test_group_and_global_rate_limits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    limited = make_api(Limits(group_per_minute=3, global_per_second=5))
    await limited.start()
    limited.add_user(USER, "张三")
    limited.add_group(GROUP, "检查组")
    limited.add_bot_to_group(GROUP, USER)
    limited.add_group(SUPERGROUP, "联合检查", type="supergroup")
    limited.add_bot_to_group(SUPERGROUP, USER)
    bot = await make_bot(limited)
    try:
        for i in range(3):
            await bot.send_message(GROUP, f"g{i}")
        with pytest.raises(RetryAfter) as info:
            await bot.send_message(GROUP, "g3")
        retry_after = info.value.retry_after
        assert isinstance(retry_after, dtm.timedelta)
        assert dtm.timedelta(seconds=58) <= retry_after <= dtm.timedelta(seconds=60)
        await bot.send_message(SUPERGROUP, "s0")
        await bot.send_message(SUPERGROUP, "s1")  # 5 messages within a second overall
        with pytest.raises(RetryAfter):
            await bot.send_message(SUPERGROUP, "s2")
        assert [e.status for e in limited.errors] == [429, 429]
    finally:
        await bot.shutdown()
        await limited.stop()


def test_rate_limiter_token_bucket_refills() -> None:
    now = [100.0]
    limiter = RateLimiter(Limits(private_burst=2), clock=lambda: now[0])
    assert limiter.acquire(USER, is_private=True) is None
    assert limiter.acquire(USER, is_private=True) is None
    assert limiter.acquire(USER, is_private=True) == 1
    now[0] += 1.0
    assert limiter.acquire(USER, is_private=True) is None
    assert limiter.acquire(USER, is_private=True) == 1
    assert limiter.acquire(OTHER_USER, is_private=True) is None  # buckets are per chat
    disabled = RateLimiter(Limits(enabled=False, private_burst=0), clock=lambda: now[0])
    assert disabled.acquire(USER, is_private=True) is None


# -- access errors -------------------------------------------------------------------------


async def test_forbidden_and_not_found_chats(api: FakeBotApi, bot: Bot) -> None:
    api.block_bot(USER)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(USER, "提醒")
    api.unblock_bot(USER)
    await bot.send_message(USER, "提醒")
    with pytest.raises(Forbidden, match="bot can't initiate conversation with a user"):
        await bot.send_message(OTHER_USER, "你好")
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(999, "你好")
    api.add_group(GROUP, "检查组")
    api.add_bot_to_group(GROUP, USER)
    await bot.send_message(GROUP, "大家好")
    api.remove_bot_from_group(GROUP, USER)
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(GROUP, "还在吗")
    assert [e.status for e in api.errors] == [403, 403, 400, 403]


async def test_group_migration_raises_chat_migrated(api: FakeBotApi, bot: Bot) -> None:
    api.add_group(GROUP, "检查组")
    api.add_bot_to_group(GROUP, USER)
    api.migrate_group(GROUP, SUPERGROUP)
    with pytest.raises(ChatMigrated) as info:
        await bot.send_message(GROUP, "通知")
    assert info.value.new_chat_id == SUPERGROUP
    assert api.errors[-1].parameters == {"migrate_to_chat_id": SUPERGROUP}
    await bot.send_message(SUPERGROUP, "通知")
    assert api.last_message(SUPERGROUP).text == "通知"
    updates = await bot.get_updates()
    to_message, from_message = updates[-2].message, updates[-1].message
    assert to_message is not None and from_message is not None
    assert (to_message.chat.id, to_message.migrate_to_chat_id) == (GROUP, SUPERGROUP)
    assert (from_message.chat.id, from_message.migrate_from_chat_id) == (SUPERGROUP, GROUP)
    assert from_message.chat.type == "supergroup"


# -- files -----------------------------------------------------------------------------------


async def test_document_upload_and_download_roundtrip(api: FakeBotApi, bot: Bot) -> None:
    content = bytes(range(256)) * 40 + "检查结果".encode()
    message = await bot.send_document(
        USER, content, filename="联合检查记录表.xlsx", caption="<b>附件</b>", parse_mode="HTML"
    )
    assert message.document is not None
    assert message.document.file_name == "联合检查记录表.xlsx"
    assert message.caption == "附件"
    sent = api.last_message(USER)
    assert sent.kind == "document" and sent.document is not None
    assert sent.document.content == content
    assert sent.document.file_name == "联合检查记录表.xlsx"
    assert sent.text == "附件" and sent.html == "<b>附件</b>"

    file = await bot.get_file(message.document.file_id)
    assert bytes(await file.download_as_bytearray()) == content
    # Sending again by file_id.
    again = await bot.send_document(USER, message.document.file_id)
    assert again.document is not None and again.document.file_id == message.document.file_id

    # A file from the user, downloaded by the bot.
    incoming = api.send_document(USER, "整改报告.pdf", b"%PDF-1.4 fake", caption="报告")
    user_file = await bot.get_file(incoming["document"]["file_id"])
    assert bytes(await user_file.download_as_bytearray()) == b"%PDF-1.4 fake"
    assert incoming["document"]["mime_type"] == "application/pdf"

    photo = await bot.send_photo(USER, PNG, caption="现场照片")
    assert photo.photo[-1].width == 1
    assert api.last_message(USER).photo == PNG
    with pytest.raises(BadRequest, match=r"(?i)image_process_failed"):
        await bot.send_photo(USER, b"not an image")


async def test_get_file_refuses_big_files() -> None:
    limited = make_api(Limits(max_download_size=1000))
    await limited.start()
    limited.add_user(USER, "张三")
    incoming = limited.send_document(USER, "big.bin", b"x" * 1001)
    bot = await make_bot(limited)
    try:
        with pytest.raises(BadRequest, match=r"(?i)file is too big"):
            await bot.get_file(incoming["document"]["file_id"])
    finally:
        await bot.shutdown()
        await limited.stop()


# -- edits, deletions, callback answers ------------------------------------------------------


async def test_edits_are_applied_and_not_modified_is_rejected(api: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(
        USER, "<b>待审核</b>", parse_mode="HTML", reply_markup=keyboard(("通过", "approve:1"))
    )
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text(
            "<strong>待审核</strong>",
            USER,
            message.message_id,
            parse_mode="HTML",
            reply_markup=keyboard(("通过", "approve:1")),
        )
    assert api.errors[-1].description.startswith("Bad Request: message is not modified: ")

    await bot.edit_message_text("已通过", USER, message.message_id)
    sent = api.last_message(USER)
    assert (sent.text, sent.edited, sent.edit_count) == ("已通过", True, 1)
    assert sent.history == ["待审核"]
    assert sent.reply_markup is None  # editing without reply_markup removes the keyboard

    await bot.edit_message_reply_markup(
        USER, message.message_id, reply_markup=keyboard(("撤回", "undo:1"))
    )
    assert api.last_message(USER).buttons == [[("撤回", "undo:1")]]
    with pytest.raises(BadRequest, match=r"(?i)message to edit not found"):
        await bot.edit_message_text("x", USER, 9999)

    await bot.delete_message(USER, message.message_id)
    assert api.chat_messages(USER) == []
    assert api.sent_total(USER) == 1
    with pytest.raises(BadRequest, match=r"(?i)message to delete not found"):
        await bot.delete_message(USER, message.message_id)


async def test_answer_callback_query(api: FakeBotApi, bot: Bot) -> None:
    message = await bot.send_message(USER, "确认？", reply_markup=keyboard(("确认", "yes")))
    with pytest.raises(AssertionError, match="no button with callback_data 'no'"):
        api.press_button(USER, USER, message.message_id, "no")
    query_id = api.press_button(USER, USER, message.message_id, "yes")
    updates = await bot.get_updates(offset=-1)
    query = updates[-1].callback_query
    assert query is not None and query.id == query_id and query.data == "yes"
    assert query.message is not None and query.message.message_id == message.message_id
    await bot.answer_callback_query(query_id, text="已确认", show_alert=True)
    assert api.callback_answers[-1]["text"] == "已确认"
    assert api.callback_answers[-1]["show_alert"] is True
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query_id)


# -- updates, commands, misc -----------------------------------------------------------------


async def test_get_updates_offset_limit_and_long_poll(api: FakeBotApi, bot: Bot) -> None:
    first = await bot.get_updates()
    assert [u.message.text for u in first if u.message] == ["/start"]
    assert first[0].message is not None and first[0].message.entities[0].type == "bot_command"
    confirmed = await bot.get_updates(offset=first[-1].update_id + 1, timeout=0)
    assert confirmed == ()

    async def inject_later() -> None:
        await asyncio.sleep(0.2)
        api.send_text(USER, "/report@county_inspect_bot 今天")

    task = asyncio.create_task(inject_later())
    started = time.monotonic()
    updates = await bot.get_updates(offset=first[-1].update_id + 1, timeout=5)
    await task
    assert time.monotonic() - started < 2
    message = updates[0].message
    assert message is not None and message.text == "/report@county_inspect_bot 今天"
    assert message.entities[0].length == len("/report@county_inspect_bot")

    for i in range(3):
        api.send_text(USER, f"消息{i}")
    limited = await bot.get_updates(offset=updates[-1].update_id + 1, limit=2)
    assert len(limited) == 2
    # allowed_updates filters (and is remembered, as on Telegram).
    api.block_bot(USER)
    only_messages = await bot.get_updates(
        offset=updates[-1].update_id + 1, allowed_updates=["message"]
    )
    assert [u.message.text for u in only_messages if u.message] == ["消息0", "消息1", "消息2"]
    assert all(u.my_chat_member is None for u in only_messages)  # the block was filtered out


async def test_group_privacy_mode(api: FakeBotApi, bot: Bot) -> None:
    await bot.get_updates(offset=-1)
    api.add_group(SUPERGROUP, "联合检查", type="supergroup")
    api.add_bot_to_group(SUPERGROUP, USER)
    api.send_text(USER, "普通聊天", chat_id=SUPERGROUP)
    api.send_text(USER, "/status@other_bot", chat_id=SUPERGROUP)
    api.send_text(USER, "/status", chat_id=SUPERGROUP)
    updates = await bot.get_updates(offset=-10)
    texts = [u.message.text for u in updates if u.message and u.message.text]
    assert "/status" in texts
    assert "普通聊天" not in texts and "/status@other_bot" not in texts
    assert [m["text"] for m in api.undelivered] == ["普通聊天", "/status@other_bot"]
    # Adding the bot produced a my_chat_member update (left -> member).
    member_update = next(u.my_chat_member for u in updates if u.my_chat_member)
    assert (member_update.old_chat_member.status, member_update.new_chat_member.status) == (
        "left",
        "member",
    )


async def test_commands_by_scope(api: FakeBotApi, bot: Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "开始"), BotCommand("report", "上报")])
    await bot.set_my_commands([BotCommand("status", "进度")], scope=BotCommandScopeAllGroupChats())
    await bot.set_my_commands([BotCommand("help", "帮助")], scope=BotCommandScopeChat(USER))
    await bot.set_my_commands([BotCommand("start", "start")], language_code="en")
    assert set(api.commands) == {"default", "all_group_chats", f"chat:{USER}", "default/en"}
    assert api.commands["default"][1] == {"command": "report", "description": "上报"}
    assert [c.command for c in await bot.get_my_commands()] == ["start", "report"]
    await bot.delete_my_commands(scope=BotCommandScopeAllGroupChats())
    assert "all_group_chats" not in api.commands
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Bad-Name", "x")])


async def test_tokens_unknown_methods_and_json_bodies(api: FakeBotApi, bot: Bot) -> None:
    wrong = Bot("123456:wrong", base_url=api.base_url, base_file_url=api.base_file_url)
    try:
        with pytest.raises(InvalidToken):
            await wrong.initialize()  # initialize() (not a bare call) so shutdown() closes it
    finally:
        await wrong.shutdown()
    assert (api.errors[-1].status, api.errors[-1].description) == (401, "Unauthorized")
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("noSuchMethod")
    assert (api.errors[-1].status, api.errors[-1].description) == (404, "Not Found")
    # A real method the fake lacks is reported clearly (PTB: NetworkError).
    with pytest.raises(NetworkError, match="does not implement pinChatMessage"):
        await bot.pin_chat_message(USER, 1)

    async with aiohttp.ClientSession() as session:
        url = f"{api.base_url}{TOKEN}/sendmessage"  # method names are case-insensitive
        body = {"chat_id": USER, "text": "<i>JSON</i>", "parse_mode": "HTML"}
        async with session.post(url, json=body) as response:
            reply = await response.json()
    assert reply["ok"] is True and reply["result"]["text"] == "JSON"
    assert api.calls("sendMessage")[-1].params["chat_id"] == USER


# -- a real Application polling the fake ---------------------------------------------------


async def test_application_polling_end_to_end(api: FakeBotApi) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_html(
            "<b>欢迎</b>，请选择：", reply_markup=keyboard(("开始检查", "begin"))
        )

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("收到")
        await query.edit_message_text(f"已选择：{query.data}")

    async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None and update.effective_message.document
        file = await update.effective_message.document.get_file()
        data = await file.download_as_bytearray()
        await update.effective_message.reply_text(f"收到 {len(data)} 字节")

    app: Application = (  # type: ignore[type-arg]
        ApplicationBuilder()
        .token(TOKEN)
        .base_url(api.base_url)
        .base_file_url(api.base_file_url)
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(button))
    app.add_handler(MessageHandler(filters.Document.ALL, echo))
    await app.initialize()
    await app.start()
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0)
    try:
        # The /start sent by the fixture is delivered on the first poll.
        [welcome] = await api.wait_for_messages(USER, 1)
        assert welcome.text == "欢迎，请选择："
        assert welcome.buttons == [[("开始检查", "begin")]]

        api.press_button(USER, USER, welcome.message_id, "begin")
        await api.wait_for(lambda: api.last_message(USER).edited)
        assert api.last_message(USER).text == "已选择：begin"
        assert api.callback_answers[0]["text"] == "收到"

        api.send_document(USER, "现场记录.docx", b"\x00" * 1234)
        messages = await api.wait_for_messages(USER, 2)
        assert messages[-1].text == "收到 1234 字节"
    finally:
        stop_started = time.monotonic()
        await app.updater.stop()
        await app.stop()
        await app.shutdown()
        assert time.monotonic() - stop_started < 3
    assert not [e for e in api.errors if e.method == "getUpdates"]


async def test_wait_for_messages_times_out_with_a_dump(api: FakeBotApi) -> None:
    with pytest.raises(TimeoutError, match="expected 1 message") as info:
        await api.wait_for_messages(USER, 1, timeout=0.1)
    assert "never called getUpdates" in str(info.value)


def test_recorded_params_are_decoded() -> None:
    from tests.fakeapi.params import Params

    params = Params(
        {"chat_id": "-100123", "text": "123", "reply_markup": json.dumps({"a": 1}), "x": "true"}
    )
    assert params.recorded() == {
        "chat_id": -100123,
        "text": "123",
        "reply_markup": {"a": 1},
        "x": True,
    }


def test_flood_control_on_a_fast_clock_keeps_the_limits_and_real_retry_after() -> None:
    from bot.emulator.ratelimit import RateLimiter

    now = [100.0]
    real = RateLimiter(Limits(), clock=lambda: now[0])
    fast = RateLimiter(Limits(time_scale=50.0), clock=lambda: now[0])
    for limiter in (real, fast):  # the same burst of 5 passes, the 6th is refused
        assert [limiter.acquire(7, True) for _ in range(5)] == [None] * 5
        assert limiter.acquire(7, True) == 1  # retry_after: whole real seconds, at least 1
    now[0] += 0.1  # a tenth of a real second: 5 emulated seconds on the fast clock
    assert real.acquire(7, True) == 1
    assert [fast.acquire(7, True) for _ in range(5)] == [None] * 5
    for _ in range(20):  # a group: 20 a minute, the minute is 1.2 real seconds
        assert fast.acquire(-5, False) is None
    assert fast.acquire(-5, False) == 2  # ceil(1.2 s)
    now[0] += 1.2
    assert fast.acquire(-5, False) is None
