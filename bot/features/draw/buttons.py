"""The draw's buttons, `dr:<task>:ack` (收到), `dr:<task>:cf:<no>` (申请回避 for object <no>)
and `dr:<task>:pg:<page>` (the notice's button pages): one guard parses the data, each action
goes to its flow; anything else gets the one "no longer valid" alert."""

from __future__ import annotations

from telegram import Update

from bot.callbacks import Pressed
from bot.domain.roles import Identity, Role
from bot.features.common import Context, pressed, stale
from bot.features.draw import ack, conflict, pages


@pressed("dr", Role.INSPECTOR, parts=2)
async def draw_button(update: Update, context: Context, identity: Identity, cb: Pressed) -> None:
    action, seq = cb.text(1), cb.text(2)
    if action == "ack" and len(cb.parts) == 2:
        await ack.acknowledge(update, context, identity, cb.number(0))
    elif action == "cf" and len(cb.parts) == 3 and seq.isdigit() and len(seq) <= 12:
        await conflict.declare(update, context, identity, cb.number(0), int(seq))
    elif (
        action == "pg" and len(cb.parts) == 3 and seq.isascii() and seq.isdigit() and len(seq) <= 4
    ):
        await pages.turn(update, context, identity, cb.number(0), int(seq))
    else:
        await stale(update, context, "malformed")
