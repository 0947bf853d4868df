"""What every handler needs, built once by `bot.app` and kept in `application.bot_data`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from telegram.ext import CallbackContext

from bot.config import Settings
from bot.db import Database
from bot.render import Renderer


@dataclass
class Services:
    settings: Settings
    db: Database
    renderer: Renderer
    bot_username: str = ""


def services(context: CallbackContext[Any, Any, Any, Any]) -> Services:
    found = context.application.bot_data["services"]
    assert isinstance(found, Services)
    return found
