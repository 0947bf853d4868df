"""Validation of ``reply_markup`` (InlineKeyboardMarkup, ReplyKeyboardMarkup, ...)."""

from __future__ import annotations

import json
from typing import Any

from .errors import bad_request
from .html_entities import checked_link, user_id_from_link

MAX_CALLBACK_DATA_BYTES = 64
MAX_INLINE_BUTTONS = 100

# Fields that give an inline button its action; Telegram needs one of them.
INLINE_BUTTON_ACTIONS = (
    "url",
    "callback_data",
    "web_app",
    "login_url",
    "switch_inline_query",
    "switch_inline_query_current_chat",
    "switch_inline_query_chosen_chat",
    "copy_text",
    "callback_game",
    "pay",
)


def parse_reply_markup(value: Any) -> dict[str, Any] | None:
    """Validate a ``reply_markup`` parameter (JSON text or already decoded JSON).

    Returns the markup as a dict (reply keyboard buttons given as plain strings are turned
    into ``{"text": ...}``), or ``None`` for an empty markup.  Raises :class:`ApiError`.
    """
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            raise bad_request("can't parse reply keyboard markup JSON object") from None
    if not isinstance(value, dict):
        raise bad_request("object expected as reply markup")

    if "inline_keyboard" in value:
        return {"inline_keyboard": _parse_inline_keyboard(value["inline_keyboard"])}
    if "keyboard" in value:
        markup = dict(value)
        markup["keyboard"] = _parse_keyboard(value["keyboard"])
        return markup
    if "remove_keyboard" in value or "hide_keyboard" in value:
        return dict(value)
    if "force_reply" in value:
        return dict(value)
    return None


def is_inline_keyboard(markup: dict[str, Any] | None) -> bool:
    return markup is not None and "inline_keyboard" in markup


def _array(value: Any, name: str, kind: str) -> list[Any]:
    if not isinstance(value, list):
        raise bad_request(f'field "{name}" of the {kind} must be an Array')
    for row in value:
        if not isinstance(row, list):
            raise bad_request(f'field "{name}" of the {kind} must be an Array of Arrays')
    return value


def _parse_inline_keyboard(value: Any) -> list[list[dict[str, Any]]]:
    rows = _array(value, "inline_keyboard", "InlineKeyboardMarkup")
    if sum(len(row) for row in rows) > MAX_INLINE_BUTTONS:
        raise bad_request("reply markup is too long")
    result = []
    for row in rows:
        new_row = []
        for button in row:
            try:
                new_row.append(_parse_inline_button(button))
            except _ButtonError as exc:
                raise bad_request(f"can't parse inline keyboard button: {exc}") from None
        result.append(new_row)
    return result


class _ButtonError(Exception):
    pass


def _parse_inline_button(button: Any) -> dict[str, Any]:
    if not isinstance(button, dict):
        raise _ButtonError("InlineKeyboardButton must be an Object")
    text = button.get("text")
    if not isinstance(text, str):
        raise _ButtonError('Field "text" must be of type String')
    if not text.strip():
        raise bad_request("BUTTON_TEXT_INVALID")
    actions = [name for name in INLINE_BUTTON_ACTIONS if name in button]
    if not actions:
        raise _ButtonError("Text buttons are unallowed in the inline keyboard")
    if len(actions) > 1:
        # Telegram silently uses the first field it knows; the fake refuses such a button,
        # because it is always a bug in the bot.
        raise _ButtonError(
            f"exactly one of the optional fields must be used, got {', '.join(actions)} "
            "(fake Bot API check)"
        )
    if "callback_data" in button:
        data = button["callback_data"]
        if not isinstance(data, str):
            raise _ButtonError('Field "callback_data" must be of type String')
        if not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    if "url" in button:
        url = button["url"]
        if not isinstance(url, str):
            raise _ButtonError('Field "url" must be of type String')
        if user_id_from_link(url) is None and checked_link(url) is None:
            raise bad_request(f"inline keyboard button URL '{url}' is invalid: Wrong HTTP URL")
    return dict(button)


def _parse_keyboard(value: Any) -> list[list[dict[str, Any]]]:
    rows = _array(value, "keyboard", "ReplyKeyboardMarkup")
    result = []
    for row in rows:
        new_row = []
        for button in row:
            if isinstance(button, str):
                button = {"text": button}
            if not isinstance(button, dict) or not isinstance(button.get("text"), str):
                raise bad_request(
                    'can\'t parse keyboard button: Field "text" must be of type String'
                )
            if not button["text"].strip():
                raise bad_request("BUTTON_TEXT_INVALID")
            new_row.append(dict(button))
        result.append(new_row)
    return result


def markup_buttons(markup: dict[str, Any] | None) -> list[list[tuple[str, str]]]:
    """Buttons as ``(text, value)`` rows; value is callback_data, url or another action value."""
    if markup is None:
        return []
    if "inline_keyboard" in markup:
        rows = []
        for row in markup["inline_keyboard"]:
            new_row = []
            for button in row:
                value: Any = ""
                for name in INLINE_BUTTON_ACTIONS:
                    if name in button:
                        value = button[name]
                        break
                new_row.append(
                    (button["text"], value if isinstance(value, str) else json.dumps(value))
                )
            rows.append(new_row)
        return rows
    if "keyboard" in markup:
        return [[(button["text"], "") for button in row] for row in markup["keyboard"]]
    return []
