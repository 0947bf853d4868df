"""Telegram's HTML parse mode, following tdlib's ``parse_html`` (td/telegram/MessageEntity.cpp).

The parser works on the UTF-8 bytes of the text, exactly like tdlib does, so the byte offsets in
error messages match the real ones.  Entity offsets and lengths are counted in UTF-16 code units,
as in the Bot API.

Behaviour worth knowing (all of it is what Telegram does):

* Supported tags: ``b strong i em u ins s strike del span tg-spoiler a code pre blockquote
  tg-emoji``; tag and attribute names are case-insensitive.  ``<span>`` needs
  ``class="tg-spoiler"``, ``<blockquote expandable>`` gives an expandable blockquote and
  ``<pre><code class="language-x">`` a pre entity with a language.
* Named entities are only ``&lt; &gt; &amp; &quot;``; numeric ``&#NNN;`` / ``&#xHH;`` work too,
  and the trailing ``;`` is optional.  An ``&`` that does not start one of them is kept as a
  literal ``&`` (no error).  A bare ``<`` is an error (``Unsupported start tag ""``).
* End tags may be written as ``</>``; a wrong end tag name is an "Unmatched end tag" error.
* Links that are not valid http(s)/tg/ton URLs are silently dropped; ``tg://user?id=N`` becomes a
  ``text_mention``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

SUPPORTED_TAGS = frozenset(
    {
        "a",
        "b",
        "strong",
        "i",
        "em",
        "s",
        "strike",
        "del",
        "u",
        "ins",
        "tg-spoiler",
        "tg-emoji",
        "span",
        "pre",
        "code",
        "blockquote",
    }
)

_SIMPLE_TAG_TYPES = {
    "i": "italic",
    "em": "italic",
    "b": "bold",
    "strong": "bold",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "u": "underline",
    "ins": "underline",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
}

# tdlib's is_space(): the C string terminator counts as a space, which is what stops all the
# "scan until space or '>'" loops at the end of the text.
_SPACES = frozenset(b" \t\r\n\x00\x0b")
_AMP, _LT, _GT, _SLASH, _EQ = (ord(c) for c in "&<>/=")
_QUOTES = frozenset(b"\"'")
_ATTR_NAME_STOP = frozenset(b"=>/\"'")
_NAMED_ENTITIES = {b"lt": ord("<"), b"gt": ord(">"), b"amp": ord("&"), b"quot": ord('"')}
_USER_LINK = re.compile(r"tg://user\?id=(\d+)", re.IGNORECASE)
_TG_LINK = re.compile(r"(tg|ton)://[A-Za-z0-9_.\-]+(/[^\s]*)?(\?[^\s]*)?", re.IGNORECASE)
_HOST_LABEL = re.compile(r"(?!-)[\w-]{1,63}(?<!-)")
_IPV4 = re.compile(r"\d{1,3}(\.\d{1,3}){3}")

# Bot API entity type -> tdlib's sort priority (MessageEntity::get_type_priority).
ENTITY_PRIORITY = {
    "mention": 50,
    "hashtag": 50,
    "cashtag": 50,
    "bot_command": 50,
    "url": 50,
    "email": 50,
    "phone_number": 50,
    "bold": 90,
    "italic": 91,
    "underline": 92,
    "strikethrough": 93,
    "spoiler": 94,
    "code": 20,
    "pre": 11,
    "text_link": 49,
    "text_mention": 49,
    "blockquote": 0,
    "expandable_blockquote": 0,
    "custom_emoji": 99,
}


class HtmlParseError(ValueError):
    """The text is not valid Telegram HTML; ``reason`` is tdlib's wording."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class ParsedText:
    """Plain text plus Bot API ``MessageEntity`` dicts (UTF-16 offsets)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_offset: int
    byte_offset: int  # position in the output buffer


def sort_key(entity: Mapping[str, Any]) -> tuple[int, int, int]:
    """tdlib's entity order: by offset, longer first, then by type priority."""
    return (entity["offset"], -entity["length"], ENTITY_PRIORITY.get(entity["type"], 50))


def _is_space(c: int) -> bool:
    return c in _SPACES


def _is_alnum(c: int) -> bool:
    return 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122


def _decode_entity(src: bytes, pos: int) -> tuple[int, int] | None:
    """Decode the character reference at ``src[pos] == '&'``.

    Returns ``(code point, position after it)`` or ``None`` when it is not a supported
    reference (the ``&`` is then taken literally).
    """
    end = pos + 1
    code = 0
    if src[end] == ord("#"):
        end += 1
        if src[end] == ord("x"):
            end += 1
            while chr(src[end]) in "0123456789abcdefABCDEF":
                code = code * 16 + int(chr(src[end]), 16)
                end += 1
        else:
            while 48 <= src[end] <= 57:
                code = code * 10 + src[end] - 48
                end += 1
        if code == 0 or code >= 0x10FFFF or end - pos >= 10:
            return None
    else:
        while 65 <= src[end] <= 90 or 97 <= src[end] <= 122:
            end += 1
        named = _NAMED_ENTITIES.get(src[pos + 1 : end])
        if named is None:
            return None
        code = named
    if src[end] == ord(";"):
        end += 1
    return code, end


