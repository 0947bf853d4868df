"""Jinja2 rendering of every user-facing text, plus Telegram's size limits.

A message template may define two blocks: `text` (HTML for Telegram's HTML parse mode, autoescaped)
and `keyboard` (one row per line, buttons written as `[label](callback_data)` or
`[label](url:https://…)`). A template without blocks is all text.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from bot.resources import data_dir

TEMPLATES_DIR = data_dir("templates")

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_BYTES = 64

# Non-greedy label up to the first "](": names such as "养老机构[民办]" keep their brackets.
_BUTTON_RE = re.compile(r"\[(?P<label>.+?)\]\((?P<target>[^)\s]+)\)")
_TAG_RE = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Button:
    text: str
    data: str | None = None
    url: str | None = None


@dataclass(frozen=True)
class Rendered:
    text: str
    keyboard: list[list[Button]] = field(default_factory=list)


def visible_length(html_text: str) -> int:
    """Length Telegram checks: the text after entity parsing, in UTF-16 code units."""
    plain = html.unescape(_TAG_RE.sub("", html_text))
    return len(plain.encode("utf-16-le")) // 2


def split_html(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Split at line breaks so each part stays within `limit` visible characters.

    Templates keep every tag within one line, so a cut between lines never breaks markup.
    A single line longer than the limit is cut by characters as a last resort.
    """
    parts: list[str] = []
    current: list[str] = []
    size = 0
    for line in text.split("\n"):
        line_len = visible_length(line) + 1
        if line_len > limit:
            if current:
                parts.append("\n".join(current))
                current, size = [], 0
            plain = html.escape(html.unescape(_TAG_RE.sub("", line)), quote=False)
            step = limit // 2  # escaped entities are longer than their visible characters
            parts.extend(plain[i : i + step] for i in range(0, len(plain), step))
            continue
        if size + line_len > limit and current:
            parts.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += line_len
    if current:
        parts.append("\n".join(current))
    return [p for p in (part.strip("\n") for part in parts) if p.strip()]


def parse_keyboard(block: str) -> list[list[Button]]:
    rows: list[list[Button]] = []
    for line in block.splitlines():
        row: list[Button] = []
        for match in _BUTTON_RE.finditer(line):
            label = html.unescape(match.group("label")).strip()
            target = html.unescape(match.group("target"))
            if target.startswith("url:"):
                row.append(Button(label, url=target[4:]))
            else:
                size = len(target.encode("utf-8"))
                if not 1 <= size <= MAX_CALLBACK_BYTES:
                    raise ValueError(f"callback_data must be 1-64 bytes, got {size}: {target!r}")
                row.append(Button(label, data=target))
        if row:
            rows.append(row)
    return rows


class Renderer:
    def __init__(
        self, locale: str = "zh", templates_dir: Path = TEMPLATES_DIR, *, html: bool = True
    ) -> None:
        # html=False renders plain text for the terminal (the CLI), without HTML escaping.
        self.env = Environment(
            loader=FileSystemLoader(templates_dir / locale),
            autoescape=select_autoescape(default=html, default_for_string=html),
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
        )

    def text(self, name: str, /, **context: Any) -> str:
        """Render a whole template (or its `text` block) to a string."""
        return self.message(name, **context).text

    def message(self, name: str, /, **context: Any) -> Rendered:
        template = self.env.get_template(name)
        if "text" not in template.blocks:
            return Rendered(_tidy(template.render(**context)))
        ctx = template.new_context(context)
        text = "".join(template.blocks["text"](ctx))
        keyboard: list[list[Button]] = []
        if "keyboard" in template.blocks:
            keyboard = parse_keyboard("".join(template.blocks["keyboard"](ctx)))
        return Rendered(_tidy(text), keyboard)

    def lines(self, name: str, /, **context: Any) -> list[str]:
        return [line for line in self.text(name, **context).splitlines() if line.strip()]


def _tidy(text: str) -> str:
    # Collapse the blank lines that template control structures leave behind.
    return re.sub(r"\n{3,}", "\n\n", text).strip()
