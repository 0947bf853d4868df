"""The sender: delivers the outbox at Telegram's pace, and the rate limiter direct replies use.

Both share one `Pacer` (bot.domain.pacing), so outbox messages and direct replies together stay
under Telegram's limits. The sender:

* picks the first due message of each chat (so a chat's messages keep their order), as fast as
  the overall bucket and each chat's bucket allow, with up to `max_in_flight` calls at once;
* claims the rows it sends: "sending", in this instance's name (`claimed_by`) until a claim
  expiry, committed before the Telegram call, and "sent" with the message id after, never
  holding a transaction across the call. The claim takes each row's send slot from the shared
  pacing ledger in the database (bot.domain.ledger) in the same transaction, so several
  instances draining one outbox keep the per-bot and per-chat pace together and never send one
  row twice. Rows this instance left "sending" (a crash) go out again at its next start, and
  rows whose claim ran out (another instance died) are taken over: the only possible duplicates;
* on 429 pauses what it concerns for `retry_after`; marks chats that blocked the bot or are gone
  unreachable; follows a group that became a supergroup; records a rejected message (400) with
  Telegram's reason (bot.domain.delivery);
* rides out outages: a 5xx, timeout or network error opens a circuit breaker
  (bot.domain.breaker) that stops all sending, then sends one probe message at a time with
  exponential backoff until Telegram answers again. The messages wait in the queue; one is given
  up (Reason.NETWORK) only when it has waited `retry_budget_seconds` (default 24 h) since its
  first failed try or since the outage began holding it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from telegram import Bot, InputFile, LinkPreviewOptions, Message
from telegram.constants import ParseMode
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.ext import BaseRateLimiter, ExtBot

from bot import clock
from bot.config import OutboxTunables
from bot.db import Database
from bot.domain.breaker import BreakerState, CircuitBreaker, Verdict
from bot.domain.delivery import Action, Failure, FailureKind, Reason, decide
from bot.domain.pacing import Pacer, is_group
from bot.features.common import markup
from bot.replies import DIVERTIBLE, MustWait, Replies
from bot.store import chats
from bot.store import outbox as store
from bot.store.outbox import OutboxRow

log = logging.getLogger(__name__)

# rate_limit_args the sender passes: it has paced the call itself and handles 429s itself.
PREPACED = "outbox"
_NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
_FETCH = 64  # due messages read per query
# A claim takes the slots that open within this long (about 14 messages at 28/s), and the next
# claim comes while 60 % of that is still ahead: a claim held up by a busy machine leaves no gap.
CLAIM_AHEAD_SECONDS = 0.5
# How often a sender looks for rows whose claim ran out (their instance died).
TAKEOVER_EVERY_SECONDS = 2.0
# A message whose process woke later than this (and than one overall interval) for its slot takes
# a new one (bot.store.outbox.reslot): sent in the old one it would crowd the next second.
LATE_SECONDS = 0.02
# PTB turns HTTP errors it has no class for into NetworkError("<description> (<code>)"); a 4xx
# among them (413 too large …) is about the message, not an outage.
_CLIENT_ERROR = re.compile(r"\((4\d\d)\)$")


def retry_after_seconds(exc: RetryAfter) -> float:
    value: Any = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _paced(endpoint: str) -> bool:
    """Methods Telegram counts against the flood limits: sending and editing messages."""
    name = endpoint.lower()
    if name == "sendchataction":
        return False
    return name.startswith(("send", "edit", "copymessage", "forwardmessage"))


class PacedRateLimiter(BaseRateLimiter[str]):
    """PTB rate limiter for everything the bot sends directly (replies to a user's own action).

    Takes its turn from the same `Pacer` as the outbox sender: one overall pace, and one pace
    per chat shared with the outbox, direct replies first. In a private chat a reply waits for
    the chat's token like any message (so a person typing a command a second while notices and
    broadcasts come in gets no 429), and queued outbox messages to that chat leave a token spare
    while the person is active (`Pacer.chat_wait`), so the reply rarely has to wait. In groups a
    reply keeps only the overall pace (people's own clicks set it; Telegram allows bursts there)
    but takes the group's token, so queued messages wait behind it.
    If a chat is still pushed past Telegram's limit, the 429 pauses only that chat (everything if
    several chats are refused at once). The outbox sender's own calls pass
    `rate_limit_args=PREPACED` and go straight through.

    Replies pass `rate_limit_args=DIVERTIBLE` (bot.replies): such a call never sleeps longer than
    `divert_after` seconds; when it would, `MustWait` is raised before anything is reserved, and
    a 429 is raised at once: the caller diverts the reply to the outbox. Other direct calls (a
    file a person asked for) wait their turn and, after a 429, are retried up to `max_retries`
    times, as PTB's AIORateLimiter would.
    """

    def __init__(self, pacer: Pacer, max_retries: int = 3, divert_after: float = 0.5) -> None:
        self.pacer = pacer
        self.max_retries = max_retries
        self.divert_after = divert_after
        self.replies: Replies | None = (
            None  # set by bot.app: direct files wait for diverted replies
        )

    async def initialize(self) -> None:
        """Nothing to set up."""

    async def shutdown(self) -> None:
        """Nothing to release."""

    async def process_request(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        data: dict[str, Any],
        rate_limit_args: str | None,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        chat_id: int | None = None
        with contextlib.suppress(TypeError, ValueError):
            chat_id = int(data["chat_id"]) if data.get("chat_id") is not None else None
        if rate_limit_args == PREPACED or chat_id is None or not _paced(endpoint):
            return await callback(*args, **kwargs)
        loop = asyncio.get_running_loop()
        if rate_limit_args == DIVERTIBLE:
            return await self._divertible(callback, args, kwargs, endpoint, chat_id, loop)
        if self.replies is not None:  # a file or photo: after the replies diverted before it
            await self.replies.drained(chat_id)
        for attempt in range(self.max_retries + 1):
            delay = self.pacer.take(
                chat_id, loop.time(), chat_pace=not is_group(chat_id), direct=True
            )
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                seconds = retry_after_seconds(exc)
                self.pacer.retry_after(chat_id, seconds, loop.time())
                if attempt == self.max_retries:
                    raise
                log.info("429 on %s to %s: waiting %.0f s", endpoint, chat_id, seconds)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _divertible(
        self,
        callback: Callable[..., Coroutine[Any, Any, bool | dict[str, Any] | list[dict[str, Any]]]],
        args: Any,
        kwargs: dict[str, Any],
        endpoint: str,
        chat_id: int,
        loop: asyncio.AbstractEventLoop,
    ) -> bool | dict[str, Any] | list[dict[str, Any]]:
        """A reply whose caller diverts it: no long wait, no retry (see the class)."""
        wait = self.pacer.direct_wait(chat_id, loop.time())
        if wait > self.divert_after:
            raise MustWait(chat_id, wait)
        delay = self.pacer.take(chat_id, loop.time(), chat_pace=not is_group(chat_id), direct=True)
        if delay > 0:
            await asyncio.sleep(delay)
        try:
            return await callback(*args, **kwargs)
        except RetryAfter as exc:
            seconds = retry_after_seconds(exc)
            self.pacer.retry_after(chat_id, seconds, loop.time())
            log.info("429 on %s to %s: the reply goes through the outbox", endpoint, chat_id)
            raise


@dataclass
class SenderStats:
    sent: int = 0
    failed: int = 0
    unreachable: int = 0
    retried: int = 0
    rate_limited: int = 0  # 429 answers
    claimed: int = 0  # rows this instance claimed
    taken_over: int = 0  # rows whose claim ran out (their instance died), put back in the queue
    reslotted: int = 0  # sends that woke too late for their slot and took a new one
    migrated: int = 0
    recovered: int = 0  # rows found "sending" at start-up
    outages: int = 0  # times the breaker opened
    probes: int = 0  # probe messages sent while it was open
    outage_failures: int = 0  # calls that failed as if Telegram were down (5xx, timeout, network)
    given_up: int = 0  # messages failed because their retry budget ran out


class _Skip(Exception):
    """A message that cannot be sent for a reason of ours (e.g. the message to edit never left)."""

    def __init__(self, reason: Reason, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def _failure(exc: TelegramError) -> Failure:
    if isinstance(exc, RetryAfter):
        return Failure(FailureKind.RETRY_AFTER, str(exc), retry_after=retry_after_seconds(exc))
    if isinstance(exc, ChatMigrated):
        return Failure(FailureKind.MIGRATED, str(exc), new_chat_id=exc.new_chat_id)
    if isinstance(exc, Forbidden):
        return Failure(FailureKind.FORBIDDEN, exc.message)
    if isinstance(exc, BadRequest):  # a subclass of NetworkError: test it first
        return Failure(FailureKind.BAD_REQUEST, exc.message)
    if isinstance(exc, TimedOut):
        return Failure(FailureKind.TIMEOUT, exc.message)
    if isinstance(exc, NetworkError):
        if _CLIENT_ERROR.search(exc.message):
            return Failure(FailureKind.OTHER, exc.message)
        return Failure(FailureKind.NETWORK, exc.message)
    return Failure(FailureKind.OTHER, exc.message)


class Sender:
    """Delivers the outbox. `start()` in post_init, `stop()` in post_stop."""

    def __init__(
        self,
        bot: Bot,
        db: Database,
        pacer: Pacer,
        tunables: OutboxTunables,
        *,
        instance: str = "local",
        claim_seconds: float = 60.0,
    ) -> None:
        self.bot = bot
        self.db = db
        self.pacer = pacer
        self.tunables = tunables
        # Several instances may drain one outbox: rows are claimed in this instance's name for
        # `claim_seconds` (longer than any one Telegram call), and send slots come from the
        # shared ledger (bot.domain.ledger) in the same transaction.
        self.instance = instance
        self.claim_seconds = claim_seconds
        self._last_takeover = float("-inf")
        self._direct_counted = 0  # direct replies already added to the shared ledger
        # Group commit of "sent": what finishes while one commit runs goes in the next one.
        self._to_confirm: list[
            tuple[int, int | None, tuple[int, str] | None, asyncio.Future[None]]
        ] = []
        self._confirmer: asyncio.Task[None] | None = None
        self._claiming = False  # rows being claimed: "sending", not yet in `_in_flight`
        self.policy = tunables.retry()
        self.breaker = CircuitBreaker(
            base_seconds=tunables.backoff_seconds, max_seconds=tunables.backoff_max_seconds
        )
        self._last_sweep = float("-inf")
        self.stats = SenderStats()
        self._event = asyncio.Event()
        self._in_flight: dict[int, int] = {}  # chat id -> outbox id being sent
        self._held: dict[int, float] = {}  # chat id -> loop time it may receive again
        self._tasks: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._watchers: set[Callable[[], None]] = set()

    # -- lifecycle ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self.stats.recovered = await store.recover_in_flight(self.db, self.instance, time.time())
        if self.stats.recovered:
            log.warning(
                "%d outbox message(s) were being sent when the bot last stopped; sending them"
                " again (each may arrive twice)",
                self.stats.recovered,
            )
        store.add_listener(self.wake)
        self._task = asyncio.create_task(self._run(), name="outbox-sender")

    async def stop(self) -> None:
        """Take no new work; give calls in flight `shutdown_seconds` to finish, then park them
        (they stay "sending" and go out again at the next start)."""
        if self._task is None:
            return
        self._stopping = True
        store.remove_listener(self.wake)
        self.wake()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._tasks:
            _, pending = await asyncio.wait(
                set(self._tasks), timeout=self.tunables.shutdown_seconds
            )
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
                log.warning("parked %d outbox message(s) still in flight at shutdown", len(pending))
        if self._confirmer is not None:  # what Telegram accepted is recorded before we stop
            await asyncio.gather(self._confirmer, return_exceptions=True)

    def wake(self) -> None:
        self._event.set()

    def watch(self, callback: Callable[[], None]) -> None:
        """Call `callback` after each message the sender finishes with (sent or not)."""
        self._watchers.add(callback)

    def unwatch(self, callback: Callable[[], None]) -> None:
        self._watchers.discard(callback)

    async def idle(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """Wait until nothing due is left to send (tests, benchmarks)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            # Read the queue first: a claim in progress has rows "sending" that are not in
            # flight yet, and one that ended meanwhile has put them in flight.
            heads = await store.due_heads(self.db, (), 1)
            if not heads and not self._claiming and not self._in_flight:
                return
            if loop.time() > deadline:
                raise TimeoutError("the outbox did not drain in time")
            await asyncio.sleep(0.02)

    # -- the dispatch loop ----------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._stopping:
            self._event.clear()
            try:
                delay = await self._dispatch(loop)
            except Exception:
                log.exception("outbox dispatch failed; trying again shortly")
                delay = self.tunables.poll_seconds
            if self._stopping:
                break
            if delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._event.wait(), delay)

    async def _dispatch(self, loop: asyncio.AbstractEventLoop) -> float:
        """Start what may be sent now; return how long to wait before looking again."""
        poll = self.tunables.poll_seconds
        if len(self._in_flight) >= self.tunables.max_in_flight:
            return poll  # a finishing send wakes the loop
        now = loop.time()
        if self.breaker.state is not BreakerState.CLOSED:
            return await self._while_down(loop)
        # Claim the next slots a little before the last ones claimed are used, so the claim's
        # own transaction never leaves a gap in the pace.
        wait = self.pacer.overall_wait(now) - CLAIM_AHEAD_SECONDS * 0.6
        if wait > 0:
            return wait
        await self._take_over(now)
        self._held = {chat: until for chat, until in self._held.items() if until > now}
        rows = await store.due_heads(self.db, {*self._in_flight, *self._held}, _FETCH)
        wanted: list[OutboxRow] = []
        room = self.tunables.max_in_flight - len(self._in_flight)
        for row in rows:
            if self._stopping:
                break
            direct = row.priority > store.NORMAL  # a diverted reply: no spare token kept
            chat_wait = self.pacer.chat_wait(row.chat_id, now, direct=direct)
            if chat_wait > 0:
                self._held[row.chat_id] = now + chat_wait
                continue
            if len(wanted) < room:
                wanted.append(row)
        if wanted:
            claimed = await self._claim(wanted, loop)
            if claimed.rows:
                return 0.0
            if claimed.retry_at is not None:
                return max(min(claimed.retry_at - time.time(), self.tunables.poll_seconds), 0.001)
        now = loop.time()
        soonest = min(self._held.values(), default=now + poll)
        return max(min(soonest - now, poll), 0.001)

    async def _claim(self, rows: list[OutboxRow], loop: asyncio.AbstractEventLoop) -> store.Claimed:
        """Claim `rows` in this instance's name with their slots from the shared ledger, and
        launch each at its time; chats the ledger holds back wait locally too."""
        spent = self.pacer.direct_taken - self._direct_counted
        self._claiming = True
        try:
            claimed = await store.claim(
                self.db,
                [r.id for r in rows],
                instance=self.instance,
                lease_seconds=self.claim_seconds,
                limits=self.pacer.limits,
                ahead=CLAIM_AHEAD_SECONDS,
                spent=spent,
            )
        finally:
            self._claiming = False
        self._direct_counted += spent
        wall, now = time.time(), loop.time()
        for chat, until in claimed.held.items():
            self._held[chat] = max(self._held.get(chat, 0.0), now + (until - wall))
        for row, leave in claimed.rows:
            self.stats.claimed += 1
            direct = row.priority > store.NORMAL  # a diverted reply: the person is active
            local = self.pacer.take(row.chat_id, now, direct=direct)
            if direct:  # its slot came from the ledger with this claim: not spent again
                self._direct_counted += 1
            self._launch(row, delay=max(local, leave - wall))
        return claimed

    async def _take_over(self, now: float) -> None:
        """Now and then: rows another instance claimed and never finished (it died) go back to
        the queue once their claim has run out."""
        if now - self._last_takeover < TAKEOVER_EVERY_SECONDS:
            return
        self._last_takeover = now
        taken = await store.take_over_expired(self.db, time.time())
        if taken:
            self.stats.taken_over += taken
            log.warning(
                "outbox: %d message(s) claimed by an instance that stopped answering go out"
                " again (each may arrive twice)",
                taken,
            )

    async def _while_down(self, loop: asyncio.AbstractEventLoop) -> float:
        """The breaker is open: give up what has run out of budget, and send the probe when due."""
        poll = self.tunables.poll_seconds
        now = loop.time()
        if now - self._last_sweep >= poll:
            self._last_sweep = now
            await self._sweep()
        gate = self.breaker.gate(now)
        if gate.verdict is Verdict.WAIT:
            return min(gate.wait if gate.wait is not None else poll, poll)
        wait = self.pacer.overall_wait(now)
        if wait > 0:
            return wait
        self._held = {chat: until for chat, until in self._held.items() if until > now}
        rows = [
            r
            for r in await store.due_heads(self.db, {*self._in_flight, *self._held}, _FETCH)
            if self.pacer.chat_wait(r.chat_id, now) <= 0
        ]
        if not rows:
            return poll
        # A text that has failed least: a big upload or one unlucky message must not be the
        # only thing ever tried.
        probe = min(rows, key=lambda r: (r.kind != "text", r.attempts, r.id))
        self._claiming = True
        try:
            claimed = await store.claim(
                self.db,
                [probe.id],
                instance=self.instance,
                lease_seconds=self.claim_seconds,
                limits=self.pacer.limits,
                ahead=CLAIM_AHEAD_SECONDS,
            )
        finally:
            self._claiming = False
        if not claimed.rows:
            return poll
        wall, now = time.time(), loop.time()
        row, leave = claimed.rows[0]
        self.breaker.probing(now)
        self.stats.probes += 1
        self.stats.claimed += 1
        local = self.pacer.take(row.chat_id, now)
        log.info("outbox: probing Telegram with message %s", row.id)
        self._launch(row, probe=True, delay=max(local, leave - wall))
        return poll

    async def _sweep(self) -> None:
        """While Telegram is down: start the waiting messages' retry clocks, and give up those
        whose budget ran out."""
        await store.hold_for_outage(self.db)
        given_up = await store.give_up_overdue(
            self.db,
            self.policy.budget_seconds,
            f"Telegram unreachable for longer than {self.policy.budget_seconds:.0f} s",
        )
        if given_up:
            self.stats.failed += len(given_up)
            self.stats.given_up += len(given_up)
            log.warning(
                "outbox: %d message(s) gave up after their retry budget of %.0f s",
                len(given_up),
                self.policy.budget_seconds,
            )
            for callback in list(self._watchers):
                callback()

    async def _confirm(
        self, row_id: int, message_id: int | None, blob_file: tuple[int, str] | None
    ) -> None:
        """Record a message as sent, together with the others that finish meanwhile (one
        transaction for several: fewer writes competing for the database)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._to_confirm.append((row_id, message_id, blob_file, done))
        if self._confirmer is None or self._confirmer.done():
            self._confirmer = asyncio.create_task(self._confirm_all(), name="outbox-confirm")
        await asyncio.shield(done)

    async def _confirm_all(self) -> None:
        while self._to_confirm:
            batch, self._to_confirm = self._to_confirm, []
            try:
                await store.mark_sent_many(self.db, [(r, m, b) for r, m, b, _ in batch])
            except Exception as exc:
                for *_, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for *_, done in batch:
                    if not done.done():
                        done.set_result(None)

    def _launch(self, row: OutboxRow, *, probe: bool = False, delay: float = 0.0) -> None:
        self._in_flight[row.chat_id] = row.id
        task = asyncio.create_task(
            self._deliver(row, probe=probe, delay=delay), name=f"outbox-{row.id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- one message ----------------------------------------------------------------------

    async def _deliver(self, row: OutboxRow, *, probe: bool = False, delay: float = 0.0) -> None:
        """Send one claimed row (already 'sending', as it read when claimed) at its slot."""
        try:
            if delay > 0:
                leave = time.time() + delay
                await asyncio.sleep(delay)
                late = max(LATE_SECONDS, 1.0 / self.pacer.limits.overall_per_second)
                if time.time() - leave > late:
                    self.stats.reslotted += 1
                    await asyncio.sleep(
                        max(await store.reslot(self.db, self.pacer.limits) - time.time(), 0)
                    )
            try:
                message_id, blob_file = await self._call(row)
            except TelegramError as exc:
                await self._failed(row, exc, probe=probe)
            except _Skip as skip:
                await store.mark_failed(self.db, row.id, skip.reason, str(skip))
                self.stats.failed += 1
            except Exception as exc:
                log.exception("outbox message %s could not be sent", row.id)
                await store.mark_failed(self.db, row.id, Reason.ERROR, repr(exc))
                self.stats.failed += 1
            else:
                self._reachable()
                await self._confirm(row.id, message_id, blob_file)
                self.stats.sent += 1
        except Exception:
            # The database failed us. Put the row back in the queue if we can, so this chat is
            # not blocked until a restart; at worst the message goes out twice.
            log.exception("outbox bookkeeping for message %s failed", row.id)
            try:
                await store.mark_retry(self.db, row.id, counts=False, detail="bookkeeping failed")
            except Exception:
                log.exception("outbox message %s stays 'sending' until the next start", row.id)
            self._held[row.chat_id] = asyncio.get_running_loop().time() + self.tunables.poll_seconds
        finally:
            if probe:  # no answer from Telegram came back (cancelled, our own error): probe again
                self.breaker.released(asyncio.get_running_loop().time())
            self._in_flight.pop(row.chat_id, None)
            self.wake()
            for callback in list(self._watchers):
                callback()

    def _limits(self) -> dict[str, Any]:
        extra: dict[str, Any] = {"read_timeout": self.tunables.timeout_seconds}
        if isinstance(self.bot, ExtBot) and self.bot.rate_limiter is not None:
            extra["rate_limit_args"] = PREPACED
        return extra

    async def _call(self, row: OutboxRow) -> tuple[int | None, tuple[int, str] | None]:
        """One Telegram call; returns the message id and, after an upload, (blob id, file id)."""
        keyboard = markup(row.keyboard)
        extra = self._limits()
        if row.kind == "text":
            message = await self.bot.send_message(
                row.chat_id,
                row.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=_NO_PREVIEW,
                reply_markup=keyboard,
                **extra,
            )
            return message.message_id, None
        if row.kind == "document":
            return await self._send_document(row, keyboard, extra)
        return await self._edit(row, keyboard, extra), None

    async def _send_document(
        self, row: OutboxRow, keyboard: Any, extra: dict[str, Any]
    ) -> tuple[int | None, tuple[int, str] | None]:
        assert row.blob_id is not None
        data, file_id = await store.blob(self.db, row.blob_id)

        async def upload(document: str | InputFile) -> Message:
            return await self.bot.send_document(
                row.chat_id,
                document=document,
                caption=row.text or None,
                parse_mode=ParseMode.HTML if row.text else None,
                reply_markup=keyboard,
                **extra,
            )

        if file_id:
            try:
                return (await upload(file_id)).message_id, None
            except BadRequest as exc:
                if "file" not in exc.message.lower():
                    raise
                log.info("stored file id of blob %s refused (%s); uploading", row.blob_id, exc)
        message = await upload(InputFile(data, filename=row.file_name or "file"))
        new_id = message.document.file_id if message.document else None
        return message.message_id, (row.blob_id, new_id) if new_id else None

    async def _edit(self, row: OutboxRow, keyboard: Any, extra: dict[str, Any]) -> int:
        assert row.edit_of is not None
        target = await store.get(self.db, row.edit_of)
        if target is None or target.tg_message_id is None:
            state = target.status if target else "missing"
            raise _Skip(Reason.EDIT_TARGET_MISSING, f"message {row.edit_of} was not sent ({state})")
        try:
            if target.kind == "document":
                await self.bot.edit_message_caption(
                    chat_id=row.chat_id,
                    message_id=target.tg_message_id,
                    caption=row.text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=keyboard,
                    **extra,
                )
            else:
                await self.bot.edit_message_text(
                    row.text,
                    chat_id=row.chat_id,
                    message_id=target.tg_message_id,
                    parse_mode=ParseMode.HTML,
                    link_preview_options=_NO_PREVIEW,
                    reply_markup=keyboard,
                    **extra,
                )
        except BadRequest as exc:
            if "message is not modified" not in exc.message.lower():
                raise
        return target.tg_message_id

    def _reachable(self) -> None:
        """Telegram answered a call: close the breaker if it was open."""
        lasted = self.breaker.reachable(asyncio.get_running_loop().time())
        if lasted is not None:
            log.warning("outbox: Telegram answers again after %.0f s; sending resumes", lasted)

    async def _failed(self, row: OutboxRow, exc: TelegramError, *, probe: bool = False) -> None:
        failure = _failure(exc)
        waited = 0.0
        if row.retry_since is not None:
            waited = (clock.now() - row.retry_since).total_seconds()
        decision = decide(failure, row.attempts + 1, self.policy, waited)
        now = asyncio.get_running_loop().time()
        detail = failure.description or type(exc).__name__
        if failure.kind in (FailureKind.NETWORK, FailureKind.TIMEOUT):
            self.stats.outage_failures += 1
            if self.breaker.outage(now, probe=probe):
                self.stats.outages = self.breaker.outages
                log.warning(
                    "outbox: Telegram looks down (%s); nothing is sent for %.1f s, then one probe",
                    detail,
                    self.breaker.until - now,
                )
        else:
            self._reachable()
        match decision.action:
            case Action.PAUSE:
                self.stats.rate_limited += 1
                self.pacer.retry_after(row.chat_id, decision.delay, now)
                log.warning("429 for chat %s: pausing %.0f s", row.chat_id, decision.delay)
                await store.pace_paused(
                    self.db, row.chat_id, time.time() + decision.delay, self.pacer.limits
                )
                await store.mark_retry(self.db, row.id, counts=False, detail=detail)
            case Action.OUTAGE:
                self.stats.retried += 1
                # Also back off this message itself: one that fails alone (a poisoned request)
                # then costs a short pause now and then, not a pause for every try.
                self._held[row.chat_id] = max(
                    self._held.get(row.chat_id, 0.0), now + self.policy.backoff(row.attempts + 1)
                )
                await store.mark_retry(self.db, row.id, counts=True, detail=detail)
            case Action.RETRY:
                self.stats.retried += 1
                self._held[row.chat_id] = max(
                    self._held.get(row.chat_id, 0.0), now + decision.delay
                )
                log.info(
                    "outbox message %s to %s failed (%s); retry %d in %.1f s",
                    row.id,
                    row.chat_id,
                    detail,
                    row.attempts + 1,
                    decision.delay,
                )
                await store.mark_retry(self.db, row.id, counts=True, detail=detail)
            case Action.UNREACHABLE:
                assert decision.reason is not None
                self.stats.unreachable += 1
                failed = await store.mark_unreachable(
                    self.db, row.id, row.chat_id, decision.reason, detail
                )
                log.warning(
                    "chat %s is unreachable (%s); %d queued message(s) failed",
                    row.chat_id,
                    detail,
                    failed,
                )
            case Action.RETARGET:
                assert decision.new_chat_id is not None
                self.stats.migrated += 1
                await chats.migrate(self.db, row.chat_id, decision.new_chat_id)
                moved = await store.retarget(self.db, row.chat_id, decision.new_chat_id)
                log.info(
                    "group %s is now supergroup %s; %d queued message(s) follow it",
                    row.chat_id,
                    decision.new_chat_id,
                    moved,
                )
            case Action.FAIL:
                assert decision.reason is not None
                self.stats.failed += 1
                log.warning("outbox message %s to %s failed: %s", row.id, row.chat_id, detail)
                await store.mark_failed(self.db, row.id, decision.reason, detail)
            case Action.DONE:
                await store.mark_sent(self.db, row.id, None)
                self.stats.sent += 1
