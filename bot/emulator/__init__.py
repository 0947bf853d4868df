"""A Telegram Bot API emulator: the fake server behind the end-to-end tests and the sandbox
(see README.md)."""

from .errors import ApiError
from .html_entities import HtmlParseError, ParsedText, parse_html
from .models import Fault, Limits, RecordedError, RecordedRequest, SentFile, SentMessage
from .server import DEFAULT_TOKEN, FakeBotApi
from .text import FormattedText, format_text, utf16_len

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
