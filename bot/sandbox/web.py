"""The sandbox's web page and its JSON endpoints (aiohttp, 127.0.0.1 only).

| endpoint | what |
|---|---|
| `GET /` , `GET /static/<file>` | the chat client (bot/sandbox/static, no build step) |
| `GET /api/state` | personas, the coordination group, the bot, the clock, unread counts |
| `GET /api/messages?chat=<id>[&user=<id>]` | messages, times; `user`: first unread, now read |
| `GET /api/photo/<file_id>` | a photo from a chat (the /stats chart, a /qr code), shown inline |
| `GET /api/wait?since=<version>` | long poll: returns when anything changed (or after 25 s) |
| `GET /api/commands?user=<id>&chat=<id>` | the command menu the bot set for that chat |
| `POST /api/send` | `{user, chat, text}`: the persona types (in a group: members only) |
| `POST /api/press` | `{user, chat, message, data}`: presses an inline button; the bot's answer |
| `POST /api/upload` | multipart `user`, `chat`, `caption`, `file`: sends a document |
| `GET /api/file/<file_id>` | downloads a file from a chat |
| `GET /api/clock`, `POST /api/clock` | `{action: "hour" / "day" / "next" / "to", to}` |

Writes need `Content-Type: application/json` or the `X-Sandbox` header (a cross-site form can't
send either without a preflight, which is never answered), and the Host must be loopback.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from aiohttp import web

from bot.emulator import SentMessage
from bot.emulator.world import ChatRecord, StoredMessage
from bot.resources import package_dir
from bot.sandbox import demo, texts
from bot.sandbox.core import Sandbox

log = logging.getLogger(__name__)

STATIC_DIR = package_dir("bot.sandbox", "static")
_STATIC_TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css"}
_LOOPBACK = ("127.0.0.1", "localhost", "[::1]")
_MEMBER = ("creator", "administrator", "member", "restricted")
MAX_UPLOAD = 20 * 1024 * 1024
_READ_FILE = "read.json"  # the unread markers: last message id each persona saw in each chat
WAIT_SECONDS = 25.0


class SandboxWeb:
    """The page and its API for one running :class:`Sandbox`."""

    def __init__(self, sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> None:
        self.sandbox = sandbox
        self.host = host
        self.requested_port = port
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self.read_marks: dict[str, int] = self._load_marks()  # "user:chat" -> last id read

    # -- lifecycle ---------------------------------------------------------------------------
    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_UPLOAD + 1024 * 1024, middlewares=[self._guard])
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/static/{name}", self.static)
        r.add_get("/api/state", self.state)
        r.add_get("/api/messages", self.messages)
        r.add_get("/api/wait", self.wait)
        r.add_get("/api/commands", self.commands)
        r.add_post("/api/send", self.send)
        r.add_post("/api/press", self.press)
        r.add_post("/api/upload", self.upload)
        r.add_get("/api/file/{file_id}", self.download)
        r.add_get("/api/photo/{file_id}", self.photo)
        r.add_get("/api/clock", self.clock)
        r.add_post("/api/clock", self.move_clock)
        return app

    async def start(self) -> None:
        runner = web.AppRunner(
            self.make_app(), handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.requested_port)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        for task in list(self._pending):
            task.cancel()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def url(self) -> str:
        assert self._port is not None, "not started"
        return f"http://{self.host}:{self._port}/"

    # -- guard -------------------------------------------------------------------------------
    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        host = (request.host or "").rsplit(":", 1)[0] if request.host else ""
        if host not in _LOOPBACK:
            return _error(403, _message("loopback"))
        if request.method == "POST" and not (
            request.content_type == "application/json" or "X-Sandbox" in request.headers
        ):
            return _error(403, _message("header"))
        try:
            result: web.StreamResponse = await handler(request)
            return result
        except _BadInput as exc:
            return _error(400, str(exc))

    # -- pages -------------------------------------------------------------------------------
    async def index(self, request: web.Request) -> web.StreamResponse:
        return _static_file("index.html")

    async def static(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in {p.name for p in STATIC_DIR.iterdir()}:
            raise web.HTTPNotFound()
        return _static_file(name)

    # -- reading -----------------------------------------------------------------------------
    async def state(self, request: web.Request) -> web.Response:
        api = self.sandbox.api
        return _json(
            {
                "personas": [p.to_json() for p in demo.PERSONAS],
                "group": {"id": demo.GROUP_ID, "title": demo.GROUP_TITLE},
                "bot": {
                    "name": api.world.bot_user["first_name"],
                    "username": api.world.bot_username,
                },
                "clock": self.sandbox.clock_state(),
                "version": self.version(),
                "unread": self.unread(),
            }
        )

    def version(self) -> str:
        """Changes whenever a chat, an answer or the clock changes."""
        parts: list[str] = [str(self.sandbox.offset.total_seconds())]
        for chat in self.sandbox.api.world.chats.values():
            edits = sum(m.edit_count for m in chat.bot_messages)
            parts.append(f"{chat.id}:{chat.next_message_id}:{len(chat.bot_messages)}:{edits}")
        parts.append(str(len(self.sandbox.api.callback_answers)))
        return hashlib.sha1("|".join(parts).encode()).hexdigest()[:16]

    async def wait(self, request: web.Request) -> web.Response:
        since = request.query.get("since", "")
        try:
            await self.sandbox.api.wait_for(
                lambda: self.version() != since, WAIT_SECONDS, dump=False
            )
        except TimeoutError:
            pass
        return _json(
            {
                "version": self.version(),
                "clock": self.sandbox.clock_state(),
                "unread": self.unread(),
            }
        )

    async def messages(self, request: web.Request) -> web.Response:
        chat = self._chat(_int(request.query.get("chat")))
        rows = [self._message_json(chat, stored) for _, stored in sorted(chat.messages.items())]
        shown = [row for row in rows if row is not None]
        first_unread = None
        if "user" in request.query:  # the persona opened this chat: it is read now
            user, chat = self._member({"user": request.query["user"], "chat": chat.id})
            key = f"{user}:{chat.id}"
            mark = self.read_marks.get(key, 0)
            unread = [
                r["id"]
                for r in shown
                if r["id"] > mark and r["sender_id"] != user and not r["service"]
            ]
            first_unread = unread[0] if unread else None
            if shown and shown[-1]["id"] > mark:
                self.read_marks[key] = shown[-1]["id"]
                self._saved_soon()
        return _json(
            {
                "chat": {"id": chat.id, "type": chat.type, "title": chat.title},
                "messages": shown,
                "first_unread": first_unread,
                "unread": self.unread(),
                "version": self.version(),
            }
        )

    def unread(self) -> dict[str, dict[str, int]]:
        """Per persona: messages not yet seen in their private chat and in the group (the
        bot's and other people's, after the last one shown to that persona in that chat)."""
        world = self.sandbox.api.world
        counts: dict[str, dict[str, int]] = {}
        for persona in demo.PERSONAS:
            uid = persona.user_id
            mine: dict[str, int] = {"private": 0, "group": 0}
            for key, chat_id in (("private", uid), ("group", demo.GROUP_ID)):
                chat = world.chats.get(chat_id)
                if chat is None or (key == "group" and chat.members.get(uid) not in _MEMBER):
                    continue
                mark = self.read_marks.get(f"{uid}:{chat_id}", 0)
                mine[key] = sum(
                    1
                    for message_id, stored in chat.messages.items()
                    if message_id > mark and _sender(stored) != uid and _visible(stored)
                )
            counts[str(uid)] = mine
        return counts

    def _time(self, timestamp: int) -> str:
        """A message's time on the sandbox clock (the emulator dates messages by it)."""
        moment = datetime.fromtimestamp(timestamp, self.sandbox.base_settings.tz)
        return moment.strftime("%m-%d %H:%M")

    def _message_json(self, chat: ChatRecord, stored: StoredMessage) -> dict[str, Any] | None:
        if stored.sent is not None:
            return {**_bot_message(stored.sent), "time": self._time(stored.sent.date)}
        msg = stored.json
        if msg is None:
            return None
        sender = msg.get("from") or {}
        text = msg.get("text", msg.get("caption", ""))
        out: dict[str, Any] = {
            "id": msg["message_id"],
            "from_bot": False,
            "sender": " ".join(
                part for part in (sender.get("first_name"), sender.get("last_name")) if part
            ),
            "sender_id": sender.get("id"),
            "text": text,
            "entities": msg.get("entities", msg.get("caption_entities", [])),
            "buttons": [],
            "document": None,
            "edited": False,
            "date": msg.get("date", 0),
            "time": self._time(msg.get("date", 0)),
            "service": _service_text(msg, self.sandbox.api.world.bot_user),
            "photo": None,
        }
        if photos := msg.get("photo"):
            biggest = photos[-1]
            out["photo"] = {
                "url": "/api/photo/" + quote(biggest["file_id"]),
                "width": biggest.get("width", 0),
                "height": biggest.get("height", 0),
            }
        if doc := msg.get("document"):
            out["document"] = {
                "file_id": doc["file_id"],
                "name": doc.get("file_name") or "file",
                "size": doc.get("file_size", 0),
            }
        return out

    async def commands(self, request: web.Request) -> web.Response:
        user = _int(request.query.get("user"))
        chat_id = _int(request.query.get("chat"))
        chat = self._chat(chat_id)
        menus = self.sandbox.api.commands
        if chat.is_private:
            keys = [f"chat:{chat_id}", "all_private_chats", "default"]
        else:
            keys = [
                f"chat_member:{chat_id}:{user}",
                f"chat:{chat_id}",
                "all_group_chats",
                "default",
            ]
            if chat.members.get(user) in ("creator", "administrator"):
                keys.insert(1, "all_chat_administrators")
        for key in keys:
            if key in menus:
                return _json({"commands": menus[key]})
        return _json({"commands": []})

    # -- acting ------------------------------------------------------------------------------
    async def send(self, request: web.Request) -> web.Response:
        body = await _body(request)
        user, chat = self._member(body)
        text = str(body.get("text", ""))
        if not text.strip():
            raise _BadInput("empty")
        if len(text) > 4096:
            raise _BadInput("too_long")
        msg = self.sandbox.api.send_text(user, text, chat_id=chat.id)
        self._saved_soon()
        return _json({"message_id": msg["message_id"]})

    async def press(self, request: web.Request) -> web.Response:
        body = await _body(request)
        user, chat = self._member(body)
        message_id = _int(body.get("message"))
        data = str(body.get("data", ""))
        api = self.sandbox.api
        try:
            query_id = api.press_button(user, chat.id, message_id, data)
        except AssertionError:
            raise _BadInput("button_gone") from None
        answer: dict[str, Any] | None = None

        def answered() -> bool:
            return any(a["callback_query_id"] == query_id for a in api.callback_answers)

        try:
            await api.wait_for(answered, 10.0, dump=False)
            answer = next(a for a in api.callback_answers if a["callback_query_id"] == query_id)
        except TimeoutError:
            answer = None
        self._saved_soon()
        return _json(
            {
                "answer": None
                if answer is None
                else {"text": answer.get("text"), "show_alert": bool(answer.get("show_alert"))}
            }
        )

    async def upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        upload = form.get("file")
        if not isinstance(upload, web.FileField):
            raise _BadInput("no_file")
        user, chat = self._member({"user": form.get("user"), "chat": form.get("chat")})
        caption = str(form.get("caption") or "") or None
        content = upload.file.read()
        msg = self.sandbox.api.send_document(
            user,
            unquote(upload.filename or "file"),  # aiohttp's own client percent-encodes it
            content,
            caption=caption,
            chat_id=chat.id,
            mime_type=upload.content_type or None,
        )
        self._saved_soon()
        return _json({"message_id": msg["message_id"]})

    async def download(self, request: web.Request) -> web.StreamResponse:
        stored = self.sandbox.api.world.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        name = stored.file_name or "file"
        return web.Response(
            body=stored.content,
            content_type=stored.mime_type or "application/octet-stream",
            headers={
                "Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def photo(self, request: web.Request) -> web.StreamResponse:
        """A photo for an <img>: PNG or JPEG by its first bytes, nothing else."""
        stored = self.sandbox.api.world.files.get(request.match_info["file_id"])
        if stored is None:
            raise web.HTTPNotFound()
        kind = _image_type(stored.content)
        if kind is None:
            raise web.HTTPNotFound()
        return web.Response(
            body=stored.content,
            content_type=kind,
            headers={"Cache-Control": "max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def clock(self, request: web.Request) -> web.Response:
        return _json(self.sandbox.clock_state())

    async def move_clock(self, request: web.Request) -> web.Response:
        body = await _body(request)
        action = body.get("action")
        found = True
        if action == "hour":
            await self.sandbox.advance(timedelta(hours=1))
        elif action == "day":
            await self.sandbox.advance(timedelta(days=1))
        elif action == "next":
            found = await self.sandbox.advance_to_next()
        elif action == "to":
            try:
                local = datetime.fromisoformat(str(body.get("to", "")))
            except ValueError:
                raise _BadInput("date_format") from None
            if local.tzinfo is None:
                local = local.replace(tzinfo=self.sandbox.base_settings.tz)
            if local <= self.sandbox.now():
                raise _BadInput("forward", now=self.sandbox.clock_state()["display"])
            await self.sandbox.advance_to(local)
        else:
            raise _BadInput("action")
        return _json({**self.sandbox.clock_state(), "found": found})

    # -- helpers -----------------------------------------------------------------------------
    def _chat(self, chat_id: int) -> ChatRecord:
        chat = self.sandbox.api.world.chats.get(chat_id)
        if chat is None:
            raise _BadInput("no_chat", value=chat_id)
        return chat

    def _member(self, body: dict[str, Any]) -> tuple[int, ChatRecord]:
        user = _int(body.get("user"))
        if user not in {p.user_id for p in demo.PERSONAS}:
            raise _BadInput("no_persona", value=user)
        chat = self._chat(_int(body.get("chat")))
        if chat.is_private and chat.id != user:
            raise _BadInput("private")
        if not chat.is_private and chat.members.get(user) not in _MEMBER:
            name = next(p.name for p in demo.PERSONAS if p.user_id == user)
            raise _BadInput("not_member", name=name, title=chat.title or "")
        return user, chat

    def _load_marks(self) -> dict[str, int]:
        path = self.sandbox.data_dir / _READ_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return {str(k): int(v) for k, v in data.items()}
        except (OSError, ValueError, AttributeError, TypeError):
            return {}

    def _save_marks(self) -> None:
        path = self.sandbox.data_dir / _READ_FILE
        temp = path.with_name(path.name + ".tmp")
        temp.write_text(json.dumps(self.read_marks), encoding="utf-8")
        temp.replace(path)

    def _saved_soon(self) -> None:
        """Persist the chats shortly after a change (the bot's answer included)."""

        async def later() -> None:
            await asyncio.sleep(2.0)
            try:
                self.sandbox.save()
                self._save_marks()
            except OSError:
                log.warning("sandbox: could not save the chats", exc_info=True)

        task = asyncio.get_running_loop().create_task(later())
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)


class _BadInput(Exception):
    """A request the page should not have made; the message, in Chinese, is for a toast."""

    def __init__(self, key: str, **facts: Any) -> None:
        super().__init__(_message(key, **facts))


def _message(key: str, **facts: Any) -> str:
    return texts.error(key, **facts)


def _sender(stored: StoredMessage) -> int | None:
    if stored.sent is not None:
        return None  # the bot
    sender = (stored.json or {}).get("from") or {}
    return sender.get("id")


def _visible(stored: StoredMessage) -> bool:
    """A message the page shows as a message (not a join or leave notice)."""
    if stored.sent is not None:
        return True
    msg = stored.json or {}
    return not any(k in msg for k in ("new_chat_members", "left_chat_member", "migrate_to_chat_id"))


def _image_type(content: bytes) -> str | None:
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if content.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    return None


def _bot_message(sent: SentMessage) -> dict[str, Any]:
    buttons = [
        [
            {"text": b.get("text", ""), "data": b.get("callback_data"), "url": b.get("url")}
            for b in row
        ]
        for row in (sent.reply_markup or {}).get("inline_keyboard", [])
    ]
    document = None
    if sent.document is not None:
        document = {
            "file_id": sent.document.file_id,
            "name": sent.document.file_name or "file",
            "size": len(sent.document.content),
        }
    return {
        "id": sent.message_id,
        "from_bot": True,
        "sender": "",
        "sender_id": None,
        "text": sent.text,
        "entities": sent.entities,
        "buttons": buttons,
        "document": document,
        "edited": sent.edited,
        "edit_count": sent.edit_count,
        "date": sent.edit_date or sent.date,
        "service": None,
        "photo": None
        if sent.photo_file is None
        else {"url": "/api/photo/" + quote(sent.photo_file.file_id), "width": 0, "height": 0},
    }


def _service_text(msg: dict[str, Any], bot_user: dict[str, Any]) -> str | None:
    if members := msg.get("new_chat_members"):
        return texts.label("joined", names=[m.get("first_name", "") for m in members])
    if "left_chat_member" in msg:
        return texts.label("left", name=msg["left_chat_member"].get("first_name", ""))
    if "migrate_to_chat_id" in msg or "migrate_from_chat_id" in msg:
        return texts.label("migrated")
    return None


def _int(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        raise _BadInput("not_number", value=value) from None


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise _BadInput("not_json") from None
    if not isinstance(body, dict):
        raise _BadInput("not_object")
    return body


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(
        data,
        status=status,
        dumps=lambda v: json.dumps(v, ensure_ascii=False),
        headers={"Cache-Control": "no-store"},
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _static_file(name: str) -> web.Response:
    path = STATIC_DIR / name
    return web.Response(
        body=path.read_bytes(),
        content_type=_STATIC_TYPES.get(path.suffix, "application/octet-stream"),
        charset="utf-8",
        headers={
            "Cache-Control": "no-store",
            "Content-Security-Policy": "default-src 'self'; img-src 'self' data:;"
            " style-src 'self'; script-src 'self'; object-src 'none'; base-uri 'none'",
            "X-Content-Type-Options": "nosniff",
        },
    )
