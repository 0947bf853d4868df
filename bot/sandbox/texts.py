"""The sandbox page's own words (errors, service-message labels, the clock's weekday), rendered
from templates/zh/sandbox/ like every other text."""

from __future__ import annotations

from typing import Any

from bot.render import Renderer

_texts = Renderer(html=False)


def error(key: str, **facts: Any) -> str:
    return _texts.text("sandbox/error.j2", key=key, **facts)


def label(key: str, **facts: Any) -> str:
    return _texts.text("sandbox/label.j2", key=key, **facts)
