"""The Bot API methods of the fake, on top of :class:`.world.World`.

Each method takes the call's :class:`.params.Params` and returns the ``result`` JSON, or raises
:class:`.errors.ApiError`.  Checks happen in the order the Bot API applies them: parameters and
content first, then the chat (400 not found / migrated, 403 no access), then flood control.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .errors import (
    ApiError,
    bad_request,
    chat_migrated,
    conflict,
    entity_too_large,
    forbidden,
    too_many_requests,
)
from .markup import is_inline_keyboard, parse_reply_markup
from .models import Limits, SentMessage
from .params import Params, UploadedFile
from .ratelimit import RateLimiter
from .text import FormattedText, format_text, utf16_len
from .world import (
    DEFAULT_ALLOWED_UPDATES,
    GROUP_TYPES,
    ChatRecord,
    StoredFile,
    StoredMessage,
    World,
    image_size,
)

log = logging.getLogger(__name__)

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the "
    "same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "query is too old and response timeout expired or query ID is invalid"
CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
COMMAND_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
_COMMAND = re.compile(r"[a-z0-9_]{1,32}")
_LOOPBACK = ("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:", "http://localhost/")

Handler = Callable[[Params], Awaitable[Any]]


class BotApiMethods:
    """Implementation of the supported methods; see :meth:`handlers`."""

    def __init__(self, world: World, limits: Limits) -> None:
        self.world = world
        self.limits = limits
        self.rate_limiter = RateLimiter(limits)
        self.callback_answers: list[dict[str, Any]] = []
        self.commands: dict[str, list[dict[str, Any]]] = {}
        self.closing = False

    def handlers(self) -> dict[str, Handler]:
        """Canonical method name -> handler."""
        return {
            "getMe": self.get_me,
            "logOut": self.ok,
            "close": self.ok,
            "getUpdates": self.get_updates,
            "setWebhook": self.set_webhook,
            "deleteWebhook": self.delete_webhook,
            "getWebhookInfo": self.get_webhook_info,
            "setMyCommands": self.set_my_commands,
            "deleteMyCommands": self.delete_my_commands,
            "getMyCommands": self.get_my_commands,
            "sendMessage": self.send_message,
            "sendDocument": self.send_document,
            "sendPhoto": self.send_photo,
            "editMessageText": self.edit_message_text,
            "editMessageCaption": self.edit_message_caption,
            "editMessageReplyMarkup": self.edit_message_reply_markup,
            "deleteMessage": self.delete_message,
            "deleteMessages": self.delete_messages,
            "answerCallbackQuery": self.answer_callback_query,
            "getFile": self.get_file,
            "getChat": self.get_chat,
            "leaveChat": self.leave_chat,
            "getChatMember": self.get_chat_member,
            "getChatAdministrators": self.get_chat_administrators,
            "getChatMemberCount": self.get_chat_member_count,
            "sendChatAction": self.send_chat_action,
        }

    # -- helpers ---------------------------------------------------------------------------
    async def ok(self, p: Params) -> bool:
        return True

    def resolve_chat(self, p: Params, *, access: bool = True, name: str = "chat_id") -> ChatRecord:
        raw = p.raw(name)
        if raw is None or raw == "":
            raise bad_request(f"{name} is empty")
        try:
            chat_id = int(str(raw).strip())
        except ValueError:
            raise bad_request("chat not found") from None  # "@username" of an unknown chat
        if chat_id == self.world.bot_id:
            raise forbidden("bot can't send messages to bots")
        chat = self.world.chats.get(chat_id)
        if chat is None:
            raise bad_request("chat not found")
        if chat.migrated_to is not None:
            raise chat_migrated(chat.migrated_to)
        if access:
            self.check_access(chat)
        return chat

    def check_access(self, chat: ChatRecord) -> None:
        if chat.is_private:
            assert chat.user_id is not None
            user = self.world.users[chat.user_id]
            if user.deactivated:
                raise forbidden("user is deactivated")
            if user.blocked:
                raise forbidden("bot was blocked by the user")
            if not user.started:
                raise forbidden("bot can't initiate conversation with a user")
        elif not chat.bot_is_member:
            kind = f"{chat.type} chat"
            if chat.bot_kicked:
                raise forbidden(f"bot was kicked from the {kind}")
            raise forbidden(f"bot is not a member of the {kind}")

    def rate_limit(self, chat: ChatRecord) -> None:
        retry_after = self.rate_limiter.acquire(chat.id, chat.is_private)
        if retry_after is not None:
            raise too_many_requests(retry_after)

    def format(self, p: Params, field: str, entities_field: str) -> tuple[str, FormattedText]:
        raw = p.get_str(field) or ""
        entities = p.get_json(entities_field)
        if entities is not None and not isinstance(entities, list):
            raise bad_request(f"can't parse {entities_field} JSON object")
        formatted = format_text(
            raw,
            p.get_str("parse_mode"),
            entities,
            user_lookup=self.world.user_lookup,
            field=field,
        )
        return raw, formatted

    def reply_target(self, chat: ChatRecord, p: Params) -> int | None:
        reply = p.get_json("reply_parameters")
        if isinstance(reply, dict):
            message_id = reply.get("message_id")
            allow_missing = bool(reply.get("allow_sending_without_reply"))
            if reply.get("chat_id") not in (None, chat.id, str(chat.id)):
                raise bad_request("the fake Bot API does not support replies to other chats")
        else:
            message_id = p.get_int("reply_to_message_id")
            allow_missing = p.get_bool("allow_sending_without_reply")
        if message_id is None:
            return None
        if int(message_id) not in chat.messages:
            if allow_missing:
                return None
            raise bad_request("message to be replied not found")
        return int(message_id)

    def store_bot_message(self, chat: ChatRecord, sent: SentMessage) -> dict[str, Any]:
        chat.messages[sent.message_id] = StoredMessage(sent.message_id, from_bot=True, sent=sent)
        chat.bot_messages.append(sent)
        chat.bot_sent_total += 1
        return self.world.bot_message_json(chat, sent)

    def find_file(self, value: str, kind: str) -> StoredFile:
        if value.startswith(("http://", "https://")):
            raise bad_request("failed to get HTTP URL content")
        stored = self.world.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request(f"can't use file of type {stored.kind.title()} as {kind.title()}")
        return stored

    def message_to_edit(self, chat: ChatRecord, p: Params) -> SentMessage:
        """The bot's message ``message_id`` in ``chat``."""
        message_id = p.require_int("message_id", missing="message identifier is not specified")
        stored = chat.messages.get(message_id)
        if stored is None:
            raise bad_request("message to edit not found")
        if stored.sent is None:
            raise bad_request("message can't be edited")
        return stored.sent

    def edit_target(self, p: Params) -> tuple[ChatRecord, SentMessage]:
        if p.has("inline_message_id"):
            raise bad_request("MESSAGE_ID_INVALID")  # the fake has no inline mode
        if not p.has("chat_id"):
            raise bad_request("message identifier is not specified")
        chat = self.resolve_chat(p)
        return chat, self.message_to_edit(chat, p)

    def apply_edit(
        self,
        chat: ChatRecord,
        sent: SentMessage,
        formatted: FormattedText | None,
        raw: str | None,
        p: Params,
        markup: dict[str, Any] | None,
    ) -> dict[str, Any]:
        current_markup = sent.reply_markup if is_inline_keyboard(sent.reply_markup) else None
        same_text = formatted is None or (
            formatted.text == sent.text and formatted.entities == sent.entities
        )
        if same_text and markup == current_markup:
            raise bad_request(NOT_MODIFIED)
        self.rate_limit(chat)
        if formatted is not None and raw is not None:
            if formatted.text != sent.text:
                sent.history.append(sent.text)
            sent.text, sent.entities = formatted.text, formatted.entities
            sent.html, sent.parse_mode = raw, p.get_str("parse_mode")
        sent.reply_markup = markup
        sent.edited = True
        sent.edit_count += 1
        sent.edit_date = self.world.now_ts()
        return self.world.bot_message_json(chat, sent)

    @staticmethod
    def edit_markup(p: Params) -> dict[str, Any] | None:
        markup = parse_reply_markup(p.raw("reply_markup"))
        if markup is not None and not is_inline_keyboard(markup):
            raise bad_request("inline keyboard expected")
        return markup

    # -- bot and updates -------------------------------------------------------------------
    async def get_me(self, p: Params) -> dict[str, Any]:
        return {
            **self.world.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": not self.world.privacy_mode,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def get_updates(self, p: Params) -> list[dict[str, Any]]:
        world = self.world
        if world.webhook_url:
            raise conflict(
                "can't use getUpdates method while webhook is active; use deleteWebhook to "
                "delete the webhook first"
            )
        offset = p.get_int("offset")
        limit = min(max(p.get_int("limit", 100) or 100, 1), 100)
        timeout = max(p.get_float("timeout", 0.0) or 0.0, 0.0)
        allowed = p.get_json("allowed_updates")
        if isinstance(allowed, list):
            world.allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES

        if offset is not None and offset > 0:
            world.updates = [u for u in world.updates if u.update_id >= offset]
        elif offset is not None and offset < 0:
            world.updates = world.updates[offset:]

        deadline = time.monotonic() + timeout
        while True:
            # Updates of types the bot did not ask for are never delivered.
            world.updates = [u for u in world.updates if u.kind in world.allowed_updates]
            if world.updates:
                return [u.to_json() for u in world.updates[:limit]]
            remaining = deadline - time.monotonic()
            if remaining <= 0 or self.closing:
                return []
            try:
                await asyncio.wait_for(world.updates_changed.wait(), remaining)
            except TimeoutError:
                pass

    async def set_webhook(self, p: Params) -> bool:
        url = p.get_str("url") or ""
        # Telegram wants HTTPS; plain http is accepted for this machine only, where a test's
        # bot listens without a reverse proxy in front.
        if url and not url.startswith(("https://", *_LOOPBACK)):
            raise bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get_str("secret_token") or ""
        if secret and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise bad_request("bad webhook: secret token contains unallowed characters")
        world = self.world
        world.webhook_url = url
        world.webhook_secret = secret if url else ""
        world.webhook_error = None
        allowed = p.get_json("allowed_updates")
        if isinstance(allowed, list):
            world.allowed_updates = frozenset(allowed) if allowed else DEFAULT_ALLOWED_UPDATES
        if p.get_bool("drop_pending_updates"):
            world.updates.clear()
        world.notify_updates()
        return True

    async def delete_webhook(self, p: Params) -> bool:
        self.world.webhook_url = ""
        self.world.webhook_secret = ""
        self.world.webhook_error = None
        if p.get_bool("drop_pending_updates"):
            self.world.updates.clear()
        self.world.notify_updates()
        return True

    async def get_webhook_info(self, p: Params) -> dict[str, Any]:
        world = self.world
        info: dict[str, Any] = {
            "url": world.webhook_url,
            "has_custom_certificate": False,
            "pending_update_count": len(world.updates),
        }
        if world.webhook_url:
            info["max_connections"] = 40
            info["allowed_updates"] = sorted(world.allowed_updates)
        if world.webhook_error is not None:
            info["last_error_date"], info["last_error_message"] = world.webhook_error
        return info

    # -- commands --------------------------------------------------------------------------
    def command_scope_key(self, p: Params) -> str:
        scope = p.get_json("scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in COMMAND_SCOPES:
            raise bad_request("unsupported bot command scope type")
        key = str(scope["type"])
        if key in ("chat", "chat_administrators", "chat_member"):
            chat = self.resolve_chat(Params(scope), access=False)
            key = f"{key}:{chat.id}"
            if scope["type"] == "chat_member":
                user_id = Params(scope).require_int("user_id")
                if user_id not in self.world.users:
                    raise bad_request("user not found")
                key = f"{key}:{user_id}"
        language = p.get_str("language_code")
        return f"{key}/{language}" if language else key

    async def set_my_commands(self, p: Params) -> bool:
        commands = p.get_json("commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        parsed = []
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand: BotCommand must be an Object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND.fullmatch(name.removeprefix("/")):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
            parsed.append({"command": name.removeprefix("/"), "description": description})
        key = self.command_scope_key(p)
        if parsed:
            self.commands[key] = parsed
        else:
            self.commands.pop(key, None)
        return True

    async def delete_my_commands(self, p: Params) -> bool:
        self.commands.pop(self.command_scope_key(p), None)
        return True

    async def get_my_commands(self, p: Params) -> list[dict[str, Any]]:
        return list(self.commands.get(self.command_scope_key(p), []))

    # -- sending ---------------------------------------------------------------------------
    async def send_message(self, p: Params) -> dict[str, Any]:
        if not p.has("chat_id"):
            raise bad_request("chat_id is empty")
        raw, formatted = self.format(p, "text", "entities")
        if not raw or not formatted.text:
            raise bad_request("message text is empty")
        if formatted.length > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = parse_reply_markup(p.raw("reply_markup"))
        chat = self.resolve_chat(p)
        reply_to = self.reply_target(chat, p)
        self.rate_limit(chat)
        sent = SentMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.id,
            text=formatted.text,
            html=raw,
            parse_mode=p.get_str("parse_mode"),
            entities=formatted.entities,
            reply_markup=markup,
            date=self.world.now_ts(),
            reply_to_message_id=reply_to,
        )
        return self.store_bot_message(chat, sent)

    async def send_document(self, p: Params) -> dict[str, Any]:
        return self.send_media(p, "document")

    async def send_photo(self, p: Params) -> dict[str, Any]:
        return self.send_media(p, "photo")

    def send_media(self, p: Params, kind: str) -> dict[str, Any]:
        if not p.has("chat_id"):
            raise bad_request("chat_id is empty")
        media = p.get_file(kind)
        if media is None:
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(media, UploadedFile):
            if len(media.content) > self.limits.max_upload_size:
                raise entity_too_large()
            if not media.content:
                raise bad_request("file must be non-empty")
            if kind == "photo" and image_size(media.content) is None:
                raise bad_request("IMAGE_PROCESS_FAILED")
        raw, caption = self.format(p, "caption", "caption_entities")
        if caption.length > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        markup = parse_reply_markup(p.raw("reply_markup"))
        chat = self.resolve_chat(p)
        reply_to = self.reply_target(chat, p)
        existing = self.find_file(media, kind) if isinstance(media, str) else None
        self.rate_limit(chat)
        if isinstance(media, UploadedFile):
            mime_type = media.mime_type
            if kind == "document" and mime_type in ("", "application/octet-stream"):
                mime_type = mimetypes.guess_type(media.file_name)[0] or mime_type
            stored = self.world.store_file(
                kind,
                media.content,
                media.file_name if kind == "document" else None,
                mime_type if kind == "document" else None,
            )
        else:
            assert existing is not None
            stored = existing
        sent = SentMessage(
            message_id=chat.take_message_id(),
            chat_id=chat.id,
            text=caption.text,
            html=raw,
            parse_mode=p.get_str("parse_mode"),
            entities=caption.entities,
            reply_markup=markup,
            date=self.world.now_ts(),
            kind=kind,
            reply_to_message_id=reply_to,
        )
        if kind == "document":
            sent.document = stored.as_sent()
        else:
            sent.photo = stored.content
            sent.photo_file = stored.as_sent()
        return self.store_bot_message(chat, sent)

    async def send_chat_action(self, p: Params) -> bool:
        if not p.has("chat_id"):
            raise bad_request("chat_id is empty")
        action = p.get_str("action") or ""
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        self.resolve_chat(p)
        return True

    # -- editing and deleting --------------------------------------------------------------
    async def edit_message_text(self, p: Params) -> dict[str, Any]:
        raw, formatted = self.format(p, "text", "entities")
        if not raw or not formatted.text:
            raise bad_request("message text is empty")
        if formatted.length > MAX_TEXT_LENGTH:
            raise bad_request("message is too long")
        markup = self.edit_markup(p)
        chat, sent = self.edit_target(p)
        if sent.kind != "text":
            raise bad_request("there is no text in the message to edit")
        return self.apply_edit(chat, sent, formatted, raw, p, markup)

    async def edit_message_caption(self, p: Params) -> dict[str, Any]:
        raw, caption = self.format(p, "caption", "caption_entities")
        if caption.length > MAX_CAPTION_LENGTH:
            raise bad_request("message caption is too long")
        markup = self.edit_markup(p)
        chat, sent = self.edit_target(p)
        if sent.kind == "text":
            raise bad_request("there is no caption in the message to edit")
        return self.apply_edit(chat, sent, caption, raw, p, markup)

    async def edit_message_reply_markup(self, p: Params) -> dict[str, Any]:
        markup = self.edit_markup(p)
        chat, sent = self.edit_target(p)
        return self.apply_edit(chat, sent, None, None, p, markup)

    def delete_one(self, chat: ChatRecord, message_id: int) -> None:
        stored = chat.messages.get(message_id)
        if stored is None:
            raise bad_request("message to delete not found")
        if stored.sent is None and not chat.is_private and chat.bot_status != "administrator":
            raise bad_request("message can't be deleted")
        del chat.messages[message_id]
        if stored.sent is not None:
            chat.bot_messages.remove(stored.sent)

    async def delete_message(self, p: Params) -> bool:
        chat = self.resolve_chat(p)
        message_id = p.require_int("message_id", missing="message identifier is not specified")
        self.delete_one(chat, message_id)
        return True

    async def delete_messages(self, p: Params) -> bool:
        chat = self.resolve_chat(p)
        ids = p.get_json("message_ids")
        if not isinstance(ids, list) or not 1 <= len(ids) <= 100:
            raise bad_request("message_ids must be a non-empty list of at most 100 ids")
        for message_id in ids:
            try:
                self.delete_one(chat, int(message_id))
            except ApiError:
                continue  # Telegram skips messages that can't be deleted
        return True

    async def answer_callback_query(self, p: Params) -> bool:
        query_id = p.get_str("callback_query_id") or ""
        record = self.world.callbacks.get(query_id)
        if record is None or record.answered:
            raise bad_request(QUERY_TOO_OLD)
        text = p.get_str("text")
        if text is not None and utf16_len(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        record.answered = True
        self.callback_answers.append(
            {
                "callback_query_id": query_id,
                "text": text,
                "show_alert": p.get_bool("show_alert"),
                "url": p.get_str("url"),
                "cache_time": p.get_int("cache_time"),
            }
        )
        return True

    # -- files -----------------------------------------------------------------------------
    async def get_file(self, p: Params) -> dict[str, Any]:
        file_id = p.get_str("file_id") or ""
        stored = self.world.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.content) > self.limits.max_download_size:
            raise bad_request("file is too big")
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_size": len(stored.content),
            "file_path": self.world.file_path_for(stored),
        }

    # -- chats -----------------------------------------------------------------------------
    async def get_chat(self, p: Params) -> dict[str, Any]:
        chat = self.resolve_chat(p, access=False)
        if not chat.is_private:
            self.check_access(chat)
        return {
            **self.world.chat_json(chat),
            "accent_color_id": chat.id % 7,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    async def leave_chat(self, p: Params) -> bool:
        chat = self.resolve_chat(p)
        if chat.is_private:
            raise bad_request("chat member status can't be changed in private chats")
        old, chat.bot_status, chat.bot_kicked = chat.bot_status, "left", False
        self.world.my_chat_member(chat, dict(self.world.bot_user), old, "left")
        return True

    def member_status(self, chat: ChatRecord, user_id: int) -> str:
        if user_id == self.world.bot_id:
            return chat.bot_status if not chat.is_private else "member"
        if user_id not in self.world.users:
            raise bad_request("user not found")
        if chat.is_private:
            return "member" if user_id == chat.user_id else "left"
        return chat.members.get(user_id, "left")

    async def get_chat_member(self, p: Params) -> dict[str, Any]:
        chat = self.resolve_chat(p, access=False)
        if not chat.is_private:
            self.check_access(chat)
        user_id = p.require_int("user_id")
        status = self.member_status(chat, user_id)
        user = self.world.user_lookup(user_id)
        assert user is not None
        return self.world.member_json(user, status)

    async def get_chat_administrators(self, p: Params) -> list[dict[str, Any]]:
        chat = self.resolve_chat(p)
        if chat.type not in GROUP_TYPES:
            raise bad_request("there are no administrators in the private chat")
        admins = [
            self.world.member_json(self.world.users[user_id].json, status)
            for user_id, status in chat.members.items()
            if status in ("creator", "administrator")
        ]
        if chat.bot_status == "administrator":
            admins.append(self.world.member_json(dict(self.world.bot_user), "administrator"))
        return admins

    async def get_chat_member_count(self, p: Params) -> int:
        chat = self.resolve_chat(p)
        if chat.is_private:
            return 2
        present = ("creator", "administrator", "member", "restricted")
        return sum(1 for s in chat.members.values() if s in present) + int(chat.bot_is_member)


def chat_instance(chat_id: int) -> str:
    """A stable ``chat_instance`` value for callback queries."""
    return str(int(hashlib.sha1(str(chat_id).encode()).hexdigest()[:15], 16))
