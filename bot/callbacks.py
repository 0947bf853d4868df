"""Button data: `prefix:part:part…`, parsed in one place.

Every button handler used to repeat the same preamble (split, check the parts are there and
numeric where they must be, answer the press). `parse` does the checking and `Pressed` gives
typed access; `bot.features.common.pressed` wraps a handler so malformed data always gets an
answer (the "no longer valid" alert) instead of an exception or a spinning button.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Pressed:
    """The parts after the prefix of a pressed button's data."""

    prefix: str
    parts: tuple[str, ...]

    def number(self, index: int) -> int:
        """A part `parse` already checked to be numeric."""
        return int(self.parts[index])

    def text(self, index: int, default: str = "") -> str:
        return self.parts[index] if index < len(self.parts) else default

    def rest(self, index: int) -> str:
        """Everything from part `index` on, as it was (a department code may contain ':')."""
        return ":".join(self.parts[index:])


def parse(
    data: str | None,
    prefix: str,
    *,
    parts: int = 1,
    numbers: tuple[int, ...] = (0,),
) -> Pressed | None:
    """`prefix:…` with at least `parts` parts after the prefix, those at `numbers` numeric.
    None when the data is anything else."""
    if not data:
        return None
    head, _, tail = data.partition(":")
    if head != prefix:
        return None
    found = tuple(tail.split(":")) if tail else ()
    if len(found) < parts:
        return None
    for index in numbers:
        part = found[index] if index < len(found) else ""
        if not (part.isascii() and part.isdecimal()) or len(part) > 12:
            return None
    return Pressed(prefix, found)
