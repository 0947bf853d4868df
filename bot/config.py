"""Typed settings from the environment, an optional `.env` file and an optional TOML file.

Precedence: real environment variables, then `.env` in the working directory, then defaults.
Tunables (deadlines, ratios, offsets) live in the TOML file named by BOT_CONFIG.
"""

from __future__ import annotations

import os
import re
import socket
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from datetime import date, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.domain.delivery import DAY_SECONDS, RetryPolicy
from bot.domain.flood import FloodLimits
from bot.domain.kpi import KpiRules
from bot.domain.pacing import PacingLimits

DEFAULT_API_URL = "https://api.telegram.org/bot"
# Telegram tokens look like "123456789:AAH…" (numeric bot id, colon, 35 url-safe characters).
_TOKEN_RE = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{30,}$")


class ConfigError(ValueError):
    """A setting is missing or malformed; the message is one line meant for the operator."""


@dataclass(frozen=True)
class OutboxTunables:
    """[outbox]: the sender's pace (just under Telegram's limits), retries and shutdown.

    `retry_budget_seconds`: how long a message that cannot go out (Telegram down, or failing)
    is retried before it is reported failed. `backoff_seconds` … `backoff_max_seconds`: the
    pause after an outage is noticed, doubled after each failed probe, and the retry delay of
    a message failing on its own.

    [broadcast] progress_every_seconds is read into `broadcast_progress_seconds`.
    `divert_after_seconds`: a direct reply that would wait longer than this for its turn is
    sent through the outbox instead (bot.replies).
    """

    overall_per_second: float = 28.0
    overall_burst: float = 1.5
    private_per_second: float = 1.0
    private_burst: float = 3.0
    group_per_minute: float = 19.0
    group_burst: float = 1.0
    retry_budget_seconds: float = DAY_SECONDS
    backoff_seconds: float = 1.0
    backoff_max_seconds: float = 30.0
    max_in_flight: int = 16
    timeout_seconds: float = 10.0
    poll_seconds: float = 1.0
    shutdown_seconds: float = 3.0
    broadcast_progress_seconds: float = 5.0
    # A direct reply whose turn is further away than this (or whose chat is paused after a 429)
    # goes through the outbox instead of making its handler wait (bot.replies). Under 1 s: a
    # private chat's turns are 1 s apart, so a reply behind a used-up burst is diverted, and a
    # handler never holds its worker for a chat's pace.
    divert_after_seconds: float = 0.5

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> OutboxTunables:
        section = dict(data.get("outbox", {}))
        broadcast = data.get("broadcast", {})
        if "progress_every_seconds" in broadcast:
            section["broadcast_progress_seconds"] = broadcast["progress_every_seconds"]
        known = {f.name: f for f in fields(cls)}
        for name, value in section.items():
            if name not in known:
                raise ConfigError(f"[outbox] 没有配置项 {name} (unknown value outbox.{name})")
            wants_int = known[name].type in (int, "int")
            ok_type = isinstance(value, int) if wants_int else isinstance(value, int | float)
            if not ok_type or isinstance(value, bool) or value <= 0:
                kind = "正整数 (a positive integer)" if wants_int else "正数 (a positive number)"
                raise ConfigError(f"配置项 outbox.{name} 必须是{kind}")
        values = cls(**section)
        if values.backoff_max_seconds < values.backoff_seconds:
            raise ConfigError("配置项 outbox.backoff_max_seconds 不能小于 backoff_seconds")
        if values.overall_burst < 1 or values.private_burst < 1 or values.group_burst < 1:
            raise ConfigError("配置项 outbox.*_burst 不能小于 1 (bursts must be at least 1)")
        return values

    def pacing(self) -> PacingLimits:
        return PacingLimits(
            overall_per_second=self.overall_per_second,
            overall_burst=self.overall_burst,
            private_per_second=self.private_per_second,
            private_burst=self.private_burst,
            group_per_minute=self.group_per_minute,
            group_burst=self.group_burst,
        )

    def retry(self) -> RetryPolicy:
        return RetryPolicy(
            budget_seconds=self.retry_budget_seconds,
            base_seconds=self.backoff_seconds,
            max_seconds=self.backoff_max_seconds,
        )


