"""Message text processing the way the Bot API does it before a message is stored.

:func:`format_text` takes what the bot sent (``text``/``caption``, ``parse_mode``, explicit
``entities``) and returns the plain text and entities Telegram would store:

1. parse the markup (HTML only; see :mod:`.html_entities`);
2. clean the text like tdlib: ``\\r`` is dropped, other control characters (including TAB)
   become spaces, U+2028..U+202E are dropped;
3. trim trailing spaces/newlines, and leading ones that precede the first entity;
4. drop nested/overlapping "continuous" entities (e.g. ``code`` inside ``pre``);
5. add the entities Telegram detects itself: ``bot_command``, ``mention``, ``hashtag``,
   ``url`` (with a scheme or ``www.``) and ``email``.

Lengths are measured in UTF-16 code units (``utf16_len``), as Telegram does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import bad_request
from .html_entities import HtmlParseError, UserLookup, parse_html, sort_key

SPLITTABLE_TYPES = frozenset({"bold", "italic", "underline", "strikethrough", "spoiler"})
BLOCKQUOTE_TYPES = frozenset({"blockquote", "expandable_blockquote"})
KNOWN_ENTITY_TYPES = frozenset(
    {
        "mention",
        "hashtag",
        "cashtag",
        "bot_command",
        "url",
        "email",
        "phone_number",
        "bold",
        "italic",
        "underline",
        "strikethrough",
        "spoiler",
        "blockquote",
        "expandable_blockquote",
        "code",
        "pre",
        "text_link",
        "text_mention",
        "custom_emoji",
    }
)

_REMOVED_CHARS = frozenset({"\r", *map(chr, range(0x2028, 0x202F)), "\u0333", "\u033f", "\u030a"})
_SPACE_CHARS = frozenset(chr(c) for c in (*range(0, 10), 11, 12, *range(14, 33)))

_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_EMAIL = re.compile(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}")
_URL_TRAILING = ".,:;!?'\")]}"


@dataclass(frozen=True)
class FormattedText:
    text: str
    entities: list[dict[str, Any]]

    @property
    def length(self) -> int:
        return utf16_len(self.text)


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units (what Telegram's limits and offsets count)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _utf16_prefix_lengths(text: str) -> list[int]:
    """``result[i]`` is the UTF-16 offset of ``text[i]``; ``result[len(text)]`` the total."""
    offsets = [0] * (len(text) + 1)
    total = 0
    for index, ch in enumerate(text):
        offsets[index] = total
        total += 2 if ord(ch) > 0xFFFF else 1
    offsets[len(text)] = total
    return offsets


def utf16_slice(text: str, offset: int, length: int) -> str:
    """The part of ``text`` covered by an entity."""
    units = text.encode("utf-16-le")
    return units[offset * 2 : (offset + length) * 2].decode("utf-16-le", "replace")


def format_text(
    raw: str,
    parse_mode: str | None,
    entities: list[dict[str, Any]] | None = None,
    *,
    user_lookup: UserLookup | None = None,
    field: str = "text",
) -> FormattedText:
    """Turn what the bot sent into the stored text; raises :class:`ApiError` (400)."""
    mode = (parse_mode or "").strip().lower()
    if mode == "html":
        try:
            parsed = parse_html(raw, user_lookup)
        except HtmlParseError as exc:
            raise bad_request(f"can't parse entities: {exc.reason}") from None
        text, found = parsed.text, parsed.entities
    elif mode in ("markdown", "markdownv2"):
        raise bad_request(
            f"the fake Bot API does not implement parse_mode {parse_mode!r}; use HTML"
        )
    elif mode:
        raise bad_request("unsupported parse_mode")
    else:
        text, found = raw, validate_entities(raw, entities or [], field)
    text, found = _clean(text, found)
    text, found = _trim(text, found)
    found = _remove_nested_continuous(found)
    found = _merge_detected(found, find_entities(text))
    return FormattedText(text, found)


def validate_entities(text: str, entities: Iterable[Any], field: str) -> list[dict[str, Any]]:
    """Check explicit ``entities``/``caption_entities`` JSON sent by the bot."""
    total = utf16_len(text)
    result: list[dict[str, Any]] = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise bad_request(f"can't parse {field} entities: entity must be an Object")
        try:
            kind, offset, length = entity["type"], int(entity["offset"]), int(entity["length"])
        except (KeyError, TypeError, ValueError):
            raise bad_request(f"can't parse {field} entities: wrong entity") from None
        if kind not in KNOWN_ENTITY_TYPES:
            raise bad_request(f"can't parse {field} entities: unsupported entity type {kind!r}")
        if offset < 0 or length < 0 or offset + length > total:
            raise bad_request(
                f"can't parse entities: Entity beginning at UTF-16 offset {offset} ends after "
                f"the end of the text at UTF-16 offset {offset + length}"
            )
        if length:
            result.append(dict(entity, offset=offset, length=length))
    result.sort(key=sort_key)
    return result


def _remap(
    entities: list[dict[str, Any]], mapping: list[int], cut_end: int | None = None
) -> list[dict[str, Any]]:
    """Move entities through an old-offset -> new-offset ``mapping``; drop empty ones."""
    result = []
    for entity in entities:
        start = mapping[entity["offset"]]
        end = mapping[entity["offset"] + entity["length"]]
        if cut_end is not None:
            end = min(end, cut_end)
        if end > start:
            result.append(dict(entity, offset=start, length=end - start))
    result.sort(key=sort_key)
    return result


def _clean(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    old_total = utf16_len(text)
    mapping = [0] * (old_total + 1)
    out: list[str] = []
    old = new = 0
    for ch in text:
        width = 2 if ord(ch) > 0xFFFF else 1
        for k in range(width):
            mapping[old + k] = new
        old += width
        if ch in _REMOVED_CHARS:
            continue
        out.append(" " if ch in _SPACE_CHARS else ch)
        new += width
    mapping[old_total] = new
    return "".join(out), _remap(entities, mapping)


def _trim(text: str, entities: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    stripped_end = len(text.rstrip(" \n"))
    text = text[:stripped_end]
    total = utf16_len(text)
    entities = [e for e in entities if e["offset"] < total]
    for entity in entities:
        entity["length"] = min(entity["length"], total - entity["offset"])
    first_entity = min((e["offset"] for e in entities), default=total)
    lead = 0
    while lead < first_entity and lead < len(text) and text[lead] in " \n":
        lead += 1
    if lead:
        text = text[lead:]
        for entity in entities:
            entity["offset"] -= lead
    entities.sort(key=sort_key)
    return text, entities


def _is_continuous(entity: dict[str, Any]) -> bool:
    return entity["type"] not in SPLITTABLE_TYPES and entity["type"] not in BLOCKQUOTE_TYPES


def _remove_nested_continuous(entities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Continuous entities (code, pre, links, ...) can't intersect or nest in each other."""
    result: list[dict[str, Any]] = []
    continuous_end = 0
    for entity in sorted(entities, key=sort_key):
        if _is_continuous(entity):
            if entity["offset"] < continuous_end:
                continue
            continuous_end = entity["offset"] + entity["length"]
        result.append(entity)
    return result


