"""Pure rules behind the outbox and broadcasts: pacing, retry policy, audiences, send times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import ConfigError, OutboxTunables, Tunables, load_settings
from bot.domain.audience import (
    AudienceKind,
    Person,
    Recipient,
    Roster,
    UnboundInspector,
    deliverable,
    resolve,
)
from bot.domain.delivery import (
    DAY_SECONDS,
    Action,
    Failure,
    FailureKind,
    Reason,
    RetryPolicy,
    decide,
)
from bot.domain.pacing import Pacer, PacingLimits, TokenBucket
from bot.domain.schedule import WhenProblem, check_when, parse_when

BEIJING = ZoneInfo("Asia/Shanghai")

# -- pacing ------------------------------------------------------------------------------------


def simulate(pacer: Pacer, chats: list[int], seconds: float, step: float = 0.001) -> list[float]:
    """Send as fast as the pacer allows, round-robin over `chats`; returns the send times."""
    sent: list[float] = []
    now = 0.0
    index = 0
    while now < seconds:
        chat = chats[index % len(chats)]
        if pacer.wait(chat, now) == 0:
            assert pacer.take(chat, now) == 0
            sent.append(now)
            index += 1
        now += step
    return sent


def most_in_window(times: list[float], window: float) -> int:
    best, start = 0, 0
    for end, at in enumerate(times):
        while at - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_bucket_refills_and_reserves_into_debt() -> None:
    bucket = TokenBucket(rate=2.0, capacity=2.0)
    assert bucket.take(0.0) == 0 and bucket.take(0.0) == 0
    assert bucket.wait(0.0) == pytest.approx(0.5)
    assert bucket.take(0.0) == pytest.approx(0.5)  # reserved: use it in half a second
    assert bucket.wait(0.0) == pytest.approx(1.0)  # the next one waits behind it
    assert bucket.wait(1.5) == 0
    assert bucket.idle(10.0)


def test_overall_pace_is_28_a_second_and_never_30_in_any_second() -> None:
    pacer = Pacer(PacingLimits())
    times = simulate(pacer, list(range(1, 2001)), 10.0)
    assert len(times) / 10.0 >= 27.5
    assert most_in_window(times, 1.0) <= 29


def test_private_chat_gets_one_a_second_after_a_short_burst() -> None:
    pacer = Pacer(PacingLimits(private_per_second=1.0, private_burst=3.0))
    assert simulate(pacer, [42], 0.5) == [0.0]  # a new pacer starts each chat with one token
    later = Pacer(PacingLimits(private_per_second=1.0, private_burst=3.0))
    later.overall_wait(-10.0)  # started ten seconds ago: new chats get the full burst
    times = simulate(later, [42], 20.0, step=0.01)
    assert times[2] < 0.1  # a burst of three (at the overall pace), then one a second
    assert 20 <= len(times) <= 22
    assert most_in_window(times[3:], 0.99) == 1


def test_group_gets_at_most_19_a_minute() -> None:
    pacer = Pacer(PacingLimits())
    times = simulate(pacer, [-100], 180.0, step=0.05)
    assert most_in_window(times, 60.0) <= 19
    assert len(times) >= 3 * 19 - 1


def test_direct_replies_keep_the_overall_pace_and_queued_messages_yield_to_them() -> None:
    pacer = Pacer(PacingLimits())
    pacer.overall_wait(-10.0)  # running for a while: full buckets
    delays = [pacer.take(-5, 0.0, chat_pace=False) for _ in range(3)]
    assert delays[0] == 0 and delays[2] < 0.1  # three replies in a group: overall pace only
    assert pacer.chat_wait(-5, 0.0) > 6.0  # the outbox waits until the group has recovered


def test_private_chat_one_pace_for_replies_and_queue_replies_first() -> None:
    pacer = Pacer(PacingLimits())  # 1/s per private chat, burst 3
    pacer.overall_wait(-10.0)
    # /draw answers with four messages at once: three go now, the fourth a second later.
    delays = [pacer.take(7, 0.0, direct=True) for _ in range(4)]
    assert max(delays[:3]) < 0.1 and delays[3] == pytest.approx(1.0)  # (overall pace: 1/28 s)
    # A person types a command a second while the outbox has plenty queued for them and sends
    # whenever chat_wait allows: no reply ever waits for the chat, and the chat as a whole gets
    # no more than its pace plus the burst.
    replies: list[float] = []
    queued: list[float] = []
    for step in range(10 * 20, 40 * 20):  # 10 s … 40 s in steps of 50 ms
        now = step / 20
        if step % 20 == 0:
            replies.append(pacer.take(7, now, direct=True))
        elif pacer.chat_wait(7, now) == 0:
            queued.append(now + pacer.take(7, now))
    assert len(replies) == 30 and max(replies) < 0.05
    assert len(replies) + len(queued) <= 30 + 3
    assert queued  # the queue still gets the spare capacity (the burst)
    # The person stops: after the grace period the queue may use the chat's last token too.
    pacer.take(7, 100.0, direct=True)
    pacer.take(7, 100.0)
    assert pacer.chat_wait(7, 100.5) > 0  # 1.5 tokens, two needed while the person is active
    later = 100.0 + Pacer.DIRECT_GRACE_SECONDS + 0.1
    assert pacer.take(7, later) == 0.0 and pacer.chat_wait(7, later + 0.9) == 0.0


def test_a_429_pauses_the_chat_and_two_chats_refused_pause_everything() -> None:
    pacer = Pacer(PacingLimits())
    pacer.retry_after(1, 5.0, now=10.0)
    assert pacer.chat_wait(1, 10.0) == pytest.approx(5.0)
    assert pacer.overall_wait(10.0) == 0  # one chat refused: only that chat waits
    assert pacer.chat_wait(2, 10.0) == 0
    pacer.retry_after(2, 3.0, now=11.0)  # a second chat refused meanwhile: the bot's limit
    assert pacer.overall_wait(11.0) == pytest.approx(3.0)
    assert pacer.wait(3, 14.5) == 0 and pacer.chat_wait(1, 14.5) == pytest.approx(0.5)


# -- retry policy ---------------------------------------------------------------------------------


def test_backoff_doubles_and_is_capped() -> None:
    policy = RetryPolicy(base_seconds=1.0, max_seconds=10.0)
    assert [policy.backoff(n) for n in range(1, 7)] == [1, 2, 4, 8, 10, 10]


@pytest.mark.parametrize(
    ("failure", "action", "reason"),
    [
        (Failure(FailureKind.RETRY_AFTER, retry_after=7), Action.PAUSE, None),
        (Failure(FailureKind.MIGRATED, new_chat_id=-1002), Action.RETARGET, None),
        (
            Failure(FailureKind.FORBIDDEN, "Forbidden: bot was blocked by the user"),
            Action.UNREACHABLE,
            Reason.BLOCKED,
        ),
        (
            Failure(FailureKind.FORBIDDEN, "bot can't initiate conversation with a user"),
            Action.UNREACHABLE,
            Reason.NEVER_STARTED,
        ),
        (
            Failure(FailureKind.FORBIDDEN, "Forbidden: user is deactivated"),
            Action.UNREACHABLE,
            Reason.DEACTIVATED,
        ),
        (
            Failure(FailureKind.FORBIDDEN, "bot was kicked from the supergroup chat"),
            Action.UNREACHABLE,
            Reason.KICKED,
        ),
        (
            Failure(FailureKind.BAD_REQUEST, "Chat not found"),
            Action.UNREACHABLE,
            Reason.CHAT_NOT_FOUND,
        ),
        (
            Failure(FailureKind.BAD_REQUEST, "Can't parse entities: unclosed tag"),
            Action.FAIL,
            Reason.BAD_REQUEST,
        ),
        (
            Failure(FailureKind.BAD_REQUEST, "Message to edit not found"),
            Action.FAIL,
            Reason.EDIT_TARGET_MISSING,
        ),
        (
            Failure(FailureKind.BAD_REQUEST, "Message is not modified: specified new message"),
            Action.DONE,
            None,
        ),
        (Failure(FailureKind.NETWORK, "Bad Gateway"), Action.OUTAGE, None),
        (Failure(FailureKind.TIMEOUT, "Timed out"), Action.OUTAGE, None),
        (Failure(FailureKind.OTHER, "Request Entity Too Large (413)"), Action.RETRY, None),
    ],
)
def test_decisions(failure: Failure, action: Action, reason: Reason | None) -> None:
    decision = decide(failure, attempt=1, policy=RetryPolicy())
    assert decision.action is action and decision.reason == reason
    if action is Action.PAUSE:
        assert decision.delay == 7


def test_the_retry_budget_is_a_time_not_a_count() -> None:
    policy = RetryPolicy()  # 24 h
    network = Failure(FailureKind.NETWORK, "Internal Server Error")
    other = Failure(FailureKind.OTHER, "Conflict")
    # However many tries: nothing is given up within the budget.
    assert decide(network, 500, policy, waited=DAY_SECONDS - 1).action is Action.OUTAGE
    assert decide(other, 500, policy, waited=DAY_SECONDS - 1).action is Action.RETRY
    for failure in (network, other):
        final = decide(failure, 2, policy, waited=DAY_SECONDS)
        assert final.action is Action.FAIL and final.reason is Reason.NETWORK
    short = RetryPolicy(budget_seconds=60.0)
    assert decide(network, 1, short, waited=59.9).action is Action.OUTAGE
    assert decide(network, 1, short, waited=60.0).action is Action.FAIL


# -- audiences ------------------------------------------------------------------------------------

ROSTER = Roster(
    people=(
        Person(1, "管理员甲", is_admin=True),
        Person(2, "民政联络员", liaison_departments=("MZJ",)),
        Person(3, "双部门联络员", liaison_departments=("SCJG", "WLJ")),
        Person(4, "张三", inspector_department="SCJG"),
        Person(5, "王五", inspector_department="MZJ", liaison_departments=("MZJ",)),
        Person(6, "离职人员"),  # no role any more
    ),
    unbound_inspectors=(UnboundInspector("李四", "SCJG", "13010002"),),
    env_admins=frozenset({1, 99}),
    coordination_chat=(-100, "协调群"),
)


def ids(recipients: list[Recipient]) -> set[int | None]:
    return {r.chat_id for r in recipients}


def test_everyone_includes_config_admins_and_names_who_never_opened_the_bot() -> None:
    found = resolve(AudienceKind.ALL, (), ROSTER)
    assert ids(deliverable(found)) == {1, 2, 3, 4, 5, 99}
    [never] = [r for r in found if r.chat_id is None]
    assert (never.name, never.department_code, never.skipped) == (
        "李四",
        "SCJG",
        Reason.NEVER_OPENED,
    )


def test_roles_and_departments() -> None:
    assert ids(resolve(AudienceKind.LIAISONS, (), ROSTER)) == {2, 3, 5}
    assert ids(resolve(AudienceKind.INSPECTORS, (), ROSTER)) == {4, 5, None}
    chosen = resolve(AudienceKind.DEPARTMENTS, ("SCJG", "WLJ"), ROSTER)
    assert ids(chosen) == {3, 4, None}
    assert {r.name: r.department_code for r in chosen}["双部门联络员"] == "SCJG"
    assert ids(resolve(AudienceKind.DEPARTMENTS, ("MZJ",), ROSTER)) == {2, 5}
    assert resolve(AudienceKind.GROUP, (), ROSTER) == [Recipient(-100, "协调群")]
    assert resolve(AudienceKind.GROUP, (), Roster()) == []


# -- send times -----------------------------------------------------------------------------------

NOW = datetime(2026, 11, 30, 10, 15, tzinfo=BEIJING)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-01 09:00", datetime(2026, 12, 1, 9, 0)),
        ("2026/12/1 9:05", datetime(2026, 12, 1, 9, 5)),
        ("2026年12月1日 9点30", datetime(2026, 12, 1, 9, 30)),
        ("２０２６－１２－０１　０９：００", datetime(2026, 12, 1, 9, 0)),
        ("12月1日 下午3点", datetime(2026, 12, 1, 15, 0)),
        ("12-01 09:00", datetime(2026, 12, 1, 9, 0)),
        ("明天 9:00", datetime(2026, 12, 1, 9, 0)),
        ("明天9点", datetime(2026, 12, 1, 9, 0)),
        ("后天上午9点半", datetime(2026, 12, 2, 9, 30)),
        ("今天 18:30", datetime(2026, 11, 30, 18, 30)),
        ("今天晚上8点", datetime(2026, 11, 30, 20, 0)),
        ("中午12点", datetime(2026, 11, 30, 12, 0)),
        ("9:00", datetime(2026, 12, 1, 9, 0)),  # already past today: tomorrow
        ("11月1日 9:00", datetime(2027, 11, 1, 9, 0)),  # already past this year: next year
    ],
)
def test_send_times_are_read_in_beijing_time(text: str, expected: datetime) -> None:
    assert parse_when(text, NOW) == expected.replace(tzinfo=BEIJING)


@pytest.mark.parametrize("text", ["下周", "明天", "2026-13-01 09:00", "25:00", "2026-02-30 9:00"])
def test_unreadable_send_times(text: str) -> None:
    assert parse_when(text, NOW) is None
    assert check_when(parse_when(text, NOW), NOW) is WhenProblem.UNREADABLE


def test_send_time_must_be_ahead_but_not_too_far() -> None:
    assert check_when(parse_when("今天 9:00", NOW), NOW) is WhenProblem.PAST
    assert check_when(parse_when("2026-11-29 09:00", NOW), NOW) is WhenProblem.PAST
    assert check_when(parse_when("2028-01-01 09:00", NOW), NOW) is WhenProblem.TOO_FAR
    assert check_when(NOW + timedelta(minutes=1), NOW) is None
    assert parse_when("明天 9:00", NOW.astimezone(UTC).astimezone(BEIJING)) is not None


# -- configuration --------------------------------------------------------------------------------


def test_outbox_tunables_from_toml(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "[outbox]\noverall_per_second = 20\nprivate_burst = 2.5\nretry_budget_seconds = 3600\n"
        "[broadcast]\nprogress_every_seconds = 10\n",
        encoding="utf-8",
    )
    tunables = load_settings({"BOT_CONFIG": str(path)}, cwd=tmp_path).tunables
    assert tunables.outbox.overall_per_second == 20 and tunables.outbox.private_burst == 2.5
    assert tunables.outbox.retry().budget_seconds == 3600
    assert OutboxTunables().retry().budget_seconds == 24 * 3600  # the default: a day
    assert tunables.outbox.broadcast_progress_seconds == 10
    assert tunables.invite_ttl_days == 7
    assert Tunables().outbox == OutboxTunables()
    for bad in (
        "max_in_flight = 1.5",
        "retry_budget_seconds = 0",
        "max_attempts = 5",  # replaced by the time budget
        "backoff_seconds = 10\nbackoff_max_seconds = 5",
        "overall_per_second = 0",
        "nope = 1",
        "group_burst = 0.5",
    ):
        path.write_text(f"[outbox]\n{bad}\n", encoding="utf-8")
        with pytest.raises(ConfigError, match="outbox"):
            load_settings({"BOT_CONFIG": str(path)}, cwd=tmp_path)