def _clock_time(section: str, name: str, value: Any) -> time:
    if not isinstance(value, str) or not re.fullmatch(r"\d{1,2}:\d{2}", value.strip()):
        raise ConfigError(f'配置项 {section}.{name} 必须写成 "HH:MM" (e.g. "09:00")')
    hour, minute = (int(x) for x in value.strip().split(":"))
    if hour > 23 or minute > 59:
        raise ConfigError(f"配置项 {section}.{name} 不是有效的时间：{value}")
    return time(hour, minute)


def _dates(section: str, name: str, value: Any) -> tuple[date, ...]:
    if not isinstance(value, list):
        raise ConfigError(f'配置项 {section}.{name} 必须是日期列表，如 ["2027-01-01"]')
    found: list[date] = []
    for item in value:
        if isinstance(item, date):
            found.append(item)
            continue
        try:
            found.append(date.fromisoformat(str(item)))
        except ValueError as exc:
            raise ConfigError(f"配置项 {section}.{name} 中的日期无效：{item}") from exc
    return tuple(found)


@dataclass(frozen=True)
class InvitationTunables:
    """[invitations] and [calendar]: reply deadlines, reminders, quiet hours, extra holidays."""

    reply_working_days: int = 2  # default reply deadline, in working days from today
    deadline_time: time = time(18, 0)  # a deadline typed as a date means this time that day
    reminder_time: time = time(9, 0)
    reminder_days_before: tuple[int, ...] = (1, 0)  # working days before the deadline's day
    quiet_start: time = time(21, 0)  # nothing goes out after this …
    quiet_end: time = time(8, 0)  # … nor before this: it waits until quiet_end
    extend_options: tuple[int, ...] = (1, 2)  # extension buttons, in working days
    scan_seconds: float = 60.0  # unused: the reminder engine ([reminders]) scans
    holidays: tuple[date, ...] = ()  # [calendar] extra holidays (years the package lacks)
    workdays: tuple[date, ...] = ()  # [calendar] extra make-up workdays (调休)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> InvitationTunables:
        section = dict(data.get("invitations", {}))
        calendar = dict(data.get("calendar", {}))
        values: dict[str, Any] = {}
        for name, value in section.items():
            if name in ("deadline_time", "reminder_time", "quiet_start", "quiet_end"):
                values[name] = _clock_time("invitations", name, value)
            elif name in ("reminder_days_before", "extend_options"):
                if not isinstance(value, list) or not all(
                    isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 30 for v in value
                ):
                    raise ConfigError(f"配置项 invitations.{name} 必须是 0–30 的整数列表")
                if name == "extend_options" and (not value or 0 in value):
                    raise ConfigError("配置项 invitations.extend_options 必须是正整数列表")
                values[name] = tuple(value)
            elif name in ("reply_working_days", "scan_seconds"):
                ok = isinstance(value, int | float) and not isinstance(value, bool) and value > 0
                if name == "reply_working_days":
                    ok = ok and isinstance(value, int)
                if not ok:
                    raise ConfigError(f"配置项 invitations.{name} 必须是正数")
                values[name] = value
            else:
                raise ConfigError(f"[invitations] 没有配置项 {name} (unknown value)")
        for name, value in calendar.items():
            if name not in ("holidays", "workdays"):
                raise ConfigError(f"[calendar] 没有配置项 {name} (unknown value)")
            values[name] = _dates("calendar", name, value)
        if set(values.get("holidays", ())) & set(values.get("workdays", ())):
            raise ConfigError("[calendar] 同一天不能既是假日又是工作日")
        quiet = (values.get("quiet_start", cls.quiet_start), values.get("quiet_end", cls.quiet_end))
        if quiet[0] == quiet[1]:  # all day or never? say which by other times
            raise ConfigError("配置项 invitations.quiet_start 与 quiet_end 不能相同")
        return cls(**values)


def _positive_ints(section: str, name: str, value: Any, *, zero: bool = False) -> tuple[int, ...]:
    low = 0 if zero else 1
    if not isinstance(value, list) or not all(
        isinstance(v, int) and not isinstance(v, bool) and low <= v <= 366 for v in value
    ):
        raise ConfigError(f"配置项 {section}.{name} 必须是 {low}–366 的整数列表")
    return tuple(sorted(set(value), reverse=True))


