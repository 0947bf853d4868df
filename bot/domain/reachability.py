"""Whether the bot can write to a person in private chat, from what Telegram tells it.

Pure: no Telegram, no database. Two kinds of evidence:

* a `my_chat_member` update for the person's private chat: "kicked" means they blocked the bot
  (or deleted the chat and stopped it), "member" that they unblocked it or pressed Start again;
* the person writing to the bot in private chat, or pressing a button on a message the bot sent
  there: Telegram only delivers those while the chat is open, so they can be written to.

What a person does in a group proves nothing about their private chat (someone who blocked the
bot can still talk and press buttons in the coordination group), so it changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

PRIVATE = "private"
# ChatMember statuses of the bot in a private chat, as Telegram reports them.
_OPEN = frozenset({"member", "administrator", "creator", "restricted"})
_CLOSED = frozenset({"kicked", "left"})


class Evidence(StrEnum):
    MEMBERSHIP = "membership"  # my_chat_member in the private chat
    MESSAGE = "message"  # a message (a command, text, a file …) in the private chat
    BUTTON = "button"  # a button pressed on a message in the private chat


def after_membership(chat_type: str, new_status: str) -> bool | None:
    """Reachable (True) or not (False) after the bot's status in a chat changed; None when the
    update says nothing about a person's private chat (a group, an unknown status)."""
    if chat_type != PRIVATE:
        return None
    if new_status in _CLOSED:
        return False
    if new_status in _OPEN:
        return True
    return None


def after_activity(chat_type: str | None) -> bool | None:
    """A message or button press from the person: True if it happened in a private chat."""
    return True if chat_type == PRIVATE else None
