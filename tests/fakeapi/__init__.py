"""The fake Telegram Bot API now lives in :mod:`bot.emulator` (the sandbox uses it too).

This package stays as a thin re-export so tests keep writing ``from tests.fakeapi import ...``;
its submodules (``tests.fakeapi.html_entities`` …) are the emulator's own module objects.
"""

import importlib
import sys

from bot.emulator import (
    DEFAULT_TOKEN,
    ApiError,
    FakeBotApi,
    Fault,
    FormattedText,
    HtmlParseError,
    Limits,
    ParsedText,
    RecordedError,
    RecordedRequest,
    SentFile,
    SentMessage,
    format_text,
    parse_html,
    utf16_len,
)

for _name in (
    "errors",
    "html_entities",
    "markup",
    "methods",
    "models",
    "params",
    "ratelimit",
    "server",
    "text",
    "world",
):
    sys.modules[f"{__name__}.{_name}"] = importlib.import_module(f"bot.emulator.{_name}")

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "FakeBotApi",
    "Fault",
    "FormattedText",
    "HtmlParseError",
    "Limits",
    "ParsedText",
    "RecordedError",
    "RecordedRequest",
    "SentFile",
    "SentMessage",
    "format_text",
    "parse_html",
    "utf16_len",
]