def _positive(section: str, name: str, value: Any) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
        raise ConfigError(f"配置项 {section}.{name} 必须是正数")
    return float(value)


def _duration(section: str, name: str, value: Any) -> int:
    """ "3d", "1d", "2h", "30m" (or a bare number of minutes) -> minutes."""
    text = str(value).strip().lower()
    match = re.fullmatch(r"(\d+)\s*([dhm]?)", text)
    if not match or int(match.group(1)) <= 0:
        raise ConfigError(
            f'配置项 {section}.{name} 中的时长无效：{value}（写成 "3d"、"2h"、"30m"）'
        )
    return int(match.group(1)) * {"d": 1440, "h": 60, "m": 1, "": 1}[match.group(2)]


@dataclass(frozen=True)
class ReminderTunables:
    """[reminders], [training], [reports], [results]: the durable reminder engine's series."""

    grace_hours: float = 12.0  # a missed reminder later than this goes into a digest
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    scan_seconds: float = 30.0
    training_offsets_minutes: tuple[int, ...] = (3 * 1440, 1440, 120)
    report_deadlines: tuple[str, ...] = ("03-24", "06-24", "09-24", "12-24")  # MM-DD
    report_days_before: tuple[int, ...] = (7, 3, 1)
    report_time: time = time(9, 0)
    report_overdue_times: int = 3  # daily reminders after the deadline
    report_max_file_mb: int = 20
    result_working_days: int = 20
    result_days_before: tuple[int, ...] = (5, 2, 1)  # working days before the result deadline
    result_time: time = time(9, 0)
    followup_days_before: tuple[int, ...] = (3, 1)  # working days before a 整改 due date
    followup_time: time = time(9, 0)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> ReminderTunables:
        values: dict[str, Any] = {}
        for name, value in dict(data.get("reminders", {})).items():
            if name in ("quiet_start", "quiet_end"):
                values[name] = _clock_time("reminders", name, value)
            elif name in ("grace_hours", "scan_seconds"):
                values[name] = _positive("reminders", name, value)
            else:
                raise ConfigError(f"[reminders] 没有配置项 {name} (unknown value)")
        for name, value in dict(data.get("training", {})).items():
            if name != "offsets" or not isinstance(value, list) or not value:
                raise ConfigError(f'[training] 配置项 {name} 无效（offsets = ["3d", "1d", "2h"]）')
            found = {_duration("training", name, v) for v in value}
            values["training_offsets_minutes"] = tuple(sorted(found, reverse=True))
        for name, value in dict(data.get("reports", {})).items():
            if name == "deadlines":
                if not isinstance(value, list) or not value:
                    raise ConfigError('配置项 reports.deadlines 必须是 "MM-DD" 列表')
                for v in value:
                    try:
                        date.fromisoformat(f"2024-{v}")
                    except (TypeError, ValueError) as exc:
                        raise ConfigError(f"配置项 reports.deadlines 中的日期无效：{v}") from exc
                values["report_deadlines"] = tuple(sorted(str(v) for v in value))
            elif name == "days_before":
                values["report_days_before"] = _positive_ints("reports", name, value)
            elif name == "time":
                values["report_time"] = _clock_time("reports", name, value)
            elif name in ("overdue_times", "max_file_mb"):
                if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                    raise ConfigError(f"配置项 reports.{name} 必须是非负整数")
                values["report_" + name] = value
            else:
                raise ConfigError(f"[reports] 没有配置项 {name} (unknown value)")
        for name, value in dict(data.get("results", {})).items():
            if name == "working_days":
                if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                    raise ConfigError("配置项 results.working_days 必须是正整数")
                values["result_working_days"] = value
            elif name == "days_before":
                values["result_days_before"] = _positive_ints("results", name, value)
            elif name == "time":
                values["result_time"] = _clock_time("results", name, value)
            elif name == "followup_days_before":
                values["followup_days_before"] = _positive_ints("results", name, value)
            elif name == "followup_time":
                values["followup_time"] = _clock_time("results", name, value)
            else:
                raise ConfigError(f"[results] 没有配置项 {name} (unknown value)")
        return cls(**values)