def _merge_detected(
    entities: list[dict[str, Any]], detected: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """Add auto-detected entities that don't intersect existing continuous ones."""
    blocked = [(e["offset"], e["offset"] + e["length"]) for e in entities if _is_continuous(e)]
    merged = list(entities)
    for entity in detected:
        start, end = entity["offset"], entity["offset"] + entity["length"]
        if any(start < b_end and b_start < end for b_start, b_end in blocked):
            continue
        merged.append(entity)
        blocked.append((start, end))
    merged.sort(key=sort_key)
    return merged


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def find_entities(text: str) -> list[dict[str, Any]]:
    """Entities Telegram detects in plain text (a practical subset of tdlib's find_entities)."""
    offsets = _utf16_prefix_lengths(text)
    spans: list[tuple[int, int, str]] = []
    spans += _find_bot_commands(text)
    spans += _find_prefixed_words(text, "@", 2, 32, ascii_only=True, kind="mention")
    spans += _find_prefixed_words(text, "#", 1, 256, ascii_only=False, kind="hashtag")
    for match in _URL.finditer(text):
        end = match.end()
        while end > match.start() and text[end - 1] in _URL_TRAILING:
            end -= 1
        if match.start() > 0 and _is_word_char(text[match.start() - 1]):
            continue
        spans.append((match.start(), end, "url"))
    for match in _EMAIL.finditer(text):
        spans.append((match.start(), match.end(), "email"))

    # Overlaps: urls and emails win over what is inside them.
    priority = {"url": 0, "email": 1, "bot_command": 2, "mention": 3, "hashtag": 4}
    spans.sort(key=lambda s: (priority[s[2]], s[0]))
    taken: list[tuple[int, int]] = []
    result = []
    for start, end, kind in spans:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        result.append(
            {"type": kind, "offset": offsets[start], "length": offsets[end] - offsets[start]}
        )
    result.sort(key=sort_key)
    return result


def _find_bot_commands(text: str) -> list[tuple[int, int, str]]:
    # tdlib: /(?<!\b|[\/<>])\/([a-zA-Z0-9_]{1,64})(?:@([a-zA-Z0-9_]{3,32}))?(?!\B|[\/<>])/
    spans = []
    for match in re.finditer(r"/([A-Za-z0-9_]+)(@[A-Za-z0-9_]*)?", text):
        start, end = match.span()
        before = text[start - 1] if start else ""
        if before and (_is_word_char(before) or before in "/<>"):
            continue
        if not 1 <= len(match.group(1)) <= 64:
            continue
        if match.group(2) is not None and not 3 <= len(match.group(2)) - 1 <= 32:
            continue
        after = text[end] if end < len(text) else ""
        if after and (_is_word_char(after) or after in "/<>"):
            continue
        spans.append((start, end, "bot_command"))
    return spans


def _find_prefixed_words(
    text: str, prefix: str, min_len: int, max_len: int, *, ascii_only: bool, kind: str
) -> list[tuple[int, int, str]]:
    spans = []
    body = r"[A-Za-z0-9_]" if ascii_only else r"[^\W]"
    for match in re.finditer(re.escape(prefix) + body + "+", text):
        start, end = match.span()
        if start and _is_word_char(text[start - 1]):
            continue
        if end < len(text) and (_is_word_char(text[end]) or text[end] == prefix):
            continue
        word = match.group(0)[1:]
        if not min_len <= len(word) <= max_len:
            continue
        if kind == "hashtag" and not any(ch.isalpha() for ch in word):
            continue
        spans.append((start, end, kind))
    return spans
