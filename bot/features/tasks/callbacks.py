"""Codes in button data: a code too long for Telegram's 64 bytes (or starting with "~") is
sent as "~" and a short hash, and resolved back among the codes it may stand for."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from bot.render import MAX_CALLBACK_BYTES


def fits(data: str) -> bool:
    return len(data.encode()) <= MAX_CALLBACK_BYTES


def ref(prefix: str, code: str) -> str:
    """`code` in callback data after `prefix`; a code too long for Telegram's 64 bytes (or one
    starting with "~") becomes "~" and a short hash, resolved by `resolve`."""
    if fits(prefix + code) and not code.startswith("~"):
        return code
    return hashed(code)


def hashed(code: str) -> str:
    return "~" + hashlib.blake2s(code.encode(), digest_size=6).hexdigest()


def resolve(arg: str, codes: Iterable[str]) -> str | None:
    """The code among `codes` that `arg` (from `ref`) stands for."""
    found = list(codes)
    if arg in found:
        return arg
    return next((c for c in found if arg.startswith("~") and hashed(c) == arg), None)
