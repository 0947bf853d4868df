"""Telegram's flood limits as token buckets. Pure: no Telegram, no database, no real clock.

Every method takes `now`, a monotonic time in seconds, so tests can step through time.
Telegram allows about 30 messages a second overall, 1 a second per private chat and 20 a minute
per group; the defaults in `PacingLimits` stay just under those.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class PacingLimits:
    overall_per_second: float = 28.0
    # Tokens the overall bucket may hold: a little over one absorbs the scheduler's jitter without
    # letting a burst through (28 + 1.5 stays under Telegram's 30 in any one-second window).
    overall_burst: float = 1.5
    private_per_second: float = 1.0
    private_burst: float = 3.0
    group_per_minute: float = 19.0
    group_burst: float = 1.0


@dataclass
class TokenBucket:
    """`rate` tokens a second, at most `capacity`; a message needs one token.

    `take` may push the bucket into debt: the caller then waits the returned delay. That is how a
    caller reserves its turn (a direct reply waits behind the outbox, not the other way round).
    """

    rate: float
    capacity: float
    tokens: float = field(init=False)
    stamp: float | None = field(default=None, init=False)

    start: float | None = None  # tokens at creation; full if None

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.capacity < 1:
            raise ValueError("a bucket needs a positive rate and room for at least one token")
        self.tokens = self.capacity if self.start is None else min(self.start, self.capacity)

    def _refill(self, now: float) -> None:
        if self.stamp is None or now < self.stamp:
            self.stamp = now if self.stamp is None else self.stamp
            return
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait(self, now: float, need: float = 1.0) -> float:
        """Seconds until `need` tokens are available (0 if they are now)."""
        self._refill(now)
        need = min(need, self.capacity)
        return 0.0 if self.tokens >= need else (need - self.tokens) / self.rate

    def take(self, now: float) -> float:
        """Take a token, into debt if need be; returns how long to wait before using it."""
        delay = self.wait(now)
        self.tokens -= 1
        return delay

    def idle(self, now: float) -> bool:
        """Full again: forgetting this bucket changes nothing."""
        self._refill(now)
        return self.tokens >= self.capacity


def is_group(chat_id: int) -> bool:
    """Groups, supergroups and channels have negative ids; private chats positive ones."""
    return chat_id < 0


class Pacer:
    """The overall bucket, one bucket per chat, and the pauses Telegram asked for (429).

    A new pacer does not know what the bot sent just before it started (a restart), and
    Telegram still remembers: until a bucket would have refilled (`burst / rate` seconds),
    buckets start with one token instead of a full burst.
    """

    # Buckets kept before idle ones are forgotten.
    _PRUNE_AT = 2048
    # A chat where a direct reply went out this recently is one a person is using: queued
    # messages to it leave one token spare, so the person's next reply need not wait.
    DIRECT_GRACE_SECONDS = 10.0

    def __init__(self, limits: PacingLimits | None = None) -> None:
        self.limits = limits or PacingLimits()
        lim = self.limits
        self.overall = TokenBucket(lim.overall_per_second, lim.overall_burst, start=1.0)
        self._warmup = max(
            lim.overall_burst / lim.overall_per_second,
            lim.private_burst / lim.private_per_second,
            lim.group_burst * 60.0 / lim.group_per_minute,
        )
        self._born: float | None = None
        self._chats: dict[int, TokenBucket] = {}
        self._chat_paused: dict[int, float] = {}
        self._all_paused = 0.0
        self._recent_429: deque[tuple[float, int]] = deque()
        self._direct: dict[int, float] = {}  # chat id -> when its last direct reply was paced
        # Direct replies paced so far: the outbox sender adds them to the shared pacing ledger
        # (bot.domain.ledger), so other instances count them too.
        self.direct_taken = 0

    def _bucket(self, chat_id: int, now: float) -> TokenBucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if len(self._chats) >= self._PRUNE_AT:
                self._prune()
            if self._born is None:
                self._born = now
            start = 1.0 if now - self._born < self._warmup else None
            if is_group(chat_id):
                rate, burst = self.limits.group_per_minute / 60.0, self.limits.group_burst
            else:
                rate, burst = self.limits.private_per_second, self.limits.private_burst
            bucket = self._chats[chat_id] = TokenBucket(rate, burst, start=start)
        return bucket

    def _prune(self) -> None:
        """Forget the buckets that have filled up again by the latest time seen."""
        latest = max((b.stamp or 0.0 for b in self._chats.values()), default=0.0)
        for chat_id, bucket in list(self._chats.items()):
            if bucket.idle(latest) and chat_id not in self._chat_paused:
                del self._chats[chat_id]

    def overall_wait(self, now: float) -> float:
        """Seconds until the bot as a whole may send again."""
        if self._born is None:
            self._born = now
        return max(self.overall.wait(now), self._all_paused - now, 0.0)

    def chat_wait(self, chat_id: int, now: float, *, direct: bool = False) -> float:
        """Seconds until a queued message may go to this chat (its own limit and any 429 pause).

        Direct replies come first: while a person is using the chat (a direct reply within
        `DIRECT_GRACE_SECONDS`), queued messages wait until a token is left over for them.
        `direct`: a direct reply the outbox carries (bot.replies), which needs no spare."""
        paused = self._chat_paused.get(chat_id, 0.0) - now
        if paused <= 0 and chat_id in self._chat_paused:
            del self._chat_paused[chat_id]
        last_direct = self._direct.get(chat_id)
        if last_direct is not None and now - last_direct > self.DIRECT_GRACE_SECONDS:
            del self._direct[chat_id]
            last_direct = None
        need = 1.0 if direct or last_direct is None or is_group(chat_id) else 2.0
        return max(self._bucket(chat_id, now).wait(now, need), paused, 0.0)

    def wait(self, chat_id: int, now: float) -> float:
        return max(self.overall_wait(now), self.chat_wait(chat_id, now))

    def direct_wait(self, chat_id: int, now: float) -> float:
        """Seconds a direct reply to `chat_id` would wait now (what `take(direct=True)` would
        return, with the chat's pace in private chats only), without reserving anything."""
        overall = self.overall.wait(now)
        chat = 0.0 if is_group(chat_id) else self._bucket(chat_id, now).wait(now)
        paused = max(self._all_paused, self._chat_paused.get(chat_id, 0.0)) - now
        return max(overall, chat, paused, 0.0)

    def take(
        self, chat_id: int, now: float, *, chat_pace: bool = True, direct: bool = False
    ) -> float:
        """Reserve one message to `chat_id`; returns the delay before sending it.

        `direct` (a reply to someone's own action): it goes before queued messages to that chat
        (see `chat_wait`). `chat_pace=False`: the chat's token is still taken, so queued
        messages wait behind it, but the call itself only keeps the overall pace (direct
        replies in groups, where people's own clicks set the pace).
        """
        if direct:
            self._direct[chat_id] = now
            self.direct_taken += 1
        overall = self.overall.take(now)
        chat = self._bucket(chat_id, now).take(now)
        delay = max(overall, chat) if chat_pace else overall
        paused = max(self._all_paused, self._chat_paused.get(chat_id, 0.0)) - now
        return max(delay, paused, 0.0)

    def retry_after(self, chat_id: int, seconds: float, now: float) -> None:
        """Telegram answered 429 for `chat_id`: pause that chat for `seconds`.

        Telegram does not say which limit was hit. When a second, different chat is refused
        while the first pause still runs, the limit is the bot's overall one: pause everything.
        """
        until = now + seconds
        self._chat_paused[chat_id] = max(self._chat_paused.get(chat_id, 0.0), until)
        while self._recent_429 and self._recent_429[0][0] <= now:
            self._recent_429.popleft()
        if any(other != chat_id for _, other in self._recent_429):
            self._all_paused = max(self._all_paused, until)
        self._recent_429.append((until, chat_id))

    def paused_until(self, chat_id: int) -> float:
        return max(self._all_paused, self._chat_paused.get(chat_id, 0.0))
