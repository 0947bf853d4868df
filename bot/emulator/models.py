"""Public dataclasses of the fake Bot API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .markup import markup_buttons

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Flood limits and size limits; the defaults are Telegram's.

    ``enabled=False`` switches the *rate* limits off; the size limits always apply.
    """

    enabled: bool = True
    # All rate-limited calls of the bot together: ``global_per_second`` per sliding window.
    global_per_second: int = 30
    global_window: float = 1.0
    # Each private chat: a token bucket holding ``private_burst`` messages, refilled at
    # ``private_per_second`` (short bursts pass, more than ~1 message/s sustained does not).
    private_burst: int = 5
    private_per_second: float = 1.0
    # Each group/supergroup: ``group_per_minute`` messages per sliding ``group_window`` seconds.
    group_per_minute: int = 20
    group_window: float = 60.0
    # How fast the flood-control clock runs: 1 is real time; 50 refills the buckets and slides
    # the windows 50 times faster (tests that are not about pacing). `retry_after` stays in
    # whole real seconds, at least 1, as Telegram sends it.
    time_scale: float = 1.0
    # Files: getFile refuses bigger files ("file is too big"); uploads above the upload limit
    # are refused with 413.
    max_download_size: int = 20 * MB
    max_upload_size: int = 50 * MB


@dataclass
class Fault:
    """Injected server trouble: calls of ``methods`` (lower-case names) are answered with
    ``status`` (0: answered normally, only late) after ``delay`` seconds, for the next ``times``
    calls (None: any number) and until ``until`` (monotonic seconds; None: until ended).

    Made by :meth:`FakeBotApi.fail` and :meth:`FakeBotApi.outage`; ``served`` counts the calls it
    answered, ``end()`` lifts it early.
    """

    methods: frozenset[str]
    status: int = 502
    times: int | None = None
    until: float | None = None
    delay: float = 0.0
    description: str = "Bad Gateway"
    served: int = 0
    ended: bool = False

    def active(self, method: str, now: float) -> bool:
        if self.ended or method.lower() not in self.methods:
            return False
        if self.until is not None and now >= self.until:
            return False
        return self.times is None or self.served < self.times

    def end(self) -> None:
        self.ended = True


@dataclass
class SentFile:
    """A file the bot sent (document or photo)."""

    file_name: str | None
    content: bytes
    mime_type: str | None
    file_id: str = ""
    file_unique_id: str = ""


@dataclass
class SentMessage:
    """A message the bot sent, in its current state (edits applied).

    ``text`` is the plain text after entity parsing (the caption for documents/photos),
    ``html`` the raw text/caption exactly as the bot sent it, ``history`` the earlier plain texts
    (one per edit that changed the text).
    """

    message_id: int
    chat_id: int
    text: str
    html: str
    parse_mode: str | None
    entities: list[dict[str, Any]]
    reply_markup: dict[str, Any] | None
    document: SentFile | None = None
    photo: bytes | None = None
    edited: bool = False
    edit_count: int = 0
    date: int = 0
    kind: str = "text"  # "text", "document" or "photo"
    photo_file: SentFile | None = None
    reply_to_message_id: int | None = None
    edit_date: int | None = None
    history: list[str] = field(default_factory=list)

    @property
    def caption(self) -> str | None:
        return None if self.kind == "text" else self.text

    @property
    def buttons(self) -> list[list[tuple[str, str]]]:
        """Keyboard rows as ``(text, callback_data or url)``; reply keyboards give ``""``."""
        return markup_buttons(self.reply_markup)

    @property
    def button_texts(self) -> list[str]:
        return [text for row in self.buttons for text, _ in row]

    def describe(self) -> str:
        """One-line summary used in failure dumps."""
        parts = [f"#{self.message_id}"]
        if self.kind != "text":
            name = self.document.file_name if self.document else "photo"
            parts.append(f"[{self.kind}: {name}]")
        parts.append(repr(self.text))
        if self.buttons:
            parts.append(f"buttons={self.buttons}")
        if self.edited:
            parts.append(f"(edited x{self.edit_count})")
        return " ".join(parts)


@dataclass(frozen=True)
class RecordedRequest:
    """One API call.  ``params`` are decoded (ints, JSON objects, uploaded files as
    ``{"file_name", "mime_type", "size"}``); ``at`` is ``time.monotonic()``."""

    method: str
    params: dict[str, Any]
    at: float


@dataclass(frozen=True)
class RecordedError:
    """A non-ok answer the fake gave."""

    method: str
    status: int
    description: str
    parameters: dict[str, Any] | None = None
