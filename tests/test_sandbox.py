"""The sandbox without a browser: seeding, restart and --reset, the JSON endpoints, the clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot import clock
from bot.__main__ import build_parser
from bot.domain.credit_code import is_valid_credit_code
from bot.sandbox import demo
from bot.sandbox.core import Sandbox
from bot.sandbox.web import SandboxWeb
from tests.pg_support import sqlite_only
from tests.sandbox_support import MONDAY_10, running_sandbox

ADMIN, LEAD, SCJG = demo.ADMIN_ID, 2001, 2002
GROUP = demo.GROUP_ID


async def until(probe: Callable[[], Any], timeout: float = 10.0) -> Any:  # noqa: ASYNC109
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = probe()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"condition not met within {timeout} s (last {value!r})")
        await asyncio.sleep(0.05)


class Client:
    def __init__(self, session: aiohttp.ClientSession, web: SandboxWeb) -> None:
        self.session = session
        self.base = web.url.rstrip("/")

    async def get(self, path: str) -> Any:
        async with self.session.get(self.base + path) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def post(self, path: str, body: dict[str, Any], status: int = 200) -> Any:
        async with self.session.post(self.base + path, json=body) as response:
            assert response.status == status, await response.text()
            return await response.json()

    async def messages(self, chat: int) -> list[dict[str, Any]]:
        return list((await self.get(f"/api/messages?chat={chat}"))["messages"])

    async def bot_texts(self, chat: int) -> list[str]:
        return [m["text"] for m in await self.messages(chat) if m["from_bot"]]


async def test_seeding_makes_a_believable_county(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sandbox, _web):
        assert sandbox.seeded_now
        db = sandbox.db
        counts = {
            table: (await db.fetchone(f"SELECT count(*) FROM {table}"))[0]  # type: ignore[index]
            for table in ("departments", "items", "objects", "inspectors", "people", "liaisons")
        }
        assert counts == {
            "departments": 7,
            "items": 12,
            "objects": 12,
            "inspectors": 10,
            "people": 8,
            "liaisons": 4,
        }
        codes = [r[0] for r in await db.fetchall("SELECT credit_code FROM objects")]
        assert all(is_valid_credit_code(code) for code in codes)
        bound = await db.fetchall("SELECT chat_id FROM chats WHERE is_coordination = 1")
        assert [r[0] for r in bound] == [GROUP]
        onboarded = await db.fetchall(
            "SELECT certificate_no FROM inspectors WHERE person_id IS NOT NULL ORDER BY 1"
        )
        assert [r[0] for r in onboarded] == ["34112201001", "34112202001", "34112203001"]
        # the group shows the bot joining and the binding, as it happened
        texts = [m.text for m in sandbox.api.chat_messages(GROUP)]
        assert "绑定为县级协调群" in texts[-1]
        # the clock started where it was told to
        assert abs(clock.now() - MONDAY_10) < timedelta(minutes=1)
        # liaisons got their command menus
        assert "newtask" in {c["command"] for c in sandbox.api.commands[f"chat:{LEAD}"]}


@sqlite_only("the sandbox keeps its demo in an SQLite file of its own; a restart looks for it")
async def test_restart_keeps_chats_and_clock_and_reset_starts_over(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (sandbox, _web):
        sandbox.api.send_text(LEAD, "/help")
        await sandbox.api.wait_for_messages(LEAD, 1)
        await sandbox.advance(timedelta(days=2))
        moved = clock.now()
    async with running_sandbox(tmp_path) as (sandbox, _web):
        assert not sandbox.seeded_now
        assert len(sandbox.api.chat_messages(LEAD)) == 1
        assert abs(clock.now() - moved) < timedelta(minutes=1)
        # message ids go on where they stopped: the bot's old messages stay editable
        assert sandbox.api.world.chats[LEAD].next_message_id == 3
        sandbox.api.send_text(LEAD, "/me")
        await sandbox.api.wait_for_messages(LEAD, 2)
        people = (await sandbox.db.fetchone("SELECT count(*) FROM people"))[0]  # type: ignore[index]
        assert people == 8  # not seeded twice
    async with running_sandbox(tmp_path, reset=True) as (sandbox, _web):
        assert sandbox.seeded_now
        assert sandbox.api.chat_messages(LEAD) == []
        assert abs(clock.now() - MONDAY_10) < timedelta(minutes=1)


async def test_endpoints_send_press_upload_download(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (_sandbox, web), aiohttp.ClientSession() as session:
        c = Client(session, web)
        state = await c.get("/api/state")
        assert [p["id"] for p in state["personas"]][:3] == [ADMIN, LEAD, SCJG]
        assert state["group"] == {"id": GROUP, "title": demo.GROUP_TITLE}
        assert state["clock"]["display"] == "2026-11-30 10:00"
        version = state["version"]

        # typing a command; the long poll wakes up when the bot answers
        waiting = asyncio.create_task(c.get(f"/api/wait?since={version}"))
        await c.post("/api/send", {"user": LEAD, "chat": LEAD, "text": "/newtask"})
        assert (await asyncio.wait_for(waiting, 10))["version"] != version
        card = await until(
            lambda: _last_bot(c, LEAD, lambda m: "第一步" in m["text"]),
        )
        assert card["entities"] and card["entities"][0]["type"] == "bold"
        labels = [b["text"] for row in card["buttons"] for b in row]
        assert "养老机构" in labels and "放弃" in labels
        give_up = next(b["data"] for row in card["buttons"] for b in row if b["text"] == "放弃")
        answer = await c.post(
            "/api/press", {"user": LEAD, "chat": LEAD, "message": card["id"], "data": give_up}
        )
        assert answer == {"answer": {"text": None, "show_alert": False}}
        edited = await until(lambda: _last_bot(c, LEAD, lambda m: m["edited"]))
        assert edited["id"] == card["id"] and edited["buttons"] == []
        # a button that is gone is a clear 400
        await c.post(
            "/api/press",
            {"user": LEAD, "chat": LEAD, "message": card["id"], "data": give_up},
            status=400,
        )

        # the administrator asks for a template and downloads the file the bot sends
        await c.post("/api/send", {"user": ADMIN, "chat": ADMIN, "text": "/template"})
        pick = await until(lambda: _last_bot(c, ADMIN, lambda m: bool(m["buttons"])))
        button = pick["buttons"][0][0]
        await c.post(
            "/api/press",
            {"user": ADMIN, "chat": ADMIN, "message": pick["id"], "data": button["data"]},
        )
        sent = await until(lambda: _last_bot(c, ADMIN, lambda m: m["document"] is not None))
        async with session.get(f"{c.base}/api/file/{sent['document']['file_id']}") as response:
            assert response.status == 200
            body = await response.read()
            assert body[:2] == b"PK"  # an .xlsx
            assert "UTF-8''" in response.headers["Content-Disposition"]

        # the administrator uploads a csv: the real importer answers
        form = aiohttp.FormData()
        form.add_field("user", str(ADMIN))
        form.add_field("chat", str(ADMIN))
        form.add_field("caption", "部门 试导入")
        form.add_field("file", "部门编码,部门名称\nTSJ,县体育局\n".encode(), filename="部门.csv")
        async with session.post(
            f"{c.base}/api/upload", data=form, headers={"X-Sandbox": "1"}
        ) as response:
            assert response.status == 200, await response.text()
        report = await until(lambda: _last_bot(c, ADMIN, lambda m: "试导入" in m["text"]))
        assert "1" in report["text"]
        mine = [m for m in await c.messages(ADMIN) if not m["from_bot"]]
        assert mine[-1]["document"]["name"] == "部门.csv"

        # commands the bot set for the chat
        menu = await c.get(f"/api/commands?user={LEAD}&chat={LEAD}")
        assert "newtask" in {item["command"] for item in menu["commands"]}


async def _last_bot(c: Client, chat: int, match: Callable[[dict[str, Any]], bool]) -> Any:
    found = [m for m in await c.messages(chat) if m["from_bot"] and match(m)]
    return found[-1] if found else None


async def test_clock_endpoints_only_move_forward(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (_sandbox, web), aiohttp.ClientSession() as session:
        c = Client(session, web)
        after = await c.post("/api/clock", {"action": "day"})
        assert after["display"] == "2026-12-01 10:00" and after["weekday"] == "二"
        after = await c.post("/api/clock", {"action": "hour"})
        assert after["display"] == "2026-12-01 11:00"
        after = await c.post("/api/clock", {"action": "to", "to": "2026-12-03T08:30"})
        assert after["display"] == "2026-12-03 08:30"
        await c.post("/api/clock", {"action": "to", "to": "2026-12-01"}, status=400)
        await c.post("/api/clock", {"action": "back"}, status=400)
        assert (await c.get("/api/clock"))["display"] == "2026-12-03 08:30"


@sqlite_only(
    "the sandbox runs on its own SQLite file; its fast-forward stops at the first message out"
)
async def test_fast_forward_to_the_next_reminder(tmp_path: Path) -> None:
    """A task the bot knows about gets its reminder; the real scan (run_due) sends it."""
    async with running_sandbox(tmp_path) as (sandbox, _web):
        api = sandbox.api
        api.send_text(LEAD, "/newtask")
        await api.wait_for_messages(LEAD, 1)
        for label in ("养老机构", "下一步", "县市场监管局", "下一步"):
            current = api.last_message(LEAD)
            edits = current.edit_count
            api.press_button_by_text(LEAD, LEAD, label)
            await until(lambda cur=current, e=edits: _edits(api, cur) > e)
        api.send_text(LEAD, "2026-12-07 2026-12-18")
        await api.wait_for_messages(LEAD, 2)
        for label in ("使用默认截止时间", "无备注", "确认发出邀请"):
            current = api.last_message(LEAD)
            edits = current.edit_count
            api.press_button_by_text(LEAD, LEAD, label)
            await until(lambda cur=current, e=edits: _edits(api, cur) > e)
        await until(lambda: any("养老机构" in m.text for m in api.chat_messages(GROUP)))
        # the invitations still going out now are not what the fast-forward is for
        assert sandbox.app is not None
        await sandbox.app.bot_data["outbox"].idle(timeout=30.0)
        assert await sandbox.advance_to_next()
        local = clock.now().astimezone(sandbox.base_settings.tz)
        assert local.strftime("%Y-%m-%d %H:%M") == "2026-12-01 09:00"
        reminder = await until(lambda: [m for m in api.chat_messages(SCJG) if "提醒" in m.text])
        assert "县市场监管局还没有答复" in reminder[-1].text


def _edits(api: Any, message: Any) -> int:
    for current in api.chat_messages(message.chat_id):
        if current.message_id == message.message_id:
            return int(current.edit_count)
    return -1


async def test_guard_refuses_foreign_hosts_and_form_posts(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (_sandbox, web), aiohttp.ClientSession() as session:
        base = web.url.rstrip("/")
        async with session.get(base + "/api/state", headers={"Host": "evil.example"}) as r:
            assert r.status == 403
        async with session.post(base + "/api/send", data={"user": "2001", "text": "x"}) as r:
            assert r.status == 403
        async with session.post(
            base + "/api/send", json={"user": LEAD, "chat": SCJG, "text": "hi"}
        ) as r:
            assert r.status == 400  # someone else's private chat
        async with session.get(base + "/") as r:
            assert r.status == 200 and "沙盒" in await r.text()
            assert "script-src 'self'" in r.headers["Content-Security-Policy"]
        async with session.get(base + "/static/app.js") as r:
            assert r.status == 200 and r.content_type == "text/javascript"
        async with session.get(base + "/static/..%2Fweb.py") as r:
            assert r.status == 404


def test_cli_has_the_sandbox_command() -> None:
    args = build_parser().parse_args(["sandbox", "--reset", "--port", "0"])
    assert args.reset and args.port == 0 and args.data_dir == "data/sandbox"


@pytest.mark.parametrize("persona", demo.PERSONAS)
def test_personas_are_consistent(persona: demo.Persona) -> None:
    assert persona.role in ("admin", "liaison", "inspector")
    if persona.role == "liaison":
        assert persona.department and f"\n{persona.department}," in demo.DEPARTMENTS
    if persona.role == "inspector":
        assert f",{persona.certificate}," in demo.INSPECTORS


def test_a_sandbox_without_start_has_no_database(tmp_path: Path) -> None:
    sandbox = Sandbox(tmp_path)
    with pytest.raises(AssertionError):
        _ = sandbox.db


INSPECTOR = 3001  # 赵磊, not in the coordination group
ROOT = Path(__file__).resolve().parents[1]


async def test_page_refuses_a_persona_outside_the_group(tmp_path: Path) -> None:
    """The emulator would add a sender to the group; the page must not let it happen: an
    inspector who is not a member can neither post, press nor upload there."""
    async with running_sandbox(tmp_path) as (sandbox, web), aiohttp.ClientSession() as session:
        c = Client(session, web)
        group = sandbox.api.world.chats[GROUP]
        before = len(group.messages)
        refused = await c.post(
            "/api/send", {"user": INSPECTOR, "chat": GROUP, "text": "大家好"}, status=400
        )
        assert refused["error"] == f"赵磊不在群“{demo.GROUP_TITLE}”里，不能在群里发言或点按钮"
        await c.post(
            "/api/press",
            {"user": INSPECTOR, "chat": GROUP, "message": 1, "data": "x"},
            status=400,
        )
        form = aiohttp.FormData()
        form.add_field("user", str(INSPECTOR))
        form.add_field("chat", str(GROUP))
        form.add_field("file", b"a,b\n", filename="x.csv")
        async with session.post(
            f"{c.base}/api/upload", data=form, headers={"X-Sandbox": "1"}
        ) as response:
            assert response.status == 400
        assert len(group.messages) == before and INSPECTOR not in group.members
        async with session.get(f"{c.base}/api/messages?chat={GROUP}&user={INSPECTOR}") as r:
            assert r.status == 400  # nor read it
        # a member still can
        await c.post("/api/send", {"user": LEAD, "chat": GROUP, "text": "大家好"})
        assert len(group.messages) == before + 1


async def test_page_errors_are_chinese(tmp_path: Path) -> None:
    async with running_sandbox(tmp_path) as (_sandbox, web), aiohttp.ClientSession() as session:
        c = Client(session, web)
        back = await c.post("/api/clock", {"action": "to", "to": "2026-11-01"}, status=400)
        assert back["error"] == "沙盒时钟只能向前拨，不能回到过去（现在是 2026-11-30 10:00）"
        bad = await c.post("/api/clock", {"action": "to", "to": "明天"}, status=400)
        assert bad["error"] == "日期格式应为 2026-12-01 或 2026-12-01T09:00"
        empty = await c.post("/api/send", {"user": LEAD, "chat": LEAD, "text": " "}, status=400)
        assert empty["error"] == "消息不能为空"
        other = await c.post("/api/send", {"user": LEAD, "chat": SCJG, "text": "x"}, status=400)
        assert other["error"] == "这是别人与机器人的私聊，不能以当前身份发言"
        nobody = await c.post("/api/send", {"user": 9, "chat": 9, "text": "x"}, status=400)
        assert nobody["error"] == "没有这个身份（9）"
        async with session.post(c.base + "/api/send", data={"user": "2001"}) as r:
            assert (await r.json())["error"] == "请求须为 JSON 或带 X-Sandbox 头"


async def test_photos_times_and_unread_markers(tmp_path: Path) -> None:
    """/stats answers with text and a chart: the page gets the photo (and can load it as an
    image), each message has its time on the sandbox clock, and the administrator's unread
    count goes up until the page shows them that chat."""
    async with running_sandbox(tmp_path) as (_sandbox, web), aiohttp.ClientSession() as session:
        c = Client(session, web)
        await c.get(f"/api/messages?chat={ADMIN}&user={ADMIN}")  # read what seeding left
        assert (await c.get("/api/state"))["unread"][str(ADMIN)]["private"] == 0
        await c.post("/api/clock", {"action": "to", "to": "2026-12-02T15:20"})
        await c.post("/api/send", {"user": ADMIN, "chat": ADMIN, "text": "/stats"})
        chart = await until(lambda: _last_bot(c, ADMIN, lambda m: m["photo"] is not None))
        async with session.get(c.base + chart["photo"]["url"]) as response:
            assert response.status == 200 and response.content_type == "image/png"
            assert (await response.read()).startswith(b"\x89PNG")
        assert "按完成值排序" in chart["text"]  # the caption
        assert chart["time"] == "12-02 15:20"  # the sandbox clock, not the real one
        mine = [m for m in await c.messages(ADMIN) if not m["from_bot"]][-1]
        assert mine["text"] == "/stats" and mine["time"] == "12-02 15:20"

        unread = (await c.get("/api/state"))["unread"]
        assert unread[str(ADMIN)]["private"] == 2  # the figures and the chart, not "/stats"
        assert unread[str(INSPECTOR)]["group"] == 0  # not a member: no group count
        opened = await c.get(f"/api/messages?chat={ADMIN}&user={ADMIN}")
        answers = [m["id"] for m in opened["messages"] if m["from_bot"]][-2:]
        assert opened["first_unread"] == answers[0]
        assert opened["unread"][str(ADMIN)]["private"] == 0
        again = await c.get(f"/api/messages?chat={ADMIN}&user={ADMIN}")
        assert again["first_unread"] is None

        # the group: someone else's message is unread for the other members
        await c.get(f"/api/messages?chat={GROUP}&user={SCJG}")  # 张伟 reads the group
        await c.post("/api/send", {"user": LEAD, "chat": GROUP, "text": "请大家关注本周检查"})
        state = await c.get("/api/state")
        assert state["unread"][str(SCJG)]["group"] == 1  # 李秀英's message
        await c.get(f"/api/messages?chat={GROUP}&user={LEAD}")
        assert (await c.get("/api/state"))["unread"][str(LEAD)]["group"] == 0


async def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    import socket
    import sys

    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "sandbox",
            "--port",
            str(port),
            "--data-dir",
            str(tmp_path / "box"),
            cwd=tmp_path,
            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        holder.close()
    assert process.returncode == 1 and out == b""
    lines = err.decode().splitlines()
    assert lines == [
        f"端口 {port} 已被占用，沙盒无法启动；请关闭占用它的程序，或换一个端口：--port {port + 1}"
        f"（port {port} is already in use: stop what holds it or pass --port {port + 1}）"
    ]
    assert "Errno" not in err.decode()
    assert not (tmp_path / "box").exists()  # nothing started, nothing written