def _utf8(code: int) -> bytes:
    # 'surrogatepass' mirrors tdlib writing a lone surrogate; it is rejected at the end.
    return chr(code).encode("utf-8", "surrogatepass")


def user_id_from_link(url: str) -> int | None:
    """The user id of a ``tg://user?id=<id>`` link, else ``None``."""
    match = _USER_LINK.fullmatch(url.strip())
    if match is None:
        return None
    user_id = int(match.group(1))
    return user_id if 0 < user_id < 1 << 40 else None


def checked_link(url: str) -> str | None:
    """Roughly tdlib's ``LinkManager::get_checked_link``: a normalised URL or ``None``.

    http(s) links get their scheme and host lower-cased and an empty path becomes ``/``; a link
    without a scheme gets ``http://``.  ``tg://`` and ``ton://`` links are kept as they are.
    Everything else (``javascript:``, ``mailto:``, garbage) is rejected.
    """
    url = url.strip()
    if not url or any(c.isspace() for c in url):
        return None
    if _TG_LINK.fullmatch(url):
        return url
    scheme, sep, _rest = url.partition("://")
    if sep:
        if scheme.lower() not in ("http", "https"):
            return None
    elif ":" in url.split("/", 1)[0] and not re.fullmatch(r"[^:/]+:\d{1,5}(/.*)?", url):
        return None  # "mailto:x", "javascript:..." and friends
    else:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if not _is_valid_host(host):
        return None
    netloc = host if port is None else f"{host}:{port}"
    if parts.username is not None:
        netloc = parts.netloc.rsplit("@", 1)[0] + "@" + netloc
    path = parts.path or "/"
    result = f"{parts.scheme.lower()}://{netloc}{path}"
    if parts.query:
        result += "?" + parts.query
    if parts.fragment:
        result += "#" + parts.fragment
    return result


def _is_valid_host(host: str) -> bool:
    if _IPV4.fullmatch(host):
        return all(int(part) <= 255 for part in host.split("."))
    labels = host.rstrip(".").split(".")
    if len(labels) < 2:
        return host == "localhost"
    if not all(_HOST_LABEL.fullmatch(label) for label in labels):
        return False
    tld = labels[-1]
    return tld.startswith("xn--") or (len(tld) >= 2 and not tld.isdigit())


UserLookup = Callable[[int], dict[str, Any] | None]


def parse_html(html: str, user_lookup: UserLookup | None = None) -> ParsedText:
    """Parse Telegram HTML into plain text and entities.

    ``user_lookup`` resolves ``tg://user?id=`` links to User JSON for ``text_mention`` entities.
    Raises :class:`HtmlParseError` with tdlib's message on invalid markup.  No trimming or
    other clean-up of the text happens here (see :mod:`.text`).
    """
    src = html.encode("utf-8") + b"\x00"
    size = len(src) - 1
    out = bytearray()
    entities: list[dict[str, Any]] = []
    stack: list[_OpenTag] = []
    utf16 = 0
    i = 0
    while i < size:
        c = src[i]
        if c == _AMP:
            decoded = _decode_entity(src, i)
            if decoded is not None:
                code, i = decoded
                utf16 += 2 if code > 0xFFFF else 1
                out += _utf8(code)
                continue
        if c != _LT:
            if c & 0xC0 != 0x80:  # first byte of a UTF-8 sequence
                utf16 += 2 if c >= 0xF0 else 1
            out.append(c)
            i += 1
            continue

        begin = i
        i += 1
        if src[i] != _SLASH:
            i = _parse_start_tag(src, begin, i, stack, utf16, len(out))
        else:
            i = _parse_end_tag(src, begin, i, stack, entities, utf16, out, user_lookup)
        i += 1  # skip '>'

    if stack:
        raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1].name}"')

    for entity in entities:
        if entity["type"] == "code":
            entity.pop("language", None)
    entities.sort(key=sort_key)
    try:
        text = out.decode("utf-8")
    except UnicodeDecodeError:
        raise HtmlParseError(
            "Text contains invalid Unicode characters after decoding HTML entities, check for "
            "unmatched surrogate code units"
        ) from None
    return ParsedText(text, entities)


