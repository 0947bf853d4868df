"""Onboarding a whole county: who gets a link in bulk, who may invite whom, when the inviter's
join digest is due, and what the roster says about each inspector. Pure: no Telegram, no
database."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.domain.roles import Identity

# The inviter hears about joins at most this often (one digest listing everyone who joined).
DIGEST_EVERY = timedelta(hours=1)

ALL = "all"
REISSUE_WORDS = frozenset({"重发", "重新生成", "reissue"})


class Standing(StrEnum):
    """Where one directory inspector is on the way to being reachable by the bot."""

    REGISTERED = "registered"  # bound to an account the bot can write to
    BLOCKED = "blocked"  # bound, but Telegram says they blocked the bot
    PENDING = "pending"  # an unused link is out, still valid
    NEVER = "never"  # never opened the bot: no valid link (none made, or it expired)
    INACTIVE = "inactive"  # marked inactive in the directory


@dataclass(frozen=True)
class InspectorState:
    """One directory inspector as the roster and the bulk invitation see them."""

    id: int
    name: str
    department_code: str
    certificate_no: str
    active: bool
    registered: bool  # bound to a Telegram account
    reachable: bool  # the bound account has not blocked the bot
    pending_link: bool  # an unused, unexpired, unrevoked link exists


def standing(person: InspectorState) -> Standing:
    if not person.active:
        return Standing.INACTIVE
    if person.registered:
        return Standing.REGISTERED if person.reachable else Standing.BLOCKED
    return Standing.PENDING if person.pending_link else Standing.NEVER


@dataclass(frozen=True)
class BulkPlan:
    """What `/invite inspectors` does: links for `new`; `pending` already have one (and get a
    fresh one only when reissuing: then they are in `new` and `revoke` too); `registered` need
    none. Inactive inspectors are left out entirely."""

    new: tuple[InspectorState, ...]
    pending: tuple[InspectorState, ...]
    registered: tuple[InspectorState, ...]
    reissued: int

    @property
    def revoke(self) -> tuple[int, ...]:
        """Inspectors whose unused links stop working (they are replaced)."""
        return tuple(p.id for p in self.new if p.pending_link)


def bulk_plan(people: Iterable[InspectorState], *, reissue: bool) -> BulkPlan:
    new: list[InspectorState] = []
    pending: list[InspectorState] = []
    registered: list[InspectorState] = []
    for person in sorted(people, key=lambda p: (p.department_code, p.name, p.certificate_no)):
        if not person.active:
            continue
        if person.registered:
            registered.append(person)
        elif person.pending_link and not reissue:
            pending.append(person)
        else:
            new.append(person)
    reissued = sum(1 for p in new if p.pending_link)
    return BulkPlan(tuple(new), tuple(pending), tuple(registered), reissued)


class Refusal(StrEnum):
    NOT_ALLOWED = "not_allowed"  # a liaison asking for another department, or for everyone
    SWITCHED_OFF = "switched_off"  # [onboarding] liaison_invites = false


def bulk_refusal(
    identity: Identity, departments: Sequence[str], *, everyone: bool, liaison_invites: bool
) -> Refusal | None:
    """May this person invite the inspectors of `departments` (or every department)?
    Administrators: always. A liaison: only their own departments' inspectors, and only while
    the TOML allows it."""
    if identity.is_admin:
        return None
    if not identity.liaison_departments:
        return Refusal.NOT_ALLOWED
    if not liaison_invites:
        return Refusal.SWITCHED_OFF
    if everyone:
        return None  # "all" means "all of mine" for a liaison (see `scope`)
    if not set(departments) <= set(identity.liaison_departments):
        return Refusal.NOT_ALLOWED
    return None


def scope(identity: Identity, wanted: str, known: Sequence[str]) -> tuple[list[str], bool]:
    """The departments `wanted` ('all' or a code) covers for this person, and whether it was
    'all'. A liaison's 'all' is their own departments."""
    if wanted.lower() == ALL or wanted == "全部":
        if identity.is_admin:
            return list(known), True
        return [c for c in known if c in identity.liaison_departments], True
    return [wanted], False


def digest_due(first_unreported: datetime, last_reported: datetime | None) -> datetime:
    """The next join digest: as soon as someone joined, but not within an hour of the last."""
    if last_reported is None:
        return first_unreported
    return max(first_unreported, last_reported + DIGEST_EVERY)


# -- the directory's 状态 column -------------------------------------------------------------

ACTIVE_WORDS = frozenset(
    {"在岗", "在职", "正常", "有效", "启用", "是", "在编", "1", "y", "yes", "active", "true"}
)
INACTIVE_WORDS = frozenset(
    {
        "离岗",
        "离职",
        "调离",
        "调出",
        "退休",
        "停用",
        "注销",
        "无效",
        "否",
        "不在岗",
        "已离职",
        "已调离",
        "已退休",
        "0",
        "n",
        "no",
        "inactive",
        "false",
    }
)


def active_flag(text: str) -> int | None:
    """'在岗' -> 1, '离岗'/'调离'/'退休'/'停用' … -> 0, blank -> 1 (in post unless said
    otherwise); None when the word is not understood."""
    key = text.strip().lower().replace(" ", "")
    if not key or key in ACTIVE_WORDS:
        return 1
    if key in INACTIVE_WORDS:
        return 0
    return None
