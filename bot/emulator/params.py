"""Reading Bot API parameters from a request.

The Bot API takes parameters from the query string, from ``application/x-www-form-urlencoded``
or ``multipart/form-data`` bodies and from JSON bodies.  In the form encodings every value is a
string; python-telegram-bot sends ``str`` values as they are and JSON-encodes everything else
(ints, bools, lists, dicts), so the type of a field is only known per method, which is why the
accessors below are typed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from .errors import bad_request

# Fields that are always strings, even when they look like numbers or JSON.
STRING_FIELDS = frozenset(
    {
        "text",
        "caption",
        "callback_query_id",
        "inline_message_id",
        "file_id",
        "file_unique_id",
        "custom_emoji_id",
        "url",
        "description",
        "short_description",
        "name",
        "title",
        "parse_mode",
        "action",
        "language_code",
        "secret_token",
        "query",
        "data",
    }
)
# Fields that carry JSON objects/arrays.
JSON_FIELDS = frozenset(
    {
        "reply_markup",
        "entities",
        "caption_entities",
        "allowed_updates",
        "commands",
        "scope",
        "reply_parameters",
        "link_preview_options",
        "media",
        "permissions",
        "message_ids",
    }
)
_INT = re.compile(r"-?\d+")


@dataclass(frozen=True)
class UploadedFile:
    """A file part of a multipart request."""

    field: str
    file_name: str
    content: bytes
    mime_type: str


class Params:
    """The parameters of one API call, with typed accessors raising 400 errors."""

    def __init__(self, values: dict[str, Any], files: dict[str, UploadedFile] | None = None):
        self.values = values
        self.files = files or {}

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        values: dict[str, Any] = dict(request.query)
        files: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.body_exists:
            if request.content_type == "application/json":
                try:
                    body = await request.json()
                except ValueError:
                    raise bad_request("can't parse JSON encoded request") from None
                if not isinstance(body, dict):
                    raise bad_request("JSON object expected as request body")
                values.update(body)
            else:
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        files[key] = UploadedFile(
                            field=key,
                            file_name=value.filename,
                            content=value.file.read(),
                            mime_type=value.content_type,
                        )
                    else:
                        values[key] = value
        return cls(values, files)

    # -- presence -------------------------------------------------------------------------
    def has(self, name: str) -> bool:
        return name in self.files or self.values.get(name) not in (None, "")

    def raw(self, name: str) -> Any:
        return self.values.get(name)

    # -- typed accessors ------------------------------------------------------------------
    def get_str(self, name: str, default: str | None = None) -> str | None:
        value = self.values.get(name)
        if value is None:
            return default
        if isinstance(value, str):
            return value
        return json.dumps(value) if isinstance(value, dict | list) else str(value)

    def require_str(self, name: str) -> str:
        value = self.get_str(name)
        if not value:
            raise bad_request(f'parameter "{name}" is required')
        return value

    def get_int(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.fullmatch(value.strip()):
            return int(value.strip())
        raise bad_request(f"invalid {name} specified")

    def require_int(self, name: str, missing: str | None = None) -> int:
        value = self.get_int(name)
        if value is None:
            raise bad_request(missing or f'parameter "{name}" is required')
        return value

    def get_float(self, name: str, default: float | None = None) -> float | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"invalid {name} specified") from None

    def get_bool(self, name: str, default: bool = False) -> bool:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, int):
            return value != 0
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise bad_request(f"invalid {name} specified")

    def get_json(self, name: str) -> Any:
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise bad_request(f"can't parse {name} JSON object") from None
        return value

    def get_file(self, name: str) -> UploadedFile | str | None:
        """An uploaded file (directly or via ``attach://``), or a file_id/URL string."""
        if name in self.files:
            return self.files[name]
        value = self.get_str(name)
        if not value:
            return None
        if value.startswith("attach://"):
            attached = self.files.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file attached via {value} is not found in the request")
            return attached
        return value

    # -- recording --------------------------------------------------------------------------
    def recorded(self) -> dict[str, Any]:
        """The parameters decoded for :class:`RecordedRequest` (best effort, never fails)."""
        result: dict[str, Any] = {}
        for key, value in self.values.items():
            result[key] = _decode_for_record(key, value)
        for key, upload in self.files.items():
            result[key] = {
                "file_name": upload.file_name,
                "mime_type": upload.mime_type,
                "size": len(upload.content),
            }
        return result


def _decode_for_record(key: str, value: Any) -> Any:
    if not isinstance(value, str) or key in STRING_FIELDS:
        return value
    if key in JSON_FIELDS:
        try:
            return json.loads(value)
        except ValueError:
            return value
    if _INT.fullmatch(value):
        return int(value)
    if value in ("true", "false"):
        return value == "true"
    return value
