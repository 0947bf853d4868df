""":class:`FakeBotApi`: an in-process Telegram Bot API server for end-to-end tests.

Point python-telegram-bot at it with ``base_url=api.base_url`` and
``base_file_url=api.base_file_url``; inject what users do with the helper methods and inspect
what the bot did through :meth:`FakeBotApi.chat_messages`, :attr:`FakeBotApi.requests` etc.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import mimetypes
import time
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp import web

from .errors import ApiError, entity_too_large, not_found, not_implemented, unauthorized
from .methods import BotApiMethods, Handler, chat_instance
from .models import MB, Fault, Limits, RecordedError, RecordedRequest, SentMessage
from .params import Params
from .world import CallbackRecord, World

log = logging.getLogger(__name__)

DEFAULT_TOKEN = "123456:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsawq"


class FakeBotApi:
    """A fake Telegram Bot API speaking the real HTTP wire format.

    ``privacy_mode`` (default on, like real bots) hides group messages that are neither
    commands for this bot nor replies to it, unless the bot is an administrator; hidden
    messages are listed in :attr:`undelivered`.
    """

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_id: int | None = None,
        bot_username: str = "county_inspect_bot",
        limits: Limits | None = None,
        *,
        bot_first_name: str = "County Inspect Bot",
        privacy_mode: bool = True,
        host: str = "127.0.0.1",
    ) -> None:
        if bot_id is None:
            bot_id = int(token.split(":", 1)[0])
        self.token = token
        self.host = host
        self.limits = limits or Limits()
        self.world = World(bot_id, bot_username, bot_first_name, privacy_mode)
        self.methods = BotApiMethods(self.world, self.limits)
        self._handlers: dict[str, Handler] = {
            name.lower(): handler for name, handler in self.methods.handlers().items()
        }
        self._canonical = {name.lower(): name for name in self.methods.handlers()}
        self.requests: list[RecordedRequest] = []
        self.errors: list[RecordedError] = []
        self.faults: list[Fault] = []
        self._activity = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        # Webhook deliveries: (update_id, HTTP status, or 0 when the bot could not be reached).
        self.webhook_deliveries: list[tuple[int, int]] = []
        self.webhook_retry_seconds = 0.2
        self._webhook_task: asyncio.Task[None] | None = None

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self) -> None:
        """Bind to ``host`` on a free port."""
        app = web.Application(client_max_size=self.limits.max_upload_size + MB)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        app.router.add_route("*", "/{tail:.*}", self._handle_unknown)
        # handler_cancellation: a long poll abandoned by the client (PTB cancels its pending
        # getUpdates when the updater stops) must not keep running.
        runner = web.AppRunner(
            app, handler_cancellation=True, access_log=None, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, 0)
        await site.start()
        self._runner = runner
        self._port = int(runner.addresses[0][1])
        self.methods.closing = False
        self._webhook_task = asyncio.create_task(self._deliver_webhooks(), name="fake-webhook")
        log.debug("fake Bot API listening on %s", self.url)

    async def stop(self) -> None:
        """Release pending long polls and close the server."""
        self.methods.closing = True
        self.world.notify_updates()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeBotApi:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeBotApi is not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """For ``Bot(base_url=...)``; PTB appends the token."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """For ``Bot(base_file_url=...)``; PTB appends the token."""
        return f"{self.url}/file/bot"

    @property
    def bot_id(self) -> int:
        return self.world.bot_id

    @property
    def bot_user(self) -> dict[str, Any]:
        return dict(self.world.bot_user)

    # -- server trouble ----------------------------------------------------------------------
    def fail(
        self,
        *methods: str,
        status: int = 502,
        times: int | None = None,
        seconds: float | None = None,
        delay: float = 0.0,
    ) -> Fault:
        """Answer the next ``times`` calls of ``methods`` (None: all of them, for ``seconds``
        or until ``end()``) with HTTP ``status``, after ``delay`` seconds. ``status=0`` with a
        delay makes a slow server whose answers come late (the client's timeout fires first)."""
        descriptions = {
            500: "Internal Server Error",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }
        fault = Fault(
            methods=frozenset(m.lower() for m in methods),
            status=status,
            times=times,
            until=None if seconds is None else time.monotonic() + seconds,
            delay=delay,
            description=descriptions.get(status, f"Error {status}"),
        )
        self.faults.append(fault)
        return fault

    def outage(
        self, seconds: float | None = None, *, methods: tuple[str, ...] = ("sendMessage",)
    ) -> Fault:
        """Telegram is down: every call of ``methods`` answers 502 Bad Gateway for ``seconds``
        (None: until the returned fault's ``end()``)."""
        return self.fail(*methods, status=502, seconds=seconds)

    # -- webhook ---------------------------------------------------------------------------
    async def _deliver_webhooks(self) -> None:
        """While a webhook is set, POST each pending update to it, oldest first, one at a time,
        with the secret token in X-Telegram-Bot-Api-Secret-Token; an update leaves the queue
        when the bot answers 2xx, otherwise it is tried again (getWebhookInfo shows the error)."""
        world = self.world
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
            while True:
                changed = world.updates_changed
                world.updates = [u for u in world.updates if u.kind in world.allowed_updates]
                if not world.webhook_url or not world.updates:
                    await changed.wait()
                    continue
                url, update = world.webhook_url, world.updates[0]
                headers = {"Content-Type": "application/json"}
                if world.webhook_secret:
                    headers["X-Telegram-Bot-Api-Secret-Token"] = world.webhook_secret
                try:
                    async with session.post(
                        url, data=_dumps(update.to_json()), headers=headers
                    ) as response:
                        status = response.status
                        await response.read()
                except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                    status, reason = 0, f"Connection failed: {type(exc).__name__}"
                else:
                    reason = f"Wrong response from the webhook: {status}"
                self.webhook_deliveries.append((update.update_id, status))
                self._notify_activity()
                if 200 <= status < 300:
                    if world.updates and world.updates[0] is update:
                        world.updates.pop(0)
                    world.webhook_error = None
                    continue
                world.webhook_error = (world.now_ts(), reason)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), self.webhook_retry_seconds)

    # -- HTTP ------------------------------------------------------------------------------
    async def _handle_api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        name = self._canonical.get(method.lower(), method)
        params = Params({})
        try:
            try:
                params = await Params.from_request(request)
            except web.HTTPRequestEntityTooLarge:
                raise entity_too_large() from None
            finally:
                self.requests.append(RecordedRequest(name, params.recorded(), time.monotonic()))
            if request.match_info["token"] != self.token:
                raise unauthorized()
            await self._apply_faults(method)
            handler = self._handlers.get(method.lower())
            if handler is None:
                if method.lower() in _KNOWN_METHODS:
                    raise not_implemented(_KNOWN_METHODS[method.lower()])
                raise not_found()
            result = await handler(params)
            body: dict[str, Any] = {"ok": True, "result": result}
            status = 200
        except ApiError as error:
            self.errors.append(
                RecordedError(name, error.status, error.description, error.parameters)
            )
            log.debug("%s -> %s %s", name, error.status, error.description)
            body, status = error.to_json(), error.status
        except Exception as exc:  # a bug in the fake: make it loud, but answer like Telegram
            log.exception("fake Bot API failed in %s", name)
            description = f"Internal Server Error: fake Bot API bug: {exc!r}"
            self.errors.append(RecordedError(name, 500, description))
            body = {"ok": False, "error_code": 500, "description": description}
            status = 500
        finally:
            self._notify_activity()
        return web.json_response(body, status=status, dumps=_dumps)

    async def _handle_download(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        self.requests.append(
            RecordedRequest("file_download", {"file_path": path}, time.monotonic())
        )
        self._notify_activity()
        error: ApiError
        if request.match_info["token"] != self.token:
            error = unauthorized()
        elif (stored := self.world.files_by_path.get(path)) is None:
            error = not_found()
        else:
            return web.Response(body=stored.content, content_type="application/octet-stream")
        self.errors.append(RecordedError("file_download", error.status, error.description))
        return web.json_response(error.to_json(), status=error.status)

    async def _handle_unknown(self, request: web.Request) -> web.Response:
        return web.json_response(not_found().to_json(), status=404)

    async def _apply_faults(self, method: str) -> None:
        fault = next((f for f in self.faults if f.active(method, time.monotonic())), None)
        if fault is None:
            return
        fault.served += 1
        if fault.delay:
            await asyncio.sleep(fault.delay)
        if fault.status:
            raise ApiError(fault.status, fault.description)

    def _notify_activity(self) -> None:
        event, self._activity = self._activity, asyncio.Event()
        event.set()

    # -- people and chats ------------------------------------------------------------------
    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> dict[str, Any]:
        """A Telegram user the bot can see (User JSON is returned)."""
        return self.world.add_user(user_id, first_name, last_name, username, language_code)

    def add_group(
        self, chat_id: int, title: str, type: str = "group", *, creator_id: int | None = None
    ) -> dict[str, Any]:
        """A group (``type="group"``) or supergroup with a negative id; the bot is not in it
        until :meth:`add_bot_to_group`.  Returns the Chat JSON."""
        chat = self.world.add_group(chat_id, title, type)
        if creator_id is not None:
            self.world.user(creator_id)
            chat.members[creator_id] = "creator"
        return self.world.chat_json(chat)

    def set_chat_member(
        self, chat_id: int, user_id: int, status: str, *, by_user_id: int | None = None
    ) -> None:
        """Set a member's status in a group ("creator", "administrator", "member", "left",
        "kicked").  For the bot itself this sends a ``my_chat_member`` update from
        ``by_user_id`` (default: the group's creator)."""
        chat = self.world.chat(chat_id)
        if user_id != self.bot_id:
            self.world.user(user_id)
            chat.members[user_id] = status
            return
        if by_user_id is None:
            by_user_id = next((u for u, s in chat.members.items() if s == "creator"), None)
        if by_user_id is None:
            raise AssertionError("pass by_user_id: the group has no creator")
        old, chat.bot_status = chat.bot_status, status
        self.world.my_chat_member(chat, self.world.user(by_user_id).json, old, status)

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends to them get 403 "bot was blocked by the user"."""
        record = self.world.user(user_id)
        record.blocked = True
        chat = self.world.chats[user_id]
        self.world.my_chat_member(chat, record.json, "member", "kicked")

    def unblock_bot(self, user_id: int) -> None:
        record = self.world.user(user_id)
        record.blocked = False
        chat = self.world.chats[user_id]
        self.world.my_chat_member(chat, record.json, "kicked", "member")

    def deactivate_user(self, user_id: int) -> None:
        """The account is deleted: sends to it get 403 "user is deactivated"."""
        self.world.user(user_id).deactivated = True

    # -- injecting updates -----------------------------------------------------------------
    def send_text(
        self,
        user_id: int,
        text: str,
        chat_id: int | None = None,
        *,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """The user sends ``text`` (to the private chat unless ``chat_id`` is a group).

        Entities (``bot_command`` incl. ``/cmd@bot``, mentions, urls ...) are detected like
        Telegram does.  Returns the Message JSON.
        """
        return self.world.user_sends(user_id, chat_id, self.world.text_content(text), reply_to)

    def send_document(
        self,
        user_id: int,
        filename: str,
        content: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        mime_type: str | None = None,
        *,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a file; getFile and the download URL serve it to the bot."""
        mime = mime_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        stored = self.world.store_file("document", content, filename, mime)
        msg_content = {"document": stored.document_json(), **self._caption(caption)}
        return self.world.user_sends(user_id, chat_id, msg_content, reply_to)

    def send_photo(
        self,
        user_id: int,
        content: bytes,
        caption: str | None = None,
        chat_id: int | None = None,
        *,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """The user sends a photo (one size; width/height read from PNG/JPEG/GIF headers)."""
        stored = self.world.store_file("photo", content, None, None)
        msg_content = {"photo": stored.photo_json(), **self._caption(caption)}
        return self.world.user_sends(user_id, chat_id, msg_content, reply_to)

    def _caption(self, caption: str | None) -> dict[str, Any]:
        return self.world.text_content(caption, prefix="caption_") if caption else {}

    def press_button(self, user_id: int, chat_id: int, message_id: int, callback_data: str) -> str:
        """The user presses an inline button; returns the callback query id.

        The message must be one the bot sent to ``chat_id`` (not deleted) and must currently
        carry a button with this ``callback_data``; otherwise AssertionError.
        """
        user = self.world.user(user_id)
        chat = self.world.chat(chat_id)
        stored = chat.messages.get(message_id)
        if stored is None or stored.sent is None:
            raise AssertionError(
                f"message {message_id} in chat {chat_id} does not exist or was not sent by the "
                f"bot\n{self._describe_chat(chat_id)}"
            )
        sent = stored.sent
        markup = sent.reply_markup or {}
        datas = [b.get("callback_data") for row in markup.get("inline_keyboard", []) for b in row]
        if callback_data not in datas:
            raise AssertionError(
                f"message {message_id} in chat {chat_id} has no button with callback_data "
                f"{callback_data!r}; its buttons: {sent.buttons}"
            )
        if chat.is_private and (user_id != chat.user_id or user.blocked):
            raise AssertionError(f"user {user_id} can't press buttons in chat {chat_id}")
        query_id = self.world.new_callback_id()
        self.world.callbacks[query_id] = CallbackRecord(
            query_id, user_id, chat_id, message_id, callback_data
        )
        self.world.push_update(
            "callback_query",
            {
                "id": query_id,
                "from": dict(user.json),
                "message": self.world.bot_message_json(chat, sent),
                "chat_instance": chat_instance(chat_id),
                "data": callback_data,
            },
        )
        return query_id

    def press_button_by_text(
        self, user_id: int, chat_id: int, text: str, message_id: int | None = None
    ) -> str:
        """Press the button labelled ``text`` on ``message_id`` (default: the newest bot
        message in the chat that has such a callback button)."""
        candidates = self.chat_messages(chat_id)
        if message_id is not None:
            candidates = [m for m in candidates if m.message_id == message_id]
        for sent in reversed(candidates):
            for row in (sent.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if button["text"] == text and "callback_data" in button:
                        return self.press_button(
                            user_id, chat_id, sent.message_id, button["callback_data"]
                        )
        raise AssertionError(
            f"no callback button {text!r} in chat {chat_id}\n{self._describe_chat(chat_id)}"
        )

    def add_bot_to_group(self, chat_id: int, by_user_id: int, *, as_admin: bool = False) -> None:
        """``my_chat_member`` (left -> member) and a ``new_chat_members`` service message."""
        chat = self.world.chat(chat_id)
        user = self.world.user(by_user_id).json
        if chat.bot_is_member:
            raise AssertionError(f"the bot is already in chat {chat_id}")
        if chat.members.get(by_user_id) in (None, "left", "kicked"):
            chat.members[by_user_id] = "member"
        old = chat.bot_status
        chat.bot_status = "administrator" if as_admin else "member"
        chat.bot_kicked = False
        self.world.my_chat_member(chat, user, old, chat.bot_status)
        self.world.service_message(chat, user, {"new_chat_members": [dict(self.world.bot_user)]})

    def remove_bot_from_group(self, chat_id: int, by_user_id: int) -> None:
        """``my_chat_member`` (member -> left for groups, kicked for supergroups); later sends
        get 403 "bot was kicked from the group chat" (or "supergroup chat")."""
        chat = self.world.chat(chat_id)
        user = self.world.user(by_user_id).json
        if not chat.bot_is_member:
            raise AssertionError(f"the bot is not in chat {chat_id}")
        old = chat.bot_status
        chat.bot_status = "left" if chat.type == "group" else "kicked"
        chat.bot_kicked = True
        self.world.my_chat_member(chat, user, old, chat.bot_status)

    def migrate_group(
        self, old_chat_id: int, new_chat_id: int, *, by_user_id: int | None = None
    ) -> None:
        """Upgrade a group to a supergroup: a ``migrate_to_chat_id`` service message in the old
        chat, then ``migrate_from_chat_id`` in the new one.  Afterwards calls for
        ``old_chat_id`` get 400 "group chat was upgraded to a supergroup chat" with
        ``parameters.migrate_to_chat_id`` (PTB raises ChatMigrated)."""
        old = self.world.chat(old_chat_id)
        if old.type != "group" or old.migrated_to is not None:
            raise AssertionError(f"chat {old_chat_id} is not a basic group")
        if new_chat_id in self.world.chats:
            raise AssertionError(f"chat {new_chat_id} already exists")
        new = self.world.add_group(new_chat_id, old.title or "", "supergroup", old.bot_status)
        new.members = dict(old.members)
        actor_id = by_user_id
        if actor_id is None:
            actor_id = next(
                (u for u, s in old.members.items() if s in ("creator", "administrator")),
                next(iter(old.members), None),
            )
        user = self.world.user(actor_id).json if actor_id is not None else None
        old.migrated_to = new_chat_id
        self.world.service_message(old, user, {"migrate_to_chat_id": new_chat_id})
        self.world.service_message(new, user, {"migrate_from_chat_id": old_chat_id})

    def push_update(self, kind: str, payload: dict[str, Any]) -> int:
        """Queue any other update (e.g. ``"edited_message"``); returns its update_id."""
        return self.world.push_update(kind, payload).update_id

    # -- reading what the bot did ----------------------------------------------------------
    def chat_messages(self, chat_id: int) -> list[SentMessage]:
        """What the bot sent to the chat, in order, edits applied, deletions removed."""
        chat = self.world.chats.get(chat_id)
        return list(chat.bot_messages) if chat else []

    def last_message(self, chat_id: int) -> SentMessage:
        messages = self.chat_messages(chat_id)
        if not messages:
            raise AssertionError(f"the bot has sent nothing to chat {chat_id}\n{self.dump()}")
        return messages[-1]

    def sent_total(self, chat_id: int) -> int:
        """How many messages the bot sent to the chat, deleted ones included."""
        chat = self.world.chats.get(chat_id)
        return chat.bot_sent_total if chat else 0

    async def wait_for_messages(
        self,
        chat_id: int,
        count: int,
        timeout: float = 5.0,  # noqa: ASYNC109 - the public interface takes a plain timeout
    ) -> list[SentMessage]:
        """Wait until the bot has sent at least ``count`` messages to the chat in total
        (deleted ones count); returns :meth:`chat_messages`."""
        try:
            await self.wait_for(lambda: self.sent_total(chat_id) >= count, timeout, dump=False)
        except TimeoutError:
            raise TimeoutError(
                f"expected {count} message(s) from the bot in chat {chat_id} within {timeout}s, "
                f"got {self.sent_total(chat_id)}\n{self.dump(chat_id)}"
            ) from None
        return self.chat_messages(chat_id)

    async def wait_for(
        self,
        predicate: Callable[[], bool],
        timeout: float = 5.0,  # noqa: ASYNC109 - the public interface takes a plain timeout
        *,
        dump: bool = True,
    ) -> None:
        """Wait until ``predicate()`` is true; checked after every API call and every 50 ms."""
        deadline = time.monotonic() + timeout
        while not predicate():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                message = f"condition not met within {timeout}s"
                raise TimeoutError(f"{message}\n{self.dump()}" if dump else message)
            try:
                await asyncio.wait_for(self._activity.wait(), min(remaining, 0.05))
            except TimeoutError:
                pass

    @property
    def callback_answers(self) -> list[dict[str, Any]]:
        """answerCallbackQuery calls: callback_query_id, text, show_alert, url, cache_time."""
        return self.methods.callback_answers

    @property
    def commands(self) -> dict[str, list[dict[str, Any]]]:
        """setMyCommands by scope key: "default", "all_private_chats", "all_group_chats",
        "all_chat_administrators", "chat:<id>", "chat_administrators:<id>",
        "chat_member:<chat>:<user>"; with a language_code the key gets "/<code>"."""
        return self.methods.commands

    @property
    def undelivered(self) -> list[dict[str, Any]]:
        """Group messages injected but hidden from the bot by privacy mode."""
        return self.world.undelivered

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates not yet confirmed by the bot (getUpdates offset)."""
        return [u.to_json() for u in self.world.updates]

    def calls(self, method: str) -> list[RecordedRequest]:
        """Recorded requests of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    # -- diagnostics -----------------------------------------------------------------------
    def _describe_chat(self, chat_id: int) -> str:
        messages = self.chat_messages(chat_id)
        lines = [f"bot messages in chat {chat_id} ({len(messages)}):"]
        lines += [f"  {m.describe()}" for m in messages] or ["  (none)"]
        return "\n".join(lines)

    def dump(self, chat_id: int | None = None) -> str:
        """A readable summary of the fake's state, used in failure messages."""
        lines: list[str] = []
        if chat_id is not None:
            lines.append(self._describe_chat(chat_id))
        other = [c.id for c in self.world.chats.values() if c.bot_messages and c.id != chat_id]
        for other_id in other:
            lines.append(self._describe_chat(other_id))
        calls = [r for r in self.requests if r.method != "getUpdates"]
        lines.append(f"last API calls ({len(calls)} total, getUpdates not shown):")
        lines += [f"  {r.method} {_short(r.params)}" for r in calls[-15:]] or ["  (none)"]
        if self.errors:
            lines.append("errors returned:")
            lines += [f"  {e.method}: {e.status} {e.description}" for e in self.errors[-10:]]
        if self.world.updates:
            lines.append(
                f"{len(self.world.updates)} update(s) not fetched by the bot yet - is it polling?"
            )
        if self.world.undelivered:
            lines.append(
                f"{len(self.world.undelivered)} group message(s) hidden by privacy mode: "
                + ", ".join(repr(m.get("text", "")) for m in self.world.undelivered[-5:])
            )
        if not any(r.method == "getUpdates" for r in self.requests):
            lines.append("the bot never called getUpdates")
        return "\n".join(lines)


def _known_bot_api_methods() -> dict[str, str]:
    """Real Bot API method names (lower-case -> camelCase), taken from PTB's camelCase
    aliases, so a real method the fake lacks is reported as such instead of "Not Found"."""
    try:
        import telegram
    except ImportError:  # pragma: no cover - PTB is a test dependency anyway
        return {}
    names = (
        name
        for name in dir(telegram.Bot)
        if name[:1].islower() and name != name.lower() and callable(getattr(telegram.Bot, name))
    )
    return {name.lower(): name for name in names}


_KNOWN_METHODS = _known_bot_api_methods()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _short(params: dict[str, Any], limit: int = 160) -> str:
    text = json.dumps(params, ensure_ascii=False, default=str)
    return text if len(text) <= limit else text[: limit - 3] + "..."
