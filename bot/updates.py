"""Updates handled concurrently, one chat's updates in the order they came.

PTB's `concurrent_updates` runs every update as its own task. `PerChatUpdateProcessor` keeps
the order within a chat (a person's commands, a prompt and its answer, two presses of the same
card) and lets other chats go ahead meanwhile: a flood in one chat queues behind itself only.

PTB's own semaphore (`max_concurrent_updates`) is taken before `do_process_update` is called,
so updates waiting for their chat's turn hold a slot of it; it is therefore set high
(`queued`), and the real bound on updates being worked on at once is `workers`, taken only
once it is the chat's turn. A chat with a thousand queued updates thus holds one worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor


def order_key(update: object) -> int | None:
    """The chat whose updates must keep their order (the user's id when there is no chat)."""
    if not isinstance(update, Update):
        return None
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return None


class _Turn:
    """One chat's lock and how many updates wait for it (the entry is dropped at zero)."""

    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class PerChatUpdateProcessor(BaseUpdateProcessor):
    """Concurrent across chats, sequential within a chat (asyncio locks are first come, first
    served, and PTB starts the update tasks in the order the updates arrived)."""

    def __init__(self, workers: int = 32, queued: int = 100_000) -> None:
        super().__init__(max(queued, workers))
        self.workers = workers
        self._slots = asyncio.BoundedSemaphore(workers)
        self._turns: dict[int, _Turn] = {}

    @property
    def waiting_chats(self) -> int:
        """Chats with an update being handled or waiting (tests, benchmarks)."""
        return len(self._turns)

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        key = order_key(update)
        if key is None:
            async with self._slots:
                await coroutine
            return
        turn = self._turns.get(key)
        if turn is None:
            turn = self._turns[key] = _Turn()
        turn.users += 1
        try:
            async with turn.lock, self._slots:
                await coroutine
        finally:
            turn.users -= 1
            if turn.users == 0:
                del self._turns[key]

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release: PTB waits for the update tasks itself."""
