"""Direct replies that would have to wait go through the outbox: no handler sleeps on a 429.

A reply to a person's own command or button is sent directly, at once, unless it would have to
wait: its chat is paused after a 429, or its turn is more than `[outbox] divert_after_seconds`
away (bot.domain.pacing). Then it is *diverted*: written to the outbox at priority REPLY, which
the sender delivers before the notices and broadcasts queued for that chat, diverted replies in
their own order. While a chat has diverted replies waiting, later replies to it are diverted too,
so a person's replies never overtake each other. A call that meets a 429 is diverted the same
way (the rest of a long reply with it).

What the callers get back instead of the sent Message is `Queued(outbox_id)`. The ones that
keep a message id keep the outbox id instead and read the message id once it was sent:
a prompt (bot.conversation) is armed when its question is delivered; a result's "saved"
message is linked to its result (store.results.link_outbox). An edit of a pressed card that
must wait is queued as one pending edit of that message (the latest text wins: repeated
presses coalesce, bot.store.outbox.replace_pending_edit).

answerCallbackQuery is not paced (bot.outbox) and never diverted; files and photos sent
directly (exports, charts) keep the paced limiter's wait (rare: one per command asked), after
the chat's diverted replies have left, so they do not overtake them.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from bot.db import Database
from bot.domain.pacing import Pacer
from bot.render import Rendered
from bot.store import outbox as store

# rate_limit_args of a direct call whose caller diverts it to the outbox when it would wait:
# the limiter raises MustWait instead of sleeping, and a 429 is raised at once, never retried.
DIVERTIBLE = "divertible"


class MustWait(Exception):
    """Raised by the rate limiter for a DIVERTIBLE call that would wait `seconds`."""

    def __init__(self, chat_id: int, seconds: float) -> None:
        super().__init__(f"a reply to {chat_id} would wait {seconds:.1f} s")
        self.chat_id = chat_id
        self.seconds = seconds


@dataclass(frozen=True)
class Queued:
    """A reply that went to the outbox instead of being sent: the row of its last part."""

    outbox_id: int


class Replies:
    """Decides whether a direct reply is diverted and writes diverted ones to the outbox."""

    def __init__(self, db: Database, pacer: Pacer, divert_after: float) -> None:
        self.db = db
        self.pacer = pacer
        self.divert_after = divert_after
        self.diverted = 0  # replies and edits diverted since start (tests, benchmarks)

    def would_wait(self, chat_id: int) -> float | None:
        """The wait a direct reply to `chat_id` would have now, if it is too long to wait."""
        wait = self.pacer.direct_wait(chat_id, asyncio.get_running_loop().time())
        return wait if wait > self.divert_after else None

    async def must_queue(self, chat_id: int) -> bool:
        """Diverted replies to the chat are still waiting: this one queues behind them."""
        return await store.diverted_pending(self.db, chat_id)

    async def drained(self, chat_id: int, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait until the chat's diverted replies have left (at most `timeout` seconds): a file
        or photo sent directly (not diverted) must not overtake the replies before it."""
        step = 0.05
        for _ in range(max(1, round(timeout / step))):
            if not await self.must_queue(chat_id):
                return
            await asyncio.sleep(step)

    async def divert(
        self, chat_id: int, parts: list[Rendered], *, file: tuple[bytes, str, str] | None = None
    ) -> Queued:
        """Queue the parts of a reply (each at most one message) in one transaction; `file`
        (data, file name, caption) goes first, for a text too long to send as messages."""
        last = 0
        async with self.db.transaction() as conn:
            if file is not None:
                data, file_name, caption = file
                last = await store.enqueue_document(
                    conn,
                    chat_id,
                    data=data,
                    file_name=file_name,
                    caption=caption,
                    priority=store.REPLY,
                )
            for part in parts:
                last = await store.enqueue(conn, chat_id, part, priority=store.REPLY)
        self.diverted += 1
        return Queued(last)

    async def divert_edit(self, chat_id: int, message_id: int, rendered: Rendered) -> Queued:
        """Queue an edit of a message in the chat; a pending edit of it is rewritten instead."""
        async with self.db.transaction() as conn:
            of = await store.adopt(conn, chat_id, message_id)
            row = await store.replace_pending_edit(conn, of, rendered, priority=store.REPLY)
        self.diverted += 1
        return Queued(row)
