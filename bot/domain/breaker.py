"""The sender's circuit breaker: when Telegram is down, stop sending and probe. Pure: no
Telegram, no database, no real clock (every method takes `now`, monotonic seconds).

Closed (normal): send as the pace allows. A 5xx, timeout or network error opens the breaker:
nothing is sent for `backoff(1)` seconds, then one message goes out alone as a probe (half-open).
The probe getting any answer from Telegram (sent, or refused for a reason of its own, 403, 400,
429) closes the breaker; the probe failing the same way opens it again for twice as long, up to
`max_seconds`. Failures of calls that were already in flight when the breaker opened change
nothing: one outage is one outage, however many messages were in the air.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"  # waiting until `until`
    PROBING = "probing"  # one probe in flight, nothing else goes


class Verdict(StrEnum):
    SEND = "send"  # closed: send as usual
    PROBE = "probe"  # send exactly one message, as the probe
    WAIT = "wait"  # send nothing; look again after `Gate.wait` (None: when the probe ends)


@dataclass(frozen=True)
class Gate:
    verdict: Verdict
    wait: float | None = None


@dataclass
class CircuitBreaker:
    base_seconds: float = 1.0
    factor: float = 2.0
    max_seconds: float = 60.0
    state: BreakerState = field(default=BreakerState.CLOSED, init=False)
    until: float = field(default=0.0, init=False)
    failed_probes: int = field(default=0, init=False)
    opened_at: float | None = field(default=None, init=False)  # when the current outage began
    outages: int = field(default=0, init=False)  # times it opened from closed
    probes: int = field(default=0, init=False)  # probes sent

    def __post_init__(self) -> None:
        if self.base_seconds <= 0 or self.factor < 1 or self.max_seconds < self.base_seconds:
            raise ValueError("backoff needs base > 0, factor >= 1 and max >= base")

    def backoff(self, failures: int) -> float:
        """Pause after the `failures`-th consecutive failure (1-based): base, ×factor …, capped."""
        return float(min(self.max_seconds, self.base_seconds * self.factor ** max(failures - 1, 0)))

    def gate(self, now: float) -> Gate:
        """May the sender send now? On PROBE the caller picks one message, calls `probing`,
        sends it and reports how it went (`outage`, `reachable` or `released`)."""
        match self.state:
            case BreakerState.CLOSED:
                return Gate(Verdict.SEND)
            case BreakerState.OPEN if now < self.until:
                return Gate(Verdict.WAIT, self.until - now)
            case BreakerState.OPEN:
                return Gate(Verdict.PROBE)
        return Gate(Verdict.WAIT, None)

    def probing(self, now: float) -> None:
        """The probe is on its way: nothing else goes until it is back."""
        if self.gate(now).verdict is not Verdict.PROBE:
            raise RuntimeError(f"no probe is due ({self.state})")
        self.state = BreakerState.PROBING
        self.probes += 1

    def outage(self, now: float, *, probe: bool) -> bool:
        """A call failed as if Telegram were down (5xx, timeout, network). `probe`: it was the
        probe. Returns True when this opened (or re-opened) the breaker."""
        if self.state is BreakerState.CLOSED:
            self.outages += 1
            self.opened_at = now
            self.failed_probes = 1
        elif probe and self.state is BreakerState.PROBING:
            self.failed_probes += 1
        else:
            return False  # a call launched before the breaker opened: the same outage
        self.state = BreakerState.OPEN
        self.until = now + self.backoff(self.failed_probes)
        return True

    def reachable(self, now: float) -> float | None:
        """Telegram answered a call (any answer but 5xx). Closes the breaker; returns how long
        the outage lasted if one was going on."""
        lasted = None if self.opened_at is None else now - self.opened_at
        self.state = BreakerState.CLOSED
        self.failed_probes = 0
        self.opened_at = None
        self.until = 0.0
        return lasted

    def released(self, now: float) -> None:
        """The probe never reached Telegram (cancelled meanwhile, our own error): probe again."""
        if self.state is BreakerState.PROBING:
            self.state = BreakerState.OPEN
            self.until = now

    def outage_for(self, now: float) -> float:
        """Seconds the current outage has lasted (0 when closed)."""
        return 0.0 if self.opened_at is None else now - self.opened_at
