"""Flood control: who may be answered now. Pure: no Telegram, no database, no real clock.

Every person has a bucket of `burst` messages that refills at `per_minute` a minute (a person
typing, even quickly, stays inside it; a script or a stuck key does not). A message that finds
the bucket empty is not handled:

* a registered person (or an administrator) is told once to slow down (`NOTICE`), then their
  extra messages are dropped silently; the notice comes again at most every
  `notice_every_seconds`;
* a stranger (no account) is never told to slow down.

A stranger's messages (other than /start and /help, which they may ask for) are answered with
the explanation (who the bot is for, how to register) at most once every
`stranger_every_seconds` (`explain`); the others are handled (a refused command is audited)
but not answered.

Times are epoch seconds (`bot.clock`), so the state can be stored and survives a restart.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


@dataclass(frozen=True)
class FloodLimits:
    burst: float = 10.0
    per_minute: float = 30.0
    notice_every_seconds: float = 600.0
    stranger_every_seconds: float = 600.0


@dataclass(frozen=True)
class FloodState:
    """One person's bucket (`tokens` as of `at`) and when they were last told something."""

    tokens: float
    at: float
    told_at: float | None = None  # the stranger's explanation
    noticed_at: float | None = None  # the slow-down notice


class Verdict(Enum):
    PASS = "pass"  # handle the message
    NOTICE = "notice"  # do not handle it; tell the person to slow down
    DROP = "drop"  # do not handle it, say nothing


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    state: FloodState
    changed: bool  # the state must be stored


def _refilled(state: FloodState, now: float, limits: FloodLimits) -> float:
    elapsed = max(0.0, now - state.at)
    return min(limits.burst, state.tokens + elapsed * limits.per_minute / 60.0)


def _due(last: float | None, now: float, every: float) -> bool:
    # A time in the future (a clock moved back) counts as long ago, not as "just told".
    return last is None or now - last >= every or now < last


def judge(state: FloodState | None, now: float, limits: FloodLimits, *, stranger: bool) -> Decision:
    """Decide about one message: handle it, or not (with a notice to a registered person)."""
    if state is None:
        state = FloodState(tokens=limits.burst, at=now)
    tokens = _refilled(state, now, limits)
    if tokens < 1.0:
        if stranger or not _due(state.noticed_at, now, limits.notice_every_seconds):
            return Decision(Verdict.DROP, state, changed=False)
        noticed = replace(state, tokens=tokens, at=now, noticed_at=now)
        return Decision(Verdict.NOTICE, noticed, changed=True)
    return Decision(Verdict.PASS, replace(state, tokens=tokens - 1.0, at=now), changed=True)


def explain(state: FloodState | None, now: float, limits: FloodLimits) -> Decision:
    """May a stranger be given the explanation now? PASS (and it is recorded) or DROP."""
    if state is None:
        state = FloodState(tokens=limits.burst, at=now)
    if not _due(state.told_at, now, limits.stranger_every_seconds):
        return Decision(Verdict.DROP, state, changed=False)
    return Decision(Verdict.PASS, replace(state, told_at=now), changed=True)
