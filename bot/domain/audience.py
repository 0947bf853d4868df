"""Who a broadcast goes to. Pure: no Telegram, no database.

The roster is what the bot knows: people who opened the bot (with their roles), inspectors in
the directory who never did (they cannot be messaged, and the delivery report names them),
administrators from the configuration, and the coordination group.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from bot.domain.delivery import Reason


class AudienceKind(StrEnum):
    ALL = "all"  # every administrator, liaison and inspector
    LIAISONS = "liaisons"
    INSPECTORS = "inspectors"
    DEPARTMENTS = "departments"  # liaisons and inspectors of the chosen departments
    GROUP = "group"  # the coordination group chat


@dataclass(frozen=True)
class Person:
    tg_user_id: int
    name: str
    is_admin: bool = False
    liaison_departments: tuple[str, ...] = ()
    inspector_department: str | None = None  # set for an active inspector

    @property
    def department(self) -> str | None:
        if self.inspector_department:
            return self.inspector_department
        return self.liaison_departments[0] if self.liaison_departments else None


@dataclass(frozen=True)
class UnboundInspector:
    """An active inspector in the directory whose Telegram account the bot does not know."""

    name: str
    department_code: str
    certificate_no: str


@dataclass(frozen=True)
class Roster:
    people: tuple[Person, ...] = ()
    unbound_inspectors: tuple[UnboundInspector, ...] = ()
    env_admins: frozenset[int] = frozenset()
    coordination_chat: tuple[int, str] | None = None  # (chat id, title)


@dataclass(frozen=True)
class Recipient:
    chat_id: int | None  # None: cannot be messaged; `skipped` says why (also set: not sent to)
    name: str
    department_code: str | None = None
    skipped: Reason | None = None


def resolve(kind: AudienceKind, departments: Iterable[str], roster: Roster) -> list[Recipient]:
    """Recipients of a broadcast, one per chat, in a stable order (department, name)."""
    chosen = frozenset(departments)
    people = {p.tg_user_id: p for p in roster.people}
    for admin_id in roster.env_admins:
        known = people.get(admin_id)
        if known is None:
            people[admin_id] = Person(admin_id, str(admin_id), is_admin=True)
        elif not known.is_admin:
            people[admin_id] = Person(
                known.tg_user_id,
                known.name,
                True,
                known.liaison_departments,
                known.inspector_department,
            )

    if kind is AudienceKind.GROUP:
        if roster.coordination_chat is None:
            return []
        chat_id, title = roster.coordination_chat
        return [Recipient(chat_id, title)]

    def wanted(person: Person) -> bool:
        match kind:
            case AudienceKind.ALL:
                return (
                    person.is_admin
                    or bool(person.liaison_departments)
                    or person.inspector_department is not None
                )
            case AudienceKind.LIAISONS:
                return bool(person.liaison_departments)
            case AudienceKind.INSPECTORS:
                return person.inspector_department is not None
            case AudienceKind.DEPARTMENTS:
                return person.inspector_department in chosen or bool(
                    chosen & set(person.liaison_departments)
                )
        return False  # pragma: no cover

    def department_of(person: Person) -> str | None:
        if kind is AudienceKind.DEPARTMENTS:
            if person.inspector_department in chosen:
                return person.inspector_department
            return next((d for d in person.liaison_departments if d in chosen), None)
        if kind is AudienceKind.LIAISONS:
            return person.liaison_departments[0] if person.liaison_departments else None
        return person.department

    found = [
        Recipient(p.tg_user_id, p.name, department_of(p)) for p in people.values() if wanted(p)
    ]
    if kind in (AudienceKind.ALL, AudienceKind.INSPECTORS, AudienceKind.DEPARTMENTS):
        found.extend(
            Recipient(None, i.name, i.department_code, Reason.NEVER_OPENED)
            for i in roster.unbound_inspectors
            if kind is not AudienceKind.DEPARTMENTS or i.department_code in chosen
        )
    return sorted(
        found,
        key=lambda r: (r.department_code or "", r.name, r.chat_id if r.chat_id is not None else 0),
    )


def without_blocked(recipients: Iterable[Recipient], blocked: Iterable[int]) -> list[Recipient]:
    """Mark the people Telegram told us blocked the bot (`people.reachable = 0`): they are not
    sent to, and the preview and the delivery report name them (reason "blocked")."""
    refused = frozenset(blocked)
    return [
        Recipient(r.chat_id, r.name, r.department_code, Reason.BLOCKED)
        if r.skipped is None and r.chat_id is not None and r.chat_id > 0 and r.chat_id in refused
        else r
        for r in recipients
    ]


def deliverable(recipients: Iterable[Recipient]) -> list[Recipient]:
    return [r for r in recipients if r.chat_id is not None and r.skipped is None]
