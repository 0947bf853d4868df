"""The simulated Telegram side: users, chats, messages, files and the update queue.

Everything here is synchronous and knows nothing about HTTP; :mod:`.methods` implements the Bot
API on top of it and :mod:`.server` exposes both.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import mimetypes
import secrets
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .models import SentFile, SentMessage
from .text import find_entities

GROUP_TYPES = ("group", "supergroup")
# Update types delivered when getUpdates never got ``allowed_updates`` (Telegram's default).
DEFAULT_ALLOWED_UPDATES = frozenset(
    {
        "message",
        "edited_message",
        "channel_post",
        "edited_channel_post",
        "business_connection",
        "business_message",
        "edited_business_message",
        "deleted_business_messages",
        "inline_query",
        "chosen_inline_result",
        "callback_query",
        "shipping_query",
        "pre_checkout_query",
        "purchased_paid_media",
        "poll",
        "poll_answer",
        "my_chat_member",
        "chat_join_request",
        "chat_boost",
        "removed_chat_boost",
    }
)


def now_ts() -> int:
    return int(time.time())


@dataclass
class UserRecord:
    json: dict[str, Any]
    started: bool = False  # has written to the bot (pressed Start)
    blocked: bool = False  # has blocked the bot
    deactivated: bool = False


@dataclass
class StoredMessage:
    """Any message in a chat: ``sent`` for the bot's messages, ``json`` for the others."""

    message_id: int
    from_bot: bool
    json: dict[str, Any] | None = None
    sent: SentMessage | None = None


@dataclass
class ChatRecord:
    id: int
    type: str  # "private", "group" or "supergroup"
    title: str | None = None
    user_id: int | None = None  # private chats: the user
    # The bot's own membership: "member", "administrator", "left" or "kicked".
    bot_status: str = "member"
    bot_kicked: bool = False  # removed by someone (not left by itself)
    migrated_to: int | None = None
    members: dict[int, str] = field(default_factory=dict)  # user id -> status (groups)
    next_message_id: int = 1
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    bot_messages: list[SentMessage] = field(default_factory=list)
    bot_sent_total: int = 0  # including messages deleted since

    @property
    def is_private(self) -> bool:
        return self.type == "private"

    @property
    def bot_is_member(self) -> bool:
        return self.bot_status in ("member", "administrator", "creator")

    def take_message_id(self) -> int:
        message_id = self.next_message_id
        self.next_message_id += 1
        return message_id


@dataclass
class StoredFile:
    file_id: str
    file_unique_id: str
    kind: str  # "document" or "photo"
    content: bytes
    file_name: str | None = None
    mime_type: str | None = None
    width: int = 0
    height: int = 0
    file_path: str | None = None  # set by getFile

    def as_sent(self) -> SentFile:
        return SentFile(
            file_name=self.file_name,
            content=self.content,
            mime_type=self.mime_type,
            file_id=self.file_id,
            file_unique_id=self.file_unique_id,
        )

    def document_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.content),
        }
        if self.file_name is not None:
            doc["file_name"] = self.file_name
        if self.mime_type is not None:
            doc["mime_type"] = self.mime_type
        return doc

    def photo_json(self) -> list[dict[str, Any]]:
        return [
            {
                "file_id": self.file_id,
                "file_unique_id": self.file_unique_id,
                "file_size": len(self.content),
                "width": self.width,
                "height": self.height,
            }
        ]


@dataclass
class PendingUpdate:
    update_id: int
    kind: str
    payload: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"update_id": self.update_id, self.kind: self.payload}


@dataclass
class CallbackRecord:
    id: str
    user_id: int
    chat_id: int
    message_id: int
    data: str
    answered: bool = False


