"""The sender's circuit breaker (bot.domain.breaker): pure, stepped through time by hand."""

from __future__ import annotations

import pytest

from bot.domain.breaker import BreakerState, CircuitBreaker, Gate, Verdict


def test_closed_sends_and_one_failure_opens_with_the_base_pause() -> None:
    breaker = CircuitBreaker(base_seconds=1.0, max_seconds=30.0)
    assert breaker.gate(0.0) == Gate(Verdict.SEND)
    assert breaker.outage(10.0, probe=False) is True
    assert breaker.state is BreakerState.OPEN
    assert breaker.gate(10.5) == Gate(Verdict.WAIT, 0.5)
    assert breaker.gate(11.0) == Gate(Verdict.PROBE)
    assert breaker.outages == 1 and breaker.outage_for(12.0) == 2.0


def test_calls_in_flight_when_it_opened_are_the_same_outage() -> None:
    breaker = CircuitBreaker(base_seconds=1.0, max_seconds=30.0)
    breaker.outage(0.0, probe=False)
    for _ in range(15):  # the other 15 sends in the air fail too
        assert breaker.outage(0.1, probe=False) is False
    assert breaker.until == 1.0 and breaker.outages == 1


def test_only_one_probe_at_a_time_and_failed_probes_double_the_pause_up_to_the_cap() -> None:
    breaker = CircuitBreaker(base_seconds=1.0, max_seconds=8.0)
    breaker.outage(0.0, probe=False)
    now, pauses = 0.0, []
    for _ in range(6):
        now = breaker.until
        assert breaker.gate(now).verdict is Verdict.PROBE
        breaker.probing(now)
        assert breaker.gate(now) == Gate(Verdict.WAIT, None)  # nothing else while it is out
        assert breaker.gate(now + 100).verdict is Verdict.WAIT
        with pytest.raises(RuntimeError):
            breaker.probing(now)
        assert breaker.outage(now + 0.01, probe=True) is True
        pauses.append(round(breaker.until - now - 0.01, 6))
    assert pauses == [2.0, 4.0, 8.0, 8.0, 8.0, 8.0]
    assert breaker.probes == 6 and breaker.outages == 1


def test_any_answer_from_telegram_closes_it_and_says_how_long_it_lasted() -> None:
    breaker = CircuitBreaker()
    assert breaker.reachable(5.0) is None  # nothing was going on
    breaker.outage(10.0, probe=False)
    breaker.probing(breaker.until)
    assert breaker.reachable(42.0) == 32.0
    assert breaker.state is BreakerState.CLOSED and breaker.gate(42.0).verdict is Verdict.SEND
    # The next outage starts again from the base pause.
    breaker.outage(50.0, probe=False)
    assert breaker.until == 51.0 and breaker.outages == 2


def test_a_probe_that_never_reached_telegram_is_sent_again_at_once() -> None:
    breaker = CircuitBreaker()
    breaker.outage(0.0, probe=False)
    breaker.probing(1.0)
    breaker.released(1.5)
    assert breaker.gate(1.5) == Gate(Verdict.PROBE)
    breaker.released(2.0)  # not probing: changes nothing
    assert breaker.state is BreakerState.OPEN


def test_backoff_settings_are_checked() -> None:
    with pytest.raises(ValueError):
        CircuitBreaker(base_seconds=0)
    with pytest.raises(ValueError):
        CircuitBreaker(base_seconds=10, max_seconds=5)
