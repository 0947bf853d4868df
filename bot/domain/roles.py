"""Who may do what. Pure: no Telegram, no database."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    LIAISON = "liaison"
    INSPECTOR = "inspector"


class Where(StrEnum):
    PRIVATE = "private"
    GROUP = "group"
    ANY = "any"


@dataclass(frozen=True)
class Identity:
    """A Telegram user as the bot knows them at the moment of an update."""

    tg_user_id: int
    full_name: str
    person_id: int | None = None
    is_admin: bool = False
    liaison_departments: tuple[str, ...] = ()
    inspector_id: int | None = None
    inspector_department: str | None = None

    @property
    def roles(self) -> frozenset[Role]:
        roles: set[Role] = set()
        if self.is_admin:
            roles.add(Role.ADMIN)
        if self.liaison_departments:
            roles.add(Role.LIAISON)
        if self.inspector_id is not None:
            roles.add(Role.INSPECTOR)
        return frozenset(roles)

    @property
    def is_known(self) -> bool:
        return bool(self.roles)

    def has(self, role: Role) -> bool:
        return role in self.roles


EVERYONE: frozenset[Role] | None = None  # a command open to anyone, even unknown users
ANY_ROLE = frozenset(Role)


@dataclass(frozen=True)
class CommandSpec:
    name: str
    allowed: frozenset[Role] | None  # None: everyone, even people without a role
    where: Where


# The order here is the order of /help and of Telegram's command menu.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("start", EVERYONE, Where.PRIVATE),
    CommandSpec("help", EVERYONE, Where.ANY),
    CommandSpec("me", ANY_ROLE, Where.PRIVATE),
    CommandSpec("cancel", ANY_ROLE, Where.PRIVATE),
    CommandSpec("invite", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("roster", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("directories", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("import", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("template", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("broadcast", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("newtask", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("tasks", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("task", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("training", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("report", frozenset({Role.LIAISON}), Where.PRIVATE),
    CommandSpec("reports", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("reportdraft", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("stats", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("plan", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("reminders", ANY_ROLE, Where.PRIVATE),
    CommandSpec("holiday", frozenset({Role.ADMIN}), Where.PRIVATE),
    CommandSpec("draw", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("drawimport", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("verify", ANY_ROLE, Where.ANY),  # anyone registered may check a draw
    CommandSpec("acks", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("swap", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("notice", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("r", frozenset({Role.LIAISON, Role.INSPECTOR}), Where.PRIVATE),
    CommandSpec("results", ANY_ROLE, Where.PRIVATE),
    CommandSpec("review", frozenset({Role.LIAISON}), Where.PRIVATE),
    CommandSpec("followup", frozenset({Role.LIAISON, Role.INSPECTOR}), Where.PRIVATE),
    CommandSpec("export", frozenset({Role.ADMIN, Role.LIAISON}), Where.PRIVATE),
    CommandSpec("qr", ANY_ROLE, Where.PRIVATE),
    CommandSpec("bindgroup", frozenset({Role.ADMIN}), Where.GROUP),
)
COMMANDS_BY_NAME = {spec.name: spec for spec in COMMANDS}


def may_use(identity: Identity, command: str) -> bool:
    spec = COMMANDS_BY_NAME.get(command)
    if spec is None:
        return False
    return spec.allowed is None or bool(spec.allowed & identity.roles)


def commands_for(identity: Identity, where: Where) -> list[CommandSpec]:
    """Commands this person may use in that kind of chat, in menu order."""
    return [
        spec
        for spec in COMMANDS
        if (spec.where in (where, Where.ANY) or where is Where.ANY) and may_use(identity, spec.name)
    ]
