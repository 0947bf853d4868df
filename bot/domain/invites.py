"""Onboarding codes: single-use, expiring, carried by a /start deep link. Pure rules."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

# Deep-link payloads allow A-Z, a-z, 0-9, _ and - up to 64 characters.
_CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class CodeState(StrEnum):
    VALID = "valid"
    USED = "used"
    EXPIRED = "expired"
    REVOKED = "revoked"  # replaced by a reissued link
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Invite:
    code: str
    role: str
    department_code: str | None
    inspector_id: int | None
    created_by: int
    expires_at: datetime
    used_at: datetime | None
    used_by: int | None
    revoked_at: datetime | None = None
    replaces_liaisons: bool = False  # a liaison link that replaces the department's liaisons


# /start payloads that are not invitation codes (an enterprise's verification link, v_<token>):
# a code never starts with one, or about one code in 4,096 would open the wrong flow.
OTHER_START_PREFIXES = ("v_",)


def new_code() -> str:
    """A 16-character url-safe random code (96 bits), never with another /start prefix."""
    while True:
        code = secrets.token_urlsafe(12)
        if not code.startswith(OTHER_START_PREFIXES):
            return code


def looks_like_code(text: str) -> bool:
    return bool(_CODE_RE.match(text))


def expiry(now: datetime, ttl_days: int) -> datetime:
    return now + timedelta(days=ttl_days)


def state_of(invite: Invite | None, now: datetime) -> CodeState:
    if invite is None:
        return CodeState.UNKNOWN
    if invite.used_at is not None:
        return CodeState.USED
    if invite.revoked_at is not None:
        return CodeState.REVOKED
    if now >= invite.expires_at:
        return CodeState.EXPIRED
    return CodeState.VALID


def deep_link(bot_username: str, code: str) -> str:
    return f"https://t.me/{bot_username}?start={code}"
