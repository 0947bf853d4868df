"""The shared pacing ledger: send slots several instances take from one table. Pure.

Each instance's `Pacer` (bot.domain.pacing) only knows what its own process sent. When several
instances drain one outbox, the slots come from the database instead: one row for the bot's
overall pace and one per chat, each holding a GCRA "theoretical arrival time" (`tat`). A claim
reads the rows, `plan` decides which candidate messages may go and when, and the claim writes
the new `tat`s back in the same transaction, so two instances never take the same slot.

GCRA (the generic cell rate algorithm) is a token bucket kept as one number: at `rate` messages
a second with a burst of `burst`, a message arriving at `t` may leave at
`max(t, tat - (burst - 1) / rate)`, and the next `tat` is `max(tat, leave) + 1 / rate`. So in
any window of T seconds at most `T * rate + burst` messages leave. The overall pace takes no
burst here (at most 28 + 1 in any second at 28/s): sends from several processes reach Telegram
with more jitter than one process's, and a message late by a few tens of milliseconds must not
push a second past Telegram's 30.

Times are epoch seconds of the real clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.domain.pacing import PacingLimits, is_group

OVERALL = 0  # the ledger row of the bot's overall pace (no chat has id 0)


def gcra(tat: float | None, arrival: float, rate: float, burst: float) -> tuple[float, float]:
    """(when the message may leave, the new tat) for a message ready at `arrival`."""
    interval = 1.0 / rate
    tolerance = (max(burst, 1.0) - 1.0) * interval
    base = arrival if tat is None else tat
    leave = max(arrival, base - tolerance)
    return leave, max(base, leave) + interval


@dataclass(frozen=True)
class Candidate:
    id: int
    chat_id: int


@dataclass
class Plan:
    """What one claim takes: (row id, leave time) in order, the ledger rows to write, chats to
    look at again later (chat id -> time its next slot opens) and, when the overall pace
    stopped the claim, when to look again."""

    claims: list[tuple[int, float]] = field(default_factory=list)
    tats: dict[int, float] = field(default_factory=dict)
    held: dict[int, float] = field(default_factory=dict)
    retry_at: float | None = None


def _chat_pace(limits: PacingLimits, chat_id: int) -> tuple[float, float]:
    if is_group(chat_id):
        return limits.group_per_minute / 60.0, limits.group_burst
    return limits.private_per_second, limits.private_burst


def plan(
    candidates: list[Candidate],
    tats: dict[int, float],
    now: float,
    limits: PacingLimits,
    ahead: float,
    spent: int = 0,
) -> Plan:
    """Take slots for the candidates, in order, that may leave within `ahead` seconds.

    `spent`: overall slots this instance used outside the ledger since its last claim (direct
    replies, paced by its own pacer); they are taken first, so the other instances count them.

    A chat whose own slot is further away is held (its later candidates too: one head per chat
    is passed anyway); the first candidate the overall pace cannot fit ends the claim.
    """
    result = Plan()
    current = dict(tats)
    horizon = now + ahead
    for _ in range(spent):
        _, current[OVERALL] = gcra(current.get(OVERALL), now, limits.overall_per_second, 1.0)
        result.tats[OVERALL] = current[OVERALL]
    for candidate in candidates:
        chat = candidate.chat_id
        if chat in result.held:
            continue
        rate, burst = _chat_pace(limits, chat)
        chat_leave, _ = gcra(current.get(chat), now, rate, burst)
        if chat_leave > horizon:
            result.held[chat] = chat_leave - ahead
            continue
        leave, overall_tat = gcra(current.get(OVERALL), chat_leave, limits.overall_per_second, 1.0)
        if leave > horizon:
            result.retry_at = leave - ahead
            break
        _, chat_tat = gcra(current.get(chat), leave, rate, burst)
        current[OVERALL] = overall_tat
        current[chat] = chat_tat
        result.tats[OVERALL] = overall_tat
        result.tats[chat] = chat_tat
        result.claims.append((candidate.id, leave))
    return result


def paused(tat: float | None, until: float, limits: PacingLimits, chat_id: int) -> float:
    """The new tat of a chat Telegram answered 429 for, to wait until `until`: its next slot
    opens no earlier than that, in every instance."""
    rate, burst = _chat_pace(limits, chat_id)
    pushed = until + (max(burst, 1.0) - 1.0) / rate
    return pushed if tat is None else max(tat, pushed)
