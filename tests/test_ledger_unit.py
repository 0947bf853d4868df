"""The shared pacing ledger (bot.domain.ledger) and the lease store: pure rules, and the SQL
on a real SQLite file with two connections."""

from __future__ import annotations

import itertools
from pathlib import Path

from bot.db import open_database
from bot.domain import ledger
from bot.domain.ledger import OVERALL, Candidate, gcra, plan
from bot.domain.pacing import PacingLimits
from bot.store import leases

LIMITS = PacingLimits(
    overall_per_second=28.0, overall_burst=1.5, private_per_second=1.0, private_burst=3.0
)


def test_gcra_spaces_messages_and_allows_the_burst() -> None:
    # 1/s with a burst of 3: three leave at once, the fourth a second after the first.
    tat = None
    leaves = []
    for _ in range(4):
        leave, tat = gcra(tat, 100.0, 1.0, 3.0)
        leaves.append(leave)
    assert leaves == [100.0, 100.0, 100.0, 101.0]
    # An idle ledger does not bank more than the burst.
    assert gcra(50.0, 100.0, 1.0, 3.0) == (100.0, 101.0)


def test_plan_never_exceeds_the_overall_pace_in_any_second() -> None:
    tats: dict[int, float] = {}
    leaves: list[float] = []
    now = 1000.0
    chat = 1
    while now < 1010.0:
        candidates = [Candidate(chat + n, chat + n) for n in range(16)]
        decided = plan(candidates, tats, now, LIMITS, ahead=0.25)
        tats.update(decided.tats)
        leaves.extend(leave for _, leave in decided.claims)
        chat += len(decided.claims)
        now += 0.05
    leaves.sort()
    assert all(b - a >= 1 / 28 - 1e-9 for a, b in itertools.pairwise(leaves))
    window = max(sum(1 for t in leaves if s <= t < s + 1.0) for s in leaves)
    assert window <= 29  # 28/s and no burst overall: under Telegram's 30
    assert len(leaves) >= 27 * 9  # and close to the pace


def test_plan_holds_a_busy_chat_and_stops_at_the_horizon() -> None:
    tats = {7: 1005.0}  # chat 7's next slot is five seconds away
    decided = plan([Candidate(1, 7), Candidate(2, 8)], tats, 1000.0, LIMITS, ahead=0.25)
    assert [row for row, _ in decided.claims] == [2]
    assert decided.held[7] == 1005.0 - 2.0 - 0.25  # its burst of 3 counts from the tat
    full = plan([Candidate(3, 9)], {OVERALL: 1001.0}, 1000.0, LIMITS, ahead=0.25)
    assert full.claims == [] and full.retry_at == 1001.0 - 0.25


def test_direct_replies_spent_outside_take_overall_slots_first() -> None:
    decided = plan([Candidate(1, 5)], {}, 1000.0, LIMITS, ahead=1.0, spent=3)
    [(_, leave)] = decided.claims
    assert abs(leave - (1000.0 + 3 / 28)) < 1e-9


def test_a_429_pause_holds_the_chat_until_then_in_every_instance() -> None:
    tat = ledger.paused(None, 1010.0, LIMITS, 5)
    assert gcra(tat, 1000.0, 1.0, 3.0)[0] == 1010.0
    assert ledger.paused(2000.0, 1010.0, LIMITS, 5) == 2000.0


async def test_one_lease_holder_at_a_time_across_connections(tmp_path: Path) -> None:
    path = tmp_path / "leases.sqlite3"
    async with open_database(path) as one, open_database(path) as two:
        assert await leases.acquire(one, "leader", "a", 100.0, 10.0)
        assert not await leases.acquire(two, "leader", "b", 105.0, 10.0)
        assert await leases.acquire(one, "leader", "a", 105.0, 10.0)  # renewed
        assert await leases.holder(two, "leader", 114.0) == "a"
        assert await leases.acquire(two, "leader", "b", 116.0, 10.0)  # ran out: taken
        assert await leases.holder(one, "leader", 116.0) == "b"
        assert not await leases.release(one, "leader", "a")  # not a's any more
        assert await leases.release(two, "leader", "b")
        assert await leases.acquire(one, "leader", "a", 117.0, 10.0)  # free at once