@dataclass(frozen=True)
class DrawTunables:
    """[draw]: object ratios per credit-risk class (percent), the yearly cap, inspectors per
    object, acknowledgement reminders. See bot/domain/draw.py for the rules."""

    ratio_a: float = 3.0
    ratio_b: float = 5.0
    ratio_c: float = 20.0
    ratio_d: float = 100.0
    yearly_cap: int = 1  # an object is drawn at most this often a year for the same items
    per_department: int = 1  # inspectors per object from each participating department
    min_per_object: int = 2  # inspectors per object in all
    rotation: bool = True  # not the same inspector on the same enterprise in consecutive draws
    ack_time: time = time(9, 0)  # unacknowledged notices are reminded at this time …
    escalate_working_days: int = 1  # … and the liaison told this many working days later
    # Unused: the reminder engine ([reminders] scan_seconds) sends acknowledgement reminders.
    # Kept so that configuration files naming it still load.
    scan_seconds: float = 60.0

    @property
    def ratios(self) -> dict[str, float]:
        return {"A": self.ratio_a, "B": self.ratio_b, "C": self.ratio_c, "D": self.ratio_d}

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> DrawTunables:
        section = dict(data.get("draw", {}))
        values: dict[str, Any] = {}
        ratios = section.pop("ratios", {})
        if not isinstance(ratios, dict):
            raise ConfigError("配置项 draw.ratios 必须写成 {A = 3, B = 5, C = 20, D = 100}")
        for key, value in ratios.items():
            if key not in ("A", "B", "C", "D"):
                raise ConfigError(f"配置项 draw.ratios 只能有 A、B、C、D，不能有 {key}")
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            if not ok or not 0 < value <= 100:
                raise ConfigError(f"配置项 draw.ratios.{key} 必须是 0–100 之间的百分比")
            values[f"ratio_{key.lower()}"] = float(value)
        for name, value in section.items():
            if name == "ack_time":
                values[name] = _clock_time("draw", name, value)
            elif name == "rotation":
                if not isinstance(value, bool):
                    raise ConfigError("配置项 draw.rotation 必须是 true 或 false")
                values[name] = value
            elif name in (
                "yearly_cap",
                "per_department",
                "min_per_object",
                "escalate_working_days",
            ):
                if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    raise ConfigError(f"配置项 draw.{name} 必须是正整数")
                values[name] = value
            elif name == "scan_seconds":
                if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
                    raise ConfigError("配置项 draw.scan_seconds 必须是正数")
                values[name] = float(value)
            else:
                raise ConfigError(f"[draw] 没有配置项 {name} (unknown value)")
        return cls(**values)


@dataclass(frozen=True)
class StatsTunables:
    """[stats]: the county's targets and how they are counted. See bot/domain/kpi.py."""

    period: str = "quarter"  # /stats without an argument: "quarter" or "year"
    rules: KpiRules = field(default_factory=KpiRules)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> StatsTunables:
        section = dict(data.get("stats", {}))
        period = section.pop("period", cls.period)
        if period not in ("quarter", "year"):
            raise ConfigError('配置项 stats.period 必须是 "quarter" 或 "year"')
        values: dict[str, Any] = {}
        choices = {
            "partner_counting": ("lead_only", "all_participants"),
            "enterprise_basis": ("drawn", "entered"),
        }
        states = ("inviting", "confirmed", "drawn", "inspecting", "publishing", "done", "cancelled")
        for name, value in section.items():
            if name in (
                "target_joint",
                "target_joint_enterprises",
                "target_risk",
                "risk_classified_share",
            ):
                ok = isinstance(value, int | float) and not isinstance(value, bool)
                if not ok or not 0 <= value <= 1:
                    raise ConfigError(f"配置项 stats.{name} 必须是 0–1 之间的小数（如 0.6）")
                values[name] = float(value)
            elif name in choices:
                if value not in choices[name]:
                    raise ConfigError(f"配置项 stats.{name} 只能是 {' 或 '.join(choices[name])}")
                values[name] = value
            elif name == "risk_single_counts":
                if not isinstance(value, bool):
                    raise ConfigError("配置项 stats.risk_single_counts 必须是 true 或 false")
                values[name] = value
            elif name == "counted_states":
                if not isinstance(value, list) or not value or not set(value) <= set(states):
                    raise ConfigError(f"配置项 stats.counted_states 只能取 {'、'.join(states)}")
                values[name] = tuple(value)
            elif name == "problem_categories":
                if not isinstance(value, list) or not all(
                    isinstance(v, int) and not isinstance(v, bool) for v in value
                ):
                    raise ConfigError("配置项 stats.problem_categories 必须是结果代码列表")
                values[name] = tuple(value)
            else:
                raise ConfigError(f"[stats] 没有配置项 {name} (unknown value)")
        return cls(period=period, rules=KpiRules(**values))