class World:
    """State shared by the injection helpers and the Bot API methods."""

    def __init__(self, bot_id: int, bot_username: str, bot_first_name: str, privacy_mode: bool):
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.privacy_mode = privacy_mode
        # Message dates (Unix seconds). The sandbox points it at its movable clock so that a
        # message's time is the time the bot saw; everywhere else it is the real time.
        self.clock: Callable[[], float] = time.time
        self.bot_user: dict[str, Any] = {
            "id": bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.users: dict[int, UserRecord] = {}
        self.chats: dict[int, ChatRecord] = {}
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.callbacks: dict[str, CallbackRecord] = {}
        self.updates: list[PendingUpdate] = []
        self.undelivered: list[dict[str, Any]] = []  # group messages hidden by privacy mode
        self.webhook_url = ""
        self.webhook_secret = ""
        self.webhook_error: tuple[int, str] | None = None  # (date, message) of the last failure
        self.allowed_updates: frozenset[str] = DEFAULT_ALLOWED_UPDATES
        self._update_ids = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._callback_ids = itertools.count(1)
        self._updates_changed = asyncio.Event()

    def now_ts(self) -> int:
        return int(self.clock())

    # -- update queue ----------------------------------------------------------------------
    def push_update(self, kind: str, payload: dict[str, Any]) -> PendingUpdate:
        update = PendingUpdate(next(self._update_ids), kind, payload)
        self.updates.append(update)
        self.notify_updates()
        return update

    def notify_updates(self) -> None:
        """Wake up every long-polling getUpdates."""
        event, self._updates_changed = self._updates_changed, asyncio.Event()
        event.set()

    @property
    def updates_changed(self) -> asyncio.Event:
        return self._updates_changed

    # -- users and chats -------------------------------------------------------------------
    def add_user(
        self,
        user_id: int,
        first_name: str,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
    ) -> dict[str, Any]:
        if user_id <= 0:
            raise ValueError("user ids are positive")
        if user_id == self.bot_id:
            raise ValueError("that is the bot's own id")
        user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
        if last_name is not None:
            user["last_name"] = last_name
        if username is not None:
            user["username"] = username
        if language_code is not None:
            user["language_code"] = language_code
        self.users[user_id] = UserRecord(json=user)
        self.chats[user_id] = ChatRecord(id=user_id, type="private", user_id=user_id)
        return dict(user)

    def add_group(
        self, chat_id: int, title: str, type: str = "group", bot_status: str = "left"
    ) -> ChatRecord:
        if chat_id >= 0:
            raise ValueError("group and supergroup ids are negative")
        if type not in GROUP_TYPES:
            raise ValueError(f"type must be one of {GROUP_TYPES}")
        chat = ChatRecord(id=chat_id, type=type, title=title, bot_status=bot_status)
        self.chats[chat_id] = chat
        return chat

    def user(self, user_id: int) -> UserRecord:
        try:
            return self.users[user_id]
        except KeyError:
            raise AssertionError(f"unknown user {user_id}; call api.add_user() first") from None

    def chat(self, chat_id: int) -> ChatRecord:
        try:
            return self.chats[chat_id]
        except KeyError:
            raise AssertionError(f"unknown chat {chat_id}; call api.add_group() first") from None

    def user_lookup(self, user_id: int) -> dict[str, Any] | None:
        if user_id == self.bot_id:
            return dict(self.bot_user)
        record = self.users.get(user_id)
        return dict(record.json) if record else None

    def chat_json(self, chat: ChatRecord) -> dict[str, Any]:
        if chat.is_private:
            assert chat.user_id is not None
            user = self.users[chat.user_id].json
            result = {"id": chat.id, "type": "private", "first_name": user["first_name"]}
            for key in ("last_name", "username"):
                if key in user:
                    result[key] = user[key]
            return result
        return {"id": chat.id, "type": chat.type, "title": chat.title}

    def member_json(self, user: dict[str, Any], status: str) -> dict[str, Any]:
        member: dict[str, Any] = {"user": user, "status": status}
        if status == "kicked":
            member["until_date"] = 0
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_pin_messages=True,
            )
        return member

    # -- files -----------------------------------------------------------------------------
    def store_file(
        self, kind: str, content: bytes, file_name: str | None, mime_type: str | None
    ) -> StoredFile:
        number = next(self._file_ids)
        prefix = "BQACAgUAAxkBAAI" if kind == "document" else "AgACAgUAAxkBAAI"
        file_id = f"{prefix}{number:06d}{secrets.token_urlsafe(18)}"
        unique = "AgAD" + hashlib.sha1(content + kind.encode()).hexdigest()[:12]
        stored = StoredFile(file_id, unique, kind, content, file_name, mime_type)
        if kind == "photo":
            stored.width, stored.height = image_size(content) or (1, 1)
        self.files[file_id] = stored
        return stored

    def file_path_for(self, stored: StoredFile) -> str:
        if stored.file_path is None:
            if stored.kind == "photo":
                stored.file_path = f"photos/file_{len(self.files_by_path)}.jpg"
            else:
                ext = ""
                if stored.file_name and "." in stored.file_name:
                    ext = "." + stored.file_name.rsplit(".", 1)[1]
                elif stored.mime_type:
                    ext = mimetypes.guess_extension(stored.mime_type) or ""
                stored.file_path = f"documents/file_{len(self.files_by_path)}{ext}"
            self.files_by_path[stored.file_path] = stored
        return stored.file_path

    # -- messages --------------------------------------------------------------------------
    def message_json(
        self, chat: ChatRecord, message_id: int, *, nested: bool = True
    ) -> dict[str, Any]:
        stored = chat.messages[message_id]
        if stored.sent is None:
            assert stored.json is not None
            result = dict(stored.json)
            if not nested:
                result.pop("reply_to_message", None)
            return result
        return self.bot_message_json(chat, stored.sent, nested=nested)

    def bot_message_json(
        self, chat: ChatRecord, sent: SentMessage, *, nested: bool = True
    ) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "message_id": sent.message_id,
            "from": dict(self.bot_user),
            "chat": self.chat_json(chat),
            "date": sent.date,
        }
        if sent.edit_date is not None:
            msg["edit_date"] = sent.edit_date
        if sent.kind == "text":
            msg["text"] = sent.text
            if sent.entities:
                msg["entities"] = sent.entities
        else:
            if sent.kind == "document" and sent.document is not None:
                msg["document"] = self.files[sent.document.file_id].document_json()
            elif sent.photo_file is not None:
                msg["photo"] = self.files[sent.photo_file.file_id].photo_json()
            if sent.text:
                msg["caption"] = sent.text
                if sent.entities:
                    msg["caption_entities"] = sent.entities
        if sent.reply_markup is not None and "inline_keyboard" in sent.reply_markup:
            msg["reply_markup"] = sent.reply_markup
        if nested and sent.reply_to_message_id in chat.messages:
            assert sent.reply_to_message_id is not None
            msg["reply_to_message"] = self.message_json(
                chat, sent.reply_to_message_id, nested=False
            )
        return msg

    def record_user_message(
        self, chat: ChatRecord, user: dict[str, Any], content: dict[str, Any], reply_to: int | None
    ) -> dict[str, Any]:
        message_id = chat.take_message_id()
        msg: dict[str, Any] = {
            "message_id": message_id,
            "from": dict(user),
            "chat": self.chat_json(chat),
            "date": self.now_ts(),
            **content,
        }
        if reply_to is not None:
            if reply_to not in chat.messages:
                raise AssertionError(f"message {reply_to} does not exist in chat {chat.id}")
            msg["reply_to_message"] = self.message_json(chat, reply_to, nested=False)
        chat.messages[message_id] = StoredMessage(message_id, from_bot=False, json=msg)
        return msg

    def user_sends(
        self,
        user_id: int,
        chat_id: int | None,
        content: dict[str, Any],
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A user posts a message (text or media) in a chat; queue the update."""
        record = self.user(user_id)
        if record.deactivated:
            raise AssertionError(f"user {user_id} is deactivated")
        if chat_id is None or chat_id == user_id:
            chat = self.chats[user_id]
            if record.blocked:
                raise AssertionError(
                    f"user {user_id} has blocked the bot; call api.unblock_bot() first"
                )
            record.started = True
        else:
            chat = self.chat(chat_id)
            if chat.migrated_to is not None:
                raise AssertionError(
                    f"chat {chat_id} was migrated to {chat.migrated_to}; post there instead"
                )
            if not chat.bot_is_member:
                raise AssertionError(
                    f"the bot is not in chat {chat_id}; call api.add_bot_to_group() first"
                )
            if chat.members.get(user_id) in (None, "left", "kicked"):
                chat.members[user_id] = "member"
        msg = self.record_user_message(chat, record.json, content, reply_to)
        if self._visible_to_bot(chat, msg):
            self.push_update("message", msg)
        else:
            self.undelivered.append(msg)
        return msg

    def _visible_to_bot(self, chat: ChatRecord, msg: dict[str, Any]) -> bool:
        """Group privacy mode: only commands, replies to the bot and service messages."""
        if chat.is_private or not self.privacy_mode or chat.bot_status == "administrator":
            return True
        reply = msg.get("reply_to_message")
        if reply is not None and reply.get("from", {}).get("id") == self.bot_id:
            return True
        text = msg.get("text") or msg.get("caption") or ""
        entities = msg.get("entities") or msg.get("caption_entities") or []
        for entity in entities:
            if entity["type"] != "bot_command":
                continue
            command = text.encode("utf-16-le")[
                entity["offset"] * 2 : (entity["offset"] + entity["length"]) * 2
            ].decode("utf-16-le")
            _, _, target = command.partition("@")
            if not target or target.lower() == self.bot_username.lower():
                return True
        return False

    def text_content(self, text: str, prefix: str = "") -> dict[str, Any]:
        """``{"text": ..., "entities": [...]}`` (or caption) as Telegram would deliver it."""
        if not text:
            return {}
        key = "caption" if prefix else "text"
        content: dict[str, Any] = {key: text}
        entities = find_entities(text)
        if entities:
            content[f"{prefix}entities" if prefix else "entities"] = entities
        return content

    def service_message(
        self, chat: ChatRecord, user: dict[str, Any] | None, content: dict[str, Any]
    ) -> dict[str, Any]:
        message_id = chat.take_message_id()
        msg: dict[str, Any] = {"message_id": message_id}
        if user is not None:
            msg["from"] = dict(user)
        msg.update(chat=self.chat_json(chat), date=self.now_ts(), **content)
        chat.messages[message_id] = StoredMessage(message_id, from_bot=False, json=msg)
        self.push_update("message", msg)
        return msg

    def my_chat_member(self, chat: ChatRecord, by_user: dict[str, Any], old: str, new: str) -> None:
        self.push_update(
            "my_chat_member",
            {
                "chat": self.chat_json(chat),
                "from": dict(by_user),
                "date": self.now_ts(),
                "old_chat_member": self.member_json(dict(self.bot_user), old),
                "new_chat_member": self.member_json(dict(self.bot_user), new),
            },
        )

    def new_callback_id(self) -> str:
        return f"{self.bot_id}{next(self._callback_ids):08d}{secrets.randbelow(10**6):06d}"


def image_size(content: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, GIF, JPEG, WebP or BMP image; ``None`` if not recognised."""
    if content.startswith(b"\x89PNG\r\n\x1a\n") and len(content) >= 24:
        width, height = struct.unpack(">II", content[16:24])
        return int(width), int(height)
    if content[:6] in (b"GIF87a", b"GIF89a") and len(content) >= 10:
        width, height = struct.unpack("<HH", content[6:10])
        return int(width), int(height)
    if content.startswith(b"BM") and len(content) >= 26:
        width, height = struct.unpack("<ii", content[18:26])
        return abs(int(width)), abs(int(height))
    if content.startswith(b"RIFF") and content[8:12] == b"WEBP" and len(content) >= 30:
        chunk = content[12:16]
        if chunk == b"VP8X":
            width = int.from_bytes(content[24:27], "little") + 1
            height = int.from_bytes(content[27:30], "little") + 1
            return width, height
        if chunk == b"VP8 ":
            width, height = struct.unpack("<HH", content[26:30])
            return int(width) & 0x3FFF, int(height) & 0x3FFF
        if chunk == b"VP8L":
            bits = int.from_bytes(content[21:25], "little")
            return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if content.startswith(b"\xff\xd8"):
        return _jpeg_size(content)
    return None


def _jpeg_size(content: bytes) -> tuple[int, int] | None:
    pos = 2
    while pos + 9 < len(content):
        if content[pos] != 0xFF:
            return None
        marker = content[pos + 1]
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
            pos += 2
            continue
        length = int.from_bytes(content[pos + 2 : pos + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            height = int.from_bytes(content[pos + 5 : pos + 7], "big")
            width = int.from_bytes(content[pos + 7 : pos + 9], "big")
            return width, height
        pos += 2 + length
    return None