def _parse_start_tag(
    src: bytes, begin: int, i: int, stack: list[_OpenTag], utf16: int, out_pos: int
) -> int:
    """Parse ``<tag attr=...>`` starting after ``<``; returns the position of ``>``."""
    while not _is_space(src[i]) and src[i] != _GT:
        i += 1
    if src[i] == 0:
        raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
    tag = src[begin + 1 : i].lower().decode("utf-8", "replace")
    if tag not in SUPPORTED_TAGS:
        raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')

    argument = ""
    while src[i] != _GT:
        while src[i] != 0 and _is_space(src[i]):
            i += 1
        if src[i] == _GT:
            break
        attr_begin = i
        while not _is_space(src[i]) and src[i] not in _ATTR_NAME_STOP:
            i += 1
        attr_name = src[attr_begin:i]
        if not attr_name:
            raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
        while src[i] != 0 and _is_space(src[i]):
            i += 1
        if src[i] != _EQ:
            if src[i] == 0:
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            if tag == "blockquote" and attr_name == b"expandable":
                argument = "1"
            continue
        i += 1
        while src[i] != 0 and _is_space(src[i]):
            i += 1
        if src[i] == 0:
            raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')

        value = bytearray()
        if src[i] not in _QUOTES:
            # A name token: letters, digits, periods or hyphens; case-insensitive.
            token_begin = i
            while _is_alnum(src[i]) or src[i] in b".-":
                i += 1
            value += src[token_begin:i].lower()
            if not _is_space(src[i]) and src[i] != _GT:
                raise HtmlParseError(f"Unexpected end of name token at byte offset {token_begin}")
        else:
            quote = src[i]
            i += 1
            while src[i] != quote and src[i] != 0:
                if src[i] == _AMP:
                    decoded = _decode_entity(src, i)
                    if decoded is not None:
                        code, i = decoded
                        value += _utf8(code)
                        continue
                value.append(src[i])
                i += 1
            if src[i] == quote:
                i += 1
        if src[i] == 0:
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")

        text_value = value.decode("utf-8", "replace")
        if tag == "a" and attr_name == b"href":
            argument = text_value
        elif tag == "code" and attr_name == b"class" and text_value.startswith("language-"):
            argument = text_value[len("language-") :]
        elif tag == "span" and attr_name == b"class" and text_value.startswith("tg-"):
            argument = text_value[len("tg-") :]
        elif tag == "tg-emoji" and attr_name == b"emoji-id":
            argument = text_value
        elif tag == "blockquote" and attr_name == b"expandable":
            argument = "1"

    if tag == "span" and argument != "spoiler":
        raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
    stack.append(_OpenTag(tag, argument, utf16, out_pos))
    return i


def _parse_end_tag(
    src: bytes,
    begin: int,
    i: int,
    stack: list[_OpenTag],
    entities: list[dict[str, Any]],
    utf16: int,
    out: bytearray,
    user_lookup: UserLookup | None,
) -> int:
    """Parse ``</tag>`` starting at ``/``; returns the position of ``>``."""
    if not stack:
        raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
    while not _is_space(src[i]) and src[i] != _GT:
        i += 1
    end_name = src[begin + 2 : i].lower().decode("utf-8", "replace")
    while _is_space(src[i]) and src[i] != 0:
        i += 1
    if src[i] != _GT:
        raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
    tag = stack[-1]
    if end_name and end_name != tag.name:
        raise HtmlParseError(
            f'Unmatched end tag at byte offset {begin}, expected "</{tag.name}>", '
            f'found "</{end_name}>"'
        )
    if utf16 > tag.utf16_offset:
        _close_entity(tag, utf16 - tag.utf16_offset, entities, out, user_lookup)
    stack.pop()
    return i


def _close_entity(
    tag: _OpenTag,
    length: int,
    entities: list[dict[str, Any]],
    out: bytearray,
    user_lookup: UserLookup | None,
) -> None:
    offset = tag.utf16_offset
    last = entities[-1] if entities else None
    same_range = last is not None and last["offset"] == offset and last["length"] == length
    name = tag.name
    if name in _SIMPLE_TAG_TYPES:
        entities.append({"type": _SIMPLE_TAG_TYPES[name], "offset": offset, "length": length})
    elif name == "tg-emoji":
        if not re.fullmatch(r"-?\d{1,19}", tag.argument) or int(tag.argument) == 0:
            raise HtmlParseError("Invalid custom emoji identifier specified")
        entities.append(
            {
                "type": "custom_emoji",
                "offset": offset,
                "length": length,
                "custom_emoji_id": str(int(tag.argument)),
            }
        )
    elif name == "a":
        url = tag.argument or out[tag.byte_offset :].decode("utf-8", "replace")
        user_id = user_id_from_link(url)
        if user_id is not None:
            user = (user_lookup(user_id) if user_lookup else None) or {
                "id": user_id,
                "is_bot": False,
                "first_name": "",
            }
            entities.append(
                {"type": "text_mention", "offset": offset, "length": length, "user": user}
            )
        else:
            link = checked_link(url)
            if link is not None:
                entities.append(
                    {"type": "text_link", "offset": offset, "length": length, "url": link}
                )
    elif name == "pre":
        if last is not None and same_range and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
        else:
            entities.append({"type": "pre", "offset": offset, "length": length})
    elif name == "code":
        if last is not None and same_range and last["type"] == "pre" and tag.argument:
            last["language"] = tag.argument
        else:
            entity: dict[str, Any] = {"type": "code", "offset": offset, "length": length}
            if tag.argument:
                entity["language"] = tag.argument  # dropped later unless it becomes a pre
            entities.append(entity)
    elif name == "blockquote":
        kind = "expandable_blockquote" if tag.argument else "blockquote"
        entities.append({"type": kind, "offset": offset, "length": length})
    else:  # pragma: no cover - SUPPORTED_TAGS and this function must agree
        raise AssertionError(name)
