"""Telegram-like flood control for the bot's outgoing messages."""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from .models import Limits


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """Three limits checked together; a call passes only if all of them allow it.

    * global: ``global_per_second`` calls per sliding ``global_window``;
    * private chats: token bucket per chat (``private_burst``, ``private_per_second``);
    * groups/supergroups: ``group_per_minute`` calls per sliding ``group_window`` per chat.

    Rejected calls are not counted.
    """

    def __init__(self, limits: Limits, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        scale = limits.time_scale
        self._clock = clock if scale == 1 else (lambda: clock() * scale)
        self._global: deque[float] = deque()
        self._groups: dict[int, deque[float]] = {}
        self._private: dict[int, _Bucket] = {}

    def acquire(self, chat_id: int, is_private: bool) -> int | None:
        """Count one message to ``chat_id``; return ``retry_after`` seconds if over a limit."""
        limits = self.limits
        if not limits.enabled:
            return None
        now = self._clock()
        waits: list[float] = []

        _expire(self._global, now - limits.global_window)
        if len(self._global) >= limits.global_per_second:
            waits.append(self._global[0] + limits.global_window - now)

        bucket: _Bucket | None = None
        window: deque[float] | None = None
        if is_private:
            bucket = self._private.get(chat_id)
            if bucket is None:
                bucket = self._private[chat_id] = _Bucket(float(limits.private_burst), now)
            elapsed = now - bucket.updated
            bucket.tokens = min(
                float(limits.private_burst), bucket.tokens + elapsed * limits.private_per_second
            )
            bucket.updated = now
            if bucket.tokens < 1:
                waits.append((1 - bucket.tokens) / limits.private_per_second)
        else:
            window = self._groups.setdefault(chat_id, deque())
            _expire(window, now - limits.group_window)
            if len(window) >= limits.group_per_minute:
                waits.append(window[0] + limits.group_window - now)

        if waits:
            return max(1, math.ceil(max(waits) / limits.time_scale))
        self._global.append(now)
        if bucket is not None:
            bucket.tokens -= 1
        if window is not None:
            window.append(now)
        return None


def _expire(window: deque[float], cutoff: float) -> None:
    while window and window[0] <= cutoff:
        window.popleft()