def flood_from_toml(data: Mapping[str, Any]) -> FloodLimits:
    """[flood]: how fast a person may send (`burst` messages, refilled at `per_minute`), how
    often a fast typer is told to slow down and a stranger is told who the bot is for
    (bot.domain.flood)."""
    section = data.get("flood", {})
    known = {f.name for f in fields(FloodLimits)}
    values: dict[str, float] = {}
    for name, value in section.items():
        if name not in known:
            raise ConfigError(f"[flood] 没有配置项 {name} (unknown value flood.{name})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"配置项 flood.{name} 必须是正数 (a positive number)")
        values[name] = float(value)
    limits = FloodLimits(**values)
    if limits.burst < 1:
        raise ConfigError("配置项 flood.burst 不能小于 1 (the burst must be at least 1)")
    return limits


@dataclass(frozen=True)
class Tunables:
    """Values an administrator may tune in the TOML file. Later capabilities add sections."""

    invite_ttl_days: int = 7
    # A liaison may make links for their own department's inspectors ([onboarding]).
    liaison_invites: bool = True
    county_name: str = ""  # [county] name, e.g. "清河县": titles of the county-wide figures
    max_import_mb: int = 20
    # A workbook (a zip) may inflate to `inflate_factor` x its size, at most `max_inflated_mb`.
    inflate_factor: int = 50
    max_inflated_mb: int = 100
    error_rows_shown: int = 10
    # A typed-input prompt not answered within this many minutes is dropped (bot.conversation).
    prompt_minutes: int = 30
    outbox: OutboxTunables = field(default_factory=OutboxTunables)
    invitations: InvitationTunables = field(default_factory=InvitationTunables)
    reminders: ReminderTunables = field(default_factory=ReminderTunables)
    draw: DrawTunables = field(default_factory=DrawTunables)
    stats: StatsTunables = field(default_factory=StatsTunables)
    flood: FloodLimits = field(default_factory=FloodLimits)

    @classmethod
    def from_toml(cls, data: Mapping[str, Any]) -> Tunables:
        onboarding = data.get("onboarding", {})
        for name in data.get("conversation", {}):
            if name != "prompt_minutes":
                raise ConfigError(f"[conversation] 没有配置项 {name} (unknown value)")
        imports = data.get("imports", {})
        values = {
            "invite_ttl_days": onboarding.get("invite_ttl_days", cls.invite_ttl_days),
            "max_import_mb": imports.get("max_file_mb", cls.max_import_mb),
            "error_rows_shown": imports.get("error_rows_shown", cls.error_rows_shown),
            "inflate_factor": imports.get("inflate_factor", cls.inflate_factor),
            "max_inflated_mb": imports.get("max_inflated_mb", cls.max_inflated_mb),
            "prompt_minutes": data.get("conversation", {}).get(
                "prompt_minutes", cls.prompt_minutes
            ),
        }
        for name, value in values.items():
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ConfigError(
                    f"配置项 {name} 必须是正整数 (config value {name} must be a positive integer)"
                )
        county_name = data.get("county", {}).get("name", "")
        if not isinstance(county_name, str) or len(county_name.strip()) > 30:
            raise ConfigError('配置项 county.name 必须是县名（不超过 30 个字，如 "清河县"）')
        liaison_invites = onboarding.get("liaison_invites", cls.liaison_invites)
        if not isinstance(liaison_invites, bool):
            raise ConfigError(
                "配置项 onboarding.liaison_invites 必须是 true 或 false"
                " (config value onboarding.liaison_invites must be a boolean)"
            )
        return cls(
            **values,
            liaison_invites=liaison_invites,
            county_name=county_name.strip(),
            outbox=OutboxTunables.from_toml(data),
            invitations=InvitationTunables.from_toml(data),
            reminders=ReminderTunables.from_toml(data),
            draw=DrawTunables.from_toml(data),
            stats=StatsTunables.from_toml(data),
            flood=flood_from_toml(data),
        )


DB_URL_SCHEMES = ("postgresql://", "postgres://")


def is_db_url(value: str | Path) -> bool:
    """BOT_DB names a PostgreSQL server (postgresql://… or postgres://…), not an SQLite file."""
    return isinstance(value, str) and value.strip().lower().startswith(DB_URL_SCHEMES)


def redact_db_url(url: str) -> str:
    """The URL without its password, for logs and messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


@dataclass(frozen=True)
class WebhookSettings:
    """`run --webhook`: Telegram posts updates to `url` (the reverse proxy's public HTTPS
    address), which forwards them to `listen`:`port`/`path`; every request must carry `secret`
    in X-Telegram-Bot-Api-Secret-Token (PTB answers 403 otherwise)."""

    url: str = ""
    secret: str = ""
    listen: str = "127.0.0.1"
    port: int = 8443
    path: str = "telegram"

    def require(self) -> WebhookSettings:
        """These settings, or ConfigError naming what `run --webhook` lacks."""
        if not self.url:
            raise ConfigError("run --webhook needs BOT_WEBHOOK_URL (the public https:// address)")
        if not self.url.startswith("https://"):
            raise ConfigError(f"BOT_WEBHOOK_URL must be an https:// address, got {self.url!r}")
        if not _SECRET_RE.match(self.secret):
            raise ConfigError(
                "run --webhook needs BOT_WEBHOOK_SECRET: 1-256 characters A-Z, a-z, 0-9, _ or -"
            )
        return self


@dataclass(frozen=True)
class InstanceSettings:
    """Several `run` processes on one database. `id` names this one (claims and leases carry
    it; it must differ between processes and stay the same across a restart of one);
    `leader_seconds` is the leader lease (updates and scans), `claim_seconds` how long an
    outbox row claimed by an instance that stopped answering waits before another sends it."""

    id: str = field(default_factory=socket.gethostname)
    leader_seconds: float = 15.0
    claim_seconds: float = 60.0


def _webhook(data: Mapping[str, Any], environ: Mapping[str, str]) -> WebhookSettings:
    section = dict(data.get("webhook", {}))
    for name in section:
        if name not in ("url", "listen", "port", "path"):
            raise ConfigError(f"[webhook] 没有配置项 {name} (unknown value webhook.{name})")
    for name in ("url", "listen", "path", "port"):
        if raw := environ.get(f"BOT_WEBHOOK_{name.upper()}", "").strip():
            section[name] = raw
    port = section.get("port", WebhookSettings.port)
    try:
        port = int(port)
    except (TypeError, ValueError):
        port = 0
    if isinstance(section.get("port"), bool) or not 0 < port < 65536:
        raise ConfigError(f"webhook port must be 1-65535, got {section.get('port')!r}")
    for name in ("url", "listen", "path"):
        if not isinstance(section.get(name, ""), str):
            raise ConfigError(f"配置项 webhook.{name} 必须是文字 (a string)")
    return WebhookSettings(
        url=str(section.get("url", "")).strip(),
        secret=environ.get("BOT_WEBHOOK_SECRET", "").strip(),
        listen=str(section.get("listen", WebhookSettings.listen)).strip(),
        port=port,
        path=str(section.get("path", WebhookSettings.path)).strip().strip("/"),
    )


def _instances(data: Mapping[str, Any], environ: Mapping[str, str]) -> InstanceSettings:
    section = dict(data.get("instances", {}))
    for name in section:
        if name not in ("id", "leader_lease_seconds", "claim_seconds"):
            raise ConfigError(f"[instances] 没有配置项 {name} (unknown value instances.{name})")
    instance = environ.get("BOT_INSTANCE", "").strip() or str(section.get("id", "")).strip()
    values: dict[str, float] = {}
    for name, attribute in (
        ("leader_lease_seconds", "leader_seconds"),
        ("claim_seconds", "claim_seconds"),
    ):
        if name not in section:
            continue
        value = section[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 2:
            raise ConfigError(f"配置项 instances.{name} 必须是不小于 2 的数 (at least 2 seconds)")
        values[attribute] = float(value)
    base = InstanceSettings(id=instance) if instance else InstanceSettings()
    return InstanceSettings(
        id=base.id,
        leader_seconds=values.get("leader_seconds", base.leader_seconds),
        claim_seconds=values.get("claim_seconds", base.claim_seconds),
    )


@dataclass(frozen=True)
class Settings:
    token: str | None
    api_url: str = DEFAULT_API_URL
    file_url: str = "https://api.telegram.org/file/bot"
    db_path: Path = Path("data/bot.sqlite3")
    db_url: str | None = None  # BOT_DB=postgresql://…: PostgreSQL instead of the SQLite file
    admins: frozenset[int] = frozenset()
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    config_path: Path | None = None
    tunables: Tunables = field(default_factory=Tunables)
    webhook: WebhookSettings = field(default_factory=WebhookSettings)
    instance: InstanceSettings = field(default_factory=InstanceSettings)

    @property
    def database(self) -> Path | str:
        """What `bot.db.Database` opens: the PostgreSQL URL when there is one, else the file."""
        return self.db_url or self.db_path

    @property
    def database_label(self) -> str:
        """The database for messages and logs (a URL without its password)."""
        if self.db_url:
            return redact_db_url(self.db_url)
        return str(self.db_path)

    def require_token(self) -> str:
        if not self.token:
            raise ConfigError(
                "BOT_TOKEN is not set: put the token from @BotFather in the environment or .env"
            )
        if not _TOKEN_RE.match(self.token):
            raise ConfigError(
                "BOT_TOKEN is malformed: expected '<digits>:<35 characters>' as given by @BotFather"
            )
        return self.token

    def redact(self, text: str) -> str:
        return text.replace(self.token, "<BOT_TOKEN>") if self.token else text


def read_dotenv(path: Path) -> dict[str, str]:
    """Minimal .env reader: KEY=VALUE lines, '#' comments, optional quotes, optional 'export'."""
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key] = value
    return values


def derive_file_url(api_url: str) -> str:
    """'https://host/bot' -> 'https://host/file/bot' (the Bot API's file download base)."""
    base = api_url.rstrip("/")
    if base.endswith("/bot"):
        return base[: -len("/bot")] + "/file/bot"
    return base + "/file/bot"


def parse_admins(raw: str) -> frozenset[int]:
    admins: set[int] = set()
    for part in raw.replace(";", ",").split(","):
        part = part.strip()
        if not part:
            continue
        if not part.lstrip("-").isdigit():
            raise ConfigError(f"BOT_ADMINS must be comma-separated Telegram user ids, got {part!r}")
        admins.add(int(part))
    return frozenset(admins)


def load_settings(env: Mapping[str, str] | None = None, cwd: Path | None = None) -> Settings:
    environ = dict(read_dotenv((cwd or Path.cwd()) / ".env"))
    environ.update(os.environ if env is None else env)

    api_url = environ.get("BOT_API_URL", "").strip() or DEFAULT_API_URL
    file_url = environ.get("BOT_API_FILE_URL", "").strip() or derive_file_url(api_url)
    tz_name = environ.get("BOT_TZ", "").strip() or "Asia/Shanghai"
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"BOT_TZ is not a known time zone: {tz_name!r}") from exc

    config_path: Path | None = None
    tunables = Tunables()
    data: dict[str, Any] = {}
    if raw_config := environ.get("BOT_CONFIG", "").strip():
        config_path = Path(raw_config)
        try:
            data = tomllib.loads(config_path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(f"BOT_CONFIG file not found: {config_path}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"BOT_CONFIG is not valid TOML: {exc}") from exc
        tunables = Tunables.from_toml(data)

    db = environ.get("BOT_DB", "").strip()
    return Settings(
        token=environ.get("BOT_TOKEN", "").strip() or None,
        api_url=api_url,
        file_url=file_url,
        db_path=Path("data/bot.sqlite3" if is_db_url(db) else (db or "data/bot.sqlite3")),
        db_url=db if is_db_url(db) else None,
        admins=parse_admins(environ.get("BOT_ADMINS", "")),
        tz=tz,
        config_path=config_path,
        tunables=tunables,
        webhook=_webhook(data, environ),
        instance=_instances(data, environ),
    )
