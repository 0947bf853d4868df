"""What to do when Telegram refuses a message. Pure: no Telegram import.

The sender turns each Telegram error into a `Failure`; `decide` says whether to wait and resend,
treat it as an outage (the whole sender pauses: bot.domain.breaker), retry with backoff, give up
on the chat (it blocked the bot or is gone), follow a migrated group, or record the failure.
A message's retry budget is a time, not a count: it is given up only once it has waited
`RetryPolicy.budget_seconds` since its first failed try (or since an outage began holding it).
Reason codes are stored in `outbox.error` and shown in delivery reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class FailureKind(StrEnum):
    RETRY_AFTER = "retry_after"  # 429
    MIGRATED = "migrated"  # 400 with migrate_to_chat_id
    FORBIDDEN = "forbidden"  # 403
    BAD_REQUEST = "bad_request"  # 400
    NETWORK = "network"  # 5xx, connection errors
    TIMEOUT = "timeout"  # no answer in time (the message may or may not have arrived)
    OTHER = "other"  # anything else Telegram answered


class Action(StrEnum):
    PAUSE = "pause"  # wait `delay` and send again; not counted as an attempt
    OUTAGE = "outage"  # Telegram looks down: back to the queue, the whole sender pauses
    RETRY = "retry"  # wait `delay` (backoff) and send again
    UNREACHABLE = "unreachable"  # the chat cannot receive: fail it and everything queued for it
    RETARGET = "retarget"  # the group moved: send to `new_chat_id`
    FAIL = "fail"  # record `reason`, do not retry
    DONE = "done"  # nothing to do (an edit that changes nothing)


class Reason(StrEnum):
    """Why a message was not delivered."""

    BLOCKED = "blocked"  # the user blocked the bot
    NEVER_STARTED = "never_started"  # the user never opened a chat with the bot
    DEACTIVATED = "deactivated"  # the account was deleted
    KICKED = "kicked"  # the bot is no longer in the group
    CHAT_NOT_FOUND = "chat_not_found"
    BAD_REQUEST = "bad_request"  # Telegram rejected the message itself
    EDIT_TARGET_MISSING = "edit_target_missing"  # the message to edit is gone or never arrived
    NETWORK = "network"  # still failing when its retry budget ran out
    CANCELLED = "cancelled"
    NEVER_OPENED = "never_opened"  # in a directory but no Telegram account known to the bot
    ERROR = "error"  # a bug on our side; see the log


UNREACHABLE_REASONS = frozenset(
    {Reason.BLOCKED, Reason.NEVER_STARTED, Reason.DEACTIVATED, Reason.KICKED, Reason.CHAT_NOT_FOUND}
)


@dataclass(frozen=True)
class Failure:
    kind: FailureKind
    description: str = ""
    retry_after: float | None = None
    new_chat_id: int | None = None


DAY_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class RetryPolicy:
    budget_seconds: float = DAY_SECONDS  # how long a message is retried before it is given up
    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 60.0

    def spent(self, waited: float) -> bool:
        """A message that has waited `waited` seconds since its first failed try is given up."""
        return waited >= self.budget_seconds

    def backoff(self, attempt: int) -> float:
        """Delay after the `attempt`-th failed try (1-based): 1, 2, 4, 8 … seconds, capped."""
        return float(min(self.max_seconds, self.base_seconds * self.factor ** max(attempt - 1, 0)))


@dataclass(frozen=True)
class Decision:
    action: Action
    delay: float = 0.0
    reason: Reason | None = None
    new_chat_id: int | None = None


def forbidden_reason(description: str) -> Reason:
    text = description.lower()
    if "blocked" in text:
        return Reason.BLOCKED
    if "initiate" in text:
        return Reason.NEVER_STARTED
    if "deactivated" in text:
        return Reason.DEACTIVATED
    if "kicked" in text or "not a member" in text or "chat was deleted" in text:
        return Reason.KICKED
    return Reason.BLOCKED


def bad_request_reason(description: str) -> Reason | None:
    """The reason for a 400; None when the request did what was wanted (nothing to change)."""
    text = description.lower()
    if "message is not modified" in text:
        return None
    if "chat not found" in text or "user not found" in text or "peer_id_invalid" in text:
        return Reason.CHAT_NOT_FOUND
    if "message to edit not found" in text or "message can't be edited" in text:
        return Reason.EDIT_TARGET_MISSING
    return Reason.BAD_REQUEST


def decide(failure: Failure, attempt: int, policy: RetryPolicy, waited: float = 0.0) -> Decision:
    """What to do after the `attempt`-th try (1-based) of a message failed with `failure`,
    `waited` seconds after its first failed try (0 for the first)."""
    match failure.kind:
        case FailureKind.RETRY_AFTER:
            return Decision(Action.PAUSE, delay=max(float(failure.retry_after or 1), 0.0))
        case FailureKind.MIGRATED:
            if failure.new_chat_id is None:  # pragma: no cover - Telegram always says where
                return Decision(Action.FAIL, reason=Reason.BAD_REQUEST)
            return Decision(Action.RETARGET, new_chat_id=failure.new_chat_id)
        case FailureKind.FORBIDDEN:
            return Decision(Action.UNREACHABLE, reason=forbidden_reason(failure.description))
        case FailureKind.BAD_REQUEST:
            reason = bad_request_reason(failure.description)
            if reason is None:
                return Decision(Action.DONE)
            if reason is Reason.CHAT_NOT_FOUND:
                return Decision(Action.UNREACHABLE, reason=reason)
            return Decision(Action.FAIL, reason=reason)
        case FailureKind.NETWORK | FailureKind.TIMEOUT:
            if policy.spent(waited):
                return Decision(Action.FAIL, reason=Reason.NETWORK)
            return Decision(Action.OUTAGE)
        case FailureKind.OTHER:
            if policy.spent(waited):
                return Decision(Action.FAIL, reason=Reason.NETWORK)
            return Decision(Action.RETRY, delay=policy.backoff(attempt))
    raise AssertionError(failure.kind)  # pragma: no cover
