"""Errors the fake answers with, in the shape the real Bot API uses.

Every failure leaves the server as ``{"ok": false, "error_code": N, "description": "...",
"parameters": {...}}``; handlers signal one by raising :class:`ApiError`.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A non-ok Bot API answer (HTTP status == ``error_code``)."""

    def __init__(
        self, status: int, description: str, parameters: dict[str, Any] | None = None
    ) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def bad_request(reason: str, parameters: dict[str, Any] | None = None) -> ApiError:
    """400 ``Bad Request: <reason>`` (PTB raises ``telegram.error.BadRequest``)."""
    return ApiError(400, f"Bad Request: {reason}", parameters)


def forbidden(reason: str) -> ApiError:
    """403 ``Forbidden: <reason>`` (PTB raises ``telegram.error.Forbidden``)."""
    return ApiError(403, f"Forbidden: {reason}")


def too_many_requests(retry_after: int) -> ApiError:
    """429 with ``parameters.retry_after`` (PTB raises ``telegram.error.RetryAfter``)."""
    return ApiError(
        429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after}
    )


def chat_migrated(new_chat_id: int) -> ApiError:
    """400 with ``parameters.migrate_to_chat_id`` (PTB raises ``telegram.error.ChatMigrated``)."""
    return bad_request(
        "group chat was upgraded to a supergroup chat", {"migrate_to_chat_id": new_chat_id}
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized")


def not_found() -> ApiError:
    return ApiError(404, "Not Found")


def not_implemented(method: str) -> ApiError:
    """A real Bot API method the fake does not implement (PTB raises ``NetworkError``)."""
    return ApiError(501, f"Not Implemented: the fake Bot API does not implement {method}")


def conflict(reason: str) -> ApiError:
    return ApiError(409, f"Conflict: {reason}")


def entity_too_large() -> ApiError:
    return ApiError(413, "Request Entity Too Large")
